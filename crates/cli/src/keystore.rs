//! The local state file (issue 12 "Local state encrypted at rest"): one sealed file per account,
//! mode 0600, sealed with AES-256-GCM under a key derived from a local passphrase by Argon2id;
//! written atomically so a crash mid-write leaves a good copy; a wrong passphrase or a damaged
//! file is a clear error and nothing is overwritten. An exclusive lock is held while a process
//! uses the account.
//!
//! # The file
//!
//! ```json
//! {"format":"parley-chat-state","version":1,
//!  "kdf":{"alg":"argon2id","m_kib":19456,"t":2,"p":1,"salt":"<base64, 16 bytes>"},
//!  "key_check":"<base64, 16 bytes>",
//!  "nonce":"<base64, 12 bytes>","ciphertext":"<base64: AES-256-GCM of the state's JSON + tag>"}
//! ```
//!
//! - Argon2id(passphrase, salt) gives 48 bytes: the first 32 are the AES-256-GCM key, the last
//!   16 are `key_check`, which tells a wrong passphrase ("wrong passphrase") from a damaged
//!   ciphertext ("damaged"). It is no easier to attack than the ciphertext's own tag: both
//!   need one Argon2id per guess.
//! - The key is derived once per open (or create) and kept, zeroized on drop; the salt is
//!   chosen on create only, so `<file>.prev` opens with the same passphrase.
//! - Every save seals under a fresh random 96-bit nonce (never a counter, so neither a crash
//!   mid-write nor a restored old copy can make a nonce repeat). The AAD is the JSON of the
//!   header fields (`format`, `version`, `kdf`, `key_check`), so none of them can be swapped.
//!
//! # Writing
//!
//! [`StateFile::save`]: write `<file>.tmp` (created exclusively, 0600), fsync it; make
//! `<file>.prev` the current file (a hard link, or a copy where links are not possible); rename
//! the temporary file over `<file>`; fsync the directory. At every instant `<file>` is a complete
//! file (the old or the new one) and `<file>.prev` is absent or the generation before it.
//!
//! # Opening
//!
//! A wrong passphrase, a truncated or corrupted file, a file that is not ours, or one written by
//! a newer `parley-chat` is an [`Exit`] with [`exit::LOCAL_STATE`] and a message naming the file;
//! nothing is written (the file that failed to open is never written over). A damaged file's
//! message points at `<file>.prev`. A state file readable by anyone but its owner is tightened
//! to 0600 with a warning on stderr (its content is sealed, so this is hygiene, not a leak).
//!
//! # Locking
//!
//! `flock(LOCK_EX | LOCK_NB)` on `<file>.lock`, held as long as the [`StateFile`] lives: a
//! second `parley-chat` on the same account is refused ("in use by another parley-chat")
//! rather than racing saves.
//!
//! CONTRACT (the skeleton's):
//! - [`AccountState`]: everything kept for one account — server URL, user id, username, the
//!   session (cookie token + CSRF token) if signed in, the identity private key (JWK `d`), and
//!   per peer the conversation `Store` of `parley_protocol::conversation` (a serde mirror, since
//!   the protocol crate's types are not serde), the peer's username, the highest message id
//!   acknowledged / read.
//! - [`StateFile::create`] / [`StateFile::open`] / [`StateFile::save`].
//! - [`passphrase`]: `PARLEY_PASSPHRASE` if set, else a prompt on the terminal (twice when
//!   creating).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use anyhow::{Context, Result};
use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::exit::{self, Exit};

/// Everything kept for one account (see the module's contract).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountState {
    pub server: String,
    pub user_id: String,
    pub username: String,
    pub session: Option<KeptSession>,
    /// The identity private key (JWK `d`), made once and published (engine::ensure_identity).
    #[serde(default)]
    pub identity: Option<crate::engine::store::IdentitySecret>,
    /// Per peer user id: the conversation's stored state, the peer's username, ids seen
    /// (engine::store).
    #[serde(default)]
    pub peers: std::collections::BTreeMap<String, crate::engine::store::PeerState>,
}

