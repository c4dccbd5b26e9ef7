//! The one HTTP transport every Azure call goes through (Key Vault and token endpoints alike).
//!
//! Why keyrot brings its own transport instead of the SDK's default one:
//! - **Trust**: `--ca-cert`/`KEYROT_CA_CERT` (and `SSL_CERT_FILE`) add a PEM root on top of the
//!   platform's, so a local HTTPS emulator is trusted without turning verification off. The
//!   platform's roots load in the background ([`roots`]): the first request does not wait.
//! - **Names**: `*.localhost` resolves to loopback inside keyrot (RFC 6761), so
//!   `https://demo.vault.localhost:8443` works without touching /etc/hosts, while the Key Vault
//!   challenge-resource check stays on (`demo.vault.localhost` ends with `.vault.localhost`).
//! - **Retries with a budget and a cause**: the SDK's default policy retries for up to 60 s and
//!   then reports only that it gave up. Here the SDK's retry policy is switched off
//!   ([`client_options`]) and this transport retries transient failures (429, 408, 500, 502, 503,
//!   504, resets, timeouts) within one deadline shared by the whole command (`--timeout`; for
//!   `rotate`, a deadline per call, see [`BudgetScope`]),
//!   honours `Retry-After`, fails at once on what retrying cannot fix (TLS verification, DNS,
//!   a refused connection on a loopback host) and always names the underlying cause.
//! - **Tokens stay home**: a transport is bound to the origins its client serves
//!   ([`KeyrotTransport::for_origins`]) and refuses to send an `Authorization` header anywhere
//!   else, whatever URL an answer (a next-page link, say) led the client to. The unbound
//!   transport sends no `Authorization` header at all.
//! - **Bounded answers**: a response body is read as a stream and refused past
//!   [`MAX_RESPONSE_BYTES`], so a hostile or broken server cannot exhaust memory.

mod roots;

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::error::{Error as AzError, ErrorKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, ClientOptions, HttpClient, Request, RetryOptions};
use azure_core::http::{StatusCode, Transport as AzTransport};
use futures::TryStreamExt;

/// How the transport is built; filled in by `cli.rs` from flags and environment.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Extra PEM bundles to trust, with the path each came from (for error messages).
    pub extra_roots: Vec<(String, Vec<u8>)>,
    /// The budget for waiting on retries and slow answers.
    pub budget: Duration,
    /// Whether the budget is one deadline for the whole command (check, fetch: a pipeline
    /// step must end in bounded time) or applies to each call afresh (rotate: a run lasts as
    /// long as its lock settles and its verifications wait, and is bounded by those instead).
    pub scope: BudgetScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetScope {
    Command,
    EachCall,
}

/// The largest response body keyrot reads. Key Vault's list pages hold at most 25 items and a
/// secret at most 25 KiB; Graph's application objects are far smaller.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Transient failures wait at least this long before the next try, doubling up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A request carrying this header (which the transport removes before sending) starts
/// something on the server (a pipeline run, a release, a workflow run) and must not be sent
/// twice: the transport retries it only when it certainly never arrived (no connection was
/// made) or was refused with 429; any other failure goes back to the caller, who can look for
/// what the request may have started before trying again.
pub const NO_REPLAY_HEADER: &str = "x-keyrot-no-replay";

/// The reqwest-based transport with keyrot's trust, name resolution and retry rules.
#[derive(Debug, Clone)]
pub struct KeyrotTransport {
    client: reqwest::Client,
    /// The command's deadline, or `None` when each call gets the whole budget.
    deadline: Option<Instant>,
    budget: Duration,
    /// The only origins an `Authorization` header may be sent to (none when unbound).
    token_origins: Arc<[url::Origin]>,
}

/// A failure the transport will not retry, or the last failure once the budget is spent.
#[derive(Debug)]
struct Failure {
    transient: bool,
    message: String,
    /// Certainly never reached the server (no connection was made): safe to send again even
    /// for a request that must not be replayed.
    unsent: bool,
}

