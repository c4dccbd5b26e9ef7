//! `[[credential.propagate]]`: the copies of a credential that keyrot updates after a rotation
//! (an Azure DevOps variable group's variable, a GitHub Actions secret, a Logic App workflow's
//! parameter, a secret in another vault) and the consumers that cache it (an App Service site's
//! Key Vault references, refreshed).

use serde::Deserialize;
use toml::Spanned;

use super::credential::{check_secret_name, check_vault};
use super::names::{
    is_github_owner, is_plain_name, read_devops_project, read_name_or_id, read_repository,
    refuse_foreign, required, span, DevOpsOrganization, NameOrId, NameOrIdText, Repository,
};
use super::source::{Source, Subject};
use crate::arm::resource_id::{Resource, ResourceId};
use crate::vault::VaultUrl;

/// Where a credential's new value is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropagateTarget {
    /// `to = "azure-devops-variable-group"`: one variable of a Library variable group.
    VariableGroup {
        organization: DevOpsOrganization,
        project: String,
        group: NameOrId,
        /// Compared case-insensitively, as Azure DevOps does.
        variable: String,
    },
    /// `to = "github-secret"`: an Actions secret of a repository, an environment or an
    /// organization.
    GithubSecret {
        scope: GithubSecretScope,
        secret: String,
    },
    /// `to = "app-service-settings-refresh"`: an App Service (or Functions) site whose app
    /// settings reference the credential (`@Microsoft.KeyVault(...)`) and cache its value; keyrot
    /// asks it to resolve them again.
    AppServiceRefresh {
        site: ResourceId,
        /// The credential's own vault and secret: the references that must resolve.
        vault: VaultUrl,
        secret: String,
    },
    /// `to = "logic-app-parameter"`: one parameter of a Logic App (Consumption) workflow.
    LogicAppParameter {
        workflow: ResourceId,
        parameter: String,
    },
    /// `to = "key-vault-secret"`: a copy in another vault (or under another name), written as a
    /// new version with the same expiry.
    KeyVaultSecret { vault: VaultUrl, secret: String },
}

/// Whose Actions secret it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubSecretScope {
    Repository {
        repository: Repository,
        /// An environment secret of that repository.
        environment: Option<String>,
    },
    Organization {
        organization: String,
        visibility: Visibility,
    },
}

/// Which repositories of an organization see an organization secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    Private,
    /// These repositories, by name or numeric id.
    Selected(Vec<NameOrId>),
}

impl PropagateTarget {
    /// The `to` value of this kind of target.
    pub fn kind(&self) -> &'static str {
        match self {
            PropagateTarget::VariableGroup { .. } => VARIABLE_GROUP,
            PropagateTarget::GithubSecret { .. } => GITHUB_SECRET,
            PropagateTarget::AppServiceRefresh { .. } => APP_SERVICE_REFRESH,
            PropagateTarget::LogicAppParameter { .. } => LOGIC_APP_PARAMETER,
            PropagateTarget::KeyVaultSecret { .. } => KEY_VAULT_SECRET,
        }
    }

    /// What two targets must not share: the same copy written twice, in any case where the
    /// service compares names case-insensitively.
    pub fn identity(&self) -> String {
        match self {
            PropagateTarget::VariableGroup {
                organization,
                project,
                group,
                variable,
            } => format!(
                "{VARIABLE_GROUP} {}/{}/{}/{}",
                organization.name.to_ascii_lowercase(),
                project.to_lowercase(),
                group.to_string().to_lowercase(),
                variable.to_ascii_lowercase()
            ),
            PropagateTarget::GithubSecret { scope, secret } => {
                let whose = match scope {
                    GithubSecretScope::Repository {
                        repository,
                        environment,
                    } => format!(
                        "repo {} env {}",
                        repository.to_string().to_ascii_lowercase(),
                        environment.as_deref().unwrap_or("").to_lowercase()
                    ),
                    GithubSecretScope::Organization { organization, .. } => {
                        format!("org {}", organization.to_ascii_lowercase())
                    }
                };
                format!("{GITHUB_SECRET} {whose} {}", secret.to_ascii_uppercase())
            }
            // ARM compares resource ids case-insensitively; a site refreshed for two
            // credentials is two targets (each checks its own references).
            PropagateTarget::AppServiceRefresh {
                site,
                vault,
                secret,
            } => format!(
                "{APP_SERVICE_REFRESH} {} for {}/{}",
                site.to_string().to_ascii_lowercase(),
                vault.as_str().to_ascii_lowercase(),
                secret.to_ascii_lowercase()
            ),
            // Workflow parameter names are JSON keys: case-sensitive.
            PropagateTarget::LogicAppParameter {
                workflow,
                parameter,
            } => format!(
                "{LOGIC_APP_PARAMETER} {} {parameter}",
                workflow.to_string().to_ascii_lowercase()
            ),
            PropagateTarget::KeyVaultSecret { vault, secret } => format!(
                "{KEY_VAULT_SECRET} {}/{}",
                vault.as_str().to_ascii_lowercase(),
                secret.to_ascii_lowercase()
            ),
        }
    }
}

