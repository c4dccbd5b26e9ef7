//! The one place that decides which Azure credential keyrot uses.
//!
//! Order (the first one whose environment is present is used; `--auth` forces one):
//! 1. client secret: `AZURE_CLIENT_ID` + `AZURE_TENANT_ID` + `AZURE_CLIENT_SECRET`;
//! 2. workload identity: `AZURE_FEDERATED_TOKEN_FILE` (+ client and tenant id);
//! 3. GitHub Actions OIDC: `ACTIONS_ID_TOKEN_REQUEST_URL` + `ACTIONS_ID_TOKEN_REQUEST_TOKEN`
//!    (+ client and tenant id), exchanged as a client assertion;
//! 4. Azure Pipelines workload identity federation: `SYSTEM_OIDCREQUESTURI` +
//!    `SYSTEM_ACCESSTOKEN` + a service connection id;
//! 5. managed identity: `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, else the VM metadata service;
//! 6. Azure CLI (`az account get-access-token`).
//!
//! Why "first configured wins" rather than "try until one works": when a pipeline configured a
//! service principal and its secret is wrong, silently falling through to some other identity
//! (a developer's CLI login, a VM's managed identity) would hide the real problem and act as
//! someone else. Only the two ambient sources that need no configuration (the VM metadata
//! service and the Azure CLI) are probed in turn when nothing is configured.
//!
//! When Entra refuses, the error names each credential tried on a line of its own, with the
//! AADSTS code and description from Entra's answer and what to do about it ([`entra`]). The
//! identity crate cannot show that answer itself: it reads `error_description` as a borrowed
//! string, which fails on the `\r\n` every real description contains, and reports only
//! `invalid type: string "AADSTS…", expected a borrowed string`. So the answer is read here, as
//! it passes through the transport.

// Public for the fuzz targets and property tests only (`fuzz/`, `tests/properties.rs`).
#[doc(hidden)]
pub mod entra;
/// The GitHub credential choice (App, `GITHUB_TOKEN`, `GH_TOKEN`) and `GITHUB_API_URL`.
pub mod github;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::{
    AsyncRawResponse, ClientMethodOptions, ClientOptions, HttpClient, Method, Request, Url,
};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzurePipelinesCredential,
    AzurePipelinesCredentialOptions, ClientAssertion, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use tokio::sync::OnceCell;

use crate::transport::{cause_chain, options_with, KeyrotTransport};
use entra::EntraAnswer;

/// A way of obtaining an Azure token, as named on the command line (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthKind {
    /// AZURE_CLIENT_ID + AZURE_TENANT_ID + AZURE_CLIENT_SECRET.
    ClientSecret,
    /// AZURE_FEDERATED_TOKEN_FILE (Kubernetes workload identity and similar).
    WorkloadIdentity,
    /// GitHub Actions OIDC (permissions: id-token: write) exchanged for an Entra token.
    GithubOidc,
    /// Azure Pipelines workload identity federation through a service connection.
    AzurePipelines,
    /// Managed identity (App Service/Functions endpoint, else the VM metadata service).
    ManagedIdentity,
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzureCli,
}

impl AuthKind {
    const ORDER: [AuthKind; 6] = [
        AuthKind::ClientSecret,
        AuthKind::WorkloadIdentity,
        AuthKind::GithubOidc,
        AuthKind::AzurePipelines,
        AuthKind::ManagedIdentity,
        AuthKind::AzureCli,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthKind::ClientSecret => "client secret",
            AuthKind::WorkloadIdentity => "workload identity",
            AuthKind::GithubOidc => "GitHub Actions OIDC",
            AuthKind::AzurePipelines => "Azure Pipelines workload identity federation",
            AuthKind::ManagedIdentity => "managed identity",
            AuthKind::AzureCli => "Azure CLI",
        }
    }
}

/// A snapshot of the environment variables the credential choice reads, so the choice is a
/// pure function of its input (and testable without touching the process environment).
#[derive(Clone, Default)]
pub struct AuthEnv(HashMap<String, String>);

impl AuthEnv {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A variable's value, treating an empty value as unset (CI systems often export empties).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }
}

// Values are secrets or secret-adjacent; never print them.
impl fmt::Debug for AuthEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEnv(<redacted>)")
    }
}

