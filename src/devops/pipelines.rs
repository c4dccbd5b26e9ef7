//! YAML pipelines and classic release pipelines: resolve by name or id, start a run or create
//! a release (its id and web link), and find the runs or releases one identity started after
//! an instant, so a trigger interrupted by a crash is adopted rather than fired twice.
//!
//! Starting is not idempotent: when the transport retries a POST whose answer was lost, the
//! service may hold two runs. Callers that must fire once look with [`DevopsClient::find_runs`]
//! / [`DevopsClient::find_releases`] before firing again.

use std::collections::BTreeMap;

use azure_core::http::Method;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{DevopsClient, DevopsError, DevopsErrorKind};
use crate::ci::inert::one_line;

/// A YAML pipeline or a classic release definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub id: u32,
    pub name: String,
    /// Pipelines only: `\` or `\team\billing`.
    pub folder: Option<String>,
}

/// A pipeline run or a release: what a trigger reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: u32,
    /// `20261204.3` or `Release-19`.
    pub name: String,
    /// The page a person opens (`_build/results?buildId=…`, `_release?releaseId=…`).
    pub web_url: Option<String>,
    pub created: Option<OffsetDateTime>,
    /// The identity id that started it, when the answer says.
    pub by: Option<String>,
}

enum Kind {
    Pipeline,
    Release,
}

/// The organization's main host, or its Release Management host (`vsrm.`).
#[derive(Clone, Copy)]
enum Host {
    Main,
    Release,
}

impl Kind {
    fn what(&self) -> &'static str {
        match self {
            Kind::Pipeline => "pipeline",
            Kind::Release => "release pipeline",
        }
    }
}

