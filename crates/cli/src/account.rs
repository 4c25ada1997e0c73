//! Accounts from the terminal: register (CAPTCHA, TOTP enrolment with the QR drawn in the
//! terminal and the grouped secret, the recovery codes shown once), sign in (password, CAPTCHA,
//! then TOTP or a recovery code), sign out, the sessions list, deleting the account. The rules
//! and error messages are the server's (docs/api.md "Registration", "Sign-in", "Session",
//! "Managing authenticators"), as in the browser's `web/views/register.js` and `login.js`.
//!
//! The dialogue (prompts, pictures, codes) goes to stderr and answers come from stdin (see
//! [`crate::prompt`]); what a script may want to read — "Signed in as …", the sessions table
//! or its JSON — goes to stdout. On a terminal a wrong CAPTCHA, a refused password or a wrong
//! code is asked again, as the browser does; from a pipe the first refusal ends the command with
//! the server's message and its exit code (`exit.rs`), so a script never loops.

use std::path::PathBuf;

use anyhow::{Context, Result};
use parley_api as wire;

use crate::api::{Api, ApiError};
use crate::art;
use crate::exit::{self, Exit};
use crate::keystore::{self, AccountState, KeptSession, StateFile};
use crate::profile::Profile;
use crate::prompt;

/// `parley-chat register`.
#[derive(Clone, Debug, clap::Args)]
pub struct RegisterArgs {
    /// The username (asked if not given).
    #[arg(long)]
    pub username: Option<String>,
}

/// `parley-chat login`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoginArgs {
    /// The username (asked if not given).
    #[arg(long)]
    pub username: Option<String>,
    /// Use a recovery code instead of the authenticator app.
    #[arg(long)]
    pub recovery: bool,
}

/// `parley-chat sessions`.
#[derive(Clone, Debug, clap::Args)]
pub struct SessionsArgs {
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// End every session of the account except this one.
    #[arg(long)]
    pub end_others: bool,
    #[command(subcommand)]
    pub action: Option<SessionsAction>,
}

/// What to do with the sessions.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum SessionsAction {
    /// End one session (its ID from the list).
    End {
        /// The session's ID.
        id: String,
    },
}

/// How many times a terminal user may try again (a wrong code, a refused password…).
const TRIES: usize = 5;

/// A server refusal as an [`Exit`] with the server's message, every password reason and the
/// retry delay, and the refusal's exit code.
pub fn refusal(e: ApiError) -> anyhow::Error {
    let code = e.exit_code();
    match &e {
        ApiError::Refused { body, .. } => {
            let mut msg = body.message.clone();
            for r in body.reasons.iter().flatten() {
                if r.message != body.message {
                    msg.push_str("\n  - ");
                    msg.push_str(&r.message);
                }
            }
            if let Some(secs) = body.retry_after_secs {
                msg.push_str(&format!(" (try again in {})", duration(secs)));
            }
            Exit::new(code, msg).into()
        }
        _ => anyhow::Error::new(e),
    }
}

/// "45 s", "3 min", "2 h 5 min".
fn duration(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

fn code_is(e: &ApiError, code: &str) -> bool {
    e.code() == Some(code)
}

fn say(line: &str) {
    // Server messages among them: no escape sequences reach the terminal (text.rs).
    eprintln!("{}", crate::text::printable(line));
}

/// The terminal's width for pictures (80 when unknown).
fn terminal_cols() -> usize {
    crossterm::terminal::size()
        .map(|(c, _)| usize::from(c))
        .ok()
        .filter(|&c| c > 0)
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .unwrap_or(80)
}

fn api_of(profile: &Profile) -> Result<Api> {
    Api::new(&profile.server, profile.ca_file.as_deref())
}

/// The username: given, `--user`, or asked.
fn username_of(given: Option<&str>, profile: &Profile) -> Result<String> {
    let name = match given.or(profile.username.as_deref()) {
        Some(n) => n.to_owned(),
        None => prompt::line("Username")?,
    };
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(Exit::new(exit::USAGE, "no username given").into());
    }
    Ok(name)
}

