//! Trust: the platform's roots plus `--ca-cert`, loaded off the critical path.
//!
//! Loading the platform's roots costs a few milliseconds before the first request could leave
//! (on Linux: the system bundle and every file of `/etc/ssl/certs`, about 300 certificates
//! parsed), which a small vault's whole run notices. A handshake needs them only when the
//! server's certificate arrives, one round trip after connecting. So the verifier is built on
//! a thread of its own as soon as the transport is, and the handshake waits for it only if it
//! is not ready by then: the loading overlaps flags, runtime, credential set-up, DNS, connect
//! and the first flight of TLS.
//!
//! Verification itself is `rustls-platform-verifier`'s, exactly as reqwest would configure it.

use std::sync::{Arc, LazyLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

type Built = Result<rustls_platform_verifier::Verifier, rustls::Error>;

/// The certificates of `--ca-cert`/`KEYROT_CA_CERT`/`SSL_CERT_FILE`, checked now so that a bad
/// file is a usage error before anything reaches the network. `origin` names the file.
pub fn extra_roots(origin: &str, pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("cannot read CA certificate {origin}: {e} (expected PEM)"))?;
    if certs.is_empty() {
        anyhow::bail!("CA certificate file {origin} holds no PEM certificate");
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).map_err(|e| {
            anyhow::anyhow!(
                "cannot use CA certificate {origin}: {e} (expected an X.509 certificate)"
            )
        })?;
    }
    Ok(certs)
}

/// A TLS client configuration (HTTP/1.1) whose verifier is being built in the background.
pub fn client_config(extra: Vec<CertificateDer<'static>>) -> anyhow::Result<rustls::ClientConfig> {
    // The process default when one is installed, else the provider rustls is built with (as
    // reqwest chooses).
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = BackgroundVerifier::start(extra, provider.clone());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `rustls-platform-verifier`'s verifier, built by a thread started with it.
struct BackgroundVerifier {
    provider: Arc<CryptoProvider>,
    verifier: Arc<LazyLock<Built, Box<dyn FnOnce() -> Built + Send>>>,
}

impl std::fmt::Debug for BackgroundVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundVerifier").finish_non_exhaustive()
    }
}

impl BackgroundVerifier {
    fn start(extra: Vec<CertificateDer<'static>>, provider: Arc<CryptoProvider>) -> Self {
        let for_build = provider.clone();
        let build: Box<dyn FnOnce() -> Built + Send> = Box::new(move || {
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, for_build)
        });
        let verifier = Arc::new(LazyLock::new(build));
        // Whoever comes first builds it: this thread, or a handshake that cannot wait (then
        // this thread finds it built). A failure to spawn only loses the head start.
        let background = verifier.clone();
        let _ = std::thread::Builder::new()
            .name("keyrot-roots".into())
            .spawn(move || {
                LazyLock::force(&background);
            });
        BackgroundVerifier { provider, verifier }
    }
}

impl ServerCertVerifier for BackgroundVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match LazyLock::force(&self.verifier) {
            Ok(verifier) => verifier.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            Err(e) => Err(e.clone()),
        }
    }

    // Signatures and schemes need the provider only, not the roots: the client's first flight
    // never waits for them.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        let error = extra_roots("ca.pem", b"this is not a certificate").unwrap_err();
        assert_eq!(
            error.to_string(),
            "CA certificate file ca.pem holds no PEM certificate"
        );
        let broken = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let error = extra_roots("ca.pem", broken).unwrap_err().to_string();
        assert!(
            error.starts_with("cannot read CA certificate ca.pem") && error.contains("PEM"),
            "{error}"
        );
        let junk = b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        let error = extra_roots("ca.pem", junk).unwrap_err().to_string();
        assert!(
            error.starts_with("cannot use CA certificate ca.pem"),
            "{error}"
        );
    }
}
