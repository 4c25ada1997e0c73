//! Messaging rules (E1–E10 on the server side): the server stores and relays payloads it cannot
//! read, so its job is to check their *shape* (bounded sizes, required fields, base64 where
//! expected), set the sender from the session, and keep users to their own conversations.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::core::{AppError, AppResult};

/// Largest payload, as serialized JSON.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest ciphertext (with its 16-byte tag), decoded.
pub const MAX_CIPHERTEXT_BYTES: usize = 48 * 1024;
pub const PAGE_DEFAULT: i64 = 50;
pub const PAGE_MAX: i64 = 200;
/// An identity public key: the uncompressed P-384 point (0x04 ‖ X ‖ Y).
pub const PUBLIC_KEY_BYTES: usize = 97;

fn bad(field: &'static str, message: impl Into<String>) -> AppError {
    AppError::validation(field, message)
}

fn b64(v: &Value, field: &'static str, exact: Option<usize>, max: usize) -> AppResult<Vec<u8>> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(field, format!("`{field}` must be a base64 string")))?;
    if s.len() > max.div_ceil(3) * 4 + 4 {
        return Err(bad(field, format!("`{field}` is too long")));
    }
    let bytes = STANDARD
        .decode(s)
        .map_err(|_| bad(field, format!("`{field}` is not valid base64")))?;
    match exact {
        Some(n) if bytes.len() != n => {
            Err(bad(field, format!("`{field}` must decode to {n} bytes")))
        }
        _ if bytes.len() > max => Err(bad(field, format!("`{field}` is larger than {max} bytes"))),
        _ => Ok(bytes),
    }
}

fn key_set_id(v: &Value, field: &'static str) -> AppResult<()> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(field, format!("`{field}` must be a string")))?;
    if s.is_empty()
        || s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad(
            field,
            format!("`{field}` must be 1-128 characters of A-Z a-z 0-9 _ -"),
        ));
    }
    Ok(())
}

fn salt(v: &Value) -> AppResult<()> {
    match v.get("salt").and_then(Value::as_u64) {
        Some(n) if n >= 1 => Ok(()),
        _ => Err(bad("salt", "`salt` must be an integer of at least 1")),
    }
}

pub fn validate_public_key(b64_key: &str) -> AppResult<()> {
    let bytes = STANDARD
        .decode(b64_key)
        .map_err(|_| bad("public_key", "the public key is not valid base64"))?;
    if bytes.len() != PUBLIC_KEY_BYTES || bytes[0] != 0x04 {
        return Err(bad(
            "public_key",
            "the public key must be an uncompressed P-384 point (97 bytes)",
        ));
    }
    Ok(())
}

/// Check a payload's shape; returns its kind and its canonical serialization for storage.
pub fn validate_payload(payload: &Value) -> AppResult<(&'static str, String)> {
    let text = serde_json::to_string(payload).map_err(|e| AppError::Internal(e.into()))?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(bad(
            "payload",
            format!("the payload is larger than {MAX_PAYLOAD_BYTES} bytes"),
        ));
    }
    if !payload.is_object() {
        return Err(bad("payload", "the payload must be a JSON object"));
    }
    if payload.get("v").and_then(Value::as_u64) != Some(1) {
        return Err(bad("v", "`v` must be 1"));
    }
    key_set_id(payload, "key_set")?;
    let kind = match payload.get("type").and_then(Value::as_str) {
        Some("msg") => {
            b64(payload, "iv", Some(12), 12)?;
            b64(payload, "mac", Some(32), 32)?;
            let ct = b64(payload, "ciphertext", None, MAX_CIPHERTEXT_BYTES)?;
            if ct.len() < 16 {
                return Err(bad(
                    "ciphertext",
                    "`ciphertext` must hold at least the 16-byte tag",
                ));
            }
            "msg"
        }
        Some("ecdh") => {
            salt(payload)?;
            let keys = payload
                .get("keys")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("keys", "`keys` must map the two user ids to public keys"))?;
            if keys.len() != 2 {
                return Err(bad("keys", "`keys` must have exactly two entries"));
            }
            for (user, key) in keys {
                if user.len() != 32 || !user.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("keys", "`keys` must be keyed by user ids"));
                }
                validate_public_key(key.as_str().unwrap_or(""))?;
            }
            "ecdh"
        }
        Some("change") => {
            salt(payload)?;
            key_set_id(payload, "new_key_set")?;
            b64(payload, "last_iv", Some(12), 12)?;
            b64(payload, "mac_old", Some(32), 32)?;
            b64(payload, "mac_new", Some(32), 32)?;
            "change"
        }
        _ => return Err(bad("type", "`type` must be ecdh, msg or change")),
    };
    Ok((kind, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(n: usize) -> String {
        STANDARD.encode(vec![7u8; n])
    }

    #[test]
    fn shapes() {
        let ok =
            json!({"v":1,"type":"msg","key_set":"ab_1","iv":b(12),"mac":b(32),"ciphertext":b(20)});
        assert_eq!(validate_payload(&ok).unwrap().0, "msg");
        for bad in [
            json!([1, 2]),
            json!({"v":2,"type":"msg","key_set":"a","iv":b(12),"mac":b(32),"ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a b","iv":b(12),"mac":b(32),"ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(11),"mac":b(32),"ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(12),"mac":"!!","ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(12),"mac":b(32),"ciphertext":b(8)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(12),"mac":b(32),"ciphertext":b(50_000)}),
            json!({"v":1,"type":"hello","key_set":"a"}),
            json!({"v":1,"type":"ecdh","key_set":"a","salt":0,"keys":{}}),
        ] {
            assert!(validate_payload(&bad).is_err(), "{bad}");
        }
        let mut key = vec![4u8];
        key.extend([1u8; 96]);
        let k = STANDARD.encode(&key);
        let ecdh = json!({"v":1,"type":"ecdh","key_set":"k1","salt":1,"keys":{"0".repeat(32): k, "1".repeat(32): k}});
        assert_eq!(validate_payload(&ecdh).unwrap().0, "ecdh");
        let change = json!({"v":1,"type":"change","key_set":"k1","new_key_set":"k2","salt":2,"last_iv":b(12),"mac_old":b(32),"mac_new":b(32)});
        assert_eq!(validate_payload(&change).unwrap().0, "change");
    }
}
