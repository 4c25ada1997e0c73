//! Shared by the chat tests (tests/chat.rs, tests/chat_pg.rs): accounts made through the HTTP
//! API with the crate's own client (register with the test CAPTCHA and a TOTP code, sign in
//! again), their sealed state files written with the crate's keystore, and `parley-chat`
//! processes whose JSON lines are read with a deadline.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parley_api::{
    Captcha, CodeBody, Login, LoginPending, RegisterFinish, RegisterStart, RegistrationCodes,
    RegistrationStarted, SignedIn,
};
use parley_chat::api::Api;
use parley_chat::keystore::{AccountState, KeptSession, StateFile};
use parley_chat::profile::Profile;
use serde_json::Value;

use crate::common::{CAPTCHA, PASSPHRASE, PASSWORD, Server};

/// A test account and where its CLI keeps its state.
pub struct Account {
    pub username: String,
    pub id: String,
    pub totp_secret: String,
    pub state_dir: PathBuf,
}

fn profile(server: &Server, state_dir: &Path, username: &str) -> Profile {
    Profile {
        server: server.url.clone(),
        ca_file: Some(server.ca_file.clone()),
        state_dir: state_dir.to_owned(),
        username: Some(username.to_owned()),
    }
}

fn api(server: &Server) -> Api {
    Api::new(&server.url, Some(&server.ca_file)).expect("api client")
}

fn captcha(api: &Api) -> String {
    let c: Captcha = api.get("/api/captcha").expect("captcha");
    c.id
}

/// Write the sealed state of a signed-in `api` session (no identity yet: the CLI makes it).
fn keep_session(server: &Server, state_dir: &Path, api: &mut Api, signed: &SignedIn) {
    api.set_csrf(&signed.csrf_token);
    let p = profile(server, state_dir, &signed.user.username);
    let path = p.state_file(&signed.user.username).expect("state path");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let state = AccountState {
        server: server.url.clone(),
        user_id: signed.user.id.clone(),
        username: signed.user.username.clone(),
        session: Some(KeptSession {
            token: api.session_token().expect("session cookie"),
            csrf: signed.csrf_token.clone(),
        }),
        ..AccountState::default()
    };
    let mut state = state;
    // As `parley-chat register`/`login` do: the identity key is made, kept, then published.
    parley_chat::engine::make_identity(&mut state).expect("identity");
    drop(StateFile::create(&path, PASSPHRASE, &state).expect("state file"));
    parley_chat::engine::publish_identity(api, &state).expect("publish the identity key");
    p.set_default(&signed.user.username)
        .expect("default account");
}

/// Register `username` through the API and keep its session in `state_dir`.
pub fn register(server: &Server, state_dir: &Path, username: &str) -> Account {
    let mut api = api(server);
    let started: RegistrationStarted = api
        .post(
            "/api/register",
            &RegisterStart {
                username: username.into(),
                password: PASSWORD.into(),
                password_confirm: PASSWORD.into(),
                captcha_id: Some(captcha(&api)),
                captcha_answer: Some(CAPTCHA.into()),
            },
        )
        .expect("register");
    let secret = started.totp.secret.clone();
    let _: RegistrationCodes = api
        .post(
            "/api/register/totp",
            &CodeBody {
                code: server.totp(&secret),
            },
        )
        .expect("register totp");
    let signed: SignedIn = api
        .post("/api/register/finish", &RegisterFinish { saved: true })
        .expect("register finish");
    keep_session(server, state_dir, &mut api, &signed);
    Account {
        username: username.into(),
        id: signed.user.id,
        totp_secret: secret,
        state_dir: state_dir.to_owned(),
    }
}

/// Sign in through the API alone (no state file): the signed-in client. Moves the test clock
/// past the TOTP step used last.
pub fn api_login(server: &mut Server, account: &Account) -> (Api, SignedIn) {
    server.advance_clock(31);
    let mut api = api(server);
    let _: LoginPending = api
        .post(
            "/api/login",
            &Login {
                username: account.username.clone(),
                password: PASSWORD.into(),
                captcha_id: Some(captcha(&api)),
                captcha_answer: Some(CAPTCHA.into()),
            },
        )
        .expect("login");
    let signed: SignedIn = api
        .post(
            "/api/login/totp",
            &CodeBody {
                code: server.totp(&account.totp_secret),
            },
        )
        .expect("login totp");
    api.set_csrf(&signed.csrf_token);
    (api, signed)
}

/// Sign in again (a fresh state file: call after deleting the old one).
pub fn login(server: &mut Server, account: &Account) {
    let (mut api, signed) = api_login(server, account);
    keep_session(server, &account.state_dir, &mut api, &signed);
}

/// The account's state file.
pub fn state_file(server: &Server, account: &Account) -> PathBuf {
    profile(server, &account.state_dir, &account.username)
        .state_file(&account.username)
        .expect("state path")
}

/// A running `parley-chat` whose stdout lines are JSON events.
pub struct Running {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<Value>,
}

impl Running {
    /// Start `parley-chat <args>` for `account` on `server`.
    pub fn start(server: &Server, account: &Account, args: &[&str]) -> Running {
        let mut cmd = server.cli(&account.state_dir);
        cmd.arg("--user")
            .arg(&account.username)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn parley-chat");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Running {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Send one command line.
    pub fn command(&mut self, cmd: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write command");
        stdin.flush().expect("flush");
    }

    /// The next line (after those already seen) matching `pred`, within 20 s.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; seen: {:#?}", self.seen),
            }
        }
    }

    /// The next raw line (human output) containing `needle`, within 20 s.
    pub fn expect_text(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => lines.push(line),
                Err(_) => panic!("timed out waiting for {needle:?}; seen: {lines:#?}"),
            }
        }
    }

    /// Close stdin (ends `watch --commands`) and wait for the exit status.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("parley-chat did not end at the end of its input");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `parley-chat <args>` for `account` to its end: (exit code, stdout, stderr).
pub fn run(server: &Server, account: &Account, args: &[&str]) -> (i32, String, String) {
    let out = server
        .cli(&account.state_dir)
        .arg("--user")
        .arg(&account.username)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run parley-chat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON lines of an output.
pub fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `ev` is an event named `name`.
pub fn is(ev: &Value, name: &str) -> bool {
    ev["event"] == name
}
