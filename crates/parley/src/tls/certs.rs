//! Certificate issuance with the profile of REQUIREMENTS.md T6/T7.
//!
//! - The CA (`new_ca`): ECDSA P-384, self-signed, `CA:true, pathlen:0`, key usage
//!   keyCertSign + cRLSign, and a **critical name constraint** permitting only the site's domain
//!   (and its subdomains), so trusting it cannot vouch for any other site.
//! - The site certificate (`issue_site`): C1 v3; C2 ECDSA P-384; C3 ecdsa-with-SHA384;
//!   C4 basicConstraints critical CA:false; C5 keyUsage critical digitalSignature only;
//!   C6 EKU serverAuth; C7 SKI and AKI; C8 validity exactly 90 days; the domain as CN and
//!   as the only SAN (T7).

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, NameConstraints,
    PKCS_ECDSA_P384_SHA384, PublicKeyData, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// C8: every site certificate is valid for exactly this long.
pub const SITE_VALIDITY: Duration = Duration::days(90);
/// The self-issued CA lives ten years (CABF's minimum for a root is 2922 days); its name
/// constraint, not its lifetime, is what limits the harm a stolen CA key could do.
pub const CA_VALIDITY: Duration = Duration::days(3653);
/// Re-issue the site certificate when fewer than this many days remain.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// A certificate and its private key, both PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A positive random serial of 126 random bits (RFC 5280 §4.1.2.2: positive, at most 20 octets; CABF:
/// at least 64 bits of CSPRNG output).
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero octet, so the DER stays 16 octets
    SerialNumber::from_slice(&bytes)
}

/// RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits.
/// (rcgen's default hashes the whole SPKI, which linters cannot recognise.)
fn key_id(key: &KeyPair) -> KeyIdMethod {
    use sha2::{Digest, Sha256};
    KeyIdMethod::PreSpecified(Sha256::digest(key.public_key_raw())[..20].to_vec())
}

/// Whole seconds: certificate times have no sub-second part, and C8 is checked to the second.
fn now_utc() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// A new P-384 CA whose name constraint permits only `domain` and its subdomains.
pub fn new_ca(domain: &str) -> Result<Pem> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Parley");
    dn.push(DnType::CommonName, format!("Parley CA for {domain}"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName(domain.to_string())],
        excluded_subtrees: vec![],
    });
    p.key_identifier_method = key_id(&key);
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial());
    p.not_before = now_utc() - Duration::minutes(5);
    p.not_after = p.not_before + CA_VALIDITY;
    let cert = p.self_signed(&key)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Issue the site certificate for `domain` from the CA (PEM certificate and key).
///
/// Refuses when the CA's own name constraints would not permit `domain`: such a certificate
/// would be rejected by every browser anyway, and the error is clearer here.
pub fn issue_site(ca_cert_pem: &str, ca_key_pem: &str, domain: &str) -> Result<Pem> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("the CA key is not a readable PEM key")?;
    let ca_der = pem_to_der(ca_cert_pem).context("the CA certificate is not readable PEM")?;
    let info = inspect(&ca_der).context("the CA certificate cannot be parsed")?;
    if !info.is_ca {
        bail!("the CA certificate is not a CA (basicConstraints CA:false or absent)");
    }
    if info.spki_der != ca_key.subject_public_key_info() {
        bail!("the CA key does not belong to the CA certificate");
    }
    if !info.permits(domain) {
        bail!(
            "the CA's name constraints ({}) do not permit {domain}",
            info.permitted_dns.join(", ")
        );
    }
    let issuer = Issuer::from_ca_cert_der(&ca_der.clone().into(), &ca_key)
        .context("the CA certificate cannot be used as an issuer")?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
    let mut p = CertificateParams::new(vec![domain.to_string()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, domain);
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_identifier_method = key_id(&key);
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial());
    p.not_before = now_utc() - Duration::minutes(5);
    p.not_after = p.not_before + SITE_VALIDITY;
    if p.not_after > info.not_after {
        bail!("the CA certificate expires before a 90-day site certificate would; renew the CA");
    }
    let cert = p.signed_by(&key, &issuer)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The facts about a certificate that Parley decides on.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub is_ca: bool,
    pub not_after: OffsetDateTime,
    pub dns_names: Vec<String>,
    pub permitted_dns: Vec<String>,
    pub spki_der: Vec<u8>,
    pub issuer_der: Vec<u8>,
    pub subject_der: Vec<u8>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
}

impl CertInfo {
    /// RFC 5280 §4.2.1.10 dNSName matching: the name itself or any subdomain of a permitted one.
    pub fn permits(&self, domain: &str) -> bool {
        self.permitted_dns.is_empty()
            || self.permitted_dns.iter().any(|p| {
                let p = p.trim_start_matches('.');
                domain == p || domain.ends_with(&format!(".{p}"))
            })
    }
}

pub fn inspect(der: &[u8]) -> Result<CertInfo> {
    let (_, x) = X509Certificate::from_der(der).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut info = CertInfo {
        is_ca: false,
        not_after: x.validity().not_after.to_datetime(),
        dns_names: vec![],
        permitted_dns: vec![],
        spki_der: x.tbs_certificate.subject_pki.raw.to_vec(),
        issuer_der: x.tbs_certificate.issuer.as_raw().to_vec(),
        subject_der: x.tbs_certificate.subject.as_raw().to_vec(),
        subject_key_id: None,
        authority_key_id: None,
    };
    for ext in x.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => info.is_ca = bc.ca,
            ParsedExtension::SubjectKeyIdentifier(k) => info.subject_key_id = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                info.authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    if let GeneralName::DNSName(d) = n {
                        info.dns_names.push(d.to_string());
                    }
                }
            }
            ParsedExtension::NameConstraints(nc) => {
                for st in nc.permitted_subtrees.iter().flatten() {
                    if let GeneralName::DNSName(d) = &st.base {
                        info.permitted_dns.push(d.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// The DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .context("no CERTIFICATE block found")??;
    Ok(der.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_refuses_a_domain_outside_the_constraint() {
        let ca = new_ca("chat.test").unwrap();
        assert!(issue_site(&ca.cert, &ca.key, "chat.test").is_ok());
        assert!(issue_site(&ca.cert, &ca.key, "eu.chat.test").is_ok());
        let err = issue_site(&ca.cert, &ca.key, "evil.test").err().unwrap();
        assert!(err.to_string().contains("do not permit evil.test"), "{err}");
        let err = issue_site(&ca.cert, &ca.key, "notchat.test").err().unwrap();
        assert!(err.to_string().contains("do not permit"), "{err}");
    }

    #[test]
    fn issue_refuses_a_key_of_another_ca() {
        let a = new_ca("chat.test").unwrap();
        let b = new_ca("chat.test").unwrap();
        let err = issue_site(&a.cert, &b.key, "chat.test").err().unwrap();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn issue_refuses_a_leaf_as_ca() {
        let ca = new_ca("chat.test").unwrap();
        let leaf = issue_site(&ca.cert, &ca.key, "chat.test").unwrap();
        let err = issue_site(&leaf.cert, &leaf.key, "chat.test")
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a CA"), "{err}");
    }
}
