//! The only code that talks to Azure Resource Manager: the keys of storage accounts, Service Bus
//! and Event Hubs SAS rules and Cosmos DB accounts (listed and regenerated for rotation by
//! alternation), and two consumers of rotated secrets (App Service Key Vault references,
//! Logic App workflow parameters).
//!
//! Hand-written over [`KeyrotTransport`], as [`crate::graph`] is: a dozen routes, and through
//! the transport they share `--ca-cert`, `*.localhost`, and retries of 408, 429, 5xx, dropped
//! connections and timeouts within the `--timeout` budget, honouring `Retry-After` (ARM sends
//! it with 429). Regenerating a key is not idempotent (a blind replay would regenerate the
//! *new* key too), so those POSTs carry [`NO_REPLAY_HEADER`]: the transport retries them only
//! when they certainly never arrived or were refused with 429.
//!
//! The token comes from the same credential chain as Key Vault's, for the scope
//! `{origin of --arm-url}/.default` (`https://management.azure.com/.default`; the emulator's
//! `https://management.localhost:{port}/.default`), and is sent to the ARM origin only. A
//! long-running operation's status URL must be on that origin or a regional host under it
//! (`{region}.management.azure.com`, as Cosmos DB answers); anything else is refused before a
//! token could go there.
//!
//! Calls (paths relative to the resource id; [`resource_id`] validates ids first):
//! - storage ([`storage`], api-version 2025-06-01): `GET` (key creation times, key expiration
//!   policy), `POST listKeys`, `POST regenerateKey {"keyName"}`;
//! - Service Bus / Event Hubs SAS rules ([`servicebus`], 2024-01-01): `POST listKeys`,
//!   `POST regenerateKeys {"keyType"}`;
//! - Cosmos DB ([`cosmos`], 2024-11-15): `POST listKeys`, `POST regenerateKey {"keyKind"}`
//!   (202, long-running: [`lro`]);
//! - App Service ([`web`], 2022-03-01): `GET config/configreferences/appsettings`,
//!   `POST config/configreferences/appsettings/refresh`;
//! - Logic Apps ([`logic`], 2019-05-01): `GET`, `PUT` of the workflow.
//!
//! Errors ([`ArmError`]) name the call, the status, ARM's `error.code` and `message`, the
//! `x-ms-request-id`, and the fix: for 403 the role the call needs. No key is ever in an
//! error, a log line or a URL: keys travel in answer bodies only, parse errors say where
//! parsing stopped but not what was read, and a body keyrot sent with a secret in it (a
//! workflow's parameters) is scrubbed from any error ARM echoes it in.

pub mod cosmos;
pub mod logic;
pub mod lro;
pub mod resource_id;
pub mod servicebus;
pub mod storage;
pub mod web;

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{HttpClient, Method, Request, Url};
use serde::Deserialize;

use crate::keys::Cloud;
use crate::model::ReadFailure;
use crate::transport::{cause_chain, KeyrotTransport, NO_REPLAY_HEADER};
use resource_id::ResourceId;

/// The public cloud's Resource Manager (`--arm-url`'s default).
pub const DEFAULT_ARM_URL: &str = "https://management.azure.com";

/// `--arm-url` → (origin, token scope). Only an `https://` origin (scheme, host, port) is
/// accepted; a trailing `/` is tolerated.
pub fn parse_arm_url(input: &str) -> Result<(String, String), String> {
    let input = input.trim();
    let url = Url::parse(input).map_err(|e| {
        format!("invalid --arm-url {input:?}: {e} (expected e.g. {DEFAULT_ARM_URL})")
    })?;
    if url.scheme() != "https" {
        return Err(format!(
            "invalid --arm-url {input:?}: Azure Resource Manager is only reachable over https"
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("invalid --arm-url {input:?}: it has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "invalid --arm-url {input:?}: credentials do not belong in the URL"
        ));
    }
    if !url.path().trim_end_matches('/').is_empty()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "invalid --arm-url {input:?}: give only Resource Manager's base URL, like https://{host}"
        ));
    }
    let origin = url.origin().ascii_serialization();
    let scope = format!("{origin}/.default");
    Ok((origin, scope))
}

