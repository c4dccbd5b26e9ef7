//! `devops.localhost` (= `dev.azure.com`) and `vsrm.devops.localhost` (= `vsrm.dev.azure.com`):
//! Azure DevOps variable groups, YAML pipeline runs and classic releases, as keyrot propagates
//! rotated credentials into groups and starts the pipelines that deploy them.
//!
//! # Seed
//!
//! ```toml
//! [[devops.identity]]
//! id = "5a1c0c3e-0000-4000-8000-000000000001"   # optional; derived from unique_name
//! display_name = "keyrot rotation"
//! unique_name = "keyrot@contoso.com"
//! client_id = "11111111-2222-3333-4444-555555555555" # optional: Entra tokens of this client act as it
//!
//! [[devops.pat]]                                   # HTTP Basic, any user name, the PAT as password
//! token = "pat-value"
//! identity = "keyrot@contoso.com"                  # an identity's id or unique_name
//!
//! [[devops.job_token]]                             # SYSTEM_ACCESSTOKEN: Bearer
//! token = "job-token-value"
//! identity = "keyrot@contoso.com"
//!
//! [[devops.organization]]
//! name = "contoso"
//! [[devops.organization.project]]
//! name = "payments"
//! id = "…"                                         # optional; derived
//! [[devops.organization.project.variable_group]]
//! id = 7                                           # optional; the next free id
//! name = "billing-prod"
//! type = "Vsts"                                    # or "AzureKeyVault" with vault = "name"
//! description = "…"
//! variables = { BILLING_CLIENT_SECRET = { value = "s3cret", secret = true }, REGION = { value = "westeurope", read_only = true } }
//! [[devops.organization.project.pipeline]]          # a YAML pipeline
//! id = 12
//! name = "billing-deploy"
//! parameters = ["reason"]                          # runtime parameters it declares
//! settable_variables = ["ROTATION_ID"]             # "Settable at queue time"
//! variable_groups = ["billing-prod"]
//! default_branch = "main"
//! [[devops.organization.project.release_definition]] # a classic release pipeline
//! id = 3
//! name = "billing-cd"
//! variable_groups = ["billing-prod"]
//! environments = ["Dev", "Prod"]
//! artifacts = [{ alias = "_billing", default_version = "20260101.1" }]
//! ```
//!
//! An Entra token from `login.localhost` for the Azure DevOps resource
//! (`499b84ac-1321-427f-aa17-267ca6975798/.default`) is accepted as the identity whose
//! `client_id` is the token's client.
//!
//! # Routes (api-version `7.1`, `7.1-preview` or `7.1-preview.N`, in the query or the `Accept` header)
//!
//! | route | request |
//! |---|---|
//! | `devops.variablegroups.list` | `GET /{org}/{project}/_apis/distributedtask/variablegroups[?groupName=a*&groupIds=1,2&$top=&continuationToken=&queryOrder=]` |
//! | `devops.variablegroups.get` | `GET /{org}/{project}/_apis/distributedtask/variablegroups/{id}` |
//! | `devops.variablegroups.post` | `POST /{org}/_apis/distributedtask/variablegroups` |
//! | `devops.variablegroups.put` | `PUT /{org}/_apis/distributedtask/variablegroups/{id}` |
//! | `devops.pipelines.list` / `devops.pipelines.get` | `GET /{org}/{project}/_apis/pipelines[/{id}]` |
//! | `devops.runs.post` | `POST /{org}/{project}/_apis/pipelines/{id}/runs` (`resources.repositories.self.refName`, `templateParameters`, `variables`) |
//! | `devops.runs.list` / `devops.runs.get` | `GET /{org}/{project}/_apis/pipelines/{id}/runs[/{runId}]` |
//! | `devops.builds.list` | `GET /{org}/{project}/_apis/build/builds?definitions=&requestedFor=&minTime=` |
//! | `devops.release.definitions.list` / `…get` | `GET vsrm…/{org}/{project}/_apis/release/definitions[/{id}]` |
//! | `devops.releases.post` | `POST vsrm…/{org}/{project}/_apis/release/releases` (`definitionId`, optional `artifacts`) |
//! | `devops.releases.list` / `devops.releases.get` | `GET vsrm…/{org}/{project}/_apis/release/releases[?definitionId=&createdBy=&minCreatedTime=]`, `…/{id}` |
//! | `devops.connectiondata` | `GET /{org}/_apis/connectionData` (`authenticatedUser`: who the credential is) |
//! | `devops.options` / `devops.resourceareas` | `OPTIONS {org}/_apis` (on either host), `GET {org}/_apis/ResourceAreas`: the discovery Microsoft's clients do first |
//! | `devops.unknown` | anything else (404 in the service's error shape) |
//!
//! # Behaviour
//!
//! - **Authentication.** A missing or unknown credential gets `203 Non-Authoritative
//!   Information` with an HTML sign-in page on GET, POST and PUT, and `401` `TF400813` on
//!   PATCH and DELETE, as the service does.
//! - **PUT replaces the group**: variables not sent are deleted; a variable sent as
//!   `{"isSecret": true}` with `value` null or absent keeps its value (a new one is empty); a
//!   string overwrites; names compare case-insensitively (two sent names that differ only in
//!   case are a 400); `variableGroupProjectReferences` are required and must name projects of
//!   the organization ("Project information name is not valid for variable group."
//!   otherwise); `modifiedOn`/`modifiedBy` change; there is no ETag. Secrets read back as
//!   `"value": null, "isSecret": true`.
//! - **Errors** have the service's shape (`$id`, `innerException`, `message`, `typeName`,
//!   `typeKey`, `errorCode`, `eventId`). An injected 429 is `TF400733` with `Retry-After` and
//!   the `X-RateLimit-*` headers.
//! - **Runs and releases** record the values of their variable groups when created
//!   ([`Emulator::devops_runs`](crate::Emulator::devops_runs)): a new run sees a new value, an
//!   old release keeps the old one (as a classic redeploy would). `templateParameters` must be
//!   declared ("Unexpected parameter 'x'"), `variables` settable (the
//!   `SettingVariablesAtQueueTime` message); a release takes the definition's default artifact
//!   versions, and an artifact with neither a given nor a default version is `VS402881`.
//!   Runs are `inProgress` forever; there are no agents.
//!
//! Deviations: other api-versions are refused (the service accepts older ones); an unknown
//! organization is a JSON 404 (the service answers an HTML page); the 404 text for an unknown
//! group and the 500 fault text are the emulator's approximations; no Library permissions.

