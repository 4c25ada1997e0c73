//! T6 (C1–C8) and T7: the issued certificates, parsed field by field, checked by OpenSSL's
//! verifier (which honours name constraints) and linted by pkilint.

use std::path::{Path, PathBuf};

use ::time::{Duration, OffsetDateTime};
use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P384_SHA384};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::*;

use crate::common::{base_args, run, spawn_app, spawn_in, spawn_on};

fn der_of(path: &Path) -> Vec<u8> {
    parley::tls::certs::pem_to_der(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ski(cert: &X509Certificate) -> Vec<u8> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("SKI present")
}

/// The named curve of a certificate's EC key.
fn curve_of<'a>(cert: &'a X509Certificate<'a>) -> x509_parser::der_parser::oid::Oid<'a> {
    let params = cert
        .tbs_certificate
        .subject_pki
        .algorithm
        .parameters
        .as_ref();
    params.unwrap().as_oid().unwrap()
}

/// Assert every point of C1–C8 and T7 on a site certificate issued for `domain`.
fn assert_site_profile(site_der: &[u8], ca_der: &[u8], domain: &str) {
    let (_, site) = X509Certificate::from_der(site_der).unwrap();
    let (_, ca) = X509Certificate::from_der(ca_der).unwrap();

    // C1 X.509 v3
    assert_eq!(site.version(), X509Version::V3, "C1");
    // C2 ECDSA key on P-384
    let spki = &site.tbs_certificate.subject_pki;
    assert_eq!(
        spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY,
        "C2 key type"
    );
    assert_eq!(curve_of(&site), OID_NIST_EC_P384, "C2 curve");
    // C3 ecdsa-with-SHA384
    assert_eq!(
        site.signature_algorithm.algorithm, OID_SIG_ECDSA_WITH_SHA384,
        "C3"
    );
    assert_eq!(
        site.tbs_certificate.signature.algorithm, OID_SIG_ECDSA_WITH_SHA384,
        "C3 tbs"
    );

    let mut seen = Vec::new();
    for ext in site.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => {
                assert!(ext.critical, "C4 critical");
                assert!(!bc.ca, "C4 CA:false");
                seen.push("bc");
            }
            ParsedExtension::KeyUsage(ku) => {
                assert!(ext.critical, "C5 critical");
                assert!(ku.digital_signature(), "C5 digitalSignature");
                assert_eq!(ku.flags, 1, "C5 digitalSignature only, got {ku}");
                seen.push("ku");
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                assert!(eku.server_auth, "C6 serverAuth");
                assert!(
                    !eku.client_auth && !eku.any && eku.other.is_empty() && !eku.code_signing,
                    "C6 serverAuth only"
                );
                seen.push("eku");
            }
            ParsedExtension::SubjectKeyIdentifier(_) => seen.push("ski"),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                assert_eq!(
                    aki.key_identifier.as_ref().unwrap().0,
                    ski(&ca).as_slice(),
                    "C7 AKI names the CA's key"
                );
                seen.push("aki");
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                assert_eq!(
                    san.general_names,
                    vec![GeneralName::DNSName(domain)],
                    "T7 the domain is the only SAN"
                );
                seen.push("san");
            }
            other => panic!("unexpected extension {other:?}"),
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["aki", "bc", "eku", "ku", "san", "ski"],
        "C4-C7 + SAN present once each"
    );

    // C8 validity exactly 90 days
    let v = site.validity();
    assert_eq!(
        v.not_after.timestamp() - v.not_before.timestamp(),
        90 * 86_400,
        "C8"
    );
    assert!(v.is_valid(), "valid now");
    // T7: CN is the domain; issued by the CA
    let cns: Vec<_> = site
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cns, [domain], "T7 CN");
    assert_eq!(
        site.issuer().as_raw(),
        ca.subject().as_raw(),
        "issued by the CA"
    );
    // A positive serial with more than 64 bits (CABF BR 7.1): 16 octets, high bit clear.
    assert_eq!(site.raw_serial().len(), 16);
    assert_eq!(site.raw_serial()[0] & 0x80, 0);
    assert!(site.tbs_certificate.serial.bits() > 64);
}

fn assert_ca_profile(ca_der: &[u8], domain: &str) {
    let (_, ca) = X509Certificate::from_der(ca_der).unwrap();
    assert_eq!(ca.version(), X509Version::V3);
    assert_eq!(curve_of(&ca), OID_NIST_EC_P384);
    assert_eq!(ca.signature_algorithm.algorithm, OID_SIG_ECDSA_WITH_SHA384);
    let mut constrained = false;
    for ext in ca.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => {
                assert!(ext.critical && bc.ca);
                assert_eq!(
                    bc.path_len_constraint,
                    Some(0),
                    "cannot delegate to sub-CAs"
                );
            }
            ParsedExtension::KeyUsage(ku) => {
                assert!(ext.critical && ku.key_cert_sign() && ku.crl_sign());
            }
            ParsedExtension::NameConstraints(nc) => {
                assert!(ext.critical, "the name constraint is critical");
                let permitted: Vec<_> = nc
                    .permitted_subtrees
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|s| s.base.clone())
                    .collect();
                assert_eq!(permitted, vec![GeneralName::DNSName(domain)]);
                constrained = true;
            }
            _ => {}
        }
    }
    assert!(constrained, "T7: the CA is name-constrained");
}

