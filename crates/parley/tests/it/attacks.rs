//! Issue 9, the authentication side: every throttled or single-use path under a burst of
//! parallel requests from several addresses (asserting exactly how many attempts were
//! evaluated), sessions ended by credential changes, homograph usernames, enumeration through
//! the lockout, the rehash that cleared a forced change, quotas and database file modes.
//! Runs on SQLite and, with `PARLEY_TEST_DATABASE_URL`, on PostgreSQL; the two-instance
//! variants are in `attacks_scale.rs` (always PostgreSQL).

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{CAPTCHA, TestApp, spawn_app_with, spawn_on};
use crate::flows::*;

/// A server that believes `X-Forwarded-For` from 127.0.0.1, so requests come from many places.
pub async fn spawn_behind_proxy_with(tweak: impl FnOnce(&mut parley::core::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        tweak(c);
    })
    .await
}

async fn spawn_behind_proxy() -> TestApp {
    spawn_behind_proxy_with(|_| {}).await
}

pub fn addr(i: usize) -> String {
    format!("10.9.{}.{}", (i >> 8) & 255, i & 255)
}

/// Fire all requests at once; count the answers by error code (`"ok"` for a 2xx).
pub async fn burst<F, Fut>(n: usize, f: F) -> BTreeMap<String, usize>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = (StatusCode, Value)>,
{
    let answers = join_all((0..n).map(f)).await;
    let mut tally = BTreeMap::new();
    for (status, b) in answers {
        let key = if status.is_success() {
            "ok".to_string()
        } else {
            b["error"].as_str().unwrap_or("?").to_string()
        };
        *tally.entry(key).or_insert(0) += 1;
    }
    tally
}

/// Fire `n` POSTs to `path` at once — request `i` sent by `client(i)` from address
/// `addr(first + i)` with body `payload(i)` — and count the answers as [`burst`] does.
pub async fn burst_post<'a>(
    n: usize,
    path: &str,
    first: usize,
    client: impl Fn(usize) -> &'a Browser,
    payload: impl Fn(usize) -> Value,
) -> BTreeMap<String, usize> {
    let (client, payload) = (&client, &payload);
    burst(n, |i| async move {
        client(i).at(&addr(first + i)).post(path, payload(i)).await
    })
    .await
}

/// `n` identical POSTs of `payload` to `path` by `cl` at once, counted as [`burst`] does.
pub async fn burst_same(
    n: usize,
    path: &str,
    cl: &Browser,
    payload: Value,
) -> BTreeMap<String, usize> {
    burst_post(n, path, 0, |_| cl, |_| payload.clone()).await
}

/// Wrong passwords for alice, all at once: guess `i` sent by `clients[i]` from `addr(i)` with
/// its own CAPTCHA, fetched from there and solved, so that only the account limit stands in the
/// way; the answers counted as [`burst`] does.
pub async fn password_burst(clients: &[Browser]) -> BTreeMap<String, usize> {
    let captcha = |i: usize| async move { clients[i].at(&addr(i)).captcha().await };
    let ids = join_all((0..clients.len()).map(captcha)).await;
    let guess = |i: usize| json!({"username": "alice", "password": "wrong password entirely", "captcha_id": ids[i], "captcha_answer": CAPTCHA});
    burst_post(clients.len(), "/api/login", 0, |i| &clients[i], guess).await
}

/// The answers of a burst (printed, named `what`) were exactly these.
pub fn assert_tally(what: &str, got: &BTreeMap<String, usize>, want: &[(&str, usize)]) {
    eprintln!("{what}: {got:?}");
    assert_eq!(*got, tally(want), "{what}");
}