impl std::fmt::Display for PropagateTarget {
    /// For reports: `variable BILLING_SECRET of group "billing-prod" (contoso/payments)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropagateTarget::VariableGroup {
                organization,
                project,
                group,
                variable,
            } => write!(
                f,
                "variable {variable} of group {group} ({}/{project})",
                organization.name
            ),
            PropagateTarget::GithubSecret { scope, secret } => match scope {
                GithubSecretScope::Repository {
                    repository,
                    environment: None,
                } => write!(f, "secret {secret} of {repository}"),
                GithubSecretScope::Repository {
                    repository,
                    environment: Some(env),
                } => write!(f, "secret {secret} of environment {env} of {repository}"),
                GithubSecretScope::Organization { organization, .. } => {
                    write!(f, "secret {secret} of organization {organization}")
                }
            },
            PropagateTarget::AppServiceRefresh { site, .. } => {
                write!(f, "Key Vault references of {}", site.describe())
            }
            PropagateTarget::LogicAppParameter {
                workflow,
                parameter,
            } => write!(f, "parameter {parameter} of {}", workflow.describe()),
            PropagateTarget::KeyVaultSecret { vault, secret } => {
                write!(f, "secret {secret} of vault {vault}")
            }
        }
    }
}

const VARIABLE_GROUP: &str = "azure-devops-variable-group";
const GITHUB_SECRET: &str = "github-secret";
const APP_SERVICE_REFRESH: &str = "app-service-settings-refresh";
const LOGIC_APP_PARAMETER: &str = "logic-app-parameter";
const KEY_VAULT_SECRET: &str = "key-vault-secret";
/// Every `to`, as the errors list them.
const KINDS: &str = "\"azure-devops-variable-group\", \"github-secret\", \
                     \"app-service-settings-refresh\", \"logic-app-parameter\" or \"key-vault-secret\"";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPropagate {
    to: Option<Spanned<String>>,
    organization: Option<Spanned<String>>,
    project: Option<Spanned<String>>,
    group: Option<Spanned<NameOrIdText>>,
    variable: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    environment: Option<Spanned<String>>,
    visibility: Option<Spanned<String>>,
    repositories: Option<Spanned<Vec<NameOrIdText>>>,
    secret: Option<Spanned<String>>,
    site: Option<Spanned<String>>,
    workflow: Option<Spanned<String>>,
    parameter: Option<Spanned<String>>,
    vault: Option<Spanned<String>>,
}

/// The credential whose copies these are: its secret's name and vault.
pub(super) struct Owner<'a> {
    pub name: &'a str,
    pub vault: &'a VaultUrl,
}

