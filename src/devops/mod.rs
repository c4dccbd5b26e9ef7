//! The only code that talks to Azure DevOps: variable groups, for propagating a rotated value
//! into the copies pipelines read.
//!
//! Hand-written over [`KeyrotTransport`] rather than `azure_devops_rust_api` (see the README,
//! "Why this Azure DevOps client"): keyrot needs four routes, and through the transport they
//! share `--ca-cert`, `*.localhost`, retries of 408, 429 (with `Retry-After`, as Azure DevOps
//! sends it with `TF400733`), 5xx, dropped connections and timeouts within the `--timeout`
//! budget, and tokens bound to the organization's origins.
//!
//! Calls (api-version 7.1):
//! - `GET {org}/{project}/_apis/distributedtask/variablegroups?groupName=…` (paged by
//!   `continuationToken`, the next one in `x-ms-continuationtoken`) and `…/variablegroups/{id}`;
//! - `PUT {org}/_apis/distributedtask/variablegroups/{id}`: replaces the whole group.
//!
//! Credentials come from [`crate::auth::DevopsCredential`]. Azure DevOps refuses a bad one with
//! `203 Non-Authoritative Information` and an HTML sign-in page (and 401 `TF400813` on
//! PATCH): both are [`DevopsErrorKind::Authentication`], naming the credential and its fix.
//!
//! `KEYROT_AZURE_DEVOPS_URL` replaces `https://dev.azure.com` (and `vsrm.` goes before its
//! host for Release Management), whichever form the organization takes.
//!
//! No value ever goes into a URL, a log line or an error: values travel in PUT bodies only,
//! and error texts are built from names, statuses and the service's own message.

mod pipelines;
mod variable_groups;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{HttpClient, Method, Request, Url};
use base64::Engine as _;
use serde::Deserialize;

use crate::auth::{DevopsCredential, AZURE_DEVOPS_SCOPE};
use crate::model::SecretValue;
use crate::transport::{cause_chain, KeyrotTransport};

pub use pipelines::{Definition, Started};
pub use variable_groups::{GroupKind, SetOutcome, VariableGroup, Written};

/// The public Azure DevOps Services.
pub const DEFAULT_URL: &str = "https://dev.azure.com";
/// The shortest and longest adaptive wait between a group write and its re-read.
pub const SETTLE_MIN: std::time::Duration = std::time::Duration::from_millis(50);
pub const SETTLE_MAX: std::time::Duration = std::time::Duration::from_secs(2);
/// Replaces [`DEFAULT_URL`] (tests, the emulator, a proxy).
pub const URL_ENV: &str = "KEYROT_AZURE_DEVOPS_URL";
const API_VERSION: &str = "7.1";

/// An organization's two service roots: `https://dev.azure.com/contoso` and
/// `https://vsrm.dev.azure.com/contoso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub name: String,
    pub base: Url,
    pub release: Url,
}

impl Organization {
    /// `organization` is `contoso`, `https://dev.azure.com/contoso` or
    /// `https://contoso.visualstudio.com`; `service` is `KEYROT_AZURE_DEVOPS_URL` if set.
    pub fn parse(organization: &str, service: Option<&str>) -> Result<Organization, String> {
        let input = organization.trim().trim_end_matches('/');
        let name = if input.contains("://") {
            let url = Url::parse(input)
                .map_err(|e| format!("organization URL {input:?} is not a URL: {e}"))?;
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            let segments: Vec<&str> = url
                .path_segments()
                .map(|s| s.filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            match (host.strip_suffix(".visualstudio.com"), segments.as_slice()) {
                (Some(org), []) => org.to_owned(),
                (None, [org]) => (*org).to_owned(),
                _ => return Err(format!(
                    "organization URL {input:?} should be https://dev.azure.com/{{organization}} (nothing after the organization)"
                )),
            }
        } else {
            input.to_owned()
        };
        let valid = !name.is_empty()
            && name.len() <= 50
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            return Err(format!(
                "organization {name:?} is not a valid Azure DevOps organization name (letters, digits and hyphens, at most 50)"
            ));
        }
        let root = service.unwrap_or(DEFAULT_URL).trim().trim_end_matches('/');
        let root = Url::parse(root).map_err(|e| format!("{URL_ENV} {root:?} is not a URL: {e}"))?;
        if root.scheme() != "https" || root.host_str().is_none() {
            return Err(format!("{URL_ENV} must be an https:// URL (got {root})"));
        }
        let mut base = root.clone();
        base.path_segments_mut()
            .map_err(|()| format!("{URL_ENV} cannot carry a path"))?
            .pop_if_empty()
            .push(&name);
        let mut release = base.clone();
        let vsrm = format!("vsrm.{}", root.host_str().unwrap_or_default());
        release
            .set_host(Some(&vsrm))
            .map_err(|e| format!("cannot form the Release Management host {vsrm}: {e}"))?;
        Ok(Organization {
            name,
            base,
            release,
        })
    }
}

