//! Questions on the terminal. Prompts go to stderr (stdout stays for what a script may parse),
//! answers come from stdin; each prompt ends with `": "` so a program driving `parley-chat`
//! through a pipe can wait for it. On a terminal a secret is read without echo (from the
//! terminal itself); from a pipe it is one plain line. End of input is a clear error, never an
//! empty answer.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};

use crate::exit;

/// Whether stdin is a terminal (secrets are then read without echo).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

fn show(prompt: &str) -> Result<()> {
    let mut err = std::io::stderr().lock();
    write!(err, "{}", with_colon(prompt))?;
    err.flush()?;
    Ok(())
}

/// `prompt` with the `": "` every prompt ends with.
fn with_colon(prompt: &str) -> String {
    let p = prompt.trim_end().trim_end_matches(':');
    format!("{p}: ")
}

/// One answer line (without its line ending).
pub fn line(prompt: &str) -> Result<String> {
    show(prompt)?;
    read_stdin_line(prompt)
}

/// A secret (password, passphrase, code): no echo on a terminal, a plain line from a pipe.
pub fn secret(prompt: &str) -> Result<String> {
    if interactive() {
        show(prompt)?;
        match rpassword::read_password() {
            Ok(secret) => Ok(secret),
            // Ctrl-C at the prompt (rpassword turns signals off while it reads, and restores
            // the terminal before returning this).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                eprintln!();
                Err(exit::Exit::new(exit::FAILURE, "interrupted").into())
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", name(prompt))),
        }
    } else {
        line(prompt)
    }
}

/// A yes/no question (default: no).
pub fn confirm(prompt: &str) -> Result<bool> {
    let answer = line(&format!("{} [y/N]", prompt.trim_end_matches(':')))?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

fn read_stdin_line(prompt: &str) -> Result<String> {
    let mut buf = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut buf)
        .with_context(|| format!("cannot read {}", name(prompt)))?;
    if n == 0 {
        if !interactive() {
            // The prompt line was left open: end it so the error starts on its own line.
            eprintln!();
        }
        return Err(exit::Exit::new(
            exit::USAGE,
            format!("no answer to \"{}\" (end of input)", name(prompt)),
        )
        .into());
    }
    while buf.ends_with('\n') || buf.ends_with('\r') {
        buf.pop();
    }
    Ok(buf)
}

fn name(prompt: &str) -> &str {
    prompt.trim().trim_end_matches(':').trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_end_with_colon_space() {
        assert_eq!(with_colon("Username"), "Username: ");
        assert_eq!(with_colon("Username: "), "Username: ");
        assert_eq!(with_colon("Code:"), "Code: ");
    }
}
