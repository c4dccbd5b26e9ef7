//! A hostile server for the tests: an HTTPS proxy in front of the emulator that answers what
//! the emulator answers, except that it rewrites placeholders in the JSON bodies into hostile
//! text (secret, certificate and key names in ids, Entra key ids: things real Key Vault and
//! Graph never send, and the emulator rightly refuses to hold) and answers some requests itself
//! with a 403 carrying a hostile message. The emulator stays faithful; the hostility is here.
//!
//! HTTP/1.1 only, one request per connection (`connection: close`), which is all keyrot's
//! client needs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the proxy changes.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `(placeholder, hostile)`: every `placeholder` in a response body becomes `hostile`,
    /// escaped as a JSON string's content (the bodies are JSON).
    pub rewrite: Vec<(String, String)>,
    /// `(host prefix, path prefix, message)`: an authenticated request whose `Host` starts with
    /// the first and path with the second is answered 403 with Key Vault's (or Graph's) error
    /// body carrying `message`.
    pub forbid: Vec<(String, String, String)>,
}

pub struct HostileProxy {
    port: u16,
    ca_path: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HostileProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileProxy {
    /// Listens on a free loopback port and forwards to the emulator at `upstream_port`,
    /// trusting `upstream_ca_pem`.
    pub async fn start(upstream_port: u16, upstream_ca_pem: &str, rules: Rules) -> HostileProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca_pem, server_config) = tls();
        let ca_path = dir.path().join("hostile-ca.pem");
        std::fs::write(&ca_path, ca_pem).expect("write CA");
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let upstream = reqwest::Client::builder()
            .tls_certs_only(
                reqwest::Certificate::from_pem_bundle(upstream_ca_pem.as_bytes())
                    .expect("emulator CA"),
            )
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let shared = Arc::new(Shared {
            rules,
            upstream,
            upstream_port,
            port,
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = serve(tls, &shared).await;
                    }
                });
            }
        });
        HostileProxy {
            port,
            ca_path,
            _dir: dir,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM of the CA that signed the proxy's certificate.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// `https://{vault}.vault.localhost:{proxy port}`.
    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.vault.localhost:{}", self.port)
    }

    /// `https://graph.localhost:{proxy port}`.
    pub fn graph_url(&self) -> String {
        format!("https://graph.localhost:{}", self.port)
    }
}

struct Shared {
    rules: Rules,
    upstream: reqwest::Client,
    upstream_port: u16,
    port: u16,
}

/// A throwaway CA and a leaf for every `*.localhost` name keyrot resolves to loopback.
fn tls() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "keyrot hostile test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let names = [
        "localhost",
        "*.vault.localhost",
        "graph.localhost",
        "*.localhost",
    ];
    let leaf = CertificateParams::new(names.map(String::from).to_vec())
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    let chain = vec![
        CertificateDer::from(leaf.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server cert");
    (ca_cert.pem(), Arc::new(config))
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn serve<S>(stream: S, shared: &Shared) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).await?;

    let (status, headers, body) = answer(shared, &request).await;
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    write.write_all(head.as_bytes()).await?;
    write.write_all(&body).await?;
    write.flush().await?;
    write.shutdown().await
}

async fn answer(shared: &Shared, request: &Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let host = request.header("host").unwrap_or("").to_owned();
    let hostname = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let path = request.target.split('?').next().unwrap_or("");
    let authenticated = request.header("authorization").is_some();
    for (host_prefix, path_prefix, message) in &shared.rules.forbid {
        if authenticated && hostname.starts_with(host_prefix) && path.starts_with(path_prefix) {
            let body = if hostname.starts_with("graph.") {
                serde_json::json!({"error": {"code": "Authorization_RequestDenied", "message": message}})
            } else {
                serde_json::json!({"error": {"code": "Forbidden", "message": message,
                    "innererror": {"code": "ForbiddenByRbac"}}})
            };
            return (
                403,
                vec![(
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                )],
                body.to_string().into_bytes(),
            );
        }
    }

    let url = format!(
        "https://127.0.0.1:{}{}",
        shared.upstream_port, request.target
    );
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
    let mut forwarded = shared.upstream.request(method, url);
    for (k, v) in &request.headers {
        let lower = k.to_ascii_lowercase();
        if matches!(lower.as_str(), "host" | "content-length" | "connection") {
            continue;
        }
        forwarded = forwarded.header(k.as_str(), v.as_str());
    }
    // The emulator routes by host name; its answers name its own port.
    forwarded = forwarded.header("host", format!("{hostname}:{}", shared.upstream_port));
    let response = match forwarded.body(request.body.clone()).send().await {
        Ok(response) => response,
        Err(e) => return (502, Vec::new(), format!("upstream: {e}").into_bytes()),
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-length" | "connection" | "transfer-encoding" | "keep-alive"
            )
        })
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.bytes().await.unwrap_or_default();
    let mut text = String::from_utf8_lossy(&body).into_owned();
    text = text.replace(
        &format!("localhost:{}", shared.upstream_port),
        &format!("localhost:{}", shared.port),
    );
    for (placeholder, hostile) in &shared.rules.rewrite {
        let encoded = serde_json::to_string(hostile).expect("string");
        text = text.replace(placeholder, &encoded[1..encoded.len() - 1]);
    }
    (status, headers, text.into_bytes())
}
