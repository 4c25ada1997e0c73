//! The local state file (issue 12 "Local state encrypted at rest"): one sealed file per account,
//! mode 0600, sealed with AES-256-GCM under a key derived from a local passphrase by Argon2id;
//! written atomically (temporary file, fsync, rename, fsync of the directory) so a crash
//! mid-write leaves the previous good copy; a wrong passphrase or a damaged file is a clear
//! error and nothing is overwritten. An exclusive lock is held while a process uses the account.
//!
//! CONTRACT (the skeleton's; the keystore/engine helper fills in the bodies):
//! - [`AccountState`]: everything kept for one account — server URL, user id, username, the
//!   session (cookie token + CSRF token) if signed in, the identity private key (JWK `d`), and
//!   per peer the conversation `Store` of `parley_protocol::conversation` (a serde mirror, since
//!   the protocol crate's types are not serde), the peer's username, the highest message id
//!   acknowledged / read.
//! - [`StateFile::create`] / [`StateFile::open`] / [`StateFile::save`].
//! - [`passphrase`]: `PARLEY_PASSPHRASE` if set, else a prompt on the terminal (twice when
//!   creating).

use std::path::Path;

use anyhow::{Result, bail};

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

/// A signed-in session: the cookie's value and the CSRF token.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KeptSession {
    pub token: String,
    pub csrf: String,
}

/// An open, locked state file.
pub struct StateFile {}

impl StateFile {
    /// Create `path` (must not exist) holding `state`, sealed under `passphrase`.
    pub fn create(_path: &Path, _passphrase: &str, _state: &AccountState) -> Result<Self> {
        bail!("not built yet")
    }

    /// Open and unseal `path`.
    pub fn open(_path: &Path, _passphrase: &str) -> Result<(Self, AccountState)> {
        bail!("not built yet")
    }

    /// Seal and write `state` atomically.
    pub fn save(&mut self, _state: &AccountState) -> Result<()> {
        bail!("not built yet")
    }
}

/// The passphrase: `PARLEY_PASSPHRASE`, or asked on the terminal (`confirm`: twice).
pub fn passphrase(_prompt: &str, _confirm: bool) -> Result<String> {
    bail!("not built yet")
}
