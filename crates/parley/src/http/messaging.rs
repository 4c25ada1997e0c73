//! Routes for keys, contacts and conversations. The sender is always the session's user; a
//! conversation is addressed by the peer's id, so a user can only ever reach their own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_api as api;
use parley_api::limits::{PAGE_DEFAULT, PAGE_MAX};

use crate::core::{AppError, AppResult};
use crate::http::AppState;
use crate::http::auth::AuthSession;
use crate::http::json::{Json, Query};
use crate::service::accounts::Accounts;
use crate::service::messaging;
use crate::service::quota::Quota;
use crate::service::realtime::Event;

#[utoipa::path(
    post,
    path = "/keys",
    tag = "messaging",
    request_body = api::PublishKey,
    responses((status = 201, description = "A key never published before", body = api::Published), (status = 200, description = "A known key, current again", body = api::Published), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn publish_key(
    State(state): State<AppState>,
    auth: AuthSession,
    Json(b): Json<api::PublishKey>,
) -> AppResult<(StatusCode, Json<api::Published>)> {
    state.quotas.check(Quota::KeyPublication, &auth.user.id)?;
    messaging::validate_public_key(&b.public_key)?;
    let now = state.clock.now();
    let before = state.db.current_key(&auth.user.id).await?;
    let new = state
        .db
        .publish_key(&auth.user.id, &b.public_key, now)
        .await?;
    // A new key, or an older one made current again: contacts must look again.
    if before.is_none_or(|k| k.public_key != b.public_key) {
        let mut to = state.db.contacts_of(&auth.user.id).await?;
        to.push(auth.user.id.clone());
        state
            .events
            .publish(Event::Key {
                user_id: auth.user.id.clone(),
                to,
            })
            .await;
    }
    Ok((
        if new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(api::Published { published: new }),
    ))
}

async fn keys(state: &AppState, user_id: &str) -> AppResult<api::Keys> {
    let history = state.db.keys_of(user_id).await?;
    let current = state.db.current_key(user_id).await?;
    Ok(api::Keys { current, history })
}

#[utoipa::path(
    get,
    path = "/users/{id}/keys",
    tag = "messaging",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The current key and every key published", body = api::Keys), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn user_keys(
    State(state): State<AppState>,
    _auth: AuthSession,
    Path(id): Path<String>,
) -> AppResult<Json<api::Keys>> {
    state.db.user_by_id(&id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(keys(&state, &id).await?))
}