mod inspect;
mod locations;
mod pipelines;
pub mod seed;
mod variable_groups;

use base64::Engine as _;
use serde_json::json;
use time::OffsetDateTime;

use crate::http::{Req, Resp};
use crate::seed::Redacted;
use crate::state::{derived_guid, new_uuid, Shared, State};

pub use inspect::{admin, DevopsGroupView, DevopsRunView, DevopsVariableView};
pub use seed::DevopsSeed;

/// Azure DevOps' application id: the resource (and token audience) of Entra tokens for it.
pub const RESOURCE: &str = "499b84ac-1321-427f-aa17-267ca6975798";

/// The emulated service's state.
#[derive(Default)]
pub struct DevopsState {
    pub identities: Vec<Identity>,
    /// (token, index into `identities`).
    pats: Vec<(Redacted, usize)>,
    job_tokens: Vec<(Redacted, usize)>,
    pub orgs: Vec<Org>,
}

pub struct Identity {
    pub id: String,
    pub display_name: String,
    pub unique_name: String,
    pub client_id: Option<String>,
}

pub struct Org {
    pub name: String,
    pub projects: Vec<Project>,
    pub groups: Vec<variable_groups::VariableGroup>,
    /// Pipeline runs and releases, oldest first.
    pub runs: Vec<pipelines::Started>,
}

