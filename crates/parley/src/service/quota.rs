//! Quotas per user and per session (issue 9 item 8), beside the per-IP buckets of
//! `rate_limit`: message sends, key publications and `/api/users` look-ups per user, and open
//! WebSockets per session. The numbers come from the configuration (`quota_*`, README);
//! going past one is `429 quota_exceeded` with `Retry-After` and the quota's name.
//!
//! Like the per-IP buckets these live in process memory, so with several instances each
//! enforces its own (the socket count is per instance by nature). The maps are bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::core::{AppError, AppResult, Config};

/// The most keys tracked per map; past it, buckets that have refilled are forgotten.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quota {
    /// `POST /api/conversations/{peer}/messages`, per user.
    Send,
    /// `POST /api/keys`, per user.
    KeyPublication,
    /// `GET /api/users?username=`, per user.
    UserLookup,
}

impl Quota {
    pub fn name(self) -> &'static str {
        match self {
            Quota::Send => "message_sends",
            Quota::KeyPublication => "key_publications",
            Quota::UserLookup => "user_lookups",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Quota::Send => "you are sending messages too fast",
            Quota::KeyPublication => "too many key publications",
            Quota::UserLookup => "too many user look-ups",
        }
    }
}

/// Token buckets: `(capacity, tokens per second)` per quota.
pub struct Quotas {
    limits: HashMap<Quota, (f64, f64)>,
    buckets: Mutex<HashMap<(Quota, String), (f64, Instant)>>,
    sockets_per_session: usize,
    sockets: Arc<Mutex<HashMap<String, usize>>>,
}

impl Quotas {
    pub fn new(config: &Config) -> Quotas {
        let per_minute = |n: u32| (f64::from(n), f64::from(n) / 60.0);
        let per_hour = |n: u32| (f64::from(n), f64::from(n) / 3600.0);
        Quotas {
            limits: HashMap::from([
                (Quota::Send, per_minute(config.quota_sends_per_minute)),
                (
                    Quota::KeyPublication,
                    per_hour(config.quota_key_publications_per_hour),
                ),
                (
                    Quota::UserLookup,
                    per_minute(config.quota_user_lookups_per_minute),
                ),
            ]),
            buckets: Mutex::default(),
            sockets_per_session: config.quota_sockets_per_session as usize,
            sockets: Arc::default(),
        }
    }

    /// Take one unit of `quota` for `key` (a user id), or say how long to wait.
    pub fn check(&self, quota: Quota, key: &str) -> AppResult<()> {
        let (capacity, rate) = self.limits[&quota];
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let k = (quota, key.to_owned());
        if map.len() >= MAX_KEYS && !map.contains_key(&k) {
            let limits = &self.limits;
            map.retain(|(q, _), (tokens, at)| {
                let (c, r) = limits[q];
                *tokens + now.duration_since(*at).as_secs_f64() * r < c
            });
            if map.len() >= MAX_KEYS {
                return Err(exceeded(quota, 1));
            }
        }
        let (tokens, at) = map.entry(k).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(exceeded(quota, ((1.0 - *tokens) / rate).ceil() as u64))
        }
    }

    /// A slot for one more WebSocket of `session`; the slot is freed when the guard drops.
    pub fn socket(&self, session: &str) -> AppResult<SocketSlot> {
        let mut map = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(session.to_owned()).or_insert(0);
        if *n >= self.sockets_per_session {
            return Err(AppError::QuotaExceeded {
                quota: "sockets_per_session",
                message: "too many open connections for this session; close a tab",
                retry_after_secs: 30,
            });
        }
        *n += 1;
        Ok(SocketSlot {
            session: session.to_owned(),
            sockets: self.sockets.clone(),
        })
    }

    /// Open WebSockets of a session on this instance.
    pub fn sockets_of(&self, session: &str) -> usize {
        let map = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        map.get(session).copied().unwrap_or(0)
    }
}

fn exceeded(quota: Quota, retry_after_secs: u64) -> AppError {
    AppError::QuotaExceeded {
        quota: quota.name(),
        message: quota.message(),
        retry_after_secs: retry_after_secs.max(1),
    }
}

/// RAII: one open WebSocket of a session.
pub struct SocketSlot {
    session: String,
    sockets: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut map = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas() -> Quotas {
        let mut c = Config::load(None, &crate::cli::ServeArgs::default()).unwrap();
        c.quota_sends_per_minute = 3;
        c.quota_sockets_per_session = 2;
        Quotas::new(&c)
    }

    #[test]
    fn buckets_refuse_past_the_capacity_per_user() {
        let q = quotas();
        for _ in 0..3 {
            assert!(q.check(Quota::Send, "a").is_ok());
        }
        match q.check(Quota::Send, "a") {
            Err(AppError::QuotaExceeded {
                quota,
                retry_after_secs,
                ..
            }) => {
                assert_eq!(quota, "message_sends");
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
        assert!(q.check(Quota::Send, "b").is_ok(), "another user");
        assert!(q.check(Quota::UserLookup, "a").is_ok(), "another quota");
    }

    #[test]
    fn socket_slots_are_counted_and_freed() {
        let q = quotas();
        let one = q.socket("s").unwrap();
        let _two = q.socket("s").unwrap();
        assert!(q.socket("s").is_err());
        assert!(q.socket("t").is_ok(), "another session");
        drop(one);
        assert_eq!(q.sockets_of("s"), 1);
        assert!(q.socket("s").is_ok());
    }
}
