//! A throwaway certificate authority and the one leaf certificate every host name shares.
//!
//! Clients must trust the CA (its PEM is written to a file for `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE` and friends); nothing is ever added to a system trust store.

use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

pub struct TlsMaterial {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
    /// DER of a self-signed certificate used as the plausible `cer` of seeded certificates.
    pub sample_cert_der: Vec<u8>,
}

/// Host names on the leaf. `*.localhost` does not cover `demo.vault.localhost` (a wildcard
/// matches one label), hence the explicit `*.vault.localhost`.
const SANS: &[&str] = &[
    "localhost",
    "*.vault.localhost",
    "login.localhost",
    "*.localhost",
    "127.0.0.1",
    "::1",
];

pub fn generate() -> anyhow::Result<TlsMaterial> {
    let now = OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate().context("generating CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "keyrot emulator local CA");
    dn.push(
        DnType::OrganizationName,
        "keyrot emulator (untrusted, test only)",
    );
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - Duration::days(1);
    ca_params.not_after = now + Duration::days(365);
    let ca_cert = ca_params.self_signed(&ca_key).context("self-signing CA")?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().context("generating leaf key")?;
    let mut leaf_params =
        CertificateParams::new(SANS.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    leaf_params.distinguished_name = dn;
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = now - Duration::days(1);
    leaf_params.not_after = now + Duration::days(90);
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .context("signing leaf")?;

    let chain = vec![
        CertificateDer::from(leaf_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));

    // Pin the aws-lc-rs provider explicitly: the process may have both providers compiled in,
    // in which case `ServerConfig::builder()` cannot pick a default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("TLS server certificate")?;
    // HTTP/1.1 only, so a dropped connection is an unambiguous "no response".
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let sample_key = KeyPair::generate()?;
    let mut sample_params = CertificateParams::new(vec!["app.example.com".to_string()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "app.example.com");
    sample_params.distinguished_name = dn;
    let sample = sample_params.self_signed(&sample_key)?;

    Ok(TlsMaterial {
        ca_pem,
        server_config: Arc::new(config),
        sample_cert_der: sample.der().to_vec(),
    })
}