#[tokio::test]
async fn t6_t7_self_issued_certificates_meet_the_profile() {
    let app = spawn_app().await;
    let tls = app.tls_dir();
    let ca = der_of(&tls.join("ca.pem"));
    assert_ca_profile(&ca, "localhost");
    assert_site_profile(&der_of(&tls.join("site.pem")), &ca, "localhost");
    // The served certificate is that file.
    let (ok, out) = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            tls.join("ca.pem").to_str().unwrap(),
            tls.join("site.pem").to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok && out.contains(": OK"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn t6_private_keys_are_mode_0600_and_the_tls_dir_0700() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(app.tls_dir().join("site.key")), 0o600);
    assert_eq!(mode(app.tls_dir().join("ca.key")), 0o600);
    assert_eq!(mode(app.tls_dir()), 0o700);
    assert_eq!(mode(app.dir.path().to_path_buf()), 0o700);
    app.stop().await;
}

/// Sign a certificate for `domain` with the CA's key directly, bypassing Parley's own refusal.
fn forge_with_ca(tls: &Path, domain: &str, out: &Path) {
    forge_with_ca_days(tls, domain, out, 30)
}

fn forge_with_ca_days(tls: &Path, domain: &str, out: &Path, days_left: i64) {
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(tls.join("ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(tls.join("ca.pem")).unwrap(),
        ca_key,
    )
    .unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = CertificateParams::new(vec![domain.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, domain);
    p.is_ca = IsCa::ExplicitNoCa;
    p.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(days_left);
    p.use_authority_key_identifier_extension = true;
    std::fs::write(out, p.signed_by(&key, &issuer).unwrap().pem()).unwrap();
}

#[tokio::test]
async fn t7_name_constraint_stops_the_ca_vouching_for_another_domain() {
    let app = spawn_app().await;
    let tls = app.tls_dir();
    let ca = tls.join("ca.pem");
    for (domain, accepted) in [
        ("evil.example", false),
        ("localhost.evil.example", false),
        ("sub.localhost", true),
    ] {
        let forged = app.dir.path().join(format!("{domain}.pem"));
        forge_with_ca(&tls, domain, &forged);
        let (ok, out) = run(
            "openssl",
            &[
                "verify",
                "-CAfile",
                ca.to_str().unwrap(),
                forged.to_str().unwrap(),
            ],
        )
        .await;
        assert_eq!(ok, accepted, "{domain}: {out}");
        if !accepted {
            assert!(
                out.contains("permitted subtree violation"),
                "{domain}: {out}"
            );
        }
    }
    app.stop().await;
}

/// An operator's PKI for chat.test: a temporary directory holding the operator's CA in `pki/`,
/// and the flags of a server for chat.test on `data/` in it.
fn operator_pki() -> (tempfile::TempDir, PathBuf, parley::cli::ServeArgs) {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    parley::cli::cert_ca("chat.test", &pki).unwrap();
    let mut args = base_args(&dir.path().join("data"));
    args.domain = Some("chat.test".into());
    (dir, pki, args)
}

/// The client trusts only the operator's CA and reaches the server by name; the server made no
/// `file` of its own in its TLS directory (`why`).
async fn assert_served_by_name_without(app: crate::common::TestApp, file: &str, why: &str) {
    let res = app.fetch("/api/health").await;
    assert_eq!(res.status(), 200);
    assert!(!app.tls_dir().join(file).exists(), "{why}");
    app.stop().await;
}

#[tokio::test]
async fn t7_site_certificate_is_issued_from_a_given_ca() {
    let (dir, ca_dir, mut args) = operator_pki();
    args.ca_cert = Some(ca_dir.join("ca.pem"));
    args.ca_key = Some(ca_dir.join("ca.key"));
    let app = spawn_in(dir, args).await;
    let site = der_of(&app.tls_dir().join("site.pem"));
    assert_site_profile(&site, &der_of(&ca_dir.join("ca.pem")), "chat.test");
    let why = "the operator's CA key is never copied";
    assert_served_by_name_without(app, "ca.key", why).await;
}

#[tokio::test]
async fn t7_served_certificate_comes_from_given_files() {
    let (dir, pki, mut args) = operator_pki();
    parley::cli::cert_issue(&pki.join("ca.pem"), &pki.join("ca.key"), "chat.test", &pki).unwrap();
    args.tls_cert = Some(pki.join("site.pem"));
    args.tls_key = Some(pki.join("site.key"));
    // The harness trusts <data>/tls/ca.pem by default; point it at the operator's CA.
    let data_tls = dir.path().join("data/tls");
    std::fs::create_dir_all(&data_tls).unwrap();
    std::fs::copy(pki.join("ca.pem"), data_tls.join("ca.pem")).unwrap();
    let app = spawn_in(dir, args).await;
    let why = "given files are served as they are";
    assert_served_by_name_without(app, "site.pem", why).await;
}

#[tokio::test]
async fn t6_certificate_is_reused_and_renewed_when_under_30_days() {
    let app = spawn_app().await;
    let site_path = app.tls_dir().join("site.pem");
    let first = std::fs::read(&site_path).unwrap();
    let dir = app.stop().await;

    // A restart reuses the certificate.
    let app = spawn_on(dir, |_| {}).await;
    assert_eq!(
        std::fs::read(&site_path).unwrap(),
        first,
        "reused on restart"
    );
    let dir = app.stop().await;

    // Replace it with one that has 10 days left: the next start issues a fresh 90-day one.
    forge_with_ca_days(&dir.path().join("tls"), "localhost", &site_path, 10);
    let short = std::fs::read(&site_path).unwrap();
    let app = spawn_on(dir, |_| {}).await;
    let renewed = std::fs::read(&site_path).unwrap();
    assert_ne!(renewed, short, "renewed");
    assert_site_profile(
        &der_of(&site_path),
        &der_of(&app.tls_dir().join("ca.pem")),
        "localhost",
    );
    app.stop().await;
}

/// pkilint (the CA/B Forum and RFC 5280 linters). The findings that do not apply to a private,
/// name-constrained CA for a test domain are listed, with reasons, in docs/tls.md; anything
/// else fails the test.
#[tokio::test]
async fn t6_pkilint_reports_only_the_documented_not_applicable_findings() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path();
    parley::cli::cert_ca("chat.test", pki).unwrap();
    parley::cli::cert_issue(&pki.join("ca.pem"), &pki.join("ca.key"), "chat.test", pki).unwrap();
    let site = pki.join("site.pem");
    let ca = pki.join("ca.pem");

    // RFC 5280: no findings at all.
    for cert in [&site, &ca] {
        let (_, out) = run(
            &pkilint("lint_pkix_cert"),
            &["lint", "-s", "NOTICE", cert.to_str().unwrap()],
        )
        .await;
        assert_eq!(
            out.trim(),
            "",
            "RFC 5280 findings for {}:\n{out}",
            cert.display()
        );
    }
    let allowed_leaf = [
        "cabf.serverauth.dv.common_name_attribute_present",
        "cabf.serverauth.subscriber.revocation_information_absent",
        "msft.end_entity.revocation_information_absent",
        "cabf.internal_domain_name",
        "cabf.serverauth.subscriber.subject_key_identifier_extension_present",
        "cabf.serverauth.subscriber.authority_info_access_extension_absent",
        "cabf.serverauth.subscriber.certificate_policies_extension_absent",
    ];
    let allowed_ca = [
        "cabf.serverauth.ca.country_attribute_absent",
        "cabf.ca_certificate_no_digital_signature_bit",
        "cabf.internal_domain_name",
        "cabf.serverauth.root_basic_constraints_pathlenconstraint_present",
        "cabf.serverauth.root.unknown_extension_present: Unknown extension present: 2.5.29.30",
    ];
    for (cert, kind, allowed) in [
        (&site, "DV-FINAL-CERTIFICATE", &allowed_leaf[..]),
        (&ca, "ROOT-CA", &allowed_ca[..]),
    ] {
        let (_, out) = run(
            &pkilint("lint_cabf_serverauth_cert"),
            &["lint", "-s", "NOTICE", "-t", kind, cert.to_str().unwrap()],
        )
        .await;
        // Every line is a validator heading ("X @ path") or an indented finding; anything
        // else (a traceback, a usage error) fails the test.
        let mut findings = 0;
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            if line.starts_with("    ") {
                findings += 1;
                let code = line.split_whitespace().next().unwrap();
                let detail = line.split_once(')').map(|x| x.1).unwrap_or("");
                let with_detail = format!("{code}{detail}");
                assert!(
                    allowed.contains(&code) || allowed.contains(&with_detail.as_str()),
                    "undocumented pkilint finding for {kind}: {line}\n{out}"
                );
            } else {
                assert!(
                    line.contains(" @ "),
                    "unexpected pkilint output for {kind}:\n{out}"
                );
            }
        }
        assert!(
            findings > 0,
            "pkilint ran and reported the known findings for {kind}:\n{out}"
        );
    }
}

/// pkilint from the project's venv (made by scripts/setup-test-deps.sh), else from PATH.
fn pkilint(tool: &str) -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tools/venv/bin")
        .join(tool);
    if venv.exists() {
        venv.to_string_lossy().into_owned()
    } else {
        tool.to_string()
    }
}
