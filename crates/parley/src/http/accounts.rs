//! Routes for registration, sign-in, sessions and authenticator management (docs/api.md).
//! Handlers translate HTTP to `service::accounts` and back.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_api as api;
use parley_api::SecurityEventKind;
use parley_api::limits::CLOCK_ADVANCE_MAX_SECS;

use crate::core::{AppError, AppResult};
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;
use crate::http::AppState;
use crate::http::auth::{AuthSession, PassiveSession, PendingSession, cookie};
use crate::http::json::Json;
use crate::http::openapi::ErrorResponse;
use crate::service::accounts::{Client, Factor};
use crate::service::sessions::{self, COOKIE, NewSession};

pub const REGISTRATION_COOKIE: &str = "__Host-parley_registration";

/// A response that also sets cookies.
fn with_cookies(res: impl IntoResponse, cookies: &[String]) -> Response {
    let mut res = res.into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn user_dto(u: &UserRow) -> api::User {
    api::User {
        id: u.id.clone(),
        username: u.username.clone(),
        created_at: u.created_at,
    }
}

fn session_dto(s: &SessionRow) -> api::Session {
    api::Session {
        id: s.public_id.clone(),
        created_at: s.created_at,
        idle_expires_at: sessions::idle_expires_at(s),
        absolute_expires_at: sessions::absolute_expires_at(s),
    }
}

// ---- CAPTCHA and password feedback ------------------------------------------------------

#[utoipa::path(
    get,
    path = "/captcha",
    tag = "captcha",
    responses((status = 200, description = "A new challenge", body = api::Captcha), ErrorResponse)
)]
pub async fn captcha(
    State(state): State<AppState>,
    client: Client,
) -> AppResult<Json<api::Captcha>> {
    let (id, image) = state.accounts.new_captcha(&client).await?;
    Ok(Json(api::Captcha {
        id,
        image,
        expires_in: crate::service::captcha::TTL_SECS,
    }))
}

/// `GET /api/captcha/{id}/audio`: the same challenge, spoken (WAV).
#[utoipa::path(
    get,
    path = "/captcha/{id}/audio",
    tag = "captcha",
    params(("id" = String, Path, description = "The CAPTCHA id")),
    responses((status = 200, description = "The challenge, spoken (WAV)", content_type = "audio/wav"), ErrorResponse)
)]
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
    e.into_response_with(api::ErrorBody {
        captcha: Some("kept".into()),
        ..api::ErrorBody::default()
    })
}

#[utoipa::path(
    post,
    path = "/password/check",
    tag = "accounts",
    request_body = api::PasswordCheck,
    responses((status = 200, description = "Whether the password would be accepted, and why not", body = api::PasswordFeedback), ErrorResponse)
)]
pub async fn password_check(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<api::PasswordCheck>,
) -> AppResult<Json<api::PasswordFeedback>> {
    let f = state
        .accounts
        .password_feedback(&body.password, &body.username, &client)
        .await?;
    Ok(Json(f))
}

// ---- registration ------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/register",
    tag = "registration",
    request_body = api::RegisterStart,
    responses((status = 201, description = "Registration started; the authenticator is next", body = api::RegistrationStarted), ErrorResponse)
)]
pub async fn register_start(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<api::RegisterStart>,
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
    let body = api::RegistrationStarted {
        stage: api::RegistrationStage::Totp,
        username,
        expires_at,
        totp,
    };
    Ok(with_cookies(
        (StatusCode::CREATED, Json(body)),
        &[sessions::cookie(REGISTRATION_COOKIE, &token)],
    ))
}

