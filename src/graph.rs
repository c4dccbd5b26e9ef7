//! The only code that talks to Microsoft Graph: an Entra application's password and
//! certificate credentials, read for `check --app` and added or removed by rotation.
//!
//! Hand-written over [`KeyrotTransport`] (a handful of calls; no maintained Rust Graph SDK
//! fits), so Graph shares everything the Key Vault calls have: `--ca-cert`, `*.localhost`,
//! and retries of 408, 429, 5xx, dropped connections and timeouts within the one `--timeout`
//! budget, honouring `Retry-After` (Graph sends it with 429 and 503).
//!
//! Calls (Graph v1.0):
//! - `GET /v1.0/applications/{id}?$select=id,appId,displayName,passwordCredentials,keyCredentials`,
//!   and on 404 the same by `applications(appId='{id}')`: an id may be either (both GUIDs);
//! - `POST /v1.0/applications/{objectId}/addPassword` with `{"passwordCredential":
//!   {"displayName","startDateTime","endDateTime"}}`: the answer's `secretText` is the only
//!   time Graph ever shows the secret; it goes straight into a [`SecretValue`];
//! - `POST /v1.0/applications/{objectId}/removePassword` with `{"keyId"}` (204).
//!
//! Ids are validated as GUIDs before they go into a URL. The token comes from the same
//! credential chain as Key Vault's, for the scope `{origin of --graph-url}/.default`
//! (`https://graph.microsoft.com/.default`; `https://graph.microsoft.us/.default` for US
//! Government; `https://graph.localhost:8443/.default` for the emulator, whose Entra knows its
//! own Graph as a sovereign cloud's does).
//!
//! Least privilege (Microsoft Graph *application* permissions, admin-consented):
//! - `keyrot check --app`: `Application.Read.All`.
//! - `keyrot rotate` of app passwords: `Application.ReadWrite.OwnedBy`, with keyrot's identity
//!   (its service principal) added as an owner of each application it rotates. Avoid
//!   `Application.ReadWrite.All`: it also works, but lets the pipeline rewrite every
//!   application in the tenant.
//!
//! Errors ([`GraphError`]) name the call, the status, Graph's error code and message, the
//! `request-id` from `innerError` (what Microsoft support asks for) and the fix.
//!
//! `addPassword` is not idempotent: if a connection drops after Graph created the password,
//! the transport's retry creates a second one. Callers that must not leave strays (rotation)
//! put an id of their own in the display name and look for it afterwards.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{HttpClient, Method, Request, Url};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::check::dates::rfc3339_utc;
use crate::model::{AppRef, CredentialRecord, EntraLink, Kind, ReadFailure, SecretValue, Source};
use crate::transport::{cause_chain, KeyrotTransport};

/// The Key Vault tag that names the Entra application (appId or object id) whose password a
/// secret holds. Written by rotation, read by `check`.
pub const TAG_APP: &str = "keyrot-app";
/// The Key Vault tag that holds the `keyId` of the Entra password a secret holds.
pub const TAG_KEY_ID: &str = "keyrot-key-id";

/// The public cloud's Microsoft Graph (`--graph-url`'s default).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
const SELECT: &str = "id,appId,displayName,passwordCredentials,keyCredentials";

/// What reading needs, and what writing needs (the text of the 403 fix).
const READ_PERMISSION: &str = "the identity needs the Microsoft Graph application permission Application.Read.All (admin consent granted); Application.ReadWrite.OwnedBy or Application.ReadWrite.All also allow reading";
const WRITE_PERMISSION: &str = "the identity needs Application.ReadWrite.OwnedBy and to be an owner of the app, or Application.ReadWrite.All";

/// A client for the few Graph calls keyrot makes.
#[derive(Debug, Clone)]
pub struct GraphClient {
    /// `https://graph.microsoft.com` (scheme, host and port only).
    origin: String,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    transport: Arc<KeyrotTransport>,
}

/// An Entra application and its credentials (metadata only: Graph never returns a secret on
/// a read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub object_id: String,
    pub app_id: String,
    pub display_name: Option<String>,
    pub passwords: Vec<PasswordCredential>,
    pub certificates: Vec<KeyCredential>,
}

/// One of an application's `passwordCredentials` (client secrets), without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    /// The first characters of the secret, as Graph shows them.
    pub hint: Option<String>,
}

/// One of an application's `keyCredentials` (certificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    /// `Verify` or `Sign`.
    pub usage: Option<String>,
    /// Graph's `type`: `AsymmetricX509Cert`, `X509CertAndPassword`, `Symmetric`.
    pub kind: Option<String>,
}

/// A password `addPassword` just created: its metadata and, this once, its secret. `Debug`
/// shows the metadata only ([`SecretValue`] never prints its value).
#[derive(Debug, Clone)]
pub struct NewPassword {
    pub credential: PasswordCredential,
    pub secret: SecretValue,
}

