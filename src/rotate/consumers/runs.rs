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
/// `adopt_since`.
pub async fn start(
    services: &Services,
    target: &TriggerTarget,
    adopt_since: Option<OffsetDateTime>,
) -> Result<Start, String> {
    let definition = resolve(services, target).await?;
    match target {
        TriggerTarget::Pipeline {
            organization,
            project,
            branch,
            parameters,
            ..
        } => {
            let client = services.devops(organization)?;
            let definition = definition.ok_or("no pipeline")?;
            if let Some(since) = adopt_since {
                let me = services.devops_identity(&client).await?;
                let found = client
                    .find_runs(project, definition.id, &me, since)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(run) = found.into_iter().next() {
                    return Ok(devops_start(RunStatus::Adopted, run));
                }
            }
            let run = client
                .run_pipeline(project, &definition, branch.as_deref(), parameters)
                .await
                .map_err(|e| e.to_string())?;
            Ok(devops_start(RunStatus::Started, run))
        }
        TriggerTarget::Release {
            organization,
            project,
            ..
        } => {
            let client = services.devops(organization)?;
            let definition = definition.ok_or("no release definition")?;
            if let Some(since) = adopt_since {
                let me = services.devops_identity(&client).await?;
                let found = client
                    .find_releases(project, definition.id, &me, since)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(release) = found.into_iter().next() {
                    return Ok(devops_start(RunStatus::Adopted, release));
                }
            }
            let release = client
                .create_release(
                    project,
                    &definition,
                    "keyrot: a credential this release deploys was rotated",
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(devops_start(RunStatus::Started, release))
        }
        TriggerTarget::Workflow {
            repository,
            workflow,
            git_ref,
            inputs,
        } => {
            let github = services.github().await?;
            let (repository, workflow) = (repository.to_string(), workflow.as_request());
            let actor = match adopt_since {
                Some(_) => Some(services.github_actor(&github).await?),
                None => None,
            };
            if let (Some(since), Some(actor)) = (adopt_since, &actor) {
                let found = github
                    .runs_since(&repository, &workflow, actor, since)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(run) = found.into_iter().next() {
                    return Ok(Start {
                        status: RunStatus::Adopted,
                        id: Some(run.id.to_string()),
                        url: Some(run.html_url),
                    });
                }
            }
            let dispatched = github
                .dispatch_workflow(&repository, &workflow, git_ref, inputs)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Start {
                status: RunStatus::Started,
                id: dispatched.run.as_ref().map(|r| r.id.to_string()),
                url: dispatched.run.map(|r| r.html_url),
            })
        }
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