pub fn tally(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// A 6-digit code that is wrong for every step the server accepts now (T-1, T, T+1).
pub fn wrong_code(app: &TestApp, secret: &[u8]) -> String {
    let valid: Vec<String> = (-1..=1).map(|s| code(app, secret, s)).collect();
    ["000000", "111111", "222222"]
        .into_iter()
        .find(|c| !valid.iter().any(|v| v == c))
        .unwrap()
        .to_string()
}

/// A fresh browser that passed the password step as alice from `addr(100)`: a second factor
/// is next.
async fn past_password_elsewhere(app: &TestApp) -> Browser {
    let cl = app.browser();
    let r = cl.at(&addr(100)).login_password("alice", PW).await;
    assert_eq!(r.0, 200, "{}", r.1);
    cl
}

/// `user`'s security log holds `n` events of this kind.
async fn assert_events(app: &TestApp, user: &User, event: &str, n: usize) {
    assert_eq!(count_events(app, &user.id, event).await, n, "{event}");
}

/// 15 wrong TOTP codes at once, each from its own address, on one session past the password
/// step.
async fn wrong_totp_burst(app: &TestApp, user: &User) -> BTreeMap<String, usize> {
    let cl = past_password_elsewhere(app).await;
    let wrong = json!({"code": wrong_code(app, &user.secret)});
    burst_same(15, "/api/login/totp", &cl, wrong).await
}

/// The number the database answers `sql` with (white-box).
async fn number(app: &TestApp, sql: &'static str) -> i64 {
    use sqlx::Row;
    let row = sqlx::query(sql)
        .fetch_one(&app.state().db.pool)
        .await
        .unwrap();
    row.get(0)
}

async fn count_events(app: &TestApp, user_id: &str, event: &str) -> usize {
    app.state()
        .db
        .security_events(user_id, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event == event)
        .count()
}

// ---- item 1: count before verifying ---------------------------------------------------------

/// What a burst of wrong guesses against alice's account tries.
enum Guess {
    /// Her password at sign-in, each guess from its own address with its own solved CAPTCHA:
    /// only the account limit stands in the way.
    Password,
    /// TOTP codes on one session past the password step.
    Totp,
    /// Recovery codes on one session past the password step.
    Recovery,
    /// Her password at re-authentication, by someone holding her session cookie who tries to
    /// extend it.
    Reauth,
}

/// Wrong `guess`es against alice's account, all at once: exactly the 5 the limit allows
/// before the delay are evaluated (answered with their failure, logged as such), the others
/// are answered `rate_limited`.
async fn account_limit_holds_against(guess: Guess) {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    let (what, n, got, failed, event) = match guess {
        Guess::Password => {
            let clients: Vec<Browser> = (0..15).map(|_| app.browser()).collect();
            let got = password_burst(&clients).await;
            (
                "password",
                15,
                got,
                "invalid_credentials",
                "login_password_failed",
            )
        }
        Guess::Totp => {
            let got = wrong_totp_burst(&app, &user).await;
            ("TOTP", 15, got, "invalid_code", "login_totp_failed")
        }
        Guess::Recovery => {
            let cl = past_password_elsewhere(&app).await;
            let wrong = json!({"code": "aaaa-bbbb-cccc-dddd"});
            let got = burst_same(15, "/api/login/recovery", &cl, wrong).await;
            (
                "recovery-code",
                15,
                got,
                "invalid_code",
                "login_recovery_failed",
            )
        }
        Guess::Reauth => {
            let guess = |i: usize| json!({"password": format!("wrong guess number {i}")});
            let got = burst_post(12, "/api/session/reauth", 0, |_| &user.browser, guess).await;
            (
                "re-auth",
                12,
                got,
                "invalid_credentials",
                "login_password_failed",
            )
        }
    };
    let want = [(failed, 5), ("rate_limited", n - 5)];
    assert_tally(&format!("{what} burst of {n}"), &got, &want);
    assert_events(&app, &user, event, 5).await;
    app.stop().await;
}

#[tokio::test]
async fn issue9_item1_parallel_password_guesses_evaluated_at_most_limit() {
    account_limit_holds_against(Guess::Password).await;
}

#[tokio::test]
async fn issue9_item1_parallel_totp_guesses_evaluated_at_most_limit() {
    account_limit_holds_against(Guess::Totp).await;
}

#[tokio::test]
async fn issue9_item1_parallel_recovery_code_guesses_evaluated_at_most_limit() {
    account_limit_holds_against(Guess::Recovery).await;
}

#[tokio::test]
async fn issue9_item1_parallel_reauth_guesses_evaluated_at_most_limit() {
    account_limit_holds_against(Guess::Reauth).await;
}

#[tokio::test]
async fn issue9_item1_totp_counter_never_passes_the_cap_of_100() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    // 99 failures already (white-box), the last delay over: a burst of 15 at the edge.
    sqlx::query(
        "INSERT INTO factor_failures (user_id, factor, consecutive, locked_until, disabled) \
         VALUES ($1, 'totp', 99, 0, 0)",
    )
    .bind(&user.id)
    .execute(&app.state().db.pool)
    .await
    .unwrap();
    let got = wrong_totp_burst(&app, &user).await;
    assert_tally(
        "TOTP burst of 15 at 99 failures",
        &got,
        &[("factor_locked", 14), ("invalid_code", 1)],
    );
    let (n, disabled): (i64, i64) = {
        use sqlx::Row;
        let r = sqlx::query(
            "SELECT consecutive, disabled FROM factor_failures \
             WHERE user_id = $1 AND factor = 'totp'",
        )
        .bind(&user.id)
        .fetch_one(&app.state().db.pool)
        .await
        .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((n, disabled), (100, 1), "the counter stops at the cap");
    app.stop().await;
}

#[tokio::test]
async fn issue9_item1_parallel_totp_confirm_guesses_evaluated_at_most_limit() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    let wrong = wrong_code(&app, &app.totp_started(&user).await);
    let got = burst_same(
        15,
        "/api/account/totp/confirm",
        &user.browser,
        json!({"code": wrong}),
    )
    .await;
    assert_tally(
        "TOTP-confirm burst of 15",
        &got,
        &[("invalid_code", 5), ("validation_failed", 10)],
    );
    app.stop().await;
}