pub struct Project {
    pub id: String,
    pub name: String,
    pub pipelines: Vec<pipelines::Pipeline>,
    pub release_definitions: Vec<pipelines::ReleaseDefinition>,
}

impl Org {
    fn project(&self, name_or_id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| {
            p.name.eq_ignore_ascii_case(name_or_id) || p.id.eq_ignore_ascii_case(name_or_id)
        })
    }
}

impl DevopsState {
    pub fn from_seed(seed: &DevopsSeed, start: i64) -> DevopsState {
        let identities: Vec<Identity> = seed
            .identities
            .iter()
            .map(|i| {
                let unique_name = i
                    .unique_name
                    .clone()
                    .unwrap_or_else(|| i.display_name.clone());
                Identity {
                    id: i
                        .id
                        .clone()
                        .unwrap_or_else(|| derived_guid(&format!("devops-identity/{unique_name}")))
                        .to_ascii_lowercase(),
                    display_name: i.display_name.clone(),
                    unique_name,
                    client_id: i.client_id.as_ref().map(|c| c.to_ascii_lowercase()),
                }
            })
            .collect();
        let find = |who: &str| {
            identities.iter().position(|i| {
                i.id.eq_ignore_ascii_case(who) || i.unique_name.eq_ignore_ascii_case(who)
            })
        };
        let tokens = |list: &[seed::TokenSeed]| {
            list.iter()
                .filter_map(|t| find(&t.identity).map(|i| (t.token.clone(), i)))
                .collect()
        };
        let pats = tokens(&seed.pats);
        let job_tokens = tokens(&seed.job_tokens);
        let orgs = seed
            .organizations
            .iter()
            .map(|o| variable_groups::build_org(o, crate::state::utc(start)))
            .collect();
        DevopsState {
            identities,
            pats,
            job_tokens,
            orgs,
        }
    }

