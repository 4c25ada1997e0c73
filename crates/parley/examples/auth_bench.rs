//! Benchmark (not a test): Argon2id cost per hash with Parley's parameters, sign-in throughput,
//! and whether chat requests stay fast while 100 sign-ins run at once.
//!
//!     cargo run --release --example auth_bench
//!
//! It starts a real server on 127.0.0.1:0 (a fresh temporary data directory, SQLite, the test
//! CAPTCHA answer, trusted proxy 127.0.0.1 so each sign-in can come from its own address)
//! and prints figures; it asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use parley::cli::ServeArgs;
use parley::core::Config;
use serde_json::{Value, json};

const PW: &str = "violet lantern 42 orbit";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<4} p50={:>8.2} ms  p90={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn argon2_times(m_kib: u32, t: u32, n: usize) -> Vec<Duration> {
    let a = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(m_kib, t, 1, Some(32)).unwrap(),
    );
    (0..n)
        .map(|_| {
            let started = Instant::now();
            a.hash_password(b"0123456789abcdef0123456789abcdef")
                .unwrap();
            started.elapsed()
        })
        .collect()
}

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

#[tokio::main]
async fn main() {
    println!("== Argon2id, one hash at a time (p = 1) ==");
    report(
        "m=19456 KiB t=2 (Parley's default)",
        argon2_times(19_456, 2, 30),
    );
    report("m=65536 KiB t=2", argon2_times(65_536, 2, 15));
    report("m=19456 KiB t=3", argon2_times(19_456, 3, 15));

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(
        None,
        &ServeArgs {
            data_dir: Some(dir.path().to_path_buf()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..ServeArgs::default()
        },
    )
    .unwrap();
    config.test_captcha_answer = Some("bench".into());
    config.breach_api_url = String::new();
    config.trusted_proxies = vec!["127.0.0.1".into()];
    let server = parley::server::start(config).await.unwrap();
    let addr = server.local_addr;
    let ca = server.ca_file.clone().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_file_iter(&ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = move || {
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .resolve("localhost", addr)
            .cookie_store(true)
            .build()
            .unwrap()
    };
    let url = move |p: &str| format!("https://localhost:{}{p}", addr.port());

    // One registered user (password step is what costs: the second factor is cheap).
    let c = client();
    let cap = json_of(c.get(url("/api/captcha")).send().await.unwrap()).await;
    let r = json_of(
        c.post(url("/api/register"))
            .json(
                &json!({"username": "bench", "password": PW, "password_confirm": PW,
                          "captcha_id": cap["id"], "captcha_answer": "bench"}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(r["totp"]["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = format!(
        "{:06}",
        parley::service::totp::code_at_step(&secret, parley::service::totp::step_at(now))
    );
    c.post(url("/api/register/totp"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    let fin = c
        .post(url("/api/register/finish"))
        .json(&json!({"saved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(fin.status(), 201);
    let chat = Arc::new(c);

    let login = move |i: usize| {
        let c = client();
        async move {
            let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            let started = Instant::now();
            let cap = json_of(
                c.get(url("/api/captcha"))
                    .header("x-forwarded-for", &ip)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            let res = c
                .post(url("/api/login"))
                .header("x-forwarded-for", &ip)
                .json(&json!({"username": "bench", "password": PW, "captcha_id": cap["id"], "captcha_answer": "bench"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            started.elapsed()
        }
    };

    // Chat requests alone.
    let mut quiet = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let r = chat.get(url("/api/conversations")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        quiet.push(started.elapsed());
    }

    println!("\n== Sign-in (CAPTCHA + password step) against the running server ==");
    let started = Instant::now();
    let mut seq = Vec::new();
    for i in 0..20 {
        seq.push(login(i).await);
    }
    println!(
        "sequential: 20 sign-ins in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    report("one sign-in at a time", seq);

    // 100 sign-ins at once, while a chat client keeps asking for its conversations.
    let started = Instant::now();
    let flood_login = login.clone();
    let flood =
        tokio::spawn(
            async move { futures_util::future::join_all((1000..1100).map(flood_login)).await },
        );
    let mut busy = Vec::new();
    while !flood.is_finished() {
        let t = Instant::now();
        let r = chat.get(url("/api/conversations")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        busy.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let logins = flood.await.unwrap();
    let total = started.elapsed();
    println!(
        "concurrent: 100 sign-ins in {:.2} s = {:.1} sign-ins/s (hash pool = CPUs = {})",
        total.as_secs_f64(),
        100.0 / total.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    report("each of 100 concurrent sign-ins", logins);

    println!("\n== Chat requests (GET /api/conversations) ==");
    report("alone", quiet);
    report("while 100 sign-ins run", busy);
    server.shutdown().await;
}
