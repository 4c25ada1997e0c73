//! The scriptable mode: `send`, `read --json`, `watch --json` (one JSON line per event),
//! `conversations`, `safety-number`, `verify`, `refresh`; exit codes from [`crate::exit`].

use anyhow::{Result, bail};

use crate::profile::Profile;

/// `parley-chat send USER TEXT`.
#[derive(Clone, Debug, clap::Args)]
pub struct SendArgs {
    /// The recipient's exact username.
    pub to: String,
    /// The message; `-` reads it from standard input (multi-line).
    pub text: String,
}

/// `parley-chat read USER`.
#[derive(Clone, Debug, clap::Args)]
pub struct ReadArgs {
    /// The contact's exact username.
    pub with: String,
    /// At most this many of the newest messages.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `parley-chat watch`.
#[derive(Clone, Debug, clap::Args)]
pub struct WatchArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// A command naming one contact.
#[derive(Clone, Debug, clap::Args)]
pub struct PeerArgs {
    /// The contact's exact username.
    pub with: String,
}

pub fn send(_profile: &Profile, _args: &SendArgs) -> Result<()> {
    bail!("not built yet")
}

pub fn read(_profile: &Profile, _args: &ReadArgs) -> Result<()> {
    bail!("not built yet")
}

pub fn watch(_profile: &Profile, _args: &WatchArgs) -> Result<()> {
    bail!("not built yet")
}
