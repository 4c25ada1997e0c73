//! Password storage (A2, §5.1.1.2): HMAC-SHA256 under the server's pepper, then Argon2id with a
//! random 128-bit salt. The stored string names the scheme and parameters (`hp1$<PHC string>`)
//! so they can be raised later: a login with outdated parameters rehashes.
//!
//! Hashing runs on the blocking pool behind a semaphore of `hash_concurrency` permits, with a
//! bounded queue, so a flood of logins can neither exhaust memory (each hash takes m KiB) nor
//! starve the async runtime that carries chat traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use super::crypto::ServerKeys;
use crate::core::{AppError, AppResult, Config};

const SCHEME: &str = "hp1$";
/// Requests allowed to wait for a hashing slot; beyond this the server answers `busy` at once.
const MAX_QUEUE: usize = 256;

#[derive(Clone)]
pub struct Hasher {
    keys: ServerKeys,
    params: Params,
    slots: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    /// A hash of a random password, verified when the user does not exist so that timing does
    /// not reveal which usernames are registered.
    dummy: Arc<String>,
}

/// Cheap Argon2id parameters for recovery codes: they carry 80 random bits, so stretching only
/// needs to make offline guessing of a leaked table pointless, not slow down humans' choices.
fn code_params() -> Params {
    Params::new(4096, 1, 1, Some(32)).expect("valid parameters")
}

impl Hasher {
    pub fn new(config: &Config, keys: ServerKeys) -> anyhow::Result<Hasher> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            1,
            Some(32),
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let permits = config
            .hash_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let dummy_pw = super::crypto::random_token();
        let dummy = hash_blocking(&keys, &params, dummy_pw.as_bytes())?;
        Ok(Hasher {
            keys,
            params,
            slots: Arc::new(Semaphore::new(permits)),
            queued: Arc::new(AtomicUsize::new(0)),
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes waiting for a slot (the `password_hash_queue_depth` metric).
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Hash a (normalized) password for storage.
    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let (keys, params, pw) = (self.keys.clone(), self.params.clone(), password.to_owned());
        self.run(move || hash_blocking(&keys, &params, pw.as_bytes()))
            .await?
            .map_err(AppError::Internal)
    }

    /// Check a password against a stored hash; `None` stored means "no such user" and verifies
    /// the dummy hash instead (same work, same answer).
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> AppResult<Verified> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy).to_owned();
        let (keys, params, pw) = (self.keys.clone(), self.params.clone(), password.to_owned());
        let ok = self
            .run(move || verify_blocking(&keys, &params, pw.as_bytes(), &stored))
            .await?;
        Ok(match ok {
            Some(needs_rehash) if exists => Verified::Ok { needs_rehash },
            _ => Verified::Wrong,
        })
    }

    /// Hash a recovery code (cheap parameters, same pepper).
    pub async fn hash_code(&self, code: &str) -> AppResult<String> {
        let (keys, code) = (self.keys.clone(), code.to_owned());
        self.run(move || hash_blocking(&keys, &code_params(), code.as_bytes()))
            .await?
            .map_err(AppError::Internal)
    }

    /// Which of `stored` (recovery-code hashes) matches `code`, if any.
    pub async fn find_code(
        &self,
        code: &str,
        stored: Vec<(i64, String)>,
    ) -> AppResult<Option<i64>> {
        let (keys, code) = (self.keys.clone(), code.to_owned());
        self.run(move || {
            let mut found = None;
            // Check every code, not just up to the match, so timing does not tell which one.
            for (id, hash) in &stored {
                if verify_blocking(&keys, &code_params(), code.as_bytes(), hash).is_some() {
                    found = Some(*id);
                }
            }
            found
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        if self.queued.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUE {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(AppError::Busy);
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.map_err(|e| AppError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Ok { needs_rehash: bool },
    Wrong,
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(keys: &ServerKeys, params: &Params, secret: &[u8]) -> anyhow::Result<String> {
    let peppered = keys.pepper(secret);
    let phc = argon2(params)
        .hash_password(&peppered)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(format!("{SCHEME}{phc}"))
}

/// `Some(needs_rehash)` when the secret matches.
fn verify_blocking(
    keys: &ServerKeys,
    params: &Params,
    secret: &[u8],
    stored: &str,
) -> Option<bool> {
    let phc = stored.strip_prefix(SCHEME)?;
    let parsed = PasswordHash::new(phc).ok()?;
    let peppered = keys.pepper(secret);
    argon2(params).verify_password(&peppered, &parsed).ok()?;
    let current = Params::try_from(&parsed).ok();
    let needs_rehash = current.is_none_or(|p| {
        p.m_cost() != params.m_cost()
            || p.t_cost() != params.t_cost()
            || p.p_cost() != params.p_cost()
    });
    Some(needs_rehash)
}