/// A CAPTCHA drawn in the terminal and saved as a PNG beside it; the user's answer. An empty
/// answer or `n` fetches a new image.
fn solve_captcha(api: &Api, pictures: &art::PrivateDir) -> Result<(String, String)> {
    loop {
        let c: wire::Captcha = api.get("/api/captcha").map_err(refusal)?;
        let png = art::data_uri_bytes(&c.image)?;
        let cols = terminal_cols().saturating_sub(2).clamp(20, 100);
        match art::captcha_blocks(&png, cols) {
            Ok(drawing) => say(&format!("\n{drawing}\n")),
            Err(e) => say(&format!("(the CAPTCHA cannot be drawn here: {e:#})")),
        }
        let path = art::save_private_png(pictures, "captcha.png", &png)?;
        say(&format!(
            "Type the 5 characters above, or open {}\n(press Enter or type n for a new image)",
            path.display()
        ));
        let answer = prompt::line("CAPTCHA")?;
        let answer = answer.trim();
        if answer.is_empty() || answer.eq_ignore_ascii_case("n") {
            continue;
        }
        return Ok((c.id, answer.to_owned()));
    }
}

/// A new password, typed twice and checked by the server's rules first (every reason it gives
/// is shown).
fn new_password(api: &Api, username: &str) -> Result<String> {
    let interactive = prompt::interactive();
    for _ in 0..TRIES {
        let password = prompt::secret("Password")?;
        let feedback: wire::PasswordFeedback = api
            .post(
                "/api/password/check",
                &wire::PasswordCheck {
                    password: password.clone(),
                    username: username.to_owned(),
                },
            )
            .map_err(refusal)?;
        if !feedback.acceptable {
            let mut msg = String::from("The server does not accept this password:");
            for r in &feedback.reasons {
                msg.push_str("\n  - ");
                msg.push_str(&r.message);
            }
            if let Some(w) = &feedback.warning {
                msg.push_str(&format!("\n  ({w})"));
            }
            for s in &feedback.suggestions {
                msg.push_str(&format!("\n  Tip: {s}"));
            }
            if !interactive {
                return Err(Exit::new(exit::REFUSED, msg).into());
            }
            say(&msg);
            continue;
        }
        let again = prompt::secret("Password again")?;
        if again != password {
            let msg = "The two passwords don’t match.";
            if !interactive {
                return Err(Exit::new(exit::USAGE, msg).into());
            }
            say(msg);
            continue;
        }
        return Ok(password);
    }
    Err(Exit::new(exit::USAGE, "too many tries: start again").into())
}

