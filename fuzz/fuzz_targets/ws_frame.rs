//! WebSocket client frames (`http::ws::parse_client_frame`): any text is an ack of at most
//! `ACK_IDS_MAX + 1` ids or ignored, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley::http::ws::{ACK_IDS_MAX, parse_client_frame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(ids) = parse_client_frame(text) {
        assert!(ids.len() <= ACK_IDS_MAX + 1);
    }
});
