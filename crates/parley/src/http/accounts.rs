//! Routes for registration, sign-in, sessions and authenticator management (docs/api.md).
//! Handlers translate HTTP to `service::accounts` and back.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::{AppError, AppResult};
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;
use crate::http::AppState;
use crate::http::auth::{AuthSession, PassiveSession, PendingSession, cookie};
use crate::http::json::Json;
use crate::service::accounts::{Client, Factor, SecondFactor};
use crate::service::sessions::{self, COOKIE, NewSession};

pub const REGISTRATION_COOKIE: &str = "__Host-parley_registration";

/// A JSON response that also sets cookies.
fn with_cookies(status: StatusCode, body: Value, cookies: &[String]) -> Response {
    let mut res = (status, Json(body)).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn user_json(u: &UserRow) -> Value {
    json!({"id": u.id, "username": u.username, "created_at": u.created_at})
}

fn session_json(s: &SessionRow) -> Value {
    json!({
        "id": s.public_id,
        "created_at": s.created_at,
        "idle_expires_at": sessions::idle_expires_at(s),
        "absolute_expires_at": sessions::absolute_expires_at(s),
    })
}

// ---- CAPTCHA and password feedback ------------------------------------------------------

pub async fn captcha(State(state): State<AppState>, client: Client) -> AppResult<Response> {
    let (id, image) = state.accounts.new_captcha(&client).await?;
    Ok(
        Json(json!({"id": id, "image": image, "expires_in": crate::service::captcha::TTL_SECS}))
            .into_response(),
    )
}

/// `GET /api/captcha/{id}/audio`: the same challenge, spoken (WAV).
pub async fn captcha_audio(
    State(state): State<AppState>,
    client: Client,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> AppResult<Response> {
    let wav = state.accounts.captcha_audio(&id, &client).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "audio/wav"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        wav,
    )
        .into_response())
}

/// A refused sign-up or sign-in says whether its CAPTCHA can still be used: `"captcha":
/// "kept"` when the request was refused before the challenge was checked.
async fn refused(state: &AppState, captcha_id: Option<&str>, e: AppError) -> Response {
    if matches!(e, AppError::CaptchaFailed) || !state.accounts.captcha_kept(captcha_id).await {
        return e.into_response();
    }
    e.into_response_with(json!({"captcha": "kept"}))
}

#[derive(Deserialize)]
pub struct PasswordCheck {
    password: String,
    #[serde(default)]
    username: String,
}

pub async fn password_check(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<PasswordCheck>,
) -> AppResult<Response> {
    let f = state
        .accounts
        .password_feedback(&body.password, &body.username, &client)
        .await?;
    Ok(Json(f).into_response())
}

// ---- registration ------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct RegisterStart {
    username: String,
    password: String,
    password_confirm: String,
    captcha_id: Option<String>,
    captcha_answer: Option<String>,
}

pub async fn register_start(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<RegisterStart>,
) -> AppResult<Response> {
    let started = state
        .accounts
        .register_start(
            &b.username,
            &b.password,
            &b.password_confirm,
            b.captcha_id.as_deref(),
            b.captcha_answer.as_deref(),
            &client,
        )
        .await;
    let (token, totp, expires_at, username) = match started {
        Ok(s) => s,
        Err(e) => return Ok(refused(&state, b.captcha_id.as_deref(), e).await),
    };
    Ok(with_cookies(
        StatusCode::CREATED,
        json!({"stage": "totp", "username": username, "expires_at": expires_at, "totp": totp}),
        &[sessions::cookie(REGISTRATION_COOKIE, &token)],
    ))
}