/// A signed-in session: the cookie's value and the CSRF token. Never printed by `Debug`;
/// wiped when dropped.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct KeptSession {
    pub token: String,
    pub csrf: String,
}

impl std::fmt::Debug for KeptSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeptSession { .. }")
    }
}

impl Drop for KeptSession {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
        zeroize::Zeroize::zeroize(&mut self.csrf);
    }
}

/// The `format` field.
pub const FORMAT: &str = "parley-chat-state";
/// The envelope version this build writes and the newest it reads.
pub const VERSION: u32 = 1;
/// Argon2id memory (KiB), passes and lanes of new files (OWASP's first recommendation).
pub const M_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_LANES: u32 = 1;

const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Limits on the KDF parameters a file may ask for (a hostile file must not make us allocate
/// gigabytes or spin for minutes).
const MAX_M_KIB: u32 = 256 * 1024;
const MAX_T: u32 = 8;
const MAX_P: u32 = 16;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Kdf {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

/// The authenticated header (the AAD is its JSON, in this field order).
#[derive(Serialize)]
struct Header<'a> {
    format: &'a str,
    version: u32,
    kdf: &'a Kdf,
    key_check: &'a str,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    kdf: Kdf,
    key_check: String,
    nonce: String,
    ciphertext: String,
}

/// Only what identifies the file, read first so a newer version is told apart from damage.
#[derive(Deserialize)]
struct Probe {
    format: Option<String>,
    version: Option<u32>,
}

/// An open, locked state file.
pub struct StateFile {
    path: PathBuf,
    kdf: Kdf,
    key_check: String,
    key: Zeroizing<[u8; 32]>,
    /// The open `<file>.lock` holding the `flock` (released when closed).
    _lock: File,
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn local(message: String) -> anyhow::Error {
    Exit::new(exit::LOCAL_STATE, message).into()
}

/// `<file><suffix>` (`.prev`, `.tmp`, `.lock`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The previous good copy of `path`.
pub fn prev_path(path: &Path) -> PathBuf {
    sibling(path, ".prev")
}

impl StateFile {
    /// Create `path` (must not exist) holding `state`, sealed under `passphrase`. Its directory
    /// is created 0700 if missing.
    pub fn create(path: &Path, passphrase: &str, state: &AccountState) -> Result<Self> {
        if let Some(dir) = path.parent() {
            crate::profile::create_private_dir(dir)?;
        }
        let lock = lock(path)?;
        if path.exists() {
            return Err(local(format!(
                "{} already exists (nothing was changed)",
                path.display()
            )));
        }
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let kdf = Kdf {
            alg: "argon2id".into(),
            m_kib: M_KIB,
            t: T_COST,
            p: P_LANES,
            salt: BASE64.encode(&salt),
        };
        let (key, check) = derive(passphrase, &kdf, &salt)?;
        let mut file = StateFile {
            path: path.to_owned(),
            kdf,
            key_check: BASE64.encode(&check),
            key,
            _lock: lock,
        };
        file.save(state)?;
        Ok(file)
    }

    /// Open and unseal `path`, holding its lock.
    pub fn open(path: &Path, passphrase: &str) -> Result<(Self, AccountState)> {
        let lock = lock(path)?;
        let u = unseal(path, passphrase)?;
        Ok((
            StateFile {
                path: path.to_owned(),
                kdf: u.kdf,
                key_check: u.key_check,
                key: u.key,
                _lock: lock,
            },
            u.state,
        ))
    }

    /// Unseal `path` without taking its lock, for a read-only look (e.g. the session token
    /// of `parley-chat sessions` while a chat runs): writes are atomic renames, so what is read
    /// is always one complete generation.
    pub fn read(path: &Path, passphrase: &str) -> Result<AccountState> {
        unseal(path, passphrase).map(|u| u.state)
    }

    /// Seal and write `state` atomically (see the module's "Writing").
    pub fn save(&mut self, state: &AccountState) -> Result<()> {
        let plain = Zeroizing::new(serde_json::to_vec(state)?);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let aad = header_json(&self.kdf, &self.key_check)?;
        let sealed = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.key))
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot seal the state"))?;
        let env = Envelope {
            format: FORMAT.into(),
            version: VERSION,
            kdf: self.kdf.clone(),
            key_check: self.key_check.clone(),
            nonce: BASE64.encode(&nonce),
            ciphertext: BASE64.encode(&sealed),
        };
        let mut bytes = serde_json::to_vec(&env)?;
        bytes.push(b'\n');
        write_atomically(&self.path, &bytes)
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Delete the state file and its previous copy (the account is gone). The lock file goes
    /// too; the lock itself is released when `self` drops.
    pub fn remove(self) -> Result<()> {
        for p in [
            self.path.clone(),
            prev_path(&self.path),
            sibling(&self.path, ".tmp"),
            sibling(&self.path, ".lock"),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
            }
        }
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// What [`unseal`] finds in a file.
struct Unsealed {
    kdf: Kdf,
    key_check: String,
    key: Zeroizing<[u8; 32]>,
    state: AccountState,
}

/// Read, check and decrypt `path`.
fn unseal(path: &Path, passphrase: &str) -> Result<Unsealed> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(local(format!("{} does not exist", path.display())));
        }
        Err(e) => {
            return Err(local(format!("cannot read {}: {e}", path.display())));
        }
    };
    tighten_mode(path)?;
    let damaged = |why: &str| {
        local(format!(
            "{} is damaged ({why}); nothing was changed. The previous good copy is {} — \
             move it into place to recover",
            path.display(),
            prev_path(path).display()
        ))
    };
    // What is it? (A newer version is not damage.)
    let probe: Probe = serde_json::from_slice(&bytes)
        .map_err(|_| damaged("not a complete parley-chat state file"))?;
    if probe.format.as_deref() != Some(FORMAT) {
        return Err(damaged("not a parley-chat state file"));
    }
    match probe.version {
        Some(v) if v > VERSION => {
            return Err(local(format!(
                "{} was written by a newer parley-chat (state format version {v}; this one \
                 reads up to {VERSION}): upgrade parley-chat (nothing was changed)",
                path.display()
            )));
        }
        Some(VERSION) => {}
        _ => return Err(damaged("unknown state format version")),
    }
    let env: Envelope = serde_json::from_slice(&bytes).map_err(|_| damaged("bad envelope"))?;
    let kdf = env.kdf.clone();
    if kdf.alg != "argon2id"
        || kdf.m_kib > MAX_M_KIB
        || kdf.t == 0
        || kdf.t > MAX_T
        || kdf.p == 0
        || kdf.p > MAX_P
    {
        return Err(damaged("bad key derivation parameters"));
    }
    let salt = decode_len(&kdf.salt, SALT_LEN).ok_or_else(|| damaged("bad salt"))?;
    let check = decode_len(&env.key_check, CHECK_LEN).ok_or_else(|| damaged("bad key check"))?;
    let nonce = decode_len(&env.nonce, NONCE_LEN).ok_or_else(|| damaged("bad nonce"))?;
    let sealed = BASE64
        .decode(env.ciphertext.as_bytes())
        .ok()
        .filter(|c| c.len() >= TAG_LEN)
        .ok_or_else(|| damaged("bad ciphertext"))?;
    let (key, derived_check) =
        derive(passphrase, &kdf, &salt).map_err(|_| damaged("bad key derivation parameters"))?;
    if !ct_eq(&derived_check[..], &check) {
        return Err(local(format!(
            "wrong passphrase for {} (nothing was changed)",
            path.display()
        )));
    }
    let aad = header_json(&kdf, &env.key_check)?;
    let nonce: [u8; NONCE_LEN] = nonce
        .as_slice()
        .try_into()
        .map_err(|_| damaged("bad nonce"))?;
    let plain = Zeroizing::new(
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| damaged("the sealed content does not authenticate"))?,
    );
    let state: AccountState =
        serde_json::from_slice(&plain).map_err(|_| damaged("unreadable content"))?;
    Ok(Unsealed {
        kdf,
        key_check: env.key_check,
        key,
        state,
    })
}

