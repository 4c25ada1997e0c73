//! Text from elsewhere (a contact's message, the server's messages, a session's user agent) made
//! safe to print on a terminal: a contact must not be able to clear the screen, set the window
//! title or clipboard (OSC 52), or overwrite a line with `\r` so that it looks like one's own.
//! The full-screen chat needs none of this (ratatui drops control characters); `read`, `watch`
//! and every message on stderr go through [`printable`].

/// `s` with every control character except `\n` and `\t` (U+0000–U+001F including ESC and
/// `\r`, DEL, U+0080–U+009F including the one-character CSI U+009B and OSC U+009D) and the
/// bidirectional overrides and isolates replaced by U+FFFD.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                '\u{FFFD}'
            }
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_carriage_returns_and_8_bit_controls_do_not_reach_the_terminal() {
        let hostile =
            "ok\r12:01 you: I agree\x1b[2J\x1b]0;title\x07\x1b]52;c;aGk=\x07\u{9b}31m\u{9d}x\u{7f}";
        let safe = printable(hostile);
        for bad in ['\r', '\x1b', '\x07', '\u{9b}', '\u{9d}', '\u{7f}'] {
            assert!(!safe.contains(bad), "{bad:?} in {safe:?}");
        }
        assert!(safe.starts_with("ok\u{FFFD}12:01 you: I agree"));
    }

    #[test]
    fn text_newlines_tabs_emoji_and_scripts_are_kept() {
        let text = "Hello 👋\n\tПривет — 你好 — مرحبا";
        assert_eq!(printable(text), text);
        assert_eq!(printable("a\u{202E}b\u{2066}c"), "a\u{FFFD}b\u{FFFD}c");
    }
}
