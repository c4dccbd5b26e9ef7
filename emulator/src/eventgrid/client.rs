//! The smallest HTTP/1.1 client Event Grid needs: one request per connection over plain TCP
//! (`http://` endpoints only), with a deadline for the whole exchange. Built on hyper's
//! low-level `client::conn::http1` so keyrot's static binary gains no new crate.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;

/// Largest answer body read (validation answers are tiny; the rest is ignored).
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the deadline.
    Timeout,
    /// Connection refused or reset, or not HTTP.
    Connection(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timed out"),
            Failure::Connection(e) => f.write_str(e),
        }
    }
}

/// Aborts the connection task when the exchange ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checks that `url` is an endpoint this client can reach: `http://host[:port]/…`.
pub fn check_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid endpoint URL {url:?}: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "endpoint {url:?}: the emulator's Event Grid delivers to http:// endpoints only (run the handler behind TLS termination)"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("endpoint {url:?} has no host"));
    }
    Ok(parsed)
}

pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, Failure> {
    match tokio::time::timeout(timeout, exchange(method, url, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout),
    }
}

async fn exchange(
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<Answer, Failure> {
    let parsed = check_url(url).map_err(Failure::Connection)?;
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::net::TcpStream::connect((connect_host, port))
        .await
        .map_err(|e| Failure::Connection(format!("connect {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
            .await
            .map_err(|e| Failure::Connection(format!("HTTP handshake: {e}")))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let authority = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = builder
        .body(Full::new(body))
        .map_err(|e| Failure::Connection(format!("building the request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Failure::Connection(format!("HTTP exchange: {e}")))?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    // A body cut short still leaves the status, which is all delivery judges.
    let body = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(Answer {
        status,
        headers: parts.headers,
        body,
    })
}