const CLIENT_ID: &[&str] = &["AZURE_CLIENT_ID", "AZURESUBSCRIPTION_CLIENT_ID"];
const TENANT_ID: &[&str] = &["AZURE_TENANT_ID", "AZURESUBSCRIPTION_TENANT_ID"];
const SERVICE_CONNECTION_ID: &[&str] = &[
    "KEYROT_SERVICE_CONNECTION_ID",
    "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
];

/// Azure DevOps' Entra resource (its application id): keyrot asks the credential chain for a
/// token for this scope when neither a PAT nor the job's token is at hand.
pub const AZURE_DEVOPS_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";

/// The credential keyrot presents to Azure DevOps, chosen by [`DevopsCredential::choose`].
#[derive(Clone)]
pub enum DevopsCredential {
    /// `AZURE_DEVOPS_EXT_PAT` (as the Azure CLI's extension names it): HTTP Basic.
    Pat(crate::model::SecretValue),
    /// `SYSTEM_ACCESSTOKEN`, the Azure Pipelines job's own token: Bearer.
    JobToken(crate::model::SecretValue),
    /// An Entra token for [`AZURE_DEVOPS_SCOPE`] from keyrot's Azure credential chain.
    Entra(Arc<dyn TokenCredential>),
}

impl DevopsCredential {
    /// `AZURE_DEVOPS_EXT_PAT`, else `SYSTEM_ACCESSTOKEN`, else Entra (`entra` is called only
    /// then). A PAT wins over the job token because someone set it on purpose; the job token
    /// is ambient in every Azure Pipelines job.
    pub fn choose(env: &AuthEnv, entra: impl FnOnce() -> Arc<dyn TokenCredential>) -> Self {
        let secret = |v: &str| crate::model::SecretValue::new(v.trim().to_owned());
        if let Some(pat) = env.get("AZURE_DEVOPS_EXT_PAT") {
            DevopsCredential::Pat(secret(pat))
        } else if let Some(token) = env.get("SYSTEM_ACCESSTOKEN") {
            DevopsCredential::JobToken(secret(token))
        } else {
            DevopsCredential::Entra(entra())
        }
    }

    /// Which credential this is, for messages (never its value).
    pub fn describe(&self) -> &'static str {
        match self {
            DevopsCredential::Pat(_) => "the personal access token in AZURE_DEVOPS_EXT_PAT",
            DevopsCredential::JobToken(_) => "the job access token in SYSTEM_ACCESSTOKEN",
            DevopsCredential::Entra(_) => {
                "an Entra token for Azure DevOps from keyrot's Azure credential"
            }
        }
    }

    /// What to check when Azure DevOps refuses this credential.
    pub fn fix(&self) -> &'static str {
        match self {
            DevopsCredential::Pat(_) => "the PAT may be expired, revoked, for another organization, or lack the scopes keyrot needs (Variable Groups: Read & manage; Build: Read & execute; Release: Read, write & execute); create a new one and set AZURE_DEVOPS_EXT_PAT",
            DevopsCredential::JobToken(_) => "map the token into the step (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)); it expires when the job ends, and the project's build service identity needs the Administrator role on the variable group (Library security)",
            DevopsCredential::Entra(_) => "add keyrot's service principal or managed identity to the Azure DevOps organization (Organization settings > Users) and give it the Administrator role on the variable group; or set AZURE_DEVOPS_EXT_PAT",
        }
    }
}

// Values are secrets; say which kind only.
impl fmt::Debug for DevopsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevopsCredential({})", self.describe())
    }
}

/// A candidate credential: either built and ready to try, or not configured (and why).
enum Candidate {
    Ready {
        kind: AuthKind,
        /// Human description without secrets, e.g. "client secret for client 1234 in tenant 5678".
        description: String,
        credential: Arc<dyn TokenCredential>,
        /// Ambient sources are probed: when they fail, the next one is tried.
        probe: bool,
    },
    Unavailable {
        kind: AuthKind,
        reason: String,
    },
}

/// The credential keyrot uses: resolves on first use, says once on stderr which one it is, and
/// when none works lists what was tried and why each failed.
pub struct KeyrotCredential {
    candidates: Vec<Candidate>,
    chosen: OnceCell<usize>,
}

impl fmt::Debug for KeyrotCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyrotCredential").finish_non_exhaustive()
    }
}

