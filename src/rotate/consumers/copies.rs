//! Copies: the new value written into each `[[credential.propagate]]` target, then verified.
//!
//! - A variable group: the client sets one secret variable and re-sends every other (see
//!   [`crate::devops`]); its re-read after the write is the verification (the variable there
//!   and secret, every other as it was). A Key Vault-linked group needs no write.
//! - A GitHub secret: sealed for the target's public key and written; then its `updated_at`
//!   must not be older than the write.
//! - An App Service site's Key Vault references (`app-service-settings-refresh`): one refresh
//!   request, then the site's references to this secret must read `Resolved` and, where the site
//!   says which version it holds, hold the committed version (polled briefly: the service may
//!   resolve after answering the refresh).
//! - A Logic App workflow's parameter: the workflow read, the one parameter set, the whole
//!   document written back, then read again: the parameter holds the value, the definition and
//!   state are as they were.
//! - A secret in another vault: written as a new version with the source version's expiry,
//!   not-before and content type, then the version served there must be that one, holding the
//!   value.
//!
//! [`plan`] does the reads alone (resolves the group, fetches the public key, lists the site's
//! references, reads the workflow, reads the other vault), so a target keyrot cannot see stops
//! the run before anything is rotated.

use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use super::Services;
use crate::arm::resource_id::ResourceId;
use crate::arm::web::KeyVaultReference;
use crate::devops::SetOutcome;
use crate::github::{GithubClient, OrgVisibility, SecretTarget};
use crate::model::{ReadFailure, SecretValue};
use crate::rotate::config::{
    CredentialSpec, GithubSecretScope, NameOrId, PropagateTarget, Visibility,
};
use crate::rotate::report::{CopyOutcome, CopyStatus};
use crate::vault::{NewVersion, Served, Vault, VaultUrl};

/// What the copies are made of: the committed version, as Key Vault serves it.
pub struct CopyInput<'a> {
    pub value: &'a SecretValue,
    /// Its version id in the credential's vault.
    pub version: &'a str,
    pub not_before: Option<time::OffsetDateTime>,
    pub expires: Option<time::OffsetDateTime>,
    pub content_type: Option<&'a str>,
}

/// How long a site's references may take to resolve after the refresh.
const REFERENCES_DEADLINE: Duration = Duration::from_secs(20);
/// The wait between two readings of a site's references.
const REFERENCES_POLL: Duration = Duration::from_secs(1);

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
            PropagateTarget::AppServiceRefresh {
                site,
                vault,
                secret,
            } => {
                let references = services
                    .arm()?
                    .web()
                    .key_vault_references(site)
                    .await
                    .map_err(|e| e.to_string())?;
                let mine = referencing(&references, vault, secret);
                if mine.is_empty() {
                    return Err(no_reference(site, vault, secret, &references));
                }
                if let Some(pinned) = mine.iter().find(|r| pinned_version(r).is_some()) {
                    return Err(format!(
                        "the app setting {} pins version {} of the secret: a refresh cannot \
                         bring it the new value; remove the version from the reference",
                        pinned.setting,
                        pinned_version(pinned).unwrap_or_default()
                    ));
                }
                CopyStatus::Planned
            }
            PropagateTarget::LogicAppParameter {
                workflow,
                parameter,
            } => {
                let read = services
                    .arm()?
                    .logic()
                    .get_workflow(workflow)
                    .await
                    .map_err(|e| e.to_string())?;
                check_parameter(&read, parameter)?;
                CopyStatus::Planned
            }
            PropagateTarget::KeyVaultSecret { vault, secret } => {
                let other = open(services, vault)?;
                other
                    .served_secret(secret)
                    .await
                    .map_err(|e| officer_needed(e, vault))?;
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

/// Writes the committed value to every copy of `spec` at once and verifies each. Every target
/// is tried whatever the others do; the caller judges the outcomes.
pub async fn propagate(
    services: &Services,
    spec: &CredentialSpec,
    input: &CopyInput<'_>,
) -> Vec<CopyOutcome> {
    join_all(spec.propagate.iter().map(|target| async move {
        match write_one(services, spec, target, input).await {
            Ok(status) => outcome(target, status, None),
            Err(message) => outcome(target, CopyStatus::Failed, Some(message)),
        }
    }))
    .await
}

async fn write_one(
    services: &Services,
    spec: &CredentialSpec,
    target: &PropagateTarget,
    input: &CopyInput<'_>,
) -> Result<CopyStatus, String> {
    let value = input.value;
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
        PropagateTarget::AppServiceRefresh {
            site,
            vault,
            secret,
        } => refresh_site(services, site, vault, secret, input.version).await,
        PropagateTarget::LogicAppParameter {
            workflow,
            parameter,
        } => write_workflow(services, workflow, parameter, value).await,
        PropagateTarget::KeyVaultSecret { vault, secret } => {
            copy_to_vault(services, spec, vault, secret, input).await
        }
    }
}

