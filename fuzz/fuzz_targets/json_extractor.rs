//! The app's JSON extractor (`http::json::extract`): any body and content type gets the body or
//! one of the app's own error codes, never a panic or axum's plain-text rejection.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Probe {
    name: String,
    count: u32,
    tags: Option<Vec<String>>,
    payload: Option<serde_json::Value>,
}

const TYPES: [&str; 5] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/vnd.api+json",
    "",
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (ty, body) = input;
    let ty = TYPES[usize::from(ty) % TYPES.len()];
    let mut req = Request::post("/probe");
    if !ty.is_empty() {
        req = req.header("content-type", ty);
    }
    let req = req.body(Body::from(body)).expect("a request");
    let result = runtime().block_on(parley::http::json::extract::<Probe>(req, 256 * 1024));
    if let Err(e) = result {
        assert!(
            [
                "malformed_json",
                "invalid_body",
                "unsupported_media_type",
                "payload_too_large"
            ]
            .contains(&e.code()),
            "unexpected error code {}",
            e.code()
        );
    }
});
