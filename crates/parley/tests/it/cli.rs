//! The `parley` binary itself: `cert ca`, `cert issue`, config validation, `serve` with its
//! banner, `healthcheck`, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

fn parley(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("PARLEY_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn cert_ca_and_issue_write_files_and_refuse_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (ok, text) = parley(&["cert", "ca", "--domain", "chat.test", "--out", out]);
    assert!(ok, "{text}");
    let mode = |f: &str| {
        std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.key"), 0o600);
    let (ok, text) = parley(&["cert", "ca", "--domain", "chat.test", "--out", out]);
    assert!(!ok && text.contains("already exists"), "{text}");

    let ca = dir.path().join("ca.pem");
    let key = dir.path().join("ca.key");
    let args = |d: &'static str| {
        vec![
            "cert".to_string(),
            "issue".into(),
            "--ca-cert".into(),
            ca.to_str().unwrap().into(),
            "--ca-key".into(),
            key.to_str().unwrap().into(),
            "--domain".into(),
            d.into(),
            "--out".into(),
            out.into(),
        ]
    };
    let run = |a: Vec<String>| parley(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let (ok, text) = run(args("evil.example"));
    assert!(!ok && text.contains("do not permit evil.example"), "{text}");
    let (ok, text) = run(args("chat.test"));
    assert!(ok, "{text}");
    assert_eq!(mode("site.key"), 0o600);
}

#[test]
fn invalid_configuration_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, text) = parley(&["serve", "--data-dir", d, "--domain", "Not_A_Domain"]);
    assert!(!ok);
    assert!(
        text.contains("invalid configuration") && text.contains("domain"),
        "{text}"
    );
    let (ok, text) = parley(&["serve", "--data-dir", d, "--tls-cert", "/nonexistent.pem"]);
    assert!(
        !ok && text.contains("tls_cert and tls_key must be given together"),
        "{text}"
    );
    assert!(
        text.contains("/nonexistent.pem is not a readable file"),
        "all problems at once: {text}"
    );
    // from the environment
    let out = Command::new(BIN)
        .args(["serve", "--data-dir", d])
        .env("PARLEY__BODY_LIMIT", "12")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("body_limit"),
        "{text}"
    );
    // from a config file, with an unknown key
    let file = dir.path().join("parley.toml");
    std::fs::write(&file, "domian = \"chat.test\"\n").unwrap();
    let (ok, text) = parley(&["--config", file.to_str().unwrap(), "serve", "--data-dir", d]);
    assert!(!ok && text.contains("domian"), "{text}");
}

/// The real binary: banner on stdout, healthcheck passes, SIGTERM stops it promptly and cleanly.
#[test]
fn serve_prints_the_url_passes_healthcheck_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let file = dir.path().join("parley.toml");
    // Settings from a config file and the environment both reach the server.
    std::fs::write(&file, format!("data_dir = \"{}\"\n", d.display())).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--config",
            file.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("PARLEY__DOMAIN", "localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port = crate::common::listening_port(&first);
    let rest: Vec<String> = lines.by_ref().take(9).map(|l| l.unwrap()).collect();
    let banner = rest.join("\n");
    assert!(
        banner.contains(&d.join("tls/ca.pem").display().to_string()),
        "{banner}"
    );
    for os in ["Debian/Ubuntu", "macOS", "Windows", "Firefox", "Chrome"] {
        assert!(banner.contains(os), "trust instructions for {os}: {banner}");
    }

    let health = |extra: &[&str]| {
        let mut args = vec!["--config", file.to_str().unwrap(), "healthcheck"];
        args.extend_from_slice(extra);
        parley(&args)
    };
    let listen = format!("127.0.0.1:{port}");
    let ok = Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "healthcheck"])
        .env("PARLEY__LISTEN", &listen)
        .status()
        .unwrap();
    assert!(ok.success(), "healthcheck against the running server");
    let (ok, text) = health(&["--url", &format!("https://localhost:{port}/api/health")]);
    assert!(ok, "{text}");
    let (ok, text) = health(&["--url", &format!("https://localhost:{port}/api/nope")]);
    assert!(!ok && text.contains("unhealthy"), "{text}");

    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        // Polling for the exit, with the deadline above (not a fixed wait).
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let (ok, _) = health(&[
        "--url",
        &format!("https://localhost:{port}/api/health"),
        "--timeout",
        "2",
    ]);
    assert!(!ok, "healthcheck fails once the server is gone");
}
