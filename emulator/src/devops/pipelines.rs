//! YAML pipelines (`_apis/pipelines`, their runs, and the Build API's list that finds a run
//! after a crash) and classic releases (`vsrm…/_apis/release`). Every run and release records
//! the values of its variable groups when it is created: a new run sees a new value, while a
//! redeploy of an old release would see the old one.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::seed::{PipelineSeed, ReleaseDefinitionSeed};
use super::{bad_request, error, identity_json, Org, Project};
use crate::graph::format_time;
use crate::http::{Req, Resp};
use crate::seed::Redacted;
use crate::state::{random_hex, State};

pub struct Pipeline {
    pub id: u32,
    pub name: String,
    pub folder: String,
    pub parameters: Vec<String>,
    pub settable_variables: Vec<String>,
    pub variable_groups: Vec<String>,
    pub default_branch: String,
}

pub struct ReleaseDefinition {
    pub id: u32,
    pub name: String,
    pub variable_groups: Vec<String>,
    /// (alias, default version).
    pub artifacts: Vec<(String, Option<String>)>,
    pub environments: Vec<String>,
}

/// A pipeline run or a release: who started it, with what, and the variable-group values it
/// captured.
pub struct Started {
    pub id: u32,
    pub release: bool,
    pub definition_id: u32,
    pub project_id: String,
    pub name: String,
    pub created: OffsetDateTime,
    pub by: usize,
    pub branch: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub artifacts: Vec<(String, String)>,
    /// Group name → variable name → value, as they were at creation.
    pub snapshot: BTreeMap<String, BTreeMap<String, Redacted>>,
}

pub fn build_pipeline(p: &PipelineSeed) -> Pipeline {
    Pipeline {
        id: p.id,
        name: p.name.clone(),
        folder: p.folder.clone().unwrap_or_else(|| "\\".into()),
        parameters: p.parameters.clone(),
        settable_variables: p.settable_variables.clone(),
        variable_groups: p.variable_groups.clone(),
        default_branch: branch_ref(p.default_branch.as_deref().unwrap_or("main")),
    }
}

pub fn build_definition(d: &ReleaseDefinitionSeed) -> ReleaseDefinition {
    ReleaseDefinition {
        id: d.id,
        name: d.name.clone(),
        variable_groups: d.variable_groups.clone(),
        artifacts: d
            .artifacts
            .iter()
            .map(|a| (a.alias.clone(), a.default_version.clone()))
            .collect(),
        environments: if d.environments.is_empty() {
            vec!["Stage 1".into()]
        } else {
            d.environments.clone()
        },
    }
}

fn branch_ref(b: &str) -> String {
    if b.starts_with("refs/") {
        b.to_owned()
    } else {
        format!("refs/heads/{b}")
    }
}

fn snapshot(
    org: &Org,
    project: &Project,
    groups: &[String],
) -> BTreeMap<String, BTreeMap<String, Redacted>> {
    groups
        .iter()
        .filter_map(|name| {
            org.groups
                .iter()
                .find(|g| {
                    g.name.eq_ignore_ascii_case(name)
                        && g.references.iter().any(|r| r.project_id == project.id)
                })
                .map(|g| {
                    (
                        g.name.clone(),
                        g.variables
                            .iter()
                            .map(|v| (v.name.clone(), v.value.clone()))
                            .collect(),
                    )
                })
        })
        .collect()
}

fn validation(message: &str) -> Resp {
    error(
        400,
        "Microsoft.Azure.Pipelines.WebApi.PipelineValidationException, Microsoft.Azure.Pipelines.WebApi",
        "PipelineValidationException",
        message,
    )
}

fn pipeline_not_found(id: &str) -> Resp {
    error(
        404,
        "Microsoft.Azure.Pipelines.WebApi.PipelineNotFoundException, Microsoft.Azure.Pipelines.WebApi",
        "PipelineNotFoundException",
        &format!("Pipeline with id {id} not found."),
    )
}

fn definition_not_found(id: &str) -> Resp {
    error(
        404,
        "Microsoft.VisualStudio.Services.ReleaseManagement.Data.Exceptions.ReleaseDefinitionNotFoundException, Microsoft.VisualStudio.Services.ReleaseManagement2.Data",
        "ReleaseDefinitionNotFoundException",
        &format!("VS402856: Release pipeline with id {id} does not exist. Specify a valid id and try again."),
    )
}

/// Who creates a run or release, and when.
pub struct Caller {
    /// Index into the identities.
    pub by: usize,
    pub now: OffsetDateTime,
}