    fn org(&self, name: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    fn org_mut(&mut self, name: &str) -> Option<&mut Org> {
        self.orgs
            .iter_mut()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }
}

/// One request, parsed.
#[derive(Debug, PartialEq)]
enum Op {
    GroupsList {
        org: String,
        project: String,
    },
    GroupsGet {
        org: String,
        project: String,
        id: String,
    },
    GroupsPost {
        org: String,
    },
    GroupsPut {
        org: String,
        id: String,
    },
    PipelinesList {
        org: String,
        project: String,
    },
    PipelineGet {
        org: String,
        project: String,
        id: String,
    },
    RunsList {
        org: String,
        project: String,
        id: String,
    },
    RunGet {
        org: String,
        project: String,
        id: String,
        run: String,
    },
    RunPost {
        org: String,
        project: String,
        id: String,
    },
    BuildsList {
        org: String,
        project: String,
    },
    DefinitionsList {
        org: String,
        project: String,
    },
    DefinitionGet {
        org: String,
        project: String,
        id: String,
    },
    ReleasesList {
        org: String,
        project: String,
    },
    ReleaseGet {
        org: String,
        project: String,
        id: String,
    },
    ReleasePost {
        org: String,
        project: String,
    },
    ConnectionData {
        org: String,
    },
    Options {
        org: String,
    },
    ResourceAreas {
        org: String,
    },
    Unknown,
}

impl Op {
    fn parse(method: &str, path: &str, vsrm: bool) -> Op {
        let segs: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(crate::graph::percent_decode)
            .collect();
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        let s = |i: usize| segs[i].clone();
        match (method, l.as_slice()) {
            ("OPTIONS", [_, "_apis"]) => return Op::Options { org: s(0) },
            ("GET", [_, "_apis", "resourceareas"]) if !vsrm => {
                return Op::ResourceAreas { org: s(0) }
            }
            _ => {}
        }
        if vsrm {
            return match (method, l.as_slice()) {
                ("GET", [_, _, "_apis", "release", "definitions"]) => Op::DefinitionsList {
                    org: s(0),
                    project: s(1),
                },
                ("GET", [_, _, "_apis", "release", "definitions", _]) => Op::DefinitionGet {
                    org: s(0),
                    project: s(1),
                    id: s(5),
                },
                ("GET", [_, _, "_apis", "release", "releases"]) => Op::ReleasesList {
                    org: s(0),
                    project: s(1),
                },
                ("POST", [_, _, "_apis", "release", "releases"]) => Op::ReleasePost {
                    org: s(0),
                    project: s(1),
                },
                ("GET", [_, _, "_apis", "release", "releases", _]) => Op::ReleaseGet {
                    org: s(0),
                    project: s(1),
                    id: s(5),
                },
                _ => Op::Unknown,
            };
        }
        match (method, l.as_slice()) {
            ("GET", [_, "_apis", "connectiondata"]) => Op::ConnectionData { org: s(0) },
            ("GET", [_, _, "_apis", "pipelines"]) => Op::PipelinesList {
                org: s(0),
                project: s(1),
            },
            ("GET", [_, _, "_apis", "pipelines", _]) => Op::PipelineGet {
                org: s(0),
                project: s(1),
                id: s(4),
            },
            ("GET", [_, _, "_apis", "pipelines", _, "runs"]) => Op::RunsList {
                org: s(0),
                project: s(1),
                id: s(4),
            },
            ("POST", [_, _, "_apis", "pipelines", _, "runs"]) => Op::RunPost {
                org: s(0),
                project: s(1),
                id: s(4),
            },
            ("GET", [_, _, "_apis", "pipelines", _, "runs", _]) => Op::RunGet {
                org: s(0),
                project: s(1),
                id: s(4),
                run: s(6),
            },
            ("GET", [_, _, "_apis", "build", "builds"]) => Op::BuildsList {
                org: s(0),
                project: s(1),
            },
            ("POST", [_, "_apis", "distributedtask", "variablegroups"]) => {
                Op::GroupsPost { org: s(0) }
            }
            ("PUT", [_, "_apis", "distributedtask", "variablegroups", _]) => Op::GroupsPut {
                org: s(0),
                id: s(4),
            },
            ("GET", [_, _, "_apis", "distributedtask", "variablegroups"]) => Op::GroupsList {
                org: s(0),
                project: s(1),
            },
            ("GET", [_, _, "_apis", "distributedtask", "variablegroups", _]) => Op::GroupsGet {
                org: s(0),
                project: s(1),
                id: s(5),
            },
            _ => Op::Unknown,
        }
    }

    fn route(&self) -> &'static str {
        match self {
            Op::GroupsList { .. } => "devops.variablegroups.list",
            Op::GroupsGet { .. } => "devops.variablegroups.get",
            Op::GroupsPost { .. } => "devops.variablegroups.post",
            Op::GroupsPut { .. } => "devops.variablegroups.put",
            Op::PipelinesList { .. } => "devops.pipelines.list",
            Op::PipelineGet { .. } => "devops.pipelines.get",
            Op::RunsList { .. } => "devops.runs.list",
            Op::RunGet { .. } => "devops.runs.get",
            Op::RunPost { .. } => "devops.runs.post",
            Op::BuildsList { .. } => "devops.builds.list",
            Op::DefinitionsList { .. } => "devops.release.definitions.list",
            Op::DefinitionGet { .. } => "devops.release.definitions.get",
            Op::ReleasesList { .. } => "devops.releases.list",
            Op::ReleaseGet { .. } => "devops.releases.get",
            Op::ReleasePost { .. } => "devops.releases.post",
            Op::ConnectionData { .. } => "devops.connectiondata",
            Op::Options { .. } => "devops.options",
            Op::ResourceAreas { .. } => "devops.resourceareas",
            Op::Unknown => "devops.unknown",
        }
    }
}

/// The route name of a request to `devops.localhost` (`vsrm` for `vsrm.devops.localhost`).
pub fn route_of(method: &str, path: &str, vsrm: bool) -> &'static str {
    Op::parse(method, path, vsrm).route()
}

