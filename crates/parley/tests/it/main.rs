//! Integration tests: the real server on port 0 with a fresh data directory, driven over HTTPS
//! (and by real peers: `openssl`, `pkilint`, the `parley` binary itself).
//! One test binary for the crate keeps link time down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod attacks;
mod attacks_scale;
mod backlog;
mod breach;
mod certificate;
mod cli;
mod common;
mod contract;
mod docs_ids;
mod fake_hibp;
mod faults;
mod flows;
mod fuzz_replay;
mod hardening;
mod issue14;
mod keysets;
mod layers;
mod messaging;
mod metrics;
mod resources;
mod scale;
mod tls_matrix;
mod ws_cap;