#[tokio::test]
async fn issue9_item1_parallel_registration_codes_evaluated_at_most_limit() {
    let app = spawn_behind_proxy().await;
    let cl = app.browser();
    let wrong = wrong_code(&app, &cl.sign_up_started("alice", PW).await);
    let got = burst_same(15, "/api/register/totp", &cl, json!({"code": wrong})).await;
    let failures = number(&app, "SELECT failures FROM registrations").await;
    assert_eq!(failures, 10, "exactly 10 codes were tried");
    let want = [("invalid_code", 10), ("registration_expired", 5)];
    assert_tally("registration-code burst of 15", &got, &want);
    app.stop().await;
}

#[tokio::test]
async fn single_use_registration_steps_under_parallel_requests() {
    let app = spawn_behind_proxy().await;
    let cl = app.browser();
    let secret = cl.sign_up_started("alice", PW).await;
    // The right code five times at once: one registration step, one set of recovery codes.
    let right = code(&app, &secret, 0);
    let got = burst_same(5, "/api/register/totp", &cl, json!({"code": right})).await;
    assert_eq!(got.get("ok"), Some(&1), "{got:?}");
    // Finishing five times at once: one account, one session.
    let got = burst_same(5, "/api/register/finish", &cl, json!({"saved": true})).await;
    assert_eq!(got.get("ok"), Some(&1), "{got:?}");
    let users = number(&app, "SELECT COUNT(*) FROM users").await;
    assert_eq!(users, 1);
    app.stop().await;
}