/// Builds the HTTP client for another origin (a regional operation-status host), bound to send
/// the token there.
type Rebind = dyn Fn(url::Origin) -> Arc<dyn HttpClient> + Send + Sync;

/// A client for the ARM calls keyrot makes. Services are reached through [`ArmClient::storage`],
/// [`ArmClient::service_bus`], [`ArmClient::cosmos`], [`ArmClient::web`] and
/// [`ArmClient::logic`].
#[derive(Clone)]
pub struct ArmClient {
    /// `https://management.azure.com` (scheme, host and port only).
    origin: Url,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    http: Arc<dyn HttpClient>,
    rebind: Arc<Rebind>,
}

impl fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmClient")
            .field("origin", &self.origin.as_str())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What went wrong, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmErrorKind {
    /// A malformed `--arm-url` or resource id, or an id of the wrong kind for the call.
    InvalidInput,
    /// No token for ARM could be obtained.
    Credential,
    /// ARM answered this error status.
    Status(u16),
    /// Network, TLS or timeout, after the transport's retries.
    Transport,
    /// ARM answered something that is not what the call expects.
    Malformed,
    /// keyrot refused to follow where an answer pointed (an operation URL off the ARM origin).
    Refused,
}

/// A failed ARM call, with everything a user needs to act on it.
#[derive(Debug, Clone)]
pub struct ArmError(Box<ErrorDetails>);

#[derive(Debug, Clone)]
struct ErrorDetails {
    /// What keyrot was doing: `listing the keys of storage account sto1`.
    call: String,
    kind: ArmErrorKind,
    /// ARM's `error.code`, e.g. `AuthorizationFailed`.
    code: Option<String>,
    /// ARM's `error.message`, or the transport's or parser's explanation.
    detail: Option<String>,
    /// `x-ms-request-id` (else `x-ms-correlation-request-id`).
    request_id: Option<String>,
    fix: Option<String>,
}