/// Where links point: the organization's web and API roots.
pub struct Roots<'a> {
    /// `https://devops.localhost:PORT/{org}`
    pub web: &'a str,
    /// `https://vsrm.devops.localhost:PORT/{org}`
    pub vsrm: &'a str,
}

fn pipeline_ref(roots: &Roots<'_>, project: &Project, p: &Pipeline) -> Value {
    json!({
        "folder": p.folder, "id": p.id, "name": p.name, "revision": 1,
        "url": format!("{}/{}/_apis/pipelines/{}?revision=1", roots.web, project.id, p.id),
    })
}

fn run_json(st: &State, roots: &Roots<'_>, project: &Project, p: &Pipeline, r: &Started) -> Value {
    let web = format!(
        "{}/{}/_build/results?buildId={}",
        roots.web, project.id, r.id
    );
    let url = format!(
        "{}/{}/_apis/pipelines/{}/runs/{}",
        roots.web, project.id, p.id, r.id
    );
    json!({
        "id": r.id,
        "name": r.name,
        "_links": {
            "self": {"href": url},
            "web": {"href": web},
            "pipeline.web": {"href": format!("{}/{}/_build/definition?definitionId={}", roots.web, project.id, p.id)},
            "pipeline": {"href": format!("{}/{}/_apis/pipelines/{}?revision=1", roots.web, project.id, p.id)},
        },
        "createdDate": format_time(r.created),
        "finishedDate": null,
        "pipeline": pipeline_ref(roots, project, p),
        "resources": {"repositories": {"self": {
            "refName": r.branch, "repository": {"type": "azureReposGit"}, "version": random_hex(20),
        }}},
        "state": "inProgress",
        "templateParameters": r.parameters,
        "url": url,
        "requestedBy": identity_json(st, roots.web, r.by),
    })
}

fn build_json(
    st: &State,
    roots: &Roots<'_>,
    project: &Project,
    p: &Pipeline,
    r: &Started,
) -> Value {
    json!({
        "id": r.id,
        "buildNumber": r.name,
        "status": "inProgress",
        "queueTime": format_time(r.created),
        "startTime": format_time(r.created),
        "definition": {"id": p.id, "name": p.name, "path": p.folder, "type": "build"},
        "project": {"id": project.id, "name": project.name},
        "requestedFor": identity_json(st, roots.web, r.by),
        "requestedBy": identity_json(st, roots.web, r.by),
        "sourceBranch": r.branch,
        "reason": "manual",
        "url": format!("{}/{}/_apis/build/Builds/{}", roots.web, project.id, r.id),
        "_links": {"web": {"href": format!("{}/{}/_build/results?buildId={}", roots.web, project.id, r.id)}},
    })
}

fn release_json(
    st: &State,
    roots: &Roots<'_>,
    project: &Project,
    d: &ReleaseDefinition,
    r: &Started,
) -> Value {
    let url = format!(
        "{}/{}/_apis/Release/releases/{}",
        roots.vsrm, project.id, r.id
    );
    let environments: Vec<Value> = d
        .environments
        .iter()
        .enumerate()
        .map(|(i, name)| json!({
            "id": r.id * 100 + i as u32 + 1, "releaseId": r.id, "name": name, "status": "notStarted",
            "definitionEnvironmentId": i + 1, "rank": i + 1,
        }))
        .collect();
    json!({
        "id": r.id,
        "name": r.name,
        "status": "active",
        "createdOn": format_time(r.created),
        "modifiedOn": format_time(r.created),
        "createdBy": identity_json(st, roots.web, r.by),
        "modifiedBy": identity_json(st, roots.web, r.by),
        "environments": environments,
        "variableGroups": [],
        "artifacts": r.artifacts.iter().map(|(alias, version)| json!({
            "alias": alias, "type": "Build",
            "definitionReference": {"version": {"id": version, "name": version}},
        })).collect::<Vec<_>>(),
        "reason": "manual",
        "description": "",
        "url": url,
        "_links": {
            "self": {"href": url},
            "web": {"href": format!("{}/{}/_release?releaseId={}&_a=release-summary", roots.web, project.id, r.id)},
        },
        "releaseDefinition": {"id": d.id, "name": d.name, "url": format!("{}/{}/_apis/Release/definitions/{}", roots.vsrm, project.id, d.id)},
        "projectReference": {"id": project.id, "name": project.name},
    })
}

