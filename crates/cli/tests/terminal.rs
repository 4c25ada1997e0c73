//! Registration and sign-in through a real pseudo-terminal (issue 12: "the terminal UI tested
//! through a real pseudo-terminal … for registration, sign-in"): `parley-chat` runs inside a
//! tmux pane (100×50) on its own tmux server; keys go in with `send-keys`, the screen comes back
//! with `capture-pane`. Secrets are typed on the terminal (no `PARLEY_PASSPHRASE`), so the
//! no-echo path is the one exercised: the password and passphrase never appear on screen.
//!
//! The captures are written to test-output/cli/register.txt and login.txt; with
//! `PARLEY_UPDATE_CAPTURES=1` to docs/cli/ (committed, as the issue's "screenshot-like capture of
//! each screen").
//!
//! tmux must be installed (scripts/setup-test-deps.sh installs it): without it this test fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{CAPTCHA, PASSPHRASE, PASSWORD, Server, cli_binary};

/// A tmux server of our own (its socket name is unique), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        match version {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "tmux is not installed: run scripts/setup-test-deps.sh (it installs tmux for the \
                 pseudo-terminal tests)"
            ),
        }
        Tmux {
            socket: format!("parley-chat-test-{}-{tag}", std::process::id()),
        }
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-L").arg(&self.socket).env_remove("TMUX");
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.tmux().args(args).output().expect("tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start `shell_command` in a new 100×50 session named `name`; the pane stays after the
    /// command ends (its exit status is printed as `[exit N]`).
    fn start(&self, name: &str, shell_command: &str) {
        let wrapped = format!("{shell_command}; echo \"[exit $?]\"; sleep 600");
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "50",
            &wrapped,
        ]);
    }

    /// The whole pane: scroll-back and screen.
    fn capture(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-S", "-", "-t", name])
    }

    /// Wait until the pane shows `text` (after `from` bytes of the capture).
    fn wait_for(&self, name: &str, text: &str, from: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.capture(name);
            if screen.get(from..).is_some_and(|s| s.contains(text)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Type `text` and Enter.
    fn type_line(&self, name: &str, text: &str) {
        self.run(&["send-keys", "-t", name, "-l", "--", text]);
        self.run(&["send-keys", "-t", name, "Enter"]);
    }

    /// Wait for a prompt line that starts with `prompt` and ends with ":" (prompts end with
    /// ": "; tmux trims the space), then answer it. The capture seen.
    fn answer(&self, name: &str, prompt: &str, text: &str, from: &mut usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.capture(name);
            if let Some(tail) = screen.get(*from..) {
                let mut offset = *from;
                for line in tail.split_inclusive('\n') {
                    let l = line.trim_end();
                    if l.starts_with(prompt) && l.ends_with(':') {
                        *from = offset + line.len();
                        // A person answers after the prompt, not with it: give a no-echo
                        // prompt the moment it needs to turn echo off.
                        std::thread::sleep(Duration::from_millis(300));
                        self.type_line(name, text);
                        return screen;
                    }
                    offset += line.len();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never asked {prompt:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// The shell command running parley-chat against `server` with state in `state`; no
/// passphrase in the environment (it is typed).
fn cli_command(server: &Server, state: &Path, args: &str) -> String {
    format!(
        "env -u PARLEY_PASSPHRASE -u PARLEY_SERVER -u PARLEY_CA_FILE -u PARLEY_STATE_DIR {} --server {} --ca-file {} --state-dir {} {args}",
        cli_binary().display(),
        server.url,
        server.ca_file.display(),
        state.display()
    )
}

fn docs_dir() -> PathBuf {
    common::capture_dir()
}

/// The pane's text without the trailing blank lines and the wrapper's `sleep`.
fn tidy(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let mut out = lines[..end].join("\n");
    out.push('\n');
    out
}

fn half_block_lines(s: &str) -> usize {
    s.lines()
        .filter(|l| l.chars().filter(|c| matches!(c, '█' | '▀' | '▄')).count() >= 10)
        .count()
}

#[test]
fn register_and_sign_in_through_a_real_terminal() {
    let mut server = Server::start();
    let tmux = Tmux::new("accounts");
    let home = tempfile::tempdir().expect("state dir");

    // ---- registration ----
    tmux.start(
        "register",
        &cli_command(&server, home.path(), "register --username tina"),
    );
    let mut at = 0;
    tmux.answer("register", "Password", PASSWORD, &mut at);
    tmux.answer("register", "Password again", PASSWORD, &mut at);
    // The local passphrase before anything is made on the server.
    tmux.answer(
        "register",
        "A passphrase to seal this account's keys on this machine",
        PASSPHRASE,
        &mut at,
    );
    tmux.answer("register", "The same passphrase again", PASSPHRASE, &mut at);
    // "n": a new image first.
    let before = at;
    let screen = tmux.answer("register", "CAPTCHA", "n", &mut at);
    assert!(
        half_block_lines(&screen[before..]) >= 4,
        "the CAPTCHA is drawn in half-blocks:\n{screen}"
    );
    assert!(screen.contains("or open /"), "the PNG's path:\n{screen}");
    let before = at;
    let screen = tmux.answer("register", "CAPTCHA", CAPTCHA, &mut at);
    assert!(
        half_block_lines(&screen[before..]) >= 4,
        "a new image after \"n\":\n{screen}"
    );
    let screen = tmux.wait_for("register", "Code from the app:", at);
    let secret: String = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("Secret: "))
        .expect("the grouped secret on screen")
        .split_whitespace()
        .collect();
    let qr = half_block_lines(&screen[at..]);
    assert!(
        qr >= 15,
        "the QR code is drawn ({qr} lines of blocks):\n{screen}"
    );
    tmux.answer(
        "register",
        "Code from the app",
        &server.totp(&secret),
        &mut at,
    );
    let screen = tmux.wait_for("register", "once you have saved them:", at);
    assert!(
        screen.contains("Save these now: each works once if you lose the authenticator."),
        "{screen}"
    );
    let codes = screen
        .lines()
        .filter(|l| {
            l.trim()
                .split_once(". ")
                .is_some_and(|(n, c)| n.parse::<u8>().is_ok() && c.len() >= 8)
        })
        .count();
    assert_eq!(codes, 10, "ten recovery codes on screen:\n{screen}");
    tmux.answer(
        "register",
        "Type \"saved\" once you have saved them",
        "saved",
        &mut at,
    );
    let screen = tmux.wait_for("register", "[exit ", at);
    assert!(screen.contains("Signed in as tina."), "{screen}");
    assert!(screen.contains("[exit 0]"), "{screen}");
    for secret in [PASSWORD, PASSPHRASE] {
        assert!(!screen.contains(secret), "a secret was echoed:\n{screen}");
    }
    std::fs::create_dir_all(docs_dir()).expect("docs/cli");
    std::fs::write(docs_dir().join("register.txt"), tidy(&screen)).expect("write capture");

    // ---- sign-in on the same machine: passphrase, password, CAPTCHA, code ----
    server.advance_clock(30);
    tmux.start(
        "login",
        &cli_command(&server, home.path(), "login --username tina"),
    );
    let mut at = 0;
    tmux.answer("login", "Passphrase for tina", PASSPHRASE, &mut at);
    tmux.answer("login", "Password", PASSWORD, &mut at);
    // A wrong answer: the server's message, a new image, the password kept.
    tmux.answer("login", "CAPTCHA", "WRONG", &mut at);
    // (The server's captcha_failed message.)
    let screen = tmux.wait_for("login", "wrong or has expired", at);
    let shown = screen[at..].to_owned();
    let before = at;
    let screen = tmux.answer("login", "CAPTCHA", CAPTCHA, &mut at);
    assert!(
        !screen[before..].contains("Password:"),
        "the password is not asked again:\n{screen}"
    );
    assert!(half_block_lines(&screen[before..]) >= 4, "{screen}");
    assert!(shown.to_lowercase().contains("captcha"), "{shown}");
    tmux.answer(
        "login",
        "Code from the authenticator app (or r to use a recovery code)",
        &server.totp(&secret),
        &mut at,
    );
    let screen = tmux.wait_for("login", "[exit ", at);
    assert!(screen.contains("Signed in as tina."), "{screen}");
    assert!(screen.contains("[exit 0]"), "{screen}");
    assert!(!screen.contains("New keys on this machine"), "{screen}");
    for secret in [PASSWORD, PASSPHRASE] {
        assert!(!screen.contains(secret), "a secret was echoed:\n{screen}");
    }
    std::fs::write(docs_dir().join("login.txt"), tidy(&screen)).expect("write capture");

    // ---- a wrong passphrase on the terminal: the clear error, exit 6 ----
    tmux.start("wrong", &cli_command(&server, home.path(), "sessions"));
    let mut at = 0;
    tmux.answer("wrong", "Passphrase for tina", "not it at all", &mut at);
    let screen = tmux.wait_for("wrong", "[exit ", at);
    assert!(screen.contains("wrong passphrase for"), "{screen}");
    assert!(screen.contains("[exit 6]"), "{screen}");

    // ---- a taken username on a terminal: the server's message, another name, a new image ----
    let elsewhere = tempfile::tempdir().expect("state dir");
    tmux.start(
        "taken",
        &cli_command(&server, elsewhere.path(), "register --username tina"),
    );
    let mut at = 0;
    tmux.answer("taken", "Password", PASSWORD, &mut at);
    tmux.answer("taken", "Password again", PASSWORD, &mut at);
    tmux.answer(
        "taken",
        "A passphrase to seal this account's keys on this machine",
        PASSPHRASE,
        &mut at,
    );
    tmux.answer("taken", "The same passphrase again", PASSPHRASE, &mut at);
    tmux.answer("taken", "CAPTCHA", CAPTCHA, &mut at);
    let before = at;
    tmux.answer("taken", "Another username", "tina2", &mut at);
    let screen = tmux.capture("taken");
    assert!(
        screen[before..].to_lowercase().contains("taken"),
        "the server's username_taken message:\n{screen}"
    );
    let before = at;
    tmux.answer("taken", "CAPTCHA", CAPTCHA, &mut at);
    let screen = tmux.wait_for("taken", "Code from the app:", at);
    assert!(
        half_block_lines(&screen[before..]) >= 15,
        "tina2's enrolment QR:\n{screen}"
    );
}