/// What went wrong, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevopsErrorKind {
    /// A malformed organization, project or group: the caller's input.
    InvalidInput,
    /// No token could be obtained from the Azure credential chain.
    Credential,
    /// Azure DevOps refused the credential (203 with its sign-in page, or 401).
    Authentication,
    /// No such group (or no permission to see it).
    NotFound,
    /// Azure DevOps answered this error status.
    Status(u16),
    /// Network, TLS or timeout, after the transport's retries.
    Transport,
    /// An answer that is not what the call expects.
    Malformed,
    /// The re-read after a write did not show what was written.
    Verification,
}

/// A failed Azure DevOps call, with what keyrot was doing and the fix. Never holds a value.
#[derive(Debug, Clone)]
pub struct DevopsError {
    kind: DevopsErrorKind,
    call: String,
    detail: String,
    fix: Option<String>,
}

impl DevopsError {
    fn new(kind: DevopsErrorKind, call: &str, detail: impl Into<String>) -> DevopsError {
        DevopsError {
            kind,
            call: call.to_owned(),
            detail: detail.into(),
            fix: None,
        }
    }

    fn with_fix(mut self, fix: impl Into<String>) -> DevopsError {
        self.fix = Some(fix.into());
        self
    }

    pub fn kind(&self) -> DevopsErrorKind {
        self.kind
    }
}

impl fmt::Display for DevopsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Azure DevOps: {} failed: {}", self.call, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, ". Fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DevopsError {}

/// An answer: status, headers, body.
struct Answer {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &'static str) -> Option<&str> {
        self.headers
            .get_optional_str(&HeaderName::from_static(name))
    }
}

/// The service's error body.
#[derive(Deserialize)]
struct ServiceError {
    message: Option<String>,
    #[serde(rename = "typeKey")]
    type_key: Option<String>,
}

/// A client for one organization. Clones share the per-group write locks, so every writer of
/// a group inside one keyrot process waits its turn; other processes are handled by the
/// write → re-read → retry of [`DevopsClient::set_variable`].
#[derive(Clone)]
pub struct DevopsClient {
    org: Organization,
    credential: DevopsCredential,
    transport: Arc<KeyrotTransport>,
    locks: Arc<Mutex<HashMap<u32, Arc<tokio::sync::Mutex<()>>>>>,
    /// How long a write waits before its re-read: long enough for another run's PUT that was
    /// already in flight to land, so its effect on this write is seen. `None`: twice the time
    /// this write's own PUT took (another writer's PUT travels the same way), within
    /// [`SETTLE_MIN`, `SETTLE_MAX`].
    settle: Option<std::time::Duration>,
}