/// One refresh, then the site's references to the secret must resolve to the committed version.
async fn refresh_site(
    services: &Services,
    site: &ResourceId,
    vault: &VaultUrl,
    secret: &str,
    version: &str,
) -> Result<CopyStatus, String> {
    let web = services.arm()?.web();
    // Once: a refresh re-reads every reference of the site from Key Vault.
    web.refresh_key_vault_references(site)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + REFERENCES_DEADLINE;
    loop {
        let references = web
            .key_vault_references(site)
            .await
            .map_err(|e| e.to_string())?;
        let mine = referencing(&references, vault, secret);
        if mine.is_empty() {
            return Err(format!(
                "after the refresh, {}",
                no_reference(site, vault, secret, &references)
            ));
        }
        let pending: Vec<String> = mine.iter().filter_map(|r| unresolved(r, version)).collect();
        if pending.is_empty() {
            return Ok(CopyStatus::Updated);
        }
        if tokio::time::Instant::now() + REFERENCES_POLL > deadline {
            return Err(format!(
                "the site was asked to refresh its Key Vault references, but {} after {}s",
                pending.join("; "),
                REFERENCES_DEADLINE.as_secs()
            ));
        }
        tokio::time::sleep(REFERENCES_POLL).await;
    }
}

/// Why a reference does not hold the committed version yet, or `None` if it does.
fn unresolved(reference: &KeyVaultReference, version: &str) -> Option<String> {
    let status = reference.status.as_deref().unwrap_or("(no status)");
    if !status.eq_ignore_ascii_case("Resolved") {
        let details = reference
            .details
            .as_deref()
            .map(|d| format!(": {}", crate::transport::one_line(300, d)))
            .unwrap_or_default();
        return Some(format!(
            "app setting {} is {status}{details}",
            reference.setting
        ));
    }
    match reference
        .active_version
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        Some(held) if !held.eq_ignore_ascii_case(version) => Some(format!(
            "app setting {} still holds version {held}, not {version}",
            reference.setting
        )),
        _ => None,
    }
}

/// The site's references to `secret` of `vault`.
fn referencing<'r>(
    references: &'r [KeyVaultReference],
    vault: &VaultUrl,
    secret: &str,
) -> Vec<&'r KeyVaultReference> {
    references
        .iter()
        .filter(|r| {
            let (uri_vault, uri_secret, _) = parse_reference(r.reference.as_deref());
            let vault_name = r.vault_name.as_deref().or(uri_vault.as_deref());
            let secret_name = r.secret_name.as_deref().or(uri_secret.as_deref());
            vault_name.is_some_and(|v| v.eq_ignore_ascii_case(vault.name()))
                && secret_name.is_some_and(|s| s.eq_ignore_ascii_case(secret))
        })
        .collect()
}

/// The version a reference pins in its own text (`SecretUri=…/secrets/{name}/{version}` or
/// `SecretVersion=…`); the site reports the version it holds in `secretVersion` either way.
fn pinned_version(reference: &KeyVaultReference) -> Option<String> {
    parse_reference(reference.reference.as_deref()).2
}

/// (vault name, secret name, pinned version) of `@Microsoft.KeyVault(...)`.
fn parse_reference(text: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
    let Some(inner) = text
        .map(str::trim)
        .and_then(|t| t.strip_prefix("@Microsoft.KeyVault("))
        .and_then(|t| t.strip_suffix(')'))
    else {
        return (None, None, None);
    };
    let (mut vault, mut secret, mut version) = (None, None, None);
    for part in inner.split(';') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "secreturi" => {
                let rest = value.split_once("://").map_or(value, |(_, r)| r);
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                vault = host.split(['.', ':']).next().map(str::to_owned);
                let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                if let ["secrets", name, tail @ ..] = segments.as_slice() {
                    secret = Some((*name).to_owned());
                    version = tail.first().map(|v| (*v).to_owned());
                }
            }
            "vaultname" => vault = Some(value.to_owned()),
            "secretname" => secret = Some(value.to_owned()),
            "secretversion" => version = Some(value.to_owned()).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    (vault, secret, version)
}

