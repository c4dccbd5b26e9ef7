//! keyrot's GitHub client: Actions secrets of repositories, environments and organizations,
//! through `octocrab` over keyrot's transport ([`http`]).
//!
//! A value is sealed for the target's public key (libsodium sealed box, [`seal`]) and only the
//! box leaves keyrot; values never go into a URL, a log line or an error. Names that reach a
//! URL (owner, repository, organization, secret) are checked against GitHub's own character
//! rules first, and an environment name is percent-encoded as a whole segment, so a name can
//! never turn into another path.
//!
//! octocrab's typed secrets methods return neither the answer's headers nor environment
//! routes, so every secrets call here uses octocrab's generic `get`/`_put` with the route
//! spelled out; a write keeps the server's `Date` to judge the later `updated_at` against
//! (GitHub's clock, not this machine's).

mod actions;
pub mod http;
mod issues;

pub use actions::{Dispatched, RunLink, WorkflowRun};
pub use issues::IssueLink;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::github::{AppKey, GithubAuth, GithubCredential};
use crate::ci::inert;
use crate::model::SecretValue;
use crate::transport::{cause_chain, KeyrotTransport};

/// GitHub stamps `updated_at` in whole seconds and may stamp it a moment before the answer's
/// `Date`: a secret counts as written by us when its `updated_at` is at most this much older
/// than our write's answer.
const STAMP_TOLERANCE: time::Duration = time::Duration::seconds(2);

/// Which secrets a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretTarget {
    /// `owner/name`
    Repository(String),
    Environment {
        repository: String,
        environment: String,
    },
    Organization {
        organization: String,
        visibility: OrgVisibility,
        /// Only with [`OrgVisibility::Selected`].
        selected_repository_ids: Vec<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgVisibility {
    All,
    Private,
    Selected,
}

impl OrgVisibility {
    fn as_str(self) -> &'static str {
        match self {
            OrgVisibility::All => "all",
            OrgVisibility::Private => "private",
            OrgVisibility::Selected => "selected",
        }
    }
}

impl SecretTarget {
    /// `/repos/o/r/actions/secrets`, `/repos/o/r/environments/{env}/secrets`,
    /// `/orgs/o/actions/secrets`, after checking every name that goes into it.
    fn route(&self) -> Result<String, GithubError> {
        match self {
            SecretTarget::Repository(repo) => {
                Ok(format!("/repos/{}/actions/secrets", repo_path(repo)?))
            }
            SecretTarget::Environment {
                repository,
                environment,
            } => {
                if environment.is_empty() {
                    return Err(GithubError::config("an environment name is empty"));
                }
                let env = percent_encoding::utf8_percent_encode(
                    environment,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                Ok(format!(
                    "/repos/{}/environments/{env}/secrets",
                    repo_path(repository)?
                ))
            }
            SecretTarget::Organization { organization, .. } => {
                check_login(organization, "organization")?;
                Ok(format!("/orgs/{organization}/actions/secrets"))
            }
        }
    }

    /// What the token needs, for a 403's message.
    fn permission(&self) -> &'static str {
        match self {
            SecretTarget::Repository(_) => "repository permission \"Secrets: write\" (fine-grained token or GitHub App) or the `repo` scope (classic token)",
            SecretTarget::Environment { .. } => "repository permission \"Environments: write\" (fine-grained token or GitHub App) or the `repo` scope (classic token)",
            SecretTarget::Organization { .. } => "organization permission \"Secrets: write\" (fine-grained token or GitHub App) or the `admin:org` scope (classic token)",
        }
    }

    /// For messages: `repository contoso/billing`, `environment production of contoso/billing`.
    pub fn describe(&self) -> String {
        match self {
            SecretTarget::Repository(r) => format!("repository {}", inert::one_line(r)),
            SecretTarget::Environment {
                repository,
                environment,
            } => format!(
                "environment {} of {}",
                inert::one_line(environment),
                inert::one_line(repository)
            ),
            SecretTarget::Organization { organization, .. } => {
                format!("organization {}", inert::one_line(organization))
            }
        }
    }

