//! Accounts from the terminal: register (CAPTCHA, TOTP enrolment with the QR drawn in the
//! terminal and the grouped secret, the recovery codes shown once), sign in (password, CAPTCHA,
//! then TOTP or a recovery code), sign out, the sessions list, deleting the account. The rules
//! and error messages are the server's.

use anyhow::{Result, bail};

use crate::profile::Profile;

/// `parley-chat register`.
#[derive(Clone, Debug, clap::Args)]
pub struct RegisterArgs {
    /// The username (asked if not given).
    #[arg(long)]
    pub username: Option<String>,
}

/// `parley-chat login`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoginArgs {
    /// The username (asked if not given).
    #[arg(long)]
    pub username: Option<String>,
    /// Use a recovery code instead of the authenticator app.
    #[arg(long)]
    pub recovery: bool,
}

/// `parley-chat sessions`.
#[derive(Clone, Debug, clap::Args)]
pub struct SessionsArgs {
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn register(_profile: &Profile, _args: &RegisterArgs) -> Result<()> {
    bail!("not built yet")
}

pub fn login(_profile: &Profile, _args: &LoginArgs) -> Result<()> {
    bail!("not built yet")
}

pub fn logout(_profile: &Profile) -> Result<()> {
    bail!("not built yet")
}

pub fn sessions(_profile: &Profile, _args: &SessionsArgs) -> Result<()> {
    bail!("not built yet")
}

pub fn delete_account(_profile: &Profile) -> Result<()> {
    bail!("not built yet")
}
