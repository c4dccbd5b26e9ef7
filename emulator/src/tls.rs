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
}

/// Host names on the leaf. `*.localhost` does not cover `demo.vault.localhost` (a wildcard
/// matches one label), hence the explicit `*.vault.localhost`.
const SANS: &[&str] = &[
    "localhost",
    "*.vault.localhost",
    "login.localhost",
    "graph.localhost",
    "hooks.localhost",
    "devops.localhost",
    "*.devops.localhost",
    "api.github.localhost",
    "management.localhost",
    "*.blob.localhost",
    "*.servicebus.localhost",
    "*.documents.localhost",
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

    // aws-lc-rs is the workspace's one crypto provider (deny.toml bans ring); named here so the
    // emulator never depends on a process-wide default being installed.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("TLS server certificate")?;
    // HTTP/1.1 only, so a dropped connection is an unambiguous "no response".
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(TlsMaterial {
        ca_pem,
        server_config: Arc::new(config),
    })
}

/// A Key Vault certificate version's own X.509: self-signed, subject from the policy, validity
/// equal to the version's `nbf`/`exp`, as Key Vault issues it. Returns the DER and its `x5t`
/// (base64url SHA-1 of the DER), or `None` if the dates cannot be encoded in X.509.
pub fn vault_certificate(
    subject: &str,
    not_before: i64,
    not_after: i64,
) -> Option<(Vec<u8>, String)> {
    use base64::Engine as _;
    let common_name = subject.strip_prefix("CN=").unwrap_or(subject);
    let key = KeyPair::generate().ok()?;
    let mut params = CertificateParams::new(Vec::<String>::new()).ok()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).ok()?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).ok()?;
    let der = params.self_signed(&key).ok()?.der().to_vec();
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1.as_ref());
    Some((der, x5t))
}