pub async fn register_state(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let reg = state
        .accounts
        .registration(cookie(&headers, REGISTRATION_COOKIE))
        .await?;
    Ok(
        Json(json!({"stage": reg.stage, "username": reg.username, "expires_at": reg.expires_at}))
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct CodeBody {
    code: String,
}

pub async fn register_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(b): Json<CodeBody>,
) -> AppResult<Response> {
    let codes = state
        .accounts
        .register_totp(cookie(&headers, REGISTRATION_COOKIE), &b.code)
        .await?;
    Ok(Json(json!({"stage": "recovery", "recovery_codes": codes})).into_response())
}

#[derive(Deserialize)]
pub struct Finish {
    saved: bool,
}

pub async fn register_finish(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(b): Json<Finish>,
) -> AppResult<Response> {
    if !b.saved {
        return Err(AppError::validation(
            "saved",
            "confirm that you have saved your recovery codes",
        ));
    }
    let (user, session) = state
        .accounts
        .register_finish(cookie(&headers, REGISTRATION_COOKIE), &client)
        .await?;
    Ok(signed_in(
        StatusCode::CREATED,
        &user,
        &session,
        json!({}),
        &[sessions::clear_cookie(REGISTRATION_COOKIE)],
    ))
}

fn signed_in(
    status: StatusCode,
    user: &UserRow,
    s: &NewSession,
    extra: Value,
    cookies: &[String],
) -> Response {
    let mut body = json!({
        "user": user_json(user),
        "csrf_token": s.row.csrf_token,
        "session": session_json(&s.row),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let mut all = vec![sessions::cookie(COOKIE, &s.token)];
    all.extend_from_slice(cookies);
    with_cookies(status, body, &all)
}

// ---- sign-in ------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
    captcha_id: Option<String>,
    captcha_answer: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(b): Json<Login>,
) -> AppResult<Response> {
    // Any session this browser had ends here: a login always starts from nothing (fixation).
    if let Some(old) = cookie(&headers, COOKIE) {
        end_session(&state, &crate::service::crypto::token_hash(old)).await?;
    }
    let pending = match state
        .accounts
        .login(
            &b.username,
            &b.password,
            b.captcha_id.as_deref(),
            b.captcha_answer.as_deref(),
            &client,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return Ok(refused(&state, b.captcha_id.as_deref(), e).await),
    };
    Ok(with_cookies(
        StatusCode::OK,
        json!({"stage": "second_factor", "methods": ["totp", "recovery"]}),
        &[sessions::cookie(COOKIE, &pending.token)],
    ))
}

pub async fn login_totp(
    State(state): State<AppState>,
    client: Client,
    PendingSession(pending): PendingSession,
    Json(b): Json<CodeBody>,
) -> AppResult<Response> {
    second_step(&state, &pending, Factor::Totp, &b.code, &client).await
}

pub async fn login_recovery(
    State(state): State<AppState>,
    client: Client,
    PendingSession(pending): PendingSession,
    Json(b): Json<CodeBody>,
) -> AppResult<Response> {
    second_step(&state, &pending, Factor::Recovery, &b.code, &client).await
}

/// The second sign-in step, either factor; after a recovery code the answer urges a new set.
async fn second_step(
    state: &AppState,
    pending: &SessionRow,
    factor: Factor,
    code: &str,
    client: &Client,
) -> AppResult<Response> {
    let (user, session) = state
        .accounts
        .login_second_factor(pending, factor, code, client)
        .await?;
    let remaining = state.accounts.recovery_codes_remaining(&user.id).await?;
    let mut extra = json!({"recovery_codes_remaining": remaining});
    if factor == Factor::Recovery {
        extra["warning"] = json!(format!(
            "You used a recovery code; {remaining} remain. Each works only once — make a new \
             set on your account page soon."
        ));
    }
    Ok(signed_in(StatusCode::OK, &user, &session, extra, &[]))
}

// ---- session ------------------------------------------------------------------------------

pub async fn me(
    State(state): State<AppState>,
    PassiveSession(auth): PassiveSession,
) -> AppResult<Response> {
    let remaining = state
        .accounts
        .recovery_codes_remaining(&auth.user.id)
        .await?;
    Ok(Json(json!({
        "user": user_json(&auth.user),
        "csrf_token": auth.session.csrf_token,
        "session": session_json(&auth.session),
        "recovery_codes_remaining": remaining,
        "must_change_password": auth.user.must_change_password,
        "now": state.clock.now(),
        "crypto_console_log": state.config.crypto_console_log,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct PasswordBody {
    password: String,
}

pub async fn reauth(
    State(state): State<AppState>,
    client: Client,
    PassiveSession(auth): PassiveSession,
    Json(b): Json<PasswordBody>,
) -> AppResult<Response> {
    // Only a correct password extends the session (7.2-extend-by-prompt): the request itself
    // is passive, so a wrong one leaves the idle deadline where it was.
    state
        .accounts
        .check_password(&auth.user, &b.password, &client)
        .await?;
    state
        .db
        .touch_session(&auth.session.id_hash, state.clock.now())
        .await?;
    let s = state
        .db
        .session_by_hash(&auth.session.id_hash)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(Json(json!({"session": session_json(&s)})).into_response())
}

/// Invalidate a session server-side and tell its WebSockets to close.
pub async fn end_session(state: &AppState, id_hash: &str) -> AppResult<()> {
    state.db.delete_session(id_hash).await?;
    session_ended(state, id_hash.to_owned()).await;
    Ok(())
}

/// Close the WebSockets of sessions ended by a credential change (issue 9 item 3), on every
/// instance.
async fn sessions_ended(state: &AppState, hashes: Vec<String>) {
    for h in hashes {
        session_ended(state, h).await;
    }
}

async fn session_ended(state: &AppState, session: String) {
    state
        .events
        .publish(crate::service::realtime::Event::SessionEnded { session })
        .await;
}

pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
) -> AppResult<Response> {
    end_session(&state, &auth.session.id_hash).await?;
    state
        .accounts
        .event(&auth.user.id, "logout", &client, "")
        .await?;
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        Value::Null,
        &[sessions::clear_cookie(COOKIE)],
    )
    .into_response_no_body())
}

trait NoBody {
    fn into_response_no_body(self) -> Response;
}

impl NoBody for Response {
    fn into_response_no_body(self) -> Response {
        let (parts, _) = self.into_parts();
        Response::from_parts(parts, axum::body::Body::empty())
    }
}

pub async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Response> {
    let list: Vec<Value> = state
        .db
        .sessions_of(&auth.user.id)
        .await?
        .iter()
        .map(|s| {
            json!({
                "id": s.public_id,
                "created_at": s.created_at,
                "last_active_at": s.last_active_at,
                "user_agent": s.user_agent,
                "ip": s.ip,
                "current": s.id_hash == auth.session.id_hash,
            })
        })
        .collect();
    Ok(Json(json!({"sessions": list})).into_response())
}

pub async fn revoke_session(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let hash = state
        .db
        .delete_session_by_public_id(&auth.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    session_ended(&state, hash).await;
    state
        .accounts
        .event(&auth.user.id, "session_revoked", &client, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn revoke_all(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
) -> AppResult<Response> {
    for hash in state.db.delete_sessions_of(&auth.user.id).await? {
        session_ended(&state, hash).await;
    }
    state
        .accounts
        .event(&auth.user.id, "session_revoked", &client, "all")
        .await?;
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        Value::Null,
        &[sessions::clear_cookie(COOKIE)],
    )
    .into_response_no_body())
}

// ---- managing authenticators -------------------------------------------------------------

#[derive(Deserialize)]
pub struct ChangePassword {
    password: String,
    new_password: String,
    new_password_confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<ChangePassword>,
) -> AppResult<Response> {
    let ended = state
        .accounts
        .change_password(
            &auth.user,
            &b.password,
            &b.new_password,
            &b.new_password_confirm,
            &client,
            &auth.session.id_hash,
        )
        .await?;
    sessions_ended(&state, ended).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct Sensitive {
    password: String,
    #[serde(flatten)]
    second: SecondFactor,
}

async fn reauthenticate(
    state: &AppState,
    auth: &AuthSession,
    b: &Sensitive,
    client: &Client,
) -> AppResult<()> {
    state
        .accounts
        .check_password(&auth.user, &b.password, client)
        .await?;
    state
        .accounts
        .check_second_factor(&auth.user, &b.second, client)
        .await
}

pub async fn totp_start(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<Sensitive>,
) -> AppResult<Response> {
    reauthenticate(&state, &auth, &b, &client).await?;
    let totp = state.accounts.totp_start(&auth.user).await?;
    Ok(Json(json!({"totp": totp})).into_response())
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<CodeBody>,
) -> AppResult<Response> {
    let ended = state
        .accounts
        .totp_confirm(&auth.user, &b.code, &client, &auth.session.id_hash)
        .await?;
    sessions_ended(&state, ended).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn recovery_codes(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<Sensitive>,
) -> AppResult<Response> {
    reauthenticate(&state, &auth, &b, &client).await?;
    let (codes, ended) = state
        .accounts
        .regenerate_recovery_codes(&auth.user, &client, &auth.session.id_hash)
        .await?;
    sessions_ended(&state, ended).await;
    Ok(Json(json!({"recovery_codes": codes})).into_response())
}

pub async fn delete_account(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<Sensitive>,
) -> AppResult<Response> {
    reauthenticate(&state, &auth, &b, &client).await?;
    let hashes = state.db.delete_sessions_of(&auth.user.id).await?;
    let peers = state.db.contacts_of(&auth.user.id).await?;
    state
        .db
        .tombstone_user(&auth.user.id, state.clock.now())
        .await?;
    for h in hashes {
        session_ended(&state, h).await;
    }
    if !peers.is_empty() {
        state
            .events
            .publish(crate::service::realtime::Event::AccountDeleted {
                user_id: auth.user.id.clone(),
                to: peers,
            })
            .await;
    }
    tracing::info!("an account was deleted");
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        Value::Null,
        &[sessions::clear_cookie(COOKIE)],
    )
    .into_response_no_body())
}

pub async fn security_log(State(state): State<AppState>, auth: AuthSession) -> AppResult<Response> {
    let events = state.db.security_events(&auth.user.id, 200).await?;
    Ok(Json(json!({"events": events})).into_response())
}

pub async fn authenticators(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Response> {
    let list: Vec<Value> = state
        .db
        .authenticators(&auth.user.id)
        .await?
        .into_iter()
        .map(|(kind, created_at, revoked_at)| {
            json!({
                "kind": kind,
                "created_at": created_at,
                "revoked_at": revoked_at,
                "status": if revoked_at.is_some() { "replaced" } else { "active" },
            })
        })
        .collect();
    Ok(Json(json!({"authenticators": list})).into_response())
}

// ---- test hook ------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct Advance {
    advance_secs: i64,
}

/// `POST /api/test/clock`, mounted only with `test_clock = true`.
pub async fn advance_clock(
    State(state): State<AppState>,
    Json(b): Json<Advance>,
) -> AppResult<Response> {
    if !(0..=400 * 86_400).contains(&b.advance_secs) {
        return Err(AppError::validation("advance_secs", "0 to 400 days"));
    }
    state.clock.advance(b.advance_secs);
    Ok(Json(json!({"now": state.clock.now()})).into_response())
}