impl KeyrotTransport {
    pub fn new(config: &TransportConfig) -> anyhow::Result<Self> {
        let mut extra = Vec::new();
        for (origin, pem) in &config.extra_roots {
            extra.extend(roots::extra_roots(origin, pem)?);
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(LocalhostAwareResolver))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .http1_only()
            .user_agent(concat!("keyrot/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(roots::client_config(extra)?)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up HTTPS: {}", cause_chain(&e)))?;
        Ok(Self {
            client,
            deadline: (config.scope == BudgetScope::Command)
                .then(|| Instant::now() + config.budget),
            budget: config.budget,
            token_origins: Arc::new([]),
        })
    }

    /// This transport (same connections, same budget) for a client of the services at
    /// `origins`: it sends an `Authorization` header to those origins only.
    pub fn for_origins(&self, origins: impl IntoIterator<Item = url::Origin>) -> Arc<Self> {
        Arc::new(Self {
            token_origins: origins.into_iter().collect(),
            ..self.clone()
        })
    }

    /// `--timeout`: the command's budget (for `rotate`, each call's and each listing's).
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Refuses a request that would carry a token to an origin this transport is not bound to.
    fn check_token_origin(&self, request: &Request) -> Result<(), Failure> {
        let carries_token = request
            .headers()
            .get_optional_str(&HeaderName::from_static("authorization"))
            .is_some();
        let origin = request.url().origin();
        if !carries_token || self.token_origins.contains(&origin) {
            return Ok(());
        }
        let allowed: Vec<String> = self
            .token_origins
            .iter()
            .map(url::Origin::ascii_serialization)
            .collect();
        let whose = if allowed.is_empty() {
            "this client sends no tokens".to_string()
        } else {
            format!("this client's token is for {} only", allowed.join(", "))
        };
        Err(Failure {
            transient: false,
            unsent: false,
            message: format!(
                "refused to send a token to {} (request to {}): {whose}",
                origin.ascii_serialization(),
                request.url(),
            ),
        })
    }

    async fn attempt(
        &self,
        request: &Request,
        remaining: Duration,
    ) -> Result<AsyncRawResponse, Failure> {
        let url = request.url().clone();
        let host = url.host_str().unwrap_or("").to_string();
        let mut builder = self
            .client
            .request(to_reqwest_method(request), url.as_str())
            .timeout(remaining.max(Duration::from_millis(1)));
        for (name, value) in request.headers().iter() {
            if name.as_str() != NO_REPLAY_HEADER {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        builder = match request.body() {
            Body::Bytes(bytes) => builder.body(bytes.clone()),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(Failure {
                    transient: false,
                    unsent: false,
                    message: "streamed request bodies are not supported".into(),
                })
            }
        };
        let response = builder
            .send()
            .await
            .map_err(|e| classify_send_error(&e, &url))?;
        let status = response.status().as_u16();
        let headers = to_headers(response.headers());
        let declared = response.content_length();
        let body =
            read_capped(declared, response.bytes_stream(), MAX_RESPONSE_BYTES, &host).await?;
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(status),
            headers,
            body,
        ))
    }
}

#[async_trait]
impl HttpClient for KeyrotTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        if let Err(refused) = self.check_token_origin(request) {
            return Err(AzError::with_message(ErrorKind::Other, refused.message));
        }
        let host = request.url().host_str().unwrap_or("").to_string();
        let no_replay = request
            .headers()
            .get_optional_str(&HeaderName::from_static(NO_REPLAY_HEADER))
            .is_some();
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + self.budget);
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let (wait, last) = match self.attempt(request, remaining()).await {
                Ok(response)
                    if is_transient_status(response.status())
                        && (!no_replay || u16::from(response.status()) == 429) =>
                {
                    let wait = retry_after(response.headers()).unwrap_or(backoff);
                    let status = response.status();
                    let what = describe_status(status, &host);
                    if wait > remaining() {
                        // Hand the SDK the service's own answer so its error carries the
                        // service's code and message; the budget note goes to the log.
                        tracing::warn!(
                            "{what}: not retrying, the wait ({}) exceeds what is left of --timeout ({}s budget) after {attempts} attempt(s)",
                            fmt_duration(wait),
                            self.budget.as_secs()
                        );
                        return Ok(response);
                    }
                    (wait, what)
                }
                Ok(response) => return Ok(response),
                Err(failure) if !failure.transient || (no_replay && !failure.unsent) => {
                    return Err(AzError::with_message(ErrorKind::Io, failure.message))
                }
                Err(failure) => {
                    if backoff > remaining() {
                        return Err(AzError::with_message(
                            ErrorKind::Io,
                            format!(
                                "{} (gave up after {attempts} attempt(s) within the {}s --timeout budget)",
                                failure.message,
                                self.budget.as_secs()
                            ),
                        ));
                    }
                    (backoff, failure.message)
                }
            };
            tracing::debug!("{last}; retrying in {}", fmt_duration(wait));
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Client options for an SDK client of the service at `service` (its origin counts): keyrot's
/// transport, bound to send tokens there only, and no SDK-level retries (the transport does
/// them, within the command's budget).
pub fn client_options(transport: &KeyrotTransport, service: &url::Url) -> ClientOptions {
    options_with(transport.for_origins([service.origin()]))
}