impl ArmError {
    pub(crate) fn new(call: &str, kind: ArmErrorKind, detail: impl Into<String>) -> ArmError {
        ArmError(Box::new(ErrorDetails {
            call: call.to_owned(),
            kind,
            code: None,
            detail: Some(detail.into()),
            request_id: None,
            fix: None,
        }))
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> ArmError {
        self.0.fix = Some(fix.into());
        self
    }

    pub fn kind(&self) -> ArmErrorKind {
        self.0.kind
    }

    /// The HTTP status ARM answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self.0.kind {
            ArmErrorKind::Status(status) => Some(status),
            _ => None,
        }
    }

    /// ARM's error code (`AuthorizationFailed`, `ResourceNotFound`, …).
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// For reports that tell failures apart.
    pub fn reason(&self) -> ReadFailure {
        match self.0.kind {
            ArmErrorKind::Status(status) => ReadFailure::from_status(status),
            ArmErrorKind::Credential => ReadFailure::Authentication,
            ArmErrorKind::Transport => ReadFailure::Connection,
            ArmErrorKind::Malformed => ReadFailure::Malformed,
            ArmErrorKind::InvalidInput | ArmErrorKind::Refused => ReadFailure::Other,
        }
    }

    /// A few words for a report cell: `403 Forbidden, AuthorizationFailed`.
    pub fn summary(&self) -> String {
        match (self.0.kind, &self.0.code) {
            (ArmErrorKind::Status(status), Some(code)) => {
                format!("{status} {}, {code}", reason(status))
            }
            (ArmErrorKind::Status(status), None) => format!("{status} {}", reason(status)),
            _ => crate::transport::one_line(400, self.0.detail.as_deref().unwrap_or("failed")),
        }
    }

    /// Replaces every occurrence of each of `secrets` (8 characters or more) in the error's
    /// texts: for calls whose request carried a secret ARM might quote back.
    pub(crate) fn scrub(mut self, secrets: &[String]) -> ArmError {
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            for text in [&mut self.0.detail, &mut self.0.code].into_iter().flatten() {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), "<redacted>");
                }
            }
        }
        self
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "Azure Resource Manager: {} failed", e.call)?;
        let said = match e.kind {
            ArmErrorKind::Status(status) => {
                write!(f, ": {status} {}", reason(status))?;
                true
            }
            _ => false,
        };
        if let Some(code) = &e.code {
            write!(f, "{}{code}", if said { ", " } else { ": " })?;
        }
        match &e.detail {
            // A credential failure lists each credential tried on a line of its own.
            Some(detail) if e.kind == ArmErrorKind::Credential => write!(f, ": {detail}")?,
            Some(detail) => write!(f, ": {}", crate::transport::one_line(400, detail))?,
            None => {}
        }
        if let Some(id) = &e.request_id {
            write!(f, " (x-ms-request-id {id})")?;
        }
        if let Some(fix) = &e.fix {
            write!(f, ". Fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ArmError {}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// One call: what it does (for messages), the resource (for the 404 fix) and what its 403
/// means (the role it needs).
pub(crate) struct Call<'a> {
    pub describe: String,
    pub resource: Option<&'a ResourceId>,
    pub role: &'static str,
}

/// An ARM answer.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &'static str) -> Option<&str> {
        self.headers
            .get_optional_str(&HeaderName::from_static(name))
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorBody>,
    // Some resource providers (Cosmos DB among them) answer `{"code","message"}` unwrapped.
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

/// ARM's `{"error":{"code","message"}}` (or the unwrapped `{"code","message"}`), if the body is
/// that.
pub(crate) fn error_code_and_message(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let envelope: ErrorEnvelope = serde_json::from_slice(body).ok()?;
    let (code, message) = match envelope.error {
        Some(inner) => (inner.code, inner.message),
        None => (envelope.code, envelope.message),
    };
    let code = code.filter(|c| !c.is_empty());
    let message = message.filter(|m| !m.is_empty());
    (code.is_some() || message.is_some()).then_some((code, message))
}

/// Turns an error answer into a message with ARM's code, message, request id and the fix.
pub(crate) fn explain(call: &Call<'_>, answer: &Answer) -> ArmError {
    let status = answer.status;
    let mut error = ErrorDetails {
        call: call.describe.clone(),
        kind: ArmErrorKind::Status(status),
        code: None,
        detail: None,
        request_id: answer
            .header("x-ms-request-id")
            .or_else(|| answer.header("x-ms-correlation-request-id"))
            .map(str::to_owned),
        fix: None,
    };
    match error_code_and_message(&answer.body) {
        Some((code, message)) => {
            error.code = code;
            error.detail = message;
        }
        None if answer.body.is_empty() => {}
        None => {
            // Not ARM's envelope (a proxy's page?): the start of it.
            error.detail = Some(crate::transport::one_line(
                400,
                &String::from_utf8_lossy(&answer.body),
            ));
        }
    }
    let code = error.code.clone().unwrap_or_default();
    error.fix = match status {
        401 if code.eq_ignore_ascii_case("InvalidAuthenticationTokenTenant") => Some(
            "the token is from another tenant than the subscription's; set AZURE_TENANT_ID to the subscription's tenant"
                .to_owned(),
        ),
        401 => Some(
            "ARM rejected the token; check that --arm-url is the Resource Manager of the cloud keyrot signs in to (the token was requested for its /.default scope)"
                .to_owned(),
        ),
        403 => Some(call.role.to_owned()),
        404 => Some(not_found_fix(call, &code)),
        409 => Some(
            "another operation on the resource is in progress (Cosmos DB regenerates one key at a time); wait for it to finish and run again"
                .to_owned(),
        ),
        408 | 429 | 500 | 502 | 503 | 504 => Some(
            "ARM kept failing or throttling until the --timeout budget ran out; try again later or raise --timeout"
                .to_owned(),
        ),
        _ => None,
    };
    ArmError(Box::new(error))
}

fn not_found_fix(call: &Call<'_>, code: &str) -> String {
    let Some(id) = call.resource else {
        return "check the resource id".to_owned();
    };
    if code.eq_ignore_ascii_case("ResourceGroupNotFound") {
        format!(
            "resource group {} does not exist in subscription {} (or keyrot's identity cannot see it); check the resource id",
            id.resource_group, id.subscription
        )
    } else if code.eq_ignore_ascii_case("SubscriptionNotFound") {
        format!(
            "subscription {} was not found; check the resource id and that keyrot signs in to the subscription's tenant (AZURE_TENANT_ID)",
            id.subscription
        )
    } else {
        format!(
            "{} not found in resource group {}; check the resource id",
            id.describe(),
            id.resource_group
        )
    }
}

/// A parse failure of a body that may hold keys: where parsing stopped, never what it read.
pub(crate) fn malformed(call: &str, what: &str, e: &serde_json::Error) -> ArmError {
    ArmError::new(
        call,
        ArmErrorKind::Malformed,
        format!(
            "the answer is not {what} (parsing stopped at line {}, column {})",
            e.line(),
            e.column()
        ),
    )
}

/// The body of a successful answer, or the explained error.
pub(crate) fn expect_success(call: &Call<'_>, answer: Answer) -> Result<Answer, ArmError> {
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        Err(explain(call, &answer))
    }
}

