//! Draws the [`App`]: the conversations list on the left, the open conversation on the right
//! (header, key-warning banner, timeline, compose box), the status bar, and the dialogs over
//! them. The words are the browser's (web/chat/*.js) where it has them.

use chrono::{DateTime, Local, TimeZone};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, List, ListItem, ListState, Paragraph, Wrap};
use unicode_width::UnicodeWidthChar;

use super::app::{App, Dialog, Entry, Focus};
use crate::events::{Connection, Status};

/// E5: what a client without the keys of earlier messages says (web/chat/format.js).
pub const LOCAL_KEYS_LOST_TEXT: &str = "This terminal no longer has the keys for earlier messages — they can't be decrypted here. New messages are encrypted with new keys.";
/// web/chat/timeline.js
pub const REPLAY_TEXT: &str = "Rejected replay — not shown";

const LIST_WIDTH: u16 = 30;
const DIM: Color = Color::DarkGray;

/// The connection indicator's words (web/chat/list-view.js).
pub fn connection_text(c: Option<Connection>) -> &'static str {
    match c {
        None => "Connecting…",
        Some(Connection::Connected) => "Connected",
        Some(Connection::Reconnecting) => "Reconnecting…",
        Some(Connection::Offline) => "Offline — reconnecting…",
    }
}

/// Draws everything; remembers the timeline's size in `app` for paging.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let [main, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    // The list takes 30 columns, less on a narrow terminal.
    let list_width = LIST_WIDTH.min(main.width / 3).max(12);
    let [left, right] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(10)]).areas(main);
    draw_list(frame, app, left);
    draw_conversation(frame, app, right);
    draw_status(frame, app, status);
    match app.dialog.clone() {
        Some(Dialog::NewChat { input, error }) => draw_new_chat(frame, &input, error.as_deref()),
        Some(Dialog::Safety { peer, number }) => draw_safety(frame, app, &peer, &number),
        Some(Dialog::Help) => draw_help(frame),
        None => {}
    }
}

fn border(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new().fg(DIM)
    }
}