impl KeyrotCredential {
    /// Builds the candidate list from the environment. `forced` restricts it to one kind.
    pub fn from_env(
        env: &AuthEnv,
        forced: Option<AuthKind>,
        transport: &Arc<KeyrotTransport>,
    ) -> Self {
        let kinds: Vec<AuthKind> = match forced {
            Some(kind) => vec![kind],
            None => AuthKind::ORDER.to_vec(),
        };
        let mut candidates = Vec::new();
        for kind in kinds {
            let candidate = build(kind, env, transport, forced.is_some());
            let configured = matches!(candidate, Candidate::Ready { probe: false, .. });
            candidates.push(candidate);
            // The first explicitly configured credential is the one; see the module docs.
            if configured && forced.is_none() {
                break;
            }
        }
        Self {
            candidates,
            chosen: OnceCell::new(),
        }
    }

    /// The description of what was tried and why each failed, for the final error.
    fn failure_report(&self, failures: &[(AuthKind, String)]) -> String {
        let mut lines = vec!["no Azure credential worked; tried, in order:".to_string()];
        let mut configured_one_failed = false;
        for candidate in &self.candidates {
            match candidate {
                Candidate::Unavailable { kind, reason } => {
                    lines.push(format!("  - {}: not configured ({reason})", kind.label()))
                }
                Candidate::Ready {
                    kind,
                    description,
                    probe,
                    ..
                } => {
                    let why = failures
                        .iter()
                        .find(|(k, _)| k == kind)
                        .map(|(_, why)| why.as_str());
                    configured_one_failed |= why.is_some() && !probe;
                    lines.push(format!("  - {description}: {}", why.unwrap_or("not tried")));
                }
            }
        }
        // A configured credential that failed has its fix on its line; the hint is for when
        // nothing was configured.
        if !configured_one_failed {
            lines.push("set the environment of one of them, or force one with --auth".to_string());
        }
        lines.join("\n")
    }
}

#[async_trait]
impl TokenCredential for KeyrotCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if let Some(&index) = self.chosen.get() {
            if let Candidate::Ready {
                kind,
                description,
                credential,
                ..
            } = &self.candidates[index]
            {
                let (result, answer) =
                    with_entra_answer(credential.get_token(scopes, options)).await;
                return result.map_err(|e| {
                    azure_core::Error::with_message(
                        azure_core::error::ErrorKind::Credential,
                        format!("{description}: {}", why(&e, answer, Some(*kind))),
                    )
                });
            }
        }
        let mut failures = Vec::new();
        for (index, candidate) in self.candidates.iter().enumerate() {
            let Candidate::Ready {
                kind,
                description,
                credential,
                probe,
            } = candidate
            else {
                continue;
            };
            // The VM metadata service may be unreachable (not an Azure VM): bound the probe.
            let (attempt, answer) = if *probe {
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    with_entra_answer(credential.get_token(scopes, options.clone())),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => {
                        failures.push((*kind, "no answer within 5 s".to_string()));
                        continue;
                    }
                }
            } else {
                with_entra_answer(credential.get_token(scopes, options.clone())).await
            };
            match attempt {
                Ok(token) => {
                    if self.chosen.set(index).is_ok() {
                        tracing::info!("auth: using {description}");
                    }
                    return Ok(token);
                }
                Err(error) => {
                    failures.push((*kind, why(&error, answer, Some(*kind))));
                    if !probe {
                        break;
                    }
                }
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            self.failure_report(&failures),
        ))
    }
}

/// Why a credential failed, on one line: Entra's code and description with the fix when
/// Entra answered, else the identity crate's message.
fn why(error: &azure_core::Error, answer: Option<EntraAnswer>, kind: Option<AuthKind>) -> String {
    match answer {
        Some(answer) => answer.explain(kind),
        None => summarize(error),
    }
}

/// One line from an identity error: its message and causes, without the SDK's troubleshooting
/// boilerplate.
fn summarize(error: &azure_core::Error) -> String {
    let text = cause_chain(error);
    let text = text
        .split("\nTo troubleshoot")
        .next()
        .unwrap_or(&text)
        .replace('\n', " ");
    text.trim().to_string()
}

fn build(
    kind: AuthKind,
    env: &AuthEnv,
    transport: &Arc<KeyrotTransport>,
    forced: bool,
) -> Candidate {
    match try_build(kind, env, transport, forced) {
        Ok(candidate) => candidate,
        Err(reason) => Candidate::Unavailable { kind, reason },
    }
}

