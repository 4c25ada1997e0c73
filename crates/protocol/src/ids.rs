//! Names derived from a pair of identities (docs/protocol.md §3.3, §4.4): the pair input, the
//! pair id, the key-set id and the X3 safety number. All are public values — computable from the
//! user ids, public keys and salt alone — so both sides and the vectors can state them.

use sha2::{Digest as _, Sha256};

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

/// The X3 safety number: `SHA-256("PARLEY_SAFETY_NUMBER_V1" ‖ 0x00 ‖ pair_input)` read as a
/// big-endian integer, mod 10^60, as 60 zero-padded digits in 12 groups of 5 joined by spaces.
/// The same on both sides (id order, not "me first").
pub fn safety_number(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
) -> Result<String, ProtocolError> {
    let pair = pair_input(id_a, pub_a, id_b, pub_b)?;
    let digits = digits_mod_1e60(&labelled_sha256("PARLEY_SAFETY_NUMBER_V1", &[&pair]));
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(5)
        .filter_map(|g| core::str::from_utf8(g).ok())
        .collect();
    Ok(groups.join(" "))
}

/// `n mod 10^60` as 60 decimal digits, for `n` given big-endian. 10^60 does not fit a `u128`, so
/// the remainder is kept in three limbs of base 10^20 (each < 2^67): Horner's rule one byte at a
/// time, `r = (r·256 + byte) mod 10^60`, where dropping the top limb's carry is the reduction.
fn digits_mod_1e60(big_endian: &[u8]) -> String {
    const BASE: u128 = 100_000_000_000_000_000_000; // 10^20
    let mut limbs = [0u128; 3]; // least significant first
    for &byte in big_endian {
        let mut carry = u128::from(byte);
        for limb in &mut limbs {
            let t = *limb * 256 + carry;
            *limb = t % BASE;
            carry = t / BASE;
        }
    }
    format!("{:020}{:020}{:020}", limbs[2], limbs[1], limbs[0])
}

#[cfg(test)]
mod tests {
    use super::digits_mod_1e60;

    #[test]
    fn mod_1e60_matches_decimal_arithmetic() {
        assert_eq!(digits_mod_1e60(&[]), "0".repeat(60));
        assert_eq!(digits_mod_1e60(&[1, 0]), format!("{:060}", 256));
        // 2^256 − 1 = 115792089237316195423570985008687907853269984665640564039457584007913129639935
        assert_eq!(
            digits_mod_1e60(&[0xff; 32]),
            "423570985008687907853269984665640564039457584007913129639935"
        );
    }
}
