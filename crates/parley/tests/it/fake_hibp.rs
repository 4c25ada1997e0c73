//! A local stand-in for the Pwned Passwords range API (the real one is unreachable from test
//! machines, and tests must not depend on it anyway). It speaks the same format —
//! `GET /range/{5 hex}` → `SUFFIX:COUNT` lines, CRLF-separated, upper-case hex — and records
//! every request so that tests can prove k-anonymity: only a 5-hex-digit prefix ever arrives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Every request seen: (path and query, whether `Add-Padding: true` was sent).
type RequestLog = Arc<Mutex<Vec<(String, bool)>>>;

/// A running fake range API on 127.0.0.1 (plain HTTP, which `BreachChecker` allows for loopback
/// only). Stops when dropped.
pub struct FakeHibp {
    /// Base URL to give `BreachChecker::new` / `breach_api_url`, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    log: RequestLog,
    server: JoinHandle<()>,
}

#[derive(Clone)]
struct Corpus {
    /// Upper-case hex SHA-1 of each breached password (NFKC-normalized), with its count.
    hashes: Arc<Vec<(String, u64)>>,
    delay: Option<Duration>,
    log: RequestLog,
}

impl FakeHibp {
    /// Serves `/range/{prefix}` for the given breached passwords (NFKC-normalized, as Parley
    /// hashes them) with their counts — a count of 0 mimics a padding line — plus 800–1000 random
    /// padding lines with count 0 when the request carries `Add-Padding: true`, as the real API does.
    pub async fn start(breached: &[(&str, u64)]) -> FakeHibp {
        let hashes = breached
            .iter()
            .map(|(password, count)| {
                (
                    sha1_hex(&parley::service::password_policy::normalize(password)),
                    *count,
                )
            })
            .collect();
        FakeHibp::spawn(hashes, None).await
    }

    /// Knows no passwords and answers every request only after `delay`: for testing that a slow
    /// API costs at most the configured timeout before the offline list takes over.
    pub async fn start_slow(delay: Duration) -> FakeHibp {
        FakeHibp::spawn(Vec::new(), Some(delay)).await
    }

    /// Every request so far, in order: (path and query, `Add-Padding: true` sent?).
    pub fn requests(&self) -> Vec<(String, bool)> {
        self.log.lock().unwrap().clone()
    }

    async fn spawn(hashes: Vec<(String, u64)>, delay: Option<Duration>) -> FakeHibp {
        let log = RequestLog::default();
        let corpus = Corpus {
            hashes: Arc::new(hashes),
            delay,
            log: log.clone(),
        };
        // A fallback rather than a `/range/{prefix}` route, so that requests for any other
        // path are recorded too (and a test can catch them).
        let app = Router::new().fallback(answer).with_state(corpus);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeHibp { url, log, server }
    }
}

impl Drop for FakeHibp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(State(corpus): State<Corpus>, uri: Uri, headers: HeaderMap) -> Response {
    let padding = headers
        .get("add-padding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.to_string());
    corpus.log.lock().unwrap().push((path, padding));
    if let Some(delay) = corpus.delay {
        // The subject of the timeout tests: a slow breach API.
        tokio::time::sleep(delay).await;
    }

    let Some(prefix) = uri.path().strip_prefix("/range/") else {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    };
    if prefix.len() != 5 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        // The real API's answer to anything but five hex digits.
        return (
            StatusCode::BAD_REQUEST,
            "The hash prefix was not in a valid format",
        )
            .into_response();
    }
    let prefix = prefix.to_ascii_uppercase();
    let mut lines: Vec<String> = corpus
        .hashes
        .iter()
        .filter(|(hash, _)| hash.starts_with(&prefix))
        .map(|(hash, count)| format!("{}:{count}", &hash[5..]))
        .collect();
    if padding {
        for _ in 0..rand::random_range(800..=1000) {
            let suffix = data_encoding::HEXUPPER.encode(&rand::random::<[u8; 18]>());
            lines.push(format!("{}:0", &suffix[..35]));
        }
    }
    lines.sort();
    ([(header::CONTENT_TYPE, "text/plain")], lines.join("\r\n")).into_response()
}

fn sha1_hex(text: &str) -> String {
    data_encoding::HEXUPPER.encode(&Sha1::digest(text.as_bytes()))
}

mod tests {
    use std::time::{Duration, Instant};

    use parley::service::breach::{BreachChecker, BreachResult};

    use super::FakeHibp;

    /// Only `/range/` plus five upper-case hex digits, with padding requested.
    fn assert_k_anonymous(requests: &[(String, bool)]) {
        assert!(!requests.is_empty());
        for (path, padding) in requests {
            let prefix = path.strip_prefix("/range/").unwrap();
            assert_eq!(prefix.len(), 5, "{path}");
            assert!(
                prefix
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
                "{path}"
            );
            assert!(padding, "Add-Padding: true must be sent");
        }
    }

    #[tokio::test]
    async fn a_breached_password_is_found_from_its_prefix_alone() {
        let fake = FakeHibp::start(&[("password1", 2_427_546), ("café-crème-2019", 3)]).await;
        let checker = BreachChecker::new(&fake.url, Duration::from_secs(5)).unwrap();
        assert!(checker.enabled());

        assert_eq!(
            checker.check("password1").await,
            BreachResult::Found { count: 2_427_546 }
        );
        // Typed with combining accents: NFKC makes it the same password (and the same hash).
        assert_eq!(
            checker.check("cafe\u{301}-cre\u{300}me-2019").await,
            BreachResult::Found { count: 3 }
        );

        let requests = fake.requests();
        assert_k_anonymous(&requests);
        // SHA-1("password1") = E38AD214943DAAD1D64C102FAEC29DE4AFE9DA3D.
        assert_eq!(requests[0].0, "/range/E38AD");
        assert_eq!(requests.len(), 2);
    }

    #[tokio::test]
    async fn a_miss_among_padding_is_not_found() {
        // A count of 0 is what padding looks like: even for the queried password it is no hit.
        let fake = FakeHibp::start(&[("password1", 10), ("padding-only-entry", 0)]).await;
        let checker = BreachChecker::new(&fake.url, Duration::from_secs(5)).unwrap();

        assert_eq!(
            checker.check("tangerine otter fjord").await,
            BreachResult::NotFound
        );
        assert_eq!(
            checker.check("padding-only-entry").await,
            BreachResult::NotFound
        );
        assert_k_anonymous(&fake.requests());
    }

    #[tokio::test]
    async fn a_slow_api_is_unavailable_within_the_timeout() {
        let fake = FakeHibp::start_slow(Duration::from_secs(30)).await;
        let timeout = Duration::from_millis(300);
        let checker = BreachChecker::new(&fake.url, timeout).unwrap();

        let start = Instant::now();
        let result = checker.check("password1").await;
        let elapsed = start.elapsed();
        assert!(matches!(result, BreachResult::Unavailable(_)), "{result:?}");
        assert!(elapsed >= timeout, "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert_k_anonymous(&fake.requests());
    }

    #[tokio::test]
    async fn an_empty_url_disables_the_check() {
        let checker = BreachChecker::new("", Duration::from_secs(1)).unwrap();
        assert!(!checker.enabled());
        assert!(matches!(
            checker.check("password1").await,
            BreachResult::Unavailable(_)
        ));
    }
}