/// Client options for identity calls: keyrot's transport (tokens go only to `token_origins`;
/// Entra's error answers are read on the way, see [`with_entra_answer`]), and
/// `AZURE_AUTHORITY_HOST` (passed as a custom cloud so the choice comes from this module's
/// environment snapshot, not the process).
///
/// `token_origins` are the origins keyrot itself sends a token to (an `Authorization` header):
/// Entra's token endpoint is not one of them (a client secret or assertion travels in the
/// form body), so it is never listed; only the Azure Pipelines OIDC endpoint, which takes the
/// job's `SYSTEM_ACCESSTOKEN`, is.
fn identity_options(
    transport: &KeyrotTransport,
    env: &AuthEnv,
    token_origins: &[url::Origin],
) -> ClientOptions {
    let mut options = options_with(Arc::new(EntraAnswerTap(
        transport.for_origins(token_origins.iter().cloned()),
    )));
    if let Some(host) = env.get("AZURE_AUTHORITY_HOST") {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.trim_end_matches('/').to_string();
        options.cloud = Some(Arc::new(CloudConfiguration::from(custom)));
    }
    options
}

/// Runs one credential's `get_token` and returns, with its result, the error answer Entra's
/// token endpoint gave it (if any). Task-local, so concurrent calls each see their own.
async fn with_entra_answer<T>(call: impl Future<Output = T>) -> (T, Option<EntraAnswer>) {
    let slot = Arc::new(Mutex::new(None));
    let result = ENTRA_ANSWER.scope(slot.clone(), call).await;
    let answer = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    (result, answer)
}

tokio::task_local! {
    /// Where [`EntraAnswerTap`] leaves the error answer of the call [`with_entra_answer`] runs.
    static ENTRA_ANSWER: Arc<Mutex<Option<EntraAnswer>>>;
}

/// The identity calls' transport: keyrot's, plus a copy of every error answer shaped like
/// Entra's (`error_codes`, `error_description`) for the credential's failure message.
#[derive(Debug)]
struct EntraAnswerTap(Arc<KeyrotTransport>);

#[async_trait]
impl HttpClient for EntraAnswerTap {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let response = self.0.execute_request(request).await?;
        if response.status().is_success() || ENTRA_ANSWER.try_with(|_| ()).is_err() {
            return Ok(response);
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?;
        if let Some(answer) = EntraAnswer::parse(&body) {
            let _ = ENTRA_ANSWER.try_with(|slot| {
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(answer);
            });
        }
        Ok(AsyncRawResponse::from_bytes(status, headers, body))
    }
}

/// [`identity_options`] for a credential that signs in at Entra's token endpoint, refusing an
/// `AZURE_AUTHORITY_HOST` that is not a URL with an error naming it (the identity crate would
/// only say "relative URL without a base"). Managed identity and the Azure CLI do not use the
/// authority host, so they are not held up by it.
fn entra_options(
    transport: &KeyrotTransport,
    env: &AuthEnv,
    token_origins: &[url::Origin],
) -> Result<ClientOptions, String> {
    if let Some(host) = env.get("AZURE_AUTHORITY_HOST") {
        Url::parse(host).map_err(|e| {
            format!("AZURE_AUTHORITY_HOST is not a URL ({e}); give it with its scheme, as in https://login.microsoftonline.com")
        })?;
    }
    Ok(identity_options(transport, env, token_origins))
}

/// Whether a client secret obtains a token right now: the proof rotation asks of a new Entra
/// password before anyone can see it. The tenant is the one keyrot signs in to
/// (`AZURE_TENANT_ID` or `AZURESUBSCRIPTION_TENANT_ID`); the error says why, never the secret.
pub async fn client_secret_works(
    env: &AuthEnv,
    client_id: &str,
    secret: &crate::model::SecretValue,
    scope: &str,
    transport: &Arc<KeyrotTransport>,
) -> Result<(), String> {
    let tenant_id = env.first(TENANT_ID).ok_or_else(|| missing(TENANT_ID))?;
    let credential =
        client_secret_credential(env, tenant_id, client_id, secret.expose(), transport)
            .map_err(|e| summarize(&e))?;
    // No advice about AZURE_CLIENT_SECRET: this secret is the one being rotated in.
    let (result, answer) = with_entra_answer(credential.get_token(&[scope], None)).await;
    result.map(|_| ()).map_err(|e| why(&e, answer, None))
}