#[tokio::test]
async fn single_use_captcha_under_parallel_sign_ins() {
    let app = spawn_behind_proxy().await;
    app.register("alice").await;
    let id = app.browser_at(&addr(200)).captcha().await;
    let browsers: Vec<Browser> = (0..10).map(|_| app.browser()).collect();
    let login =
        json!({"username": "alice", "password": PW, "captcha_id": id, "captcha_answer": CAPTCHA});
    let got = burst_post(10, "/api/login", 0, |i| &browsers[i], |_| login.clone()).await;
    assert_tally(
        "10 sign-ins with one CAPTCHA",
        &got,
        &[("captcha_failed", 9), ("ok", 1)],
    );
    app.stop().await;
}

// ---- item 3: a credential change ends every other session -----------------------------------

/// The server closes `ws` (4001, the session ended) within 5 s.
pub async fn expect_closed(ws: &mut Ws) {
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let WsEvent::Closed(code) = next_event(ws).await {
                return code;
            }
        }
    })
    .await
    .expect("the socket is closed promptly (not by the 20 s re-check)");
    assert_eq!(closed, Some(4001));
}

/// `user` changes the password; `other`'s session ends at once: its socket `ws` is closed
/// and its requests are refused.
pub async fn password_change_ends(user: &User, other: &User, ws: &mut Ws) {
    let r = user.change_password(PW, "amber falcon 77 drift").await;
    assert_eq!(r.0, 204, "{}", r.1);
    expect_closed(ws).await;
    assert_error(&other.me().await, 401, "unauthorized");
}

#[tokio::test]
async fn issue9_item3_password_change_ends_every_other_session_and_its_sockets() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    let thief = app.sign_in_from(&user, Some("10.66.0.1")).await;
    let mut ws = crate::messaging::ws_live(&app, &thief).await;
    password_change_ends(&user, &thief, &mut ws).await;
    assert_eq!(user.me().await.0, 200, "this session goes on");
    let log = app.state().db.security_events(&user.id, 10).await.unwrap();
    let changed = log.iter().find(|e| e.event == "password_changed").unwrap();
    assert_eq!(changed.detail, "1 other session signed out");
    app.stop().await;
}

#[tokio::test]
async fn issue9_item3_totp_reenrolment_and_new_recovery_codes_end_other_sessions() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    // TOTP re-enrolment.
    let other = app.sign_in_from(&user, Some("10.66.0.1")).await;
    let mut ws = crate::messaging::ws_live(&app, &other).await;
    let secret = app.totp_started(&user).await;
    let r = user
        .post_code("/api/account/totp/confirm", &code(&app, &secret, 0))
        .await;
    assert_eq!(r.0, 204, "{}", r.1);
    expect_closed(&mut ws).await;
    assert_error(&other.me().await, 401, "unauthorized");
    assert_eq!(user.me().await.0, 200);
    // New recovery codes.
    let user = User { secret, ..user };
    let other = app.sign_in_from(&user, Some("10.66.0.2")).await;
    let r = app.confirm(&user, "/api/account/recovery-codes").await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_error(&other.me().await, 401, "unauthorized");
    assert_eq!(user.me().await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn issue9_item3_a_session_blocked_by_a_forced_change_stays_out_after_the_change() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    must_change_password(&app, &user).await;
    // The attacker who knows the compromised password (and has the phone) is stuck ...
    let attacker = app.sign_in_from(&user, Some("10.66.0.1")).await;
    assert_error(
        &attacker.get("/api/sessions").await,
        403,
        "password_change_required",
    );
    // ... and stays out when the victim changes the password from her own session.
    let victim = app.sign_in_from(&user, Some("10.66.0.2")).await;
    let new = "amber falcon 77 drift";
    let r = victim.change_password(PW, new).await;
    assert_eq!(r.0, 204, "{}", r.1);
    assert_error(&attacker.get("/api/sessions").await, 401, "unauthorized");
    assert_eq!(victim.get("/api/sessions").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_pending_session_ended_meanwhile_cannot_be_finished() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    // The thief has passed the password step; the owner changes the password.
    let thief = app.browser();
    assert_eq!(
        thief.at("10.66.0.1").login_password("alice", PW).await.0,
        200
    );
    let new = "amber falcon 77 drift";
    let r = user.change_password(PW, new).await;
    assert_eq!(r.0, 204, "{}", r.1);
    next_step(&app);
    let r = thief
        .second_factor("totp", &code(&app, &user.secret, 0))
        .await;
    assert_error(&r, 401, "unauthorized");
    app.stop().await;
}

// ---- item 4: homograph usernames ------------------------------------------------------------

/// Step 1 of a sign-up for `name`, each from its own address (the per-IP bucket allows 10).
async fn try_register(app: &TestApp, name: &str) -> (StatusCode, Value) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1000);
    let ip = addr(NEXT.fetch_add(1, Ordering::Relaxed));
    app.browser_at(&ip).register_start(name, PW).await
}

