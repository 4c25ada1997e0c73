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
        if let Ok(checked) = validate_payload(&value) {
            let stored = checked.text;
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

// ------------------------------------------------------------------ bounded mutation loop
//
// A seeded, bounded mutational loop over the same checks, in the ordinary suite: the fallback
// while libFuzzer's instrumented build is not available (it is slow to build on a busy
// machine), and a cheap guard in every run. Seeded, so a failure reproduces; a failing input
// is printed and belongs in fuzz/regressions/<target>/.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutations per target and run.
const MUTATIONS: usize = 100_000;

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "-1",
    "1e999",
    "18446744073709551616",
    "\"v\":1",
    "\"type\":\"msg\"",
    "\"type\":\"ack\"",
    "\"ids\":[",
    "\"id\":",
    "é",
    "ﬁ",
    "İ",
    "ẞ",
    "\u{202e}",
    "\u{200b}",
    "\u{fdfa}",
    "\u{3250}",
    "a",
    " ",
];

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..6) {
        let at = if data.is_empty() {
            0
        } else {
            rng.random_range(0..=data.len())
        };
        match rng.random_range(0..5) {
            0 if !data.is_empty() => {
                let i = rng.random_range(0..data.len());
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if at < data.len() => {
                let end = (at + rng.random_range(1..8)).min(data.len());
                data.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                data.splice(at..at, t.iter().copied());
            }
            3 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    data.splice(at..at, other[from..].iter().copied());
                }
            }
            _ => data.insert(at, rng.random()),
        }
    }
    data.truncate(4096);
    data
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    inputs(target).into_iter().map(|(_, d)| d).collect()
}

fn check_payload(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = validate_public_key(text);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(checked) = validate_payload(&value)
    {
        let stored = checked.text;
        assert!(stored.len() <= MAX_PAYLOAD_BYTES);
        let back: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, value, "input {:?}", String::from_utf8_lossy(data));
    }
}

fn check_credentials(text: &str) {
    let once = normalize(text);
    assert_eq!(normalize(&once), once, "input {text:?}");
    if let Ok((display, key)) = Accounts::validate_username(text) {
        let again = Accounts::validate_username(&display).expect("stays valid");
        assert_eq!(again, (display, key), "input {text:?}");
    }
}

#[test]
fn fuzz_bounded_payload_ws_frame_and_credentials() {
    let mut rng = StdRng::seed_from_u64(0x9a7e_2026);
    let (payload, frames, creds) = (seeds("payload"), seeds("ws_frame"), seeds("credentials"));
    for _ in 0..MUTATIONS {
        check_payload(&mutate(&mut rng, &payload));
        let f = mutate(&mut rng, &frames);
        if let Ok(text) = std::str::from_utf8(&f)
            && let Some(ids) = parse_client_frame(text)
        {
            assert!(ids.len() <= ACK_IDS_MAX + 1, "input {text:?}");
        }
        let c = mutate(&mut rng, &creds);
        check_credentials(&String::from_utf8_lossy(&c));
    }
}