fn definition_json(roots: &Roots<'_>, project: &Project, d: &ReleaseDefinition) -> Value {
    json!({
        "id": d.id, "name": d.name, "path": "\\", "revision": 1,
        "url": format!("{}/{}/_apis/Release/definitions/{}", roots.vsrm, project.id, d.id),
        "artifacts": d.artifacts.iter().map(|(alias, v)| json!({"alias": alias, "type": "Build", "isPrimary": true,
            "definitionReference": {"defaultVersionType": {"id": if v.is_some() { "specificVersionType" } else { "selectDuringReleaseCreationType" }}}})).collect::<Vec<_>>(),
        "environments": d.environments.iter().enumerate().map(|(i, n)| json!({"id": i + 1, "name": n, "rank": i + 1})).collect::<Vec<_>>(),
        "_links": {"web": {"href": format!("{}/{}/_release?definitionId={}", roots.web, project.id, d.id)}},
    })
}

fn list(values: Vec<Value>) -> Resp {
    Resp::json(200, &json!({"count": values.len(), "value": values}))
}

fn project_of<'a>(st: &'a State, org: &str, project: &str) -> Result<(&'a Org, &'a Project), Resp> {
    super::variable_groups::org_and_project(st, org, project)
}

fn find_pipeline<'a>(project: &'a Project, id: &str) -> Result<&'a Pipeline, Resp> {
    id.parse::<u32>()
        .ok()
        .and_then(|n| project.pipelines.iter().find(|p| p.id == n))
        .ok_or_else(|| pipeline_not_found(id))
}

pub fn pipelines_list(st: &State, roots: &Roots<'_>, org: &str, project: &str) -> Resp {
    match project_of(st, org, project) {
        Ok((_, p)) => list(
            p.pipelines
                .iter()
                .map(|x| pipeline_ref(roots, p, x))
                .collect(),
        ),
        Err(r) => r,
    }
}

pub fn pipeline_get(st: &State, roots: &Roots<'_>, org: &str, project: &str, id: &str) -> Resp {
    match project_of(st, org, project).and_then(|(_, p)| Ok((p, find_pipeline(p, id)?))) {
        Ok((p, x)) => Resp::json(200, &pipeline_ref(roots, p, x)),
        Err(r) => r,
    }
}

pub fn runs_list(st: &State, roots: &Roots<'_>, org: &str, project: &str, id: &str) -> Resp {
    let (o, p, x) =
        match project_of(st, org, project).and_then(|(o, p)| Ok((o, p, find_pipeline(p, id)?))) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let mut runs: Vec<&Started> = o
        .runs
        .iter()
        .filter(|r| !r.release && r.definition_id == x.id && r.project_id == p.id)
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.id));
    list(
        runs.into_iter()
            .map(|r| run_json(st, roots, p, x, r))
            .collect(),
    )
}

pub fn run_get(
    st: &State,
    roots: &Roots<'_>,
    org: &str,
    project: &str,
    id: &str,
    run: &str,
) -> Resp {
    let (o, p, x) =
        match project_of(st, org, project).and_then(|(o, p)| Ok((o, p, find_pipeline(p, id)?))) {
            Ok(v) => v,
            Err(r) => return r,
        };
    match o.runs.iter().find(|r| !r.release && r.definition_id == x.id && r.id.to_string() == run) {
        Some(r) => Resp::json(200, &run_json(st, roots, p, x, r)),
        None => error(404, "Microsoft.Azure.Pipelines.WebApi.RunNotFoundException, Microsoft.Azure.Pipelines.WebApi", "RunNotFoundException", &format!("Run with id {run} not found for pipeline {}.", x.id)),
    }
}

