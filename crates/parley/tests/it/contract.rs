//! Issue 11: the OpenAPI document at `GET /api/openapi.json` lists every route of the router,
//! and docs/api.md names every path of the document.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::spawn_app;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (METHOD, path) of every operation of a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The handlers registered in `http/mod.rs`, as the router is built: every route goes through
/// `routes!(…)` (which registers its OpenAPI operation with it), none through a bare `.route(`.
fn registered_handlers() -> Vec<String> {
    let src = include_str!("../../src/http/mod.rs");
    assert!(
        !src.contains(".route("),
        "a route added with `.route(` bypasses the OpenAPI document: use `.routes(routes!(…))`"
    );
    let mut handlers = Vec::new();
    for part in src.split("routes!(").skip(1) {
        let list = part.split(')').next().unwrap_or("");
        handlers.extend(
            list.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned),
        );
    }
    handlers
}

#[tokio::test]
async fn issue11_openapi_lists_every_route_of_the_router() {
    let app = spawn_app().await; // test_clock on: /api/test/clock is mounted too
    let res = app.fetch("/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);

    // Every handler the router mounts is one operation of the document...
    let handlers = registered_handlers();
    assert_eq!(
        ops.len(),
        handlers.len(),
        "operations {ops:?} vs handlers {handlers:?}"
    );
    for path in [
        "/api/openapi.json",
        "/api/ws",
        "/api/test/clock",
        "/api/health",
    ] {
        assert!(ops.iter().any(|(_, p)| p == path), "{path} missing");
    }
    // ... and every operation of the document is a route the router answers: its method is
    // allowed there (not 405), and a method it does not have gets 405, not the 404 of an
    // unknown path.
    for (method, path) in &ops {
        let url = app.url(&path.replace('{', "x").replace('}', ""));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app.client.request(m, &url).send().await.unwrap();
        assert_ne!(res.status(), 405, "{method} {path} is not routed");
        let res = app.client.patch(&url).send().await.unwrap();
        assert_eq!(res.status(), 405, "PATCH {path}: the path is not routed");
    }
    // The referenced schemas come from parley-api, frames included.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ErrorBody",
        "SignedIn",
        "Message",
        "ServerFrame",
        "ClientFrame",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }

    // Without the test clock the hook is neither routed nor documented.
    let doc = serde_json::to_value(parley::http::openapi_document(false)).unwrap();
    let without = operations(&doc);
    assert_eq!(without.len(), ops.len() - 1);
    assert!(!without.iter().any(|(_, p)| p == "/api/test/clock"));
}

/// docs/api.md is the prose of the API; every operation of the document appears there as
/// "`METHOD /api/path`" (path parameters spelled as in the document), so the two cannot drift.
#[test]
fn issue11_docs_api_md_names_every_operation() {
    let doc = serde_json::to_value(parley::http::openapi_document(true)).unwrap();
    let text = include_str!("../../../../docs/api.md");
    let missing: Vec<String> = operations(&doc)
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .filter(|op| !text.contains(op.as_str()))
        .collect();
    assert!(missing.is_empty(), "docs/api.md does not name {missing:?}");
}

/// Found by schemathesis (issue 11): a bad query string and a `GET /api/ws` that is no
/// handshake got axum's plain-text 400, which the document does not describe. Now both are the
/// app's JSON error, read here as the contract's `ErrorBody`.
#[tokio::test]
async fn issue11_bad_queries_and_non_handshakes_get_the_json_error_body() {
    let app = spawn_app().await;
    let user = app
        .register_with("contract_q", "Tangerine lighthouse drifts 47 furlongs")
        .await;
    for (path, code) in [
        ("/api/users", "invalid_query"),
        ("/api/users?name=x", "invalid_query"),
        ("/api/conversations/x/messages?limit=many", "invalid_query"),
        ("/api/ws", "websocket_expected"),
    ] {
        let res = user.fetch(path).await;
        assert_eq!(res.status(), 400, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        let body: parley_api::ErrorBody = res.json().await.unwrap();
        assert_eq!(body.error, code, "{path}: {body:?}");
    }
}