#[tokio::test]
async fn issue9_item4_homograph_usernames_are_refused() {
    let app = spawn_behind_proxy().await;
    app.register("alice").await;
    app.register("ace").await;
    // A Cyrillic а among Latin letters: mixed scripts.
    let r = try_register(&app, "\u{430}lice").await;
    assert_error(&r, 422, "validation_failed");
    assert_eq!(r.1["field"], "username");
    // All Cyrillic, but it looks exactly like "ace".
    assert_error(
        &try_register(&app, "\u{430}\u{441}\u{435}").await,
        409,
        "username_confusable",
    );
    // Digits and letters that look alike.
    assert_error(
        &try_register(&app, "a1ice").await,
        409,
        "username_confusable",
    );
    assert_error(&try_register(&app, "ALICE").await, 409, "username_taken");
    // Greek and Latin mixed.
    assert_error(
        &try_register(&app, "\u{3bf}scar").await,
        422,
        "validation_failed",
    );
    // One script at a time is fine, and so are the usual CJK combinations.
    for ok in [
        "\u{430}\u{43b}\u{438}\u{441}\u{430}",
        "tokyo\u{6771}\u{4eac}",
        "bob.smith_2",
        "j\u{f6}rg",
    ] {
        let r = try_register(&app, ok).await;
        assert_eq!(r.0, 201, "{ok}: {}", r.1);
    }
    app.stop().await;
}

#[tokio::test]
async fn issue9_item4_confusable_names_registered_at_once_give_one_account() {
    let app = spawn_behind_proxy().await;
    // "ace" in Latin and in Cyrillic, both started before either exists.
    let names = ["ace", "\u{430}\u{441}\u{435}"];
    let mut pending = Vec::new();
    for name in names {
        let cl = app.browser();
        let secret = cl.sign_up_started(name, PW).await;
        let r = cl
            .post_code("/api/register/totp", &code(&app, &secret, 0))
            .await;
        assert_eq!(r.0, 200, "{}", r.1);
        pending.push(cl);
    }
    let got = burst_post(
        2,
        "/api/register/finish",
        0,
        |i| &pending[i],
        |_| json!({"saved": true}),
    )
    .await;
    assert_eq!(got.get("ok"), Some(&1), "{got:?}");
    assert_eq!(got.get("username_taken"), Some(&1), "{got:?}");
    app.stop().await;
}

// ---- item 5: the lockout reveals nothing and is not a cheap lock-out ------------------------

/// The answers to six wrong passwords and then the right one, for `name`, from new addresses.
async fn lockout_story(app: &TestApp, name: &str, base: usize) -> Vec<(u16, String, u64)> {
    let mut out = Vec::new();
    for (i, pw) in std::iter::repeat_n("wrong password entirely", 6)
        .chain([PW])
        .enumerate()
    {
        let (s, b) = app
            .browser_at(&addr(base + i))
            .login_password(name, pw)
            .await;
        out.push((
            s.as_u16(),
            b["error"].as_str().unwrap_or("ok").to_string(),
            b["retry_after_secs"].as_u64().unwrap_or(0),
        ));
    }
    out
}