fn draw_list(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(border(app.focus == Focus::List && app.dialog.is_none()))
        .title(Line::from(" Chats ").style(Style::new().add_modifier(Modifier::BOLD)));
    if app.conversations.is_empty() {
        let text = Paragraph::new(vec![
            Line::from("No conversations yet."),
            Line::from(""),
            Line::from("Ctrl-N starts one with a friend's exact username."),
        ])
        .style(Style::new().fg(DIM))
        .wrap(Wrap { trim: true })
        .block(block);
        frame.render_widget(text, area);
        return;
    }
    let inner_width = usize::from(area.width.saturating_sub(4));
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let open = app.selected == Some(i);
            let mut marks = String::new();
            if c.key_warning {
                marks.push_str(" ⚠");
            } else if c.verified {
                marks.push_str(" ✓");
            }
            let unread = if open || c.unread == 0 {
                String::new()
            } else {
                format!(" ({})", c.unread)
            };
            let deleted = if c.peer_deleted { " (deleted)" } else { "" };
            let name_style = if c.peer_deleted {
                Style::new().fg(DIM).add_modifier(Modifier::CROSSED_OUT)
            } else if c.unread > 0 && !open {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            let when = short_when(c.last_activity);
            let room = inner_width
                .saturating_sub(width(&marks) + width(&unread) + width(deleted) + width(&when) + 1)
                .max(4);
            let name = truncate(&c.peer_username, room);
            let used = width(&name) + width(&marks) + width(&unread) + width(deleted);
            let gap = inner_width.saturating_sub(used + width(&when));
            let mut spans = vec![Span::styled(name, name_style)];
            if c.key_warning {
                spans.push(Span::styled(marks, Style::new().fg(Color::Yellow)));
            } else if c.verified {
                spans.push(Span::styled(marks, Style::new().fg(Color::Green)));
            }
            if c.peer_deleted {
                spans.push(Span::styled(deleted, Style::new().fg(DIM)));
            }
            if !unread.is_empty() {
                spans.push(Span::styled(
                    unread,
                    Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
                ));
            }
            if !when.is_empty() {
                spans.push(Span::raw(" ".repeat(gap.max(1))));
                spans.push(Span::styled(when, Style::new().fg(DIM)));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_symbol("› ")
        .highlight_style(
            Style::new()
                .bg(Color::Indexed(236))
                .add_modifier(Modifier::BOLD),
        );
    let mut state = ListState::default().with_selected(app.selected);
    frame.render_stateful_widget(list, area, &mut state);
}

fn draw_conversation(frame: &mut Frame, app: &mut App, area: Rect) {
    let Some(conv) = app.current().cloned() else {
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .border_style(border(false));
        let text = Paragraph::new(vec![
            Line::from(""),
            Line::from(
                "Choose a conversation, or start one with a friend's exact username (Ctrl-N).",
            ),
            Line::from(""),
            Line::from(
                "Messages are encrypted on this computer; the server only ever sees ciphertext.",
            ),
        ])
        .style(Style::new().fg(DIM))
        .wrap(Wrap { trim: true })
        .block(block);
        frame.render_widget(text, area);
        return;
    };
    let name = conv.peer_username.clone();
    let badge = if conv.key_warning {
        Span::styled(
            " ⚠ Key changed ",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        )
    } else if conv.verified {
        Span::styled(" ✓ Verified ", Style::new().fg(Color::Green))
    } else {
        Span::styled(" Not verified ", Style::new().fg(DIM))
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" {name} "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        badge,
    ]);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(border(app.focus == Focus::Compose && app.dialog.is_none()))
        .title(title)
        .title_bottom(Line::from(" Ctrl-S safety number · Ctrl-R refresh keys ").right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);

    // The banner: a key change not accepted yet, or a deleted account.
    let mut banner: Vec<Line> = Vec::new();
    if conv.key_warning {
        let text = if app.blocked {
            format!(
                "{name}'s security key changed since you verified it. Sending is paused until you review the new safety number and accept the key."
            )
        } else {
            format!(
                "{name}'s security key changed. Review the new safety number with {name} before you trust this conversation."
            )
        };
        banner.push(Line::from(Span::styled(
            format!("⚠ {text} Ctrl-S shows the safety number; a there accepts the new key."),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )));
    }
    if conv.peer_deleted {
        banner.push(Line::from(Span::styled(
            format!("{name} deleted their account. Your conversation stays here to read, but you can no longer send messages to it."),
            Style::new().fg(DIM),
        )));
    }
    let text_width = usize::from(inner.width.saturating_sub(2)).max(8);
    let banner_lines: Vec<Line> = banner
        .into_iter()
        .flat_map(|l| {
            let style = l
                .style
                .patch(l.spans.first().map(|s| s.style).unwrap_or_default());
            let s: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrap(&s, text_width + 1)
                .into_iter()
                .map(move |w| Line::from(Span::styled(w, style)))
        })
        .collect();
    let banner_h = u16::try_from(banner_lines.len())
        .unwrap_or(u16::MAX)
        .min(inner.height / 3);

    let compose_lines = wrap_compose(&app.compose, text_width);
    let compose_h = u16::try_from(compose_lines.len().clamp(1, 6)).unwrap_or(6) + 1;
    let [banner_area, timeline_area, compose_area] = Layout::vertical([
        Constraint::Length(banner_h),
        Constraint::Min(1),
        Constraint::Length(compose_h),
    ])
    .areas(inner);
    if banner_h > 0 {
        frame.render_widget(Paragraph::new(banner_lines), banner_area);
    }

    // The timeline, bottom-aligned, scrolled up by `scroll` lines.
    let lines = timeline_lines(app, &conv.peer, &name, text_width);
    let height = usize::from(timeline_area.height);
    app.view_height = height;
    app.view_lines = lines.len();
    let top_limit = lines.len().saturating_sub(height);
    let scroll = match app.timelines.get_mut(&conv.peer) {
        Some(tl) => {
            if tl.scroll > 0 && !tl.grew_above && lines.len() > tl.drawn_lines {
                tl.scroll += lines.len() - tl.drawn_lines;
            }
            tl.grew_above = false;
            tl.drawn_lines = lines.len();
            tl.scroll = tl.scroll.min(top_limit);
            tl.scroll
        }
        None => 0,
    };
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let mut shown: Vec<Line> = lines[start..end].to_vec();
    if scroll > 0
        && let Some(last) = shown.last_mut()
    {
        *last = Line::from(Span::styled(
            format!("↓ {scroll} more lines below — PgDn"),
            Style::new().fg(Color::Black).bg(Color::Cyan),
        ));
    }
    if shown.len() < height {
        let pad = height - shown.len();
        let mut padded = vec![Line::from(""); pad];
        padded.append(&mut shown);
        shown = padded;
    }
    frame.render_widget(
        Paragraph::new(shown),
        timeline_area.inner(Margin {
            horizontal: 1,
            vertical: 0,
        }),
    );

    // The compose box.
    let [rule, input] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(compose_area);
    let sep = "─".repeat(usize::from(rule.width));
    frame.render_widget(
        Paragraph::new(Line::from(sep).style(Style::new().fg(DIM))),
        rule,
    );
    let placeholder = if conv.peer_deleted {
        Some("This account was deleted".to_owned())
    } else if app.blocked {
        Some("Accept the new security key to send".to_owned())
    } else if app.compose.is_empty() && app.connection != Some(Connection::Connected) {
        Some(format!(
            "{} — messages are sent when the server answers",
            connection_text(app.connection)
        ))
    } else if app.compose.is_empty() {
        Some(format!(
            "Message {name} — Enter sends · Alt-Enter or Ctrl-J new line"
        ))
    } else {
        None
    };
    let input_inner = input.inner(Margin {
        horizontal: 1,
        vertical: 0,
    });
    if let Some(p) = placeholder.filter(|_| app.compose.is_empty()) {
        frame.render_widget(
            Paragraph::new(Line::from(p).style(Style::new().fg(DIM))),
            input_inner,
        );
    } else {
        let visible = usize::from(input_inner.height);
        let skip = compose_lines.len().saturating_sub(visible);
        let shown: Vec<Line> = compose_lines
            .iter()
            .skip(skip)
            .map(|l| Line::from(l.clone()))
            .collect();
        frame.render_widget(Paragraph::new(shown), input_inner);
    }
    if app.focus == Focus::Compose && app.dialog.is_none() {
        let (row, col) = cursor_position(&app.compose, app.cursor, text_width);
        let visible = usize::from(input_inner.height);
        let skip = compose_lines.len().saturating_sub(visible);
        let row = row.saturating_sub(skip);
        let x = input_inner.x + u16::try_from(col).unwrap_or(0);
        let y = input_inner.y + u16::try_from(row).unwrap_or(0);
        frame.set_cursor_position((x.min(input_inner.right().saturating_sub(1)), y));
    }
}

/// The timeline as lines `width` wide.
fn timeline_lines(app: &App, peer: &str, name: &str, width: usize) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    let Some(tl) = app.timelines.get(peer) else {
        out.push(Line::from(Span::styled(
            "Loading messages…",
            Style::new().fg(DIM),
        )));
        return out;
    };
    if tl.has_older {
        out.push(Line::from(Span::styled(
            "↑ PgUp: older messages",
            Style::new().fg(DIM),
        )));
    } else if !tl.entries.is_empty() {
        out.push(Line::from(Span::styled(
            "Beginning of the conversation",
            Style::new().fg(DIM),
        )));
    }
    if tl.entries.is_empty() {
        out.push(Line::from(Span::styled(
            format!("No messages yet. Your first message starts an end-to-end encrypted session with {name}."),
            Style::new().fg(DIM),
        )));
    }
    let mut lost_shown = false;
    // Live messages older than the loaded history (a long absence's backlog) wait behind a
    // marker until PgUp reaches them: nothing sits above a silent gap (timeline.js).
    let floor = if tl.has_older { tl.oldest } else { None };
    let hidden = floor.map_or(0, |f| {
        tl.entries
            .iter()
            .filter(|(k, e)| {
                k.0 < f && matches!(e, Entry::Message { .. } | Entry::Undecryptable { .. })
            })
            .count()
    });
    if hidden > 0 {
        let s = if hidden == 1 { "" } else { "s" };
        out.push(Line::from(Span::styled(
            format!("{hidden} earlier message{s} received but not shown yet — PgUp shows them"),
            Style::new().fg(Color::Cyan),
        )));
    }
    let mut run_left = 0usize;
    // The time of the last header of the contact's messages, while nothing else came between.
    let mut prev_head: Option<String> = None;
    for (i, (_, entry)) in tl.entries.iter().enumerate() {
        if run_left > 0 {
            // Part of a run of the same notice already shown as one line.
            run_left -= 1;
            continue;
        }
        if floor.is_some_and(|f| tl.entries[i].0.0 < f)
            && matches!(entry, Entry::Message { .. } | Entry::Undecryptable { .. })
        {
            continue;
        }
        if !matches!(entry, Entry::Message { .. }) {
            prev_head = None;
        }
        if let Entry::Message { id, .. } = entry
            && tl.unread_from == Some(*id)
        {
            let n = tl
                .entries
                .iter()
                .filter(|(_, e)| matches!(e, Entry::Message { id: m, mine: false, .. } if m >= id))
                .count();
            let s = if n == 1 { "" } else { "s" };
            let label = format!(" {n} new message{s} ");
            let side = width.saturating_sub(label.chars().count()) / 2;
            out.push(Line::from(Span::styled(
                format!("{}{label}{}", "─".repeat(side), "─".repeat(side)),
                Style::new().fg(Color::Magenta),
            )));
            prev_head = None;
        }
        match entry {
            Entry::Message {
                mine,
                text,
                created_at,
                status,
                ..
            } => {
                let who = if *mine { "You" } else { name };
                let when = time_text(*created_at);
                // The contact's messages of the same minute share one header line (own
                // messages keep theirs: it carries the ticks).
                let same = !*mine && prev_head.as_ref() == Some(&when);
                prev_head = if *mine { None } else { Some(when.clone()) };
                if same {
                    for l in wrap(text, width.saturating_sub(2).max(4)) {
                        out.push(Line::from(format!("  {l}")));
                    }
                    continue;
                }
                let mut head = vec![
                    Span::styled(when, Style::new().fg(DIM)),
                    Span::raw(" "),
                    Span::styled(
                        who.to_owned(),
                        Style::new()
                            .fg(if *mine { Color::Cyan } else { Color::Magenta })
                            .add_modifier(Modifier::BOLD),
                    ),
                ];
                if *mine {
                    let (ticks, label, style) = match status {
                        Status::Sent => ("✓", "Sent", Style::new().fg(DIM)),
                        Status::Delivered => ("✓✓", "Delivered", Style::new().fg(DIM)),
                        Status::Read => (
                            "✓✓",
                            "Read",
                            Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
                        ),
                    };
                    head.push(Span::raw(" "));
                    head.push(Span::styled(format!("{ticks} {label}"), style));
                }
                out.push(Line::from(head));
                for l in wrap(text, width.saturating_sub(2).max(4)) {
                    out.push(Line::from(format!("  {l}")));
                }
            }
            Entry::SessionStarted { by_me, created_at } => {
                let who = if *by_me { "You" } else { name };
                out.push(system(
                    &format!(
                        "— Secure session started — {who} · {}",
                        time_text(*created_at)
                    ),
                    Color::Blue,
                    width,
                ));
            }
            Entry::KeysChanged { by_me, created_at } => {
                let who = if *by_me { "You" } else { name };
                out.push(system(
                    &format!("— Keys changed — {who} · {}", time_text(*created_at)),
                    Color::Blue,
                    width,
                ));
            }
            Entry::KeyWarning { verified } => {
                let since = if *verified {
                    " since you verified it"
                } else {
                    ""
                };
                for l in wrap(
                    &format!(
                        "⚠ {name}'s security key changed{since}. This happens when they clear their browser data or sign in from another browser — or when someone is trying to listen in. Compare safety numbers to be sure (Ctrl-S)."
                    ),
                    width,
                ) {
                    out.push(Line::from(Span::styled(l, Style::new().fg(Color::Yellow))));
                }
            }
            Entry::LocalKeysLost => {
                if !lost_shown {
                    lost_shown = true;
                    for l in wrap(LOCAL_KEYS_LOST_TEXT, width) {
                        out.push(Line::from(Span::styled(
                            l,
                            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                        )));
                    }
                }
            }
            Entry::Undecryptable { reason, .. } => {
                let text = undecryptable_text(reason);
                // A run of the same notice shows as one line with a count (timeline.js).
                let run = tl.entries[i + 1..]
                    .iter()
                    .take_while(|(_, e)| {
                        matches!(e, Entry::Undecryptable { reason: r, .. } if undecryptable_text(r) == text)
                    })
                    .count();
                run_left = run;
                let line = if run == 0 {
                    format!("{text} ({reason})")
                } else if super::app::is_lost(reason) {
                    format!(
                        "{} messages can't be decrypted in this terminal (their keys are gone)",
                        run + 1
                    )
                } else {
                    format!("{text} ({reason}, {} in a row)", run + 1)
                };
                out.push(system(&line, Color::Red, width));
            }
            Entry::PeerDeleted => {
                out.push(system(&format!("{name} deleted their account"), DIM, width));
            }
        }
    }
    out
}