/// What went wrong, broadly (exit codes and retry decisions key on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphErrorKind {
    /// A malformed `--graph-url` or id: the caller's input; retrying will not help.
    InvalidInput,
    /// No token for Graph could be obtained.
    Credential,
    /// Graph answered this error status.
    Status(u16),
    /// Network, TLS or timeout, after the transport's retries.
    Transport,
    /// Graph answered something that is not what the call expects.
    Malformed,
}

/// A failed Graph call, with everything a user needs to act on it. (Boxed: it travels in
/// `Result`s, and most calls succeed.)
#[derive(Debug, Clone)]
pub struct GraphError(Box<ErrorDetails>);

#[derive(Debug, Clone)]
struct ErrorDetails {
    /// What keyrot was doing: `reading application 0b8e…`.
    call: String,
    kind: GraphErrorKind,
    /// Graph's `error.code`, e.g. `Authorization_RequestDenied`.
    code: Option<String>,
    /// Graph's `error.message`, or the transport's or parser's explanation.
    detail: Option<String>,
    /// `innerError.request-id` (else the `request-id` header).
    request_id: Option<String>,
    /// `innerError.date`.
    date: Option<String>,
    /// What to do about it.
    fix: Option<String>,
}

impl GraphError {
    fn new(call: &str, kind: GraphErrorKind, detail: impl Into<String>) -> GraphError {
        GraphError(Box::new(ErrorDetails {
            call: call.to_owned(),
            kind,
            code: None,
            detail: Some(detail.into()),
            request_id: None,
            date: None,
            fix: None,
        }))
    }

    pub fn kind(&self) -> GraphErrorKind {
        self.0.kind
    }

    /// Why the application could not be read, for reports that tell cases apart (as
    /// [`crate::vault::VaultError::reason`] does for vaults).
    pub fn reason(&self) -> ReadFailure {
        match self.0.kind {
            GraphErrorKind::Status(status) => ReadFailure::from_status(status),
            GraphErrorKind::Credential => ReadFailure::Authentication,
            GraphErrorKind::Transport => ReadFailure::Connection,
            GraphErrorKind::Malformed => ReadFailure::Malformed,
            GraphErrorKind::InvalidInput => ReadFailure::Other,
        }
    }

    /// The HTTP status Graph answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self.0.kind {
            GraphErrorKind::Status(status) => Some(status),
            _ => None,
        }
    }

    /// Graph's error code (`Request_ResourceNotFound`, `Authorization_RequestDenied`, …).
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    /// Graph's `request-id` for this failure.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A few words for a report cell: `403 Forbidden, Authorization_RequestDenied`, or the
    /// failure itself when Graph did not answer.
    pub fn summary(&self) -> String {
        match (self.0.kind, &self.0.code) {
            (GraphErrorKind::Status(status), Some(code)) => {
                format!("{status} {}, {code}", reason(status))
            }
            (GraphErrorKind::Status(status), None) => format!("{status} {}", reason(status)),
            _ => crate::transport::one_line(400, self.0.detail.as_deref().unwrap_or("failed")),
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "Microsoft Graph: {} failed", e.call)?;
        let said = match e.kind {
            GraphErrorKind::Status(status) => {
                write!(f, ": {status} {}", reason(status))?;
                true
            }
            _ => false,
        };
        if let Some(code) = &e.code {
            write!(f, "{}{code}", if said { ", " } else { ": " })?;
        }
        match &e.detail {
            // A credential failure lists each credential tried on a line of its own, with its
            // fix: never flattened or cut.
            Some(detail) if e.kind == GraphErrorKind::Credential => write!(f, ": {detail}")?,
            Some(detail) => write!(f, ": {}", crate::transport::one_line(400, detail))?,
            None => {}
        }
        match (&e.request_id, &e.date) {
            (Some(id), Some(date)) => write!(f, " (request-id {id}, {date})")?,
            (Some(id), None) => write!(f, " (request-id {id})")?,
            _ => {}
        }
        if let Some(fix) = &e.fix {
            write!(f, ". Fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

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

/// Validates and normalises (lower case, trimmed) an application or key id: Graph's ids are
/// GUIDs, and nothing else may go into a URL. `what` names the input in the error.
pub fn parse_guid(input: &str, what: &str) -> Result<String, String> {
    let id = input.trim();
    let shape_ok = id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if shape_ok {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid {what} {input:?}: expected a GUID like 00000000-0000-0000-0000-000000000000 (an application's Application (client) ID or Object ID)"
        ))
    }
}

/// `--graph-url` → (origin, token scope). Only an `https://` origin (scheme, host, port) is
/// accepted; a trailing `/` or `/v1.0` is tolerated.
pub fn parse_graph_url(input: &str) -> Result<(String, String), String> {
    let input = input.trim();
    let url = Url::parse(input).map_err(|e| {
        format!("invalid --graph-url {input:?}: {e} (expected e.g. {DEFAULT_GRAPH_URL})")
    })?;
    if url.scheme() != "https" {
        return Err(format!(
            "invalid --graph-url {input:?}: Microsoft Graph is only reachable over https"
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("invalid --graph-url {input:?}: it has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "invalid --graph-url {input:?}: credentials do not belong in the URL"
        ));
    }
    let path = url.path().trim_end_matches('/');
    if !(path.is_empty() || path.eq_ignore_ascii_case("/v1.0"))
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "invalid --graph-url {input:?}: give only Graph's base URL, like https://{host}"
        ));
    }
    let origin = url.origin().ascii_serialization();
    let scope = format!("{origin}/.default");
    Ok((origin, scope))
}