pub fn handle(shared: &Shared, req: &Req, vsrm: bool) -> Resp {
    let identity = match authenticate(shared, req) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if let Err(r) = check_api_version(req) {
        return r;
    }
    let now = OffsetDateTime::now_utc();
    let base = format!("https://devops.localhost:{}", shared.port);
    let op = Op::parse(&req.method, &req.path, vsrm);
    let org_name = match &op {
        Op::Unknown => String::new(),
        Op::GroupsList { org, .. }
        | Op::GroupsGet { org, .. }
        | Op::GroupsPost { org }
        | Op::GroupsPut { org, .. }
        | Op::PipelinesList { org, .. }
        | Op::PipelineGet { org, .. }
        | Op::RunsList { org, .. }
        | Op::RunGet { org, .. }
        | Op::RunPost { org, .. }
        | Op::BuildsList { org, .. }
        | Op::DefinitionsList { org, .. }
        | Op::DefinitionGet { org, .. }
        | Op::ReleasesList { org, .. }
        | Op::ReleaseGet { org, .. }
        | Op::ReleasePost { org, .. }
        | Op::ConnectionData { org }
        | Op::Options { org }
        | Op::ResourceAreas { org } => org.clone(),
    };
    let web = format!("{base}/{org_name}");
    let vsrm_root = format!("https://vsrm.devops.localhost:{}/{org_name}", shared.port);
    let roots = pipelines::Roots {
        web: &web,
        vsrm: &vsrm_root,
    };
    let mut st = shared.lock();
    match op {
        Op::Options { .. } => locations::options(vsrm),
        Op::ResourceAreas { .. } => locations::resource_areas(&web, &vsrm_root),
        Op::ConnectionData { org } => match st.devops.org(&org) {
            None => error(404, "Microsoft.VisualStudio.Services.Account.AccountNotFoundException, Microsoft.VisualStudio.Services.WebApi", "AccountNotFoundException", &format!("TF400813: Organization '{org}' was not found.")),
            Some(_) => {
                let me = identity_json(&st, &web, identity);
                let user = json!({"id": me["id"], "providerDisplayName": me["displayName"], "isActive": true,
                    "properties": {"Account": {"$type": "System.String", "$value": me["uniqueName"]}}});
                Resp::json(200, &json!({"authenticatedUser": user, "authorizedUser": user, "deploymentType": "hosted"}))
            }
        },
        Op::PipelinesList { org, project } => pipelines::pipelines_list(&st, &roots, &org, &project),
        Op::PipelineGet { org, project, id } => {
            pipelines::pipeline_get(&st, &roots, &org, &project, &id)
        }
        Op::RunsList { org, project, id } => pipelines::runs_list(&st, &roots, &org, &project, &id),
        Op::RunGet { org, project, id, run } => {
            pipelines::run_get(&st, &roots, &org, &project, &id, &run)
        }
        Op::RunPost { org, project, id } => {
            pipelines::run_post(&mut st, &roots, req, &org, &project, &id, pipelines::Caller { by: identity, now })
        }
        Op::BuildsList { org, project } => pipelines::builds_list(&st, &roots, req, &org, &project),
        Op::DefinitionsList { org, project } => {
            pipelines::definitions_list(&st, &roots, &org, &project)
        }
        Op::DefinitionGet { org, project, id } => {
            pipelines::definition_get(&st, &roots, &org, &project, &id)
        }
        Op::ReleasesList { org, project } => {
            pipelines::releases_list(&st, &roots, req, &org, &project)
        }
        Op::ReleaseGet { org, project, id } => {
            pipelines::release_get(&st, &roots, &org, &project, &id)
        }
        Op::ReleasePost { org, project } => {
            pipelines::release_post(&mut st, &roots, req, &org, &project, pipelines::Caller { by: identity, now })
        }
        Op::GroupsList { org, project } => variable_groups::list(&st, &base, req, &org, &project),
        Op::GroupsGet { org, project, id } => {
            variable_groups::get(&st, &base, &org, &project, &id)
        }
        Op::GroupsPost { org } => variable_groups::post(&mut st, &base, req, &org, identity, now),
        Op::GroupsPut { org, id } => {
            variable_groups::put(&mut st, &base, req, &org, &id, identity, now)
        }
        Op::Unknown => error(
            404,
            "Microsoft.VisualStudio.Services.WebApi.VssResourceNotFoundException, Microsoft.VisualStudio.Services.WebApi",
            "VssResourceNotFoundException",
            &format!(
                "VS800075: The API resource location for {} {} was not found. This emulator serves Azure DevOps variable groups only.",
                req.method, req.path
            ),
        ),
    }
}

