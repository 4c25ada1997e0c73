//! Identity keys (docs/protocol.md §3, §4.1): P-384 key pairs, read in the two forms the browser
//! produces — the private key as a JWK (what localStorage holds) and the public key as the 97-byte
//! uncompressed point in base64 (what the server's key directory and `ecdh` payloads carry).

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p384::elliptic_curve::sec1::ToSec1Point as _;
use p384::elliptic_curve::zeroize::Zeroizing;

use crate::encoding::{from_b64, to_b64};
use crate::error::ProtocolError;

/// Bytes of an uncompressed P-384 point: `0x04 ‖ X ‖ Y`.
pub const PUBLIC_KEY_BYTES: usize = 97;
/// Bytes of a P-384 coordinate, scalar and ECDH output.
pub const FIELD_BYTES: usize = 48;

/// A peer's (or one's own) identity public key: a point on P-384, kept with its 97-byte
/// encoding because ids and safety numbers hash exactly those bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    point: p384::PublicKey,
    raw: [u8; PUBLIC_KEY_BYTES],
}

impl PublicKey {
    /// The key of a 97-byte uncompressed point (WebCrypto `raw` export). Compressed points and
    /// points off the curve are refused: the browser exports and accepts only this form.
    pub fn from_raw(raw: &[u8]) -> Result<Self, ProtocolError> {
        let raw: [u8; PUBLIC_KEY_BYTES] =
            raw.try_into().map_err(|_| ProtocolError::BadPublicKey)?;
        if raw[0] != 0x04 {
            return Err(ProtocolError::BadPublicKey);
        }
        let point =
            p384::PublicKey::from_sec1_bytes(&raw).map_err(|_| ProtocolError::BadPublicKey)?;
        Ok(Self { point, raw })
    }

    /// The key of `b64(raw)`, the form of the key directory and of `ecdh` payloads.
    pub fn from_b64(b64: &str) -> Result<Self, ProtocolError> {
        Self::from_raw(&from_b64(b64).ok_or(ProtocolError::BadPublicKey)?)
    }

    /// The key of a JWK's base64url `x` and `y` coordinates (48 bytes each).
    pub fn from_jwk_xy(x: &str, y: &str) -> Result<Self, ProtocolError> {
        let mut raw = [0u8; PUBLIC_KEY_BYTES];
        raw[0] = 0x04;
        raw[1..49].copy_from_slice(&jwk_field(x).ok_or(ProtocolError::BadPublicKey)?[..]);
        raw[49..].copy_from_slice(&jwk_field(y).ok_or(ProtocolError::BadPublicKey)?[..]);
        Self::from_raw(&raw)
    }

    fn from_point(point: p384::PublicKey) -> Self {
        let mut raw = [0u8; PUBLIC_KEY_BYTES];
        // A valid public key is never the identity, so its uncompressed encoding is 97 bytes.
        raw.copy_from_slice(point.to_sec1_point(false).as_bytes());
        Self { point, raw }
    }

    /// `raw(pk)`: the 97 bytes `0x04 ‖ X ‖ Y`.
    pub fn raw(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.raw
    }

    /// `b64(raw(pk))`, as published and as written into `ecdh` payloads.
    pub fn to_b64(&self) -> String {
        to_b64(&self.raw)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b64 = self.to_b64();
        write!(f, "PublicKey({}…)", &b64[..12])
    }
}

/// One's own identity private key, with its public key computed once (every key set names it).
#[derive(Clone)]
pub struct PrivateKey {
    secret: p384::SecretKey,
    public: PublicKey,
}

impl PrivateKey {
    /// The key of a JWK's `d` (base64url without padding, 48 bytes, RFC 7518 §6.2.2.1): all a
    /// P-384 private key is; `x` and `y` follow from it.
    pub fn from_jwk_d(d: &str) -> Result<Self, ProtocolError> {
        let d = jwk_field(d).ok_or(ProtocolError::BadIdentity)?;
        let secret = p384::SecretKey::from_slice(&d[..]).map_err(|_| ProtocolError::BadIdentity)?;
        let public = PublicKey::from_point(secret.public_key());
        Ok(Self { secret, public })
    }

    /// The key of a whole private JWK as the browser stores it (`crv`, `x`, `y`, `d`), checking
    /// that `x`/`y` are the public key of `d` — a store that mixes two keys would otherwise derive
    /// key sets the peer cannot reproduce.
    pub fn from_jwk(crv: &str, x: &str, y: &str, d: &str) -> Result<Self, ProtocolError> {
        let key = Self::from_jwk_d(d)?;
        let stated = PublicKey::from_jwk_xy(x, y).map_err(|_| ProtocolError::BadIdentity)?;
        if crv != "P-384" || stated != key.public {
            return Err(ProtocolError::BadIdentity);
        }
        Ok(key)
    }

    /// The public key of this identity.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// `Z = ECDH(own private, peer public)`: the 48-byte x-coordinate (WebCrypto
    /// `deriveBits(…, 384)`), wiped when dropped since it is the root of every key set.
    pub fn shared_secret(&self, peer: &PublicKey) -> Zeroizing<[u8; FIELD_BYTES]> {
        let shared = self.secret.diffie_hellman(&peer.point);
        let mut z = Zeroizing::new([0u8; FIELD_BYTES]);
        z.copy_from_slice(&shared.raw_secret_bytes()[..]);
        z
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A 48-byte JWK field (base64url, no padding), decoded in place and wiped when dropped since
/// `d` passes through it.
fn jwk_field(text: &str) -> Option<Zeroizing<[u8; FIELD_BYTES]>> {
    let mut out = Zeroizing::new([0u8; FIELD_BYTES]);
    let n = URL_SAFE_NO_PAD.decode_slice(text, &mut out[..]).ok()?;
    (n == FIELD_BYTES).then_some(out)
}