fn no_reference(
    site: &ResourceId,
    vault: &VaultUrl,
    secret: &str,
    references: &[KeyVaultReference],
) -> String {
    let mut seen: Vec<String> = references
        .iter()
        .map(|r| {
            let (v, s, _) = parse_reference(r.reference.as_deref());
            format!(
                "{} -> {}/{}",
                r.setting,
                r.vault_name.as_deref().or(v.as_deref()).unwrap_or("?"),
                r.secret_name.as_deref().or(s.as_deref()).unwrap_or("?")
            )
        })
        .collect();
    seen.sort();
    let has = if seen.is_empty() {
        "it has no Key Vault references".to_owned()
    } else {
        format!("its references are {}", seen.join(", "))
    };
    format!(
        "{} does not reference secret {secret} of vault {}: no app setting reads \
         @Microsoft.KeyVault(SecretUri={vault}/secrets/{secret}/) ({has}); add the reference \
         or remove this target",
        site.describe(),
        vault.name()
    )
}

/// The parameter must exist, and hold a string.
fn check_parameter(workflow: &Value, parameter: &str) -> Result<(), String> {
    // `set_parameter` judges whether the parameter exists, and says which there are.
    crate::arm::logic::set_parameter(workflow, parameter, &SecretValue::new(String::new()))?;
    let declared = workflow
        .pointer("/properties/definition/parameters")
        .and_then(|p| p.get(parameter))
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str);
    match declared {
        Some(kind)
            if !kind.eq_ignore_ascii_case("securestring")
                && !kind.eq_ignore_ascii_case("string") =>
        {
            Err(format!(
                "the workflow declares parameter {parameter:?} as {kind}; keyrot writes a \
                 string: declare it SecureString"
            ))
        }
        _ => Ok(()),
    }
}

/// Read, set the one parameter, write the whole workflow back, read again.
async fn write_workflow(
    services: &Services,
    id: &ResourceId,
    parameter: &str,
    value: &SecretValue,
) -> Result<CopyStatus, String> {
    let logic = services.arm()?.logic();
    let before = logic.get_workflow(id).await.map_err(|e| e.to_string())?;
    check_parameter(&before, parameter)?;
    let updated = crate::arm::logic::set_parameter(&before, parameter, value)?;
    logic
        .put_workflow(id, &updated)
        .await
        .map_err(|e| e.to_string())?;
    let after = logic.get_workflow(id).await.map_err(|e| e.to_string())?;
    let held = after
        .pointer("/properties/parameters")
        .and_then(|p| p.get(parameter))
        .and_then(|p| p.get("value"))
        .and_then(Value::as_str);
    if held != Some(value.expose()) {
        return Err(format!(
            "the workflow was updated, but reading it back its parameter {parameter:?} does not \
             hold the new value"
        ));
    }
    for (what, pointer) in [
        ("definition", "/properties/definition"),
        ("state", "/properties/state"),
    ] {
        if before.pointer(pointer) != after.pointer(pointer) {
            return Err(format!(
                "the workflow was updated, but reading it back its {what} changed"
            ));
        }
    }
    Ok(CopyStatus::Updated)
}

/// The client of another vault, over the run's credential and transport.
fn open(services: &Services, vault: &VaultUrl) -> Result<Vault, String> {
    Vault::with_transport(
        vault.clone(),
        services.azure_credential(),
        services.transport(),
    )
    .map_err(|e| e.to_string())
}

fn officer_needed(error: crate::vault::VaultError, vault: &VaultUrl) -> String {
    if error.reason() == ReadFailure::Forbidden {
        format!(
            "{error}; to write the copy keyrot needs the role Key Vault Secrets Officer on {vault}"
        )
    } else {
        error.to_string()
    }
}

