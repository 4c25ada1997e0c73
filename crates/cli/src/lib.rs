//! # parley-chat
//!
//! Parley's command-line client (REQUIREMENTS.md **X5**): accounts from the terminal, a
//! full-screen chat and a scriptable mode, speaking the browser's protocol through
//! `parley-protocol` (no protocol logic here) and the server's API through `parley-api` types.
//!
//! | module | what it does |
//! |---|---|
//! | [`tls`] | the client side of the TLS policy (T1–T3), system roots or `--ca-file` |
//! | [`api`] | the HTTP API: session cookie, CSRF header, same-origin `Origin`, typed errors |
//! | [`account`] | register, sign in, sign out, sessions, delete the account |
//! | [`art`] | CAPTCHA images and QR codes drawn with Unicode half-blocks |
//! | [`keystore`] | the local state file: Argon2id → AES-256-GCM, atomic writes, 0600 |
//! | [`engine`] | conversations over `parley_protocol::conversation`, the WebSocket, events |
//! | [`events`] | what the chat shows: one type for the engine, the UI and the JSON lines |
//! | [`script`] | `send`, `read --json`, `watch --json` |
//! | [`tui`] | the full-screen chat (ratatui) |
//! | [`profile`] | where state lives, which account, which server |
//! | [`prompt`] | questions on the terminal: prompts on stderr, answers on stdin, secrets unechoed |
//! | [`text`] | others' text made safe to print on a terminal (no escape sequences) |
//! | [`exit`] | exit codes that mean something |

pub mod account;
pub mod api;
pub mod art;
pub mod engine;
pub mod events;
pub mod exit;
pub mod keystore;
pub mod profile;
pub mod prompt;
pub mod script;
pub mod text;
pub mod tls;
pub mod tui;