#[tokio::test]
async fn issue9_item5_unknown_names_are_throttled_exactly_like_real_ones() {
    let app = spawn_behind_proxy().await;
    app.register("alice").await;
    let real = lockout_story(&app, "alice", 0).await;
    let unknown = lockout_story(&app, "nobody", 100).await;
    eprintln!("real: {real:?}\nunknown: {unknown:?}");
    // The same answers whether the account exists or not (a `Retry-After` may differ by the
    // seconds that tick between the two stories on a busy machine; the delay itself is 30 s).
    let answers = |v: &[(u16, String, u64)]| -> Vec<(u16, String)> {
        v.iter().map(|(s, c, _)| (*s, c.clone())).collect()
    };
    assert_eq!(answers(&real), answers(&unknown));
    for (r, u) in real.iter().zip(&unknown) {
        assert!(r.2.abs_diff(u.2) <= 3, "{real:?} {unknown:?}");
    }
    assert_eq!(real[4].0, 401);
    assert_eq!((real[5].0, real[5].1.as_str()), (429, "rate_limited"));
    app.stop().await;
}

#[tokio::test]
async fn issue9_item5_after_failure_captcha_is_asked_for_unknown_names_too() {
    let app = spawn_behind_proxy_with(|c| {
        c.login_captcha = parley::core::config::LoginCaptcha::AfterFailure;
    })
    .await;
    app.register("alice").await;
    for name in ["alice", "nobody"] {
        let no_captcha = |i: usize| {
            let app = &app;
            async move {
                app.browser()
                    .at(&addr(i))
                    .post(
                        "/api/login",
                        json!({"username": name, "password": "wrong password entirely"}),
                    )
                    .await
            }
        };
        assert_error(&no_captcha(1).await, 401, "invalid_credentials");
        // After one failure every attempt needs a solved CAPTCHA, real name or not.
        assert_error(&no_captcha(2).await, 422, "captcha_failed");
        app.failed_password_from(name, &addr(3)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn issue9_item5_the_right_password_from_a_known_place_is_not_locked_out() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    // Alice signs in from home once; later an attacker runs up the delay from elsewhere.
    app.sign_in_from(&user, Some("10.50.0.1")).await;
    for i in 0..6 {
        app.wrong_password_from("alice", &addr(i)).await;
    }
    assert_error(
        &app.browser_at("10.70.0.1")
            .login_password("alice", PW)
            .await,
        429,
        "rate_limited",
    );
    // From home the right password still works (and the attempt was counted: a wrong one
    // from home would have been evaluated and counted too, never free).
    assert_eq!(
        app.browser_at("10.50.0.1")
            .login_password("alice", PW)
            .await
            .0,
        200
    );
    // The success reset the counter: the attacker starts from zero again.
    app.failed_password_from("alice", "10.70.0.2").await;
    app.stop().await;
}

// ---- item 6: a rehash keeps a forced change -------------------------------------------------

#[tokio::test]
async fn issue9_item6_rehash_at_sign_in_keeps_the_forced_password_change() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    must_change_password(&app, &user).await;
    let dir = app.stop().await;
    let app = spawn_on(dir, |c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.argon2_memory_kib = 32 * 1024;
    })
    .await;
    let again = app.sign_in_from(&user, Some("10.66.0.1")).await;
    let stored = app.state().db.user_by_id(&user.id).await.unwrap().unwrap();
    assert!(stored.password_hash.contains("m=32768"), "rehashed");
    assert!(again.me_json().await.must_change_password);
    assert_error(
        &again.get("/api/sessions").await,
        403,
        "password_change_required",
    );
    app.stop().await;
}

// ---- item 8: quotas and file modes ----------------------------------------------------------

