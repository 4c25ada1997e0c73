//! The sign-up both benchmarks (`auth_bench`, `relay_bench`) do through the real API, as the
//! browser does it: CAPTCHA, password, the TOTP code computed from the provisioning secret, and
//! "saved" the recovery codes. Included by each with `#[path = "common/sign_up.rs"] mod sign_up;`.

use parley_api::{CodeBody, RegisterFinish, RegisterStart, RegistrationStarted, SignedIn};

/// The password of every benchmark account.
pub const PW: &str = "violet lantern 42 orbit";

/// A signed-up account's session.
#[allow(dead_code, reason = "auth_bench reads only the id")]
pub struct SignedUp {
    pub id: String,
    pub csrf: String,
    /// The session cookie's value (for WebSockets, which need it by hand).
    pub cookie: String,
}

/// Sign `username` up on the server at `base` (whose test CAPTCHA answer is `captcha`), the
/// CAPTCHA and the first step from client address `ip` (`X-Forwarded-For`, believed when the
/// server trusts 127.0.0.1 as a proxy) so that per-IP buckets do not throttle a benchmark.
pub async fn sign_up(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    ip: &str,
    captcha: &str,
) -> SignedUp {
    let cap: parley_api::Captcha = client
        .get(format!("{base}/api/captcha"))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = client
        .post(format!("{base}/api/register"))
        .header("x-forwarded-for", ip)
        .json(&RegisterStart {
            username: username.into(),
            password: PW.into(),
            password_confirm: PW.into(),
            captcha_id: Some(cap.id),
            captcha_answer: Some(captcha.into()),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "register: {}", res.text().await.unwrap());
    let started: RegistrationStarted = res.json().await.unwrap();
    let secret = data_encoding::BASE32_NOPAD
        .decode(started.totp.secret.as_bytes())
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = format!(
        "{:06}",
        parley::service::totp::code_at_step(&secret, parley::service::totp::step_at(now))
    );
    let res = client
        .post(format!("{base}/api/register/totp"))
        .json(&CodeBody { code })
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "totp: {}", res.text().await.unwrap());
    let res = client
        .post(format!("{base}/api/register/finish"))
        .json(&RegisterFinish { saved: true })
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-parley_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let signed_in: SignedIn = res.json().await.unwrap();
    SignedUp {
        id: signed_in.user.id,
        csrf: signed_in.csrf_token,
        cookie,
    }
}