    /// The installation a GitHub App uses for this target.
    fn installation_key(&self) -> String {
        match self {
            SecretTarget::Repository(r) | SecretTarget::Environment { repository: r, .. } => {
                format!("repos/{}", r.to_ascii_lowercase())
            }
            SecretTarget::Organization { organization, .. } => {
                format!("orgs/{}", organization.to_ascii_lowercase())
            }
        }
    }
}

fn repo_path(repo: &str) -> Result<&str, GithubError> {
    let Some((owner, name)) = repo.split_once('/') else {
        return Err(GithubError::config(format!(
            "repository {} is not owner/name",
            inert::one_line(repo)
        )));
    };
    check_login(owner, "repository owner")?;
    let name_ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(GithubError::config(format!(
            "repository {} is not a GitHub repository name (letters, digits, '.', '_' and '-')",
            inert::one_line(repo)
        )));
    }
    Ok(repo)
}

fn check_login(login: &str, what: &str) -> Result<(), GithubError> {
    if !login.is_empty() && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(())
    } else {
        Err(GithubError::config(format!(
            "{what} {} is not a GitHub login (letters, digits and '-')",
            inert::one_line(login)
        )))
    }
}

/// GitHub's rule for secret names: letters, digits and `_`, not starting with a digit or
/// `GITHUB_`.
fn check_secret_name(name: &str) -> Result<(), GithubError> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.to_ascii_uppercase().starts_with("GITHUB_");
    if ok {
        Ok(())
    } else {
        Err(GithubError::config(format!(
            "{} is not a valid GitHub secret name (letters, digits and '_', not starting with a digit or GITHUB_)",
            inert::one_line(name)
        )))
    }
}

/// What went wrong, in words that say what to do; never a value.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct GithubError {
    pub kind: GithubErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GithubErrorKind {
    /// Bad names or credentials setup (exit 2).
    Config,
    /// GitHub refused the credential or its permissions.
    Auth,
    /// The repository, environment, organization or secret is not there (or not visible).
    NotFound,
    /// Any other answer, a transport failure, or a verification that did not hold.
    Runtime,
}

impl GithubError {
    fn config(message: impl Into<String>) -> Self {
        Self {
            kind: GithubErrorKind::Config,
            message: message.into(),
        }
    }

    fn runtime(message: impl Into<String>) -> Self {
        Self {
            kind: GithubErrorKind::Runtime,
            message: message.into(),
        }
    }

    /// An octocrab error as keyrot's: GitHub's own message (made inert) and what to do.
    fn from_octocrab(error: octocrab::Error, doing: &str, target: &SecretTarget) -> Self {
        Self::from_github(error, doing, &target.describe(), target.permission())
    }

    /// As [`Self::from_octocrab`], for any object: `what` names it, `permission` is what a
    /// credential needs for the call.
    fn from_github(error: octocrab::Error, doing: &str, what: &str, permission: &str) -> Self {
        let octocrab::Error::GitHub { source, .. } = &error else {
            return Self::runtime(format!("{doing}: {}", cause_chain(&error)));
        };
        let status = source.status_code.as_u16();
        let said = inert::one_line(&source.message);
        let (kind, advice) = match status {
            401 => (
                GithubErrorKind::Auth,
                "GitHub does not accept the credential: check GITHUB_TOKEN/GH_TOKEN or the GitHub App's id and key".to_string(),
            ),
            403 if source.message.contains("secondary rate limit") => (
                GithubErrorKind::Runtime,
                "GitHub's secondary rate limit held for longer than --timeout allows; retry later".to_string(),
            ),
            403 => {
                let token_note = if permission.contains("Secrets") || permission.contains("Environments") {
                    "a workflow's own GITHUB_TOKEN can never write secrets: use a GitHub App or a fine-grained token"
                } else {
                    "a workflow's own GITHUB_TOKEN gets it from the workflow's `permissions:`"
                };
                (
                    GithubErrorKind::Auth,
                    format!("the credential lacks the {permission}; {token_note}"),
                )
            }
            404 => (
                GithubErrorKind::NotFound,
                format!("{what} does not exist or is not visible to this credential"),
            ),
            422 => (
                GithubErrorKind::Config,
                format!("GitHub refused the request for {what} as sent"),
            ),
            _ => (GithubErrorKind::Runtime, String::new()),
        };
        let mut message = format!("{doing}: GitHub answered {status} \"{said}\"");
        if !advice.is_empty() {
            message.push_str(": ");
            message.push_str(&advice);
        }
        Self { kind, message }
    }
}