pub(super) fn read_propagate(
    src: &Source<'_>,
    credential: &Subject,
    owner: &Owner<'_>,
    index: usize,
    spanned: &Spanned<RawPropagate>,
) -> Result<PropagateTarget, String> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let subject = credential.part(format_args!("propagate #{}", index + 1));
    let present = [
        ("organization", span(&raw.organization)),
        ("project", span(&raw.project)),
        ("group", span(&raw.group)),
        ("variable", span(&raw.variable)),
        ("repository", span(&raw.repository)),
        ("environment", span(&raw.environment)),
        ("visibility", span(&raw.visibility)),
        ("repositories", span(&raw.repositories)),
        ("secret", span(&raw.secret)),
        ("site", span(&raw.site)),
        ("workflow", span(&raw.workflow)),
        ("parameter", span(&raw.parameter)),
        ("vault", span(&raw.vault)),
    ];
    let to = required(src, &subject, at, &raw.to, "to", KINDS)?;
    match to.get_ref().as_str() {
        VARIABLE_GROUP => {
            refuse_foreign(
                src,
                &subject,
                VARIABLE_GROUP,
                &present,
                &["organization", "project", "group", "variable"],
            )?;
            let (organization, project) =
                read_devops_project(src, &subject, at, &raw.organization, &raw.project)?;
            let group = required(
                src,
                &subject,
                at,
                &raw.group,
                "group",
                "the variable group's name or numeric id",
            )?;
            let variable = required(
                src,
                &subject,
                at,
                &raw.variable,
                "variable",
                "the name of the variable that holds the credential",
            )?;
            Ok(PropagateTarget::VariableGroup {
                organization,
                project,
                group: read_name_or_id(src, &subject, "group", group)?,
                variable: read_variable(src, &subject, variable)?,
            })
        }
        GITHUB_SECRET => {
            refuse_foreign(
                src,
                &subject,
                GITHUB_SECRET,
                &present,
                &[
                    "repository",
                    "environment",
                    "organization",
                    "visibility",
                    "repositories",
                    "secret",
                ],
            )?;
            let secret = required(
                src,
                &subject,
                at,
                &raw.secret,
                "secret",
                "the Actions secret's name, like \"BILLING_CLIENT_SECRET\"",
            )?;
            let secret = read_github_secret_name(src, &subject, secret)?;
            let scope = read_scope(src, &subject, at, raw)?;
            Ok(PropagateTarget::GithubSecret { scope, secret })
        }
        APP_SERVICE_REFRESH => {
            refuse_foreign(src, &subject, APP_SERVICE_REFRESH, &present, &["site"])?;
            let site = required(
                src,
                &subject,
                at,
                &raw.site,
                "site",
                "the site's resource id, \"/subscriptions/{subscription id}/resourceGroups/\
                 {group}/providers/Microsoft.Web/sites/{site}\"",
            )?;
            Ok(PropagateTarget::AppServiceRefresh {
                site: read_resource(src, &subject, "site", site, Kind::Site)?,
                vault: owner.vault.clone(),
                secret: owner.name.to_owned(),
            })
        }
        LOGIC_APP_PARAMETER => {
            refuse_foreign(
                src,
                &subject,
                LOGIC_APP_PARAMETER,
                &present,
                &["workflow", "parameter"],
            )?;
            let workflow = required(
                src,
                &subject,
                at,
                &raw.workflow,
                "workflow",
                "the workflow's resource id, \"/subscriptions/{subscription id}/resourceGroups/\
                 {group}/providers/Microsoft.Logic/workflows/{workflow}\"",
            )?;
            let workflow = read_resource(src, &subject, "workflow", workflow, Kind::Workflow)?;
            let parameter = required(
                src,
                &subject,
                at,
                &raw.parameter,
                "parameter",
                "the name of the workflow parameter that holds the credential",
            )?;
            let text = parameter.get_ref();
            if text.trim().is_empty()
                || text.trim() != text
                || text.chars().count() > 80
                || text.chars().any(char::is_control)
            {
                return Err(src.error_at(
                    parameter.span().start,
                    format_args!(
                        "{subject}: parameter {text:?} is not a workflow parameter name (1 to 80 \
                         characters, no surrounding spaces): write the name the workflow \
                         definition declares under parameters"
                    ),
                ));
            }
            Ok(PropagateTarget::LogicAppParameter {
                workflow,
                parameter: text.clone(),
            })
        }
        KEY_VAULT_SECRET => {
            refuse_foreign(
                src,
                &subject,
                KEY_VAULT_SECRET,
                &present,
                &["vault", "secret"],
            )?;
            let vault = required(
                src,
                &subject,
                at,
                &raw.vault,
                "vault",
                "the other vault's name (\"myothervault\") or https URL",
            )?;
            check_vault(src, &subject, vault)?;
            let url = VaultUrl::parse(vault.get_ref()).expect("checked above");
            let (secret, secret_at) = match &raw.secret {
                Some(secret) => {
                    check_secret_name(src, &subject, secret)?;
                    (secret.get_ref().clone(), secret.span().start)
                }
                None => (owner.name.to_owned(), vault.span().start),
            };
            if url == *owner.vault && secret.eq_ignore_ascii_case(owner.name) {
                return Err(src.error_at(
                    secret_at,
                    format_args!(
                        "{subject}: this copy is the credential itself (secret {secret:?} of \
                         vault {url}): name another vault, or another secret = \"...\""
                    ),
                ));
            }
            Ok(PropagateTarget::KeyVaultSecret { vault: url, secret })
        }
        other => Err(src.error_at(
            to.span().start,
            format_args!("{subject}: unknown to = {other:?}: use {KINDS}"),
        )),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Site,
    Workflow,
}