fn started(raw: &Value, created_key: &str, by_key: &str) -> Option<Started> {
    Some(Started {
        id: u32::try_from(raw.get("id")?.as_u64()?).ok()?,
        name: raw
            .get("name")
            .or_else(|| raw.get("buildNumber"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        web_url: raw
            .pointer("/_links/web/href")
            .and_then(Value::as_str)
            .map(str::to_owned),
        created: raw
            .get(created_key)
            .and_then(Value::as_str)
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
        by: raw
            .pointer(&format!("/{by_key}/id"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl DevopsClient {
    /// The identity keyrot acts as (`authenticatedUser.id` of `_apis/connectionData`), for
    /// finding what it started.
    pub async fn identity(&self) -> Result<String, DevopsError> {
        let call = format!("reading who keyrot is in {}", self.org.name);
        let url = self.url(&["_apis", "connectionData"], &[]);
        let answer = self.send(&call, Method::Get, url, None).await?;
        let (_, raw) = self.expect_json(&call, answer)?;
        raw.pointer("/authenticatedUser/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                DevopsError::new(
                    DevopsErrorKind::Malformed,
                    &call,
                    "no authenticatedUser.id in the answer",
                )
            })
    }

    /// Every item of a paged list (`x-ms-continuationtoken`) at `segments` of the organization
    /// (or of its Release Management host).
    async fn list_all(
        &self,
        call: &str,
        host: Host,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, DevopsError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            if let Some(t) = &token {
                q.push(("continuationToken", t.as_str()));
            }
            let url = match host {
                Host::Main => self.url(segments, &q),
                Host::Release => self.release_url(segments, &q),
            };
            let answer = self.send(call, Method::Get, url, None).await?;
            let (answer, body) = self.expect_json(call, answer)?;
            items.extend(
                body.get("value")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            match answer.header("x-ms-continuationtoken") {
                Some(next) if Some(next) != token.as_deref() && items.len() < 100_000 => {
                    token = Some(next.to_owned())
                }
                _ => return Ok(items),
            }
        }
    }

    async fn resolve(
        &self,
        kind: Kind,
        project: &str,
        wanted: &str,
    ) -> Result<Definition, DevopsError> {
        let call = format!(
            "finding {} {} in project {} of {}",
            kind.what(),
            one_line(wanted),
            one_line(project),
            self.org.name
        );
        let wanted = wanted.trim();
        if wanted.is_empty() || project.trim().is_empty() {
            return Err(DevopsError::new(
                DevopsErrorKind::InvalidInput,
                &call,
                "the project and the name or id must not be empty",
            ));
        }
        let by_id = wanted.bytes().all(|b| b.is_ascii_digit());
        let items = match kind {
            Kind::Pipeline if by_id => {
                let url = self.url(&[project, "_apis", "pipelines", wanted], &[]);
                let answer = self.send(&call, Method::Get, url, None).await?;
                vec![self.expect_json(&call, answer)?.1]
            }
            Kind::Pipeline => {
                let segments = [project, "_apis", "pipelines"];
                self.list_all(&call, Host::Main, &segments, &[("$top", "1000")])
                    .await?
            }
            Kind::Release if by_id => {
                let url =
                    self.release_url(&[project, "_apis", "release", "definitions", wanted], &[]);
                let answer = self.send(&call, Method::Get, url, None).await?;
                vec![self.expect_json(&call, answer)?.1]
            }
            Kind::Release => {
                let segments = [project, "_apis", "release", "definitions"];
                let query = [("searchText", wanted), ("isExactNameMatch", "true")];
                self.list_all(&call, Host::Release, &segments, &query)
                    .await?
            }
        };
        let definitions: Vec<Definition> = items
            .iter()
            .filter_map(|raw| {
                Some(Definition {
                    id: u32::try_from(raw.get("id")?.as_u64()?).ok()?,
                    name: raw.get("name")?.as_str()?.to_owned(),
                    folder: raw.get("folder").and_then(Value::as_str).map(str::to_owned),
                })
            })
            .filter(|d| {
                if by_id {
                    return d.id.to_string() == wanted;
                }
                let path = format!(
                    "{}\\{}",
                    d.folder.as_deref().unwrap_or("").trim_matches('\\'),
                    d.name
                );
                d.name.eq_ignore_ascii_case(wanted)
                    || path
                        .trim_start_matches('\\')
                        .eq_ignore_ascii_case(wanted.trim_start_matches('\\'))
            })
            .collect();
        match definitions.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(DevopsError::new(
                DevopsErrorKind::NotFound,
                &call,
                format!(
                    "no {} named {} in project {}",
                    kind.what(),
                    one_line(wanted),
                    one_line(project)
                ),
            )
            .with_fix(format!(
                "check the name, or give the numeric id; {} must be able to see it",
                self.credential.describe()
            ))),
            several => Err(DevopsError::new(
                DevopsErrorKind::InvalidInput,
                &call,
                format!(
                    "{} {}s are named {}: ids {}",
                    several.len(),
                    kind.what(),
                    one_line(wanted),
                    several
                        .iter()
                        .map(|d| d.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_fix("name it by id, or as folder\\name")),
        }
    }

    /// The YAML pipeline with this name (case-insensitive; `folder\name` when names repeat)
    /// or numeric id.
    pub async fn resolve_pipeline(
        &self,
        project: &str,
        pipeline: &str,
    ) -> Result<Definition, DevopsError> {
        self.resolve(Kind::Pipeline, project, pipeline).await
    }

    /// The classic release definition with this name (case-insensitive) or numeric id.
    pub async fn resolve_release_definition(
        &self,
        project: &str,
        definition: &str,
    ) -> Result<Definition, DevopsError> {
        self.resolve(Kind::Release, project, definition).await
    }

    /// Starts a run of the pipeline on `branch` (its default branch when `None`) with these
    /// runtime parameters (the pipeline must declare each; the service's refusal names them).
    pub async fn run_pipeline(
        &self,
        project: &str,
        pipeline: &Definition,
        branch: Option<&str>,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Started, DevopsError> {
        let call = format!(
            "starting pipeline {} (id {}) in project {} of {}",
            one_line(&pipeline.name),
            pipeline.id,
            one_line(project),
            self.org.name
        );
        let mut body = json!({ "templateParameters": parameters });
        if let Some(branch) = branch {
            let full = if branch.starts_with("refs/") {
                branch.to_owned()
            } else {
                format!("refs/heads/{branch}")
            };
            body["resources"] = json!({"repositories": {"self": {"refName": full}}});
        }
        let id = pipeline.id.to_string();
        let url = self.url(&[project, "_apis", "pipelines", &id, "runs"], &[]);
        let answer = self
            .send(
                &call,
                Method::Post,
                url,
                Some(body.to_string().into_bytes()),
            )
            .await?;
        let (_, raw) = self.expect_json(&call, answer)?;
        started(&raw, "createdDate", "requestedBy").ok_or_else(|| {
            DevopsError::new(
                DevopsErrorKind::Malformed,
                &call,
                "the answer is not a run (no numeric id)",
            )
        })
    }

    /// Creates a new release of the definition with its default artifact versions (a
    /// definition without defaults is the service's error naming the artifact). A new
    /// release, never a redeploy: a release keeps the variable values it was created with.
    pub async fn create_release(
        &self,
        project: &str,
        definition: &Definition,
        description: &str,
    ) -> Result<Started, DevopsError> {
        let call = format!(
            "creating a release of {} (id {}) in project {} of {}",
            one_line(&definition.name),
            definition.id,
            one_line(project),
            self.org.name
        );
        let body = json!({"definitionId": definition.id, "description": description, "isDraft": false, "reason": "none"});
        let url = self.release_url(&[project, "_apis", "release", "releases"], &[]);
        let answer = self
            .send(
                &call,
                Method::Post,
                url,
                Some(body.to_string().into_bytes()),
            )
            .await?;
        let (_, raw) = self.expect_json(&call, answer)?;
        started(&raw, "createdOn", "createdBy").ok_or_else(|| {
            DevopsError::new(
                DevopsErrorKind::Malformed,
                &call,
                "the answer is not a release (no numeric id)",
            )
        })
    }

    /// Runs of the pipeline requested for `identity` (an id from [`DevopsClient::identity`])
    /// since `after`, newest first (the Build API: the run id is the build id).
    pub async fn find_runs(
        &self,
        project: &str,
        pipeline_id: u32,
        identity: &str,
        after: OffsetDateTime,
    ) -> Result<Vec<Started>, DevopsError> {
        let call = format!(
            "listing the runs of pipeline {pipeline_id} in project {} of {}",
            one_line(project),
            self.org.name
        );
        let (id, min) = (pipeline_id.to_string(), rfc3339(after));
        let query = [
            ("definitions", id.as_str()),
            ("requestedFor", identity),
            ("minTime", min.as_str()),
        ];
        let segments = [project, "_apis", "build", "builds"];
        let items = self.list_all(&call, Host::Main, &segments, &query).await?;
        Ok(items
            .iter()
            .filter_map(|b| started(b, "queueTime", "requestedFor"))
            .collect())
    }

    /// Releases of the definition created by `identity` since `after`, newest first.
    pub async fn find_releases(
        &self,
        project: &str,
        definition_id: u32,
        identity: &str,
        after: OffsetDateTime,
    ) -> Result<Vec<Started>, DevopsError> {
        let call = format!(
            "listing the releases of definition {definition_id} in project {} of {}",
            one_line(project),
            self.org.name
        );
        let (id, min) = (definition_id.to_string(), rfc3339(after));
        let query = [
            ("definitionId", id.as_str()),
            ("createdBy", identity),
            ("minCreatedTime", min.as_str()),
        ];
        let segments = [project, "_apis", "release", "releases"];
        let items = self
            .list_all(&call, Host::Release, &segments, &query)
            .await?;
        Ok(items
            .iter()
            .filter_map(|r| started(r, "createdOn", "createdBy"))
            .collect())
    }
}
