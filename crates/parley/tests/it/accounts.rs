//! Accounts and multi-factor sign-in against the real server: one test (at least) per [API]
//! row of ../shared/nist-800-63b.md, named by the row id (dots and dashes as underscores).

use parley_api::{
    AuthenticatorStatus, Authenticators, Captcha, PasswordFeedback, Reauthenticated, RecoveryCodes,
    SecurityLog, SessionList, TotpStarted,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{spawn_app, spawn_app_with, spawn_on};
use crate::flows::*;

// ---- §4.2 AAL2 ---------------------------------------------------------------------------

#[tokio::test]
async fn r4_identifier_stable() {
    let (app, user) = spawn_app().await.with_alice().await;
    let a = app.sign_in(&user).await;
    let b = app.sign_in(&user).await;
    let (ma, mb) = (a.me_json().await, b.me_json().await);
    assert_eq!(ma.user.id, mb.user.id);
    assert_eq!(ma.user.id, user.id);
    app.stop().await;
}

#[tokio::test]
async fn r4_identifier_no_reuse_after_account_deletion() {
    let (app, user) = spawn_app().await.with_alice().await;
    let r = app.confirm(&user, "/api/account/delete").await;
    assert_eq!(r.0, 204, "{}", r.1);
    assert_eq!(
        user.me().await.0,
        401,
        "the deleted account's session is gone"
    );
    let again = app.register("alice").await;
    assert_ne!(again.id, user.id, "a new subject gets a new identifier");
    let log: SecurityLog = again.get_json("/api/account/security-log").await;
    assert_eq!(log.events.len(), 1, "nothing of the old account: {log:?}");
    app.stop().await;
}

#[tokio::test]
async fn r4_2_1_combo_password_alone_or_a_code_alone_gives_no_session() {
    let (app, user) = spawn_app().await.with_alice().await;
    // A recovery code (or a TOTP code) without the password step: no session at all.
    let fresh = app.browser();
    assert_error(
        &fresh.second_factor("recovery", &user.codes[0]).await,
        401,
        "unauthorized",
    );
    assert_error(
        &fresh
            .second_factor("totp", &code(&app, &user.secret, 1))
            .await,
        401,
        "unauthorized",
    );
    // The password alone: a pending state that can do nothing else (7.1-no-higher-aal).
    let (s, b) = fresh.login_password("alice", PW).await;
    assert_eq!(s, 200);
    assert_eq!(b["stage"], "second_factor");
    for path in [
        "/api/me",
        "/api/sessions",
        "/api/account/security-log",
        "/api/account/authenticators",
    ] {
        assert_error(&fresh.get(path).await, 403, "second_factor_required");
    }
    assert_error(
        &fresh.post("/api/logout", json!({})).await,
        403,
        "second_factor_required",
    );
    app.stop().await;
}

#[tokio::test]
async fn r4_2_2_replay_a_captured_totp_code_is_rejected() {
    let (app, user) = spawn_app().await.with_alice().await;
    next_step(&app);
    let c = code(&app, &user.secret, 0);
    let a = app.past_password().await;
    assert_eq!(a.second_factor("totp", &c).await.0, 200);
    let b = app.past_password().await;
    assert_error(&b.second_factor("totp", &c).await, 401, "invalid_code");
    app.stop().await;
}

#[tokio::test]
async fn r5_1_4_1_once_per_nonce_parallel_race_has_one_winner() {
    let (app, user) = spawn_app().await.with_alice().await;
    next_step(&app);
    let c = code(&app, &user.secret, 0);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let cl = app.browser();
        assert_eq!(cl.login_password("alice", PW).await.0, 200);
        clients.push(cl);
    }
    let results =
        futures_util::future::join_all(clients.iter().map(|cl| cl.second_factor("totp", &c))).await;
    let wins = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(wins, 1, "{results:?}");
    app.stop().await;
}

#[tokio::test]
async fn r5_1_4_2_totp_lifetime_window_is_plus_minus_one_step() {
    let (app, user) = spawn_app().await.with_alice().await;
    // Registration used the current step; move far on so earlier steps are not "used".
    for _ in 0..10 {
        next_step(&app);
    }
    let cl = app.browser();
    for d in [-3i64, 3, -2, 2] {
        cl.login_password("alice", PW).await;
        assert_error(
            &cl.second_factor("totp", &code(&app, &user.secret, d)).await,
            401,
            "invalid_code",
        );
    }
    // -1, 0, +1 each accepted once, in increasing order.
    for d in [-1i64, 0, 1] {
        let cl = app.past_password().await;
        let r = cl.second_factor("totp", &code(&app, &user.secret, d)).await;
        assert_eq!(r.0, 200, "step {d}: {}", r.1);
    }
    app.stop().await;
}

// ---- §4.2.3 reauthentication and §7 sessions ------------------------------------------------

