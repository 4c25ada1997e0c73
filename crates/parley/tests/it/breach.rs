//! A3 through the real server: the Pwned Passwords range API (k-anonymity, padding) served by
//! a local fake that speaks the same format, and the offline fallback when it is down or slow.

use std::time::{Duration, Instant};

use crate::common::spawn_app_with;
use crate::fake_hibp::FakeHibp;
use crate::flows::*;

const BREACHED: &str = "tangerine submarine 1987";
const FINE: &str = "violet lantern 42 orbit";

async fn spawn_with_api(url: String, timeout_ms: u64) -> crate::common::TestApp {
    spawn_app_with(move |c| {
        c.breach_api_url = url;
        c.breach_api_timeout_ms = timeout_ms;
    })
    .await
}

#[tokio::test]
async fn a3_breached_passwords_are_refused_with_only_a_5_char_prefix_sent() {
    let hibp = FakeHibp::start(&[(BREACHED, 4242)]).await;
    let app = spawn_with_api(hibp.url.clone(), 2000).await;
    let r = app.browser().register_start("alice", BREACHED).await;
    assert_error(&r, 422, "password_rejected");
    let reason = &r.1["reasons"][0];
    assert_eq!(reason["code"], "breached", "{}", r.1);
    assert!(
        reason["message"].as_str().unwrap().contains("4242"),
        "{reason}"
    );
    // k-anonymity: only /range/<5 hex> left the server, with padding requested.
    let requests = hibp.requests();
    assert!(!requests.is_empty());
    for (path, padding) in &requests {
        let prefix = path.strip_prefix("/range/").expect(path);
        assert_eq!(prefix.len(), 5, "{path}");
        assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()), "{path}");
        assert!(padding, "Add-Padding: true");
    }
    // A password that is not in the corpus is accepted, and so is checked at change time too.
    let user = app.register_with("bobby", FINE).await;
    let r = user.change_password(FINE, BREACHED).await;
    assert_error(&r, 422, "password_rejected");
    assert_eq!(r.1["reasons"][0]["code"], "breached");
    app.stop().await;
}

#[tokio::test]
async fn a3_offline_list_is_the_fallback_when_the_api_is_down() {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_with_api(format!("http://127.0.0.1:{closed}"), 1000).await;
    let r = app.browser().register_start("alice", "password1").await;
    assert_error(&r, 422, "password_rejected");
    assert_eq!(
        r.1["reasons"][0]["code"], "common",
        "the offline list still refuses it: {}",
        r.1
    );
    app.register_with("alice", FINE).await;
    app.stop().await;
}

#[tokio::test]
async fn a3_a_slow_api_times_out_and_sign_up_goes_on() {
    let hibp = FakeHibp::start_slow(Duration::from_secs(10)).await;
    let app = spawn_with_api(hibp.url.clone(), 300).await;
    let started = Instant::now();
    let (status, b) = app.browser().register_start("alice", FINE).await;
    assert_eq!(status, 201, "{b}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    app.stop().await;
}
