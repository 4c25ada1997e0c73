//! Helpers that drive the real API the way the browser client does, so tests read as
//! specifications: `app.register("alice")` signs a user up (CAPTCHA, TOTP from the provisioning
//! secret, recovery codes), `user.post(path, body)` sends a state-changing request with the
//! session's CSRF token, `user.get_json::<parley_api::Me>("/api/me")` reads a typed answer.
//!
//! A [`Browser`] is one cookie jar trusting the test server plus the CSRF token of its session
//! (empty before sign-in); a [`User`] is a signed-up account and the browser it signed up in.

use std::ops::Deref;

use data_encoding::BASE32_NOPAD;
use parley::service::totp;
use reqwest::{Client, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

    /// `GET path`: the response itself, for its headers.
    pub async fn fetch(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
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
        let mut req = self.client.post(self.url(path)).json(&payload);
        if !self.csrf.is_empty() {
            req = req.header("x-csrf-token", &self.csrf);
        }
        body(req.send().await.unwrap()).await
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

    /// A POST from client address `ip` (sent as `X-Forwarded-For`, believed only when the test
    /// trusts 127.0.0.1 as a proxy).
    pub async fn post_from(&self, ip: &str, path: &str, payload: impl Serialize) -> Reply {
        let mut req = self
            .client
            .post(self.url(path))
            .header("x-forwarded-for", ip)
            .json(&payload);
        if !self.csrf.is_empty() {
            req = req.header("x-csrf-token", &self.csrf);
        }
        body(req.send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        body(
            self.client
                .delete(self.url(path))
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

    /// A fresh CAPTCHA id, optionally fetched from client address `ip`.
    pub async fn captcha_from(&self, ip: Option<&str>) -> String {
        let mut req = self.client.get(self.url("/api/captcha"));
        if let Some(ip) = ip {
            req = req.header("x-forwarded-for", ip);
        }
        let c: parley_api::Captcha = parse(&body(req.send().await.unwrap()).await, 200);
        c.id
    }

    pub async fn captcha(&self) -> String {
        self.captcha_from(None).await
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

    /// Step 1 of sign-in, with a fresh CAPTCHA.
    pub async fn login_password(&self, username: &str, password: &str) -> Reply {
        self.login_password_from(username, password, None).await
    }

    /// Step 1 of sign-in, with a fresh CAPTCHA, optionally from client address `ip`.
    pub async fn login_password_from(
        &self,
        username: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Reply {
        let login = self.login_body(username, password, ip).await;
        match ip {
            Some(ip) => self.post_from(ip, "/api/login", login).await,
            None => self.post("/api/login", login).await,
        }
    }

    /// The body of step 1 of sign-in, with a CAPTCHA fetched (from `ip`) and solved.
    async fn login_body(
        &self,
        username: &str,
        password: &str,
        ip: Option<&str>,
    ) -> parley_api::Login {
        parley_api::Login {
            username: username.into(),
            password: password.into(),
            captcha_id: Some(self.captcha_from(ip).await),
            captcha_answer: Some(CAPTCHA.into()),
        }
    }

    /// Step 1 of sign-in with a fresh CAPTCHA: the response itself, for its cookie and headers.
    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        let login = self.login_body(username, password, None).await;
        let req = self.client.post(self.url("/api/login")).json(&login);
        req.send().await.unwrap()
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
        self.post(
            &format!("/api/login/{kind}"),
            parley_api::CodeBody { code: code.into() },
        )
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

    /// The whole sign-up with the default password [`PW`].
    pub async fn register(&self, username: &str) -> User {
        self.register_with(username, PW).await
    }

    /// The whole sign-up; panics with the server's answer if any step fails.
    pub async fn register_with(&self, username: &str, password: &str) -> User {
        let mut browser = self.browser();
        let started: parley_api::RegistrationStarted =
            parse(&browser.register_start(username, password).await, 201);
        let secret = BASE32_NOPAD.decode(started.totp.secret.as_bytes()).unwrap();
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

    /// Step 1 of sign-in in a new browser, with a fresh CAPTCHA.
    pub async fn password_step(&self, username: &str, password: &str) -> Reply {
        self.password_step_from(username, password, None).await
    }

    /// Step 1 of sign-in in a new browser, with a fresh CAPTCHA, optionally from client address
    /// `ip`.
    pub async fn password_step_from(
        &self,
        username: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Reply {
        self.browser()
            .login_password_from(username, password, ip)
            .await
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

    /// A complete sign-in in a new browser with a fresh TOTP step.
    pub async fn sign_in(&self, user: &User) -> Browser {
        self.sign_in_from(user, None).await.browser
    }

    /// A complete sign-in in a new browser with a fresh TOTP step, optionally from client
    /// address `ip`: the user as seen from that browser (its own session cookie and token).
    pub async fn sign_in_from(&self, user: &User, ip: Option<&str>) -> User {
        let mut browser = self.browser();
        let r = browser
            .login_password_from(&user.username, &user.password, ip)
            .await;
        assert_eq!(r.0, 200, "login: {}", r.1);
        next_step(self);
        let mut req =
            browser
                .client
                .post(self.url("/api/login/totp"))
                .json(&parley_api::CodeBody {
                    code: code(self, &user.secret, 0),
                });
        if let Some(ip) = ip {
            req = req.header("x-forwarded-for", ip);
        }
        let res = req.send().await.unwrap();
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
    let app = crate::common::spawn_app().await;
    let alice = app.register("alice").await;
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
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-parley_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
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
