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
//! branches = ["main"]            # refs a dispatch may name (default ["main"])
//! ghes = false                    # true: refuse `return_run_details` with 400, like GHES <= 3.20
//!
//! [[github.repository.environment]]
//! name = "production"
//! secrets = [{ name = "BILLING_CLIENT_SECRET", value = "old" }]
//!
//! [[github.repository.workflow]]
//! id = 161335                     # optional; default derived from the path
//! path = ".github/workflows/deploy.yml"
//! name = "Deploy"
//! dispatch = true                 # has a workflow_dispatch trigger (default true)
//! environment = "production"      # its runs see this environment's secrets too
//! inputs = { reason = { required = true }, dry = { default = "false" } }
//!
//! [[github.app]]
//! id = 1001                       # its RSA key is generated at start
//! slug = "keyrot-rotator"
//! installation = [{ id = 2002, account = "contoso" }]
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
    #[serde(default, rename = "app")]
    pub apps: Vec<GithubAppSeed>,
}

/// A GitHub App: the emulator generates its RSA key at start
/// ([`Emulator::github_app_private_key`](crate::Emulator::github_app_private_key)).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubAppSeed {
    pub id: u64,
    /// Default `keyrot-app-{id}`; its installation tokens act as `{slug}[bot]`.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default, rename = "installation")]
    pub installations: Vec<GithubInstallationSeed>,
}

/// An installation of an App on an organization's or user's account (all its repositories).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubInstallationSeed {
    pub id: u64,
    /// The organization or user login it is installed on.
    pub account: String,
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
    /// Branches that `ref` may name (default `["main"]`).
    #[serde(default = "default_branches")]
    pub branches: Vec<String>,
    #[serde(default, rename = "workflow")]
    pub workflows: Vec<GithubWorkflowSeed>,
    /// Behave like GitHub Enterprise Server ≤ 3.20: a dispatch with `return_run_details` is
    /// refused with 400.
    #[serde(default)]
    pub ghes: bool,
}

fn default_branches() -> Vec<String> {
    vec!["main".into()]
}

/// A workflow file of a repository.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubWorkflowSeed {
    /// Default derived from the path.
    #[serde(default)]
    pub id: Option<u64>,
    /// e.g. `.github/workflows/deploy.yml`; dispatches may name its file name instead of the id.
    pub path: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it has a `workflow_dispatch` trigger (default true).
    #[serde(default = "yes")]
    pub dispatch: bool,
    /// `workflow_dispatch` inputs.
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, GithubInputSeed>,
    /// The environment its job deploys to: its runs see that environment's secrets too.
    #[serde(default)]
    pub environment: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubInputSeed {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
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
