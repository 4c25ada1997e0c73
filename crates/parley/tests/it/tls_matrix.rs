//! T1–T5 against the running server, with OpenSSL's `s_client` as an independent peer and
//! rustls clients for the parts OpenSSL cannot restrict.

use std::sync::Arc;

use crate::common::{EVERY_KIND_OF_RESPONSE, TestApp, run, spawn_app};

/// One `openssl s_client` handshake; returns (handshake completed, transcript).
async fn s_client(app: &TestApp, extra: &[&str]) -> (bool, String) {
    let connect = app.addr.to_string();
    let ca = app.tls_dir().join("ca.pem");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        &app.domain,
        "-CAfile",
        ca.to_str().unwrap(),
        "-verify_return_error",
    ];
    args.extend_from_slice(extra);
    let (ok, out) = run("openssl", &args).await;
    // s_client exits 0 after a completed handshake once stdin closes.
    (ok && out.contains("Verify return code: 0 (ok)"), out)
}

/// An `s_client` handshake offering `extra` that completes on exactly the policy (TLS 1.3,
/// ChaCha20-Poly1305, X25519): the transcript.
async fn accepted(app: &TestApp, extra: &[&str]) -> String {
    let (ok, out) = s_client(app, extra).await;
    assert!(ok, "{extra:?}: handshake failed:\n{out}");
    assert!(
        out.contains("New, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256"),
        "{out}"
    );
    assert!(out.contains("Server Temp Key: X25519"), "{out}");
    out
}

/// An `s_client` handshake offering `extra` that the server refuses: the transcript.
async fn refused(app: &TestApp, extra: &[&str]) -> String {
    let (ok, out) = s_client(app, extra).await;
    assert!(!ok, "{extra:?} was accepted:\n{out}");
    out
}

#[tokio::test]
async fn t1_t2_t3_chacha20_over_x25519_on_tls13_is_accepted() {
    let app = spawn_app().await;
    let offer = [
        "-tls1_3",
        "-ciphersuites",
        "TLS_CHACHA20_POLY1305_SHA256",
        "-groups",
        "X25519",
    ];
    accepted(&app, &offer).await;
    app.stop().await;
}

#[tokio::test]
async fn t1_t2_t3_an_unrestricted_client_still_gets_exactly_the_policy() {
    // A client offering everything OpenSSL has must still end up on the one allowed combination.
    let app = spawn_app().await;
    accepted(&app, &[]).await;
    app.stop().await;
}

#[tokio::test]
async fn t1_tls12_and_older_are_refused() {
    let app = spawn_app().await;
    for version in ["-tls1_2", "-tls1_1", "-tls1"] {
        let out = refused(&app, &[version]).await;
        assert!(!out.contains("Cipher is TLS"), "{version}: {out}");
    }
    app.stop().await;
}

#[tokio::test]
async fn t3_aes_suites_are_refused() {
    let app = spawn_app().await;
    for suite in [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_CCM_SHA256",
    ] {
        let out = refused(&app, &["-tls1_3", "-ciphersuites", suite]).await;
        assert!(
            out.contains("alert handshake failure") || out.contains("no cipher"),
            "{suite}: {out}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn t2_other_key_exchange_groups_are_refused() {
    let app = spawn_app().await;
    for group in ["P-256", "P-384", "P-521", "X448", "ffdhe2048"] {
        let out = refused(&app, &["-tls1_3", "-groups", group]).await;
        assert!(!out.contains("Cipher is TLS"), "{group}: {out}");
    }
    app.stop().await;
}

#[tokio::test]
async fn t4_no_ocsp_staple_is_sent() {
    let app = spawn_app().await;
    let out = accepted(&app, &["-status"]).await;
    assert!(out.contains("OCSP response: no response sent"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn t1_t2_t3_rustls_client_negotiates_exactly_the_policy() {
    // The same check with a second implementation (rustls offering all its suites and groups).
    let app = spawn_app().await;
    let config = Arc::new(crate::common::tls_config_trusting(
        &app.tls_dir().join("ca.pem"),
    ));
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (_, conn) = tls.get_ref();
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(
        conn.negotiated_key_exchange_group().map(|g| g.name()),
        Some(rustls::NamedGroup::X25519)
    );
    app.stop().await;
}

#[tokio::test]
async fn t5_hsts_is_one_week_on_every_kind_of_response() {
    let app = spawn_app().await;
    for (method, path, _) in EVERY_KIND_OF_RESPONSE {
        let res = app.request(method, path).await;
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=604800",
            "{method} {path}"
        );
    }
    app.stop().await;
}