/// Exact username (case-insensitive), never a search: no directory to harvest.
#[utoipa::path(
    get,
    path = "/users",
    tag = "messaging",
    params(api::FindUser),
    responses((status = 200, description = "The user with exactly this name", body = api::FoundUser), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn find_user(
    State(state): State<AppState>,
    auth: AuthSession,
    Query(q): Query<api::FindUser>,
) -> AppResult<Json<api::FoundUser>> {
    state.quotas.check(Quota::UserLookup, &auth.user.id)?;
    let (_, key) = Accounts::validate_username(&q.username).map_err(|_| AppError::NotFound)?;
    let user = state
        .db
        .user_by_key(&key)
        .await?
        .ok_or(AppError::NotFound)?;
    let keys = keys(&state, &user.id).await?;
    Ok(Json(api::FoundUser {
        id: user.id,
        username: user.username,
        keys,
    }))
}

#[utoipa::path(
    get,
    path = "/conversations",
    tag = "messaging",
    responses((status = 200, description = "The user's conversations", body = api::Conversations), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn conversations(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Json<api::Conversations>> {
    let conversations = state.db.conversations(&auth.user.id).await?;
    Ok(Json(api::Conversations { conversations }))
}

/// The peer exists; `writable` also refuses a deleted account (its history stays readable).
async fn peer(state: &AppState, me: &str, peer: &str, writable: bool) -> AppResult<()> {
    if peer == me {
        return Err(AppError::validation(
            "peer",
            "you cannot send messages to yourself",
        ));
    }
    match state.db.account_deleted(peer).await? {
        None => Err(AppError::NotFound),
        Some(true) if writable => Err(AppError::AccountDeleted),
        Some(_) => Ok(()),
    }
}

#[utoipa::path(
    post,
    path = "/conversations/{peer_id}/messages",
    tag = "messaging",
    request_body = api::SendMessage,
    params(("peer_id" = String, Path, description = "The peer's user id")),
    responses((status = 201, description = "Stored and pushed", body = api::Sent), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn send(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(peer_id): Path<String>,
    Json(b): Json<api::SendMessage>,
) -> AppResult<(StatusCode, Json<api::Sent>)> {
    state.quotas.check(Quota::Send, &auth.user.id)?;
    peer(&state, &auth.user.id, &peer_id, true).await?;
    let checked = messaging::validate_payload(&b.payload)?;
    let slot = match (&checked.key_set, &checked.iv) {
        (Some(k), Some(i)) => Some((k.as_str(), i.as_str(), checked.iv_counter)),
        _ => None,
    };
    let m = state
        .db
        .insert_message(
            &auth.user.id,
            &peer_id,
            checked.kind,
            &checked.text,
            slot,
            state.clock.now(),
        )
        .await
        .map_err(|e| {
            if crate::db::messages::is_unique_violation(&e) {
                AppError::IvReused
            } else {
                e.into()
            }
        })?;
    state
        .events
        .publish(Event::Message {
            id: m.id,
            to: vec![peer_id, auth.user.id.clone()],
        })
        .await;
    Ok((StatusCode::CREATED, Json(api::Sent { message: m })))
}

/// `GET /api/keysets/{key_set}/last-iv`: the highest IV counter the session's user stored under
/// that key set (0 if none) and whether a `change` from it is stored, so that a browser whose
/// localStorage was restored from an older copy resumes above every IV it already used (E3,
/// issue 8). Only the user's own messages count; a key set id is not secret, the answer is.
#[utoipa::path(
    get,
    path = "/keysets/{key_set}/last-iv",
    tag = "messaging",
    params(("key_set" = String, Path, description = "A key-set id")),
    responses((status = 200, description = "The highest IV counter stored under the key set", body = api::LastIv), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn last_iv(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(key_set): Path<String>,
) -> AppResult<Json<api::LastIv>> {
    messaging::validate_key_set_id(&key_set)?;
    let (last_iv, closed) = state.db.last_iv(&auth.user.id, &key_set).await?;
    Ok(Json(api::LastIv {
        key_set,
        last_iv,
        closed,
    }))
}

#[utoipa::path(
    get,
    path = "/conversations/{peer_id}/messages",
    tag = "messaging",
    params(("peer_id" = String, Path, description = "The peer's user id"), api::Page),
    responses((status = 200, description = "A page of the conversation", body = api::MessagePage), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(peer_id): Path<String>,
    Query(p): Query<api::Page>,
) -> AppResult<Json<api::MessagePage>> {
    peer(&state, &auth.user.id, &peer_id, false).await?;
    if p.after.is_some() && p.before.is_some() {
        return Err(AppError::validation(
            "after",
            "give `after` or `before`, not both",
        ));
    }
    let limit = p.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
    let messages = state
        .db
        .conversation_page(&auth.user.id, &peer_id, p.after, p.before, limit)
        .await?;
    Ok(Json(api::MessagePage { messages, limit }))
}

#[utoipa::path(
    post,
    path = "/conversations/{peer_id}/read",
    tag = "messaging",
    request_body = api::MarkRead,
    params(("peer_id" = String, Path, description = "The peer's user id")),
    responses((status = 200, description = "How many messages were marked", body = api::Marked), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn mark_read(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(peer_id): Path<String>,
    Json(b): Json<api::MarkRead>,
) -> AppResult<Json<api::Marked>> {
    peer(&state, &auth.user.id, &peer_id, false).await?;
    let now = state.clock.now();
    let n = state
        .db
        .mark_read(&auth.user.id, &peer_id, b.up_to, now)
        .await?;
    if n > 0 {
        state
            .events
            .publish(Event::Read {
                reader: auth.user.id.clone(),
                peer: peer_id.clone(),
                up_to: b.up_to,
                at: now,
                to: vec![peer_id, auth.user.id.clone()],
            })
            .await;
    }
    Ok(Json(api::Marked { marked: n }))
}
