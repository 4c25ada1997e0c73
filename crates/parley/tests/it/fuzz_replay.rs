//! The fuzz targets' checks (fuzz/fuzz_targets/*.rs) over every committed input — the seed
//! corpus and every input that ever crashed a target (fuzz/regressions/<target>/) — as part of
//! the ordinary suite, so a fixed crash stays fixed without libFuzzer.

use std::path::PathBuf;

use axum::body::Body;
use parley::http::ws::{ACK_IDS_MAX, parse_client_frame};
use parley::service::accounts::Accounts;
use parley::service::messaging::{MAX_PAYLOAD_BYTES, validate_payload, validate_public_key};
use parley::service::password_policy::normalize;
use serde::Deserialize;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[test]
fn fuzz_replay_payload() {
    let all = inputs("payload");
    assert!(!all.is_empty(), "the committed corpus is there");
    for (path, data) in all {
        if let Ok(text) = std::str::from_utf8(&data) {
            let _ = validate_public_key(text);
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        if let Ok((_, stored)) = validate_payload(&value) {
            assert!(stored.len() <= MAX_PAYLOAD_BYTES, "{}", path.display());
            let back: serde_json::Value = serde_json::from_str(&stored).unwrap();
            assert_eq!(back, value, "{}", path.display());
        }
    }
}

#[test]
fn fuzz_replay_ws_frame() {
    for (path, data) in inputs("ws_frame") {
        if let Ok(text) = std::str::from_utf8(&data)
            && let Some(ids) = parse_client_frame(text)
        {
            assert!(ids.len() <= ACK_IDS_MAX + 1, "{}", path.display());
        }
    }
}

#[test]
fn fuzz_replay_credentials() {
    for (path, data) in inputs("credentials") {
        // cargo fuzz hands `&str` targets only valid UTF-8.
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        let once = normalize(text);
        assert_eq!(normalize(&once), once, "{}", path.display());
        if let Ok((display, key)) = Accounts::validate_username(text) {
            let again = Accounts::validate_username(&display).expect("stays valid");
            assert_eq!(again, (display, key), "{}", path.display());
        }
    }
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Probe {
    name: String,
    count: u32,
    tags: Option<Vec<String>>,
    payload: Option<serde_json::Value>,
}

#[tokio::test]
async fn fuzz_replay_json_extractor() {
    const TYPES: [&str; 5] = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/vnd.api+json",
        "",
    ];
    for (path, data) in inputs("json_extractor") {
        // The target's input is (content type selector, body): arbitrary's encoding of a
        // (u8, Vec<u8>) takes the first byte, then the rest.
        let Some((&ty, body)) = data.split_first() else {
            continue;
        };
        let ty = TYPES[usize::from(ty) % TYPES.len()];
        let mut req = axum::http::Request::post("/probe");
        if !ty.is_empty() {
            req = req.header("content-type", ty);
        }
        let req = req.body(Body::from(body.to_vec())).unwrap();
        if let Err(e) = parley::http::json::extract::<Probe>(req, 256 * 1024).await {
            assert!(
                [
                    "malformed_json",
                    "invalid_body",
                    "unsupported_media_type",
                    "payload_too_large"
                ]
                .contains(&e.code()),
                "{}: {}",
                path.display(),
                e.code()
            );
        }
    }
}