/// A client-secret credential through keyrot's transport and authority host.
fn client_secret_credential(
    env: &AuthEnv,
    tenant_id: &str,
    client_id: &str,
    secret: &str,
    transport: &Arc<KeyrotTransport>,
) -> azure_core::Result<Arc<ClientSecretCredential>> {
    let client_options = entra_options(transport, env, &[]).map_err(|e| {
        azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e)
    })?;
    ClientSecretCredential::new(
        tenant_id,
        client_id.to_string(),
        Secret::new(secret.to_string()),
        Some(ClientSecretCredentialOptions { client_options }),
    )
}

fn missing(names: &[&str]) -> String {
    format!("{} unset", names.join(" / "))
}

fn try_build(
    kind: AuthKind,
    env: &AuthEnv,
    transport: &Arc<KeyrotTransport>,
    forced: bool,
) -> Result<Candidate, String> {
    let ready = |description: String, credential: Arc<dyn TokenCredential>, probe: bool| {
        Ok(Candidate::Ready {
            kind,
            description,
            credential,
            probe,
        })
    };
    let sdk_error = |e: azure_core::Error| summarize(&e);
    match kind {
        AuthKind::ClientSecret => {
            let secret = env
                .get("AZURE_CLIENT_SECRET")
                .ok_or_else(|| missing(&["AZURE_CLIENT_SECRET"]))?;
            let client_id = env.first(CLIENT_ID).ok_or_else(|| missing(CLIENT_ID))?;
            let tenant_id = env.first(TENANT_ID).ok_or_else(|| missing(TENANT_ID))?;
            let credential = client_secret_credential(env, tenant_id, client_id, secret, transport)
                .map_err(sdk_error)?;
            ready(
                format!("client secret for client {client_id} in tenant {tenant_id}"),
                credential,
                false,
            )
        }
        AuthKind::WorkloadIdentity => {
            let file = env
                .get("AZURE_FEDERATED_TOKEN_FILE")
                .ok_or_else(|| missing(&["AZURE_FEDERATED_TOKEN_FILE"]))?;
            let client_id = env.first(CLIENT_ID).ok_or_else(|| missing(CLIENT_ID))?;
            let tenant_id = env.first(TENANT_ID).ok_or_else(|| missing(TENANT_ID))?;
            let credential =
                WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions {
                        client_options: entra_options(transport, env, &[])?,
                    },
                    client_id: Some(client_id.to_string()),
                    tenant_id: Some(tenant_id.to_string()),
                    token_file_path: Some(file.into()),
                }))
                .map_err(sdk_error)?;
            ready(
                format!("workload identity for client {client_id} in tenant {tenant_id} (token file {file})"),
                credential,
                false,
            )
        }
        AuthKind::GithubOidc => {
            let url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL").ok_or_else(|| {
                missing(&["ACTIONS_ID_TOKEN_REQUEST_URL (needs permissions: id-token: write)"])
            })?;
            let token = env
                .get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                .ok_or_else(|| missing(&["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]))?;
            let client_id = env.first(CLIENT_ID).ok_or_else(|| missing(CLIENT_ID))?;
            let tenant_id = env.first(TENANT_ID).ok_or_else(|| missing(TENANT_ID))?;
            let request_url = Url::parse(url)
                .map_err(|e| format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"))?;
            let assertion = GithubOidcAssertion {
                // The request token goes to GitHub's token service only.
                transport: transport.for_origins([request_url.origin()]),
                request_url,
                request_token: Secret::new(token.to_string()),
            };
            let credential = ClientAssertionCredential::new(
                tenant_id.to_string(),
                client_id.to_string(),
                assertion,
                Some(ClientAssertionCredentialOptions {
                    client_options: entra_options(transport, env, &[])?,
                }),
            )
            .map_err(sdk_error)?;
            ready(
                format!("GitHub Actions OIDC for client {client_id} in tenant {tenant_id}"),
                credential,
                false,
            )
        }
        AuthKind::AzurePipelines => {
            let oidc_url = env
                .get("SYSTEM_OIDCREQUESTURI")
                .ok_or_else(|| missing(&["SYSTEM_OIDCREQUESTURI"]))?;
            // The job's access token goes to Azure DevOps's OIDC endpoint only.
            let oidc_origin = Url::parse(oidc_url)
                .map_err(|e| format!("SYSTEM_OIDCREQUESTURI is not a URL: {e}"))?
                .origin();
            let access_token = env
                .get("SYSTEM_ACCESSTOKEN")
                .ok_or_else(|| missing(&["SYSTEM_ACCESSTOKEN (map it with env: SYSTEM_ACCESSTOKEN: $(System.AccessToken))"]))?;
            let connection = env
                .first(SERVICE_CONNECTION_ID)
                .ok_or_else(|| missing(SERVICE_CONNECTION_ID))?;
            let client_id = env.first(CLIENT_ID).ok_or_else(|| missing(CLIENT_ID))?;
            let tenant_id = env.first(TENANT_ID).ok_or_else(|| missing(TENANT_ID))?;
            let credential = AzurePipelinesCredential::new(
                tenant_id.to_string(),
                client_id.to_string(),
                connection,
                Secret::new(access_token.to_string()),
                Some(AzurePipelinesCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions {
                        client_options: entra_options(transport, env, &[oidc_origin])?,
                    },
                }),
            )
            .map_err(sdk_error)?;
            ready(
                format!("Azure Pipelines service connection {connection} for client {client_id} in tenant {tenant_id}"),
                credential,
                false,
            )
        }
        AuthKind::ManagedIdentity => {
            let app_service =
                env.get("IDENTITY_ENDPOINT").is_some() && env.get("IDENTITY_HEADER").is_some();
            let user_assigned = env
                .first(CLIENT_ID)
                .map(|id| UserAssignedId::ClientId(id.to_string()));
            let which = match &user_assigned {
                Some(UserAssignedId::ClientId(id)) => format!("user-assigned identity {id}"),
                _ => "system-assigned identity".to_string(),
            };
            let credential =
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: user_assigned,
                    // Its endpoints take their own header, never a bearer token.
                    client_options: identity_options(transport, env, &[]),
                }))
                .map_err(sdk_error)?;
            let (description, probe) = if app_service {
                (
                    format!("managed identity ({which}) from IDENTITY_ENDPOINT"),
                    false,
                )
            } else {
                (
                    format!("managed identity ({which}) from the VM metadata service"),
                    !forced,
                )
            };
            ready(description, credential, probe)
        }
        AuthKind::AzureCli => {
            let credential = AzureCliCredential::new(Some(AzureCliCredentialOptions {
                tenant_id: env.first(TENANT_ID).map(str::to_string),
                ..Default::default()
            }))
            .map_err(sdk_error)?;
            ready(
                "Azure CLI (az account get-access-token)".to_string(),
                credential,
                !forced,
            )
        }
    }
}

