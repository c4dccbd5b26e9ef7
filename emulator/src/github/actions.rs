//! Workflows, `workflow_dispatch` and workflow runs. Each run records the values of the
//! secrets visible to it when it was created (organization, then repository, then its
//! environment's, each overriding the one before), so a test can prove that a run started
//! after a rotation sees the new value.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{error, timestamp, user_json, GithubState, GithubWorkflowSeed, Repository};
use crate::http::{Req, Resp};
use crate::seed::Redacted;

const DOCS: &str = "https://docs.github.com/rest/actions/workflows";
const RUNS_DOCS: &str = "https://docs.github.com/rest/actions/workflow-runs";

pub struct Workflow {
    pub id: u64,
    pub seed: GithubWorkflowSeed,
}

impl Workflow {
    fn file_name(&self) -> &str {
        self.seed.path.rsplit('/').next().unwrap_or(&self.seed.path)
    }

    fn name(&self) -> &str {
        self.seed.name.as_deref().unwrap_or(&self.seed.path)
    }
}

pub struct Run {
    pub id: u64,
    pub workflow_id: u64,
    pub run_number: u64,
    pub head_branch: String,
    pub actor: String,
    pub created_at: OffsetDateTime,
    pub inputs: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Redacted>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    ListWorkflows(String),
    GetWorkflow(String, String),
    Dispatch(String, String),
    ListRuns(String, String),
    GetRun(String, u64),
}

impl Op {
    pub fn parse(method: &str, s: &[&str]) -> Option<Op> {
        let ["repos", o, r, "actions", rest @ ..] = s else {
            return None;
        };
        let repo = format!("{o}/{r}").to_ascii_lowercase();
        Some(match (method, rest) {
            ("GET", ["workflows"]) => Op::ListWorkflows(repo),
            ("GET", ["workflows", wf]) => Op::GetWorkflow(repo, (*wf).to_owned()),
            ("POST", ["workflows", wf, "dispatches"]) => Op::Dispatch(repo, (*wf).to_owned()),
            ("GET", ["workflows", wf, "runs"]) => Op::ListRuns(repo, (*wf).to_owned()),
            ("GET", ["runs", id]) => Op::GetRun(repo, id.parse().ok()?),
            _ => return None,
        })
    }

    pub fn route(&self) -> &'static str {
        match self {
            Op::ListWorkflows(_) => "github.workflows.list",
            Op::GetWorkflow(..) => "github.workflows.get",
            Op::Dispatch(..) => "github.workflows.dispatch",
            Op::ListRuns(..) => "github.runs.list",
            Op::GetRun(..) => "github.runs.get",
        }
    }
}

fn find<'a>(repo: &'a Repository, wf: &str) -> Option<&'a Workflow> {
    repo.workflows
        .iter()
        .find(|w| w.id.to_string() == wf || w.file_name() == wf)
}

#[derive(Deserialize)]
struct DispatchBody {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    inputs: Option<serde_json::Map<String, Value>>,
    return_run_details: Option<bool>,
}

pub fn handle(gh: &mut GithubState, op: Op, req: &Req, actor: &str, api: &str) -> Resp {
    let not_found = || error(404, "Not Found", DOCS);
    match op {
        Op::ListWorkflows(repo) => {
            let Some(r) = gh.repositories.get(&repo) else {
                return not_found();
            };
            let list: Vec<Value> = r
                .workflows
                .iter()
                .map(|w| workflow_json(r, w, api))
                .collect();
            Resp::json(200, &json!({"total_count": list.len(), "workflows": list}))
        }
        Op::GetWorkflow(repo, wf) => {
            let Some(r) = gh.repositories.get(&repo) else {
                return not_found();
            };
            match find(r, &wf) {
                Some(w) => Resp::json(200, &workflow_json(r, w, api)),
                None => not_found(),
            }
        }
        Op::ListRuns(repo, wf) => {
            let Some(r) = gh.repositories.get(&repo) else {
                return not_found();
            };
            let Some(w) = find(r, &wf) else {
                return not_found();
            };
            let created = match req.query("created").map(parse_created).transpose() {
                Ok(c) => c,
                Err(()) => {
                    return error(
                        422,
                        "Invalid request.\n\nThe created filter is not valid.",
                        RUNS_DOCS,
                    )
                }
            };
            let mut runs: Vec<Value> = r
                .runs
                .iter()
                .rev()
                .filter(|run| run.workflow_id == w.id)
                .filter(|run| {
                    req.query("actor")
                        .is_none_or(|a| a.eq_ignore_ascii_case(&run.actor))
                })
                .filter(|run| req.query("branch").is_none_or(|b| b == run.head_branch))
                .filter(|_| req.query("event").is_none_or(|e| e == "workflow_dispatch"))
                .filter(|run| created.as_ref().is_none_or(|c| c.matches(run.created_at)))
                .map(|run| run_json(r, w, run, api))
                .collect();
            let total = runs.len();
            let per_page = req
                .query("per_page")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(30)
                .clamp(1, 100);
            let page = req
                .query("page")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            runs = runs
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            Resp::json(200, &json!({"total_count": total, "workflow_runs": runs}))
        }
        Op::GetRun(repo, id) => {
            let Some(r) = gh.repositories.get(&repo) else {
                return not_found();
            };
            let found = r.runs.iter().find(|run| run.id == id).and_then(|run| {
                let w = r.workflows.iter().find(|w| w.id == run.workflow_id)?;
                Some(run_json(r, w, run, api))
            });
            match found {
                Some(v) => Resp::json(200, &v),
                None => error(404, "Not Found", RUNS_DOCS),
            }
        }
        Op::Dispatch(repo, wf) => dispatch(gh, &repo, &wf, &req.body, actor, api),
    }
}