/// The P-384 base point, uncompressed and base64: a valid public key.
fn p384_generator() -> String {
    let hex = "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f";
    let bytes = data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap();
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

/// A WebSocket handshake with the user's session cookie; the error carries a refusal.
async fn ws_try(app: &TestApp, user: &User) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let origin = format!("https://localhost:{}", app.addr.port());
    crate::messaging::ws_connect_with(app, &user.cookie, &origin).await
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn issue9_item8_quotas_on_sends_keys_and_lookups_answer_429_with_retry_after() {
    let app = spawn_behind_proxy_with(|c| {
        c.quota_sends_per_minute = 10;
        c.quota_key_publications_per_hour = 3;
        c.quota_user_lookups_per_minute = 5;
    })
    .await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    // 30 sends at once: exactly the 10 of the quota are stored.
    let got = burst(30, |i| {
        let (alice, bob) = (&alice, &bob);
        async move {
            alice
                .send_message(bob, crate::messaging::msg(i as u8))
                .await
        }
    })
    .await;
    assert_tally(
        "30 sends at once",
        &got,
        &[("ok", 10), ("quota_exceeded", 20)],
    );
    let res = alice
        .client
        .post(app.url(&format!("/api/conversations/{}/messages", bob.id)))
        .header("x-csrf-token", &alice.csrf)
        .json(&json!({"payload": crate::messaging::msg(1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let wait = retry_after(&res);
    assert!((1..=6).contains(&wait), "one send per 6 s: {wait}");
    let b = body(res).await.1;
    assert_eq!(b["quota"], "message_sends");
    // Bob's own quota is untouched.
    assert_eq!(
        bob.send_message(&alice, crate::messaging::msg(2)).await.0,
        201
    );
    // Key publications: 3 an hour.
    for i in 0..4u8 {
        let r = alice
            .post("/api/keys", json!({"public_key": p384_generator()}))
            .await;
        if i < 3 {
            assert_ne!(r.0, 429, "{i}: {}", r.1);
        } else {
            assert_error(&r, 429, "quota_exceeded");
            assert_eq!(r.1["quota"], "key_publications");
        }
    }
    // Look-ups: 5 a minute.
    for i in 0..6 {
        let res = alice.fetch("/api/users?username=bobby").await;
        if i < 5 {
            assert_eq!(res.status(), 200);
        } else {
            assert_eq!(res.status(), 429);
            assert!(retry_after(&res) >= 1);
            assert_eq!(body(res).await.1["quota"], "user_lookups");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn issue9_item8_sockets_per_session_are_capped() {
    let (app, alice) = spawn_behind_proxy().await.with_alice().await;
    // The default: 10 per session; the probe opened 40.
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(crate::messaging::ws_live(&app, &alice).await);
    }
    let (status, retry_after, _) = refusal(ws_try(&app, &alice).await, "the 11th socket");
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    // Another session of the same user has its own allowance; closing one frees a slot.
    let other = app.sign_in_from(&alice, Some("10.66.0.1")).await;
    let _other_ws = crate::messaging::ws_live(&app, &other).await;
    close_ws(open.remove(0)).await;
    let limit = std::time::Duration::from_secs(5);
    poll("a closed socket frees its slot", limit, || async {
        ws_try(&app, &alice).await.ok()
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn issue9_item8_database_files_are_0600_in_a_0700_directory() {
    use std::os::unix::fs::PermissionsExt;
    // SQLite whatever the suite's backend: this is about the embedded database's files.
    let app = spawn_app_with(|c| c.database_url = None).await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    alice.send_message(&bob, crate::messaging::msg(1)).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&app.data_dir), 0o700);
    for f in ["parley.db", "parley.db-wal", "parley.db-shm"] {
        let p = app.data_dir.join(f);
        assert!(p.exists(), "{f} exists while the server runs");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    // An older install's files are tightened at start-up.
    let dir = app.stop().await;
    std::fs::set_permissions(
        dir.path().join("parley.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let app = spawn_on(dir, |c| c.database_url = None).await;
    assert_eq!(mode(&app.data_dir.join("parley.db")), 0o600);
    app.stop().await;
}
