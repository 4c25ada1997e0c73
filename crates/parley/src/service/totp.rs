//! TOTP (RFC 6238) for the single-factor OTP authenticator (§5.1.4): HMAC-SHA1, 6 digits,
//! 30-second steps, a window of ±1 step. Secrets are 160 bits from the OS CSPRNG. Each code is
//! accepted once: the caller stores the last accepted step and only a later step is accepted
//! (replay resistance, §5.1.4.1-once-per-nonce).

use base64::Engine;
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;

pub use parley_api::limits::{TOTP_DIGITS as DIGITS, TOTP_PERIOD_SECS as PERIOD};
/// Steps accepted either side of now (clock drift plus typing time).
pub const WINDOW: i64 = 1;
pub const ISSUER: &str = "Parley";

pub fn new_secret() -> [u8; 20] {
    super::crypto::random_bytes::<20>()
}

pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(PERIOD)
}

/// The RFC 4226 HOTP value for one counter.
pub fn code_at_step(secret: &[u8], step: i64) -> u32 {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(&(step as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 10u32.pow(DIGITS)
}

/// The step whose code is `code`, if it lies in the window around `now` and after
/// `last_step` (the last accepted step, 0 if none).
pub fn verify(secret: &[u8], code: &str, now: i64, last_step: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let current = step_at(now);
    let mut hit = None;
    // Compute every candidate so timing does not reveal which step matched.
    for step in (current - WINDOW)..=(current + WINDOW) {
        let matches = subtle::ConstantTimeEq::ct_eq(&code_at_step(secret, step), &wanted);
        if bool::from(matches) && step > last_step {
            hit = Some(step);
        }
    }
    hit
}

/// What the user needs to enrol: the base32 secret, the `otpauth://` URI and a QR code of it
/// (an SVG rendered here — never by a third-party service), as a data URI.
pub use parley_api::TotpProvisioning as Provisioning;

pub fn provisioning(secret: &[u8], username: &str) -> Provisioning {
    let b32 = BASE32_NOPAD.encode(secret);
    let label = utf8_percent_encode(&format!("{ISSUER}:{username}"), NON_ALPHANUMERIC).to_string();
    let uri = format!(
        "otpauth://totp/{label}?secret={b32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}"
    );
    let svg = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map(|qr| {
            qr.render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    Provisioning {
        secret: b32,
        otpauth_uri: uri,
        qr: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        ),
        digits: DIGITS,
        period: PERIOD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", 8-digit values mod 10^6.
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        for (t, expected) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(
                code_at_step(seed, step_at(t)),
                expected % 1_000_000,
                "t={t}"
            );
        }
    }

    #[test]
    fn window_and_replay() {
        let s = new_secret();
        let now = 1_700_000_000;
        let code = |d: i64| format!("{:06}", code_at_step(&s, step_at(now) + d));
        for d in [-1, 0, 1] {
            assert_eq!(
                verify(&s, &code(d), now, 0),
                Some(step_at(now) + d),
                "step {d}"
            );
        }
        for d in [-3, -2, 2, 3] {
            assert_eq!(
                verify(&s, &code(d), now, 0),
                None,
                "step {d} outside the window"
            );
        }
        // once accepted, the same step (and earlier ones) are refused
        assert_eq!(verify(&s, &code(0), now, step_at(now)), None);
        assert_eq!(verify(&s, &code(-1), now, step_at(now)), None);
        assert_eq!(verify(&s, "12345", now, 0), None);
        assert_eq!(verify(&s, "abcdef", now, 0), None);
    }

    #[test]
    fn provisioning_uri() {
        let p = provisioning(&[0u8; 20], "álice");
        assert_eq!(p.secret.len(), 32, "160 bits = 32 base32 characters");
        assert!(
            p.otpauth_uri
                .starts_with("otpauth://totp/Parley%3A%C3%A1lice?secret=")
        );
        assert!(
            p.otpauth_uri
                .contains("&issuer=Parley&algorithm=SHA1&digits=6&period=30")
        );
        assert!(p.qr.starts_with("data:image/svg+xml;base64,"));
    }
}