fn dispatch(
    gh: &mut GithubState,
    repo_key: &str,
    wf: &str,
    body: &[u8],
    actor: &str,
    api: &str,
) -> Resp {
    let docs = format!("{DOCS}#create-a-workflow-dispatch-event");
    let invalid = |why: String| error(422, &why, &docs);
    let Some(repo) = gh.repositories.get(repo_key) else {
        return error(404, "Not Found", &docs);
    };
    let Some(workflow) = find(repo, wf) else {
        return error(404, "Not Found", &docs);
    };
    let Ok(body) = serde_json::from_slice::<DispatchBody>(body) else {
        return error(400, "Problems parsing JSON", &docs);
    };
    if repo.ghes && body.return_run_details.is_some() {
        return error(
            400,
            "Invalid request.\n\n\"return_run_details\" is not a permitted key.",
            &docs,
        );
    }
    let Some(git_ref) = body.git_ref else {
        return invalid("Invalid request.\n\n\"ref\" wasn't supplied.".into());
    };
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(&git_ref);
    if !repo.branches.iter().any(|b| b == branch) {
        return invalid(format!("No ref found for: {git_ref}"));
    }
    if !workflow.seed.dispatch {
        return invalid("Workflow does not have 'workflow_dispatch' trigger".into());
    }
    let given = body.inputs.unwrap_or_default();
    let unexpected: Vec<&String> = given
        .keys()
        .filter(|k| !workflow.seed.inputs.contains_key(*k))
        .collect();
    if !unexpected.is_empty() {
        return invalid(format!("Unexpected inputs provided: {}", json!(unexpected)));
    }
    let mut inputs = BTreeMap::new();
    for (name, decl) in &workflow.seed.inputs {
        match (given.get(name), &decl.default) {
            (Some(v), _) => {
                inputs.insert(
                    name.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                );
            }
            (None, _) if decl.required => {
                return invalid(format!("Required input '{name}' not provided"))
            }
            (None, Some(d)) => {
                inputs.insert(name.clone(), d.clone());
            }
            (None, None) => {}
        }
    }
    let secrets = gh.visible_secrets(repo_key, workflow.seed.environment.as_deref());
    let workflow_id = workflow.id;
    gh.next_run_id += 1;
    let id = gh.next_run_id;
    let Some(repo) = gh.repositories.get_mut(repo_key) else {
        return error(404, "Not Found", &docs);
    };
    let run_number = repo
        .runs
        .iter()
        .filter(|r| r.workflow_id == workflow_id)
        .count() as u64
        + 1;
    repo.runs.push(Run {
        id,
        workflow_id,
        run_number,
        head_branch: branch.to_owned(),
        actor: actor.to_owned(),
        created_at: super::now(),
        inputs,
        secrets,
    });
    if body.return_run_details == Some(true) {
        Resp::json(
            200,
            &json!({
                "workflow_run_id": id,
                "run_url": format!("{api}/repos/{}/actions/runs/{id}", repo.full_name),
                "html_url": format!("{}/{}/actions/runs/{id}", super::WEB, repo.full_name),
            }),
        )
    } else {
        Resp::empty(204)
    }
}

impl GithubState {
    /// The secrets a job of `repo` sees: organization secrets the repository may use, then the
    /// repository's, then the environment's, later ones overriding earlier ones by name.
    fn visible_secrets(
        &self,
        repo_key: &str,
        environment: Option<&str>,
    ) -> BTreeMap<String, Redacted> {
        let mut seen = BTreeMap::new();
        let Some(repo) = self.repositories.get(repo_key) else {
            return seen;
        };
        let owner = repo_key.split('/').next().unwrap_or_default();
        if let Some(org) = self.organizations.get(owner) {
            for s in org.store.secrets.values() {
                let visible = match s.visibility.as_deref() {
                    Some("selected") => s.selected_repository_ids.contains(&repo.id),
                    _ => true,
                };
                if visible {
                    seen.insert(s.name.clone(), s.value.clone());
                }
            }
        }
        let env = environment.and_then(|e| repo.environments.get(&e.to_ascii_lowercase()));
        for store in std::iter::once(&repo.store).chain(env) {
            for s in store.secrets.values() {
                seen.insert(s.name.clone(), s.value.clone());
            }
        }
        seen
    }
}