#[utoipa::path(
    get,
    path = "/register",
    tag = "registration",
    security(("registration" = [])),
    responses((status = 200, description = "The registration under way", body = api::RegistrationState), ErrorResponse)
)]
pub async fn register_state(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<api::RegistrationState>> {
    let reg = state
        .accounts
        .registration(cookie(&headers, REGISTRATION_COOKIE))
        .await?;
    Ok(Json(api::RegistrationState {
        stage: reg.stage,
        username: reg.username,
        expires_at: reg.expires_at,
    }))
}

#[utoipa::path(
    post,
    path = "/register/totp",
    tag = "registration",
    security(("registration" = [])),
    request_body = api::CodeBody,
    responses((status = 200, description = "The recovery codes, shown once", body = api::RegistrationCodes), ErrorResponse)
)]
pub async fn register_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(b): Json<api::CodeBody>,
) -> AppResult<Json<api::RegistrationCodes>> {
    let codes = state
        .accounts
        .register_totp(cookie(&headers, REGISTRATION_COOKIE), &b.code)
        .await?;
    Ok(Json(api::RegistrationCodes {
        stage: api::RegistrationStage::Recovery,
        recovery_codes: codes,
    }))
}

#[utoipa::path(
    post,
    path = "/register/finish",
    tag = "registration",
    security(("registration" = [])),
    request_body = api::RegisterFinish,
    responses((status = 201, description = "The account exists; signed in", body = api::SignedIn), ErrorResponse)
)]
pub async fn register_finish(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(b): Json<api::RegisterFinish>,
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
        (None, None),
        &[sessions::clear_cookie(REGISTRATION_COOKIE)],
    ))
}

/// The answer to a completed sign-up or sign-in; `extra` is what only a sign-in says: the
/// recovery codes remaining and a warning.
fn signed_in(
    status: StatusCode,
    user: &UserRow,
    s: &NewSession,
    (recovery_codes_remaining, warning): (Option<usize>, Option<String>),
    cookies: &[String],
) -> Response {
    let body = api::SignedIn {
        user: user_dto(user),
        csrf_token: s.row.csrf_token.clone(),
        session: session_dto(&s.row),
        recovery_codes_remaining,
        warning,
    };
    let mut all = vec![sessions::cookie(COOKIE, &s.token)];
    all.extend_from_slice(cookies);
    with_cookies((status, Json(body)), &all)
}

// ---- sign-in ------------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/login",
    tag = "sign-in",
    request_body = api::Login,
    responses((status = 200, description = "Password correct; a second factor is next", body = api::LoginPending), ErrorResponse)
)]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(b): Json<api::Login>,
) -> AppResult<Response> {
    // Any session this browser had ends here: a login always starts from nothing (fixation).
    if let Some(old) = cookie(&headers, COOKIE) {
        state
            .sessions
            .end(&crate::service::crypto::token_hash(old))
            .await?;
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
    let body = api::LoginPending {
        stage: api::LoginStage::SecondFactor,
        methods: vec![
            api::SecondFactorMethod::Totp,
            api::SecondFactorMethod::Recovery,
        ],
    };
    Ok(with_cookies(
        Json(body),
        &[sessions::cookie(COOKIE, &pending.token)],
    ))
}

#[utoipa::path(
    post,
    path = "/login/totp",
    tag = "sign-in",
    security(("session" = [])),
    request_body = api::CodeBody,
    responses((status = 200, description = "Signed in", body = api::SignedIn), ErrorResponse)
)]
pub async fn login_totp(
    State(state): State<AppState>,
    client: Client,
    PendingSession(pending): PendingSession,
    Json(b): Json<api::CodeBody>,
) -> AppResult<Response> {
    second_step(&state, &pending, Factor::Totp, &b.code, &client).await
}

#[utoipa::path(
    post,
    path = "/login/recovery",
    tag = "sign-in",
    security(("session" = [])),
    request_body = api::CodeBody,
    responses((status = 200, description = "Signed in", body = api::SignedIn), ErrorResponse)
)]
pub async fn login_recovery(
    State(state): State<AppState>,
    client: Client,
    PendingSession(pending): PendingSession,
    Json(b): Json<api::CodeBody>,
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
    let warning = (factor == Factor::Recovery).then(|| {
        format!(
            "You used a recovery code; {remaining} remain. Each works only once — make a new \
             set on your account page soon."
        )
    });
    Ok(signed_in(
        StatusCode::OK,
        &user,
        &session,
        (Some(remaining), warning),
        &[],
    ))
}