#[tokio::test]
async fn r4_2_3_idle_30m_and_keepalives_do_not_count() {
    let (app, user) = spawn_app().await.with_alice().await;
    let clock = &app.state().clock;
    clock.advance(29 * 60);
    // Reading /api/me and background requests are not user activity.
    assert_eq!(user.me().await.0, 200, "29 minutes idle is fine");
    let bg = user
        .client
        .get(app.url("/api/sessions"))
        .header("x-parley-background", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(bg.status(), 200);
    clock.advance(60 + 1);
    let r = user.me().await;
    assert_error(&r, 401, "session_expired");
    assert_eq!(r.1["reason"], "idle");
    // 4.2.3-terminate: the old cookie stays refused.
    assert_error(&user.me().await, 401, "unauthorized");
    app.stop().await;
}

#[tokio::test]
async fn r4_2_3_user_actions_reset_the_idle_timer() {
    let (app, user) = spawn_app().await.with_alice().await;
    let clock = &app.state().clock;
    for _ in 0..3 {
        clock.advance(20 * 60);
        let r = user.get("/api/sessions").await;
        assert_eq!(r.0, 200, "{}", r.1);
    }
    app.stop().await;
}

#[tokio::test]
async fn r4_2_3_overall_12h_regardless_of_activity() {
    let (app, user) = spawn_app().await.with_alice().await;
    let clock = &app.state().clock;
    let mut t = 0;
    while t < 12 * 3600 - 600 {
        clock.advance(600);
        t += 600;
        let r = user.get("/api/sessions").await;
        assert_eq!(r.0, 200, "at {t} s: {}", r.1);
    }
    clock.advance(600);
    let r = user.get("/api/sessions").await;
    assert_error(&r, 401, "session_expired");
    assert_eq!(r.1["reason"], "absolute");
    app.stop().await;
}

#[tokio::test]
async fn r7_2_extend_by_prompt_password_resets_the_idle_timer_wrong_password_does_not() {
    let (app, user) = spawn_app().await.with_alice().await;
    let clock = &app.state().clock;
    let deadline = user.me_json().await.session.idle_expires_at;
    clock.advance(25 * 60);
    let bad = user
        .post(
            "/api/session/reauth",
            json!({"password": "wrong password here"}),
        )
        .await;
    assert_error(&bad, 401, "invalid_credentials");
    assert_eq!(
        user.me_json().await.session.idle_expires_at,
        deadline,
        "a wrong password extends nothing"
    );
    let ok: Reauthenticated = user
        .post_json("/api/session/reauth", json!({"password": PW}), 200)
        .await;
    let extended = ok.session.idle_expires_at;
    assert!(
        (extended - (clock.now() + 30 * 60)).abs() <= 2,
        "{extended}"
    );
    // and the session now outlives the old deadline
    clock.advance(10 * 60);
    assert_eq!(user.me().await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn r7_2_no_extension_by_secret_me_polling_does_not_keep_a_session_alive() {
    let (app, user) = spawn_app().await.with_alice().await;
    for _ in 0..3 {
        app.state().clock.advance(8 * 60);
        assert_eq!(user.me().await.0, 200);
    }
    app.state().clock.advance(8 * 60);
    assert_error(&user.me().await, 401, "session_expired");
    app.stop().await;
}

#[tokio::test]
async fn r7_1_host_generated_session_fixation_is_impossible() {
    let app = spawn_app().await;
    app.register("alice").await;
    // An attacker plants a session cookie of their choosing before the victim signs in.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = app.url("/").parse().unwrap();
    jar.add_cookie_str(
        "__Host-parley_session=attacker-chosen-value; Secure; Path=/",
        &url,
    );
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(crate::common::tls_config_trusting(
            &app.tls_dir().join("ca.pem"),
        ))
        .resolve(&app.domain, app.addr)
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let r = body(client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_error(&r, 401, "unauthorized");
    let res = client.get(app.url("/api/captcha")).send().await.unwrap();
    let c: serde_json::Value = res.json().await.unwrap();
    let res = client
        .post(app.url("/api/login"))
        .json(&json!({"username": "alice", "password": PW, "captcha_id": c["id"], "captcha_answer": crate::common::CAPTCHA}))
        .send()
        .await
        .unwrap();
    let pending = set_cookie_value(&res);
    assert!(
        pending.len() >= 43 && pending != "attacker-chosen-value",
        "new value at the password step"
    );
    app.stop().await;
}

fn set_cookie_value(res: &reqwest::Response) -> String {
    let sc = res
        .headers()
        .get("set-cookie")
        .expect("a cookie is set")
        .to_str()
        .unwrap();
    sc.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

#[tokio::test]
async fn r7_1_host_generated_new_value_at_the_second_factor() {
    let (app, user) = spawn_app().await.with_alice().await;
    let client = app.browser();
    let res = client.login_response("alice", PW).await;
    let pending = set_cookie_value(&res);
    next_step(&app);
    let res = client
        .client
        .post(app.url("/api/login/totp"))
        .json(&json!({"code": code(&app, &user.secret, 0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let full = set_cookie_value(&res);
    assert_ne!(
        pending, full,
        "a new session secret when the second factor completes"
    );
    // The pending value is no longer valid at all.
    let other = app.browser();
    let r = other
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("__Host-parley_session={pending}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn r7_1_secret_2_rbg_64_session_values_are_long_and_distinct() {
    let (app, user) = spawn_app().await.with_alice().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let client = app.browser();
        let res = client.login_response(&user.username, PW).await;
        let v = set_cookie_value(&res);
        assert_eq!(v.len(), 43, "256 bits in base64url");
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(seen.insert(v), "distinct");
    }
    app.stop().await;
}

#[tokio::test]
async fn r7_1_1_cookie_attributes_secure_httponly_host_only_no_expiry() {
    let (app, user) = spawn_app().await.with_alice().await;
    let client = app.browser();
    let res = client.login_response("alice", PW).await;
    let sc = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(sc.starts_with("__Host-parley_session="), "{sc}");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(sc.contains(attr), "{attr} in {sc}");
    }
    for forbidden in ["Domain=", "Expires=", "Max-Age="] {
        assert!(!sc.contains(forbidden), "{forbidden} in {sc}");
    }
    // 7.1-secret-3/4: logout invalidates it server-side and clears it in the browser.
    let full = app.sign_in(&user).await;
    let res = full
        .client
        .post(app.url("/api/logout"))
        .header("x-csrf-token", &full.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let sc = res.headers()["set-cookie"].to_str().unwrap();
    assert!(sc.contains("Max-Age=0"), "{sc}");
    app.stop().await;
}

#[tokio::test]
async fn r7_1_secret_3_logout_invalidates_the_session_server_side() {
    let (app, user) = spawn_app().await.with_alice().await;
    let r = user.post("/api/logout", json!({})).await;
    assert_eq!(r.0, 204);
    // Replay the old cookie by hand (the client's own jar was cleared by Max-Age=0).
    let replay = app
        .browser()
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("__Host-parley_session={}", user.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401, "the server forgot the session");
    app.stop().await;
}

#[tokio::test]
async fn r7_1_session_id_in_requests_csrf_and_cross_site_are_refused() {
    let (app, alice, bob) = alice_and_bob().await;
    // no token
    assert_error(
        &body(
            alice
                .client
                .post(app.url("/api/logout"))
                .send()
                .await
                .unwrap(),
        )
        .await,
        403,
        "csrf_failed",
    );
    // another session's token
    assert_error(
        &alice
            .with_csrf(&bob.csrf)
            .post("/api/logout", json!({}))
            .await,
        403,
        "csrf_failed",
    );
    // a cross-site request, even with the right token
    let logout = |header: &'static str, value: &'static str| {
        let req = alice.client.post(app.url("/api/logout"));
        let req = req
            .header("x-csrf-token", &alice.csrf)
            .header(header, value);
        async move { body(req.send().await.unwrap()).await }
    };
    assert_error(
        &logout("origin", "https://evil.example").await,
        403,
        "cross_site",
    );
    assert_error(
        &logout("sec-fetch-site", "cross-site").await,
        403,
        "cross_site",
    );
    // login CSRF: a cross-site sign-in attempt is refused before anything is checked
    let r = app
        .browser()
        .client
        .post(app.url("/api/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"username": "alice", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_error(&body(r).await, 403, "cross_site");
    // the same request from the site itself works
    let origin = format!("https://localhost:{}", app.addr.port());
    let r = alice
        .client
        .post(app.url("/api/logout"))
        .header("x-csrf-token", &alice.csrf)
        .header("origin", origin)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    app.stop().await;
}

#[tokio::test]
async fn sessions_list_and_revoke_one_or_all() {
    let (app, user) = spawn_app().await.with_alice().await;
    let other = app.sign_in(&user).await;
    let list: SessionList = user.get_json("/api/sessions").await;
    assert_eq!(list.sessions.len(), 2, "{list:?}");
    let other_id = &list.sessions.iter().find(|s| !s.current).unwrap().id;
    let r = user.delete(&format!("/api/sessions/{other_id}")).await;
    assert_eq!(r.0, 204, "{}", r.1);
    assert_eq!(other.me().await.0, 401);
    assert_eq!(user.me().await.0, 200);
    let r = user.post("/api/sessions/revoke-all", json!({})).await;
    assert_eq!(r.0, 204);
    assert_eq!(user.me().await.0, 401);
    app.stop().await;
}

// ---- registration ----------------------------------------------------------------------------

#[tokio::test]
async fn a5_registration_binds_all_three_and_is_bound_to_one_browser() {
    let app = spawn_app().await;
    let client = app.browser();
    let (s, b) = client.register_start("alice", PW).await;
    assert_eq!(s, 201, "{b}");
    // The half-finished registration holds no usable account.
    assert_error(
        &app.password_step("alice", PW).await,
        401,
        "invalid_credentials",
    );
    // Another browser cannot continue it.
    let secret = secret_of(&b);
    let r = app
        .browser()
        .post_code("/api/register/totp", &code(&app, &secret, 0))
        .await;
    assert_error(&r, 401, "registration_expired");
    // Finishing before the TOTP step is refused.
    let r = client
        .post("/api/register/finish", json!({"saved": true}))
        .await;
    assert_error(&r, 401, "registration_expired");
    // A wrong code is refused; the state endpoint shows no secret.
    let r = client
        .post("/api/register/totp", json!({"code": "000000"}))
        .await;
    assert_error(&r, 401, "invalid_code");
    let (_, st) = client.get("/api/register").await;
    assert_eq!(st["stage"], "totp");
    assert!(
        !st.to_string()
            .contains(b["totp"]["secret"].as_str().unwrap())
    );
    // It expires after 15 minutes.
    app.state().clock.advance(15 * 60 + 1);
    let r = client
        .post_code("/api/register/totp", &code(&app, &secret, 0))
        .await;
    assert_error(&r, 401, "registration_expired");
    app.stop().await;
}

#[tokio::test]
async fn a8_r5_1_4_1_no_cloning_the_secret_is_never_shown_again() {
    let (app, user) = spawn_app().await.with_alice().await;
    let b32 = data_encoding::BASE32_NOPAD.encode(&user.secret);
    for path in [
        "/api/me",
        "/api/sessions",
        "/api/account/security-log",
        "/api/account/authenticators",
        "/api/register",
    ] {
        let text = user.fetch(path).await.text().await.unwrap();
        assert!(!text.contains(&b32), "{path} shows the TOTP secret");
    }
    app.stop().await;
}

#[tokio::test]
async fn r5_1_4_1_key_112_otpauth_uri_parameters() {
    let app = spawn_app().await;
    let (s, b) = app.browser().register_start("Álice", PW).await;
    assert_eq!(s, 201, "{b}");
    let t = &b["totp"];
    let secret = t["secret"].as_str().unwrap();
    assert!(secret.len() >= 32, "≥ 160 bits");
    let uri = t["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Parley%3A%C3%81lice?"),
        "{uri}"
    );
    for p in [
        format!("secret={secret}"),
        "issuer=Parley".into(),
        "algorithm=SHA1".into(),
        "digits=6".into(),
        "period=30".into(),
    ] {
        assert!(uri.contains(&p), "{p} in {uri}");
    }
    assert!(
        t["qr"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,"),
        "QR rendered locally"
    );
    app.stop().await;
}

#[tokio::test]
async fn username_rules_and_case_insensitive_uniqueness() {
    let app = spawn_app().await;
    app.register("Alice").await;
    let c = app.browser();
    assert_error(&c.register_start("alice", PW).await, 409, "username_taken");
    assert_error(&c.register_start("ALICE", PW).await, 409, "username_taken");
    for bad in ["ab", "a b c", "x<script>", &"a".repeat(33), "semi;colon"] {
        let r = c.register_start(bad, PW).await;
        assert_error(&r, 422, "validation_failed");
        assert_eq!(r.1["field"], "username");
    }
    app.stop().await;
}

// ---- §5.1.1 passwords ------------------------------------------------------------------------

async fn accepted(app: &crate::common::TestApp, username: &str, password: &str) {
    let user = app.register_with(username, password).await;
    let c = app.sign_in(&user).await;
    assert_eq!(c.me().await.0, 200, "login with {password:?}");
}

async fn rejected(app: &crate::common::TestApp, password: &str, reason: &str) {
    let r = app.browser().register_start("carol", password).await;
    assert_error(&r, 422, "password_rejected");
    let reasons = r.1["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().any(|x| x["code"] == reason),
        "{password:?}: {}",
        r.1
    );
    let msg = r.1["message"].as_str().unwrap().to_lowercase();
    assert!(
        msg.contains("choose a different"),
        "5.1.1.2-blocklist-advise: {msg}"
    );
}

#[tokio::test]
async fn r5_1_1_1_min_length_and_r5_1_1_2_codepoint_length() {
    let app = spawn_app().await;
    rejected(&app, "zq8!Lw3", "too_short").await;
    rejected(&app, "😀😀😀😀", "too_short").await;
    accepted(&app, "alice", "zq8!Lw3k").await;
    accepted(&app, "bobby", "😀🎉🔒🌍🚀🐢🍀🎈").await;
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_max_length_64_and_128_and_too_long() {
    let app = spawn_app().await;
    let p64: String = "mqz7 vNt2 kpW9 ".repeat(5).chars().take(64).collect();
    let p128: String = "Jx4r!tQ8 wZm3@pL ".repeat(8).chars().take(128).collect();
    accepted(&app, "alice", &p64).await;
    accepted(&app, "bobby", &p128).await;
    rejected(&app, &"xk9Q".repeat(300), "too_long").await;
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_ascii_space_and_unicode_are_accepted() {
    let app = spawn_app().await;
    accepted(&app, "alice", " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ Aq ").await;
    accepted(&app, "bobby", "pässwörd-пароль-密码-😀").await;
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_no_truncation() {
    let app = spawn_app().await;
    let p = "Tr7#kLm2 pQ9!xWv4 hu3$ZeN8 bY6&cRo1 mK5*wTs0 gV2%dAx7 qJ4^fPl9 iH8(nBe3 oU1)kCy6 rE5+tMz wQ3-nLx8 jF"
        .to_string();
    assert_eq!(p.chars().count(), 100);
    let user = app.register_with("alice", &p).await;
    let tail_changed = format!("{}{}", &p[..72], "Z".repeat(28));
    for wrong in [tail_changed.as_str(), &p[..64], &p[..99]] {
        assert_error(
            &app.password_step("alice", wrong).await,
            401,
            "invalid_credentials",
        );
    }
    assert_eq!(app.password_step("alice", &p).await.0, 200);
    // multi-byte: byte 72 falls inside a code point
    let m = "жизнь密码😀a桥梁🌉волна海风🚲книга山川🎻ветер雨滴🍵звезда花园🐝".repeat(2);
    let bob = app.register_with("bobby", &m).await;
    let prefix: String = m.chars().take(30).collect();
    assert_error(
        &app.password_step("bobby", &format!("{prefix}xyz")).await,
        401,
        "invalid_credentials",
    );
    assert_eq!(app.password_step("bobby", &bob.password).await.0, 200);
    let _ = user;
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_normalize_nfkc() {
    let app = spawn_app().await;
    app.register_with("alice", "caf\u{e9} au lait 7zq").await;
    assert_eq!(
        app.password_step("alice", "cafe\u{301} au lait 7zq")
            .await
            .0,
        200
    );
    app.register_with("bobby", "\u{fb01}ve kites 9qx").await;
    assert_eq!(app.password_step("bobby", "five kites 9qx").await.0, 200);
    app.stop().await;
}

/// Passwords the blocklist refuses, each with the kind of weakness it stands for.
const BLOCKLISTED: [(&str, &str); 10] = [
    ("password", "common"),
    ("12345678", "sequential"),
    ("qwertyuiop", "sequential"),
    ("iloveyou1", "common"),
    ("aaaaaaaa", "repetitive"),
    ("abcd1234", "sequential"),
    ("1234abcd", "sequential"),
    ("password1", "common"),
    ("parley123", "context_specific"),
    ("carol2024", "context_specific"),
];

#[tokio::test]
async fn r5_1_1_2_blocklist_check_rejects_common_dictionary_repetitive_sequential_context() {
    let app = spawn_app().await;
    for (p, why) in BLOCKLISTED {
        let r = app.browser().register_start("carol", p).await;
        let error = assert_error(&r, 422, "password_rejected");
        let reasons = error.reasons.unwrap_or_default();
        assert!(!reasons.is_empty(), "{p} ({why})");
        // 5.1.1.2-blocklist-reason: every reason has a message that says why
        for reason in reasons {
            assert!(reason.message.len() > 20, "{p}: {reason:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_no_composition_rules() {
    let app = spawn_app().await;
    accepted(&app, "alice", "correct horse battery staple").await;
    accepted(&app, "bobby", "bookkeeper committee").await;
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_blocklist_require_new_on_change_keeps_the_old_password() {
    let (app, user) = spawn_app().await.with_alice().await;
    let r = user.change_password(PW, "password1").await;
    assert_error(&r, 422, "password_rejected");
    assert_error(
        &app.password_step("alice", "password1").await,
        401,
        "invalid_credentials",
    );
    assert_eq!(app.password_step("alice", PW).await.0, 200);
    // a good new password works, the old stops working
    let new = "amber falcon 77 drift";
    let r = user.change_password(PW, new).await;
    assert_eq!(r.0, 204, "{}", r.1);
    assert_error(
        &app.password_step("alice", PW).await,
        401,
        "invalid_credentials",
    );
    assert_eq!(app.password_step("alice", new).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_no_hint_extra_fields_are_ignored_and_never_echoed() {
    let app = spawn_app().await;
    let client = app.browser();
    let id = client.captcha().await;
    let with_hints = json!({
        "username": "alice", "password": PW, "password_confirm": PW, "captcha_id": id,
        "captcha_answer": crate::common::CAPTCHA, "hint": "my cat", "passwordHint": "my cat"
    });
    let r = client.post("/api/register", with_hints).await;
    assert_eq!(r.0, 201);
    assert!(!r.1.to_string().contains("my cat"));
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_salted_kdf_and_pepper_white_box() {
    let (app, a, b) = alice_and_bob().await;
    let db = &app.state().db;
    let ha = db.user_by_id(&a.id).await.unwrap().unwrap().password_hash;
    let hb = db.user_by_id(&b.id).await.unwrap().unwrap().password_hash;
    assert_ne!(ha, hb, "per-password salt");
    assert!(
        ha.starts_with("hp1$$argon2id$v=19$m=19456,t=2,p=1$"),
        "scheme and parameters recorded: {ha}"
    );
    let salt_b64 = ha.split('$').nth(5).unwrap();
    assert!(salt_b64.len() >= 22, "≥ 128-bit salt");
    // The pepper lives outside the database, 0600, 256 bits.
    use std::os::unix::fs::PermissionsExt;
    let pepper = app.data_dir.join("secrets/pepper.key");
    assert_eq!(
        std::fs::metadata(&pepper).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read_to_string(&pepper).unwrap().trim(),
    )
    .unwrap();
    assert_eq!(bytes.len(), 32);
    // No plaintext password anywhere in the database file.
    let dir = app.stop().await;
    let all = crate::common::dump_database(dir.path()).await;
    assert!(
        !all.windows(PW.len()).any(|w| w == PW.as_bytes()),
        "plaintext password stored"
    );
    // The database alone is not enough: with another pepper the same hash does not verify.
    std::fs::remove_file(dir.path().join("secrets/pepper.key")).unwrap();
    let app = spawn_on(dir, |_| {}).await;
    assert_error(
        &app.password_step("alice", PW).await,
        401,
        "invalid_credentials",
    );
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_rehash_on_login_when_parameters_are_raised() {
    let (app, user) = spawn_app().await.with_alice().await;
    let dir = app.stop().await;
    let app = spawn_on(dir, |c| c.argon2_memory_kib = 32 * 1024).await;
    assert_eq!(app.password_step("alice", PW).await.0, 200);
    let h = app
        .state()
        .db
        .user_by_id(&user.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(h.contains("m=32768,t=2,p=1"), "rehashed: {h}");
    app.stop().await;
}

/// Issue 11: re-authentication checks the password on the same path as sign-in, so a hash
/// stored under older parameters is upgraded there too (it used to be only at sign-in).
#[tokio::test]
async fn r5_1_1_2_issue11_rehash_on_reauthentication_when_parameters_are_raised() {
    let (app, user) = spawn_app().await.with_alice().await;
    let stored = |app: &crate::common::TestApp| {
        let db = app.state().db.clone();
        let id = user.id.clone();
        async move { db.user_by_id(&id).await.unwrap().unwrap().password_hash }
    };
    let old = stored(&app).await;
    assert!(!old.contains("m=32768"), "{old}");
    let dir = app.stop().await;
    let app = spawn_on(dir, |c| c.argon2_memory_kib = 32 * 1024).await;
    let client = app.sign_in(&user).await;
    // Sign-in rehashed it; put the old hash back, as if the parameters were raised after.
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&old)
        .bind(&user.id)
        .execute(&app.state().db.pool)
        .await
        .unwrap();
    let ok = client
        .post("/api/session/reauth", json!({"password": PW}))
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let h = stored(&app).await;
    assert!(h.contains("m=32768,t=2,p=1"), "rehashed: {h}");
    // and the new hash still verifies
    let again = client
        .post("/api/session/reauth", json!({"password": PW}))
        .await;
    assert_eq!(again.0, 200, "{}", again.1);
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_force_change_on_compromise() {
    let (app, user) = spawn_app().await.with_alice().await;
    must_change_password(&app, &user).await;
    let c = app.sign_in(&user).await;
    assert!(c.me_json().await.must_change_password);
    assert_error(
        &c.get("/api/sessions").await,
        403,
        "password_change_required",
    );
    let new = "amber falcon 77 drift";
    let r = c.change_password(PW, new).await;
    assert_eq!(r.0, 204, "{}", r.1);
    assert_eq!(c.get("/api/sessions").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn r5_1_1_2_no_periodic_change_after_a_year() {
    let (app, user) = spawn_app().await.with_alice().await;
    app.state().clock.advance(400 * 86_400);
    let c = app.sign_in(&user).await;
    assert!(!c.me_json().await.must_change_password);
    app.stop().await;
}

// ---- §5.1.2 recovery codes ---------------------------------------------------------------------

#[tokio::test]
async fn r5_1_2_2_single_use_and_remaining_count() {
    let (app, user) = spawn_app().await.with_alice().await;
    assert_eq!(user.codes.len(), 10);
    for c in &user.codes {
        assert!(parley::service::recovery::canonical(c).is_some(), "{c}");
    }
    let cl = app.past_password().await;
    // typed in upper case with spaces: still accepted
    let typed = user.codes[0].to_uppercase().replace('-', " ");
    let r = cl.second_factor("recovery", &typed).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["recovery_codes_remaining"], 9);
    assert!(r.1["warning"].as_str().unwrap().contains("9 remain"));
    let cl = app.past_password().await;
    assert_error(
        &cl.second_factor("recovery", &user.codes[0]).await,
        401,
        "invalid_code",
    );
    app.stop().await;
}

#[tokio::test]
async fn r5_1_2_2_single_use_parallel_race() {
    let (app, user) = spawn_app().await.with_alice().await;
    let clients = [
        app.past_password().await,
        app.past_password().await,
        app.past_password().await,
    ];
    let results = futures_util::future::join_all(
        clients
            .iter()
            .map(|cl| cl.second_factor("recovery", &user.codes[1])),
    )
    .await;
    assert_eq!(
        results.iter().filter(|r| r.0 == 200).count(),
        1,
        "{results:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn r5_1_2_2_offline_resistant_and_r5_1_2_1_secure_delivery() {
    let app = spawn_app().await;
    let client = app.browser();
    let (_, b) = client.register_start("alice", PW).await;
    let secret = secret_of(&b);
    let res = client
        .client
        .post(app.url("/api/register/totp"))
        .json(&json!({"code": code(&app, &secret, 0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let codes: Vec<String> = serde_json::from_value(
        res.json::<serde_json::Value>().await.unwrap()["recovery_codes"].clone(),
    )
    .unwrap();
    client
        .post("/api/register/finish", json!({"saved": true}))
        .await;
    let dir = app.stop().await;
    let all = crate::common::dump_database(dir.path()).await;
    let contains = |needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
    for c in &codes {
        let canon = parley::service::recovery::canonical(c).unwrap();
        assert!(
            !contains(canon.as_bytes()) && !contains(c.as_bytes()),
            "plaintext recovery code in the DB"
        );
    }
    // nor the TOTP secret (5.1.4.2-key-protect), raw, hex or base32
    let hex = data_encoding::HEXLOWER.encode(&secret);
    let b32 = data_encoding::BASE32_NOPAD.encode(&secret);
    assert!(
        !contains(&secret) && !contains(hex.as_bytes()) && !contains(b32.as_bytes()),
        "plaintext TOTP secret in the DB"
    );
}

// ---- §5.2.2 throttling -------------------------------------------------------------------------

/// A server that believes X-Forwarded-For from 127.0.0.1, so a test can come from many addresses.
async fn spawn_behind_proxy() -> crate::common::TestApp {
    spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await
}

fn ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// Fail `n` times with a wrong password from `n` different addresses, waiting out each delay.
async fn fail_passwords(app: &crate::common::TestApp, user: &str, n: usize, start: usize) {
    for i in 0..n {
        app.failed_password_from(user, &ip(start + i)).await;
        app.state().clock.advance(3601);
    }
}

#[tokio::test]
async fn r5_2_2_limit_100_password_then_admin_unlock() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    fail_passwords(&app, "alice", 100, 0).await;
    let r = app
        .browser_at("10.200.0.1")
        .login_password("alice", PW)
        .await;
    assert_error(&r, 403, "factor_locked");
    assert_eq!(r.1["factor"], "password");
    // still locked much later: no timer unlocks it
    app.state().clock.advance(30 * 86_400);
    assert_error(
        &app.browser_at("10.200.0.2")
            .login_password("alice", PW)
            .await,
        403,
        "factor_locked",
    );
    app.state()
        .accounts
        .admin_unlock("alice", None)
        .await
        .unwrap();
    assert_eq!(
        app.browser_at("10.200.0.3")
            .login_password("alice", PW)
            .await
            .0,
        200
    );
    let _ = user;
    app.stop().await;
}

#[tokio::test]
async fn r5_1_4_2_rate_limit_100_wrong_totp_codes_then_unlock_with_a_recovery_code() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    for i in 0..100 {
        let cl = app.browser_at(&ip(i));
        let r = cl.login_password("alice", PW).await;
        assert_eq!(r.0, 200, "{i}: {}", r.1);
        let r = cl.post("/api/login/totp", json!({"code": "000000"})).await;
        assert!(
            r.1["error"] == "invalid_code" || r.1["error"] == "factor_locked",
            "{i}: {}",
            r.1
        );
        app.state().clock.advance(3601);
    }
    let cl = app.browser();
    cl.at("10.201.0.1").login_password("alice", PW).await;
    next_step(&app);
    let r = cl.second_factor("totp", &code(&app, &user.secret, 0)).await;
    assert_error(&r, 403, "factor_locked");
    assert_eq!(r.1["factor"], "totp");
    // "unlock it with another factor": a recovery code signs in and re-enables the TOTP
    let r = cl.second_factor("recovery", &user.codes[0]).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let cl = app.browser();
    cl.at("10.201.0.2").login_password("alice", PW).await;
    next_step(&app);
    assert_eq!(
        cl.second_factor("totp", &code(&app, &user.secret, 0))
            .await
            .0,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn r5_1_2_2_rate_limit_100_wrong_recovery_codes() {
    let (app, user) = spawn_behind_proxy().await.with_alice().await;
    for i in 0..100 {
        let cl = app.browser_at(&ip(i));
        cl.login_password("alice", PW).await;
        let r = cl
            .post(
                "/api/login/recovery",
                json!({"code": "aaaa-bbbb-cccc-dddd"}),
            )
            .await;
        assert!(r.1["error"] == "invalid_code", "{i}: {}", r.1);
        app.state().clock.advance(3601);
    }
    let cl = app.browser();
    cl.at("10.202.0.1").login_password("alice", PW).await;
    assert_error(
        &cl.second_factor("recovery", &user.codes[0]).await,
        403,
        "factor_locked",
    );
    app.stop().await;
}

#[tokio::test]
async fn r5_2_2_backoff_429_with_growing_retry_after() {
    let app = spawn_behind_proxy().await;
    app.register("alice").await;
    for i in 0..5 {
        app.failed_password_from("alice", &ip(i)).await;
    }
    let cl = app.browser();
    let id = cl.captcha().await;
    let res = cl.client.post(app.url("/api/login")).header("x-forwarded-for", "10.9.9.9")
        .json(&json!({"username": "alice", "password": PW, "captcha_id": id, "captcha_answer": crate::common::CAPTCHA}))
        .send().await.unwrap();
    assert_eq!(
        res.status(),
        429,
        "even the right password waits out the delay"
    );
    let first: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((25..=30).contains(&first), "{first}");
    app.state().clock.advance(31);
    app.failed_password_from("alice", "10.9.9.8").await;
    let r = app.browser_at("10.9.9.7").login_password("alice", PW).await;
    assert_error(&r, 429, "rate_limited");
    assert!(
        r.1["retry_after_secs"].as_u64().unwrap() > first,
        "the delay grows: {}",
        r.1
    );
    app.stop().await;
}

#[tokio::test]
async fn r5_2_2_reset_on_success() {
    let app = spawn_behind_proxy().await;
    app.register("alice").await;
    fail_passwords(&app, "alice", 50, 0).await;
    assert_eq!(
        app.browser_at("10.77.0.1")
            .login_password("alice", PW)
            .await
            .0,
        200
    );
    fail_passwords(&app, "alice", 60, 1000).await;
    let r = app
        .browser_at("10.77.0.2")
        .login_password("alice", PW)
        .await;
    assert_eq!(
        r.0, 200,
        "60 failures after a success do not trip the limit: {}",
        r.1
    );
    app.stop().await;
}

#[tokio::test]
async fn r6_1_throttle_state_survives_a_restart() {
    let app = spawn_behind_proxy().await;
    app.register("alice").await;
    for i in 0..4 {
        app.failed_password_from("alice", &ip(i)).await;
    }
    let dir = app.stop().await;
    let app = spawn_on(dir, |c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    // The 5th failure, after a restart, is counted on top of the 4 before it: the first delay.
    app.failed_password_from("alice", "10.1.1.1").await;
    let r = app.browser_at("10.1.1.2").login_password("alice", PW).await;
    assert_error(&r, 429, "rate_limited");
    app.stop().await;
}

#[tokio::test]
async fn a4_per_ip_buckets_answer_429_with_retry_after() {
    let app = spawn_app().await;
    let cl = app.browser();
    // 40 at once, more than the burst of 30: at once, so that a slow machine (a CAPTCHA image
    // takes a while in a debug build) does not let the bucket refill between them.
    let all = futures_util::future::join_all((0..40).map(|_| cl.fetch("/api/captcha"))).await;
    let res = all
        .into_iter()
        .find(|res| res.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("the CAPTCHA endpoint is rate limited per IP");
    assert!(res.headers().contains_key("retry-after"));
    app.stop().await;
}

// ---- CAPTCHA (A4) -------------------------------------------------------------------------------

#[tokio::test]
async fn a4_captcha_is_single_use_expires_case_insensitive_and_never_sent() {
    let app = spawn_app_with(|c| c.test_captcha_answer = Some("AbCdEf".into())).await;
    let cl = app.browser();
    let res = cl.fetch("/api/captcha").await;
    assert!(
        res.headers().get("set-cookie").is_none(),
        "never in a cookie"
    );
    let c: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        c.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["expires_in", "id", "image"]
    );
    assert!(c["expires_in"].as_i64().unwrap() <= 300);
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        c["image"]
            .as_str()
            .unwrap()
            .strip_prefix("data:image/png;base64,")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a real PNG");
    let attempt = |id: String, answer: &'static str| {
        let cl = cl.clone();
        let login = json!({"username": "nobody", "password": "whatever pass", "captcha_id": id, "captcha_answer": answer});
        async move { cl.post("/api/login", login).await }
    };
    // wrong answer, then the same challenge again (now used up) with the right answer
    assert_error(
        &attempt(c["id"].as_str().unwrap().into(), "nope").await,
        422,
        "captcha_failed",
    );
    assert_error(
        &attempt(c["id"].as_str().unwrap().into(), "abcdef").await,
        422,
        "captcha_failed",
    );
    // right answer in another case passes the CAPTCHA (then fails on the credentials)
    let c2 = cl.captcha().await;
    assert_error(&attempt(c2, "abcdef").await, 401, "invalid_credentials");
    // expired after 5 minutes
    let c3 = cl.captcha().await;
    app.state().clock.advance(301);
    assert_error(&attempt(c3, "abcdef").await, 422, "captcha_failed");
    // missing
    assert_error(
        &cl.post("/api/login", json!({"username": "x", "password": "y"}))
            .await,
        422,
        "captcha_failed",
    );
    app.stop().await;
}

#[tokio::test]
async fn a4_real_captcha_images_differ_and_hold_no_answer() {
    let app = spawn_app_with(|c| c.test_captcha_answer = None).await;
    let cl = app.browser();
    let a: Captcha = cl.get_json("/api/captcha").await;
    let b: Captcha = cl.get_json("/api/captcha").await;
    assert_ne!(a.image, b.image);
    assert_ne!(a.id, b.id);
    assert_eq!(a.id.len(), 32);
    app.stop().await;
}

// ---- managing authenticators (A6, §6.1) ----------------------------------------------------------

#[tokio::test]
async fn r6_1_2_1_auth_first_changes_need_password_and_second_factor() {
    let (app, user) = spawn_app().await.with_alice().await;
    let r = user
        .post(
            "/api/account/recovery-codes",
            json!({"password": "not my password at all"}),
        )
        .await;
    assert_error(&r, 401, "invalid_credentials");
    let r = user
        .post("/api/account/recovery-codes", json!({"password": PW}))
        .await;
    assert_error(&r, 422, "validation_failed");
    let r = user
        .post(
            "/api/account/totp/start",
            json!({"password": PW, "totp_code": "000000"}),
        )
        .await;
    assert_error(&r, 401, "invalid_code");
    app.stop().await;
}

#[tokio::test]
async fn r6_4_revoke_on_request_regenerated_codes_replace_the_old_set() {
    let (app, user) = spawn_app().await.with_alice().await;
    let r = app.confirm(&user, "/api/account/recovery-codes").await;
    let new = parse::<RecoveryCodes>(&r, 200).recovery_codes;
    assert_eq!(new.len(), 10);
    let cl = app.past_password().await;
    assert_error(
        &cl.second_factor("recovery", &user.codes[3]).await,
        401,
        "invalid_code",
    );
    assert_eq!(cl.second_factor("recovery", &new[3]).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn r6_4_reenrolled_totp_replaces_the_old_secret_after_confirmation() {
    let (app, user) = spawn_app().await.with_alice().await;
    let r = user
        .post(
            "/api/account/totp/start",
            json!({"password": PW, "recovery_code": user.codes[0]}),
        )
        .await;
    let new_b32 = parse::<TotpStarted>(&r, 200).totp.secret;
    let new_secret = data_encoding::BASE32_NOPAD
        .decode(new_b32.as_bytes())
        .unwrap();
    assert_ne!(new_secret, user.secret, "a new secret");
    // until confirmed, the old authenticator still works
    let _c = app.sign_in(&user).await;
    next_step(&app);
    let r = user
        .post_code("/api/account/totp/confirm", &code(&app, &new_secret, 0))
        .await;
    assert_eq!(r.0, 204, "{}", r.1);
    let cl = app.past_password().await;
    next_step(&app);
    assert_error(
        &cl.second_factor("totp", &code(&app, &user.secret, 0)).await,
        401,
        "invalid_code",
    );
    assert_eq!(
        cl.second_factor("totp", &code(&app, &new_secret, 0))
            .await
            .0,
        200
    );
    // §6.1-record-all: the old TOTP is on record as replaced
    let a: Authenticators = user.get_json("/api/account/authenticators").await;
    let totps: Vec<_> = a
        .authenticators
        .iter()
        .filter(|x| x.kind == "totp")
        .collect();
    assert_eq!(totps.len(), 2, "{a:?}");
    assert!(
        totps
            .iter()
            .any(|t| t.status == AuthenticatorStatus::Replaced)
    );
    app.stop().await;
}

#[tokio::test]
async fn security_log_records_sign_ins_failures_and_changes() {
    let (app, user) = spawn_app().await.with_alice().await;
    app.password_step("alice", "wrong password entirely").await;
    app.sign_in(&user).await;
    let log: SecurityLog = user.get_json("/api/account/security-log").await;
    let events: Vec<&str> = log.events.iter().map(|e| e.event.as_str()).collect();
    for e in [
        "registered",
        "login_password_failed",
        "login_password_ok",
        "login_succeeded",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
    assert!(log.events[0].ip.starts_with("127."));
    app.stop().await;
}

#[tokio::test]
async fn password_check_endpoint_explains_and_scores() {
    let app = spawn_app().await;
    let cl = app.browser();
    let check = |password: &'static str| {
        cl.post_json::<PasswordFeedback>("/api/password/check", json!({"password": password}), 200)
    };
    let b = check("password1").await;
    assert!(!b.acceptable);
    assert!(b.score <= 1);
    let b = check("violet lantern 42 orbit").await;
    assert!(b.acceptable, "{b:?}");
    assert!(b.score >= 3, "{b:?}");
    assert_eq!(b.length, 23);
    app.stop().await;
}
