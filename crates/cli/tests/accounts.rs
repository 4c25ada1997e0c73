//! Accounts from the terminal (issue 12): `parley-chat register/login/logout/sessions/
//! delete-account` against a real `parley` server, answering the prompts through a pipe the way
//! a person answers them on a terminal (the TOTP secret is read from what the client prints).

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CAPTCHA, PASSWORD, Server};

/// A running `parley-chat` whose prompts we answer.
struct Dialogue {
    child: Child,
    stdin: Option<ChildStdin>,
    /// stdout and stderr interleaved as they arrive; and each alone.
    all: Arc<Mutex<String>>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    /// How far `all` has been matched.
    seen: usize,
}

fn pump(mut from: impl Read + Send + 'static, to: [Arc<Mutex<String>>; 2]) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    // Only whole UTF-8 sequences (half-blocks are 3 bytes).
                    let valid = match std::str::from_utf8(&pending) {
                        Ok(s) => s.len(),
                        Err(e) => e.valid_up_to(),
                    };
                    let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
                    pending.drain(..valid);
                    for t in &to {
                        t.lock().expect("lock").push_str(&text);
                    }
                }
            }
        }
    });
}

impl Dialogue {
    fn start(mut cmd: Command) -> Dialogue {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn parley-chat");
        let all = Arc::new(Mutex::new(String::new()));
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        pump(
            child.stdout.take().expect("stdout"),
            [all.clone(), out.clone()],
        );
        pump(
            child.stderr.take().expect("stderr"),
            [all.clone(), err.clone()],
        );
        let stdin = child.stdin.take();
        Dialogue {
            child,
            stdin,
            all,
            out,
            err,
            seen: 0,
        }
    }

    /// Wait until `text` appears after what was already matched; everything up to and
    /// including it.
    fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            {
                let all = self.all.lock().expect("lock");
                if let Some(i) = all[self.seen..].find(text) {
                    let end = self.seen + i + text.len();
                    let got = all[self.seen..end].to_owned();
                    self.seen = end;
                    return got;
                }
            }
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                // One last look after the process ended.
                std::thread::sleep(Duration::from_millis(200));
                let all = self.all.lock().expect("lock");
                if let Some(i) = all[self.seen..].find(text) {
                    let end = self.seen + i + text.len();
                    let got = all[self.seen..end].to_owned();
                    self.seen = end;
                    return got;
                }
                panic!("never saw {text:?}; the output:\n{}", &all[..]);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the prompt `prompt` (it ends with ": ") and answer `answer`.
    fn answer(&mut self, prompt: &str, answer: &str) -> String {
        let got = self.expect(&format!("{prompt}: "));
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{answer}").expect("write answer");
        stdin.flush().expect("flush");
        got
    }

    /// Close stdin and wait for the exit: (status, stdout, stderr).
    fn finish(mut self) -> (ExitStatus, String, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "parley-chat did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        let out = self.out.lock().expect("lock").clone();
        let err = self.err.lock().expect("lock").clone();
        (status, out, err)
    }
}

/// The TOTP secret from the "Secret: ABCD EFGH …" line.
fn secret_in(text: &str) -> String {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Secret: "))
        .unwrap_or_else(|| panic!("no Secret: line in\n{text}"));
    line.split_whitespace().collect()
}

/// What a completed registration leaves: the TOTP secret and the recovery codes.
struct Registered {
    secret: String,
    codes: Vec<String>,
}

fn recovery_codes_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (n, code) = l.trim().split_once(". ")?;
            n.parse::<u32>().ok()?;
            Some(code.trim().to_owned())
        })
        .collect()
}

/// Register `username` through the dialogue; asserts success.
fn register(server: &Server, state: &Path, username: &str) -> Registered {
    let mut cmd = server.cli(state);
    cmd.args(["register", "--username", username]);
    let mut d = Dialogue::start(cmd);
    d.answer("Password", PASSWORD);
    d.answer("Password again", PASSWORD);
    let shown = d.answer("CAPTCHA", CAPTCHA);
    assert!(
        shown.contains('█') || shown.contains('▀') || shown.contains('▄'),
        "the CAPTCHA is drawn with half-blocks:\n{shown}"
    );
    assert!(
        shown.contains("or open /"),
        "the PNG's path is offered:\n{shown}"
    );
    let enrol = d.expect("Code from the app: ");
    assert!(enrol.contains("█"), "the QR code is drawn:\n{enrol}");
    let secret = secret_in(&enrol);
    writeln!(d.stdin.as_mut().expect("stdin"), "{}", server.totp(&secret)).expect("code");
    let shown = d.answer("Type \"saved\" once you have saved them", "saved");
    assert!(
        shown.contains("Save these now: each works once if you lose the authenticator."),
        "{shown}"
    );
    let codes = recovery_codes_in(&shown);
    assert_eq!(codes.len(), 10, "ten recovery codes:\n{shown}");
    let (status, out, err) = d.finish();
    assert!(
        status.success(),
        "register failed: {status:?}\n{out}\n{err}"
    );
    assert!(out.contains(&format!("Signed in as {username}.")), "{out}");
    Registered { secret, codes }
}