/// A resource id of the kind `kind`, or an error at the value naming what is wrong.
fn read_resource(
    src: &Source<'_>,
    subject: &Subject,
    key: &str,
    raw: &Spanned<String>,
    kind: Kind,
) -> Result<ResourceId, String> {
    let text = raw.get_ref().trim();
    let (what, shape) = match kind {
        Kind::Site => (
            "an App Service site",
            "/subscriptions/{subscription id}/resourceGroups/{group}/providers/Microsoft.Web/sites/{site}",
        ),
        Kind::Workflow => (
            "a Logic App workflow",
            "/subscriptions/{subscription id}/resourceGroups/{group}/providers/Microsoft.Logic/workflows/{workflow}",
        ),
    };
    let fail =
        |why: String| Err(src.error_at(raw.span().start, format_args!("{subject}: {key}: {why}")));
    if kind == Kind::Site {
        let lower = text.to_ascii_lowercase();
        if lower.contains("/microsoft.web/sites/") && lower.contains("/slots/") {
            return fail(format!(
                "{text:?} names a deployment slot, which keyrot does not refresh yet: name the \
                 site itself ({shape})"
            ));
        }
    }
    let id = match ResourceId::parse(text) {
        Ok(id) => id,
        Err(e) => return fail(format!("{e}; write {what}'s id, {shape}")),
    };
    let right = matches!(
        (&id.resource, kind),
        (Resource::WebSite { .. }, Kind::Site) | (Resource::LogicWorkflow { .. }, Kind::Workflow)
    );
    if right {
        Ok(id)
    } else {
        fail(format!(
            "{text:?} is a {}, not {what}: write {shape}",
            id.describe()
        ))
    }
}

fn read_scope(
    src: &Source<'_>,
    subject: &Subject,
    at: usize,
    raw: &RawPropagate,
) -> Result<GithubSecretScope, String> {
    match (&raw.repository, &raw.organization) {
        (Some(repository), None) => {
            for (key, value) in [
                ("visibility", span(&raw.visibility)),
                ("repositories", span(&raw.repositories)),
            ] {
                if let Some(value) = value {
                    return Err(src.error_at(
                        value.start,
                        format_args!(
                            "{subject}: {key} applies only to an organization secret \
                             (organization = \"...\"), not to a repository's"
                        ),
                    ));
                }
            }
            let environment = match &raw.environment {
                None => None,
                Some(environment) => {
                    let text = environment.get_ref();
                    if text.trim().is_empty()
                        || text.chars().count() > 255
                        || text.chars().any(char::is_control)
                    {
                        return Err(src.error_at(
                            environment.span().start,
                            format_args!(
                                "{subject}: environment must be the name of one of the \
                                 repository's environments (1 to 255 characters), or be left out \
                                 for a repository secret"
                            ),
                        ));
                    }
                    Some(text.clone())
                }
            };
            Ok(GithubSecretScope::Repository {
                repository: read_repository(src, subject, repository)?,
                environment,
            })
        }
        (None, Some(organization)) => {
            if let Some(environment) = &raw.environment {
                return Err(src.error_at(
                    environment.span().start,
                    format_args!(
                        "{subject}: environment belongs to a repository: set repository = \
                         \"owner/name\" instead of organization for an environment secret"
                    ),
                ));
            }
            let name = organization.get_ref().trim();
            if !is_github_owner(name) {
                return Err(src.error_at(
                    organization.span().start,
                    format_args!(
                        "{subject}: organization {name:?} is not a GitHub organization name \
                         (1 to 39 letters, digits and hyphens)"
                    ),
                ));
            }
            let visibility = read_visibility(src, subject, organization.span().start, raw)?;
            Ok(GithubSecretScope::Organization {
                organization: name.to_owned(),
                visibility,
            })
        }
        (Some(_), Some(organization)) => Err(src.error_at(
            organization.span().start,
            format_args!(
                "{subject}: both repository and organization: a GitHub secret belongs to one \
                 repository (repository = \"owner/name\") or to an organization \
                 (organization = \"name\" with visibility); keep one"
            ),
        )),
        (None, None) => Err(src.error_at(
            at,
            format_args!(
                "{subject}: no repository: set repository = \"owner/name\" for a repository \
                 secret, or organization = \"name\" with visibility for an organization secret"
            ),
        )),
    }
}

