//! Names derived from a pair of identities (docs/protocol.md §3.3, §4.4): the pair input, the
//! pair id, the key-set id and the X3 safety number. All are public values — computable from the
//! user ids, public keys and salt alone — so both sides and the vectors can state them.

use sha2::{Digest as _, Sha256, Sha512};

use crate::encoding::{is_user_id, to_hex, u64be};
use crate::error::ProtocolError;
use crate::identity::PublicKey;

/// `utf8(id_lo) ‖ raw(pk_lo) ‖ utf8(id_hi) ‖ raw(pk_hi)`: the two identities in id order, so
/// both sides hash the same bytes whoever computes it.
pub fn pair_input(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
) -> Result<Vec<u8>, ProtocolError> {
    if !is_user_id(id_a) || !is_user_id(id_b) || id_a == id_b {
        return Err(ProtocolError::BadUserId);
    }
    let ((lo, pk_lo), (hi, pk_hi)) = if id_a < id_b {
        ((id_a, pub_a), (id_b, pub_b))
    } else {
        ((id_b, pub_b), (id_a, pub_a))
    };
    let mut out = Vec::with_capacity(2 * (32 + pk_lo.raw().len()));
    out.extend_from_slice(lo.as_bytes());
    out.extend_from_slice(pk_lo.raw());
    out.extend_from_slice(hi.as_bytes());
    out.extend_from_slice(pk_hi.raw());
    Ok(out)
}

/// `SHA-256(utf8(label) ‖ 0x00 ‖ parts…)`: the domain-separated hash every id uses.
fn labelled_sha256(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0u8]);
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// The hash input of a key-set id: `utf8("PARLEY_KEY_SET_V1") ‖ 0x00 ‖ pair_input ‖ u64be(salt)`
/// (exposed because the vectors state it).
pub fn key_set_id_input(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
    salt: u64,
) -> Result<Vec<u8>, ProtocolError> {
    let mut out = b"PARLEY_KEY_SET_V1\0".to_vec();
    out.extend_from_slice(&pair_input(id_a, pub_a, id_b, pub_b)?);
    out.extend_from_slice(&u64be(salt));
    Ok(out)
}

/// The key-set id: the first 32 hex characters (128 bits) of the SHA-256 of
/// [`key_set_id_input`]. A function of (keys, salt) only, which is what lets a receiver check an
/// `ecdh`/`change` and two simultaneous exchanges with one salt converge.
pub fn key_set_id(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
    salt: u64,
) -> Result<String, ProtocolError> {
    let digest = Sha256::digest(key_set_id_input(id_a, pub_a, id_b, pub_b, salt)?);
    Ok(to_hex(&digest[..16]))
}

/// The pair id: first 32 hex characters of `SHA-256("PARLEY_PAIR_V1" ‖ 0x00 ‖ pair_input)`;
/// names a pair of identity keys, under which the highest salt seen is remembered (§4.2).
pub fn pair_id(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
) -> Result<String, ProtocolError> {
    let pair = pair_input(id_a, pub_a, id_b, pub_b)?;
    Ok(to_hex(&labelled_sha256("PARLEY_PAIR_V1", &[&pair])[..16]))
}

/// libsignal's NumericFingerprint iteration count.
pub const FINGERPRINT_ITERATIONS: u32 = 5200;

/// One party's 30 digits of the safety number, libsignal's NumericFingerprint: `h =
/// SHA-512(0x0000 ‖ key ‖ id ‖ key)`, then `iterations − 1` times `h = SHA-512(h ‖ key)`; the
/// first 30 bytes as six 5-byte big-endian numbers, each mod 100000, as 5 digits.
pub fn fingerprint_half(key: &[u8], id: &[u8], iterations: u32) -> String {
    let mut h = Sha512::new()
        .chain_update([0u8, 0u8])
        .chain_update(key)
        .chain_update(id)
        .chain_update(key)
        .finalize();
    for _ in 1..iterations {
        h = Sha512::new().chain_update(h).chain_update(key).finalize();
    }
    h[..30]
        .chunks_exact(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

/// The X3 safety number (docs/protocol.md §3.3): each user's 30 digits
/// (`fingerprint_half(raw(pk), utf8(id), 5200)`), the two sorted as strings and concatenated, in
/// 12 groups of 5 joined by spaces. The same on both sides.
pub fn safety_number(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
) -> Result<String, ProtocolError> {
    if !is_user_id(id_a) || !is_user_id(id_b) || id_a == id_b {
        return Err(ProtocolError::BadUserId);
    }
    let mut halves = [
        fingerprint_half(pub_a.raw(), id_a.as_bytes(), FINGERPRINT_ITERATIONS),
        fingerprint_half(pub_b.raw(), id_b.as_bytes(), FINGERPRINT_ITERATIONS),
    ];
    halves.sort();
    let digits = halves.concat();
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(5)
        .filter_map(|g| core::str::from_utf8(g).ok())
        .collect();
    Ok(groups.join(" "))
}

#[cfg(test)]
mod tests {
    use super::{FINGERPRINT_ITERATIONS, fingerprint_half};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// libsignal's own vector (fingerprint.rs `fingerprint_test_v1`, Curve25519 identity keys).
    #[test]
    fn matches_libsignal_numeric_fingerprint() {
        let alice = unhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868");
        let bob = unhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b");
        let mut halves = [
            fingerprint_half(&alice, b"+14152222222", FINGERPRINT_ITERATIONS),
            fingerprint_half(&bob, b"+14153333333", FINGERPRINT_ITERATIONS),
        ];
        halves.sort();
        assert_eq!(
            halves.concat(),
            "300354477692869396892869876765458257569162576843440918079131"
        );
    }
}
