//! Throttling (§5.2.2, A4), in two parts:
//!
//! - **Per account and factor** (`FactorPolicy`), counted in the database so every instance
//!   shares it: after 5 consecutive failures each further failure locks the factor for a
//!   growing time (30 s doubling to 1 h); at 100 consecutive failures the factor is disabled
//!   until the user unlocks it with another factor or an operator runs `parley admin unlock`.
//!   A success resets the count.
//! - **Per client IP** (`IpLimiter`): token buckets per action in process memory, bounded in
//!   size (an attacker with many addresses cannot grow the map without limit).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Failures allowed before delays start.
pub const FREE_FAILURES: i64 = 5;
/// Consecutive failures that disable a factor (§5.2.2: no more than 100).
pub use parley_api::limits::FACTOR_MAX_FAILURES as MAX_FAILURES;
pub const FIRST_DELAY_SECS: i64 = 30;
pub const MAX_DELAY_SECS: i64 = 3600;

/// How long a factor stays locked after its `consecutive`-th failure (0: not locked).
pub fn delay_after(consecutive: i64) -> i64 {
    if consecutive < FREE_FAILURES {
        return 0;
    }
    let doublings = (consecutive - FREE_FAILURES).min(20) as u32;
    (FIRST_DELAY_SECS << doublings).min(MAX_DELAY_SECS)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Login,
    SecondFactor,
    Register,
    Captcha,
    PasswordCheck,
}

impl Action {
    /// (burst, tokens per second): named per action, as Signal's `RateLimiters`.
    fn bucket(self) -> (f64, f64) {
        match self {
            Action::Login => (20.0, 0.2),
            Action::SecondFactor => (20.0, 0.2),
            Action::Register => (10.0, 0.05),
            Action::Captcha => (30.0, 0.5),
            Action::PasswordCheck => (60.0, 2.0),
        }
    }
}

/// The most addresses tracked per limiter.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct IpLimiter {
    buckets: Mutex<HashMap<(Action, IpAddr), (f64, Instant)>>,
}

impl IpLimiter {
    /// `Ok` to go ahead, or `Err(seconds to wait)`.
    pub fn check(&self, action: Action, ip: IpAddr) -> Result<(), u64> {
        let (burst, rate) = action.bucket();
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(&(action, ip)) {
            // Forget every bucket that has refilled: they carry no information.
            map.retain(|(a, _), (tokens, at)| {
                let (b, r) = a.bucket();
                *tokens + now.duration_since(*at).as_secs_f64() * r < b
            });
            if map.len() >= MAX_KEYS {
                return Err(1); // under a wide attack: fail closed, briefly
            }
        }
        let (tokens, at) = map.entry((action, ip)).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_30_seconds_to_an_hour() {
        assert_eq!(delay_after(4), 0);
        assert_eq!(delay_after(5), 30);
        assert_eq!(delay_after(6), 60);
        assert_eq!(delay_after(11), 1920);
        assert_eq!(delay_after(12), 3600);
        assert_eq!(delay_after(99), 3600);
    }

    #[test]
    fn buckets_refuse_past_the_burst_and_per_ip() {
        let l = IpLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..10 {
            assert!(l.check(Action::Register, a).is_ok());
        }
        let wait = l.check(Action::Register, a).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(
            l.check(Action::Register, b).is_ok(),
            "another address is unaffected"
        );
        assert!(
            l.check(Action::Login, a).is_ok(),
            "another action is unaffected"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let l = IpLimiter::default();
        for i in 0..(MAX_KEYS as u32 + 10) {
            let _ = l.check(Action::Captcha, IpAddr::from(i.to_be_bytes()));
        }
        assert!(l.len() <= MAX_KEYS);
    }
}
