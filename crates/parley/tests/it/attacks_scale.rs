//! Issue 9 (auth side) across two instances on one PostgreSQL database: the count before
//! verifying holds when a burst is split between instances, and a password change closes the
//! other sessions' sockets on the other instance at once.
//!
//! Always PostgreSQL: `PARLEY_TEST_DATABASE_URL`, or the local server at 127.0.0.1:5432.

use reqwest::Client;
use serde_json::json;

use crate::attacks::{
    PW, addr, burst, captcha_from, expect_closed, login_from, post_from, tally, wrong_code,
};
use crate::common::{CAPTCHA, TestApp, base_args, spawn_with};
use crate::flows::*;

async fn instance(database_url: &str, pepper: &str, totp_key: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let args = base_args(dir.path());
    let (db, pepper, totp_key) = (
        database_url.to_owned(),
        pepper.to_owned(),
        totp_key.to_owned(),
    );
    spawn_with(dir, args, move |c| {
        c.database_url = Some(parley::core::secret::Secret::new(db));
        c.pepper = Some(parley::core::secret::Secret::new(pepper));
        c.totp_key = Some(parley::core::secret::Secret::new(totp_key));
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
}

async fn two_instances() -> (TestApp, TestApp) {
    let url = crate::scale::fresh_database().await;
    let key = |b: u8| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [b; 32]);
    let one = instance(&url, &key(5), &key(6)).await;
    let two = instance(&url, &key(5), &key(6)).await;
    (one, two)
}

/// The client of `app` that trusts it, for a cookie jar shared across both instances (the
/// same host name and cookies, another address).
fn via(app: &TestApp, jar: &std::sync::Arc<reqwest::cookie::Jar>) -> Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(crate::common::tls_config_trusting(
            &app.tls_dir().join("ca.pem"),
        ))
        .resolve(&app.domain, app.addr)
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn issue9_item1_two_instances_count_every_attempt_once() {
    let (one, two) = two_instances().await;
    let user = register(&one, "alice", PW).await;
    let apps = [&one, &two];

    // Re-auth guesses with Alice's full session, half on each instance.
    let (b1, b2) = (browser(&one), browser(&two));
    let got = burst(16, |i| {
        let (app, cl) = if i % 2 == 0 { (&one, &b1) } else { (&two, &b2) };
        let user = &user;
        async move {
            body(
                cl.post(app.url("/api/session/reauth"))
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
    eprintln!("two instances, re-auth burst of 16: {got:?}");
    assert_eq!(
        got,
        tally(&[("invalid_credentials", 5), ("rate_limited", 11)])
    );
    // The delay over, the right password resets the per-name count.
    one.state().clock.advance(31);
    two.state().clock.advance(31);
    let r = body(
        b2.post(two.url("/api/session/reauth"))
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
    let clients: Vec<Client> = (0..16).map(|i| browser(apps[i % 2])).collect();
    let ids = futures_util::future::join_all((0..16).map(|i| {
        let clients = &clients;
        async move { captcha_from(apps[i % 2], &clients[i], &addr(i)).await }
    }))
    .await;
    let got = burst(16, |i| {
        let (app, cl, id) = (apps[i % 2], &clients[i], ids[i].clone());
        async move {
            post_from(
                app,
                cl,
                "/api/login",
                &addr(i),
                None,
                json!({"username": "alice", "password": "wrong password entirely",
                       "captcha_id": id, "captcha_answer": CAPTCHA}),
            )
            .await
        }
    })
    .await;
    eprintln!("two instances, password burst of 16: {got:?}");
    assert_eq!(
        got,
        tally(&[("invalid_credentials", 5), ("rate_limited", 11)])
    );

    // TOTP guesses on one pending session, half on each instance.
    two.state().clock.advance(3601);
    one.state().clock.advance(3601);
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let (c1, c2) = (via(&one, &jar), via(&two, &jar));
    let r = login_from(&one, &c1, "alice", PW, "10.80.0.1").await;
    assert_eq!(r.0, 200, "{}", r.1);
    let wrong = wrong_code(&one, &user.secret);
    let got = burst(16, |i| {
        let (app, cl, wrong) = if i % 2 == 0 {
            (&one, &c1, wrong.clone())
        } else {
            (&two, &c2, wrong.clone())
        };
        async move {
            post_from(
                app,
                cl,
                "/api/login/totp",
                &addr(100 + i),
                None,
                json!({"code": wrong}),
            )
            .await
        }
    })
    .await;
    eprintln!("two instances, TOTP burst of 16: {got:?}");
    assert_eq!(got, tally(&[("invalid_code", 5), ("rate_limited", 11)]));

    // Recovery-code guesses on the same pending session, half on each instance.
    let got = burst(16, |i| {
        let (app, cl) = if i % 2 == 0 { (&one, &c1) } else { (&two, &c2) };
        async move {
            post_from(
                app,
                cl,
                "/api/login/recovery",
                &addr(200 + i),
                None,
                json!({"code": "aaaa-bbbb-cccc-dddd"}),
            )
            .await
        }
    })
    .await;
    eprintln!("two instances, recovery-code burst of 16: {got:?}");
    assert_eq!(got, tally(&[("invalid_code", 5), ("rate_limited", 11)]));

    // Registration codes on one sign-up, half on each instance: 10 are tried, no more.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let (r1, r2) = (via(&one, &jar), via(&two, &jar));
    let (status, b) = register_start(&one, &r1, "bobby", PW).await;
    assert_eq!(status, 201, "{b}");
    let secret = data_encoding::BASE32_NOPAD
        .decode(b["totp"]["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let wrong = wrong_code(&one, &secret);
    let got = burst(16, |i| {
        let (app, cl, wrong) = if i % 2 == 0 {
            (&one, &r1, wrong.clone())
        } else {
            (&two, &r2, wrong.clone())
        };
        async move {
            post_from(
                app,
                cl,
                "/api/register/totp",
                &addr(400 + i),
                None,
                json!({"code": wrong}),
            )
            .await
        }
    })
    .await;
    eprintln!("two instances, registration-code burst of 16: {got:?}");
    assert_eq!(
        got,
        tally(&[("invalid_code", 10), ("registration_expired", 6)])
    );
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn issue9_item3_password_change_closes_sockets_on_the_other_instance() {
    let (one, two) = two_instances().await;
    let user = register(&one, "alice", PW).await;
    // Another session of Alice's, with its socket on instance 2.
    let other = register_session_on(&two, &user).await;
    let mut ws = crate::messaging::ws_connect(&two, &other).await;
    crate::messaging::backlog(&mut ws).await;
    let new = "amber falcon 77 drift";
    let r = post(
        &one,
        &user.client,
        &user.csrf,
        "/api/account/password",
        json!({"password": PW, "new_password": new, "new_password_confirm": new}),
    )
    .await;
    assert_eq!(r.0, 204, "{}", r.1);
    expect_closed(&mut ws, std::time::Duration::from_secs(5)).await;
    assert_error(&me(&two, &other.client).await, 401, "unauthorized");
    one.stop().await;
    two.stop().await;
}

/// A full sign-in of `user` through instance `app`.
async fn register_session_on(app: &TestApp, user: &User) -> User {
    let client = browser(app);
    let (status, b) = login_from(app, &client, &user.username, &user.password, "10.81.0.1").await;
    assert_eq!(status, 200, "{b}");
    next_step(app);
    let res = client
        .post(app.url("/api/login/totp"))
        .json(&json!({"code": code(app, &user.secret, 0)}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res);
    let (status, b) = body(res).await;
    assert_eq!(status, 200, "{b}");
    User {
        id: user.id.clone(),
        username: user.username.clone(),
        password: user.password.clone(),
        secret: user.secret.clone(),
        codes: user.codes.clone(),
        client,
        csrf: b["csrf_token"].as_str().unwrap().to_string(),
        cookie,
    }
}