/// web/chat/timeline.js's words for a message that cannot be shown.
pub fn undecryptable_text(reason: &str) -> &'static str {
    match reason {
        r if super::app::is_lost(r) => {
            "Message can't be decrypted in this terminal (its keys are gone)"
        }
        "malformed" => "This message is damaged — not shown",
        "replay" => REPLAY_TEXT,
        _ => "Message could not be verified — not shown",
    }
}

fn system(text: &str, color: Color, width: usize) -> Line<'static> {
    let text = truncate(text, width);
    Line::from(Span::styled(
        text,
        Style::new().fg(color).add_modifier(Modifier::ITALIC),
    ))
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(n) = &app.notice {
        let style = if n.error {
            Style::new().fg(Color::White).bg(Color::Red)
        } else {
            Style::new().fg(Color::Black).bg(Color::Green)
        };
        frame.render_widget(
            Paragraph::new(Line::from(format!(" {}", n.text))).style(style),
            area,
        );
        return;
    }
    let (dot, color) = match app.connection {
        Some(Connection::Connected) => ("●", Color::Green),
        Some(Connection::Reconnecting) | None => ("◌", Color::Yellow),
        Some(Connection::Offline) => ("○", Color::Red),
    };
    let line = Line::from(vec![
        Span::styled(format!(" {dot} "), Style::new().fg(color)),
        Span::raw(connection_text(app.connection)),
        Span::styled(" │ ", Style::new().fg(DIM)),
        Span::styled(app.me.clone(), Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(" │ ", Style::new().fg(DIM)),
        Span::styled(
            "Ctrl-N new chat  Ctrl-S safety number  Ctrl-R refresh keys  PgUp older  F1 help  Ctrl-Q quit",
            Style::new().fg(DIM),
        ),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(Color::Indexed(235))),
        area,
    );
}