/// The base32 secret in groups of four (as the browser's `groupSecret`).
pub fn group_secret(secret: &str) -> String {
    let clean: Vec<char> = secret.chars().filter(|c| !c.is_whitespace()).collect();
    clean
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A passphrase for a new state file (asked again on a terminal if the two differ).
fn new_passphrase() -> Result<String> {
    let mut last = None;
    for _ in 0..3 {
        match keystore::passphrase(
            "A passphrase to seal this account's keys on this machine",
            true,
        ) {
            Ok(p) => return Ok(p),
            Err(e) if prompt::interactive() => {
                say(&format!("{e:#}"));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no passphrase")))
}

fn existing_passphrase(username: &str) -> Result<String> {
    keystore::passphrase(&format!("Passphrase for {username} on this machine"), false)
}

/// Make this machine's identity key if it has none, save, then publish it; a failed publish is
/// reported but leaves the account signed in (the chat tries again when it starts).
fn ensure_identity_and_save(
    api: &Api,
    file: &mut StateFile,
    state: &mut AccountState,
) -> Result<()> {
    // Saved before it is published: a key the server names must never be one this machine
    // could lose in a crash between the two (its contacts would see a key change for nothing).
    crate::engine::make_identity(state)?;
    file.save(state)?;
    if let Err(e) = crate::engine::publish_identity(api, state) {
        say(&format!(
            "parley-chat: could not publish this machine's chat key (the chat tries again when it starts): {e:#}"
        ));
    }
    Ok(())
}

/// Keep a completed sign-in's session in `state`.
fn keep_session(api: &Api, state: &mut AccountState, signed: &wire::SignedIn) -> Result<()> {
    let token = api
        .session_token()
        .context("the server set no session cookie")?;
    state.user_id = signed.user.id.clone();
    state.username = signed.user.username.clone();
    state.session = Some(KeptSession {
        token,
        csrf: signed.csrf_token.clone(),
    });
    Ok(())
}

/// Refuse to register a name this machine already keeps an account of.
fn no_local_account(profile: &Profile, username: &str) -> Result<()> {
    let path = profile.state_file(username)?;
    if path.exists() {
        return Err(Exit::new(
            exit::LOCAL_STATE,
            format!(
                "this machine already has an account named {username} on {} ({}): sign in with \
                 `parley-chat login`, or move that file away first",
                profile.server,
                path.display()
            ),
        )
        .into());
    }
    Ok(())
}

/// `parley-chat register`.
pub fn register(profile: &Profile, args: &RegisterArgs) -> Result<()> {
    let mut api = api_of(profile)?;
    let interactive = prompt::interactive();
    let mut username = username_of(args.username.as_deref(), profile)?;
    no_local_account(profile, &username)?;
    let password = new_password(&api, &username)?;
    // Asked before anything is made on the server: a passphrase refused later would leave an
    // account without its session or keys.
    let passphrase = new_passphrase()?;
    let pictures = art::PrivateDir::new()?;

    // Step 1: username, password, CAPTCHA.
    let mut tries = 0;
    let started: wire::RegistrationStarted = loop {
        tries += 1;
        let (captcha_id, answer) = solve_captcha(&api, &pictures)?;
        let body = wire::RegisterStart {
            username: username.clone(),
            password: password.clone(),
            password_confirm: password.clone(),
            captcha_id: Some(captcha_id),
            captcha_answer: Some(answer),
        };
        match api.post("/api/register", &body) {
            Ok(s) => break s,
            Err(e) if interactive && tries < TRIES && code_is(&e, "captcha_failed") => {
                say(&format!("{e}"));
            }
            // The name is taken, looks like another, or breaks the rules: another name (as
            // the browser's form asks), then a new image (the old one is used up).
            Err(e)
                if interactive
                    && tries < TRIES
                    && (code_is(&e, "username_taken")
                        || code_is(&e, "username_confusable")
                        || matches!(&e, ApiError::Refused { body, .. }
                            if body.field.as_deref() == Some("username"))) =>
            {
                say(&format!("{e}"));
                username = prompt::line("Another username")?.trim().to_owned();
                no_local_account(profile, &username)?;
            }
            Err(e) => return Err(refusal(e)),
        }
    };
    drop(pictures);

    // Step 2: the authenticator.
    let totp = &started.totp;
    say("");
    say("Set up your authenticator app");
    say("Signing in to Parley takes your password and a code from an app on your phone.");
    say(
        "Scan with an authenticator app such as Google Authenticator, Aegis or 1Password. This \
         code is shown only once; keep your phone safe — anyone with it and your password can \
         sign in.",
    );
    say("");
    match art::qr_blocks(&totp.otpauth_uri) {
        Ok(qr) => say(&qr),
        Err(e) => say(&format!("(the QR code cannot be drawn: {e:#})")),
    }
    say("");
    say(&format!(
        "Can’t scan? Enter this key in the app instead (time-based, {} digits, every {} seconds):",
        totp.digits, totp.period
    ));
    say(&format!("Secret: {}", group_secret(&totp.secret)));
    say("");
    let mut tries = 0;
    let codes: wire::RegistrationCodes = loop {
        tries += 1;
        let code = prompt::line("Code from the app")?;
        let body = wire::CodeBody {
            code: code.trim().replace(' ', ""),
        };
        match api.post("/api/register/totp", &body) {
            Ok(c) => break c,
            Err(e) if interactive && tries < TRIES && code_is(&e, "invalid_code") => say(
                "That code didn’t match. Check that your phone’s clock is right and enter the \
                 current code.",
            ),
            Err(e) => return Err(refusal(e)),
        }
    };

    // Step 3: the recovery codes, once.
    say("");
    say("Save these now: each works once if you lose the authenticator.");
    for (i, c) in codes.recovery_codes.iter().enumerate() {
        say(&format!("  {:>2}. {c}", i + 1));
    }
    say(
        "They are shown only now. Store them offline, e.g. printed or in a password manager, \
         apart from your phone.",
    );
    let mut tries = 0;
    loop {
        tries += 1;
        let answer = prompt::line("Type \"saved\" once you have saved them")?;
        if answer.trim().eq_ignore_ascii_case("saved") {
            break;
        }
        if !interactive || tries >= TRIES {
            return Err(Exit::new(
                exit::USAGE,
                "the recovery codes were not confirmed as saved: the account was not created \
                 (start again within 15 minutes of the first step or it expires)",
            )
            .into());
        }
    }
    let signed: wire::SignedIn = api
        .post(
            "/api/register/finish",
            &wire::RegisterFinish { saved: true },
        )
        .map_err(refusal)?;
    api.set_csrf(&signed.csrf_token);

    // The local state, sealed.
    let mut state = AccountState {
        server: profile.server.clone(),
        ..AccountState::default()
    };
    keep_session(&api, &mut state, &signed)?;
    let path = profile.state_file(&signed.user.username)?;
    let mut file = StateFile::create(&path, &passphrase, &state)?;
    ensure_identity_and_save(&api, &mut file, &mut state)?;
    profile.set_default(&signed.user.username)?;
    println!("Signed in as {}.", signed.user.username);
    Ok(())
}

/// Ask for the second factor: the authenticator's code, or a recovery code (`recovery`, or the
/// user types `r`).
fn second_factor(recovery: bool) -> Result<(wire::SecondFactorMethod, String)> {
    if recovery {
        let code = prompt::secret("Recovery code")?;
        return Ok((wire::SecondFactorMethod::Recovery, code.trim().to_owned()));
    }
    let code = prompt::line("Code from the authenticator app (or r to use a recovery code)")?;
    if code.trim().eq_ignore_ascii_case("r") {
        let code = prompt::secret("Recovery code")?;
        return Ok((wire::SecondFactorMethod::Recovery, code.trim().to_owned()));
    }
    Ok((wire::SecondFactorMethod::Totp, code.trim().replace(' ', "")))
}

/// `parley-chat login`.
pub fn login(profile: &Profile, args: &LoginArgs) -> Result<()> {
    let mut api = api_of(profile)?;
    let interactive = prompt::interactive();
    let username = username_of(args.username.as_deref(), profile)?;
    let path = profile.state_file(&username)?;
    // The local keys first: a wrong passphrase costs no sign-in attempt, and the lock keeps a
    // running chat of this account from racing us.
    let existing = if path.exists() {
        Some(StateFile::open(&path, &existing_passphrase(&username)?)?)
    } else {
        None
    };
    // A new machine's passphrase too, before the second factor: a passphrase refused after it
    // would burn a recovery code and orphan the session.
    let fresh_passphrase = match existing {
        Some(_) => None,
        None => Some(new_passphrase()?),
    };

    // A session kept from before goes along, so the server ends it as this sign-in starts
    // (as the browser's cookie does: a sign-in always starts from nothing).
    if let Some(kept) = existing.as_ref().and_then(|(_, s)| s.session.as_ref()) {
        api.set_session(&kept.token, &kept.csrf);
    }

    // Step 1: password and CAPTCHA.
    let pictures = art::PrivateDir::new()?;
    let mut tries = 0;
    let mut password = None;
    loop {
        tries += 1;
        let typed = match password.take() {
            Some(p) => p,
            None => prompt::secret("Password")?,
        };
        let (captcha_id, answer) = solve_captcha(&api, &pictures)?;
        let body = wire::Login {
            username: username.clone(),
            password: typed,
            captcha_id: Some(captcha_id),
            captcha_answer: Some(answer),
        };
        match api.post::<_, wire::LoginPending>("/api/login", &body) {
            Ok(_) => break,
            // A wrong CAPTCHA keeps the password (as the browser's form does).
            Err(e) if interactive && tries < TRIES && code_is(&e, "captcha_failed") => {
                say(&format!("{e}"));
                password = Some(body.password);
            }
            Err(e) if interactive && tries < TRIES && code_is(&e, "invalid_credentials") => {
                say(&format!("{e}"));
            }
            Err(e) => return Err(refusal(e)),
        }
    }
    drop(pictures);

    // Step 2: the second factor.
    say("Your password was right. Now prove it’s you with your phone (or a recovery code).");
    let mut tries = 0;
    let signed: wire::SignedIn = loop {
        tries += 1;
        let (method, code) = second_factor(args.recovery)?;
        let path = match method {
            wire::SecondFactorMethod::Totp => "/api/login/totp",
            wire::SecondFactorMethod::Recovery => "/api/login/recovery",
        };
        match api.post(path, &wire::CodeBody { code }) {
            Ok(s) => break s,
            Err(e) if interactive && tries < TRIES && code_is(&e, "invalid_code") => {
                say(match method {
                    wire::SecondFactorMethod::Totp => {
                        "That code is not valid. Enter the current code from your app (each code works once)."
                    }
                    wire::SecondFactorMethod::Recovery => {
                        "That recovery code is not valid or has already been used."
                    }
                });
            }
            Err(e) => return Err(refusal(e)),
        }
    };
    api.set_csrf(&signed.csrf_token);
    if let Some(w) = &signed.warning {
        say(&format!("You signed in with a recovery code. {w}"));
    }
    if let Some(n) = signed.recovery_codes_remaining
        && (signed.warning.is_some() || n <= 3)
    {
        say(&format!(
            "{n} recovery code{} left: make a new set in the browser's account page soon.",
            if n == 1 { "" } else { "s" }
        ));
    }

    // The local state: the one opened above, or a new one (a new machine).
    let (mut file, mut state) = match existing {
        Some((file, state)) => {
            if !state.user_id.is_empty() && state.user_id != signed.user.id {
                // Another account of the same name (the old one was deleted elsewhere).
                let _ = api.post_empty("/api/logout", &serde_json::json!({}));
                return Err(Exit::new(
                    exit::LOCAL_STATE,
                    format!(
                        "{} holds the keys of an earlier account named {username} (deleted since); \
                         move it away, then sign in again",
                        file.path().display()
                    ),
                )
                .into());
            }
            (file, state)
        }
        None => {
            say(
                "New keys on this machine: your contacts will see a key change, old messages \
                 stay unreadable here.",
            );
            let state = AccountState {
                server: profile.server.clone(),
                ..AccountState::default()
            };
            let path = profile.state_file(&signed.user.username)?;
            let passphrase = fresh_passphrase
                .as_deref()
                .context("no passphrase was asked for the new state file")?;
            (StateFile::create(&path, passphrase, &state)?, state)
        }
    };
    keep_session(&api, &mut state, &signed)?;
    state.server = profile.server.clone();
    file.save(&state)?;
    ensure_identity_and_save(&api, &mut file, &mut state)?;
    profile.set_default(&signed.user.username)?;
    println!("Signed in as {}.", signed.user.username);
    Ok(())
}

/// The account's state file, or "sign in first".
fn account_path(profile: &Profile) -> Result<(String, PathBuf)> {
    let username = profile.account()?;
    let path = profile.state_file(&username)?;
    if !path.exists() {
        return Err(Exit::new(
            exit::SIGN_IN_NEEDED,
            format!("no account {username} on this machine: run `parley-chat login`"),
        )
        .into());
    }
    Ok((username, path))
}

fn not_signed_in(username: &str) -> anyhow::Error {
    Exit::new(
        exit::SIGN_IN_NEEDED,
        format!("{username} is not signed in: run `parley-chat login`"),
    )
    .into()
}

/// `parley-chat logout`: the session ends on the server and leaves the state file; the keys
/// stay.
pub fn logout(profile: &Profile) -> Result<()> {
    let mut api = api_of(profile)?;
    let (username, path) = account_path(profile)?;
    let (mut file, mut state) = StateFile::open(&path, &existing_passphrase(&username)?)?;
    let Some(session) = state.session.clone() else {
        println!("{username} is not signed in.");
        return Ok(());
    };
    api.set_session(&session.token, &session.csrf);
    let ended_before = match api.post_empty("/api/logout", &serde_json::json!({})) {
        Ok(()) => false,
        Err(e) if e.exit_code() == exit::SIGN_IN_NEEDED => true,
        Err(e) => return Err(refusal(e)),
    };
    state.session = None;
    file.save(&state)?;
    if ended_before {
        println!("Signed out of {username} (the session had already ended).");
    } else {
        println!("Signed out of {username}.");
    }
    say("The keys stay on this machine, sealed with your passphrase.");
    Ok(())
}

/// An [`Api`] with the account's session, read without taking the state file's lock.
fn signed_in_api(profile: &Profile) -> Result<(Api, String)> {
    let mut api = api_of(profile)?;
    let (username, path) = account_path(profile)?;
    let state = StateFile::read(&path, &existing_passphrase(&username)?)?;
    let session = state.session.ok_or_else(|| not_signed_in(&username))?;
    api.set_session(&session.token, &session.csrf);
    Ok((api, username))
}

/// Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub fn utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `parley-chat sessions` (`--json`, `--end-others`, `end ID`).
pub fn sessions(profile: &Profile, args: &SessionsArgs) -> Result<()> {
    let (api, username) = signed_in_api(profile)?;
    if let Some(SessionsAction::End { id }) = &args.action {
        if !valid_session_id(id) {
            return Err(Exit::new(exit::USAGE, format!("{id:?} is not a session ID")).into());
        }
        api.delete::<()>(&format!("/api/sessions/{id}"), None)
            .map_err(refusal)?;
        println!("Session {id} ended.");
        return Ok(());
    }
    let list: wire::SessionList = api.get("/api/sessions").map_err(refusal)?;
    if args.end_others {
        let mut ended = 0;
        for s in list.sessions.iter().filter(|s| !s.current) {
            api.delete::<()>(&format!("/api/sessions/{}", s.id), None)
                .map_err(refusal)?;
            ended += 1;
        }
        println!(
            "{ended} other session{} of {username} ended.",
            if ended == 1 { "" } else { "s" }
        );
        return Ok(());
    }
    if args.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    println!(
        "{:<2}{:<24} {:<16} {:<16} {:<15} CLIENT",
        "", "ID", "STARTED (UTC)", "LAST ACTIVE", "IP"
    );
    for s in &list.sessions {
        println!(
            "{:<2}{:<24} {:<16} {:<16} {:<15} {}",
            if s.current { "*" } else { "" },
            s.id,
            utc(s.created_at),
            utc(s.last_active_at),
            crate::text::printable(&s.ip),
            // Chosen by whichever client signed in: no escape sequences.
            crate::text::printable(&s.user_agent)
        );
    }
    say(
        "* this session. End one with `parley-chat sessions end ID`, all others with `--end-others`.",
    );
    Ok(())
}

/// `parley-chat delete-account`: typed confirmation, password and a second factor again; then
/// the local state file and its previous copy go too.
pub fn delete_account(profile: &Profile) -> Result<()> {
    let mut api = api_of(profile)?;
    let (username, path) = account_path(profile)?;
    let (file, state) = StateFile::open(&path, &existing_passphrase(&username)?)?;
    let session = state
        .session
        .clone()
        .ok_or_else(|| not_signed_in(&username))?;
    api.set_session(&session.token, &session.csrf);
    say(&format!(
        "Deleting the account {username} on {} ends every session and erases its password, \
         authenticator and recovery codes; the username becomes free. People you talked to keep \
         their history and see that you left. The keys on this machine are erased too. This \
         cannot be undone.",
        profile.server
    ));
    let typed = prompt::line(&format!("Type the username ({username}) to confirm"))?;
    if typed.trim().to_lowercase() != username.to_lowercase() {
        return Err(Exit::new(
            exit::USAGE,
            "the username was not typed: nothing was deleted",
        )
        .into());
    }
    let password = prompt::secret("Password")?;
    let (method, code) = second_factor(false)?;
    let second = match method {
        wire::SecondFactorMethod::Totp => wire::SecondFactor {
            totp_code: Some(code),
            recovery_code: None,
        },
        wire::SecondFactorMethod::Recovery => wire::SecondFactor {
            totp_code: None,
            recovery_code: Some(code),
        },
    };
    api.post_empty("/api/account/delete", &wire::Sensitive { password, second })
        .map_err(refusal)?;
    let shown = file.path().display().to_string();
    file.remove()
        .with_context(|| format!("the account is deleted, but {shown} could not be removed"))?;
    if let Ok(dir) = profile.server_dir() {
        let default = dir.join("default");
        if std::fs::read_to_string(&default).is_ok_and(|d| d.trim().eq_ignore_ascii_case(&username))
        {
            let _ = std::fs::remove_file(default);
        }
    }
    println!("The account {username} is deleted.");
    say(&format!(
        "Its local state ({shown}) and the previous copy beside it are removed."
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_group_in_fours() {
        assert_eq!(group_secret("JBSWY3DPEHPK3PXP"), "JBSW Y3DP EHPK 3PXP");
        assert_eq!(group_secret("ABCDE"), "ABCD E");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_796_601_600 + 3600 + 120), "2026-12-07 01:02");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(300), "5 min");
        assert_eq!(duration(7500), "2 h 5 min");
    }
}
