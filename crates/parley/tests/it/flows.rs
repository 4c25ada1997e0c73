//! Helpers that drive the real API the way the browser client does, so tests read as
//! specifications: `app.register("alice")` signs a user up (CAPTCHA, TOTP from the provisioning
//! secret, recovery codes), `user.post(path, body)` sends a state-changing request with the
//! session's CSRF token, `user.get_json::<parley_api::Me>("/api/me")` reads a typed answer.
//!
//! A [`Browser`] is one cookie jar trusting the test server plus the CSRF token of its session
//! (empty before sign-in); a [`User`] is a signed-up account and the browser it signed up in.

use std::ops::Deref;

use data_encoding::BASE32_NOPAD;
use futures_util::{SinkExt, StreamExt};
use parley::service::totp;
use parley_api::{ClientFrame, ServerFrame};
use reqwest::{Client, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_tungstenite::tungstenite;

use crate::common::{CAPTCHA, TestApp};

/// The password every test account gets unless a test says otherwise.
pub const PW: &str = "violet lantern 42 orbit";

/// A status and the JSON body (`Value::Null` when the body is not JSON).
pub type Reply = (StatusCode, Value);

/// One browser: its own cookie jar, trusting the test server, and the CSRF token of its
/// session once signed in.
#[derive(Clone)]
pub struct Browser {
    pub client: Client,
    pub csrf: String,
    base: String,
    /// The client address its requests come from (sent as `X-Forwarded-For`, believed only
    /// when the test trusts 127.0.0.1 as a proxy); none: the test's own.
    ip: Option<String>,
}

pub struct User {
    pub id: String,
    pub username: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub codes: Vec<String>,
    /// The session cookie's value (for WebSocket tests, which need it by hand).
    pub cookie: String,
    /// The browser the user signed up in, signed in.
    pub browser: Browser,
}

impl Deref for User {
    type Target = Browser;
    fn deref(&self) -> &Browser {
        &self.browser
    }
}

pub async fn body(res: Response) -> Reply {
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A reply's body as a contract type (parley-api), after checking its status. The body must be
/// exactly that type: serialized again it gives the same JSON (no field the type lacks).
pub fn parse<T: DeserializeOwned + Serialize>(reply: &Reply, status: u16) -> T {
    assert_eq!(reply.0.as_u16(), status, "{}", reply.1);
    let name = std::any::type_name::<T>();
    let typed: T = serde_json::from_value(reply.1.clone())
        .unwrap_or_else(|e| panic!("{e}: not a {name}: {}", reply.1));
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        reply.1,
        "the body is exactly a {name}"
    );
    typed
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::with_client(
            app,
            crate::common::client_trusting(&app.tls_dir().join("ca.pem"), &app.domain, app.addr),
        )
    }

    /// A browser for `app` made of a client built by the test (e.g. a cookie jar shared with
    /// another instance).
    pub fn with_client(app: &TestApp, client: Client) -> Browser {
        Browser {
            client,
            csrf: String::new(),
            base: app.base.clone(),
            ip: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The same cookie jar sending another CSRF token.
    pub fn with_csrf(&self, csrf: &str) -> Browser {
        Browser {
            csrf: csrf.to_string(),
            ..self.clone()
        }
    }

    /// The same cookie jar and CSRF token, its requests coming from client address `ip`.
    pub fn at(&self, ip: &str) -> Browser {
        Browser {
            ip: Some(ip.to_string()),
            ..self.clone()
        }
    }

    /// A request from this browser's address, without its CSRF token.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match &self.ip {
            Some(ip) => req.header("x-forwarded-for", ip),
            None => req,
        }
    }

    /// `GET path`: the response itself, for its headers.
    pub async fn fetch(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        body(self.fetch(path).await).await
    }

    /// `GET path`, which must answer 200 with a `T`.
    pub async fn get_json<T: DeserializeOwned + Serialize>(&self, path: &str) -> T {
        parse(&self.get(path).await, 200)
    }

    /// A state-changing call, with the CSRF token once signed in.
    pub async fn post(&self, path: &str, payload: impl Serialize) -> Reply {
        body(self.post_response(path, payload).await).await
    }

    /// [`post`](Self::post): the response itself, for its cookie and headers.
    pub async fn post_response(&self, path: &str, payload: impl Serialize) -> Response {
        let mut req = self.request(reqwest::Method::POST, path).json(&payload);
        if !self.csrf.is_empty() {
            req = req.header("x-csrf-token", &self.csrf);
        }
        req.send().await.unwrap()
    }

    /// A POST that must answer `status` with a `T`.
    pub async fn post_json<T: DeserializeOwned + Serialize>(
        &self,
        path: &str,
        payload: impl Serialize,
        status: u16,
    ) -> T {
        parse(&self.post(path, payload).await, status)
    }

    pub async fn delete(&self, path: &str) -> Reply {
        body(
            self.request(reqwest::Method::DELETE, path)
                .header("x-csrf-token", &self.csrf)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn me(&self) -> Reply {
        self.get("/api/me").await
    }

    /// `GET /api/me`, which must succeed.
    pub async fn me_json(&self) -> parley_api::Me {
        self.get_json("/api/me").await
    }

    /// A fresh CAPTCHA id.
    pub async fn captcha(&self) -> String {
        let c: parley_api::Captcha = self.get_json("/api/captcha").await;
        c.id
    }

    /// Step 1 of sign-up, with a fresh CAPTCHA.
    pub async fn register_start(&self, username: &str, password: &str) -> Reply {
        let id = self.captcha().await;
        self.post(
            "/api/register",
            parley_api::RegisterStart {
                username: username.into(),
                password: password.into(),
                password_confirm: password.into(),
                captcha_id: Some(id),
                captcha_answer: Some(CAPTCHA.into()),
            },
        )
        .await
    }

    /// Step 1 of sign-up, which must start the registration (201): its TOTP secret.
    pub async fn sign_up_started(&self, username: &str, password: &str) -> Vec<u8> {
        let started: parley_api::RegistrationStarted =
            parse(&self.register_start(username, password).await, 201);
        BASE32_NOPAD.decode(started.totp.secret.as_bytes()).unwrap()
    }

    /// Step 1 of sign-in, with a fresh CAPTCHA.
    pub async fn login_password(&self, username: &str, password: &str) -> Reply {
        body(self.login_response(username, password).await).await
    }

    /// Step 1 of sign-in with a fresh CAPTCHA: the response itself, for its cookie and headers.
    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        let login = parley_api::Login {
            username: username.into(),
            password: password.into(),
            captcha_id: Some(self.captcha().await),
            captcha_answer: Some(CAPTCHA.into()),
        };
        self.post_response("/api/login", login).await
    }

    /// `POST /api/account/password` from `password` to `new`.
    pub async fn change_password(&self, password: &str, new: &str) -> Reply {
        let change = parley_api::ChangePassword {
            password: password.into(),
            new_password: new.into(),
            new_password_confirm: new.into(),
        };
        self.post("/api/account/password", change).await
    }

    /// Send `payload` to the user with id `peer`.
    pub async fn send_to(&self, peer: &str, payload: Value) -> Reply {
        self.post(
            &format!("/api/conversations/{peer}/messages"),
            parley_api::SendMessage { payload },
        )
        .await
    }

    /// Step 2 of sign-in: `kind` is `totp` or `recovery`.
    pub async fn second_factor(&self, kind: &str, code: &str) -> Reply {
        self.post_code(&format!("/api/login/{kind}"), code).await
    }

    /// A TOTP or recovery `code` posted to `path`.
    pub async fn post_code(&self, path: &str, code: &str) -> Reply {
        self.post(path, parley_api::CodeBody { code: code.into() })
            .await
    }
}

impl User {
    /// Send `payload` (an `ecdh`, `msg` or `change` payload) to `to`.
    pub async fn send_message(&self, to: &User, payload: Value) -> Reply {
        self.send_to(&to.id, payload).await
    }

    /// Send `payload` to `to`, which must be stored (201): the message as stored.
    pub async fn sent(&self, to: &User, payload: Value) -> parley_api::Message {
        let sent: parley_api::Sent = parse(&self.send_message(to, payload).await, 201);
        sent.message
    }
}

impl TestApp {
    /// A fresh browser: its own cookie jar, trusting the test server, signed in to nothing.
    pub fn browser(&self) -> Browser {
        Browser::new(self)
    }

    /// This server with alice signed up (the default password).
    pub async fn with_alice(self) -> (TestApp, User) {
        let alice = self.register("alice").await;
        (self, alice)
    }

    /// The whole sign-up with the default password [`PW`].
    pub async fn register(&self, username: &str) -> User {
        self.register_with(username, PW).await
    }

    /// The whole sign-up; panics with the server's answer if any step fails.
    pub async fn register_with(&self, username: &str, password: &str) -> User {
        let mut browser = self.browser();
        let secret = browser.sign_up_started(username, password).await;
        let codes: parley_api::RegistrationCodes = browser
            .post_json(
                "/api/register/totp",
                parley_api::CodeBody {
                    code: code(self, &secret, 0),
                },
                200,
            )
            .await;
        let res = browser
            .client
            .post(self.url("/api/register/finish"))
            .json(&parley_api::RegisterFinish { saved: true })
            .send()
            .await
            .unwrap();
        let cookie = session_cookie(&res);
        let signed_in: parley_api::SignedIn = parse(&body(res).await, 201);
        browser.csrf = signed_in.csrf_token;
        User {
            id: signed_in.user.id,
            username: username.into(),
            password: password.into(),
            secret,
            codes: codes.recovery_codes,
            cookie,
            browser,
        }
    }

    /// A fresh browser that passed the password step as alice (200): a second factor is next.
    pub async fn past_password(&self) -> Browser {
        let cl = self.browser();
        let r = cl.login_password("alice", PW).await;
        assert_eq!(r.0, 200, "{}", r.1);
        cl
    }

    /// A fresh browser whose requests come from client address `ip`.
    pub fn browser_at(&self, ip: &str) -> Browser {
        self.browser().at(ip)
    }

    /// Step 1 of sign-in as `username` with a wrong password, in a new browser at client address
    /// `ip`, with a fresh CAPTCHA.
    pub async fn wrong_password_from(&self, username: &str, ip: &str) -> Reply {
        self.browser_at(ip)
            .login_password(username, "wrong password entirely")
            .await
    }

    /// [`wrong_password_from`](Self::wrong_password_from), which must be evaluated and refused
    /// (401 `invalid_credentials`): a counted failure.
    pub async fn failed_password_from(&self, username: &str, ip: &str) {
        let r = self.wrong_password_from(username, ip).await;
        assert_error(&r, 401, "invalid_credentials");
    }

    /// Step 1 of sign-in in a new browser, with a fresh CAPTCHA.
    pub async fn password_step(&self, username: &str, password: &str) -> Reply {
        self.browser().login_password(username, password).await
    }

    /// A sensitive change (`/api/account/delete`, `/api/account/recovery-codes`,
    /// `/api/account/totp/start`) confirmed the usual way: the password and the code of a fresh
    /// TOTP step.
    pub async fn confirm(&self, user: &User, path: &str) -> Reply {
        next_step(self);
        let second = parley_api::SecondFactor {
            totp_code: Some(code(self, &user.secret, 0)),
            recovery_code: None,
        };
        let sensitive = parley_api::Sensitive {
            password: user.password.clone(),
            second,
        };
        user.post(path, sensitive).await
    }

    /// A new TOTP enrolment for `user`, confirmed the usual way ([`confirm`](Self::confirm)),
    /// which must start: its secret.
    pub async fn totp_started(&self, user: &User) -> Vec<u8> {
        let r = self.confirm(user, "/api/account/totp/start").await;
        assert_eq!(r.0, 200, "{}", r.1);
        secret_of(&r.1)
    }

    /// A complete sign-in in a new browser with a fresh TOTP step.
    pub async fn sign_in(&self, user: &User) -> Browser {
        self.sign_in_from(user, None).await.browser
    }

    /// A complete sign-in in a new browser with a fresh TOTP step, optionally from client
    /// address `ip`: the user as seen from that browser (its own session cookie and token).
    pub async fn sign_in_from(&self, user: &User, ip: Option<&str>) -> User {
        // Signed in from `ip`; later requests come from the test's own address.
        let mut browser = self.browser();
        let from = ip.map_or_else(|| browser.clone(), |ip| browser.at(ip));
        let r = from.login_password(&user.username, &user.password).await;
        assert_eq!(r.0, 200, "login: {}", r.1);
        next_step(self);
        let totp = parley_api::CodeBody {
            code: code(self, &user.secret, 0),
        };
        let res = from.post_response("/api/login/totp", totp).await;
        let cookie = session_cookie(&res);
        let signed_in: parley_api::SignedIn = parse(&body(res).await, 200);
        browser.csrf = signed_in.csrf_token;
        User {
            id: user.id.clone(),
            username: user.username.clone(),
            password: user.password.clone(),
            secret: user.secret.clone(),
            codes: user.codes.clone(),
            cookie,
            browser,
        }
    }
}

/// The TOTP secret in a provisioning answer (`{"totp": {"secret": …}}`, a
/// `RegistrationStarted` or a `TotpStarted`).
pub fn secret_of(provisioning: &Value) -> Vec<u8> {
    let secret = provisioning["totp"]["secret"]
        .as_str()
        .expect("a TOTP secret");
    BASE32_NOPAD.decode(secret.as_bytes()).unwrap()
}

/// A fresh server with two people signed up: alice and bobby.
pub async fn alice_and_bob() -> (TestApp, User, User) {
    let (app, alice) = crate::common::spawn_app().await.with_alice().await;
    let bob = app.register("bobby").await;
    (app, alice, bob)
}

/// Mark `user`'s password as compromised (white-box): it must be changed at the next sign-in.
pub async fn must_change_password(app: &TestApp, user: &User) {
    let db = &app.state().db;
    db.set_must_change_password(&user.id).await.unwrap();
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

/// The value of the session cookie a response sets.
pub fn session_cookie(res: &Response) -> String {
    res.cookies()
        .find(|c| c.name() == "__Host-parley_session")
        .expect("a session cookie")
        .value()
        .to_string()
}

/// The reply is error `code` with `status`; its body as the contract's error body.
pub fn assert_error(got: &Reply, status: u16, code: &str) -> parley_api::ErrorBody {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    serde_json::from_value(got.1.clone()).unwrap_or_default()
}

/// Poll `cond` until it holds, or panic after `limit` saying what was awaited: for something the
/// server does in the background, instead of a fixed sleep.
pub async fn wait_until(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// [`wait_until`] for a condition that needs requests to check.
pub async fn wait_for<F, Fut>(what: &str, limit: std::time::Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll(what, limit, || {
        let checked = cond();
        async move { checked.await.then_some(()) }
    })
    .await
}

/// Try `attempt` until it gives a value, or panic after `limit` saying what was awaited.
pub async fn poll<T, F, Fut>(what: &str, limit: std::time::Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

// ---- WebSocket frames (`GET /api/ws`): the contract's types, as for HTTP bodies -------------

/// A test WebSocket to `/api/ws` (opened by `crate::messaging::ws_connect` and friends).
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// What a test socket reads: a frame of the contract (`parley_api::ServerFrame`, the type
/// the server writes), or the server's close frame with its code.
/// (A frame is read, matched and dropped at once: its size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    Frame(ServerFrame),
    Closed(Option<u16>),
}

/// A server frame's text as the contract type. Like [`parse`], it must be exactly that type:
/// serialized again it gives the same JSON. Panics naming the text otherwise.
pub fn server_frame(text: &str) -> ServerFrame {
    let frame: ServerFrame =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: not a ServerFrame: {text}"));
    let raw: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        serde_json::to_value(&frame).unwrap(),
        raw,
        "the frame is exactly a ServerFrame"
    );
    frame
}

/// The next frame or close (skipping pings), with no time limit; `None` once the stream ends
/// without a close frame. Panics on a transport error.
pub async fn read_event(ws: &mut Ws) -> Option<WsEvent> {
    loop {
        match ws.next().await? {
            Ok(tungstenite::Message::Text(t)) => return Some(WsEvent::Frame(server_frame(&t))),
            Ok(tungstenite::Message::Close(c)) => {
                return Some(WsEvent::Closed(c.map(|c| u16::from(c.code))));
            }
            Ok(_) => continue,
            Err(e) => panic!("the WebSocket failed: {e}"),
        }
    }
}

/// The next frame or close within `limit`, or `None` when nothing arrives in that time.
pub async fn event_within(ws: &mut Ws, limit: std::time::Duration) -> Option<WsEvent> {
    let event = tokio::time::timeout(limit, read_event(ws)).await.ok()?;
    Some(event.expect("open"))
}

/// The next frame or close, or panic after 5 s.
pub async fn next_event(ws: &mut Ws) -> WsEvent {
    event_within(ws, std::time::Duration::from_secs(5))
        .await
        .expect("a frame within 5 s")
}

/// The next frame, or panic after 5 s or if the socket closes.
pub async fn next_frame(ws: &mut Ws) -> ServerFrame {
    match next_event(ws).await {
        WsEvent::Frame(f) => f,
        WsEvent::Closed(code) => panic!("the socket closed ({code:?}) where a frame was due"),
    }
}

/// The next frame that `pick` takes, skipping the others (e.g. the echo of one's own
/// message); panics if the socket closes while waiting for `what`.
pub async fn next_where<T>(
    ws: &mut Ws,
    what: &str,
    mut pick: impl FnMut(ServerFrame) -> Option<T>,
) -> T {
    loop {
        match next_event(ws).await {
            WsEvent::Frame(f) => {
                if let Some(got) = pick(f) {
                    return got;
                }
            }
            WsEvent::Closed(code) => panic!("closed ({code:?}) while waiting for {what}"),
        }
    }
}

/// The message of a `message` frame, if it is one.
pub fn pushed(frame: ServerFrame) -> Option<parley_api::Message> {
    match frame {
        ServerFrame::Message { message } => Some(message),
        _ => None,
    }
}

/// The message of a frame that must be a `message` frame.
pub fn message_of(frame: ServerFrame) -> parley_api::Message {
    let text = frame.to_text();
    pushed(frame).unwrap_or_else(|| panic!("not a message frame: {text}"))
}

/// The next `message` frame's message, skipping other frames (receipts).
pub async fn next_message(ws: &mut Ws) -> parley_api::Message {
    next_where(ws, "a message", pushed).await
}

/// Send a client frame (`parley_api::ClientFrame`, the type the server reads); the error
/// of a socket that is going away.
pub async fn try_send_frame(ws: &mut Ws, frame: &ClientFrame) -> Result<(), tungstenite::Error> {
    let text = serde_json::to_string(frame).unwrap();
    ws.send(tungstenite::Message::Text(text.into())).await
}

/// Send a client frame, which must go out.
pub async fn send_frame(ws: &mut Ws, frame: ClientFrame) {
    try_send_frame(ws, &frame).await.unwrap();
}

/// The `ack` frame of message `id`.
pub fn ack_frame(id: i64) -> ClientFrame {
    ClientFrame::Ack {
        id: Some(id),
        ids: vec![],
    }
}

/// Acknowledge message `id`.
pub async fn ack(ws: &mut Ws, id: i64) {
    send_frame(ws, ack_frame(id)).await;
}

/// Close `ws` from the client side and read it to its end, so that its place is free.
pub async fn close_ws(mut ws: Ws) {
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
}

/// A WebSocket handshake that must have been refused (`what` names it): the status, the
/// `Retry-After` header and the body of the refusal.
pub fn refusal(
    handshake: Result<Ws, tungstenite::Error>,
    what: &str,
) -> (u16, Option<String>, Vec<u8>) {
    match handshake {
        Err(tungstenite::Error::Http(res)) => {
            let retry_after = res.headers().get("retry-after");
            let retry_after = retry_after.and_then(|v| v.to_str().ok()).map(String::from);
            let body = res.body().as_deref().unwrap_or_default().to_vec();
            (res.status().as_u16(), retry_after, body)
        }
        other => panic!("{what} was not refused: {:?}", other.map(|_| ())),
    }
}

/// A WebSocket handshake refused `503 busy` (the cap on open sockets) with the contract's
/// error body and a message; the `Retry-After` header.
pub fn refused_busy(handshake: Result<Ws, tungstenite::Error>, what: &str) -> Option<String> {
    let (status, retry_after, body) = refusal(handshake, what);
    assert_eq!(status, 503, "{what}");
    let reply = (
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::from_slice(&body).unwrap(),
    );
    let error: parley_api::ErrorBody = parse(&reply, 503);
    assert_eq!(error.error, "busy", "{error:?}");
    assert!(!error.message.is_empty());
    retry_after
}
