//! Workflow dispatches and the runs they create.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::OffsetDateTime;

use super::{repo_path, GithubClient, GithubError, GithubErrorKind};
use crate::ci::inert;

const ACTIONS_WRITE: &str = "repository permission \"Actions: write\" (fine-grained token or GitHub App) or the `repo` scope (classic token)";

/// A run GitHub says a dispatch created.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunLink {
    #[serde(rename = "workflow_run_id")]
    pub id: u64,
    /// The run in the API.
    pub run_url: String,
    /// The run's page.
    pub html_url: String,
}

/// What a dispatch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// `None` when the server refused `return_run_details` (GitHub Enterprise Server ≤ 3.20)
    /// and the plain form was used: GitHub then says nothing about the run it started; find
    /// it with [`GithubClient::runs_since`].
    pub run: Option<RunLink>,
}

/// A run of a workflow, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRun {
    pub id: u64,
    pub html_url: String,
    pub created_at: OffsetDateTime,
    /// Login of whoever started it.
    pub actor: String,
    pub event: String,
    pub head_branch: Option<String>,
}

#[derive(Deserialize)]
struct RunsPage {
    workflow_runs: Vec<RunWire>,
}

#[derive(Deserialize)]
struct RunWire {
    id: u64,
    html_url: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    actor: Option<Login>,
    event: String,
    head_branch: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct AppWire {
    slug: String,
}

/// A workflow as a dispatch route names it: its numeric id or its file name (`deploy.yml`).
fn check_workflow(workflow: &str) -> Result<(), GithubError> {
    let ok = !workflow.is_empty()
        && workflow != "."
        && workflow != ".."
        && workflow
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(GithubError::config(format!(
            "workflow {} is neither a workflow id nor a workflow file name such as deploy.yml",
            inert::one_line(workflow)
        )))
    }
}

impl GithubClient {
    /// `POST …/actions/workflows/{workflow}/dispatches` asking for the run's id and URLs; where
    /// the server refuses that field with 400 (GHES ≤ 3.20), the plain form (204, no run id).
    pub async fn dispatch_workflow(
        &self,
        repository: &str,
        workflow: &str,
        git_ref: &str,
        inputs: &BTreeMap<String, String>,
    ) -> Result<Dispatched, GithubError> {
        check_workflow(workflow)?;
        let route = format!(
            "/repos/{}/actions/workflows/{workflow}/dispatches",
            repo_path(repository)?
        );
        let what = format!(
            "workflow {} of {}",
            inert::one_line(workflow),
            inert::one_line(repository)
        );
        let doing = format!("dispatching {what}");
        let crab = self.client_for_repo(repository, ACTIONS_WRITE).await?;
        let mut body = serde_json::json!({"ref": git_ref, "inputs": inputs});
        body["return_run_details"] = true.into();
        let answer = crab
            ._post(route.as_str(), Some(&body))
            .await
            .map_err(|e| GithubError::from_github(e, &doing, &what, ACTIONS_WRITE))?;
        let refused_details = answer.status().as_u16() == 400;
        let answer = if refused_details {
            tracing::info!("{what}: the server refused return_run_details (GitHub Enterprise Server before 3.21?); dispatching without it, so the run's id is not known");
            if let Some(fields) = body.as_object_mut() {
                fields.remove("return_run_details");
            }
            crab._post(route.as_str(), Some(&body))
                .await
                .map_err(|e| GithubError::from_github(e, &doing, &what, ACTIONS_WRITE))?
        } else {
            answer
        };
        let answer = octocrab::map_github_error(answer)
            .await
            .map_err(|e| GithubError::from_github(e, &doing, &what, ACTIONS_WRITE))
            .map_err(|mut e| {
                if e.kind == GithubErrorKind::Config {
                    e.message.push_str(": the ref must be a branch or tag of the repository, and the workflow must have a workflow_dispatch trigger declaring every input keyrot sends (and receive every required one)");
                }
                e
            })?;
        match answer.status().as_u16() {
            204 => Ok(Dispatched { run: None }),
            200 => {
                let bytes = http_body_util::BodyExt::collect(answer.into_body())
                    .await
                    .map_err(|e| GithubError::runtime(format!("{doing}: reading the answer: {e}")))?
                    .to_bytes();
                let run: RunLink = serde_json::from_slice(&bytes).map_err(|e| {
                    GithubError::runtime(format!(
                        "{doing}: the answer is not GitHub's run details: {e}"
                    ))
                })?;
                Ok(Dispatched { run: Some(run) })
            }
            other => Err(GithubError::runtime(format!(
                "{doing}: GitHub answered {other}, expected 200 or 204"
            ))),
        }
    }

    /// Runs of `workflow` started by `workflow_dispatch` from `actor` at or after `since`
    /// (whole seconds, as GitHub stamps them), newest first: after a crash between marking a
    /// dispatch and recording its run, the run to adopt instead of dispatching twice.
    pub async fn runs_since(
        &self,
        repository: &str,
        workflow: &str,
        actor: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<WorkflowRun>, GithubError> {
        check_workflow(workflow)?;
        let since = since.replace_nanosecond(0).unwrap_or(since);
        let stamp = since
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("event", "workflow_dispatch")
            .append_pair("actor", actor)
            .append_pair("created", &format!(">={stamp}"))
            .append_pair("per_page", "100")
            .finish();
        let route = format!(
            "/repos/{}/actions/workflows/{workflow}/runs?{query}",
            repo_path(repository)?
        );
        let what = format!(
            "workflow {} of {}",
            inert::one_line(workflow),
            inert::one_line(repository)
        );
        let doing = format!("listing the runs of {what}");
        let page: RunsPage = self
            .client_for_repo(repository, ACTIONS_WRITE)
            .await?
            .get(route, None::<&()>)
            .await
            .map_err(|e| GithubError::from_github(e, &doing, &what, ACTIONS_WRITE))?;
        Ok(page
            .workflow_runs
            .into_iter()
            .filter_map(|r| {
                let run = WorkflowRun {
                    id: r.id,
                    html_url: r.html_url,
                    created_at: r.created_at,
                    actor: r.actor?.login,
                    event: r.event,
                    head_branch: r.head_branch,
                };
                (run.created_at >= since
                    && run.event == "workflow_dispatch"
                    && run.actor.eq_ignore_ascii_case(actor))
                .then_some(run)
            })
            .collect())
    }

    /// The login GitHub records as the actor of what this credential starts: `{slug}[bot]` for
    /// a GitHub App, the token's user, or `github-actions[bot]` for a workflow's own token.
    pub async fn actor_login(&self) -> Result<String, GithubError> {
        if self.app {
            let app: AppWire = self.crab.get("/app", None::<&()>).await.map_err(|e| {
                GithubError::from_github(
                    e,
                    "reading the GitHub App",
                    "the GitHub App",
                    "a valid App id and private key",
                )
            })?;
            return Ok(format!("{}[bot]", app.slug));
        }
        match self.crab.get::<Login, _, ()>("/user", None).await {
            Ok(user) => Ok(user.login),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 403 => {
                Ok("github-actions[bot]".to_owned())
            }
            Err(e) => Err(GithubError::from_github(
                e,
                "reading the token's user",
                "the token's user",
                "a valid token",
            )),
        }
    }
}