pub fn run_post(
    st: &mut State,
    roots: &Roots<'_>,
    req: &Req,
    org: &str,
    project: &str,
    id: &str,
    caller: Caller,
) -> Resp {
    let Caller { by, now } = caller;
    let (o, p, x) =
        match project_of(st, org, project).and_then(|(o, p)| Ok((o, p, find_pipeline(p, id)?))) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("The request body is not a RunPipelineParameters object."),
        }
    };
    let params: BTreeMap<String, String> = body
        .get("templateParameters")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let undeclared: Vec<&String> = params
        .keys()
        .filter(|k| !x.parameters.iter().any(|d| d.eq_ignore_ascii_case(k)))
        .collect();
    if !undeclared.is_empty() {
        let names: Vec<String> = undeclared.iter().map(|n| format!("'{n}'")).collect();
        return validation(&format!("Unexpected parameter {}", names.join(", ")));
    }
    let vars: Vec<String> = body
        .get("variables")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let unsettable: Vec<&String> = vars
        .iter()
        .filter(|v| {
            !x.settable_variables
                .iter()
                .any(|s| s.eq_ignore_ascii_case(v))
        })
        .collect();
    if !unsettable.is_empty() {
        let names: Vec<&str> = unsettable.iter().map(|s| s.as_str()).collect();
        return validation(&format!("See https://aka.ms/AzPipelines/SettingVariablesAtQueueTime - You can't set the following variables ({}). If you want to be able to set these variables, then edit the pipeline and select Settable at queue time on the variables tab.", names.join(",")));
    }
    let branch = body
        .pointer("/resources/repositories/self/refName")
        .and_then(Value::as_str)
        .map_or_else(|| x.default_branch.clone(), branch_ref);
    let snap = snapshot(o, p, &x.variable_groups);
    let (project_id, pipeline_id) = (p.id.clone(), x.id);
    let org_mut = st.devops.org_mut(org).expect("organization found above");
    let id = org_mut
        .runs
        .iter()
        .filter(|r| !r.release)
        .map(|r| r.id)
        .max()
        .unwrap_or(0)
        + 1;
    let day = format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let same_day = org_mut
        .runs
        .iter()
        .filter(|r| !r.release && r.name.starts_with(&day))
        .count();
    org_mut.runs.push(Started {
        id,
        release: false,
        definition_id: pipeline_id,
        project_id,
        name: format!("{day}.{}", same_day + 1),
        created: now,
        by,
        branch: Some(branch),
        parameters: params,
        artifacts: Vec::new(),
        snapshot: snap,
    });
    run_get(
        st,
        roots,
        org,
        project,
        &pipeline_id.to_string(),
        &id.to_string(),
    )
}

pub fn builds_list(st: &State, roots: &Roots<'_>, req: &Req, org: &str, project: &str) -> Resp {
    let (o, p) = match project_of(st, org, project) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let definitions: Option<Vec<u32>> = req
        .query("definitions")
        .map(|d| d.split(',').filter_map(|s| s.trim().parse().ok()).collect());
    let min_time = match req.query("minTime") {
        None => None,
        Some(t) => match parse_time(t) {
            Some(t) => Some(t),
            None => return bad_request(&format!("The value '{t}' is not valid for minTime.")),
        },
    };
    let requested_for = req.query("requestedFor");
    let mut builds: Vec<(&Started, &Pipeline)> = o
        .runs
        .iter()
        .filter(|r| !r.release && r.project_id == p.id)
        .filter(|r| {
            definitions
                .as_ref()
                .is_none_or(|d| d.contains(&r.definition_id))
        })
        .filter(|r| min_time.is_none_or(|t| r.created >= t))
        .filter(|r| requested_for.is_none_or(|who| identity_matches(st, r.by, who)))
        .filter_map(|r| {
            p.pipelines
                .iter()
                .find(|x| x.id == r.definition_id)
                .map(|x| (r, x))
        })
        .collect();
    builds.sort_by_key(|(r, _)| std::cmp::Reverse(r.id));
    list(
        builds
            .into_iter()
            .map(|(r, x)| build_json(st, roots, p, x, r))
            .collect(),
    )
}

fn identity_matches(st: &State, index: usize, who: &str) -> bool {
    st.devops.identities.get(index).is_some_and(|i| {
        i.id.eq_ignore_ascii_case(who)
            || i.unique_name.eq_ignore_ascii_case(who)
            || i.display_name.eq_ignore_ascii_case(who)
    })
}

fn parse_time(v: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(v, &Rfc3339).ok()
}

fn find_definition<'a>(project: &'a Project, id: &str) -> Result<&'a ReleaseDefinition, Resp> {
    id.parse::<u32>()
        .ok()
        .and_then(|n| project.release_definitions.iter().find(|d| d.id == n))
        .ok_or_else(|| definition_not_found(id))
}

pub fn definitions_list(st: &State, roots: &Roots<'_>, org: &str, project: &str) -> Resp {
    match project_of(st, org, project) {
        Ok((_, p)) => list(
            p.release_definitions
                .iter()
                .map(|d| definition_json(roots, p, d))
                .collect(),
        ),
        Err(r) => r,
    }
}

pub fn definition_get(st: &State, roots: &Roots<'_>, org: &str, project: &str, id: &str) -> Resp {
    match project_of(st, org, project).and_then(|(_, p)| Ok((p, find_definition(p, id)?))) {
        Ok((p, d)) => Resp::json(200, &definition_json(roots, p, d)),
        Err(r) => r,
    }
}

