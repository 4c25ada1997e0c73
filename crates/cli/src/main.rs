//! `parley-chat`: Parley from a terminal (REQUIREMENTS.md X5). See README "Chatting from a
//! terminal" and `parley-chat --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use parley_chat::profile::Profile;
use parley_chat::{account, exit, script, text, tui};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  unexpected failure
  2  bad usage
  3  not signed in, or the session expired: run `parley-chat login`
  4  the server could not be reached, or TLS failed
  5  the server refused (its message is printed)
  6  the local state file cannot be opened (wrong passphrase, damaged, in use)
  7  sending held back: a verified contact's key changed
  8  no such user

Environment:
  PARLEY_SERVER      the server (instead of --server)
  PARLEY_CA_FILE     trust this CA alone (instead of --ca-file)
  PARLEY_PASSPHRASE  the local state file's passphrase (instead of a prompt)";

/// Parley's end-to-end encrypted chat from a terminal.
#[derive(Debug, Parser)]
#[command(name = "parley-chat", version, after_help = EXIT_CODES)]
struct Cli {
    /// The Parley server.
    #[arg(
        long,
        env = "PARLEY_SERVER",
        default_value = "https://localhost:8443",
        global = true
    )]
    server: String,
    /// Trust this CA certificate alone (Parley's own CA: `parley serve` prints its path).
    #[arg(long, env = "PARLEY_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// Where the sealed account state lives (default: the user's config directory).
    #[arg(long, env = "PARLEY_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// The account to use (default: the last one signed in on this server).
    #[arg(long = "user", global = true)]
    user: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make an account: password, CAPTCHA, authenticator app, recovery codes.
    Register(account::RegisterArgs),
    /// Sign in: password, CAPTCHA, then the authenticator app or a recovery code.
    Login(account::LoginArgs),
    /// Sign out (the local keys stay, sealed).
    Logout,
    /// The account's sessions.
    Sessions(account::SessionsArgs),
    /// Delete the account (password and second factor again).
    DeleteAccount,
    /// The full-screen chat (the default).
    Chat,
    /// Send one message.
    Send(script::SendArgs),
    /// Print a conversation's newest messages.
    Read(script::ReadArgs),
    /// Print events as they happen until interrupted.
    Watch(script::WatchArgs),
    /// The conversations, newest first.
    Conversations(script::ListArgs),
    /// The safety number with a contact (compare it in person or on a call).
    SafetyNumber(script::PeerArgs),
    /// Mark the contact's current key as verified (after comparing safety numbers).
    Verify(script::PeerArgs),
    /// Accept the contact's new key (sending resumes).
    AcceptKey(script::PeerArgs),
    /// New keys for a conversation (the Refresh button).
    Refresh(script::PeerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let state_dir = match cli
        .state_dir
        .clone()
        .map_or_else(Profile::default_state_dir, Ok)
    {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let profile = Profile {
        server: cli.server.clone(),
        ca_file: cli.ca_file.clone(),
        state_dir,
        username: cli.user.clone(),
    };
    let result = match &cli.command {
        Some(Command::Register(args)) => account::register(&profile, args),
        Some(Command::Login(args)) => account::login(&profile, args),
        Some(Command::Logout) => account::logout(&profile),
        Some(Command::Sessions(args)) => account::sessions(&profile, args),
        Some(Command::DeleteAccount) => account::delete_account(&profile),
        Some(Command::Chat) | None => tui::run(&profile),
        Some(Command::Send(args)) => script::send(&profile, args),
        Some(Command::Read(args)) => script::read(&profile, args),
        Some(Command::Watch(args)) => script::watch(&profile, args),
        Some(Command::Conversations(args)) => script::conversations(&profile, args),
        Some(Command::SafetyNumber(args)) => script::safety_number(&profile, args),
        Some(Command::Verify(args)) => script::verify(&profile, args),
        Some(Command::AcceptKey(args)) => script::accept_key(&profile, args),
        Some(Command::Refresh(args)) => script::refresh(&profile, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // The server's messages among them: no escape sequences reach the terminal.
    eprintln!("parley-chat: {}", text::printable(&format!("{e:#}")));
    ExitCode::from(u8::try_from(exit::code_of(e)).unwrap_or(1))
}