/// The exclusive, non-blocking lock on `<path>.lock`.
fn lock(path: &Path) -> Result<File> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| local(format!("cannot open {}: {e}", lock_path.display())))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(local(format!(
            "{} is in use by another parley-chat (close it first)",
            path.display()
        ))),
        Err(e) => Err(local(format!("cannot lock {}: {e}", lock_path.display()))),
    }
}

/// Argon2id → (AES key, key check).
fn derive(
    passphrase: &str,
    kdf: &Kdf,
    salt: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, [u8; CHECK_LEN])> {
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32 + CHECK_LEN))
        .map_err(|e| anyhow::anyhow!("bad key derivation parameters: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32 + CHECK_LEN]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut out[..])
        .map_err(|e| anyhow::anyhow!("key derivation failed: {e}"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&out[..32]);
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&out[32..]);
    Ok((key, check))
}

fn header_json(kdf: &Kdf, key_check: &str) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&Header {
        format: FORMAT,
        version: VERSION,
        kdf,
        key_check,
    })?)
}

fn decode_len(b64: &str, len: usize) -> Option<Vec<u8>> {
    BASE64
        .decode(b64.as_bytes())
        .ok()
        .filter(|v| v.len() == len)
}

/// Constant-time equality of two byte strings of public length.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A state file readable or writable by others is tightened to 0600 (with a warning).
fn tighten_mode(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| local(format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            local(format!(
                "{} is mode {mode:o} (readable by others) and cannot be made 0600: {e}",
                path.display()
            ))
        })?;
        eprintln!(
            "parley-chat: {} was mode {mode:o}; it is now 0600 (owner only)",
            path.display()
        );
    }
    Ok(())
}

