//! `[github]`: the emulated GitHub's tokens, organizations and repositories.
//!
//! ```toml
//! [[github.token]]
//! token = "ghp_emulator"          # sent as `Authorization: Bearer …` or `token …`
//! login = "octocat"
//! kind = "pat"                    # or "workflow": a workflow's own GITHUB_TOKEN (no secrets access)
//!
//! [[github.organization]]
//! login = "contoso"
//! secrets = [{ name = "ORG_WIDE", value = "v", visibility = "all" }]
//!
//! [[github.repository]]
//! full_name = "contoso/billing"
//! id = 1296269                    # optional; default derived from the name
//! secrets = [{ name = "BILLING_CLIENT_SECRET", value = "old" }]
//!
//! [[github.repository.environment]]
//! name = "production"
//! secrets = [{ name = "BILLING_CLIENT_SECRET", value = "old" }]
//! ```

use serde::Deserialize;

use crate::seed::Redacted;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSeed {
    #[serde(default, rename = "token")]
    pub tokens: Vec<GithubTokenSeed>,
    #[serde(default, rename = "organization")]
    pub organizations: Vec<GithubOrganizationSeed>,
    #[serde(default, rename = "repository")]
    pub repositories: Vec<GithubRepositorySeed>,
}

/// A token the API accepts, and whose it is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubTokenSeed {
    pub token: Redacted,
    pub login: String,
    #[serde(default)]
    pub kind: GithubTokenKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GithubTokenKind {
    /// A personal access token (or an App installation token) allowed to manage secrets.
    #[default]
    Pat,
    /// A workflow's own `GITHUB_TOKEN`: it cannot read public keys or write secrets
    /// (403 "Resource not accessible by integration", as the service answers).
    Workflow,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOrganizationSeed {
    pub login: String,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub secrets: Vec<GithubSecretSeed>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubRepositorySeed {
    /// `owner/name`.
    pub full_name: String,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub secrets: Vec<GithubSecretSeed>,
    #[serde(default, rename = "environment")]
    pub environments: Vec<GithubEnvironmentSeed>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubEnvironmentSeed {
    pub name: String,
    #[serde(default)]
    pub secrets: Vec<GithubSecretSeed>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSecretSeed {
    pub name: String,
    pub value: Redacted,
    /// Organization secrets only: `all`, `private` or `selected` (default `all`).
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub selected_repository_ids: Vec<u64>,
}
