//! Issue 11: the security the OpenAPI document declares is the security the server applies.
//! Every operation that names the `session` scheme refuses a request without the session
//! cookie, every one that names `csrf` refuses a signed-in request without `X-CSRF-Token`, and
//! the schemes name the cookie and header the server reads.

use serde_json::Value;

use crate::common::spawn_app;
use crate::flows::body;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (method, path, scheme names) of every operation of the document.
fn secured(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let names = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|req| req.keys().cloned())
                .collect();
            ops.push((method.to_uppercase(), path.clone(), names));
        }
    }
    ops
}

#[tokio::test]
async fn issue11_declared_security_schemes_are_enforced() {
    let app = spawn_app().await;
    let user = app.register("layers_sec").await;
    let doc: Value = app.fetch("/api/openapi.json").await.json().await.unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    for (name, place, key) in [
        ("session", "cookie", "__Host-parley_session"),
        ("csrf", "header", "X-CSRF-Token"),
        ("registration", "cookie", "__Host-parley_registration"),
    ] {
        assert_eq!(schemes[name]["type"], "apiKey", "{name}: {schemes}");
        assert_eq!(schemes[name]["in"], place, "{name}");
        assert_eq!(schemes[name]["name"], key, "{name}");
    }

    let ops = secured(&doc);
    let with = |scheme: &str| {
        ops.iter()
            .filter(|(_, _, names)| names.iter().any(|n| n == scheme))
            .count()
    };
    assert!(with("session") >= 20, "{ops:?}");
    assert!(with("csrf") >= 10, "{ops:?}");
    for (method, path, names) in &ops {
        let url = app.url(&path.replace('{', "x").replace('}', ""));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let send = |client: &reqwest::Client| {
            client
                .request(m.clone(), &url)
                .header("content-type", "application/json")
                .body("{}")
        };
        if names.iter().any(|n| n == "session") {
            let (status, b) = body(send(&app.client).send().await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} without a session: {b}");
            assert_eq!(b["error"], "unauthorized", "{method} {path}: {b}");
        }
        if names.iter().any(|n| n == "csrf") {
            let (status, b) = body(send(&user.client).send().await.unwrap()).await;
            assert_eq!(status, 403, "{method} {path} without the CSRF token: {b}");
            assert_eq!(b["error"], "csrf_failed", "{method} {path}: {b}");
        } else if names.iter().any(|n| n == "session") && method != "GET" {
            // A state-changing operation of a session that names no CSRF header: only the
            // second sign-in step, with a pending session.
            assert!(
                path.starts_with("/api/login/"),
                "{method} {path} lacks `csrf`"
            );
        }
    }
    // The signed-in user still works: the refusals changed nothing.
    let (status, b) = body(user.client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{b}");
    app.stop().await;
}
