//! The full-screen chat in a real pseudo-terminal (tmux `send-keys` / `capture-pane`) against
//! the real server: Alice opens a chat with Bob by Ctrl-N, sends a multi-line message with emoji
//! and Cyrillic, Bob reads it with `parley-chat read --json` and replies with `parley-chat send`,
//! the reply appears on Alice's screen and her message's ticks move on. The screens are saved
//! under test-output/cli/, or docs/cli/ with `PARLEY_UPDATE_CAPTURES=1` (chat.txt,
//! conversations.txt, chat-new.txt, chat-safety.txt, chat-help.txt, …).
//!
//! Needs tmux (scripts/setup-test-deps.sh installs it): without it the test fails, it never
//! skips. Needs the server binary: `cargo build -j 2 --bin parley`.

mod chat_support;
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{CAPTCHA, PASSPHRASE, PASSWORD, Server};

/// One tmux server on its own socket (so that tests never touch the user's tmux), one session.
struct Tmux {
    socket: String,
    /// Holds tmux.conf: `remain-on-exit` from the start, so that a program that ends at once
    /// still leaves its last words and exit status on the screen.
    conf: tempfile::TempDir,
}

impl Tmux {
    fn new(name: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "tmux is not installed: run scripts/setup-test-deps.sh (the chat's pseudo-terminal tests need it)"
        );
        let conf = tempfile::tempdir().expect("temp dir");
        std::fs::write(conf.path().join("tmux.conf"), "set -g remain-on-exit on\n")
            .expect("tmux.conf");
        Tmux {
            socket: format!("parley-tui-{name}-{}", std::process::id()),
            conf,
        }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-f")
            .arg(self.conf.path().join("tmux.conf"))
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    /// Starts `argv` in a 120×40 terminal; the pane stays after it exits (to read its last words
    /// and its exit status).
    fn start(&self, argv: &[String]) {
        let cmd = argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        // tmux runs this with sh -c: the exit status is printed after the program ends.
        let cmd = format!("{cmd}; echo \"[parley-chat exited with $?]\"");
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "120",
            "-y",
            "40",
            "-e",
            "TERM=xterm-256color",
            &cmd,
        ]);
    }

    /// Keys by tmux name (`Enter`, `C-n`, `M-Enter`, `PPage`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Text typed as is.
    fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
        std::thread::sleep(Duration::from_millis(150));
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with the lines scrolled above it (tmux may scroll a new pane's first lines
    /// into its history while it sizes it).
    fn transcript(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-S", "-", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows every one of `needles`; the screen.
    fn wait_for(&self, needles: &[&str], what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {needles:?} not on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Escape, then waits until `needle` (in the dialog it closes) is gone: a key sent right
    /// after Escape would reach the program as Alt+key.
    fn escape(&self, needle: &str) {
        self.keys(&["Escape"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.screen().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "Escape did not close {needle:?}:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    fn pane_dead(&self) -> bool {
        let out = self.tmux(&["display-message", "-p", "-t", "main", "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .stdin(Stdio::null())
            .output();
    }
}

/// Registers `name` with `parley-chat register` (stdin not a terminal: the answers one a line,
/// in the order of the prompts: password, password again, CAPTCHA, the TOTP code once the
/// secret is printed, "saved"; the passphrase from `PARLEY_PASSPHRASE`).
fn register(server: &Server, dir: &Path, name: &str) {
    let mut child = server
        .cli(dir)
        .args(["register", "--username", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parley-chat register");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{PASSWORD}\n{PASSWORD}\n{CAPTCHA}").expect("answers");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(secret) = line.split("Secret: ").nth(1) {
                let _ = tx.send(secret.trim().to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let secret = rx.recv_timeout(Duration::from_secs(60));
    if let Ok(secret) = &secret {
        writeln!(stdin, "{}\nsaved", server.totp(secret)).expect("code");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("register");
    let err = reader.join().expect("stderr reader");
    assert!(
        secret.is_ok() && out.status.success(),
        "register {name}: {:?}\n{}\n{err}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

fn run_ok(server: &Server, dir: &Path, args: &[&str]) -> String {
    let out = server
        .cli(dir)
        .args(args)
        .output()
        .expect("run parley-chat");
    assert!(
        out.status.success(),
        "parley-chat {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `parley-chat chat` in `tmux` and answers the passphrase prompt, which comes first, on
/// the normal screen (no PARLEY_PASSPHRASE here).
fn open_chat(tmux: &Tmux, server: &Server, dir: &Path, me: &str) {
    let argv: Vec<String> = vec![
        common::cli_binary().display().to_string(),
        "--server".into(),
        server.url.clone(),
        "--ca-file".into(),
        server.ca_file.display().to_string(),
        "--state-dir".into(),
        dir.display().to_string(),
        "chat".into(),
    ];
    tmux.start(&argv);
    tmux.wait_for(
        &["assphrase"],
        "the passphrase prompt before the full screen",
    );
    tmux.text(PASSPHRASE);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(&["Chats", "Connected", me], "the chat screen");
    assert!(!screen.contains(PASSPHRASE), "{screen}");
}

fn docs_dir() -> PathBuf {
    common::capture_dir()
}

/// Saves a screen under docs/cli/ (trailing blanks trimmed).
fn save(name: &str, screen: &str) {
    let dir = docs_dir();
    std::fs::create_dir_all(&dir).expect("docs/cli");
    let text: String = screen
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    std::fs::write(dir.join(name), text).expect("save capture");
}

#[test]
fn chat_in_a_real_terminal_with_bob_on_the_command_line() {
    let server = Server::start();
    let alice_dir = tempfile::tempdir().expect("temp dir");
    let bob_dir = tempfile::tempdir().expect("temp dir");
    let carol_dir = tempfile::tempdir().expect("temp dir");
    register(&server, alice_dir.path(), "alice");
    register(&server, bob_dir.path(), "bob");
    register(&server, carol_dir.path(), "carol");

    let tmux = Tmux::new("chat");
    // No PARLEY_PASSPHRASE: the prompt comes first, on the normal screen.
    let argv: Vec<String> = vec![
        common::cli_binary().display().to_string(),
        "--server".into(),
        server.url.clone(),
        "--ca-file".into(),
        server.ca_file.display().to_string(),
        "--state-dir".into(),
        alice_dir.path().display().to_string(),
        "chat".into(),
    ];
    tmux.start(&argv);
    tmux.wait_for(
        &["assphrase"],
        "the passphrase prompt before the full screen",
    );
    tmux.text(PASSPHRASE);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(&["Chats", "Connected", "alice"], "the chat screen");
    assert!(!screen.contains(PASSPHRASE), "{screen}");

    // Ctrl-N: a user that does not exist → the server's answer in the dialog.
    tmux.keys(&["C-n"]);
    tmux.text("mallory");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(&["Start a chat", "mallory"], "the new-chat dialog");
    let screen = if screen.to_lowercase().contains("no user") {
        screen
    } else {
        tmux.wait_for(&["no user"], "no such user")
    };
    save("chat-new.txt", &screen);
    for _ in 0.."mallory".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.text("bob");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Message bob"], "the conversation with bob");

    // A multi-line message with emoji and Cyrillic, Alt-Enter for the new line.
    tmux.text("Hello Bob 👋 привет");
    tmux.keys(&["M-Enter"]);
    tmux.text("second line — from the terminal");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        &["You ✓", "Hello Bob", "second line — from the terminal"],
        "the sent message",
    );

    // Bob reads it from the command line.
    let read = run_ok(&server, bob_dir.path(), &["read", "alice", "--json"]);
    let texts: Vec<String> = read
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "message")
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t == "Hello Bob 👋 привет\nsecond line — from the terminal"),
        "{read}"
    );
    // Bob replies; the reply appears on Alice's screen, and her message is delivered.
    run_ok(
        &server,
        bob_dir.path(),
        &["send", "alice", "Hi Alice! 世界 🎉"],
    );
    let screen = tmux.wait_for(&["Hi Alice! 世界", "✓✓"], "Bob's reply and the ticks");
    assert!(screen.contains("bob"), "{screen}");

    // A paste of two lines is one message (bracketed paste), sent by Enter only.
    tmux.tmux(&["set-buffer", "pasted line one\npasted line two"]);
    tmux.tmux(&["paste-buffer", "-p", "-t", "main"]);
    tmux.wait_for(
        &["pasted line one", "pasted line two"],
        "the pasted text in the box",
    );
    tmux.keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = run_ok(&server, bob_dir.path(), &["read", "alice", "--json"]);
        let texts: Vec<serde_json::Value> = read
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == "message")
            .map(|v| v["text"].clone())
            .collect();
        assert!(
            !texts.iter().any(|t| t == "pasted line one"),
            "sent line by line: {read}"
        );
        if texts
            .iter()
            .any(|t| t == "pasted line one\npasted line two")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the pasted message: {read}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // Bob refreshes the keys: "Keys changed" on Alice's screen too.
    run_ok(&server, bob_dir.path(), &["refresh", "alice"]);
    tmux.wait_for(&["Keys changed — bob"], "Bob's Refresh");
    // Alice's Refresh (Ctrl-R): "Keys changed" on her screen, and in Bob's history.
    tmux.keys(&["C-r"]);
    tmux.wait_for(
        &["Keys changed — You", "Keys refreshed for bob."],
        "Alice's Refresh",
    );
    let read = run_ok(&server, bob_dir.path(), &["read", "alice", "--json"]);
    assert!(
        read.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["event"] == "keys_changed" && v["by_me"] == false),
        "{read}"
    );

    // Carol writes twice: her conversation shows 2 unread in the list while Bob's stays open.
    run_ok(
        &server,
        carol_dir.path(),
        &["send", "alice", "Are you there?"],
    );
    run_ok(
        &server,
        carol_dir.path(),
        &["send", "alice", "Lunch at 12?"],
    );
    tmux.wait_for(&["carol (2)"], "carol's unread count");
    // A key clears the last notice ("Keys refreshed for bob."): the status bar shows again.
    tmux.keys(&["End"]);
    let screen = tmux.wait_for(&["carol (2)", "● Connected │ alice"], "the status bar");
    save("chat.txt", &screen);

    // The safety-number panel.
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for(
        &["Safety number with bob", "Not verified"],
        "the safety panel",
    );
    save("chat-safety.txt", &screen);
    tmux.keys(&["v"]);
    tmux.wait_for(&["You verified bob's current key"], "verified");
    tmux.escape("Safety number with");

    // The list: Tab to it, Home, then Down until carol's row is chosen (choosing opens the
    // conversation and marks it read).
    tmux.keys(&["Tab"]);
    tmux.keys(&["Home"]);
    for _ in 0..3 {
        if tmux.screen().contains("› carol") {
            break;
        }
        tmux.keys(&["Down"]);
    }
    let screen = tmux.wait_for(&["Lunch at 12?", "bob ✓"], "carol's conversation");
    assert!(!screen.contains("carol (2)"), "{screen}");
    save("conversations.txt", &screen);
    // Opening carol's conversation sent her a read receipt: her ticks say Read.
    let read = run_ok(&server, carol_dir.path(), &["read", "alice", "--json"]);
    let statuses: Vec<String> = read
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "message" && v["mine"] == true)
        .map(|v| v["status"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(statuses, ["read", "read"], "{read}");

    tmux.keys(&["?"]);
    let screen = tmux.wait_for(&["Keys", "Refresh keys", "Ctrl-Q"], "the help");
    save("chat-help.txt", &screen);
    tmux.escape("Esc close");

    // Ctrl-Q leaves the full screen and exits 0.
    tmux.keys(&["C-q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tmux.pane_dead() {
        assert!(
            Instant::now() < deadline,
            "still running:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The shell around it prints the exit status on the normal screen.
    let screen = tmux.wait_for(&["[parley-chat exited with 0]"], "the exit status");
    assert!(
        !screen.contains("╭ Chats"),
        "the alternate screen was left:\n{screen}"
    );
}

#[test]
fn verified_contact_key_change_shows_the_warning_and_holds_sending_until_accepted() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let alice = chat_support::register(&server, &dir.path().join("alice"), "alice");
    let bob = chat_support::register(&server, &dir.path().join("bob"), "bob");
    // Alice's first run of the CLI makes and publishes her identity key.
    run_ok(&server, &alice.state_dir, &["conversations"]);
    run_ok(
        &server,
        &bob.state_dir,
        &["send", "alice", "Hello from Bob"],
    );

    let tmux = Tmux::new("keys");
    open_chat(&tmux, &server, &alice.state_dir, "alice");
    // Bob's conversation is the only one: open, read.
    tmux.wait_for(&["Hello from Bob"], "Bob's message");
    tmux.keys(&["C-s"]);
    tmux.wait_for(
        &["Safety number with bob", "v mark as verified"],
        "the safety panel",
    );
    tmux.keys(&["v"]);
    tmux.wait_for(&["You verified bob's current key"], "verified");
    tmux.escape("Safety number with");
    tmux.wait_for(&["✓ Verified"], "the verified badge");

    // Bob loses his local keys and signs in again: a new identity key; he writes.
    std::fs::remove_file(chat_support::state_file(&server, &bob)).expect("remove bob's state");
    chat_support::login(&mut server, &bob);
    run_ok(
        &server,
        &bob.state_dir,
        &["send", "alice", "New keys on my side"],
    );

    // Alice: the warning (banner, list mark, timeline line) and sending held back.
    let screen = tmux.wait_for(
        &[
            "bob's security key changed since you verified it",
            "⚠ Key changed",
            "bob ⚠",
        ],
        "the key-change warning",
    );
    assert!(screen.contains("Sending is paused"), "{screen}");
    tmux.keys(&["Tab"]);
    tmux.text("are you really Bob?");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(
        &["Sending is paused: bob's security key changed since you verified it"],
        "the blocked send",
    );
    save("chat-keywarning.txt", &screen);
    let read = run_ok(&server, &bob.state_dir, &["read", "alice", "--json"]);
    assert!(!read.contains("are you really Bob?"), "{read}");

    // The safety panel says the key changed; `a` accepts it and sending resumes.
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for(&["These digits are", "a accept new key"], "the panel");
    assert!(screen.contains("paused until you do."), "{screen}");
    tmux.keys(&["a"]);
    tmux.wait_for(&["You accepted bob's new key"], "accepted");
    tmux.escape("Safety number with");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["You ✓"], "the message sent after accepting");
    let screen = tmux.screen();
    assert!(!screen.contains("Sending is paused"), "{screen}");
    let read = run_ok(&server, &bob.state_dir, &["read", "alice", "--json"]);
    assert!(read.contains("are you really Bob?"), "{read}");
    tmux.keys(&["C-q"]);

    // Bob's own chat: the messages under the keys he lost carry the E5 warning; the new ones
    // read normally.
    let bob_tmux = Tmux::new("bob");
    open_chat(&bob_tmux, &server, &bob.state_dir, "bob");
    let screen = bob_tmux.wait_for(
        &[
            "no longer has the keys for earlier messages",
            "are you really Bob?",
        ],
        "Bob's chat after losing his keys",
    );
    assert!(!screen.contains("Hello from Bob"), "{screen}");
    save("chat-lostkeys.txt", &screen);
    bob_tmux.keys(&["C-q"]);
    bob_tmux.wait_for(&["[parley-chat exited with 0]"], "the exit status");
}

#[test]
fn the_status_bar_follows_the_connection_through_a_server_restart() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let alice = chat_support::register(&server, &dir.path().join("alice"), "alice");
    let bob = chat_support::register(&server, &dir.path().join("bob"), "bob");
    run_ok(&server, &alice.state_dir, &["conversations"]);
    run_ok(
        &server,
        &bob.state_dir,
        &["send", "alice", "before the restart"],
    );

    let tmux = Tmux::new("restart");
    open_chat(&tmux, &server, &alice.state_dir, "alice");
    tmux.wait_for(&["before the restart", "● Connected"], "the chat");
    server.restart(None);
    // Bob writes while Alice's client may still be reconnecting: the backlog brings it.
    run_ok(
        &server,
        &bob.state_dir,
        &["send", "alice", "after the restart"],
    );
    let screen = tmux.wait_for(
        &["after the restart", "● Connected"],
        "reconnected with the backlog",
    );
    assert!(screen.contains("before the restart"), "{screen}");
    tmux.keys(&["C-q"]);
    tmux.wait_for(&["[parley-chat exited with 0]"], "the exit status");
}

#[test]
fn the_chat_refuses_a_non_terminal_and_a_missing_account_clearly() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // stdout is a pipe here.
    let out = server.cli(dir.path()).arg("chat").output().expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the chat needs a terminal"), "{err}");

    // In a terminal, without an account: the error on the normal screen, exit code 3.
    let tmux = Tmux::new("noaccount");
    let argv: Vec<String> = vec![
        common::cli_binary().display().to_string(),
        "--server".into(),
        server.url.clone(),
        "--ca-file".into(),
        server.ca_file.display().to_string(),
        "--state-dir".into(),
        dir.path().display().to_string(),
        "chat".into(),
    ];
    tmux.start(&argv);
    tmux.wait_for(&["[parley-chat exited with 3]"], "the sign-in error");
    let screen = tmux.transcript();
    assert!(
        screen.contains("parley-chat: no account on this server yet"),
        "{screen}"
    );
    assert!(!screen.contains("Chats"), "{screen}");
}

#[test]
fn pgup_pages_through_history_from_the_server() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let alice = chat_support::register(&server, &dir.path().join("alice"), "alice");
    let bob = chat_support::register(&server, &dir.path().join("bob"), "bob");
    run_ok(&server, &alice.state_dir, &["conversations"]);
    // 70 messages from one process (more than one page of 50).
    let mut watch = chat_support::Running::start(&server, &bob, &["watch", "--json", "--commands"]);
    for i in 1..=70 {
        watch.command(&serde_json::json!({"send": {"to": "alice", "text": format!("Bob {i:02}")}}));
        watch.expect("sent", |v| v["event"] == "sent");
    }
    drop(watch.stdin.take());
    assert!(watch.finish().success());

    let tmux = Tmux::new("paging");
    open_chat(&tmux, &server, &alice.state_dir, "alice");
    let screen = tmux.wait_for(&["Bob 70"], "the newest page");
    assert!(!screen.contains("Bob 20"), "{screen}");
    // PgUp scrolls, then at the top loads the page before the oldest loaded message, until
    // the beginning.
    for _ in 0..25 {
        let screen = tmux.screen();
        if screen.contains("Bob 01") && screen.contains("Beginning of the conversation") {
            break;
        }
        tmux.keys(&["PPage"]);
    }
    let screen = tmux.wait_for(
        &["Bob 01", "Beginning of the conversation"],
        "the oldest page",
    );
    assert!(screen.contains("more lines below"), "{screen}");
    // Alice never lost keys: whatever the first page could not read before the backlog
    // brought the key exchange is readable now.
    assert!(!screen.contains("no longer has the keys"), "{screen}");
    assert!(!screen.contains("can't be decrypted"), "{screen}");
    // PgDn back to the newest.
    for _ in 0..20 {
        tmux.keys(&["NPage"]);
    }
    tmux.wait_for(&["Bob 70"], "back at the bottom");
    tmux.keys(&["C-q"]);
    tmux.wait_for(&["[parley-chat exited with 0]"], "the exit status");
}
