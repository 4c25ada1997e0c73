//! Parley: an end-to-end encrypted chat server.
//!
//! Layers, each depending only on those below it:
//! `http` (routes, extractors, hardening) → `service` (rules) → `db` (queries, migrations)
//! → `core` (config, errors). `tls` holds the certificate profile and TLS policy; `server`
//! wires the listeners; `cli` is the command line.

pub mod cli;
pub mod core;
pub mod db;
pub mod healthcheck;
pub mod http;
pub mod server;
pub mod service;
pub mod tls;
