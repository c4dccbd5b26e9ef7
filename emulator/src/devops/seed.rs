//! `[devops]`: the Azure DevOps organizations, identities and credentials a seed declares.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::seed::Redacted;

/// `[devops]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevopsSeed {
    /// Users and service principals the service knows (`createdBy`, `modifiedBy`, `requestedFor`).
    #[serde(default, rename = "identity")]
    pub identities: Vec<IdentitySeed>,
    /// Personal access tokens: HTTP Basic, any user name, the token as password.
    #[serde(default, rename = "pat")]
    pub pats: Vec<TokenSeed>,
    /// Job access tokens (`SYSTEM_ACCESSTOKEN`): `Authorization: Bearer`.
    #[serde(default, rename = "job_token")]
    pub job_tokens: Vec<TokenSeed>,
    #[serde(default, rename = "organization")]
    pub organizations: Vec<OrganizationSeed>,
}

/// `[[devops.identity]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySeed {
    /// GUID; derived from `unique_name` (else `display_name`) when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub display_name: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    /// The Entra client (appId) whose tokens for Azure DevOps act as this identity (a service
    /// principal added to the organization).
    #[serde(default)]
    pub client_id: Option<String>,
}

/// `[[devops.pat]]` and `[[devops.job_token]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSeed {
    pub token: Redacted,
    /// The identity's `id` or `unique_name`.
    pub identity: String,
}

/// `[[devops.organization]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationSeed {
    pub name: String,
    #[serde(default, rename = "project")]
    pub projects: Vec<ProjectSeed>,
}

/// `[[devops.organization.project]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSeed {
    pub name: String,
    /// GUID; derived from the organization and project names when absent.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "variable_group")]
    pub variable_groups: Vec<VariableGroupSeed>,
    #[serde(default, rename = "pipeline")]
    pub pipelines: Vec<PipelineSeed>,
    #[serde(default, rename = "release_definition")]
    pub release_definitions: Vec<ReleaseDefinitionSeed>,
}

/// `[[devops.organization.project.pipeline]]`: a YAML pipeline.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSeed {
    pub id: u32,
    pub name: String,
    /// `\\` by default.
    #[serde(default)]
    pub folder: Option<String>,
    /// Runtime parameters the YAML declares (`templateParameters` may set only these).
    #[serde(default)]
    pub parameters: Vec<String>,
    /// Variables marked "Settable at queue time".
    #[serde(default)]
    pub settable_variables: Vec<String>,
    /// Variable groups (of the same project, by name) the pipeline uses.
    #[serde(default)]
    pub variable_groups: Vec<String>,
    /// `main` (as `refs/heads/main`) by default.
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// `[[devops.organization.project.release_definition]]`: a classic release pipeline.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDefinitionSeed {
    pub id: u32,
    pub name: String,
    #[serde(default)]
    pub variable_groups: Vec<String>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactSeed>,
    /// Stage names; one `Stage 1` by default.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// An artifact source of a release definition: `{ alias = "_billing", default_version = "20260101.1" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSeed {
    pub alias: String,
    /// The version a release gets when its creator names none; without it, creating a release
    /// that names none is the service's VS402881 error.
    #[serde(default)]
    pub default_version: Option<String>,
}

/// `[[devops.organization.project.variable_group]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableGroupSeed {
    /// Numeric id, unique in the organization; the next free one when absent.
    #[serde(default)]
    pub id: Option<u32>,
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: GroupKind,
    #[serde(default)]
    pub description: Option<String>,
    /// The Key Vault an `AzureKeyVault` group is linked to.
    #[serde(default)]
    pub vault: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableSeed>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum GroupKind {
    #[default]
    Vsts,
    AzureKeyVault,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Vsts => "Vsts",
            GroupKind::AzureKeyVault => "AzureKeyVault",
        }
    }
}

/// One variable: `{ value = "…", secret = true, read_only = false }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSeed {
    #[serde(default)]
    pub value: Option<Redacted>,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub read_only: bool,
}

impl DevopsSeed {
    pub fn validate(&self) -> anyhow::Result<()> {
        let known = |who: &str| {
            self.identities.iter().any(|i| {
                i.id.as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(who))
                    || i.unique_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(who))
            })
        };
        for t in self.pats.iter().chain(&self.job_tokens) {
            anyhow::ensure!(
                known(&t.identity),
                "[devops] token for identity {:?}: no [[devops.identity]] has that id or unique_name",
                t.identity
            );
        }
        let mut orgs = HashSet::new();
        for org in &self.organizations {
            anyhow::ensure!(
                orgs.insert(org.name.to_ascii_lowercase()),
                "[[devops.organization]] {:?} is defined twice",
                org.name
            );
            let mut ids = HashSet::new();
            let mut projects = HashSet::new();
            for p in &org.projects {
                anyhow::ensure!(
                    projects.insert(p.name.to_ascii_lowercase()),
                    "project {:?} is defined twice in organization {:?}",
                    p.name,
                    org.name
                );
                let mut names = HashSet::new();
                for g in &p.variable_groups {
                    anyhow::ensure!(
                        names.insert(g.name.to_ascii_lowercase()),
                        "variable group {:?} is defined twice in project {:?}",
                        g.name,
                        p.name
                    );
                    if let Some(id) = g.id {
                        anyhow::ensure!(
                            id > 0 && ids.insert(id),
                            "variable group id {id} in organization {:?} is zero or used twice",
                            org.name
                        );
                    }
                    anyhow::ensure!(
                        (g.kind == GroupKind::AzureKeyVault) == g.vault.is_some(),
                        "variable group {:?}: `vault` goes with type = \"AzureKeyVault\" and only with it",
                        g.name
                    );
                    let mut vars = HashSet::new();
                    for name in g.variables.keys() {
                        anyhow::ensure!(
                            vars.insert(name.to_ascii_lowercase()),
                            "variable group {:?}: variable {name:?} is defined twice (names are case-insensitive)",
                            g.name
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
