//! Copies: the new value written into each `[[credential.propagate]]` target, then verified.
//!
//! - A variable group: the client sets one secret variable and re-sends every other (see
//!   [`crate::devops`]); its re-read after the write is the verification (the variable there
//!   and secret, every other as it was). A Key Vault-linked group needs no write.
//! - A GitHub secret: sealed for the target's public key and written; then its `updated_at`
//!   must not be older than the write.
//!
//! [`plan`] does the reads alone (resolves the group, fetches the public key), so a target
//! keyrot cannot see stops the run before anything is rotated.

use futures::future::join_all;

use super::Services;
use crate::devops::SetOutcome;
use crate::github::{GithubClient, OrgVisibility, SecretTarget};
use crate::model::SecretValue;
use crate::rotate::config::{
    CredentialSpec, GithubSecretScope, NameOrId, PropagateTarget, Visibility,
};
use crate::rotate::report::{CopyOutcome, CopyStatus};

/// Reads only: every copy of `spec` resolved, as the plan shows it. The first target keyrot
/// cannot see is an error naming it.
pub async fn plan(services: &Services, spec: &CredentialSpec) -> Result<Vec<CopyOutcome>, String> {
    let planned = join_all(spec.propagate.iter().map(|target| async move {
        let status = match target {
            PropagateTarget::VariableGroup {
                organization,
                project,
                group,
                ..
            } => {
                let client = services.devops(organization)?;
                let name = group.as_request();
                let found = client
                    .resolve_group(project, &name)
                    .await
                    .map_err(|e| e.to_string())?;
                services.remember_group(organization, project, &name, found.id);
                match found.kind {
                    crate::devops::GroupKind::AzureKeyVault { .. } => CopyStatus::KeyVaultLinked,
                    _ => CopyStatus::Planned,
                }
            }
            PropagateTarget::GithubSecret { scope, .. } => {
                let github = services.github().await?;
                github
                    .public_key(&secret_target(&github, scope).await?)
                    .await
                    .map_err(|e| e.to_string())?;
                CopyStatus::Planned
            }
        };
        Ok::<_, String>(outcome(target, status, None))
    }))
    .await;
    planned
        .into_iter()
        .zip(&spec.propagate)
        .map(|(result, target)| result.map_err(|e| format!("{target}: {e}")))
        .collect()
}

/// Writes `value` to every copy of `spec` at once and verifies each. Every target is tried
/// whatever the others do; the caller judges the outcomes.
pub async fn propagate(
    services: &Services,
    spec: &CredentialSpec,
    value: &SecretValue,
) -> Vec<CopyOutcome> {
    join_all(spec.propagate.iter().map(|target| async move {
        match write_one(services, target, value).await {
            Ok(status) => outcome(target, status, None),
            Err(message) => outcome(target, CopyStatus::Failed, Some(message)),
        }
    }))
    .await
}

async fn write_one(
    services: &Services,
    target: &PropagateTarget,
    value: &SecretValue,
) -> Result<CopyStatus, String> {
    match target {
        PropagateTarget::VariableGroup {
            organization,
            project,
            group,
            variable,
        } => {
            let client = services.devops(organization)?;
            let group = services.group_for_write(organization, project, &group.as_request());
            // The client re-reads the group after its write: that re-read is the verification.
            match client
                .set_variable(project, &group, variable, value)
                .await
                .map_err(|e| e.to_string())?
            {
                SetOutcome::KeyVaultLinked(_) => Ok(CopyStatus::KeyVaultLinked),
                SetOutcome::Written(_) => Ok(CopyStatus::Updated),
            }
        }
        PropagateTarget::GithubSecret { scope, secret } => {
            let github = services.github().await?;
            let target = secret_target(&github, scope).await?;
            let write = github
                .set_secret(&target, secret, value)
                .await
                .map_err(|e| e.to_string())?;
            github
                .verify_secret(&target, secret, &write)
                .await
                .map_err(|e| e.to_string())?;
            Ok(CopyStatus::Updated)
        }
    }
}

fn outcome(target: &PropagateTarget, status: CopyStatus, message: Option<String>) -> CopyOutcome {
    CopyOutcome {
        kind: target.kind(),
        target: target.to_string(),
        status,
        message,
    }
}

/// The client's name for a config scope; selected repositories named by name are looked up
/// (GitHub takes their ids).
async fn secret_target(
    github: &GithubClient,
    scope: &GithubSecretScope,
) -> Result<SecretTarget, String> {
    Ok(match scope {
        GithubSecretScope::Repository {
            repository,
            environment: None,
        } => SecretTarget::Repository(repository.to_string()),
        GithubSecretScope::Repository {
            repository,
            environment: Some(environment),
        } => SecretTarget::Environment {
            repository: repository.to_string(),
            environment: environment.clone(),
        },
        GithubSecretScope::Organization {
            organization,
            visibility,
        } => {
            let (visibility, ids) = match visibility {
                Visibility::All => (OrgVisibility::All, Vec::new()),
                Visibility::Private => (OrgVisibility::Private, Vec::new()),
                Visibility::Selected(repos) => {
                    let mut ids = Vec::with_capacity(repos.len());
                    for repo in repos {
                        ids.push(match repo {
                            NameOrId::Id(id) => *id,
                            NameOrId::Name(name) => github
                                .repository_id(&format!("{organization}/{name}"))
                                .await
                                .map_err(|e| e.to_string())?,
                        });
                    }
                    (OrgVisibility::Selected, ids)
                }
            };
            SecretTarget::Organization {
                organization: organization.clone(),
                visibility,
                selected_repository_ids: ids,
            }
        }
    })
}