/// The service's error body.
pub fn error(status: u16, type_name: &str, type_key: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({
            "$id": "1",
            "innerException": null,
            "message": message,
            "typeName": type_name,
            "typeKey": type_key,
            "errorCode": 0,
            "eventId": 3000,
        }),
    )
}

fn bad_request(message: &str) -> Resp {
    error(
        400,
        "System.ArgumentException, mscorlib",
        "ArgumentException",
        message,
    )
}

/// The answer to an injected `status` fault.
pub fn fault_body(status: u16) -> Resp {
    match status {
        429 => error(
            429,
            "Microsoft.TeamFoundation.Framework.Server.RequestBlockedException, Microsoft.TeamFoundation.Framework.Server",
            "RequestBlockedException",
            "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Concurrency' in namespace 'User'.",
        )
        .header("X-RateLimit-Resource", "Concurrency")
        .header("X-RateLimit-Limit", "200")
        .header("X-RateLimit-Remaining", "0"),
        401 => vss_unauthorized(),
        s => error(
            s,
            "Microsoft.VisualStudio.Services.WebApi.VssServiceException, Microsoft.VisualStudio.Services.WebApi",
            "VssServiceException",
            &format!("TF400898: An Internal Error Occurred. Activity Id: {}.", new_uuid()),
        ),
    }
}

/// The service's headers on every answer.
pub fn decorate(r: Resp) -> Resp {
    let activity = new_uuid();
    r.header("ActivityId", activity.clone())
        .header("X-TFS-Session", activity)
        .header("X-VSS-E2EID", new_uuid())
        .header("X-Content-Type-Options", "nosniff")
}

fn vss_unauthorized() -> Resp {
    error(
        401,
        "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server",
        "UnauthorizedRequestException",
        "TF400813: The user '' is not authorized to access this resource.",
    )
}

const SIGN_IN_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>Azure DevOps Services | Sign In</title><meta http-equiv=\"X-UA-Compatible\" content=\"IE=11;&#32;IE=10;&#32;IE=9;&#32;IE=8\" /></head>\n<body><div class=\"header\">Azure DevOps</div><p>Sign in to your account to continue.</p><a href=\"https://app.vssps.visualstudio.com/_signin\">Sign in</a></body></html>\n";

