//! Runs: what keyrot starts once a credential's copies hold the new value.
//!
//! - A YAML pipeline: a new run, on the configured branch with the runtime parameters.
//! - A classic release definition: a new release (never a redeploy: a release keeps the
//!   variable values it was created with), with the definition's default artifact versions.
//! - A GitHub workflow: `workflow_dispatch`, asking for the run's id and link.
//!
//! Starting is not idempotent, so a start whose mark survives a crash ([`Start::adopt_since`])
//! first looks for a run of the target by keyrot's own identity created since the mark (the
//! Build API's `requestedFor`, a release's `createdBy`, a workflow run's `actor`) and adopts
//! it instead of starting another.

use time::OffsetDateTime;

use super::Services;
use crate::rotate::config::TriggerTarget;
use crate::rotate::report::RunStatus;

/// What became of one start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub status: RunStatus,
    pub id: Option<String>,
    pub url: Option<String>,
}

/// Reads only: resolves the pipeline or release definition a trigger names, so a missing one
/// stops the run before anything is rotated. (A workflow is checked when dispatched: GitHub
/// has no cheaper read that proves it accepts `workflow_dispatch`.)
pub async fn plan(services: &Services, target: &TriggerTarget) -> Result<(), String> {
    resolve(services, target).await.map(|_| ())
}

/// Starts a run of `target`, or adopts the one an interrupted run started after
/// `adopt_since`. A start whose answer was lost (the transport does not replay it) is looked
/// for the same way before it counts as failed.
pub async fn start(
    services: &Services,
    target: &TriggerTarget,
    adopt_since: Option<OffsetDateTime>,
) -> Result<Start, String> {
    let definition = resolve(services, target).await?;
    if let Some(since) = adopt_since {
        if let Some(found) = find_since(services, target, definition.as_ref(), since).await? {
            return Ok(Start {
                status: RunStatus::Adopted,
                ..found
            });
        }
    }
    let before = OffsetDateTime::now_utc();
    match start_new(services, target, definition.as_ref()).await {
        Ok(started) => Ok(started),
        Err(why) => match find_since(services, target, definition.as_ref(), before).await {
            Ok(Some(found)) => {
                tracing::info!(
                    "{target}: the answer to the start was lost, but the run exists: {why}"
                );
                Ok(found)
            }
            _ => Err(why),
        },
    }
}

/// The newest run of `target` that keyrot's own identity started at or after `since`.
async fn find_since(
    services: &Services,
    target: &TriggerTarget,
    definition: Option<&crate::devops::Definition>,
    since: OffsetDateTime,
) -> Result<Option<Start>, String> {
    let found = match (target, definition) {
        (
            TriggerTarget::Pipeline {
                organization,
                project,
                ..
            }
            | TriggerTarget::Release {
                organization,
                project,
                ..
            },
            Some(definition),
        ) => {
            let client = services.devops(organization)?;
            let me = services.devops_identity(&client).await?;
            let found = if matches!(target, TriggerTarget::Pipeline { .. }) {
                client.find_runs(project, definition.id, &me, since).await
            } else {
                client
                    .find_releases(project, definition.id, &me, since)
                    .await
            };
            found
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .map(|run| devops_start(RunStatus::Started, run))
        }
        (
            TriggerTarget::Workflow {
                repository,
                workflow,
                ..
            },
            _,
        ) => {
            let github = services.github().await?;
            let actor = services.github_actor(&github).await?;
            github
                .runs_since(
                    &repository.to_string(),
                    &workflow.as_request(),
                    &actor,
                    since,
                )
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .map(|run| Start {
                    status: RunStatus::Started,
                    id: Some(run.id.to_string()),
                    url: Some(run.html_url),
                })
        }
        _ => return Err("the pipeline or release definition was not resolved".into()),
    };
    Ok(found)
}

async fn start_new(
    services: &Services,
    target: &TriggerTarget,
    definition: Option<&crate::devops::Definition>,
) -> Result<Start, String> {
    match (target, definition) {
        (
            TriggerTarget::Pipeline {
                organization,
                project,
                branch,
                parameters,
                ..
            },
            Some(definition),
        ) => {
            let client = services.devops(organization)?;
            let run = client
                .run_pipeline(project, definition, branch.as_deref(), parameters)
                .await
                .map_err(|e| e.to_string())?;
            Ok(devops_start(RunStatus::Started, run))
        }
        (
            TriggerTarget::Release {
                organization,
                project,
                ..
            },
            Some(definition),
        ) => {
            let client = services.devops(organization)?;
            let release = client
                .create_release(
                    project,
                    definition,
                    "keyrot: a credential this release deploys was rotated",
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(devops_start(RunStatus::Started, release))
        }
        (
            TriggerTarget::Workflow {
                repository,
                workflow,
                git_ref,
                inputs,
            },
            _,
        ) => {
            let github = services.github().await?;
            let dispatched = github
                .dispatch_workflow(
                    &repository.to_string(),
                    &workflow.as_request(),
                    git_ref,
                    inputs,
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(Start {
                status: RunStatus::Started,
                id: dispatched.run.as_ref().map(|r| r.id.to_string()),
                url: dispatched.run.map(|r| r.html_url),
            })
        }
        _ => Err("the pipeline or release definition was not resolved".into()),
    }
}

fn devops_start(status: RunStatus, run: crate::devops::Started) -> Start {
    Start {
        status,
        id: Some(run.id.to_string()),
        url: run.web_url,
    }
}

/// The pipeline or release definition of a trigger (`None` for a workflow), once per run.
async fn resolve(
    services: &Services,
    target: &TriggerTarget,
) -> Result<Option<crate::devops::Definition>, String> {
    let found = match target {
        TriggerTarget::Pipeline {
            organization,
            project,
            pipeline,
            ..
        } => {
            let client = services.devops(organization)?;
            let name = pipeline.as_request();
            let key = format!("pipeline {}/{project}/{name}", organization.name);
            services
                .definition(key, || client.resolve_pipeline(project, &name))
                .await?
        }
        TriggerTarget::Release {
            organization,
            project,
            definition,
        } => {
            let client = services.devops(organization)?;
            let name = definition.as_request();
            let key = format!("release {}/{project}/{name}", organization.name);
            services
                .definition(key, || client.resolve_release_definition(project, &name))
                .await?
        }
        TriggerTarget::Workflow { .. } => return Ok(None),
    };
    Ok(Some(found))
}