/// A random (version 4) GUID for `x-ms-client-request-id`.
fn new_guid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        b = time::OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl ArmClient {
    /// `arm_url` is `--arm-url` (e.g. `https://management.azure.com`).
    pub fn new(
        arm_url: &str,
        credential: Arc<dyn TokenCredential>,
        transport: Arc<KeyrotTransport>,
    ) -> Result<ArmClient, ArmError> {
        let (origin, scope) = parse_arm_url(arm_url)
            .map_err(|e| ArmError::new("setting up the client", ArmErrorKind::InvalidInput, e))?;
        let origin = Url::parse(&origin).map_err(|e| {
            ArmError::new(
                "setting up the client",
                ArmErrorKind::InvalidInput,
                e.to_string(),
            )
        })?;
        // ARM's token goes to ARM only, wherever an answer points.
        let http: Arc<dyn HttpClient> = transport.for_origins([origin.origin()]);
        let rebind: Arc<Rebind> = Arc::new(move |other: url::Origin| {
            let bound: Arc<dyn HttpClient> = transport.for_origins([other]);
            bound
        });
        Ok(ArmClient {
            origin,
            scope,
            credential,
            http,
            rebind,
        })
    }

    /// A client over any HTTP client (tests: a scripted one).
    #[cfg(test)]
    pub(crate) fn with_http(
        arm_url: &str,
        credential: Arc<dyn TokenCredential>,
        http: Arc<dyn HttpClient>,
    ) -> ArmClient {
        let (origin, scope) = parse_arm_url(arm_url).unwrap();
        let same = http.clone();
        ArmClient {
            origin: Url::parse(&origin).unwrap(),
            scope,
            credential,
            http,
            rebind: Arc::new(move |_| same.clone()),
        }
    }

    /// The scope tokens are requested for (`https://management.azure.com/.default`).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// `https://management.azure.com` (scheme, host, port).
    pub fn origin(&self) -> &Url {
        &self.origin
    }

    /// The cloud of `--arm-url`, which gives the services' host names (connection strings,
    /// verification requests).
    pub fn cloud(&self) -> Result<Cloud, String> {
        Cloud::from_arm_url(self.origin.as_str())
    }

    pub fn storage(&self) -> storage::Storage<'_> {
        storage::Storage(self)
    }

    /// Service Bus and Event Hubs SAS rules (the same API).
    pub fn service_bus(&self) -> servicebus::ServiceBus<'_> {
        servicebus::ServiceBus(self)
    }

    pub fn cosmos(&self) -> cosmos::Cosmos<'_> {
        cosmos::Cosmos(self)
    }

    pub fn web(&self) -> web::Web<'_> {
        web::Web(self)
    }

    pub fn logic(&self) -> logic::Logic<'_> {
        logic::Logic(self)
    }

    /// `{origin}/{resource id}/{extra…}?api-version=…` (segments percent-encoded as needed).
    pub(crate) fn resource_url(&self, id: &ResourceId, extra: &[&str], api_version: &str) -> Url {
        let mut url = self.origin.clone();
        url.path_segments_mut()
            .expect("an https URL has path segments")
            .clear()
            .extend(id.segments())
            .extend(extra);
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        url
    }

    /// Sends one request to the ARM origin.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        no_replay: bool,
    ) -> Result<Answer, ArmError> {
        self.send_with(&*self.http, call, method, url, body, no_replay)
            .await
    }

    /// The HTTP client for a URL on the ARM origin or a regional host under it (checked by the
    /// caller with [`lro::check_operation_url`]).
    pub(crate) fn http_for(&self, url: &Url) -> Arc<dyn HttpClient> {
        if url.origin() == self.origin.origin() {
            self.http.clone()
        } else {
            (self.rebind)(url.origin())
        }
    }

    pub(crate) async fn send_with(
        &self,
        http: &dyn HttpClient,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        no_replay: bool,
    ) -> Result<Answer, ArmError> {
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| {
                ArmError::new(
                    &call.describe,
                    ArmErrorKind::Credential,
                    format!("cannot get a token for {}: {}", self.scope, cause_chain(&e)),
                )
                .with_fix(
                    "check the credential keyrot signs in with (see `keyrot --help`, Credentials)",
                )
            })?;
        let mut request = Request::new(url, method);
        request.insert_header("authorization", format!("Bearer {}", token.token.secret()));
        request.insert_header("accept", "application/json");
        request.insert_header("x-ms-client-request-id", new_guid());
        if no_replay {
            request.insert_header(NO_REPLAY_HEADER, "1");
        }
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(body);
        }
        let response = http
            .execute_request(&request)
            .await
            .map_err(|e| ArmError::new(&call.describe, ArmErrorKind::Transport, cause_chain(&e)))?;
        let status = u16::from(response.status());
        let headers = response.headers().clone();
        let body =
            response.into_body().collect().await.map_err(|e| {
                ArmError::new(&call.describe, ArmErrorKind::Transport, cause_chain(&e))
            })?;
        Ok(Answer {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

/// Refuses an id of the wrong kind for a call (the caller's input).
pub(crate) fn wrong_kind(call: &str, id: &ResourceId, expected: &str) -> ArmError {
    ArmError::new(
        call,
        ArmErrorKind::InvalidInput,
        format!("{id} is a {}, not {expected}", id.describe()),
    )
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn arm_url_gives_origin_and_scope() {
        let ok = |input: &str| parse_arm_url(input).unwrap();
        assert_eq!(
            ok("https://management.azure.com"),
            (
                "https://management.azure.com".to_owned(),
                "https://management.azure.com/.default".to_owned()
            )
        );
        assert_eq!(
            ok("https://management.usgovcloudapi.net/").1,
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(
            ok("https://management.chinacloudapi.cn:443").1,
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(
            ok("https://management.localhost:8443"),
            (
                "https://management.localhost:8443".to_owned(),
                "https://management.localhost:8443/.default".to_owned()
            )
        );
        for bad in [
            "management.azure.com",
            "http://management.azure.com",
            "https://management.azure.com/subscriptions",
            "https://management.azure.com/?api-version=1",
            "https://user:pw@management.azure.com",
        ] {
            assert!(parse_arm_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_binds_to_the_arm_origin_and_refuses_bad_urls() {
        let transport = Arc::new(
            KeyrotTransport::new(&crate::transport::TransportConfig {
                extra_roots: vec![],
                budget: std::time::Duration::from_secs(5),
                scope: crate::transport::BudgetScope::Command,
            })
            .unwrap(),
        );
        let client = ArmClient::new(
            "https://management.usgovcloudapi.net/",
            Arc::new(FixedToken),
            transport.clone(),
        )
        .unwrap();
        assert_eq!(
            client.scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(
            client.origin().as_str(),
            "https://management.usgovcloudapi.net/"
        );
        assert_eq!(client.cloud(), Ok(Cloud::UsGovernment));
        let error = ArmClient::new(
            "http://management.azure.com",
            Arc::new(FixedToken),
            transport,
        )
        .unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::InvalidInput);
        assert!(
            error.to_string().contains("only reachable over https"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_real_transport_keeps_the_token_off_other_hosts() {
        // A regional host gets a client bound to it; the ARM-bound one refuses it.
        let transport = Arc::new(
            KeyrotTransport::new(&crate::transport::TransportConfig {
                extra_roots: vec![],
                budget: std::time::Duration::from_secs(5),
                scope: crate::transport::BudgetScope::Command,
            })
            .unwrap(),
        );
        let client = ArmClient::new(
            "https://management.localhost:9",
            Arc::new(FixedToken),
            transport,
        )
        .unwrap();
        let call = Call {
            describe: "probing".into(),
            resource: None,
            role: "",
        };
        let elsewhere = Url::parse("https://evil.localhost:9/x").unwrap();
        let error = client
            .send(&call, Method::Get, elsewhere, None, false)
            .await
            .err()
            .expect("refused");
        assert_eq!(error.kind(), ArmErrorKind::Transport);
        assert!(
            error
                .to_string()
                .contains("refused to send a token to https://evil.localhost:9"),
            "{error}"
        );
        assert!(!error.to_string().contains("arm-token-for"), "{error}");
    }

    #[test]
    fn the_client_knows_its_cloud() {
        let (client, _) = scripted("https://management.chinacloudapi.cn", vec![]);
        assert_eq!(client.cloud(), Ok(Cloud::China));
        assert_eq!(
            client.scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        let (client, _) = scripted(EMULATOR, vec![]);
        assert_eq!(client.cloud(), Ok(Cloud::Emulator { port: 8443 }));
        assert!(!format!("{client:?}").contains("credential"));
    }

    #[test]
    fn urls_carry_the_canonical_id_and_api_version() {
        let (client, _) = scripted(PUBLIC, vec![]);
        let id = ResourceId::parse(&format!(
            "/subscriptions/{SUB}/resourcegroups/grupo-ñ/providers/microsoft.storage/storageaccounts/sto1"
        ))
        .unwrap();
        assert_eq!(
            client.resource_url(&id, &["listKeys"], "2025-06-01").as_str(),
            format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/grupo-%C3%B1/providers/Microsoft.Storage/storageAccounts/sto1/listKeys?api-version=2025-06-01")
        );
    }

    fn call(id: &ResourceId) -> Call<'_> {
        Call {
            describe: format!("listing the keys of {}", id.describe()),
            resource: Some(id),
            role: storage::KEYS_ROLE,
        }
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut h = Headers::new();
        for (name, value) in headers {
            h.insert(HeaderName::from_static(name), value.to_string());
        }
        Answer {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_403_names_the_role_and_request_id() {
        let id = storage_id();
        let error = explain(
            &call(&id),
            &answer(
                403,
                &[
                    ("x-ms-request-id", "req-1"),
                    ("x-ms-correlation-request-id", "corr-1"),
                ],
                r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Storage/storageAccounts/listKeys/action' over scope '/subscriptions/s' or the scope is invalid."}}"#,
            ),
        );
        assert_eq!(error.status(), Some(403));
        assert_eq!(error.code(), Some("AuthorizationFailed"));
        assert_eq!(error.request_id(), Some("req-1"));
        assert_eq!(error.reason(), ReadFailure::Forbidden);
        assert_eq!(error.summary(), "403 Forbidden, AuthorizationFailed");
        let text = error.to_string();
        assert!(text.starts_with("Azure Resource Manager: listing the keys of storage account sto1 failed: 403 Forbidden, AuthorizationFailed: The client 'x'"), "{text}");
        assert!(text.contains("(x-ms-request-id req-1). Fix: "), "{text}");
        assert!(
            text.contains("Storage Account Key Operator Service Role"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn a_404_says_which_part_of_the_id_is_missing() {
        let id = storage_id();
        let group = explain(
            &call(&id),
            &answer(
                404,
                &[],
                r#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'rg1' could not be found."}}"#,
            ),
        );
        assert!(group.is_not_found());
        assert!(
            group.to_string().contains(&format!(
                "Fix: resource group rg1 does not exist in subscription {SUB}"
            )),
            "{group}"
        );
        let resource = explain(
            &call(&id),
            &answer(
                404,
                &[],
                r#"{"error":{"code":"ResourceNotFound","message":"The Resource 'Microsoft.Storage/storageAccounts/sto1' under resource group 'rg1' was not found."}}"#,
            ),
        );
        assert!(
            resource.to_string().ends_with(
                "Fix: storage account sto1 not found in resource group rg1; check the resource id"
            ),
            "{resource}"
        );
        let subscription = explain(
            &call(&id),
            &answer(
                404,
                &[],
                r#"{"error":{"code":"SubscriptionNotFound","message":"The subscription could not be found."}}"#,
            ),
        );
        assert!(
            subscription.to_string().contains("AZURE_TENANT_ID"),
            "{subscription}"
        );
    }

    #[test]
    fn other_errors_are_explained_in_one_line() {
        let id = storage_id();
        let unauthorized = explain(
            &call(&id),
            &answer(
                401,
                &[],
                r#"{"error":{"code":"InvalidAuthenticationToken","message":"The access token is invalid."}}"#,
            ),
        );
        assert!(
            unauthorized.to_string().contains("--arm-url"),
            "{unauthorized}"
        );
        let tenant = explain(
            &call(&id),
            &answer(
                401,
                &[],
                r#"{"error":{"code":"InvalidAuthenticationTokenTenant","message":"wrong issuer"}}"#,
            ),
        );
        assert!(tenant.to_string().contains("AZURE_TENANT_ID"), "{tenant}");
        let throttled = explain(
            &call(&id),
            &answer(
                429,
                &[("retry-after", "30")],
                r#"{"error":{"code":"TooManyRequests","message":"Too many."}}"#,
            ),
        );
        assert!(throttled.to_string().contains("--timeout"), "{throttled}");
        // Cosmos DB's unwrapped envelope.
        let conflict = explain(
            &call(&id),
            &answer(
                409,
                &[],
                r#"{"code":"Conflict","message":"Operation in progress."}"#,
            ),
        );
        assert_eq!(conflict.code(), Some("Conflict"));
        assert!(
            conflict.to_string().contains("one key at a time"),
            "{conflict}"
        );
        let html = explain(
            &call(&id),
            &answer(502, &[], "<html>\n<body>Bad gateway</body></html>"),
        );
        assert!(
            html.to_string()
                .contains("502 Bad Gateway: <html> <body>Bad gateway"),
            "{html}"
        );
        let empty = explain(&call(&id), &answer(400, &[], ""));
        assert_eq!(empty.to_string(), "Azure Resource Manager: listing the keys of storage account sto1 failed: 400 Bad Request");
    }

    #[test]
    fn scrub_removes_echoed_secrets() {
        let error = ArmError::new(
            "c",
            ArmErrorKind::Status(400),
            "value 'hunter2-secret-value' is invalid",
        )
        .scrub(&["hunter2-secret-value".to_owned(), "short".to_owned()]);
        assert_eq!(
            error.to_string(),
            "Azure Resource Manager: c failed: 400 Bad Request: value '<redacted>' is invalid"
        );
    }

    #[tokio::test]
    async fn a_credential_failure_is_explained() {
        let (client, _) = scripted_with(PUBLIC, vec![], Arc::new(NoToken));
        let error = client.storage().list_keys(&storage_id()).await.unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::Credential);
        assert!(
            error
                .to_string()
                .contains("cannot get a token for https://management.azure.com/.default"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_token_is_asked_for_the_arm_scope_and_sent() {
        let (client, log) = scripted(EMULATOR, vec![reply(200, &[], r#"{"keys":[]}"#)]);
        client.storage().list_keys(&storage_id()).await.unwrap();
        let sent = log.take();
        assert_eq!(
            sent[0].header("authorization"),
            Some("Bearer arm-token-for https://management.localhost:8443/.default")
        );
        assert!(sent[0].header("x-ms-client-request-id").is_some());
        assert_eq!(sent[0].header("accept"), Some("application/json"));
    }
}
