//! Payload validation (`service::messaging::validate_payload`, `validate_public_key`): any JSON
//! is accepted or refused with a field error, never a panic; what is accepted stays within the
//! limits and is stored in a form that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley::service::messaging::{MAX_PAYLOAD_BYTES, validate_payload, validate_public_key};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = validate_public_key(text);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(checked) = validate_payload(&value) {
        assert!(["msg", "ecdh", "change"].contains(&checked.kind));
        // A msg or change always names its (key set, IV) slot (issue 8: one IV once).
        assert_eq!(checked.kind != "ecdh", checked.key_set.is_some() && checked.iv.is_some());
        let stored = checked.text;
        assert!(stored.len() <= MAX_PAYLOAD_BYTES);
        let back: serde_json::Value = serde_json::from_str(&stored).expect("stored JSON parses");
        assert_eq!(back, value);
    }
});
