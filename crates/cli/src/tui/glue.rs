//! The real engine behind the chat: each [`Backend`] method is the [`Engine`] method of the
//! same name.

use std::time::Duration;

use anyhow::Result;

use super::backend::Backend;
use crate::engine::Engine;
use crate::events::{ChatEvent, ConversationSummary};

impl Backend for Engine {
    fn username(&self) -> &str {
        Engine::username(self)
    }
    fn conversations(&mut self) -> Result<Vec<ConversationSummary>> {
        Engine::conversations(self)
    }
    fn start_chat(&mut self, username: &str) -> Result<String> {
        Engine::start_chat(self, username)
    }
    fn history(&mut self, peer: &str, before: Option<i64>, limit: usize) -> Result<Vec<ChatEvent>> {
        Engine::history(self, peer, before, limit)
    }
    fn send(&mut self, peer: &str, text: &str) -> Result<Vec<ChatEvent>> {
        Engine::send(self, peer, text)
    }
    fn refresh_keys(&mut self, peer: &str) -> Result<Vec<ChatEvent>> {
        Engine::refresh_keys(self, peer)
    }
    fn safety_number(&mut self, peer: &str) -> Result<String> {
        Engine::safety_number(self, peer)
    }
    fn mark_verified(&mut self, peer: &str) -> Result<()> {
        Engine::mark_verified(self, peer)
    }
    fn accept_key(&mut self, peer: &str) -> Result<()> {
        Engine::accept_key(self, peer)
    }
    fn is_verified(&self, peer: &str) -> bool {
        Engine::is_verified(self, peer)
    }
    fn send_blocked(&self, peer: &str) -> bool {
        Engine::send_blocked(self, peer)
    }
    fn mark_read(&mut self, peer: &str, up_to: i64) -> Result<()> {
        Engine::mark_read(self, peer, up_to)
    }
    fn poll(&mut self, timeout: Duration) -> Vec<ChatEvent> {
        Engine::poll(self, timeout)
    }
}