/// Client options over exactly this transport (keyrot's, already bound as its client needs,
/// or a layer over it).
pub fn options_with(transport: Arc<dyn HttpClient>) -> ClientOptions {
    ClientOptions {
        transport: Some(AzTransport::new(transport)),
        retry: RetryOptions::none(),
        ..Default::default()
    }
}

/// Reads the whole body here, so a connection dropped mid-body is a transient failure this
/// transport can retry rather than a parse error the SDK reports later; chunk by chunk, so a
/// body past `cap` is refused after `cap` bytes, whatever it claims or streams.
async fn read_capped<B, E>(
    declared: Option<u64>,
    chunks: impl futures::Stream<Item = Result<B, E>>,
    cap: usize,
    host: &str,
) -> Result<Vec<u8>, Failure>
where
    B: AsRef<[u8]>,
    E: StdError + 'static,
{
    let limit = fmt_bytes(cap);
    let too_large = || {
        Failure {
        transient: false,
        unsent: false,
        message: format!(
            "the answer from {host} is larger than keyrot's limit of {limit} on a response; it stopped reading"
        ),
    }
    };
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    futures::pin_mut!(chunks);
    loop {
        match chunks.try_next().await {
            Ok(Some(chunk)) => {
                let chunk = chunk.as_ref();
                if body.len() + chunk.len() > cap {
                    return Err(too_large());
                }
                body.extend_from_slice(chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(Failure {
                    transient: true,
                    unsent: false,
                    message: format!(
                        "connection to {host} broke while reading the answer: {}",
                        cause_chain(&e)
                    ),
                })
            }
        }
    }
}

/// `33554432` → `32 MiB`.
fn fmt_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

fn is_transient_status(status: StatusCode) -> bool {
    matches!(u16::from(status), 408 | 429 | 500 | 502 | 503 | 504)
}

fn describe_status(status: StatusCode, host: &str) -> String {
    let code = u16::from(status);
    match code {
        429 => format!("throttled by {host} (429 Too Many Requests)"),
        _ => format!("{host} answered {code} {status}"),
    }
}

/// `Retry-After` in seconds or as an HTTP date, or Azure's millisecond variants.
fn retry_after(headers: &Headers) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(v) = headers.get_optional_str(&HeaderName::from_static(name)) {
            if let Ok(ms) = v.trim().parse::<u64>() {
                return Some(Duration::from_millis(ms));
            }
        }
    }
    let value = headers.get_optional_str(&HeaderName::from_static("retry-after"))?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc2822)
            .ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs(delta.whole_seconds().max(0) as u64))
}