// ---- session ------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/me",
    tag = "session",
    security(("session" = [])),
    responses((status = 200, description = "The session's user and the session", body = api::Me), ErrorResponse)
)]
pub async fn me(
    State(state): State<AppState>,
    PassiveSession(auth): PassiveSession,
) -> AppResult<Json<api::Me>> {
    let remaining = state
        .accounts
        .recovery_codes_remaining(&auth.user.id)
        .await?;
    Ok(Json(api::Me {
        user: user_dto(&auth.user),
        csrf_token: auth.session.csrf_token.clone(),
        session: session_dto(&auth.session),
        recovery_codes_remaining: remaining,
        must_change_password: auth.user.must_change_password,
        now: state.clock.now(),
        crypto_console_log: state.config.crypto_console_log,
    }))
}

#[utoipa::path(
    post,
    path = "/session/reauth",
    tag = "session",
    security(("session" = [], "csrf" = [])),
    request_body = api::PasswordBody,
    responses((status = 200, description = "The session, extended", body = api::Reauthenticated), ErrorResponse)
)]
pub async fn reauth(
    State(state): State<AppState>,
    client: Client,
    PassiveSession(auth): PassiveSession,
    Json(b): Json<api::PasswordBody>,
) -> AppResult<Json<api::Reauthenticated>> {
    // Only a correct password extends the session (7.2-extend-by-prompt): the request itself
    // is passive, so a wrong one leaves the idle deadline where it was.
    let s = state
        .accounts
        .reauth(&auth.user, &auth.session.id_hash, &b.password, &client)
        .await?;
    Ok(Json(api::Reauthenticated {
        session: session_dto(&s),
    }))
}

#[utoipa::path(
    post,
    path = "/logout",
    tag = "session",
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "Signed out"), ErrorResponse)
)]
pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
) -> AppResult<Response> {
    state.sessions.end(&auth.session.id_hash).await?;
    state
        .accounts
        .event(&auth.user.id, SecurityEventKind::Logout, &client, "")
        .await?;
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        &[sessions::clear_cookie(COOKIE)],
    ))
}

#[utoipa::path(
    get,
    path = "/sessions",
    tag = "session",
    security(("session" = [])),
    responses((status = 200, description = "The user's sessions", body = api::SessionList), ErrorResponse)
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Json<api::SessionList>> {
    let sessions = state
        .sessions
        .of(&auth.user.id)
        .await?
        .into_iter()
        .map(|s| api::SessionInfo {
            current: s.id_hash == auth.session.id_hash,
            id: s.public_id,
            created_at: s.created_at,
            last_active_at: s.last_active_at,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(Json(api::SessionList { sessions }))
}

#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    tag = "session",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "The session's public id")),
    responses((status = 204, description = "The session ended"), ErrorResponse)
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Path(id): Path<String>,
) -> AppResult<Response> {
    state.sessions.revoke(&auth.user.id, &id).await?;
    state
        .accounts
        .event(
            &auth.user.id,
            SecurityEventKind::SessionRevoked,
            &client,
            &id,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/sessions/revoke-all",
    tag = "session",
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "Every session ended"), ErrorResponse)
)]
pub async fn revoke_all(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
) -> AppResult<Response> {
    state.sessions.revoke_all(&auth.user.id).await?;
    state
        .accounts
        .event(
            &auth.user.id,
            SecurityEventKind::SessionRevoked,
            &client,
            "all",
        )
        .await?;
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        &[sessions::clear_cookie(COOKIE)],
    ))
}

// ---- managing authenticators -------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/account/password",
    tag = "authenticators",
    security(("session" = [], "csrf" = [])),
    request_body = api::ChangePassword,
    responses((status = 204, description = "Password changed; other sessions ended"), ErrorResponse)
)]
pub async fn change_password(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<api::ChangePassword>,
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
    state.sessions.ended(ended).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/account/totp/start",
    tag = "authenticators",
    security(("session" = [], "csrf" = [])),
    request_body = api::Sensitive,
    responses((status = 200, description = "A new authenticator to confirm", body = api::TotpStarted), ErrorResponse)
)]
pub async fn totp_start(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<api::Sensitive>,
) -> AppResult<Json<api::TotpStarted>> {
    let totp = state
        .accounts
        .totp_start(&auth.user, &b.password, &b.second, &client)
        .await?;
    Ok(Json(api::TotpStarted { totp }))
}