/// The state file of `username` under `state`.
fn state_file(server: &Server, state: &Path, username: &str) -> std::path::PathBuf {
    let url = url::Url::parse(&server.url).expect("url");
    let dir = format!(
        "{}_{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    );
    state.join(dir).join(format!("{username}.state"))
}

fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run parley-chat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sign in with the TOTP code (or a recovery code) through the dialogue: (status, out, err).
fn login(
    server: &Server,
    state: &Path,
    username: &str,
    password: &str,
    second: Second<'_>,
) -> (ExitStatus, String, String) {
    let mut cmd = server.cli(state);
    cmd.args(["login", "--username", username]);
    if matches!(second, Second::RecoveryFlag(_)) {
        cmd.arg("--recovery");
    }
    let mut d = Dialogue::start(cmd);
    d.answer("Password", password);
    d.answer("CAPTCHA", CAPTCHA);
    match second {
        Second::Totp(secret) => {
            d.answer(
                "Code from the authenticator app (or r to use a recovery code)",
                &server.totp(secret),
            );
        }
        Second::Recovery(code) => {
            d.answer(
                "Code from the authenticator app (or r to use a recovery code)",
                "r",
            );
            d.answer("Recovery code", code);
        }
        Second::RecoveryFlag(code) => {
            d.answer("Recovery code", code);
        }
        Second::None => {}
    }
    d.finish()
}

#[derive(Clone, Copy)]
enum Second<'a> {
    Totp(&'a str),
    Recovery(&'a str),
    RecoveryFlag(&'a str),
    /// Expect a refusal before the second step.
    None,
}

fn sessions_json(server: &Server, state: &Path) -> serde_json::Value {
    let mut cmd = server.cli(state);
    cmd.args(["sessions", "--json"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "sessions --json: {out}\n{err}");
    serde_json::from_str(out.trim()).expect("one JSON object")
}

#[test]
fn register_leaves_a_sealed_owner_only_state_file_and_a_session() {
    let server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    let reg = register(&server, state.path(), "alice");
    let file = state_file(&server, state.path(), "alice");
    let mode = std::fs::metadata(&file)
        .expect("state file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(file.parent().expect("dir"))
        .expect("dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let raw = std::fs::read_to_string(&file).expect("read");
    assert!(raw.contains("\"format\":\"parley-chat-state\""), "{raw}");
    assert!(!raw.contains(&reg.secret), "nothing in clear");
    assert!(
        std::fs::read_to_string(file.parent().expect("dir").join("default"))
            .expect("default account")
            .trim()
            == "alice"
    );
    // The session works: the list has exactly this one, marked current, from parley-chat.
    let list = sessions_json(&server, state.path());
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(sessions[0]["current"], true);
    assert!(
        sessions[0]["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("parley-chat/")),
        "{list}"
    );
    // The table form.
    let mut cmd = server.cli(state.path());
    cmd.arg("sessions");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ID") && out.contains("LAST ACTIVE"), "{out}");
    assert!(
        out.contains(sessions[0]["id"].as_str().expect("id")),
        "{out}"
    );
}

#[test]
fn wrong_captcha_is_the_servers_message_exit_5_and_nothing_saved() {
    let server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    let mut cmd = server.cli(state.path());
    cmd.args(["register", "--username", "bob"]);
    let mut d = Dialogue::start(cmd);
    d.answer("Password", PASSWORD);
    d.answer("Password again", PASSWORD);
    d.answer("CAPTCHA", "WRONG");
    let (status, out, err) = d.finish();
    assert_eq!(status.code(), Some(5), "{out}\n{err}");
    // The server's own message (captcha_failed).
    assert!(
        err.to_lowercase().contains("captcha"),
        "the server's CAPTCHA message: {err}"
    );
    assert!(!out.contains("Signed in"), "{out}");
    let file = state_file(&server, state.path(), "bob");
    assert!(!file.exists(), "no state file");
    assert!(
        !file.parent().expect("dir").join("default").exists(),
        "no default account"
    );
}

#[test]
fn weak_password_shows_every_reason_the_server_gives() {
    let server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    let mut cmd = server.cli(state.path());
    cmd.args(["register", "--username", "carol"]);
    let mut d = Dialogue::start(cmd);
    d.answer("Password", "carol123");
    let (status, out, err) = d.finish();
    assert_eq!(status.code(), Some(5), "{out}\n{err}");
    assert!(err.contains("does not accept this password"), "{err}");
    let reasons: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    assert!(!reasons.is_empty(), "the reasons are listed: {err}");
    // They are the server's: compare with /api/password/check itself.
    let check = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&server.ca_file)
        .args(["-H", "content-type: application/json", "-d"])
        .arg(r#"{"password":"carol123","username":"carol"}"#)
        .arg(format!("{}/api/password/check", server.url))
        .output()
        .expect("curl");
    let feedback: serde_json::Value = serde_json::from_slice(&check.stdout).expect("json");
    for r in feedback["reasons"].as_array().expect("reasons") {
        let msg = r["message"].as_str().expect("message");
        assert!(
            reasons.iter().any(|l| l.contains(msg)),
            "reason {msg:?} shown in {err}"
        );
    }
    assert!(!state_file(&server, state.path(), "carol").exists());
}

#[test]
fn login_with_totp_then_with_a_recovery_code_on_another_machine() {
    let mut server = Server::start();
    let home = tempfile::tempdir().expect("state dir");
    let reg = register(&server, home.path(), "dave");
    server.advance_clock(30);

    // The same machine: the state file is reopened, the session replaced.
    let (status, out, err) = login(
        &server,
        home.path(),
        "dave",
        PASSWORD,
        Second::Totp(&reg.secret),
    );
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("Signed in as dave."), "{out}");
    assert!(!err.contains("New keys on this machine"), "{err}");

    // Another machine: a recovery code (typed after "r"), a new state file and the warning.
    let laptop = tempfile::tempdir().expect("state dir");
    let (status, out, err) = login(
        &server,
        laptop.path(),
        "dave",
        PASSWORD,
        Second::Recovery(&reg.codes[0]),
    );
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("Signed in as dave."), "{out}");
    assert!(
        err.contains("New keys on this machine: your contacts will see a key change"),
        "{err}"
    );
    assert!(
        err.contains("You signed in with a recovery code."),
        "the server's warning: {err}"
    );
    assert!(err.contains("9 recovery codes left"), "{err}");
    let file = state_file(&server, laptop.path(), "dave");
    assert_eq!(
        std::fs::metadata(&file)
            .expect("state")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // The same recovery code twice: refused with the server's message.
    let third = tempfile::tempdir().expect("state dir");
    let (status, out, err) = login(
        &server,
        third.path(),
        "dave",
        PASSWORD,
        Second::RecoveryFlag(&reg.codes[0]),
    );
    // A 401, but a refusal (5), not "sign in again" (3): the answer was wrong.
    assert_eq!(status.code(), Some(5), "invalid_code: {out}\n{err}");
    assert!(!out.contains("Signed in"), "{out}");
    assert!(!state_file(&server, third.path(), "dave").exists());

    // Both machines' sessions are listed (the laptop's is current there).
    let list = sessions_json(&server, laptop.path());
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{list}"
    );
}

#[test]
fn wrong_password_is_refused_with_the_servers_message() {
    let server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    register(&server, state.path(), "erin");
    let other = tempfile::tempdir().expect("state dir");
    let (status, out, err) = login(
        &server,
        other.path(),
        "erin",
        "Not the password at all 123",
        Second::None,
    );
    // invalid_credentials is a 401, but a refusal (5): signing in again is not the answer.
    assert_eq!(status.code(), Some(5), "{out}\n{err}");
    assert!(
        err.to_lowercase().contains("username or password"),
        "the server's message: {err}"
    );
    assert!(!state_file(&server, other.path(), "erin").exists());
}

#[test]
fn logout_then_sessions_needs_a_sign_in() {
    let server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    register(&server, state.path(), "frank");
    let file = state_file(&server, state.path(), "frank");
    let mut cmd = server.cli(state.path());
    cmd.arg("logout");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Signed out of frank."), "{out}");
    assert!(file.exists(), "the keys stay");

    let mut cmd = server.cli(state.path());
    cmd.arg("sessions");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("parley-chat login"), "{err}");

    // A wrong passphrase for the kept file: exit 6 and the file unchanged.
    let before = std::fs::read(&file).expect("read");
    let mut cmd = server.cli(state.path());
    cmd.arg("logout")
        .env("PARLEY_PASSPHRASE", "not the passphrase");
    let (code, _out, err) = run(cmd);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), before);
}

#[test]
fn a_session_ended_on_the_server_is_exit_3_and_sessions_end_works() {
    let mut server = Server::start();
    let a = tempfile::tempdir().expect("state dir");
    let reg = register(&server, a.path(), "gina");
    server.advance_clock(30);
    let b = tempfile::tempdir().expect("state dir");
    let (status, out, err) = login(
        &server,
        b.path(),
        "gina",
        PASSWORD,
        Second::Totp(&reg.secret),
    );
    assert!(status.success(), "{out}\n{err}");

    // From b, end a's session by its ID.
    let list = sessions_json(&server, b.path());
    let other = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == false)
        .expect("the other session")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut cmd = server.cli(b.path());
    cmd.args(["sessions", "end", &other]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}\n{err}");

    // a's kept session is dead now: exit 3 with the server's message.
    let mut cmd = server.cli(a.path());
    cmd.args(["sessions", "--json"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 3, "{out}\n{err}");
    assert_eq!(
        sessions_json(&server, b.path())["sessions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn delete_account_removes_it_on_the_server_and_here() {
    let mut server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    let reg = register(&server, state.path(), "hana");
    server.advance_clock(30);
    let file = state_file(&server, state.path(), "hana");

    // A wrong username typed: nothing happens.
    let mut cmd = server.cli(state.path());
    cmd.arg("delete-account");
    let mut d = Dialogue::start(cmd);
    d.answer("Type the username (hana) to confirm", "someone");
    let (status, _out, err) = d.finish();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("nothing was deleted"), "{err}");
    assert!(file.exists());

    let mut cmd = server.cli(state.path());
    cmd.arg("delete-account");
    let mut d = Dialogue::start(cmd);
    d.answer("Type the username (hana) to confirm", "hana");
    d.answer("Password", PASSWORD);
    d.answer(
        "Code from the authenticator app (or r to use a recovery code)",
        &server.totp(&reg.secret),
    );
    let (status, out, err) = d.finish();
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("The account hana is deleted."), "{out}");
    assert!(!file.exists(), "the local state is gone");
    assert!(!keystore_prev(&file).exists(), "and its previous copy");

    // Signing in fails now (the same answer as a wrong password).
    server.advance_clock(30);
    let other = tempfile::tempdir().expect("state dir");
    let (status, out, err) = login(&server, other.path(), "hana", PASSWORD, Second::None);
    assert_eq!(status.code(), Some(5), "{out}\n{err}");
    assert!(!out.contains("Signed in"), "{out}");
}

fn keystore_prev(file: &Path) -> std::path::PathBuf {
    parley_chat::keystore::prev_path(file)
}

#[test]
fn repeated_wrong_passwords_are_rate_limited_with_the_retry_delay() {
    let server = Server::start();
    let state = tempfile::tempdir().expect("state dir");
    register(&server, state.path(), "ivan");
    let other = tempfile::tempdir().expect("state dir");
    let mut refusals = Vec::new();
    for _ in 0..8 {
        let (status, out, err) = login(
            &server,
            other.path(),
            "ivan",
            "Not the password at all 123",
            Second::None,
        );
        assert!(!out.contains("Signed in"), "{out}");
        let code = status.code();
        let limited = err.contains("(try again in ");
        refusals.push((code, err));
        if limited {
            break;
        }
    }
    let (code, err) = refusals.last().expect("attempts");
    assert_eq!(*code, Some(5), "rate limited in the end: {refusals:?}");
    assert!(
        err.contains("(try again in "),
        "the retry delay is shown: {err}"
    );
    assert!(
        refusals[..refusals.len() - 1]
            .iter()
            .all(|(c, e)| *c == Some(5) && !e.contains("(try again in ")),
        "wrong passwords before that: {refusals:?}"
    );
}

#[test]
fn sessions_end_others_leaves_only_this_one() {
    let mut server = Server::start();
    let a = tempfile::tempdir().expect("state dir");
    let reg = register(&server, a.path(), "jill");
    let mut machines = Vec::new();
    for _ in 0..2 {
        server.advance_clock(30);
        let m = tempfile::tempdir().expect("state dir");
        let (status, out, err) = login(
            &server,
            m.path(),
            "jill",
            PASSWORD,
            Second::Totp(&reg.secret),
        );
        assert!(status.success(), "{out}\n{err}");
        machines.push(m);
    }
    assert_eq!(
        sessions_json(&server, a.path())["sessions"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let mut cmd = server.cli(a.path());
    cmd.args(["sessions", "--end-others"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 other sessions of jill ended."), "{out}");
    let list = sessions_json(&server, a.path());
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(sessions[0]["current"], true);
    for m in &machines {
        let mut cmd = server.cli(m.path());
        cmd.arg("sessions");
        let (code, _, err) = run(cmd);
        assert_eq!(code, 3, "that machine's session ended: {err}");
    }
}
