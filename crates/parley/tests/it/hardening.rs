//! The hardening stack: security headers on every response, clear JSON errors for hostile
//! input, and a server that survives huge bodies and slow clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use parley::http::AppState;
use parley::http::json::Json;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use crate::common::{EVERY_KIND_OF_RESPONSE, TestApp, base_args, spawn_app};

const HEADERS: &[(&str, &str)] = &[
    ("strict-transport-security", "max-age=604800"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

fn assert_hardened(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    for (name, value) in HEADERS {
        assert_eq!(
            h.get(*name).map(|v| v.to_str().unwrap()),
            Some(*value),
            "{what}: {name}"
        );
    }
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    for bad in [
        "unsafe-inline",
        "unsafe-eval",
        "*",
        "http:",
        "data: 'self'; script",
    ] {
        assert!(!csp.contains(bad), "{what}: CSP allows {bad}: {csp}");
    }
    assert!(h.contains_key("permissions-policy"), "{what}");
    assert!(
        h.get("set-cookie").is_none(),
        "{what}: no cookie without a session"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for (method, path, status) in EVERY_KIND_OF_RESPONSE {
        let res = app.request(method, path).await;
        assert_eq!(res.status(), status, "{method} {path}");
        assert_hardened(&res, &format!("{method} {path}"));
    }
    app.stop().await;
}

#[tokio::test]
async fn client_files_have_the_right_types_and_no_inline_script() {
    let app = spawn_app().await;
    for (path, ty) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let res = app.fetch(path).await;
        assert_eq!(res.headers()["content-type"], ty, "{path}");
        if path == "/" {
            let html = res.text().await.unwrap();
            assert!(html.contains("<h1"), "the landing page renders a heading");
            assert!(
                !html.contains("<script>") && !html.contains(" onclick="),
                "no inline script"
            );
            assert!(!html.contains("style=\""), "no inline style");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_get_a_json_not_found() {
    let app = spawn_app().await;
    let res = app.fetch("/api/nope?x=1").await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().len() > 5);
    app.stop().await;
}

#[tokio::test]
async fn a_huge_body_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let body = vec![b'a'; 8 * 1024 * 1024];
    let res = app
        .client
        .post(app.url("/api/health"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    // The server answers 413 before reading the body; the client may see the answer or a reset.
    if let Ok(res) = res {
        assert_eq!(res.status(), 413);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "payload_too_large");
    }
    let res = app.fetch("/api/health").await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn slow_clients_do_not_block_others_and_are_cut_off() {
    let app = spawn_app().await;
    // 200 connections that never finish a handshake, and 50 that never finish their headers.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    let config = Arc::new(crate::common::tls_config_trusting(
        &app.tls_dir().join("ca.pem"),
    ));
    let mut half = Vec::new();
    for _ in 0..50 {
        let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .unwrap();
        half.push(tls);
    }
    let started = Instant::now();
    let res = app.fetch("/api/health").await;
    assert_eq!(res.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "others are served at once"
    );

    // The server cuts off a connection whose headers never complete (10 s header timeout).
    let mut slow = half.pop().unwrap();
    let mut buf = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(20), async {
        use tokio::io::AsyncReadExt;
        let _ = slow.read_to_end(&mut buf).await;
    })
    .await;
    assert!(
        cut.is_ok(),
        "the slow connection was not closed within 20 s"
    );
    drop((idle, half));
    app.stop().await;
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Probe {
    name: String,
    count: u32,
}

async fn panicky() -> &'static str {
    panic!("secret detail 1234")
}

/// The app's JSON extractor under the real hardening stack (no network needed for this layer).
async fn probe_router(app: &TestApp) -> Router {
    let state: AppState = app.server.as_ref().unwrap().state.clone();
    let inner = Router::new()
        .route("/probe", post(|Json(_p): Json<Probe>| async { "ok" }))
        .route("/panic", get(panicky));
    parley::http::layers::harden(inner, &state).with_state(state)
}

async fn call(
    router: &Router,
    req: axum::http::Request<Body>,
) -> (u16, serde_json::Value, axum::http::HeaderMap) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        headers,
    )
}

fn post_json(body: &str, content_type: Option<&str>) -> axum::http::Request<Body> {
    let mut b = axum::http::Request::post("/probe");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn hostile_json_gets_clear_errors() {
    let app = spawn_app().await;
    let r = probe_router(&app).await;
    let json = Some("application/json");
    let cases = [
        (post_json("{\"name\": \"a\", \"count\": 1}", json), 200, ""),
        (post_json("{\"name\": ", json), 400, "malformed_json"),
        (post_json("not json at all", json), 400, "malformed_json"),
        (post_json("{\"name\": \"a\"}", json), 422, "invalid_body"),
        (
            post_json("{\"name\": \"a\", \"count\": -1}", json),
            422,
            "invalid_body",
        ),
        (
            post_json("{\"name\": \"a\", \"count\": 1}", None),
            415,
            "unsupported_media_type",
        ),
        (
            post_json("{\"name\": \"a\", \"count\": 1}", Some("text/plain")),
            415,
            "unsupported_media_type",
        ),
        (
            post_json(
                &format!("{{\"name\": \"{}\", \"count\": 1}}", "a".repeat(300_000)),
                json,
            ),
            413,
            "payload_too_large",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let (got, body, headers) = call(&r, req).await;
        assert_eq!(got, status, "case {i}: {body}");
        if !code.is_empty() {
            assert_eq!(body["error"], code, "case {i}");
            assert!(
                body["message"].as_str().unwrap().len() > 10,
                "case {i}: a message for people"
            );
            assert_eq!(headers["strict-transport-security"], "max-age=604800");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_500_without_details() {
    let app = spawn_app().await;
    let r = probe_router(&app).await;
    let (status, body, headers) = call(
        &r,
        axum::http::Request::get("/panic")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "internal");
    assert!(
        !body.to_string().contains("1234"),
        "no panic detail reaches the client"
    );
    assert_eq!(headers["strict-transport-security"], "max-age=604800");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // and the real server keeps answering
    assert_eq!(app.fetch("/api/health").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn http_redirect_listener_only_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.http_redirect = Some("127.0.0.1:0".parse().unwrap());
    let app = crate::common::spawn_in(dir, args).await;
    let plain = app.server.as_ref().unwrap().redirect_addr.unwrap();
    for path in ["/", "/api/health?x=1", "/login"] {
        let res =
            crate::common::plain_get(&format!("http://127.0.0.1:{}{path}", plain.port())).await;
        assert_eq!(res.status(), 308, "{path}");
        assert_eq!(
            res.headers()["location"],
            format!("https://localhost:{}{path}", app.addr.port()).as_str()
        );
        assert!(res.headers().get("set-cookie").is_none());
        assert!(
            res.text().await.unwrap().is_empty(),
            "no content over plain HTTP"
        );
    }
    // POSTs with credentials are not processed either.
    let res = crate::common::plain_client()
        .post(format!("http://127.0.0.1:{}/api/login", plain.port()))
        .body("{\"password\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    app.stop().await;
}