/// `30s`, or `250ms` below a second.
pub fn fmt_duration(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn to_reqwest_method(request: &Request) -> reqwest::Method {
    reqwest::Method::from_bytes(request.method().as_ref().as_bytes())
        .unwrap_or(reqwest::Method::GET)
}

fn to_headers(map: &reqwest::header::HeaderMap) -> Headers {
    let mut headers = Headers::new();
    for (name, value) in map {
        if let Ok(value) = value.to_str() {
            headers.insert(
                HeaderName::from(name.as_str().to_owned()),
                HeaderValue::from(value.to_owned()),
            );
        }
    }
    headers
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Turns a reqwest send error into a message that names the cause, and decides whether a retry
/// could help.
fn classify_send_error(error: &reqwest::Error, url: &url::Url) -> Failure {
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(443);
    for e in error_tree(error) {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            let message = match tls {
                rustls::Error::InvalidCertificate(cert) => format!(
                    "certificate not trusted: {cert:?} for {host} (pass the issuing CA with --ca-cert or KEYROT_CA_CERT)"
                ),
                other => format!("TLS handshake with {host} failed: {other}"),
            };
            return Failure {
                transient: false,
                unsent: false,
                message,
            };
        }
        if let Some(dns) = e.downcast_ref::<DnsError>() {
            return Failure {
                transient: false,
                unsent: false,
                message: dns.to_string(),
            };
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => {
                    let message = format!("connection refused by {host}:{port}");
                    // A refused loopback port means nothing listens there; waiting will not help.
                    return Failure {
                        transient: !is_loopback_host(host),
                        unsent: true,
                        message: if is_loopback_host(host) {
                            format!(
                                "{message} (nothing is listening there; is the emulator running?)"
                            )
                        } else {
                            message
                        },
                    };
                }
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return Failure {
                        transient: true,
                        unsent: false,
                        message: format!("connection to {host} was dropped ({io})"),
                    };
                }
                _ => {}
            }
        }
    }
    if error.is_timeout() {
        return Failure {
            transient: true,
            // A connect timeout: the request never left.
            unsent: error.is_connect(),
            message: format!("request to {host} timed out"),
        };
    }
    // hyper reports a connection closed before any answer as an incomplete message; that is
    // the signature of a dropped connection, which is worth another try.
    // reqwest names the whole URL; a webhook's URL is its secret, and the host says enough.
    let chain = cause_chain(error).replace(url.as_str(), host);
    let transient = error.is_connect()
        || chain.contains("connection closed")
        || chain.contains("IncompleteMessage");
    Failure {
        transient,
        unsent: error.is_connect(),
        message: format!("request to {host} failed: {chain}"),
    }
}