/// Fetches GitHub's OIDC token for the Entra token exchange: `GET $ACTIONS_ID_TOKEN_REQUEST_URL
/// &audience=api://AzureADTokenExchange` with the request token as bearer, answer `{"value"}`.
struct GithubOidcAssertion {
    request_url: Url,
    request_token: Secret,
    transport: Arc<KeyrotTransport>,
}

impl fmt::Debug for GithubOidcAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubOidcAssertion")
            .field("request_url", &self.request_url.host_str())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ClientAssertion for GithubOidcAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        let mut url = self.request_url.clone();
        url.query_pairs_mut()
            .append_pair("audience", "api://AzureADTokenExchange");
        let mut request = Request::new(url, Method::Get);
        request.insert_header(
            "authorization",
            format!("Bearer {}", self.request_token.secret()),
        );
        request.insert_header("accept", "application/json");
        let response = self.transport.execute_request(&request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?;
        if !status.is_success() {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                format!("GitHub's OIDC token endpoint answered {status}; does the job have `permissions: id-token: write`?"),
            ));
        }
        #[derive(serde::Deserialize)]
        struct IdToken {
            value: String,
        }
        let token: IdToken = serde_json::from_slice(&body).map_err(|e| {
            azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                format!("GitHub's OIDC token endpoint answered something that is not {{\"value\": …}}: {e}"),
            )
        })?;
        Ok(token.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportConfig;

    fn transport() -> Arc<KeyrotTransport> {
        Arc::new(
            KeyrotTransport::new(&TransportConfig {
                extra_roots: vec![],
                budget: Duration::from_secs(1),
                scope: crate::transport::BudgetScope::Command,
            })
            .unwrap(),
        )
    }

    fn kinds(credential: &KeyrotCredential) -> Vec<(AuthKind, bool)> {
        credential
            .candidates
            .iter()
            .map(|c| match c {
                Candidate::Ready { kind, .. } => (*kind, true),
                Candidate::Unavailable { kind, .. } => (*kind, false),
            })
            .collect()
    }

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[tokio::test]
    async fn client_secret_wins_and_stops_the_chain() {
        let env = AuthEnv::from_pairs([
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_SECRET", "s3cr3t"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/tmp/token"),
        ]);
        let credential = KeyrotCredential::from_env(&env, None, &transport());
        assert_eq!(kinds(&credential), vec![(AuthKind::ClientSecret, true)]);
    }

    #[tokio::test]
    async fn github_oidc_is_chosen_after_unconfigured_ones() {
        let env = AuthEnv::from_pairs([
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", TENANT),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://example.invalid/idtoken?api-version=2.0",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "req"),
        ]);
        let credential = KeyrotCredential::from_env(&env, None, &transport());
        assert_eq!(
            kinds(&credential),
            vec![
                (AuthKind::ClientSecret, false),
                (AuthKind::WorkloadIdentity, false),
                (AuthKind::GithubOidc, true)
            ]
        );
    }

    #[tokio::test]
    async fn empty_values_count_as_unset() {
        let env = AuthEnv::from_pairs([
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_SECRET", ""),
        ]);
        let credential =
            KeyrotCredential::from_env(&env, Some(AuthKind::ClientSecret), &transport());
        match &credential.candidates[0] {
            Candidate::Unavailable { reason, .. } => {
                assert!(reason.contains("AZURE_CLIENT_SECRET"), "{reason}")
            }
            Candidate::Ready { .. } => panic!("an empty secret must not configure a credential"),
        }
    }

    #[tokio::test]
    async fn unconfigured_environment_falls_back_to_ambient_probes() {
        let credential = KeyrotCredential::from_env(&AuthEnv::default(), None, &transport());
        let got = kinds(&credential);
        assert_eq!(got.len(), 6);
        assert_eq!(got[4], (AuthKind::ManagedIdentity, true));
        assert_eq!(got[5], (AuthKind::AzureCli, true));
        assert!(got[..4].iter().all(|(_, ready)| !ready));
    }

    #[tokio::test]
    async fn an_authority_host_without_a_scheme_holds_up_only_the_entra_credentials() {
        // Managed identity and the Azure CLI never use AZURE_AUTHORITY_HOST.
        let env = AuthEnv::from_pairs([
            ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
            ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
            ("IDENTITY_HEADER", "header"),
        ]);
        let got = kinds(&KeyrotCredential::from_env(&env, None, &transport()));
        assert_eq!(
            got.last(),
            Some(&(AuthKind::ManagedIdentity, true)),
            "{got:?}"
        );
        let forced =
            KeyrotCredential::from_env(&env, Some(AuthKind::ManagedIdentity), &transport());
        assert_eq!(kinds(&forced), [(AuthKind::ManagedIdentity, true)]);
        let ambient = AuthEnv::from_pairs([("AZURE_AUTHORITY_HOST", "login.microsoftonline.us")]);
        let got = kinds(&KeyrotCredential::from_env(&ambient, None, &transport()));
        assert_eq!(
            got[4..],
            [
                (AuthKind::ManagedIdentity, true),
                (AuthKind::AzureCli, true)
            ]
        );
        // A credential that signs in at the authority is refused, naming the variable.
        let env = AuthEnv::from_pairs([
            ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_SECRET", "s3cr3t"),
        ]);
        let credential =
            KeyrotCredential::from_env(&env, Some(AuthKind::ClientSecret), &transport());
        match &credential.candidates[0] {
            Candidate::Unavailable { reason, .. } => {
                assert!(
                    reason.contains("AZURE_AUTHORITY_HOST is not a URL"),
                    "{reason}"
                );
                assert!(!reason.contains("s3cr3t"), "{reason}");
            }
            Candidate::Ready { .. } => panic!("a scheme-less authority host cannot be used"),
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let env = AuthEnv::from_pairs([("AZURE_CLIENT_SECRET", "very-secret-value")]);
        assert!(!format!("{env:?}").contains("very-secret-value"));
    }
}
