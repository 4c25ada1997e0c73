//! Small cryptographic helpers shared by the services: random tokens from the OS CSPRNG,
//! hashes for stored lookups, constant-time comparison, and the server's own secret keys
//! (the password pepper and the key that encrypts TOTP secrets at rest).

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::core::Config;
use crate::core::secret::Secret;
use crate::tls::store::{create_private_dir, write_file};

/// `N` bytes straight from the operating system's CSPRNG (`getrandom(2)` on Linux), with no
/// user-space generator in between: every secret Parley makes (session ids, TOTP secrets,
/// recovery codes, salts for tokens, CAPTCHA ids, server keys) comes from here.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    b
}

/// A 256-bit random token, base64url (43 characters): session ids, CSRF tokens, registration ids.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A 128-bit random identifier, hex: user ids, public session ids, CAPTCHA ids.
pub fn random_id() -> String {
    hex(&random_bytes::<16>())
}

pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// How a bearer secret (session cookie, registration cookie) is stored: its SHA-256, so a
/// database leak does not hand out live sessions. 256-bit inputs need no salt or stretching.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The server's own secret keys, kept outside the database (§5.1.1.2 pepper, §5.1.4.2).
#[derive(Clone)]
pub struct ServerKeys {
    pepper: Secret<Vec<u8>>,
    totp_key: Secret<Vec<u8>>,
}

impl ServerKeys {
    /// From configuration, else from `<data_dir>/secrets/*.key`, made at first start (0600).
    pub fn load(config: &Config) -> Result<ServerKeys> {
        let dir = config.data_dir.join("secrets");
        let pepper = key_from(config.pepper.as_ref(), &dir.join("pepper.key"), "pepper")?;
        let totp_key = key_from(config.totp_key.as_ref(), &dir.join("totp.key"), "totp_key")?;
        if totp_key.len() != 32 {
            bail!("totp_key must be exactly 32 bytes (base64)");
        }
        Ok(ServerKeys {
            pepper: Secret::new(pepper),
            totp_key: Secret::new(totp_key),
        })
    }

    /// HMAC-SHA256 under the pepper: applied to every password before Argon2id, so the
    /// database alone is not enough to test guesses.
    pub fn pepper(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.pepper.expose())
            .expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// AES-256-GCM with a random 96-bit nonce; `aad` binds the ciphertext to its owner.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new_from_slice(self.totp_key.expose()).expect("32-byte key");
        let nonce_bytes = random_bytes::<12>();
        let nonce = Nonce::from(nonce_bytes);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of a short secret cannot fail");
        [nonce_bytes.as_slice(), &ct].concat()
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 12 + 16 {
            bail!("sealed value too short");
        }
        let cipher = Aes256Gcm::new_from_slice(self.totp_key.expose()).expect("32-byte key");
        let nonce_bytes: [u8; 12] = sealed[..12].try_into().expect("12 bytes");
        cipher
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: &sealed[12..],
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot decrypt (wrong totp_key?)"))
    }
}

fn key_from(configured: Option<&Secret<String>>, file: &Path, name: &str) -> Result<Vec<u8>> {
    let key = match configured {
        Some(b64) => STANDARD
            .decode(b64.expose().trim())
            .with_context(|| format!("{name} is not valid base64"))?,
        None if file.exists() => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            STANDARD
                .decode(text.trim())
                .with_context(|| format!("{} is not valid base64", file.display()))?
        }
        None => {
            let dir = file.parent().expect("a file in a directory");
            create_private_dir(dir)?;
            let key = random_bytes::<32>();
            write_file(file, STANDARD.encode(key).as_bytes(), 0o600)?;
            tracing::info!(path = %file.display(), "made a new {name}");
            key.to_vec()
        }
    };
    if key.len() < 32 {
        bail!("{name} must be at least 32 bytes (256 bits)");
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(random_id().len(), 32);
    }
}
