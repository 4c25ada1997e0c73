//! The JSON layer the crate leaves to its caller, as the browser reads payloads: a missing or
//! mistyped field is `malformed`; integers are JSON numbers with an integral value (JavaScript
//! does not tell `1` from `1.0`). Plus hex and lookup helpers for the vector file.

use parley_protocol::{ChangePayload, EcdhPayload, MAX_COUNTER, MsgPayload, Reason};
use serde_json::Value;

/// Lowercase or uppercase hex → bytes; panics on anything else (vector files are trusted).
pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    let byte = |i: usize| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits");
    (0..text.len()).step_by(2).map(byte).collect()
}

/// `v[key]` as a string; panics when absent (vector files are trusted).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

/// `v[key]` as an integer; panics when absent.
pub fn n(v: &Value, key: &str) -> u64 {
    uint(&v[key]).unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

/// The names of an object's fields, sorted, to pin the shape of each vector entry.
pub fn fields(v: &Value) -> Vec<&str> {
    let object = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// A JSON integer in 0 … 2^53 − 1 (what `Number.isSafeInteger` accepts, `1.0` included).
fn uint(v: &Value) -> Option<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let from_float =
        |f: f64| (f.fract() == 0.0 && (0.0..=MAX_COUNTER as f64).contains(&f)).then_some(f as u64);
    v.as_u64()
        .filter(|&n| n <= MAX_COUNTER)
        .or_else(|| v.as_f64().and_then(from_float))
}

fn field_str(p: &Value, key: &str) -> Result<String, Reason> {
    p.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(Reason::Malformed)
}

fn field_uint(p: &Value, key: &str) -> Result<u64, Reason> {
    p.get(key).and_then(uint).ok_or(Reason::Malformed)
}

/// A JSON `msg` payload, unknown fields ignored (§5).
pub fn msg_payload(p: &Value) -> Result<MsgPayload, Reason> {
    Ok(MsgPayload {
        v: field_uint(p, "v")?,
        r#type: field_str(p, "type")?,
        key_set: field_str(p, "key_set")?,
        iv: field_str(p, "iv")?,
        ciphertext: field_str(p, "ciphertext")?,
        mac: field_str(p, "mac")?,
    })
}

/// A JSON `change` payload.
pub fn change_payload(p: &Value) -> Result<ChangePayload, Reason> {
    Ok(ChangePayload {
        v: field_uint(p, "v")?,
        r#type: field_str(p, "type")?,
        key_set: field_str(p, "key_set")?,
        new_key_set: field_str(p, "new_key_set")?,
        salt: field_uint(p, "salt")?,
        last_iv: field_str(p, "last_iv")?,
        mac_old: field_str(p, "mac_old")?,
        mac_new: field_str(p, "mac_new")?,
    })
}

/// A JSON `ecdh` payload; `keys` in serde_json's order (sorted: without its `preserve_order`
/// feature, which this test does not turn on for the whole workspace), so compare them as sets.
pub fn ecdh_payload(p: &Value) -> Result<EcdhPayload, Reason> {
    let keys = p
        .get("keys")
        .and_then(Value::as_object)
        .ok_or(Reason::Malformed)?;
    let keys = keys
        .iter()
        .map(|(id, key)| {
            key.as_str()
                .map(|k| (id.clone(), k.to_owned()))
                .ok_or(Reason::Malformed)
        })
        .collect::<Result<_, _>>()?;
    Ok(EcdhPayload {
        v: field_uint(p, "v")?,
        r#type: field_str(p, "type")?,
        key_set: field_str(p, "key_set")?,
        salt: field_uint(p, "salt")?,
        keys,
    })
}