/// `<path>.tmp` (exclusive, 0600) + fsync; `<path>.prev` := the current file; rename; fsync dir.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = sibling(path, ".tmp");
    // We hold the lock: a `.tmp` here is what a crashed writer left behind.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", tmp.display())),
    }
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    if path.exists() {
        keep_previous(path)?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", tmp.display()))?;
    sync_dir(dir)
}

/// Make `<path>.prev` the current (good) `path`: a hard link, or a copy through a temporary
/// file. `path` stays in place throughout.
fn keep_previous(path: &Path) -> Result<()> {
    let prev = prev_path(path);
    let staged = sibling(path, ".prev.tmp");
    for p in [&staged] {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
        }
    }
    if std::fs::hard_link(path, &staged).is_err() {
        let mut src =
            File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut content = Vec::new();
        src.read_to_end(&mut content)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged)
            .with_context(|| format!("cannot create {}", staged.display()))?;
        f.write_all(&content)?;
        f.sync_all()?;
        content.zeroize();
    }
    // Atomic replace of the old `.prev`: there is always one good previous copy on disk.
    std::fs::rename(&staged, &prev)
        .with_context(|| format!("cannot move {} into place", staged.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// The passphrase: `PARLEY_PASSPHRASE`, or asked on the terminal (`confirm`: twice, and the two
/// must match). From a pipe (stdin not a terminal, no variable) it is one line of stdin.
pub fn passphrase(prompt: &str, confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var("PARLEY_PASSPHRASE")
        && !p.is_empty()
    {
        return Ok(p);
    }
    let first = crate::prompt::secret(prompt)?;
    if first.is_empty() {
        return Err(Exit::new(exit::USAGE, "the passphrase is empty").into());
    }
    if confirm {
        if first.chars().count() < 8 {
            return Err(Exit::new(
                exit::USAGE,
                "the passphrase is shorter than 8 characters: choose a longer one",
            )
            .into());
        }
        let again = Zeroizing::new(crate::prompt::secret("The same passphrase again")?);
        if !ct_eq(first.as_bytes(), again.as_bytes()) {
            return Err(Exit::new(exit::USAGE, "the two passphrases differ").into());
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn siblings() {
        let p = Path::new("/x/alice.state");
        assert_eq!(prev_path(p), Path::new("/x/alice.state.prev"));
        assert_eq!(sibling(p, ".lock"), Path::new("/x/alice.state.lock"));
    }
}