/// What a call is doing, for messages and for the 403 fix.
enum Call<'a> {
    Read(&'a str),
    AddPassword(&'a str),
    RemovePassword { app: &'a str, key_id: &'a str },
}

impl Call<'_> {
    fn describe(&self) -> String {
        match self {
            Call::Read(id) => format!("reading application {id}"),
            Call::AddPassword(id) => format!("adding a password to application {id}"),
            Call::RemovePassword { app, key_id } => {
                format!("removing password {key_id} from application {app}")
            }
        }
    }

    fn writes(&self) -> bool {
        !matches!(self, Call::Read(_))
    }
}

/// A Graph answer: status, headers, body.
struct Answer {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

impl GraphClient {
    /// `base` is `--graph-url` (e.g. `https://graph.microsoft.com`).
    pub fn new(
        base: &str,
        credential: Arc<dyn TokenCredential>,
        transport: Arc<KeyrotTransport>,
    ) -> Result<GraphClient, GraphError> {
        let setup =
            |e: String| GraphError::new("setting up the client", GraphErrorKind::InvalidInput, e);
        let (origin, scope) = parse_graph_url(base).map_err(setup)?;
        let service = Url::parse(&origin).map_err(|e| setup(e.to_string()))?;
        Ok(GraphClient {
            origin,
            scope,
            credential,
            // Graph's token goes to Graph only, wherever an answer points.
            transport: transport.for_origins([service.origin()]),
        })
    }

    /// The scope tokens are requested for (`https://graph.microsoft.com/.default`).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The application with this object id or appId (both GUIDs): `applications/{id}`, and on
    /// 404 `applications(appId='{id}')`.
    pub async fn application(&self, id: &str) -> Result<Application, GraphError> {
        let id = guid(id, "application id", &Call::Read(id))?;
        let call = Call::Read(&id);
        match self
            .get_application(&call, &format!("applications/{id}"))
            .await
        {
            Err(e) if e.is_not_found() => {}
            other => return other,
        }
        match self
            .get_application(&call, &format!("applications(appId='{id}')"))
            .await
        {
            Err(mut e) if e.is_not_found() => {
                e.0.fix = Some(format!(
                    "no application has object id or appId {id} in the tenant keyrot signs in to; check the id (the app registration's Application (client) ID or Object ID) and AZURE_TENANT_ID"
                ));
                Err(e)
            }
            other => other,
        }
    }

