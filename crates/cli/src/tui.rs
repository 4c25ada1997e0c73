//! The full-screen chat (ratatui + crossterm).

use anyhow::{Result, bail};

use crate::profile::Profile;

/// `parley-chat chat` (the default command).
pub fn run(_profile: &Profile) -> Result<()> {
    bail!("not built yet")
}
