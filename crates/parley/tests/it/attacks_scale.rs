//! Issue 9 (auth side) across two instances on one PostgreSQL database: the count before
//! verifying holds when a burst is split between instances, and a password change closes the
//! other sessions' sockets on the other instance at once.
//!
//! Always PostgreSQL: `PARLEY_TEST_DATABASE_URL`, or the local server at 127.0.0.1:5432.

use std::collections::BTreeMap;

use serde_json::json;

use crate::attacks::{
    addr, assert_tally, burst, burst_post, password_burst, password_change_ends, wrong_code,
};
use crate::common::TestApp;
use crate::flows::*;

async fn two_instances() -> (TestApp, TestApp) {
    let cluster = crate::scale::Cluster::new(5).await;
    cluster
        .two_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()])
        .await
}

/// The answers of a burst of 16 split between the two instances (`what` guesses) were exactly
/// these.
fn assert_split_burst(what: &str, got: &BTreeMap<String, usize>, want: &[(&str, usize)]) {
    assert_tally(&format!("two instances, {what} burst of 16"), got, want);
}

/// Of a burst of 16, the first `limit` evaluated (answered `code`), the others `rate_limited`.
fn limited(code: &str, limit: usize) -> [(&str, usize); 2] {
    [(code, limit), ("rate_limited", 16 - limit)]
}

/// The client of `app` that trusts it, for a cookie jar shared across both instances (the
/// same host name and cookies, another address).
fn via(app: &TestApp, jar: &std::sync::Arc<reqwest::cookie::Jar>) -> Browser {
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(crate::common::tls_config_trusting(
            &app.tls_dir().join("ca.pem"),
        ))
        .resolve(&app.domain, app.addr)
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Browser::with_client(app, client)
}

#[tokio::test]
async fn issue9_item1_two_instances_count_every_attempt_once() {
    let (one, two) = two_instances().await;
    let user = one.register("alice").await;
    let apps = [&one, &two];

    // Re-auth guesses with Alice's full session, half on each instance.
    let (b1, b2) = (one.browser(), two.browser());
    let got = burst(16, |i| {
        let (app, cl) = if i % 2 == 0 { (&one, &b1) } else { (&two, &b2) };
        let user = &user;
        async move {
            body(
                cl.client
                    .post(app.url("/api/session/reauth"))
                    .header("cookie", format!("__Host-parley_session={}", user.cookie))
                    .header("x-csrf-token", &user.csrf)
                    .header("x-forwarded-for", addr(300 + i))
                    .json(&json!({"password": format!("wrong guess {i}")}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    })
    .await;
    assert_split_burst("re-auth", &got, &limited("invalid_credentials", 5));
    // The delay over, the right password resets the per-name count.
    one.state().clock.advance(31);
    two.state().clock.advance(31);
    let r = body(
        b2.client
            .post(two.url("/api/session/reauth"))
            .header("cookie", format!("__Host-parley_session={}", user.cookie))
            .header("x-csrf-token", &user.csrf)
            .json(&json!({"password": PW}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);

    // Password guesses, half on each instance.
    let clients: Vec<Browser> = (0..16).map(|i| apps[i % 2].browser()).collect();
    let got = password_burst(&clients).await;
    assert_split_burst("password", &got, &limited("invalid_credentials", 5));

    // TOTP guesses on one pending session, half on each instance.
    two.state().clock.advance(3601);
    one.state().clock.advance(3601);
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let (c1, c2) = (via(&one, &jar), via(&two, &jar));
    let r = c1.at("10.80.0.1").login_password("alice", PW).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let wrong = wrong_code(&one, &user.secret);
    let c = |i: usize| [&c1, &c2][i % 2];
    let got = burst_post(16, "/api/login/totp", 100, c, |_| json!({"code": wrong})).await;
    assert_split_burst("TOTP", &got, &limited("invalid_code", 5));

    // Recovery-code guesses on the same pending session, half on each instance.
    let recovery = json!({"code": "aaaa-bbbb-cccc-dddd"});
    let got = burst_post(16, "/api/login/recovery", 200, c, |_| recovery.clone()).await;
    assert_split_burst("recovery-code", &got, &limited("invalid_code", 5));

    // Registration codes on one sign-up, half on each instance: 10 are tried, no more.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let (r1, r2) = (via(&one, &jar), via(&two, &jar));
    let wrong = wrong_code(&one, &r1.sign_up_started("bobby", PW).await);
    let r = |i: usize| [&r1, &r2][i % 2];
    let got = burst_post(16, "/api/register/totp", 400, r, |_| json!({"code": wrong})).await;
    assert_split_burst(
        "registration-code",
        &got,
        &[("invalid_code", 10), ("registration_expired", 6)],
    );
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn issue9_item3_password_change_closes_sockets_on_the_other_instance() {
    let (one, two) = two_instances().await;
    let user = one.register("alice").await;
    // Another session of Alice's, with its socket on instance 2.
    let other = two.sign_in_from(&user, Some("10.81.0.1")).await;
    let mut ws = crate::messaging::ws_live(&two, &other).await;
    password_change_ends(&user, &other, &mut ws).await;
    one.stop().await;
    two.stop().await;
}