/// A box of `w`×`h` in the middle of the screen, cleared.
fn popup(frame: &mut Frame, w: u16, h: u16, title: &str) -> Rect {
    let area = frame.area();
    let w = w.min(area.width);
    let h = h.min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(Color::Cyan))
        .title(Line::from(format!(" {title} ")).style(Style::new().add_modifier(Modifier::BOLD)));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner.inner(Margin {
        horizontal: 1,
        vertical: 0,
    })
}

fn draw_new_chat(frame: &mut Frame, input: &str, error: Option<&str>) {
    let inner = popup(frame, 60, 7, "Start a chat");
    let mut lines = vec![
        Line::from("Exact username:"),
        Line::from(vec![Span::styled(
            format!("> {input}"),
            Style::new().add_modifier(Modifier::BOLD),
        )]),
        Line::from(""),
    ];
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(
            e.to_owned(),
            Style::new().fg(Color::Red),
        )));
    } else {
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled(
        "Enter start · Esc cancel",
        Style::new().fg(DIM),
    )));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    let x = inner.x + 2 + u16::try_from(width(input)).unwrap_or(0);
    frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y + 1));
}

fn draw_safety(frame: &mut Frame, app: &App, peer: &str, number: &Result<String, String>) {
    let name = app.username_of(peer);
    let conv = app.conversations.iter().find(|c| c.peer == peer);
    let verified = conv.is_some_and(|c| c.verified);
    let warning = conv.is_some_and(|c| c.key_warning);
    let mut lines = vec![
        Line::from(format!(
            "Compare these digits with {name} in person or on a call (not through this chat). If they match on both screens, your messages go only to {name} — nobody can read them in between."
        )),
        Line::from(""),
    ];
    if warning {
        let since = if app.blocked {
            " since you verified it"
        } else {
            ""
        };
        let paused = if app.blocked {
            " Sending is paused until you do."
        } else {
            ""
        };
        lines.push(Line::from(Span::styled(
            format!("{name}'s security key changed{since}. These digits are for the new key: compare them before you accept it.{paused}"),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )));
        lines.push(Line::from(""));
    }
    match number {
        Ok(n) => {
            let groups: Vec<&str> = n.split_whitespace().collect();
            for row in groups.chunks(4) {
                lines.push(Line::from(Span::styled(
                    format!("    {}", row.join("  ")),
                    Style::new().add_modifier(Modifier::BOLD),
                )));
            }
        }
        // The engine's words, e.g. "bob has not published a key yet: there is nothing to
        // compare." (safety.js).
        Err(e) => lines.push(Line::from(Span::styled(
            e.clone(),
            Style::new().fg(Color::Red),
        ))),
    }
    lines.push(Line::from(""));
    if verified {
        lines.push(Line::from(vec![
            Span::styled(
                "✓ Verified",
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(" You verified {name}'s current key.")),
        ]));
    } else {
        lines.push(Line::from(vec![
            Span::styled("Not verified", Style::new().fg(Color::Yellow)),
            Span::raw(" Mark it as verified only after comparing."),
        ]));
    }
    lines.push(Line::from(""));
    let mut keys = Vec::new();
    if !verified && number.is_ok() {
        keys.push("v mark as verified");
    }
    if warning && number.is_ok() {
        keys.push("a accept new key");
    }
    keys.push("Esc close");
    lines.push(Line::from(Span::styled(
        keys.join(" · "),
        Style::new().fg(DIM),
    )));
    // 72 wide: 68 columns of text; the height fits the wrapped text.
    // (Word wrapping may take a line more per wrapped paragraph.)
    let rows: usize = lines
        .iter()
        .map(|l| {
            let w = l.width();
            if w > 68 { w.div_ceil(68) + 1 } else { 1 }
        })
        .sum();
    let h = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let inner = popup(frame, 72, h, &format!("Safety number with {name}"));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The keys, also in README "Chatting from a terminal".
pub const HELP: &[(&str, &str)] = &[
    ("Enter", "send the message (in the compose box)"),
    ("Alt-Enter, Ctrl-J", "new line in the message"),
    ("Tab, Esc", "switch between the list and the compose box"),
    (
        "Up/Down",
        "choose a conversation (list) / scroll (compose box)",
    ),
    ("PgUp/PgDn", "scroll; PgUp at the top loads older messages"),
    ("Ctrl-N", "start a chat by exact username"),
    ("Ctrl-S", "safety number (v: verify, a: accept a new key)"),
    ("Ctrl-R", "Refresh keys"),
    ("q (list)", "quit"),
    ("Ctrl-U, Ctrl-W", "clear the compose box, delete a word"),
    ("?, F1", "this help"),
    ("Ctrl-Q, Ctrl-C", "quit"),
];

fn draw_help(frame: &mut Frame) {
    let inner = popup(
        frame,
        76,
        u16::try_from(HELP.len()).unwrap_or(12) + 5,
        "Keys",
    );
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<20}"),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Ticks: ✓ Sent · ✓✓ Delivered · ✓✓ Read (highlighted)",
        Style::new().fg(DIM),
    )));
    lines.push(Line::from(Span::styled(
        "List: ✓ verified contact · ⚠ security key changed · (3) unread",
        Style::new().fg(DIM),
    )));
    lines.push(Line::from(Span::styled("Esc close", Style::new().fg(DIM))));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The list's last activity: "14:05" today, "3 Mar" otherwise (web/chat/format.js shortWhen).