/// A new version in the other vault with the committed version's dates and content type; then
/// the version served there must be that one, with the value.
async fn copy_to_vault(
    services: &Services,
    spec: &CredentialSpec,
    vault: &VaultUrl,
    secret: &str,
    input: &CopyInput<'_>,
) -> Result<CopyStatus, String> {
    let other = open(services, vault)?;
    let written = other
        .set_secret(
            secret,
            NewVersion {
                value: input.value,
                content_type: input.content_type,
                not_before: input.not_before,
                expires: input.expires,
                tags: &spec.tags,
            },
        )
        .await
        .map_err(|e| officer_needed(e, vault))?;
    let version = written
        .version
        .ok_or("Key Vault answered the write without a version id")?;
    match other
        .served_secret(secret)
        .await
        .map_err(|e| e.to_string())?
    {
        Served::Version(served) => {
            if served.record.version.as_deref() != Some(version.as_str()) {
                Err(format!(
                    "wrote version {version}, but {vault} serves version {} of {secret}: \
                     something else wrote it at the same moment",
                    served.record.version.as_deref().unwrap_or("(unknown)")
                ))
            } else if served.value != *input.value || served.record.expires != input.expires {
                Err(format!(
                    "wrote version {version}, but it does not read back as written (value or \
                     expiry differ)"
                ))
            } else {
                Ok(CopyStatus::Updated)
            }
        }
        Served::Disabled => Err(format!(
            "wrote version {version}, but {vault} answers that it is disabled"
        )),
        Served::Missing => Err(format!(
            "wrote version {version}, but {vault} answers that {secret} does not exist"
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(
        setting: &str,
        text: &str,
        status: &str,
        active: Option<&str>,
    ) -> KeyVaultReference {
        KeyVaultReference {
            setting: setting.into(),
            status: Some(status.into()),
            reference: Some(text.into()),
            active_version: active.map(Into::into),
            details: Some("Key Vault reference was not able to be resolved.".into()),
            ..KeyVaultReference::default()
        }
    }

    #[test]
    fn references_are_matched_by_vault_name_and_secret_in_either_form() {
        let vault = VaultUrl::parse("https://Main.vault.azure.net").unwrap();
        let refs = vec![
            reference(
                "A",
                "@Microsoft.KeyVault(SecretUri=https://main.vault.azure.net/secrets/Orders-DB/)",
                "Resolved",
                None,
            ),
            reference(
                "B",
                "@Microsoft.KeyVault(VaultName=main;SecretName=orders-db;SecretVersion=0f3a)",
                "Resolved",
                None,
            ),
            reference(
                "C",
                "@Microsoft.KeyVault(VaultName=other;SecretName=orders-db)",
                "Resolved",
                None,
            ),
            reference(
                "D",
                "@Microsoft.KeyVault(SecretUri=https://main.vault.azure.net/secrets/orders-db-2)",
                "Resolved",
                None,
            ),
        ];
        let mine: Vec<&str> = referencing(&refs, &vault, "orders-db")
            .iter()
            .map(|r| r.setting.as_str())
            .collect();
        assert_eq!(mine, ["A", "B"]);
        assert_eq!(pinned_version(&refs[0]), None);
        assert_eq!(pinned_version(&refs[1]).as_deref(), Some("0f3a"));
        let pinned = reference(
            "E",
            "@Microsoft.KeyVault(SecretUri=https://main.vault.azure.net/secrets/orders-db/abc)",
            "Resolved",
            None,
        );
        assert_eq!(pinned_version(&pinned).as_deref(), Some("abc"));
        // The site's own fields win over the text.
        let mut named = reference("F", "garbage", "Resolved", None);
        named.vault_name = Some("MAIN".into());
        named.secret_name = Some("orders-db".into());
        assert_eq!(referencing(&[named], &vault, "orders-db").len(), 1);
        let message = no_reference(
            &ResourceId::parse("/subscriptions/5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f/resourceGroups/rg/providers/Microsoft.Web/sites/app").unwrap(),
            &vault,
            "x",
            &refs[2..3],
        );
        assert!(
            message.contains("App Service site app does not reference secret x of vault main"),
            "{message}"
        );
        assert!(message.contains("C -> other/orders-db"), "{message}");
    }

    #[test]
    fn a_reference_is_done_when_resolved_to_the_committed_version() {
        let text = "@Microsoft.KeyVault(VaultName=main;SecretName=s)";
        assert_eq!(
            unresolved(&reference("A", text, "Resolved", Some("v2")), "v2"),
            None
        );
        // A site that does not say which version it holds: Resolved is enough.
        assert_eq!(
            unresolved(&reference("A", text, "Resolved", None), "v2"),
            None
        );
        assert_eq!(
            unresolved(&reference("A", text, "Resolved", Some("v1")), "v2").as_deref(),
            Some("app setting A still holds version v1, not v2")
        );
        assert_eq!(
            unresolved(&reference("A", text, "AccessToKeyVaultDenied", None), "v2").as_deref(),
            Some("app setting A is AccessToKeyVaultDenied: Key Vault reference was not able to be resolved.")
        );
    }

    #[test]
    fn a_parameter_must_exist_and_be_a_string() {
        let workflow = serde_json::json!({"properties": {
            "definition": {"parameters": {
                "secret": {"type": "SecureString"},
                "plain": {"type": "string"},
                "count": {"type": "Int"}
            }},
            "parameters": {"secret": {"value": "old"}}
        }});
        assert!(check_parameter(&workflow, "secret").is_ok());
        assert!(check_parameter(&workflow, "plain").is_ok());
        let error = check_parameter(&workflow, "count").unwrap_err();
        assert!(
            error.contains("declares parameter \"count\" as Int"),
            "{error}"
        );
        let error = check_parameter(&workflow, "missing").unwrap_err();
        assert!(
            error.contains("no parameter \"missing\"; it has count, plain, secret"),
            "{error}"
        );
    }
}
