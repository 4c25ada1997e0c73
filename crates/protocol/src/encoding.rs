//! Byte encodings of the protocol (docs/protocol.md §2): standard padded base64, lowercase hex,
//! big-endian counters, and the shape of ids. No crypto, no state.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// Largest IV counter and salt of v1: 2^53 − 1, the largest integer a JavaScript number holds
/// exactly, so that both implementations agree on every value that can appear in JSON.
pub const MAX_COUNTER: u64 = (1 << 53) - 1;

/// Standard base64 as the browser reads it (docs/protocol.md §2): the alphabet of RFC 4648 §4
/// with canonical padding and no non-zero bits after the last byte, so every byte string has
/// exactly one accepted encoding (issue 8; the browser's `fromB64` checks it by re-encoding).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// `b64(bytes)`: standard base64 with padding, as the server requires.
pub fn to_b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The bytes of strict padded standard base64, or `None` for anything else.
pub fn from_b64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

/// Lowercase hex, as ids and the test vectors use.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// `u64be(n)`: the HKDF salt encoding, 8 bytes big-endian.
pub fn u64be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// `u96be(n)`: an IV, the counter as 12 bytes big-endian.
pub fn u96be(n: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[4..].copy_from_slice(&n.to_be_bytes());
    out
}

/// The counter of a 12-byte IV, or `None` when it is not 12 bytes or above [`MAX_COUNTER`]
/// (the JS module cannot represent such a counter, so v1 treats it as malformed).
pub fn iv_counter(iv: &[u8]) -> Option<u64> {
    let iv: &[u8; 12] = iv.try_into().ok()?;
    if iv[..4] != [0; 4] {
        return None;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&iv[4..]);
    let n = u64::from_be_bytes(low);
    (n <= MAX_COUNTER).then_some(n)
}

/// A user id: exactly 32 lowercase hex characters (§2). The fixed length and the absence of `t`
/// are what make the `…<from>to<to>` labels split only one way.
pub fn is_user_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The shape a payload's `key_set` must have to be looked up at all. Ours are 32 hex characters,
/// but the browser accepts `^[A-Za-z0-9_-]{1,128}$` here and reports any other id as
/// `unknown_key_set`; accepting the same set keeps the two implementations' verdicts equal.
pub fn is_key_set_shape(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A salt or counter that fits v1's JSON integers: 1 … 2^53 − 1.
pub fn is_counter(n: u64) -> bool {
    (1..=MAX_COUNTER).contains(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_padded_standard_and_canonical() {
        assert_eq!(to_b64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(from_b64("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(from_b64(""), Some(vec![]));
        assert_eq!(from_b64("AA=="), Some(vec![0]));
        // "AB==" would be "\0" with non-zero trailing bits: a second encoding, refused.
        for bad in [
            "AB==", "AAB=", "AA", "AA=", "A===", "-_8=", "AA==AA==", " AA==", "AAA=\n",
        ] {
            assert_eq!(from_b64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counters() {
        assert_eq!(to_hex(&u96be(1)), "000000000000000000000001");
        assert_eq!(to_hex(&u96be(1 << 32)), "000000000000000100000000");
        assert_eq!(iv_counter(&u96be(MAX_COUNTER)), Some(MAX_COUNTER));
        assert_eq!(iv_counter(&u96be(MAX_COUNTER + 1)), None);
        let mut high = u96be(1);
        high[0] = 1;
        assert_eq!(iv_counter(&high), None);
        assert_eq!(iv_counter(&[0; 11]), None);
        assert!(!is_counter(0) && is_counter(1) && !is_counter(MAX_COUNTER + 1));
    }

    #[test]
    fn id_shapes() {
        assert!(is_user_id("3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c"));
        assert!(!is_user_id("3F1A6C0E9B2D4E8F8A7C5B3D1E0F2A4C"));
        assert!(!is_user_id("3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4"));
        assert!(is_key_set_shape("525a1254ed67ae3d9473eef87d420900"));
        assert!(is_key_set_shape("A_-z"));
        assert!(
            !is_key_set_shape("")
                && !is_key_set_shape("a b")
                && !is_key_set_shape(&"a".repeat(129))
        );
    }
}
