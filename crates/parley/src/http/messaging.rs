//! Routes for keys, contacts and conversations. The sender is always the session's user; a
//! conversation is addressed by the peer's id, so a user can only ever reach their own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_api as api;

use crate::core::AppResult;
use crate::http::AppState;
use crate::http::auth::AuthSession;
use crate::http::json::{Json, Query};
use crate::http::openapi::ErrorResponse;

#[utoipa::path(
    post,
    path = "/keys",
    tag = "messaging",
    security(("session" = [], "csrf" = [])),
    request_body = api::PublishKey,
    responses((status = 201, description = "A key never published before", body = api::Published), (status = 200, description = "A known key, current again", body = api::Published), ErrorResponse)
)]
pub async fn publish_key(
    State(state): State<AppState>,
    auth: AuthSession,
    Json(b): Json<api::PublishKey>,
) -> AppResult<(StatusCode, Json<api::Published>)> {
    let new = state
        .messaging
        .publish_key(&auth.user.id, &b.public_key)
        .await?;
    Ok((
        if new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(api::Published { published: new }),
    ))
}

#[utoipa::path(
    get,
    path = "/users/{id}/keys",
    tag = "messaging",
    security(("session" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The current key and every key published", body = api::Keys), ErrorResponse)
)]
pub async fn user_keys(
    State(state): State<AppState>,
    _auth: AuthSession,
    Path(id): Path<String>,
) -> AppResult<Json<api::Keys>> {
    Ok(Json(state.messaging.user_keys(&id).await?))
}

/// Exact username (case-insensitive), never a search: no directory to harvest.
#[utoipa::path(
    get,
    path = "/users",
    tag = "messaging",
    security(("session" = [])),
    params(api::FindUser),
    responses((status = 200, description = "The user with exactly this name", body = api::FoundUser), ErrorResponse)
)]
pub async fn find_user(
    State(state): State<AppState>,
    auth: AuthSession,
    Query(q): Query<api::FindUser>,
) -> AppResult<Json<api::FoundUser>> {
    Ok(Json(
        state
            .messaging
            .find_user(&auth.user.id, &q.username)
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/conversations",
    tag = "messaging",
    security(("session" = [])),
    responses((status = 200, description = "The user's conversations", body = api::Conversations), ErrorResponse)
)]
pub async fn conversations(
    State(state): State<AppState>,
    auth: AuthSession,
) -> AppResult<Json<api::Conversations>> {
    let conversations = state.messaging.conversations(&auth.user.id).await?;
    Ok(Json(api::Conversations { conversations }))
}

#[utoipa::path(
    post,
    path = "/conversations/{peer_id}/messages",
    tag = "messaging",
    security(("session" = [], "csrf" = [])),
    request_body = api::SendMessage,
    params(("peer_id" = String, Path, description = "The peer's user id")),
    responses((status = 201, description = "Stored and pushed", body = api::Sent), ErrorResponse)
)]
pub async fn send(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(peer_id): Path<String>,
    Json(b): Json<api::SendMessage>,
) -> AppResult<(StatusCode, Json<api::Sent>)> {
    let m = state
        .messaging
        .send(&auth.user.id, &peer_id, &b.payload)
        .await?;
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
    security(("session" = [])),
    params(("key_set" = String, Path, description = "A key-set id")),
    responses((status = 200, description = "The highest IV counter stored under the key set", body = api::LastIv), ErrorResponse)
)]
pub async fn last_iv(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(key_set): Path<String>,
) -> AppResult<Json<api::LastIv>> {
    let (last_iv, closed) = state.messaging.last_iv(&auth.user.id, &key_set).await?;
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
    security(("session" = [])),
    params(("peer_id" = String, Path, description = "The peer's user id"), api::Page),
    responses((status = 200, description = "A page of the conversation", body = api::MessagePage), ErrorResponse)
)]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(peer_id): Path<String>,
    Query(p): Query<api::Page>,
) -> AppResult<Json<api::MessagePage>> {
    Ok(Json(
        state.messaging.history(&auth.user.id, &peer_id, &p).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/conversations/{peer_id}/read",
    tag = "messaging",
    security(("session" = [], "csrf" = [])),
    request_body = api::MarkRead,
    params(("peer_id" = String, Path, description = "The peer's user id")),
    responses((status = 200, description = "How many messages were marked", body = api::Marked), ErrorResponse)
)]
pub async fn mark_read(
    State(state): State<AppState>,
    auth: AuthSession,
    Path(peer_id): Path<String>,
    Json(b): Json<api::MarkRead>,
) -> AppResult<Json<api::Marked>> {
    let n = state
        .messaging
        .mark_read(&auth.user.id, &peer_id, b.up_to)
        .await?;
    Ok(Json(api::Marked { marked: n }))
}
