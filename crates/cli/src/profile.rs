//! Where an account's local state lives and which server it talks to.
//!
//! `<state dir>/<host>_<port>/<username>.state` (the sealed file of [`crate::keystore`]), and
//! `<state dir>/<host>_<port>/default` naming the account used when `--user` is not given (a
//! username is not a secret). The state dir is `--state-dir`, or the user's config directory
//! (`directories`: `~/.config/parley-chat` on Linux).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use url::Url;

/// The global options every command gets.
#[derive(Clone, Debug)]
pub struct Profile {
    /// `https://host:port`.
    pub server: String,
    /// Trust this CA alone (Parley's own CA, printed by `parley serve`).
    pub ca_file: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The account, if named.
    pub username: Option<String>,
}

impl Profile {
    /// The default state directory.
    pub fn default_state_dir() -> Result<PathBuf> {
        directories::ProjectDirs::from("", "", "parley-chat")
            .map(|d| d.config_dir().to_path_buf())
            .context("no home directory: pass --state-dir")
    }

    /// The directory of this server's accounts.
    pub fn server_dir(&self) -> Result<PathBuf> {
        let url = Url::parse(&self.server).context("--server is not a URL")?;
        let host = url.host_str().unwrap_or("server");
        let port = url.port_or_known_default().unwrap_or(443);
        let safe: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(self.state_dir.join(format!("{safe}_{port}")))
    }

    /// The state file of `username` on this server.
    pub fn state_file(&self, username: &str) -> Result<PathBuf> {
        // The name may come from the server: never a path of its own.
        if username.is_empty() || username.starts_with('.') || username.contains(['/', '\\', '\0'])
        {
            return Err(crate::exit::Exit::new(
                crate::exit::LOCAL_STATE,
                format!("{username:?} cannot name a local state file"),
            )
            .into());
        }
        Ok(self
            .server_dir()?
            .join(format!("{}.state", username.to_lowercase())))
    }

    /// The account to use: `--user`, or the server's default account.
    pub fn account(&self) -> Result<String> {
        if let Some(u) = &self.username {
            return Ok(u.clone());
        }
        let path = self.server_dir()?.join("default");
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|_| {
                anyhow::Error::new(crate::exit::Exit::new(
                    crate::exit::SIGN_IN_NEEDED,
                    "no account on this server yet: run `parley-chat register` or `parley-chat login`",
                ))
            })
    }

    /// Make `username` the default account of this server.
    pub fn set_default(&self, username: &str) -> Result<()> {
        let dir = self.server_dir()?;
        create_private_dir(&dir)?;
        std::fs::write(dir.join("default"), format!("{username}\n"))
            .with_context(|| format!("cannot write {}", dir.display()))
    }
}

/// `mkdir -p` with mode 0700 for what it creates.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}
