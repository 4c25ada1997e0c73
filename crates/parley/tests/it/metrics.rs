//! Prometheus metrics (issue 11): `GET /metrics` on its own plain-HTTP listener, off by default
//! and never on the public one; request counters by route template and status, latency
//! histograms, open WebSockets, messages relayed, hash queue and pool gauges.

use std::time::Duration;

use crate::common::{base_args, spawn_app, spawn_app_with};
use crate::messaging::{msg, ws_connect};

async fn scrape(addr: std::net::SocketAddr) -> String {
    let res = crate::common::plain_get(&format!("http://{addr}/metrics")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    res.text().await.unwrap()
}

/// The value of the sample line starting with `series ` (0 when absent).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Poll the scrape until `series` has `want` (gauges follow sockets closing asynchronously).
async fn wait_for(addr: std::net::SocketAddr, series: &str, want: f64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(addr).await;
        if value(&text, series) == want || tokio::time::Instant::now() > deadline {
            assert_eq!(value(&text, series), want, "{series}\n{text}");
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_are_off_by_default_and_never_on_the_public_listener() {
    let app = spawn_app().await;
    let server = app.server.as_ref().unwrap();
    assert_eq!(server.metrics_addr, None);
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(!text.contains("parley_http_requests_total"), "{text}");
}

#[tokio::test]
async fn metrics_count_requests_sockets_and_messages() {
    let app = spawn_app_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = app
        .server
        .as_ref()
        .unwrap()
        .metrics_addr
        .expect("metrics listener");
    assert!(addr.ip().is_loopback());

    // Requests are counted under their route template, never the raw path.
    for _ in 0..3 {
        let res = app.client.get(app.url("/api/health")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = app
        .client
        .get(app.url("/api/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    let text = scrape(addr).await;
    assert_eq!(
        value(
            &text,
            r#"parley_http_requests_total{method="GET",route="/api/health",status="200"}"#
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"parley_http_requests_total{method="GET",route="other",status="404"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("/api/no/such/thing"), "{text}");
    assert!(
        value(
            &text,
            r#"parley_http_request_duration_seconds_count{method="GET",route="/api/health"}"#
        ) >= 3.0,
        "{text}"
    );
    // Nothing that identifies a user is a label.
    for secret in [
        &alice.id,
        &bob.id,
        &alice.username,
        &alice.cookie,
        &alice.csrf,
    ] {
        assert!(!text.contains(secret.as_str()), "{secret} in\n{text}");
    }
    assert!(value(&text, "parley_db_pool_connections") >= 1.0, "{text}");
    assert_eq!(value(&text, "parley_password_hash_queue_depth"), 0.0);
    assert_eq!(value(&text, "parley_websockets_open"), 0.0);

    // An open WebSocket is counted while it is open.
    let ws = ws_connect(&app, &bob).await;
    wait_for(addr, "parley_websockets_open", 1.0).await;

    let before = value(&scrape(addr).await, "parley_messages_relayed_total");
    for n in 0..2 {
        let (status, b) = alice.send_message(&bob, msg(n)).await;
        assert_eq!(status, 201, "{b}");
    }
    let text = scrape(addr).await;
    assert_eq!(value(&text, "parley_messages_relayed_total"), before + 2.0);
    let route = r#"parley_http_requests_total{method="POST",route="/api/conversations/{peer_id}/messages",status="201"}"#;
    assert_eq!(value(&text, route), 2.0, "{text}");

    crate::flows::close_ws(ws).await;
    wait_for(addr, "parley_websockets_open", 0.0).await;

    // Only /metrics is served there.
    let res = crate::common::plain_get(&format!("http://{addr}/api/health")).await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[test]
fn metrics_listen_must_differ_from_the_public_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.listen = Some("127.0.0.1:8443".parse().unwrap());
    args.metrics_listen = Some("127.0.0.1:8443".parse().unwrap());
    let err = parley::core::Config::load(None, &args).unwrap_err();
    assert!(err.contains("metrics_listen"), "{err}");
}
