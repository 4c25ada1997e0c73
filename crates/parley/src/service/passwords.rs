//! Password storage (A2, §5.1.1.2): HMAC-SHA256 under the server's pepper, then Argon2id with a
//! random 128-bit salt. The stored string names the scheme and parameters (`hp1$<PHC string>`)
//! so they can be raised later: a login with outdated parameters rehashes.
//!
//! Hashing runs on its own threads (issue 10), `hash_concurrency` of them (default: the CPUs
//! minus one, at least one), at a lower OS priority (nice `HASH_NICE`), fed by a bounded queue:
//! a flood of sign-ins can neither exhaust memory (each hash takes m KiB) nor take the CPUs
//! from the tokio workers that carry chat traffic — the kernel runs those first — and past
//! `MAX_QUEUE` waiting hashes the server answers `503 busy` (with `Retry-After`) at once.
//! CAPTCHA images and audio are drawn on the same threads (`Hasher::run_in_background`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::oneshot;

use super::crypto::ServerKeys;
use crate::core::{AppError, AppResult, Config};

const SCHEME: &str = "hp1$";
/// Requests allowed to wait for a hashing thread; beyond this the server answers `busy` at once.
pub const MAX_QUEUE: usize = 256;
/// The nice value of the hashing threads (0 is the default; 19 the lowest priority).
pub const HASH_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and their queue. The threads end when the last `Hasher` is dropped.
struct Pool {
    tx: SyncSender<Job>,
    /// Jobs sent and not yet taken by a thread (the `password_hash_queue_depth` metric).
    queued: Arc<AtomicUsize>,
}

impl Pool {
    fn start(threads: usize) -> anyhow::Result<Pool> {
        let (tx, rx) = sync_channel::<Job>(MAX_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("parley-hash-{i}"))
                .spawn(move || work(&rx))?;
        }
        Ok(Pool {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
        })
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    // On Linux the nice value is per thread: `setpriority(PRIO_PROCESS, 0, …)` lowers this one
    // only. Not fatal where it is refused.
    if let Err(e) = rustix::process::setpriority_process(None, HASH_NICE) {
        tracing::warn!(error = %e, "cannot lower the priority of a hashing thread");
    }
    loop {
        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// The default number of hashing threads: the CPUs minus one (one is left to chat), at least 1.
pub fn default_hash_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

#[derive(Clone)]
pub struct Hasher {
    keys: ServerKeys,
    params: Params,
    pool: Arc<Pool>,
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
        let threads = config.hash_concurrency.unwrap_or_else(default_hash_threads);
        let dummy_pw = super::crypto::random_token();
        let dummy = hash_blocking(&keys, &params, dummy_pw.as_bytes())?;
        Ok(Hasher {
            keys,
            params,
            pool: Arc::new(Pool::start(threads)?),
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes waiting for a slot (the `password_hash_queue_depth` metric).
    pub fn queue_depth(&self) -> usize {
        self.pool.queued.load(Ordering::Relaxed)
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

    /// Other CPU-heavy work that anyone can ask for and that must not take the CPUs from chat
    /// (CAPTCHA images and audio): on the same low-priority threads and bounded queue as the
    /// hashes (`busy` when it is full).
    pub async fn run_in_background<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        self.run(f).await
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        let (reply, answer) = oneshot::channel();
        let queued = self.pool.queued.clone();
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(f());
        });
        self.pool.queued.fetch_add(1, Ordering::Relaxed);
        match self.pool.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.pool.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(AppError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.pool.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(AppError::Internal(anyhow::anyhow!(
                    "the hashing threads ended"
                )));
            }
        }
        answer
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a hashing job was lost")))
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