impl fmt::Debug for DevopsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevopsClient")
            .field("org", &self.org.base.as_str())
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl DevopsClient {
    pub fn new(
        org: Organization,
        credential: DevopsCredential,
        transport: &KeyrotTransport,
    ) -> DevopsClient {
        // The credential goes to this organization's two hosts only.
        let transport = transport.for_origins([org.base.origin(), org.release.origin()]);
        DevopsClient {
            org,
            credential,
            transport,
            locks: Arc::default(),
            settle: None,
        }
    }

    /// A fixed wait between a write and its re-read, instead of twice the PUT's own time.
    pub fn with_settle(mut self, settle: std::time::Duration) -> DevopsClient {
        self.settle = Some(settle);
        self
    }

    pub fn organization(&self) -> &Organization {
        &self.org
    }

    fn lock_for(&self, group: u32) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(group).or_default().clone()
    }

    /// `{base}/{segments…}?api-version=7.1&{query}`; names are percent-encoded as path
    /// segments, never spliced in raw.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        url_at(&self.org.base, segments, query)
    }

    /// The same on Release Management's host (`vsrm.dev.azure.com`).
    fn release_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        url_at(&self.org.release, segments, query)
    }

    async fn authorization(&self, call: &str) -> Result<SecretValue, DevopsError> {
        Ok(match &self.credential {
            DevopsCredential::Pat(pat) => SecretValue::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(":{}", pat.expose()))
            )),
            DevopsCredential::JobToken(token) => {
                SecretValue::new(format!("Bearer {}", token.expose()))
            }
            DevopsCredential::Entra(credential) => {
                let token = credential
                    .get_token(&[AZURE_DEVOPS_SCOPE], None)
                    .await
                    .map_err(|e| {
                        DevopsError::new(
                            DevopsErrorKind::Credential,
                            call,
                            format!(
                                "cannot get a token for {AZURE_DEVOPS_SCOPE}: {}",
                                cause_chain(&e)
                            ),
                        )
                        .with_fix("set AZURE_DEVOPS_EXT_PAT, or check the Azure credential keyrot signs in with (see `keyrot --help`, Credentials)")
                    })?;
                SecretValue::new(format!("Bearer {}", token.token.secret()))
            }
        })
    }

    async fn send(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, DevopsError> {
        let authorization = self.authorization(call).await?;
        // Azure DevOps POSTs here start runs and create releases: never replayed blindly.
        let starts_something = method == Method::Post;
        let mut request = Request::new(url, method);
        if starts_something {
            request.insert_header(crate::transport::NO_REPLAY_HEADER, "1");
        }
        request.insert_header("authorization", authorization.expose().to_owned());
        request.insert_header("accept", "application/json");
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(body);
        }
        let response = self
            .transport
            .execute_request(&request)
            .await
            .map_err(|e| DevopsError::new(DevopsErrorKind::Transport, call, cause_chain(&e)))?;
        let status = u16::from(response.status());
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| DevopsError::new(DevopsErrorKind::Transport, call, cause_chain(&e)))?;
        Ok(Answer {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// The JSON body of a successful answer, or the explained error.
    fn expect_json(
        &self,
        call: &str,
        answer: Answer,
    ) -> Result<(Answer, serde_json::Value), DevopsError> {
        let html = answer
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
        if answer.status == 203
            || answer.status == 401
            || ((200..300).contains(&answer.status) && html)
        {
            return Err(DevopsError::new(
                DevopsErrorKind::Authentication,
                call,
                format!(
                    "Azure DevOps did not accept {} (it answered {} with {}, its way of refusing a credential)",
                    self.credential.describe(),
                    answer.status,
                    if html { "a sign-in page" } else { "TF400813" },
                ),
            )
            .with_fix(self.credential.fix()));
        }
        if !(200..300).contains(&answer.status) {
            return Err(self.explain(call, &answer));
        }
        let value = serde_json::from_slice(&answer.body).map_err(|e| {
            DevopsError::new(
                DevopsErrorKind::Malformed,
                call,
                format!("the answer is not the JSON expected: {e}"),
            )
        })?;
        Ok((answer, value))
    }

    fn explain(&self, call: &str, answer: &Answer) -> DevopsError {
        let said = serde_json::from_slice::<ServiceError>(&answer.body).ok();
        let message = said
            .as_ref()
            .and_then(|s| s.message.as_deref())
            .map(|m| crate::ci::inert::one_line(&crate::transport::one_line(400, m)).into_owned());
        let type_key = said.and_then(|s| s.type_key);
        let mut detail = format!("{} {}", answer.status, status_reason(answer.status));
        if let Some(key) = &type_key {
            detail.push_str(&format!(", {}", crate::ci::inert::one_line(key)));
        }
        if let Some(m) = &message {
            detail.push_str(&format!(": {m}"));
        }
        let kind = if answer.status == 404 {
            DevopsErrorKind::NotFound
        } else {
            DevopsErrorKind::Status(answer.status)
        };
        let error = DevopsError::new(kind, call, detail);
        match answer.status {
            403 => error.with_fix(format!("{} lacks the permission: the Administrator role on a variable group (Pipelines > Library > the group > Security), Queue builds on a pipeline, Create releases on a release pipeline", self.credential.describe())),
            404 => error.with_fix(format!("check the organization ({}), project and group names, and that {} can see them", self.org.name, self.credential.describe())),
            429 | 500..=599 => error.with_fix("Azure DevOps kept throttling or failing until the --timeout budget ran out; try again later or raise --timeout"),
            _ => error,
        }
    }
}

fn url_at(root: &Url, segments: &[&str], query: &[(&str, &str)]) -> Url {
    let mut url = root.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.extend(segments);
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("api-version", API_VERSION);
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    url
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_in_every_form_and_the_url_override() {
        let public = Organization::parse("contoso", None).unwrap();
        assert_eq!(public.base.as_str(), "https://dev.azure.com/contoso");
        assert_eq!(
            public.release.as_str(),
            "https://vsrm.dev.azure.com/contoso"
        );
        for form in [
            "https://dev.azure.com/contoso",
            "https://dev.azure.com/contoso/",
            "https://contoso.visualstudio.com",
        ] {
            assert_eq!(Organization::parse(form, None).unwrap(), public, "{form}");
        }
        let local = Organization::parse(
            "https://dev.azure.com/contoso",
            Some("https://devops.localhost:8443"),
        )
        .unwrap();
        assert_eq!(local.base.as_str(), "https://devops.localhost:8443/contoso");
        assert_eq!(
            local.release.as_str(),
            "https://vsrm.devops.localhost:8443/contoso"
        );
        assert_eq!(
            Organization::parse("contoso", Some("https://devops.localhost:8443/")).unwrap(),
            local
        );
        for bad in [
            "",
            "con toso",
            "-x",
            "https://dev.azure.com/contoso/payments",
            "a/b",
        ] {
            assert!(Organization::parse(bad, None).is_err(), "{bad}");
        }
        assert!(Organization::parse("contoso", Some("http://devops.localhost")).is_err());
    }
}