/// `created` of the runs list: `>=T`, `>T`, `<=T`, `<T`, `A..B` or a single day/instant.
#[derive(Debug)]
struct Created {
    from: Option<(OffsetDateTime, bool)>,
    to: Option<(OffsetDateTime, bool)>,
}

impl Created {
    fn matches(&self, t: OffsetDateTime) -> bool {
        let after = self
            .from
            .is_none_or(|(f, inclusive)| if inclusive { t >= f } else { t > f });
        let before = self
            .to
            .is_none_or(|(b, inclusive)| if inclusive { t <= b } else { t < b });
        after && before
    }
}

fn parse_created(q: &str) -> Result<Created, ()> {
    let q = q.trim();
    let instant = |s: &str, end_of_day: bool| -> Result<OffsetDateTime, ()> {
        if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
            return Ok(t);
        }
        let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| ())?;
        let t = if end_of_day {
            d.with_hms(23, 59, 59).map_err(|_| ())?
        } else {
            d.midnight()
        };
        Ok(t.assume_utc())
    };
    Ok(if let Some(s) = q.strip_prefix(">=") {
        Created {
            from: Some((instant(s, false)?, true)),
            to: None,
        }
    } else if let Some(s) = q.strip_prefix('>') {
        Created {
            from: Some((instant(s, true)?, false)),
            to: None,
        }
    } else if let Some(s) = q.strip_prefix("<=") {
        Created {
            from: None,
            to: Some((instant(s, true)?, true)),
        }
    } else if let Some(s) = q.strip_prefix('<') {
        Created {
            from: None,
            to: Some((instant(s, false)?, false)),
        }
    } else if let Some((a, b)) = q.split_once("..") {
        Created {
            from: Some((instant(a, false)?, true)),
            to: Some((instant(b, true)?, true)),
        }
    } else {
        Created {
            from: Some((instant(q, false)?, true)),
            to: Some((instant(q, true)?, true)),
        }
    })
}

fn workflow_json(repo: &Repository, w: &Workflow, api: &str) -> Value {
    json!({
        "id": w.id,
        "node_id": format!("W_kwDO{}", w.id),
        "name": w.name(),
        "path": w.seed.path,
        "state": "active",
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.created_at),
        "url": format!("{api}/repos/{}/actions/workflows/{}", repo.full_name, w.id),
        "html_url": format!("{}/{}/blob/main/{}", super::WEB, repo.full_name, w.seed.path),
        "badge_url": format!("{}/{}/workflows/{}/badge.svg", super::WEB, repo.full_name, w.name()),
    })
}

fn run_json(repo: &Repository, w: &Workflow, run: &Run, api: &str) -> Value {
    let full = &repo.full_name;
    let actor = user_json(&run.actor, api);
    json!({
        "id": run.id,
        "name": w.name(),
        "node_id": format!("WFR_kwLO{}", run.id),
        "head_branch": run.head_branch,
        "head_sha": format!("{:040x}", run.id),
        "path": w.seed.path,
        "display_title": w.name(),
        "run_number": run.run_number,
        "run_attempt": 1,
        "event": "workflow_dispatch",
        "status": "queued",
        "conclusion": null,
        "workflow_id": w.id,
        "url": format!("{api}/repos/{full}/actions/runs/{}", run.id),
        "html_url": format!("{}/{full}/actions/runs/{}", super::WEB, run.id),
        "jobs_url": format!("{api}/repos/{full}/actions/runs/{}/jobs", run.id),
        "logs_url": format!("{api}/repos/{full}/actions/runs/{}/logs", run.id),
        "workflow_url": format!("{api}/repos/{full}/actions/workflows/{}", w.id),
        "created_at": timestamp(run.created_at),
        "updated_at": timestamp(run.created_at),
        "run_started_at": timestamp(run.created_at),
        "actor": actor,
        "triggering_actor": actor,
        "repository": {"id": repo.id, "name": full.split('/').nth(1).unwrap_or_default(), "full_name": full},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_filters() {
        let t = OffsetDateTime::parse(
            "2026-12-04T10:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(parse_created(">=2026-12-04T10:00:00Z").unwrap().matches(t));
        assert!(!parse_created(">2026-12-04T10:00:00Z").unwrap().matches(t));
        assert!(parse_created("2026-12-04").unwrap().matches(t));
        assert!(!parse_created("2026-12-05..2026-12-06").unwrap().matches(t));
        assert!(parse_created("<=2026-12-04").unwrap().matches(t));
        assert!(parse_created("yesterday").is_err());
    }
}