pub fn releases_list(st: &State, roots: &Roots<'_>, req: &Req, org: &str, project: &str) -> Resp {
    let (o, p) = match project_of(st, org, project) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let definition: Option<u32> = req.query("definitionId").and_then(|d| d.parse().ok());
    let min_time = match req.query("minCreatedTime") {
        None => None,
        Some(t) => match parse_time(t) {
            Some(t) => Some(t),
            None => {
                return bad_request(&format!("The value '{t}' is not valid for minCreatedTime."))
            }
        },
    };
    let created_by = req.query("createdBy");
    let mut releases: Vec<(&Started, &ReleaseDefinition)> = o
        .runs
        .iter()
        .filter(|r| r.release && r.project_id == p.id)
        .filter(|r| definition.is_none_or(|d| r.definition_id == d))
        .filter(|r| min_time.is_none_or(|t| r.created >= t))
        .filter(|r| created_by.is_none_or(|who| identity_matches(st, r.by, who)))
        .filter_map(|r| {
            p.release_definitions
                .iter()
                .find(|d| d.id == r.definition_id)
                .map(|d| (r, d))
        })
        .collect();
    releases.sort_by_key(|(r, _)| std::cmp::Reverse(r.id));
    list(
        releases
            .into_iter()
            .map(|(r, d)| release_json(st, roots, p, d, r))
            .collect(),
    )
}

pub fn release_get(st: &State, roots: &Roots<'_>, org: &str, project: &str, id: &str) -> Resp {
    let (o, p) = match project_of(st, org, project) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let found = o
        .runs
        .iter()
        .filter(|r| r.release && r.project_id == p.id && r.id.to_string() == id)
        .find_map(|r| {
            p.release_definitions
                .iter()
                .find(|d| d.id == r.definition_id)
                .map(|d| (r, d))
        });
    match found {
        Some((r, d)) => Resp::json(200, &release_json(st, roots, p, d, r)),
        None => error(404, "Microsoft.VisualStudio.Services.ReleaseManagement.Data.Exceptions.ReleaseNotFoundException, Microsoft.VisualStudio.Services.ReleaseManagement2.Data", "ReleaseNotFoundException", &format!("VS402853: Release with id {id} does not exist.")),
    }
}

pub fn release_post(
    st: &mut State,
    roots: &Roots<'_>,
    req: &Req,
    org: &str,
    project: &str,
    caller: Caller,
) -> Resp {
    let Caller { by, now } = caller;
    let body: Map<String, Value> = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(m)) => m,
        _ => return bad_request("The request body is not a ReleaseStartMetadata object."),
    };
    let Some(definition_id) = body.get("definitionId").and_then(Value::as_u64) else {
        return bad_request("VS402875: Release pipeline id is required to create a release.");
    };
    let (o, p, d) = match project_of(st, org, project)
        .and_then(|(o, p)| Ok((o, p, find_definition(p, &definition_id.to_string())?)))
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let given: BTreeMap<String, String> = body
        .get("artifacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let alias = a.get("alias")?.as_str()?;
            let version = a
                .pointer("/instanceReference/id")
                .or_else(|| a.pointer("/instanceReference/name"))?
                .as_str()?;
            Some((alias.to_ascii_lowercase(), version.to_owned()))
        })
        .collect();
    let mut artifacts = Vec::new();
    for (alias, default) in &d.artifacts {
        match given.get(&alias.to_ascii_lowercase()).or(default.as_ref()) {
            Some(v) => artifacts.push((alias.clone(), v.clone())),
            None => return bad_request(&format!("VS402881: No artifact version is specified corresponding to artifact source '{alias}'. Specify a valid value and try again.")),
        }
    }
    let snap = snapshot(o, p, &d.variable_groups);
    let (project_id, def_id) = (p.id.clone(), d.id);
    let org_mut = st.devops.org_mut(org).expect("organization found above");
    let id = org_mut
        .runs
        .iter()
        .filter(|r| r.release)
        .map(|r| r.id)
        .max()
        .unwrap_or(0)
        + 1;
    org_mut.runs.push(Started {
        id,
        release: true,
        definition_id: def_id,
        project_id,
        name: format!("Release-{id}"),
        created: now,
        by,
        branch: None,
        parameters: BTreeMap::new(),
        artifacts,
        snapshot: snap,
    });
    release_get(st, roots, org, project, &id.to_string())
}