/// A target's public key, as GitHub hands it out.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicKey {
    pub key_id: String,
    /// Base64 of the 32-byte X25519 public key.
    pub key: String,
}

/// Seals `value` for `key` (libsodium `crypto_box_seal`), as GitHub's `encrypted_value`:
/// standard padded base64.
pub fn seal(key: &PublicKey, value: &SecretValue) -> Result<String, GithubError> {
    let bad_key = || {
        GithubError::runtime(format!(
            "GitHub's public key {} is not a base64 X25519 key",
            inert::one_line(&key.key_id)
        ))
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key.key.trim())
        .map_err(|_| bad_key())?;
    let raw: [u8; crypto_box::KEY_SIZE] = raw.try_into().map_err(|_| bad_key())?;
    let sealed = crypto_box::PublicKey::from(raw)
        .seal(&mut crypto_box::aead::OsRng, value.expose().as_bytes())
        .map_err(|_| GithubError::runtime("sealing the value for GitHub failed"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// A secret's metadata (GitHub never answers a value).
#[derive(Debug, Clone, Deserialize)]
pub struct SecretMeta {
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretWrite {
    /// 201 (created) rather than 204 (updated).
    pub created: bool,
    /// The server's `Date` on the write's answer (this machine's clock when it sent none).
    pub answered_at: OffsetDateTime,
}

/// A GitHub API client with keyrot's transport and credential.
pub struct GithubClient {
    /// The client for the credential itself (a token's, or a GitHub App's JWT).
    crab: Octocrab,
    app: bool,
    /// Installation clients of a GitHub App, per repository or organization.
    installations: Mutex<HashMap<String, Octocrab>>,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl GithubClient {
    /// Must be called inside a Tokio runtime (octocrab's buffer runs as a task).
    pub fn new(auth: &GithubAuth, transport: &KeyrotTransport) -> Result<Self, GithubError> {
        let bound = transport.for_origins([auth.api_url.origin()]);
        let base: ::http::Uri = auth
            .api_url
            .as_str()
            .trim_end_matches('/')
            .parse()
            .map_err(|_| GithubError::config("GITHUB_API_URL is not a valid URI"))?;
        let headers = Arc::new(vec![
            (
                ::http::header::USER_AGENT,
                ::http::HeaderValue::from_static(concat!("keyrot/", env!("CARGO_PKG_VERSION"))),
            ),
            (
                ::http::header::ACCEPT,
                ::http::HeaderValue::from_static("application/vnd.github+json"),
            ),
            (
                ::http::HeaderName::from_static("x-github-api-version"),
                ::http::HeaderValue::from_static("2022-11-28"),
            ),
        ]);
        let stack = OctocrabBuilder::new_empty()
            .with_service(http::TransportService::new(bound))
            .with_layer(&BaseUriLayer::new(base.clone()))
            .with_layer(&ExtraHeadersLayer::new(headers));
        let (crab, app) = match &auth.credential {
            GithubCredential::Token { token, variable } => {
                let mut value = ::http::HeaderValue::try_from(format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        GithubError::config(format!(
                            "{variable} holds characters a token cannot have"
                        ))
                    })?;
                value.set_sensitive(true);
                let crab = stack
                    .with_layer(&AuthHeaderLayer::new(Some(value), base.clone(), base))
                    .with_auth(AuthState::None)
                    .build();
                (crab, false)
            }
            GithubCredential::App {
                app_id,
                private_key,
            } => {
                let key = app_key(private_key)?;
                let crab = stack
                    .with_auth(AuthState::App(octocrab::auth::AppAuth {
                        app_id: octocrab::models::AppId(*app_id),
                        key,
                    }))
                    .build();
                (crab, true)
            }
        };
        let crab = crab.unwrap_or_else(|never| match never {});
        Ok(Self {
            crab,
            app,
            installations: Mutex::new(HashMap::new()),
        })
    }

    /// The client to use for `target`: the token's, or the App's installation for the
    /// target's repository or organization (looked up once, then kept).
    async fn client_for(&self, target: &SecretTarget) -> Result<Octocrab, GithubError> {
        self.client_for_key(
            target.installation_key(),
            &target.describe(),
            target.permission(),
        )
        .await
    }

    /// The client for a repository (`owner/name`, already checked).
    async fn client_for_repo(
        &self,
        repository: &str,
        permission: &str,
    ) -> Result<Octocrab, GithubError> {
        let what = format!("repository {}", inert::one_line(repository));
        self.client_for_key(
            format!("repos/{}", repository.to_ascii_lowercase()),
            &what,
            permission,
        )
        .await
    }

    /// `key` is `repos/{owner}/{name}` or `orgs/{org}`.
    async fn client_for_key(
        &self,
        key: String,
        what: &str,
        permission: &str,
    ) -> Result<Octocrab, GithubError> {
        if !self.app {
            return Ok(self.crab.clone());
        }
        if let Some(found) = self
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(found.clone());
        }
        let doing = format!("finding the GitHub App's installation for {what}");
        let installation: octocrab::models::Installation = self
            .crab
            .get(format!("/{key}/installation"), None::<&()>)
            .await
            .map_err(|e| GithubError::from_github(e, &doing, what, permission))?;
        let client = self
            .crab
            .installation(installation.id)
            .map_err(|e| GithubError::runtime(format!("{doing}: {}", cause_chain(&e))))?;
        self.installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, client.clone());
        Ok(client)
    }

    /// `GET …/secrets/public-key`.
    pub async fn public_key(&self, target: &SecretTarget) -> Result<PublicKey, GithubError> {
        let route = format!("{}/public-key", target.route()?);
        let doing = format!("reading the public key of {}", target.describe());
        self.client_for(target)
            .await?
            .get(route, None::<&()>)
            .await
            .map_err(|e| GithubError::from_octocrab(e, &doing, target))
    }

    /// Seals `value` for the target's current key and writes it (`PUT …/secrets/{name}`).
    pub async fn set_secret(
        &self,
        target: &SecretTarget,
        name: &str,
        value: &SecretValue,
    ) -> Result<SecretWrite, GithubError> {
        check_secret_name(name)?;
        let key = self.public_key(target).await?;
        let mut body = serde_json::json!({
            "encrypted_value": seal(&key, value)?,
            "key_id": key.key_id,
        });
        if let SecretTarget::Organization {
            visibility,
            selected_repository_ids,
            ..
        } = target
        {
            body["visibility"] = visibility.as_str().into();
            if *visibility == OrgVisibility::Selected {
                body["selected_repository_ids"] = selected_repository_ids.clone().into();
            }
        }
        let doing = format!("writing secret {name} of {}", target.describe());
        let crab = self.client_for(target).await?;
        let answer = crab
            ._put(format!("{}/{name}", target.route()?), Some(&body))
            .await
            .map_err(|e| GithubError::from_octocrab(e, &doing, target))?;
        let answer = octocrab::map_github_error(answer)
            .await
            .map_err(|e| GithubError::from_octocrab(e, &doing, target))?;
        let answered_at = answer
            .headers()
            .get(::http::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| {
                OffsetDateTime::parse(d, &time::format_description::well_known::Rfc2822).ok()
            })
            .unwrap_or_else(OffsetDateTime::now_utc);
        match answer.status().as_u16() {
            201 => Ok(SecretWrite {
                created: true,
                answered_at,
            }),
            204 => Ok(SecretWrite {
                created: false,
                answered_at,
            }),
            other => Err(GithubError::runtime(format!(
                "{doing}: GitHub answered {other}, expected 201 or 204"
            ))),
        }
    }

    /// `GET /repos/{owner}/{name}`: the repository's numeric id (an organization secret's
    /// selected repositories are sent by id).
    pub async fn repository_id(&self, repository: &str) -> Result<u64, GithubError> {
        #[derive(Deserialize)]
        struct Repo {
            id: u64,
        }
        const METADATA: &str = "repository permission \"Metadata\": read (every fine-grained token and GitHub App has it)";
        let route = format!("/repos/{}", repo_path(repository)?);
        let what = format!("repository {}", inert::one_line(repository));
        let doing = format!("reading {what}");
        let repo: Repo = self
            .client_for_repo(repository, METADATA)
            .await?
            .get(route, None::<&()>)
            .await
            .map_err(|e| GithubError::from_github(e, &doing, &what, METADATA))?;
        Ok(repo.id)
    }

    /// `GET …/secrets/{name}`.
    pub async fn secret(
        &self,
        target: &SecretTarget,
        name: &str,
    ) -> Result<SecretMeta, GithubError> {
        check_secret_name(name)?;
        let doing = format!("reading secret {name} of {}", target.describe());
        self.client_for(target)
            .await?
            .get(format!("{}/{name}", target.route()?), None::<&()>)
            .await
            .map_err(|e| GithubError::from_octocrab(e, &doing, target))
    }

    /// The secret exists and its `updated_at` is not older than `write` (within GitHub's
    /// whole-second stamps): nobody wrote an older value over it and the write took.
    pub async fn verify_secret(
        &self,
        target: &SecretTarget,
        name: &str,
        write: &SecretWrite,
    ) -> Result<SecretMeta, GithubError> {
        let meta = self.secret(target, name).await?;
        if meta.updated_at < write.answered_at - STAMP_TOLERANCE {
            return Err(GithubError::runtime(format!(
                "secret {name} of {} was last updated at {}, before keyrot's write answered at {}: the write did not take",
                target.describe(),
                rfc3339(meta.updated_at),
                rfc3339(write.answered_at)
            )));
        }
        Ok(meta)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn app_key(key: &AppKey) -> Result<octocrab::EncodingKey, GithubError> {
    let pem = match key {
        AppKey::Pem(pem) => zeroize::Zeroizing::new(pem.expose().replace("\\n", "\n")),
        AppKey::File(path) => {
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                GithubError::config(format!(
                    "cannot read KEYROT_GITHUB_APP_PRIVATE_KEY_FILE {}: {e}",
                    inert::one_line(&path.display().to_string())
                ))
            })?)
        }
    };
    octocrab::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
        GithubError::config(
            "the GitHub App's private key is not an RSA private key in PEM form (download a new one from the App's settings)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_change_the_path_are_refused() {
        for repo in ["a/b/c", "../x", "a/..", "a b/c", "a/b?x", "noslash"] {
            assert!(
                SecretTarget::Repository(repo.into()).route().is_err(),
                "{repo}"
            );
        }
        let env = SecretTarget::Environment {
            repository: "o/r".into(),
            environment: "prod/eu ?#".into(),
        };
        assert_eq!(
            env.route().unwrap(),
            "/repos/o/r/environments/prod%2Feu%20%3F%23/secrets"
        );
        for name in ["", "1ABC", "GITHUB_X", "a-b", "A/B"] {
            assert!(check_secret_name(name).is_err(), "{name}");
        }
        assert!(check_secret_name("BILLING_CLIENT_SECRET").is_ok());
    }

    #[test]
    fn a_sealed_value_opens_with_the_private_key_only() {
        let secret = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let key = PublicKey {
            key_id: "1".into(),
            key: base64::engine::general_purpose::STANDARD.encode(secret.public_key().as_bytes()),
        };
        let sealed = seal(&key, &SecretValue::new("planted".into())).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        assert_eq!(secret.unseal(&raw).unwrap(), b"planted");
        assert!(!sealed.contains("planted"));
        let bad = PublicKey {
            key_id: "1".into(),
            key: "c2hvcnQ=".into(),
        };
        assert!(seal(&bad, &SecretValue::new("v".into())).is_err());
    }
}
