//! octocrab's HTTP layer, replaced by keyrot's transport.
//!
//! octocrab builds its client as a tower stack over a `Service<http::Request>`; its own bottom
//! layer is a hyper client with its own TLS (ring) and its own retries. Here the bottom layer
//! hands each request to [`KeyrotTransport`] instead, so GitHub calls get exactly the rules
//! every Azure call gets: `--ca-cert`/`KEYROT_CA_CERT`, `*.localhost` on loopback, retries of
//! 408/429/5xx, resets and timeouts honouring `Retry-After` within the budget, bounded answers,
//! and no `Authorization` header to any origin but the API's (the transport is bound to it).
//!
//! One GitHub-specific rule sits on top: a **secondary rate limit** is a 403 (not a 429) with
//! `retry-after`, or with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`. Such an answer is
//! retried after the wait it names when that wait fits in what is left of the call's budget;
//! otherwise the answer is handed back and becomes an error that says so.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{HttpClient, Method, Request as AzRequest, Url};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use octocrab::OctoBody;

use crate::transport::{fmt_duration, KeyrotTransport};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bottom of octocrab's stack: every request goes through keyrot's transport.
#[derive(Clone)]
pub struct TransportService {
    transport: Arc<KeyrotTransport>,
}

impl TransportService {
    /// `transport` must already be bound to the API's origin ([`KeyrotTransport::for_origins`]).
    pub fn new(transport: Arc<KeyrotTransport>) -> Self {
        Self { transport }
    }
}

impl tower::Service<http::Request<OctoBody>> for TransportService {
    type Response = http::Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<OctoBody>) -> Self::Future {
        let transport = self.transport.clone();
        Box::pin(async move { send(&transport, request).await })
    }
}

async fn send(
    transport: &KeyrotTransport,
    request: http::Request<OctoBody>,
) -> Result<http::Response<Full<Bytes>>, BoxError> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let url = Url::parse(&parts.uri.to_string())?;
    let method = to_method(&parts.method)?;
    let mut outgoing = AzRequest::new(url, method);
    for (name, value) in &parts.headers {
        let value = value
            .to_str()
            .map_err(|_| format!("header {name} is not visible ASCII"))?;
        outgoing.insert_header(name.as_str().to_owned(), value.to_owned());
    }
    if !body.is_empty() || matches!(parts.method, http::Method::PUT | http::Method::POST) {
        outgoing.set_body(body);
    }
    // A dispatch starts a workflow run and an issue is an issue: never replayed blindly.
    let path = parts.uri.path();
    if parts.method == http::Method::POST
        && (path.ends_with("/dispatches") || path.ends_with("/issues"))
    {
        outgoing.insert_header(crate::transport::NO_REPLAY_HEADER, "1");
    }
    let deadline = Instant::now() + transport.budget();
    loop {
        let response = transport.execute_request(&outgoing).await?;
        let status = u16::from(response.status());
        let headers = response.headers().clone();
        let raw = response.try_into_raw_response().await?;
        let body = Bytes::copy_from_slice(raw.body().as_ref());
        if let Some(wait) = secondary_limit_wait(status, &headers) {
            let left = deadline.saturating_duration_since(Instant::now());
            if wait <= left {
                tracing::debug!(
                    "GitHub secondary rate limit (HTTP {status}); retrying in {}",
                    fmt_duration(wait)
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            tracing::warn!(
                "GitHub secondary rate limit (HTTP {status}): not retrying, the wait ({}) exceeds what is left of --timeout",
                fmt_duration(wait)
            );
        }
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers.iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        return Ok(builder.body(Full::new(body))?);
    }
}

fn to_method(method: &http::Method) -> Result<Method, BoxError> {
    Ok(match *method {
        http::Method::GET => Method::Get,
        http::Method::PUT => Method::Put,
        http::Method::POST => Method::Post,
        http::Method::PATCH => Method::Patch,
        http::Method::DELETE => Method::Delete,
        http::Method::HEAD => Method::Head,
        ref other => return Err(format!("HTTP method {other} is not supported").into()),
    })
}

/// How long a secondary-rate-limited answer asks to wait, or `None` for any other answer
/// (429 is the transport's to retry).
fn secondary_limit_wait(status: u16, headers: &Headers) -> Option<Duration> {
    if status != 403 {
        return None;
    }
    let header = |name: &'static str| {
        headers
            .get_optional_str(&HeaderName::from_static(name))
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset")?.parse::<i64>().ok()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1) as u64));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.insert(*k, v.to_string());
        }
        h
    }

    #[test]
    fn only_a_403_with_a_wait_is_a_secondary_limit() {
        assert_eq!(
            secondary_limit_wait(403, &headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(secondary_limit_wait(403, &headers(&[])), None);
        assert_eq!(
            secondary_limit_wait(429, &headers(&[("retry-after", "3")])),
            None
        );
        let reset = (time::OffsetDateTime::now_utc().unix_timestamp() + 5).to_string();
        let wait = secondary_limit_wait(
            403,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ]),
        )
        .unwrap();
        assert!(wait <= Duration::from_secs(5) && wait >= Duration::from_secs(4));
    }
}
