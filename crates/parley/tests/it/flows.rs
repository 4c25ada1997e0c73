//! Helpers that drive the real API the way the browser client does: sign-up with the TOTP code
//! computed from the provisioning secret, sign-in, and small assertions.

use data_encoding::BASE32_NOPAD;
use parley::service::totp;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{CAPTCHA, TestApp};

/// A fresh browser: its own cookie jar, trusting the test server.
pub fn browser(app: &TestApp) -> Client {
    crate::common::client_trusting(&app.tls_dir().join("ca.pem"), &app.domain, app.addr)
}

pub struct User {
    pub id: String,
    pub username: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub codes: Vec<String>,
    pub client: Client,
    pub csrf: String,
    /// The session cookie's value (for WebSocket tests, which need it by hand).
    pub cookie: String,
}

pub async fn body(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn captcha(app: &TestApp, client: &Client) -> String {
    let (status, b) = body(client.get(app.url("/api/captcha")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{b}");
    b["id"].as_str().unwrap().to_string()
}

/// The TOTP code for the app's current time plus `steps`.
pub fn code(app: &TestApp, secret: &[u8], steps: i64) -> String {
    let step = totp::step_at(app.state().clock.now()) + steps;
    format!("{:06}", totp::code_at_step(secret, step))
}

/// Move the clock to the next 30-second step so a fresh TOTP code exists.
pub fn next_step(app: &TestApp) {
    app.state().clock.advance(totp::PERIOD);
}

pub async fn register_start(
    app: &TestApp,
    client: &Client,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    let id = captcha(app, client).await;
    body(
        client
            .post(app.url("/api/register"))
            .json(&json!({
                "username": username, "password": password, "password_confirm": password,
                "captcha_id": id, "captcha_answer": CAPTCHA,
            }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The whole sign-up; panics with the server's answer if any step fails.
pub async fn register(app: &TestApp, username: &str, password: &str) -> User {
    let client = browser(app);
    let (status, b) = register_start(app, &client, username, password).await;
    assert_eq!(status, 201, "register: {b}");
    let secret = BASE32_NOPAD
        .decode(b["totp"]["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let (status, b) = body(
        client
            .post(app.url("/api/register/totp"))
            .json(&json!({"code": code(app, &secret, 0)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "register/totp: {b}");
    let codes: Vec<String> = serde_json::from_value(b["recovery_codes"].clone()).unwrap();
    let res = client
        .post(app.url("/api/register/finish"))
        .json(&json!({"saved": true}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res);
    let (status, b) = body(res).await;
    assert_eq!(status, 201, "register/finish: {b}");
    User {
        id: b["user"]["id"].as_str().unwrap().into(),
        username: username.into(),
        password: password.into(),
        secret,
        codes,
        client,
        csrf: b["csrf_token"].as_str().unwrap().into(),
        cookie,
    }
}

/// The value of the session cookie a response sets.
pub fn session_cookie(res: &Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-parley_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// Step 1 of sign-in, with a fresh CAPTCHA, optionally from a given client address (sent as
/// `X-Forwarded-For`, believed only when the test trusts 127.0.0.1 as a proxy).
pub async fn login_password(
    app: &TestApp,
    client: &Client,
    username: &str,
    password: &str,
    ip: Option<&str>,
) -> (StatusCode, Value) {
    let mut cap = client.get(app.url("/api/captcha"));
    if let Some(ip) = ip {
        cap = cap.header("x-forwarded-for", ip);
    }
    let (_, c) = body(cap.send().await.unwrap()).await;
    let mut req = client.post(app.url("/api/login")).json(&json!({
        "username": username, "password": password,
        "captcha_id": c["id"], "captcha_answer": CAPTCHA,
    }));
    if let Some(ip) = ip {
        req = req.header("x-forwarded-for", ip);
    }
    body(req.send().await.unwrap()).await
}

pub async fn second_factor(
    app: &TestApp,
    client: &Client,
    kind: &str,
    code: &str,
) -> (StatusCode, Value) {
    body(
        client
            .post(app.url(&format!("/api/login/{kind}")))
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A complete sign-in in a new browser with a fresh TOTP step; returns (client, csrf).
pub async fn login(app: &TestApp, user: &User) -> (Client, String) {
    let client = browser(app);
    let (status, b) = login_password(app, &client, &user.username, &user.password, None).await;
    assert_eq!(status, 200, "login: {b}");
    next_step(app);
    let (status, b) = second_factor(app, &client, "totp", &code(app, &user.secret, 0)).await;
    assert_eq!(status, 200, "login/totp: {b}");
    (client, b["csrf_token"].as_str().unwrap().to_string())
}

pub async fn me(app: &TestApp, client: &Client) -> (StatusCode, Value) {
    body(client.get(app.url("/api/me")).send().await.unwrap()).await
}

/// A state-changing call with the CSRF token.
pub async fn post(
    app: &TestApp,
    client: &Client,
    csrf: &str,
    path: &str,
    payload: Value,
) -> (StatusCode, Value) {
    body(
        client
            .post(app.url(path))
            .header("x-csrf-token", csrf)
            .json(&payload)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub fn assert_error(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
}