pub fn short_when(secs: i64) -> String {
    if secs <= 0 {
        return String::new();
    }
    let Some(at) = Local.timestamp_opt(secs, 0).single() else {
        return String::new();
    };
    if at.date_naive() == Local::now().date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%-d %b").to_string()
    }
}

/// "14:05" today, "3 Mar 14:05" otherwise, in local time.
pub fn time_text(secs: i64) -> String {
    let Some(at) = Local.timestamp_opt(secs, 0).single() else {
        return String::new();
    };
    let now: DateTime<Local> = Local::now();
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%-d %b %H:%M").to_string()
    }
}

fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Word-wraps `text` (its own line breaks kept) to `max` columns, by display width (emoji and
/// CJK take two); a word longer than a line is cut.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut w = 0;
        for word in para.split_inclusive(' ') {
            let ww = width(word);
            let trimmed = width(word.trim_end());
            if w + trimmed > max && w > 0 {
                out.push(line.trim_end().to_owned());
                line.clear();
                w = 0;
            }
            if ww > max {
                for c in word.chars() {
                    let cw = c.width().unwrap_or(0);
                    if w + cw > max {
                        out.push(std::mem::take(&mut line));
                        w = 0;
                    }
                    line.push(c);
                    w += cw;
                }
            } else {
                line.push_str(word);
                w += ww;
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

/// The compose box's lines: hard wrapped by width so that the cursor maps exactly.
fn wrap_compose(text: &str, max: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut w = 0;
    for c in text.chars() {
        if c == '\n' {
            out.push(String::new());
            w = 0;
            continue;
        }
        let cw = c.width().unwrap_or(0);
        if w + cw > max {
            out.push(String::new());
            w = 0;
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
        w += cw;
    }
    out
}

/// The (row, column) of char `cursor` in [`wrap_compose`]'s lines.
fn cursor_position(text: &str, cursor: usize, max: usize) -> (usize, usize) {
    let (mut row, mut col) = (0, 0);
    for c in text.chars().take(cursor) {
        if c == '\n' {
            row += 1;
            col = 0;
            continue;
        }
        let cw = c.width().unwrap_or(0);
        if col + cw > max {
            row += 1;
            col = 0;
        }
        col += cw;
    }
    (row, col)
}