fn read_visibility(
    src: &Source<'_>,
    subject: &Subject,
    at: usize,
    raw: &RawPropagate,
) -> Result<Visibility, String> {
    let Some(visibility) = &raw.visibility else {
        return Err(src.error_at(
            at,
            format_args!(
                "{subject}: no visibility: an organization secret needs visibility = \"all\", \
                 \"private\" or \"selected\" (with repositories = [...])"
            ),
        ));
    };
    let refuse_repositories = || match &raw.repositories {
        Some(repositories) => Err(src.error_at(
            repositories.span().start,
            format_args!(
                "{subject}: repositories applies only to visibility = \"selected\"; \
                 remove it or set visibility = \"selected\""
            ),
        )),
        None => Ok(()),
    };
    match visibility.get_ref().as_str() {
        "all" => refuse_repositories().map(|()| Visibility::All),
        "private" => refuse_repositories().map(|()| Visibility::Private),
        "selected" => {
            let Some(repositories) = raw
                .repositories
                .as_ref()
                .filter(|r| !r.get_ref().is_empty())
            else {
                return Err(src.error_at(
                    visibility.span().start,
                    format_args!(
                        "{subject}: visibility = \"selected\" needs repositories = [...], the \
                         names or ids of the repositories that may read the secret"
                    ),
                ));
            };
            let mut selected = Vec::new();
            for name in repositories.get_ref() {
                let text = name.0.trim();
                let id = text.parse::<u64>().ok().filter(|id| *id > 0);
                let valid_name = is_plain_name(text, 100);
                selected.push(match id {
                    Some(id) => NameOrId::Id(id),
                    None if valid_name => NameOrId::Name(text.to_owned()),
                    None => {
                        return Err(src.error_at(
                            repositories.span().start,
                            format_args!(
                                "{subject}: repositories holds {text:?}, which is neither a \
                                 repository name of the organization nor a repository id"
                            ),
                        ))
                    }
                });
            }
            Ok(Visibility::Selected(selected))
        }
        other => Err(src.error_at(
            visibility.span().start,
            format_args!(
                "{subject}: unknown visibility {other:?}: use \"all\", \"private\" or \"selected\""
            ),
        )),
    }
}

/// Azure DevOps variable names: letters, digits, `.`, `_` and `-`.
fn read_variable(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Spanned<String>,
) -> Result<String, String> {
    let text = raw.get_ref();
    let ok = is_plain_name(text, 255);
    if ok {
        Ok(text.clone())
    } else {
        Err(src.error_at(
            raw.span().start,
            format_args!(
                "{subject}: variable {text:?} is not a variable name: letters, digits, ., _ \
                 and -, like \"BILLING_CLIENT_SECRET\""
            ),
        ))
    }
}

/// GitHub secret names: letters, digits and `_`, not starting with a digit nor `GITHUB_`.
fn read_github_secret_name(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Spanned<String>,
) -> Result<String, String> {
    let text = raw.get_ref();
    let why = if !text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        "is not a GitHub secret name: letters, digits and _, not starting with a digit"
    } else if text.to_ascii_uppercase().starts_with("GITHUB_") {
        "starts with GITHUB_, which GitHub reserves: choose another name"
    } else {
        return Ok(text.clone());
    };
    Err(src.error_at(
        raw.span().start,
        format_args!("{subject}: secret {text:?} {why}"),
    ))
}