/// The identity (index into `identities`) a request acts as, or the service's answer to a
/// missing or bad credential: 203 with the sign-in page, 401 `TF400813` for PATCH and DELETE.
fn authenticate(shared: &Shared, req: &Req) -> Result<usize, Resp> {
    let refuse = || {
        if matches!(req.method.as_str(), "PATCH" | "DELETE") {
            vss_unauthorized()
        } else {
            Resp::text(203, "text/html; charset=utf-8", SIGN_IN_PAGE)
        }
    };
    let Some((scheme, credential)) = req
        .header("authorization")
        .and_then(|h| h.trim().split_once(' '))
    else {
        return Err(refuse());
    };
    let credential = credential.trim();
    let st = shared.lock();
    let found = if scheme.eq_ignore_ascii_case("basic") {
        basic_password(credential).and_then(|pat| {
            st.devops
                .pats
                .iter()
                .find(|(t, _)| t.expose() == pat)
                .map(|(_, i)| *i)
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        st.devops
            .job_tokens
            .iter()
            .find(|(t, _)| t.expose() == credential)
            .map(|(_, i)| *i)
            .or_else(|| entra_identity(&st, credential))
    } else {
        None
    };
    found.ok_or_else(refuse)
}

fn basic_password(credential: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(credential)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// An Entra token for Azure DevOps, issued by this emulator and unexpired, as the identity of
/// its client.
fn entra_identity(st: &State, token: &str) -> Option<usize> {
    let info = st.tokens.get(token)?;
    let audience = info.audience.trim_end_matches('/');
    if !audience.eq_ignore_ascii_case(RESOURCE) || info.expires <= crate::state::now() {
        return None;
    }
    st.devops.identities.iter().position(|i| {
        i.client_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&info.client_id))
    })
}

/// `7.1`, `7.1-preview` and `7.1-preview.N` (what Microsoft's clients send), from the query or
/// the `Accept` header; a GET without one gets the latest, as the service does.
fn check_api_version(req: &Req) -> Result<(), Resp> {
    let from_accept = req.header("accept").and_then(|a| {
        a.split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v.trim().to_owned())
    });
    let version = req.query("api-version").map(str::to_owned).or(from_accept);
    let Some(version) = version else {
        if matches!(req.method.as_str(), "GET" | "OPTIONS") {
            return Ok(());
        }
        return Err(error(
            400,
            "Microsoft.VisualStudio.Services.WebApi.VssVersionNotSpecifiedException, Microsoft.VisualStudio.Services.WebApi",
            "VssVersionNotSpecifiedException",
            &format!("No api-version was supplied for the \"{}\" request. The version must be supplied either as part of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. '?api-version=1.0').", req.method),
        ));
    };
    let ok = match version.strip_prefix("7.1") {
        Some("") | Some("-preview") => true,
        Some(rest) => rest
            .strip_prefix("-preview.")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())),
        None => false,
    };
    if ok {
        return Ok(());
    }
    Err(error(
        400,
        "Microsoft.VisualStudio.Services.WebApi.VssInvalidPreviewVersionException, Microsoft.VisualStudio.Services.WebApi",
        "VssInvalidPreviewVersionException",
        &format!("The requested REST API version of {version} is out of range for this server. The latest REST API version this server supports is 7.1."),
    ))
}

/// An `IdentityRef`; `org_url` is the organization's base (`https://dev.azure.com/contoso`).
fn identity_json(st: &State, org_url: &str, index: usize) -> serde_json::Value {
    match st.devops.identities.get(index) {
        Some(i) => json!({
            "displayName": i.display_name, "id": i.id, "uniqueName": i.unique_name,
            "url": format!("{org_url}/_apis/Identities/{}", i.id),
            "imageUrl": format!("{org_url}/_api/_common/identityImage?id={}", i.id),
        }),
        None => json!({"displayName": null, "id": "00000000-0000-0000-0000-000000000000"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let base = "/contoso/payments/_apis/distributedtask/variablegroups";
        assert_eq!(route_of("GET", base, false), "devops.variablegroups.list");
        assert_eq!(
            route_of("GET", &format!("{base}/3"), false),
            "devops.variablegroups.get"
        );
        assert_eq!(
            route_of(
                "PUT",
                "/contoso/_apis/distributedtask/variablegroups/3",
                false
            ),
            "devops.variablegroups.put"
        );
        assert_eq!(
            route_of(
                "POST",
                "/contoso/_apis/DistributedTask/VariableGroups",
                false
            ),
            "devops.variablegroups.post"
        );
        assert_eq!(
            Op::parse(
                "GET",
                "/contoso/My%20Project/_apis/distributedtask/variablegroups",
                false
            ),
            Op::GroupsList {
                org: "contoso".into(),
                project: "My Project".into()
            }
        );
        assert_eq!(route_of("DELETE", base, false), "devops.unknown");
    }
}
