//! The app's JSON extractor (`http::json::extract`): any body and content type gets the body or
//! one of the app's own error codes, never a panic or axum's plain-text rejection.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use parley::http::json::fuzz;

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
    if let Err(code) = runtime().block_on(fuzz::run(ty, body)) {
        assert!(
            fuzz::ERROR_CODES.contains(&code),
            "unexpected error code {code}"
        );
    }
});