/// Every error below `error`: its sources, and the payloads `io::Error` keeps out of `source()`
/// (hyper and rustls nest TLS failures inside io errors inside io errors).
fn error_tree<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut pending = vec![error];
    while let Some(e) = pending.pop() {
        out.push(e);
        if let Some(source) = e.source() {
            pending.push(source);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            pending.push(inner as &(dyn StdError + 'static));
        }
    }
    out
}

/// A service's long message (an HTML error page, say) flattened to one line and cut after
/// `max` characters, so the cause stays readable in an error.
pub fn one_line(max: usize, text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// The error and all its sources on one line, without repeating identical parts.
pub fn cause_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// A name that could not be resolved; never retried.
#[derive(Debug)]
struct DnsError {
    host: String,
    detail: String,
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot resolve host {}: {}", self.host, self.detail)
    }
}

impl StdError for DnsError {}

/// Resolves `localhost` and `*.localhost` to 127.0.0.1 (RFC 6761) and everything else through
/// the system resolver.
struct LocalhostAwareResolver;

impl reqwest::dns::Resolve for LocalhostAwareResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    0,
                )));
                return Ok(addrs);
            }
            let lookup = tokio::net::lookup_host((host.clone(), 0)).await;
            match lookup {
                Ok(addrs) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    if addrs.is_empty() {
                        Err(Box::new(DnsError {
                            host,
                            detail: "no addresses".into(),
                        })
                            as Box<dyn StdError + Send + Sync>)
                    } else {
                        Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
                    }
                }
                Err(e) => Err(Box::new(DnsError {
                    host,
                    detail: e.to_string(),
                }) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("demo.vault.localhost"));
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("myvault.vault.azure.net"));
        assert!(!is_loopback_host("localhost.example.com"));
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = Headers::new();
        h.insert("retry-after", "3");
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        let mut h = Headers::new();
        h.insert("retry-after-ms", "250");
        h.insert("retry-after", "3");
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&Headers::new()), None);
    }

    fn transport() -> KeyrotTransport {
        KeyrotTransport::new(&TransportConfig {
            extra_roots: vec![],
            budget: Duration::from_secs(5),
            scope: BudgetScope::Command,
        })
        .unwrap()
    }

    fn request(url: &str, token: bool) -> Request {
        let mut request =
            Request::new(url::Url::parse(url).unwrap(), azure_core::http::Method::Get);
        if token {
            request.insert_header("authorization", "Bearer t0ken");
        }
        request
    }

    fn origin(url: &str) -> url::Origin {
        url::Url::parse(url).unwrap().origin()
    }

    #[test]
    fn a_bound_transport_sends_its_token_to_its_origins_only() {
        let vault = transport().for_origins([origin("https://v.vault.azure.net")]);
        assert!(vault
            .check_token_origin(&request("https://v.vault.azure.net:443/secrets?x=1", true))
            .is_ok());
        for elsewhere in [
            "https://evil.example/secrets",
            "https://other.vault.azure.net/secrets",
            "https://v.vault.azure.net:8443/secrets",
            "http://v.vault.azure.net/secrets",
        ] {
            let refused = vault
                .check_token_origin(&request(elsewhere, true))
                .unwrap_err();
            assert!(!refused.transient);
            assert!(
                refused.message.contains("refused to send a token")
                    && refused.message.contains(elsewhere)
                    && refused.message.contains("https://v.vault.azure.net"),
                "{}",
                refused.message
            );
            // The token itself is never in the message.
            assert!(!refused.message.contains("t0ken"));
            // Without a token, the request is none of this check's business.
            assert!(vault.check_token_origin(&request(elsewhere, false)).is_ok());
        }
    }

    #[test]
    fn the_unbound_transport_sends_no_token_at_all() {
        let refused = transport()
            .check_token_origin(&request("https://v.vault.azure.net/secrets", true))
            .unwrap_err();
        assert!(
            refused.message.ends_with("this client sends no tokens"),
            "{}",
            refused.message
        );
        assert!(transport()
            .check_token_origin(&request(
                "https://login.microsoftonline.com/t/oauth2/v2.0/token",
                false
            ))
            .is_ok());
    }

    #[tokio::test]
    async fn a_refused_token_fails_before_any_connection() {
        // Nothing listens on port 9 of loopback: a connection attempt would say "refused".
        let graph = Arc::new(transport()).for_origins([origin("https://graph.localhost:9")]);
        let error = graph
            .execute_request(&request("https://evil.localhost:9/v1.0/applications", true))
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("refused to send a token to https://evil.localhost:9"),
            "{text}"
        );
        assert!(!text.contains("connection refused"), "{text}");
    }

    #[tokio::test]
    async fn an_endless_body_stops_at_the_production_cap() {
        let chunk = vec![b' '; 1024 * 1024];
        let endless = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(chunk.clone()));
        let failure = read_capped(None, endless, MAX_RESPONSE_BYTES, "v.vault.azure.net")
            .await
            .unwrap_err();
        assert!(!failure.transient);
        assert_eq!(
            failure.message,
            "the answer from v.vault.azure.net is larger than keyrot's limit of 32 MiB on a response; it stopped reading"
        );
        // A declared length past the cap is refused before a byte is read.
        let never = futures::stream::pending::<Result<Vec<u8>, std::io::Error>>();
        let failure = read_capped(Some(400 << 20), never, MAX_RESPONSE_BYTES, "v")
            .await
            .unwrap_err();
        assert!(failure.message.contains("32 MiB"), "{}", failure.message);
        // At the cap exactly is fine.
        let exact = futures::stream::iter(vec![Ok::<_, std::io::Error>(vec![b'x'; 10])]);
        assert_eq!(
            read_capped(Some(10), exact, 10, "v").await.unwrap().len(),
            10
        );
    }

    #[test]
    fn transient_statuses() {
        for code in [408u16, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(StatusCode::from(code)), "{code}");
        }
        for code in [400u16, 401, 403, 404, 409, 501] {
            assert!(!is_transient_status(StatusCode::from(code)), "{code}");
        }
    }
}
