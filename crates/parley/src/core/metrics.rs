//! Prometheus metrics (issue 11): the figures an operator of a chat server watches — requests by
//! route and status with latency histograms, open WebSockets, messages relayed, the password-hash
//! queue and the database pool.
//!
//! One `Metrics` value per process, shared by cheap clones. Counters and histograms are updated
//! where things happen (the HTTP layer, `service::messaging`); gauges that mirror a live figure
//! (sockets, hash queue, pool) are read when scraped, so they can never drift from the truth.
//! Labels are bounded: a route is the router's path *template* (`/api/messages/{peer}`), never
//! the request's path, and anything the router did not match is `other`. Nothing here holds a
//! user name, an id or a secret.
//!
//! The text is served on its own plain-HTTP listener (`metrics_listen`, off by default), never
//! on the public HTTPS one: see `http::metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The labels of one HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// The labels of a latency sample (status left out to keep the series few).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Live figures read at scrape time from the components that own them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    pub websockets_open: usize,
    pub hash_queue_depth: usize,
    pub db_pool_size: u32,
    pub db_pool_idle: usize,
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    messages_relayed: Counter,
    websockets_open: Gauge,
    hash_queue_depth: Gauge,
    db_pool_size: Gauge,
    db_pool_idle: Gauge,
}

/// 0.5 ms … ~16 s in powers of two: chat requests sit at the bottom, sign-ins (Argon2id) in the
/// middle, time-outs at the top.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("parley");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let messages_relayed = Counter::<u64, AtomicU64>::default();
        let (websockets_open, hash_queue_depth, db_pool_size, db_pool_idle) = (
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers, by method and route template",
            latency.clone(),
        );
        registry.register(
            "messages_relayed",
            "Messages stored and pushed to the users' sockets",
            messages_relayed.clone(),
        );
        registry.register(
            "websockets_open",
            "Authenticated WebSockets open on this instance",
            websockets_open.clone(),
        );
        registry.register(
            "password_hash_queue_depth",
            "Password hashes waiting for a hashing slot",
            hash_queue_depth.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections the pool holds (in use + idle); all in use means requests wait",
            db_pool_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Database connections idle in the pool",
            db_pool_idle.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                messages_relayed,
                websockets_open,
                hash_queue_depth,
                db_pool_size,
                db_pool_idle,
            }),
        }
    }

    /// One answered request.
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.inner
            .latency
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// One message stored and handed to the push channel.
    pub fn message_relayed(&self) {
        self.inner.messages_relayed.inc();
    }

    /// The exposition text (Prometheus text format 0.0.4 / OpenMetrics), with the live figures.
    pub fn render(&self, live: Live) -> String {
        let i = &self.inner;
        i.websockets_open.set(as_i64(live.websockets_open));
        i.hash_queue_depth.set(as_i64(live.hash_queue_depth));
        i.db_pool_size.set(i64::from(live.db_pool_size));
        i.db_pool_idle.set(as_i64(live.db_pool_idle));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &i.registry);
        text
    }
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_every_family_with_its_labels() {
        let m = Metrics::new();
        m.request("GET", "/api/captcha", 200, 0.002);
        m.request("GET", "/api/captcha", 200, 0.004);
        m.request("POST", "/api/login", 401, 0.05);
        m.message_relayed();
        let text = m.render(Live {
            websockets_open: 3,
            hash_queue_depth: 2,
            db_pool_size: 8,
            db_pool_idle: 5,
        });
        assert!(
            text.contains(
                r#"parley_http_requests_total{method="GET",route="/api/captcha",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"parley_http_requests_total{method="POST",route="/api/login",status="401"} 1"#
        ));
        assert!(text.contains(
            r#"parley_http_request_duration_seconds_count{method="GET",route="/api/captcha"} 2"#
        ));
        assert!(text.contains("parley_messages_relayed_total 1"));
        assert!(text.contains("parley_websockets_open 3"));
        assert!(text.contains("parley_password_hash_queue_depth 2"));
        assert!(text.contains("parley_db_pool_connections 8"));
        assert!(text.contains("parley_db_pool_idle_connections 5"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