#[utoipa::path(
    post,
    path = "/account/totp/confirm",
    tag = "authenticators",
    security(("session" = [], "csrf" = [])),
    request_body = api::CodeBody,
    responses((status = 204, description = "The new authenticator replaces the old"), ErrorResponse)
)]
pub async fn totp_confirm(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<api::CodeBody>,
) -> AppResult<Response> {
    let ended = state
        .accounts
        .totp_confirm(&auth.user, &b.code, &client, &auth.session.id_hash)
        .await?;
    state.sessions.ended(ended).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/account/recovery-codes",
    tag = "authenticators",
    security(("session" = [], "csrf" = [])),
    request_body = api::Sensitive,
    responses((status = 200, description = "A new set, shown once", body = api::RecoveryCodes), ErrorResponse)
)]
pub async fn recovery_codes(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<api::Sensitive>,
) -> AppResult<Json<api::RecoveryCodes>> {
    let (codes, ended) = state
        .accounts
        .regenerate_recovery_codes(
            &auth.user,
            (&b.password, &b.second),
            &client,
            &auth.session.id_hash,
        )
        .await?;
    state.sessions.ended(ended).await;
    Ok(Json(api::RecoveryCodes {
        recovery_codes: codes,
    }))
}

#[utoipa::path(
    post,
    path = "/account/delete",
    tag = "authenticators",
    security(("session" = [], "csrf" = [])),
    request_body = api::Sensitive,
    responses((status = 204, description = "The account is deleted"), ErrorResponse)
)]
pub async fn delete_account(
    State(state): State<AppState>,
    client: Client,
    auth: AuthSession,
    Json(b): Json<api::Sensitive>,
) -> AppResult<Response> {
    let deleted = state
        .accounts
        .delete_account(&auth.user, &b.password, &b.second, &client)
        .await?;
    state.sessions.ended(deleted.sessions).await;
    state
        .messaging
        .account_deleted(&auth.user.id, deleted.contacts)
        .await;
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        &[sessions::clear_cookie(COOKIE)],
    ))
}

#[utoipa::path(
    get,
    path = "/account/security-log",
    tag = "authenticators",
    security(("session" = [])),
    responses((status = 200, description = "Newest first", body = api::SecurityLog), ErrorResponse)
)]
pub async fn security_log(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Json<api::SecurityLog>> {
    let events = state.accounts.security_log(&auth.user.id).await?;
    Ok(Json(api::SecurityLog { events }))
}

#[utoipa::path(
    get,
    path = "/account/authenticators",
    tag = "authenticators",
    security(("session" = [])),
    responses((status = 200, description = "Current and replaced authenticators", body = api::Authenticators), ErrorResponse)
)]
pub async fn authenticators(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Json<api::Authenticators>> {
    let authenticators = state.accounts.authenticators(&auth.user.id).await?;
    Ok(Json(api::Authenticators { authenticators }))
}

// ---- test hook ------------------------------------------------------------------------------

/// `POST /api/test/clock`, mounted only with `test_clock = true`.
#[utoipa::path(
    post,
    path = "/test/clock",
    tag = "test",
    request_body = api::AdvanceClock,
    responses((status = 200, description = "The test clock's time", body = api::ClockNow), ErrorResponse)
)]
pub async fn advance_clock(
    State(state): State<AppState>,
    Json(b): Json<api::AdvanceClock>,
) -> AppResult<Json<api::ClockNow>> {
    if !(0..=CLOCK_ADVANCE_MAX_SECS).contains(&b.advance_secs) {
        return Err(AppError::validation("advance_secs", "0 to 400 days"));
    }
    state.clock.advance(b.advance_secs);
    Ok(Json(api::ClockNow {
        now: state.clock.now(),
    }))
}