    /// Adds a password to the application with this object id. The answer's secret is in
    /// [`NewPassword::secret`]; Graph never shows it again.
    pub async fn add_password(
        &self,
        app_object_id: &str,
        display_name: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<NewPassword, GraphError> {
        let call_input = Call::AddPassword(app_object_id);
        let id = guid(app_object_id, "application object id", &call_input)?;
        let call = Call::AddPassword(&id);
        let body = serde_json::json!({
            "passwordCredential": {
                "displayName": display_name,
                "startDateTime": rfc3339_utc(start),
                "endDateTime": rfc3339_utc(end),
            }
        });
        let url = self.url(&format!("applications/{id}/addPassword"), None)?;
        let answer = self
            .send(
                &call,
                Method::Post,
                url,
                Some(body.to_string().into_bytes()),
            )
            .await?;
        let body = expect_success(&call, answer, 200)?;
        parse_new_password(&call.describe(), &body)
    }

    /// Removes the password with this keyId from the application with this object id.
    pub async fn remove_password(
        &self,
        app_object_id: &str,
        key_id: &str,
    ) -> Result<(), GraphError> {
        let call_input = Call::RemovePassword {
            app: app_object_id,
            key_id,
        };
        let id = guid(app_object_id, "application object id", &call_input)?;
        let key_id = guid(key_id, "password keyId", &call_input)?;
        let call = Call::RemovePassword {
            app: &id,
            key_id: &key_id,
        };
        let body = serde_json::json!({ "keyId": key_id });
        let url = self.url(&format!("applications/{id}/removePassword"), None)?;
        let answer = self
            .send(
                &call,
                Method::Post,
                url,
                Some(body.to_string().into_bytes()),
            )
            .await?;
        expect_success(&call, answer, 204)?;
        Ok(())
    }

    async fn get_application(
        &self,
        call: &Call<'_>,
        path: &str,
    ) -> Result<Application, GraphError> {
        let url = self.url(path, Some(&format!("$select={SELECT}")))?;
        let answer = self.send(call, Method::Get, url, None).await?;
        let body = expect_success(call, answer, 200)?;
        parse_application(&call.describe(), &body)
    }

    fn url(&self, path: &str, query: Option<&str>) -> Result<Url, GraphError> {
        let mut url = Url::parse(&format!("{}/v1.0/{path}", self.origin)).map_err(|e| {
            GraphError::new(path, GraphErrorKind::InvalidInput, format!("bad URL: {e}"))
        })?;
        // Set verbatim: Graph documents `$select` with a literal `$` and commas.
        url.set_query(query);
        Ok(url)
    }

    async fn send(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, GraphError> {
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| {
                let mut error = GraphError::new(
                    &call.describe(),
                    GraphErrorKind::Credential,
                    format!("cannot get a token for {}: {}", self.scope, cause_chain(&e)),
                );
                error.0.fix = Some(
                    "check the credential keyrot signs in with (see `keyrot --help`, Credentials)"
                        .to_owned(),
                );
                error
            })?;
        let mut request = Request::new(url, method);
        request.insert_header("authorization", format!("Bearer {}", token.token.secret()));
        request.insert_header("accept", "application/json");
        // Our own id for the call; Graph echoes it in `client-request-id`.
        request.insert_header("client-request-id", new_guid());
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(body);
        }
        let response = self
            .transport
            .execute_request(&request)
            .await
            .map_err(|e| {
                GraphError::new(&call.describe(), GraphErrorKind::Transport, cause_chain(&e))
            })?;
        let status = u16::from(response.status());
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.map_err(|e| {
            GraphError::new(&call.describe(), GraphErrorKind::Transport, cause_chain(&e))
        })?;
        Ok(Answer {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

fn guid(input: &str, what: &str, call: &Call<'_>) -> Result<String, GraphError> {
    parse_guid(input, what)
        .map_err(|e| GraphError::new(&call.describe(), GraphErrorKind::InvalidInput, e))
}

/// The body of a successful answer, or the explained error.
fn expect_success(call: &Call<'_>, answer: Answer, expected: u16) -> Result<Vec<u8>, GraphError> {
    if (200..300).contains(&answer.status) {
        if answer.status != expected {
            tracing::debug!(
                "Microsoft Graph answered {} (expected {expected}) when {}",
                answer.status,
                call.describe()
            );
        }
        return Ok(answer.body);
    }
    Err(explain(call, &answer))
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    #[serde(rename = "innerError", alias = "innererror")]
    inner: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    date: Option<String>,
}

/// Turns an error answer into a message with Graph's code, message, request-id and the fix.
fn explain(call: &Call<'_>, answer: &Answer) -> GraphError {
    let status = answer.status;
    let header = |name: &'static str| {
        answer
            .headers
            .get_optional_str(&HeaderName::from_static(name))
            .map(str::to_owned)
    };
    let mut error = ErrorDetails {
        call: call.describe(),
        kind: GraphErrorKind::Status(status),
        code: None,
        detail: None,
        request_id: header("request-id"),
        date: None,
        fix: None,
    };
    match serde_json::from_slice::<ErrorEnvelope>(&answer.body) {
        Ok(envelope) => {
            error.code = envelope.error.code.filter(|c| !c.is_empty());
            error.detail = envelope.error.message.filter(|m| !m.is_empty());
            if let Some(inner) = envelope.error.inner {
                error.request_id = inner.request_id.or(error.request_id);
                error.date = inner.date;
            }
        }
        Err(_) if answer.body.is_empty() => {}
        Err(_) => {
            // Not Graph's envelope (a proxy's page?): show the start of it.
            error.detail = Some(crate::transport::one_line(
                400,
                &String::from_utf8_lossy(&answer.body),
            ));
        }
    }
    error.fix = match status {
        401 => Some(
            "Graph rejected the token; check that --graph-url is the Microsoft Graph of the cloud keyrot signs in to (the token was requested for its /.default scope)"
                .to_owned(),
        ),
        403 if call.writes() => Some(WRITE_PERMISSION.to_owned()),
        403 => Some(READ_PERMISSION.to_owned()),
        404 => Some(match call {
            Call::Read(id) => format!("application {id} not found; check the id"),
            Call::AddPassword(id) | Call::RemovePassword { app: id, .. } => format!(
                "application {id} not found; check the id (the application's object id)"
            ),
        }),
        408 | 429 | 500 | 502 | 503 | 504 => Some(
            "Graph kept failing or throttling until the --timeout budget ran out; try again later or raise --timeout"
                .to_owned(),
        ),
        _ => None,
    };
    GraphError(Box::new(error))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationWire {
    id: String,
    app_id: String,
    display_name: Option<String>,
    #[serde(default)]
    password_credentials: Option<Vec<PasswordWire>>,
    #[serde(default)]
    key_credentials: Option<Vec<KeyWire>>,
}

/// A `passwordCredential` as Graph sends it. No `Debug`: `addPassword`'s answer carries the
/// secret in `secretText`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordWire {
    key_id: String,
    display_name: Option<String>,
    start_date_time: Option<String>,
    end_date_time: Option<String>,
    hint: Option<String>,
    #[serde(default)]
    secret_text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyWire {
    key_id: String,
    display_name: Option<String>,
    start_date_time: Option<String>,
    end_date_time: Option<String>,
    usage: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn malformed(call: &str, detail: impl Into<String>) -> GraphError {
    GraphError::new(call, GraphErrorKind::Malformed, detail)
}

/// An application from `GET applications/…` (with or without `$select`).
fn parse_application(call: &str, body: &[u8]) -> Result<Application, GraphError> {
    let wire: ApplicationWire = serde_json::from_slice(body)
        .map_err(|e| malformed(call, format!("the answer is not a Graph application: {e}")))?;
    let passwords = wire
        .password_credentials
        .unwrap_or_default()
        .into_iter()
        .map(|p| password(call, p).map(|(credential, _)| credential))
        .collect::<Result<Vec<_>, _>>()?;
    let certificates = wire
        .key_credentials
        .unwrap_or_default()
        .into_iter()
        .map(|k| {
            Ok(KeyCredential {
                start: time_field(call, "keyCredentials.startDateTime", k.start_date_time)?,
                end: time_field(call, "keyCredentials.endDateTime", k.end_date_time)?,
                key_id: k.key_id,
                display_name: k.display_name,
                usage: k.usage,
                kind: k.kind,
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()?;
    Ok(Application {
        object_id: wire.id,
        app_id: wire.app_id,
        display_name: wire.display_name,
        passwords,
        certificates,
    })
}

/// The `passwordCredential` `addPassword` answers, secret included. Parse errors never quote
/// the body (it holds the secret): only where parsing stopped.
fn parse_new_password(call: &str, body: &[u8]) -> Result<NewPassword, GraphError> {
    let wire: PasswordWire = serde_json::from_slice(body).map_err(|e| {
        malformed(
            call,
            format!(
                "the answer is not a passwordCredential (parsing stopped at line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let (credential, secret) = password(call, wire)?;
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed(call, "the answer has no secretText"))?;
    Ok(NewPassword {
        credential,
        secret: SecretValue::new(secret),
    })
}

fn password(
    call: &str,
    p: PasswordWire,
) -> Result<(PasswordCredential, Option<String>), GraphError> {
    Ok((
        PasswordCredential {
            start: time_field(call, "passwordCredentials.startDateTime", p.start_date_time)?,
            end: time_field(call, "passwordCredentials.endDateTime", p.end_date_time)?,
            key_id: p.key_id,
            display_name: p.display_name,
            hint: p.hint,
        },
        p.secret_text,
    ))
}

/// Graph's `DateTimeOffset`: RFC 3339, with up to seven fractional digits; a missing `Z` is
/// read as UTC.
fn time_field(
    call: &str,
    field: &str,
    value: Option<String>,
) -> Result<Option<OffsetDateTime>, GraphError> {
    use time::format_description::well_known::Rfc3339;
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let value = value.trim();
    OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{value}Z"), &Rfc3339))
        .map(Some)
        .map_err(|_| malformed(call, format!("{field} {value:?} is not a date and time")))
}

impl Application {
    /// How reports name this application.
    pub fn app_ref(&self) -> AppRef {
        AppRef {
            object_id: self.object_id.clone(),
            app_id: self.app_id.clone(),
            display_name: self.display_name.clone(),
        }
    }

    /// The password with this keyId (case-insensitive, as GUIDs are).
    pub fn password(&self, key_id: &str) -> Option<&PasswordCredential> {
        self.passwords
            .iter()
            .find(|p| p.key_id.eq_ignore_ascii_case(key_id.trim()))
    }

    /// Whether `id` is this application's object id or appId.
    pub fn is(&self, id: &str) -> bool {
        let id = id.trim();
        self.object_id.eq_ignore_ascii_case(id) || self.app_id.eq_ignore_ascii_case(id)
    }

    /// One `entra` record per password (`app-password`) and certificate (`app-certificate`):
    /// `name` is the credential's display name (its keyId when it has none), `id` its keyId,
    /// `not_before`/`expires` its start and end. Entra credentials cannot be disabled.
    pub fn records(&self) -> Vec<CredentialRecord> {
        let app = self.app_ref();
        let record = |kind: Kind,
                      key_id: &str,
                      display_name: &Option<String>,
                      start: Option<OffsetDateTime>,
                      end: Option<OffsetDateTime>| CredentialRecord {
            source: Source::Entra,
            vault: String::new(),
            kind,
            name: display_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| key_id.to_owned()),
            version: None,
            id: key_id.to_owned(),
            enabled: true,
            not_before: start,
            expires: end,
            created: None,
            tags: Default::default(),
            superseded: None,
            entra: Some(EntraLink {
                app: Some(app.clone()),
                key_id: key_id.to_owned(),
                held: None,
            }),
            resource_key: None,
        };
        // Once keyrot has rotated an app, its older passwords are superseded: they stay valid
        // only for the grace period, so they are reported as stale rather than as failing.
        let newest_rotated = self
            .passwords
            .iter()
            .filter(|p| {
                p.display_name
                    .as_deref()
                    .and_then(crate::rotate::journal::rotation_id_of)
                    .is_some()
            })
            .filter_map(|p| Some((p.start?, p)))
            .max_by_key(|(start, _)| *start);
        let passwords = self.passwords.iter().map(|p| {
            let mut r = record(
                Kind::AppPassword,
                &p.key_id,
                &p.display_name,
                p.start,
                p.end,
            );
            if let Some((start, newest)) = newest_rotated {
                if newest.key_id != p.key_id && p.start.is_some_and(|s| s < start) {
                    r.superseded = Some(crate::model::Superseded {
                        by_version: newest.key_id.clone(),
                        at: Some(start),
                    });
                }
            }
            r
        });
        let certificates = self.certificates.iter().map(|c| {
            record(
                Kind::AppCertificate,
                &c.key_id,
                &c.display_name,
                c.start,
                c.end,
            )
        });
        passwords.chain(certificates).collect()
    }
}

/// A random (version 4) GUID from the OS CSPRNG, for `client-request-id`.
fn new_guid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Only a correlation id: a clock-derived one will do.
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        b = nanos.to_le_bytes();
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

/// Graph's answers read by the code a live call reads them with, from bytes: the fuzz targets
/// (`fuzz/`) and `tests/properties.rs` feed it arbitrary and hostile JSON. Not an API.
#[doc(hidden)]
pub mod decode {
    use super::*;

    const CALL: &str = "reading application 00000000-0000-0000-0000-000000000000";

    /// A `GET applications/{id}` answer (200).
    pub fn application(body: &[u8]) -> Result<Application, GraphError> {
        parse_application(CALL, body)
    }

    /// An `addPassword` answer (200), secret included.
    pub fn new_password(body: &[u8]) -> Result<NewPassword, GraphError> {
        parse_new_password(CALL, body)
    }

    /// An error answer with `status`, and a `request-id` header if given, to a read (or a write,
    /// whose 403 names other permissions).
    pub fn error(status: u16, request_id: Option<&str>, body: &[u8], writes: bool) -> GraphError {
        let mut headers = Headers::new();
        if let Some(id) = request_id {
            headers.insert(HeaderName::from_static("request-id"), id.to_owned());
        }
        let id = "00000000-0000-0000-0000-000000000000";
        let call = if writes {
            Call::AddPassword(id)
        } else {
            Call::Read(id)
        };
        explain(
            &call,
            &Answer {
                status,
                headers,
                body: body.to_vec(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use time::macros::datetime;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn body(value: &Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap()
    }

    #[test]
    fn reasons_follow_the_kind_of_failure() {
        let reason = |kind| GraphError::new("reading application x", kind, "d").reason();
        assert_eq!(reason(GraphErrorKind::Status(403)), ReadFailure::Forbidden);
        assert_eq!(
            reason(GraphErrorKind::Status(503)),
            ReadFailure::ServiceError
        );
        assert_eq!(
            reason(GraphErrorKind::Credential),
            ReadFailure::Authentication
        );
        assert_eq!(reason(GraphErrorKind::Transport), ReadFailure::Connection);
        assert_eq!(reason(GraphErrorKind::Malformed), ReadFailure::Malformed);
        assert_eq!(reason(GraphErrorKind::InvalidInput), ReadFailure::Other);
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Answer {
        let mut h = Headers::new();
        for (name, value) in headers {
            h.insert(HeaderName::from_static(name), value.to_string());
        }
        Answer {
            status,
            headers: h,
            body: body.to_vec(),
        }
    }

    #[test]
    fn documented_application_parses() {
        let doc = fixture("application-get.json");
        let app = parse_application("reading", &body(&doc["response"]["body"])).unwrap();
        assert_eq!(app.object_id, "03ef14b0-ca33-4840-8f4f-d6e91916010e");
        assert_eq!(app.app_id, "631a96bc-a705-4eda-9f99-fdaf9f54f6a2");
        assert_eq!(app.display_name.as_deref(), Some("Display name"));
        assert!(app.passwords.is_empty() && app.certificates.is_empty());
        assert!(app.is("631A96BC-a705-4eda-9f99-fdaf9f54f6a2"));
        assert!(app.records().is_empty());
    }

    #[test]
    fn credentials_parse_with_graph_precision_and_become_records() {
        // The documented example's application, with the documented addPassword answer
        // (secretText null, as on every read) and a certificate as Graph lists it.
        let mut doc = fixture("application-get.json")["response"]["body"].clone();
        let mut password = fixture("application-addPassword.json")["response"]["body"].clone();
        password["secretText"] = Value::Null;
        doc["passwordCredentials"] = Value::Array(vec![password]);
        doc["keyCredentials"] = serde_json::json!([{
            "customKeyIdentifier": "52ED9B5038A47B9E2E2190715CC238359D4F8F73",
            "displayName": "CN=signing",
            "endDateTime": "2027-01-01T00:00:00Z",
            "key": null,
            "keyId": "b5f4d3a1-0000-4000-8000-000000000001",
            "startDateTime": "2026-01-01T00:00:00Z",
            "type": "AsymmetricX509Cert",
            "usage": "Verify"
        }]);
        let app = parse_application("reading", &body(&doc)).unwrap();
        let p = &app.passwords[0];
        assert_eq!(p.key_id, "f0b0b335-1d71-4883-8f98-567911bfdca6");
        assert_eq!(p.display_name.as_deref(), Some("Password friendly name"));
        assert_eq!(p.hint.as_deref(), Some("[6g"));
        assert_eq!(p.start, Some(datetime!(2019-09-09 19:50:29.3086381 UTC)));
        assert_eq!(p.end, Some(datetime!(2021-09-09 19:50:29.3086381 UTC)));
        let c = &app.certificates[0];
        assert_eq!(c.usage.as_deref(), Some("Verify"));
        assert_eq!(c.kind.as_deref(), Some("AsymmetricX509Cert"));
        assert_eq!(c.end, Some(datetime!(2027-01-01 0:00 UTC)));

        let records = app.records();
        assert_eq!(records.len(), 2);
        let r = &records[0];
        assert_eq!((r.source, r.kind), (Source::Entra, Kind::AppPassword));
        assert_eq!(r.name, "Password friendly name");
        assert_eq!(r.id, p.key_id);
        assert_eq!((r.not_before, r.expires), (p.start, p.end));
        assert!(r.enabled && r.vault.is_empty() && r.version.is_none());
        let link = r.entra.as_ref().unwrap();
        assert_eq!(link.app.as_ref().unwrap().label(), "Display name");
        assert_eq!(link.key_id, p.key_id);
        assert_eq!(records[1].kind, Kind::AppCertificate);
        assert_eq!(records[1].name, "CN=signing");
    }

    #[test]
    fn a_credential_without_display_name_is_named_by_key_id() {
        let doc = serde_json::json!({
            "id": "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "appId": "dddddddd-0000-0000-0000-000000000001",
            "displayName": null,
            "passwordCredentials": [{"keyId": "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6",
                "displayName": null, "startDateTime": "2026-01-01T00:00:00",
                "endDateTime": null, "hint": "abc", "secretText": null}],
        });
        let app = parse_application("reading", &body(&doc)).unwrap();
        let records = app.records();
        assert_eq!(records[0].name, "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6");
        // Without a `Z`, Graph's time is UTC.
        assert_eq!(records[0].not_before, Some(datetime!(2026-01-01 0:00 UTC)));
        assert_eq!(records[0].expires, None);
        assert_eq!(
            app.app_ref().label(),
            "dddddddd-0000-0000-0000-000000000001"
        );
        assert!(app
            .password("5F0C6A1E-2B3D-4C5E-8F90-A1B2C3D4E5F6")
            .is_some());
    }

    #[test]
    fn a_bad_date_is_a_malformed_answer_naming_the_field() {
        let doc = serde_json::json!({
            "id": "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "appId": "x",
            "keyCredentials": [{"keyId": "k", "endDateTime": "next tuesday"}],
        });
        let error = parse_application("reading application x", &body(&doc)).unwrap_err();
        assert_eq!(error.kind(), GraphErrorKind::Malformed);
        let text = error.to_string();
        assert!(
            text.contains("keyCredentials.endDateTime \"next tuesday\""),
            "{text}"
        );
        assert!(
            text.starts_with("Microsoft Graph: reading application x failed"),
            "{text}"
        );
    }

    #[test]
    fn new_password_keeps_the_secret_out_of_debug_and_errors() {
        let doc = fixture("application-addPassword.json");
        let text = doc["response"]["body"]["secretText"]
            .as_str()
            .unwrap()
            .to_owned();
        let new = parse_new_password("adding", &body(&doc["response"]["body"])).unwrap();
        assert_eq!(new.secret.expose(), text);
        assert_eq!(
            new.credential.key_id,
            "f0b0b335-1d71-4883-8f98-567911bfdca6"
        );
        assert!(!format!("{new:?}").contains(&text));

        // A broken answer: the error says where parsing stopped, never what it read.
        let mut broken = body(&doc["response"]["body"]);
        broken.truncate(broken.len() - 20);
        let error = parse_new_password("adding", &broken).unwrap_err();
        assert!(!error.to_string().contains(&text[..12]), "{error}");
        assert!(error.to_string().contains("line 1"), "{error}");
        let mut no_key = doc["response"]["body"].clone();
        no_key["keyId"] = Value::from(7);
        let error = parse_new_password("adding", &body(&no_key)).unwrap_err();
        assert!(!error.to_string().contains(&text[..12]), "{error}");

        let mut without = doc["response"]["body"].clone();
        without["secretText"] = Value::Null;
        let error = parse_new_password("adding", &body(&without)).unwrap_err();
        assert!(error.to_string().contains("no secretText"), "{error}");
    }

    #[test]
    fn recorded_403_names_code_request_id_and_the_permission() {
        let recording = fixture("recording-graph-403-Authorization_RequestDenied.json");
        let raw = recording["response"]["body"].as_str().unwrap().as_bytes();
        let reply = answer(403, &[("request-id", "header-id")], raw);
        let error = explain(&Call::Read("631a96bc-a705-4eda-9f99-fdaf9f54f6a2"), &reply);
        assert_eq!(error.status(), Some(403));
        assert_eq!(error.code(), Some("Authorization_RequestDenied"));
        // innerError's request-id wins over the header.
        assert_eq!(
            error.request_id(),
            Some("ff33533c-35c1-4cfb-a5f1-b4938a33db80")
        );
        assert_eq!(
            error.to_string(),
            "Microsoft Graph: reading application 631a96bc-a705-4eda-9f99-fdaf9f54f6a2 failed: \
             403 Forbidden, Authorization_RequestDenied: Insufficient privileges to complete the \
             operation. (request-id ff33533c-35c1-4cfb-a5f1-b4938a33db80, 2025-02-20T10:52:24). \
             Fix: the identity needs the Microsoft Graph application permission \
             Application.Read.All (admin consent granted); Application.ReadWrite.OwnedBy or \
             Application.ReadWrite.All also allow reading"
        );
        let write = explain(
            &Call::AddPassword("631a96bc-a705-4eda-9f99-fdaf9f54f6a2"),
            &reply,
        );
        assert!(
            write.to_string().ends_with(
                "Fix: the identity needs Application.ReadWrite.OwnedBy and to be an owner of the app, or Application.ReadWrite.All"
            ),
            "{write}"
        );
    }

    #[test]
    fn other_errors_are_explained() {
        let not_found = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist or one of its queried reference-property objects are not present.","innerError":{"date":"2026-11-26T12:00:00","request-id":"r-1","client-request-id":"c-1"}}}"#;
        let error = explain(&Call::Read("x"), &answer(404, &[], not_found));
        assert!(error.is_not_found());
        let text = error.to_string();
        assert!(
            text.contains("404 Not Found, Request_ResourceNotFound: Resource 'x'"),
            "{text}"
        );
        assert!(
            text.contains("(request-id r-1, 2026-11-26T12:00:00)"),
            "{text}"
        );
        assert!(
            text.contains("application x not found; check the id"),
            "{text}"
        );

        // Not Graph's envelope (a proxy): the body's start, the header's request id.
        let html = explain(
            &Call::Read("x"),
            &answer(
                502,
                &[("request-id", "h-2")],
                b"<html>\n<body>Bad gateway</body></html>",
            ),
        );
        let text = html.to_string();
        assert!(
            text.contains("502 Bad Gateway: <html> <body>Bad gateway"),
            "{text}"
        );
        assert!(
            text.contains("(request-id h-2)") && text.contains("--timeout"),
            "{text}"
        );

        let unauthorized = explain(
            &Call::Read("x"),
            &answer(401, &[], br#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. Invalid audience."}}"#),
        );
        assert!(
            unauthorized.to_string().contains("--graph-url"),
            "{unauthorized}"
        );

        // `innererror` (lower case, as older services spell it) is read too.
        let lower = explain(
            &Call::RemovePassword { app: "a", key_id: "k" },
            &answer(400, &[], br#"{"error":{"code":"Request_BadRequest","message":"No password credential found with keyId k.","innererror":{"request-id":"r-3"}}}"#),
        );
        assert_eq!(lower.request_id(), Some("r-3"));
        assert!(lower.to_string().starts_with(
            "Microsoft Graph: removing password k from application a failed: 400 Bad Request, Request_BadRequest: No password credential found"
        ));
    }

    #[test]
    fn ids_must_be_guids_before_they_reach_a_url() {
        assert_eq!(
            parse_guid(" 0B8E2F4A-1c3d-4e5f-8a9b-0c1d2e3f4a5b ", "id").unwrap(),
            "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        for bad in [
            "",
            "billing-api",
            "0b8e2f4a1c3d4e5f8a9b0c1d2e3f4a5b",
            "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5",
            "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5bb",
            "0b8e2f4a-1c3d-4e5f-8a9b_0c1d2e3f4a5b",
            "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5g",
            "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4')/x",
            "../../../me/0c1d2e3f4a5b-0000-0000-0000",
        ] {
            let error = parse_guid(bad, "--app").unwrap_err();
            assert!(error.contains("expected a GUID"), "{bad}: {error}");
        }
    }

    #[test]
    fn graph_url_gives_origin_and_scope() {
        let ok = |input: &str| parse_graph_url(input).unwrap();
        assert_eq!(
            ok("https://graph.microsoft.com"),
            (
                "https://graph.microsoft.com".to_owned(),
                "https://graph.microsoft.com/.default".to_owned()
            )
        );
        assert_eq!(
            ok("https://graph.microsoft.us/v1.0/").1,
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            ok("https://microsoftgraph.chinacloudapi.cn:443/").1,
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        // The emulator's Graph is a cloud of its own, port and all.
        assert_eq!(
            ok("https://graph.localhost:8443"),
            (
                "https://graph.localhost:8443".to_owned(),
                "https://graph.localhost:8443/.default".to_owned()
            )
        );
        for bad in [
            "graph.microsoft.com",
            "http://graph.microsoft.com",
            "https://graph.microsoft.com/beta",
            "https://graph.microsoft.com/?x=1",
            "https://user:pw@graph.microsoft.com",
        ] {
            assert!(parse_graph_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_request_ids_are_v4_guids() {
        let a = new_guid();
        assert!(parse_guid(&a, "id").is_ok(), "{a}");
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, new_guid());
    }
}
