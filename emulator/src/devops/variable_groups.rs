//! Variable groups (`distributedtask/variablegroups`): storage and the list, get, POST and PUT
//! handlers with the service's replace-everything PUT.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::seed::{GroupKind, OrganizationSeed};
use super::{bad_request, error, identity_json, Org, Project};
use crate::graph::format_time;
use crate::http::{Req, Resp};
use crate::seed::Redacted;
use crate::state::{derived_guid, State};

pub struct VariableGroup {
    pub id: u32,
    pub name: String,
    pub kind: GroupKind,
    pub description: String,
    /// `providerData` of a Key Vault-linked group.
    pub vault: Option<KeyVaultLink>,
    pub references: Vec<ProjectReference>,
    /// In the order last written.
    pub variables: Vec<Variable>,
    pub created_by: usize,
    pub created_on: OffsetDateTime,
    pub modified_by: usize,
    pub modified_on: OffsetDateTime,
    /// PUTs that changed this group.
    pub puts: u32,
}

pub struct KeyVaultLink {
    pub vault: String,
    pub service_endpoint_id: String,
}

/// The group as shared with one project (`variableGroupProjectReferences[]`).
pub struct ProjectReference {
    pub project_id: String,
    pub name: String,
    pub description: String,
}

pub struct Variable {
    pub name: String,
    pub value: Redacted,
    pub secret: bool,
    pub read_only: bool,
}

pub fn build_org(seed: &OrganizationSeed, at: OffsetDateTime) -> Org {
    let mut next = seed
        .projects
        .iter()
        .flat_map(|p| p.variable_groups.iter().filter_map(|g| g.id))
        .max()
        .unwrap_or(0);
    let mut groups = Vec::new();
    let projects = seed
        .projects
        .iter()
        .map(|p| {
            let id = p.id.clone().map_or_else(
                || derived_guid(&format!("devops-project/{}/{}", seed.name, p.name)),
                |i| i.to_ascii_lowercase(),
            );
            for g in &p.variable_groups {
                let gid = g.id.unwrap_or_else(|| {
                    next += 1;
                    next
                });
                groups.push(VariableGroup {
                    id: gid,
                    name: g.name.clone(),
                    kind: g.kind,
                    description: g.description.clone().unwrap_or_default(),
                    vault: g.vault.as_ref().map(|v| KeyVaultLink {
                        vault: v.clone(),
                        service_endpoint_id: derived_guid(&format!("devops-endpoint/{v}")),
                    }),
                    references: vec![ProjectReference {
                        project_id: id.clone(),
                        name: g.name.clone(),
                        description: g.description.clone().unwrap_or_default(),
                    }],
                    variables: g
                        .variables
                        .iter()
                        .map(|(name, v)| Variable {
                            name: name.clone(),
                            value: v.value.clone().unwrap_or_else(|| Redacted(String::new())),
                            secret: v.secret,
                            read_only: v.read_only,
                        })
                        .collect(),
                    created_by: 0,
                    created_on: at,
                    modified_by: 0,
                    modified_on: at,
                    puts: 0,
                });
            }
            Project {
                id,
                name: p.name.clone(),
                pipelines: p
                    .pipelines
                    .iter()
                    .map(super::pipelines::build_pipeline)
                    .collect(),
                release_definitions: p
                    .release_definitions
                    .iter()
                    .map(super::pipelines::build_definition)
                    .collect(),
            }
        })
        .collect();
    Org {
        name: seed.name.clone(),
        projects,
        groups,
        runs: Vec::new(),
    }
}

fn org_not_found(org: &str) -> Resp {
    error(
        404,
        "Microsoft.VisualStudio.Services.Account.AccountNotFoundException, Microsoft.VisualStudio.Services.WebApi",
        "AccountNotFoundException",
        &format!("TF400813: Organization '{org}' was not found."),
    )
}

fn project_not_found(project: &str) -> Resp {
    error(
        404,
        "Microsoft.TeamFoundation.Core.WebApi.ProjectDoesNotExistWithNameException, Microsoft.TeamFoundation.Core.WebApi",
        "ProjectDoesNotExistWithNameException",
        &format!("TF200016: The following project does not exist: {project}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."),
    )
}

fn group_not_found(id: &str) -> Resp {
    error(
        404,
        "Microsoft.TeamFoundation.DistributedTask.WebApi.VariableGroupNotFoundException, Microsoft.TeamFoundation.DistributedTask.WebApi",
        "VariableGroupNotFoundException",
        &format!("Variable group with id {id} does not exist or you do not have permissions to access it."),
    )
}

fn invalid_references() -> Resp {
    bad_request("Project information name is not valid for variable group.")
}

fn group_json(st: &State, base: &str, org: &Org, g: &VariableGroup) -> Value {
    let identity = |i| identity_json(st, &format!("{base}/{}", org.name), i);
    let mut variables = Map::new();
    for v in &g.variables {
        let mut o = Map::new();
        if v.secret {
            o.insert("value".into(), Value::Null);
            o.insert("isSecret".into(), Value::Bool(true));
        } else {
            o.insert("value".into(), Value::from(v.value.expose()));
        }
        if v.read_only {
            o.insert("isReadOnly".into(), Value::Bool(true));
        }
        if g.kind == GroupKind::AzureKeyVault {
            o.insert("enabled".into(), Value::Bool(true));
            o.insert("contentType".into(), Value::from(""));
            o.insert("expires".into(), Value::Null);
        }
        variables.insert(v.name.clone(), Value::Object(o));
    }
    let references: Vec<Value> = g
        .references
        .iter()
        .map(|r| {
            let project = org.projects.iter().find(|p| p.id == r.project_id);
            json!({
                "projectReference": {"id": r.project_id, "name": project.map(|p| p.name.as_str())},
                "name": r.name,
                "description": r.description,
            })
        })
        .collect();
    let provider = g.vault.as_ref().map(|k| {
        json!({"serviceEndpointId": k.service_endpoint_id, "vault": k.vault, "lastRefreshedOn": format_time(g.modified_on)})
    });
    json!({
        "variables": variables,
        "id": g.id,
        "type": g.kind.as_str(),
        "name": g.name,
        "description": g.description,
        "providerData": provider,
        "createdBy": identity(g.created_by),
        "createdOn": format_time(g.created_on),
        "modifiedBy": identity(g.modified_by),
        "modifiedOn": format_time(g.modified_on),
        "isShared": g.references.len() > 1,
        "variableGroupProjectReferences": references,
    })
}

pub(super) fn org_and_project<'a>(
    st: &'a State,
    org: &str,
    project: &str,
) -> Result<(&'a Org, &'a Project), Resp> {
    let o = st.devops.org(org).ok_or_else(|| org_not_found(org))?;
    let p = o
        .project(project)
        .ok_or_else(|| project_not_found(project))?;
    Ok((o, p))
}

/// `groupName` with `*` wildcards, case-insensitive.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub fn list(st: &State, base: &str, req: &Req, org: &str, project: &str) -> Resp {
    let (o, p) = match org_and_project(st, org, project) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ids: Option<Vec<u32>> = match req.query("groupIds") {
        None => None,
        Some(raw) => match raw
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(v) => Some(v),
            Err(_) => return bad_request(&format!("The value '{raw}' is not valid for groupIds.")),
        },
    };
    let int = |name: &str| -> Result<Option<u32>, Resp> {
        match req.query(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| bad_request(&format!("The value '{v}' is not valid for {name}."))),
        }
    };
    let (top, token) = match (int("$top"), int("continuationToken")) {
        (Ok(t), Ok(c)) => (t, c),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let ascending = match req.query("queryOrder") {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("idDescending") => false,
        Some(o) if o.eq_ignore_ascii_case("idAscending") => true,
        Some(o) => return bad_request(&format!("The value '{o}' is not valid for queryOrder.")),
    };
    let mut groups: Vec<&VariableGroup> = o
        .groups
        .iter()
        .filter(|g| g.references.iter().any(|r| r.project_id == p.id))
        .filter(|g| req.query("groupName").is_none_or(|n| wildcard(n, &g.name)))
        .filter(|g| ids.as_ref().is_none_or(|ids| ids.contains(&g.id)))
        .filter(|g| match token {
            None => true,
            Some(t) if ascending => g.id >= t,
            Some(t) => g.id <= t,
        })
        .collect();
    groups.sort_by_key(|g| g.id);
    if !ascending {
        groups.reverse();
    }
    let mut next = None;
    if let Some(top) = top.filter(|t| *t > 0) {
        if groups.len() > top as usize {
            next = Some(groups[top as usize].id);
            groups.truncate(top as usize);
        }
    }
    let value: Vec<Value> = groups.iter().map(|g| group_json(st, base, o, g)).collect();
    let resp = Resp::json(200, &json!({"count": value.len(), "value": value}));
    match next {
        Some(n) => resp.header("x-ms-continuationtoken", n.to_string()),
        None => resp,
    }
}

pub fn get(st: &State, base: &str, org: &str, project: &str, id: &str) -> Resp {
    let (o, p) = match org_and_project(st, org, project) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(n) = id.parse::<u32>() else {
        return bad_request(&format!("The value '{id}' is not valid for groupId."));
    };
    match o
        .groups
        .iter()
        .find(|g| g.id == n && g.references.iter().any(|r| r.project_id == p.id))
    {
        Some(g) => Resp::json(200, &group_json(st, base, o, g)),
        None => group_not_found(id),
    }
}

/// `VariableGroupParameters`, as far as the service checks it.
struct Parameters {
    name: String,
    description: String,
    kind: GroupKind,
    vault: Option<KeyVaultLink>,
    references: Vec<ProjectReference>,
    variables: Vec<SentVariable>,
}

struct SentVariable {
    name: String,
    value: Option<String>,
    secret: bool,
    read_only: bool,
}

fn parameters(org: &Org, req: &Req) -> Result<Parameters, Resp> {
    let body: Value = serde_json::from_slice(&req.body).map_err(|_| {
        error(
            400,
            "System.ArgumentNullException, mscorlib",
            "ArgumentNullException",
            "Value cannot be null.\r\nParameter name: variableGroupParameters",
        )
    })?;
    let Value::Object(body) = body else {
        return Err(bad_request(
            "The request body is not a VariableGroupParameters object.",
        ));
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let name = text("name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad_request("Variable group name cannot be empty."))?;
    let kind = match text("type").as_deref() {
        None | Some("Vsts") => GroupKind::Vsts,
        Some("AzureKeyVault") => GroupKind::AzureKeyVault,
        Some(other) => {
            return Err(bad_request(&format!(
                "Variable group type {other} is not supported."
            )))
        }
    };
    let vault = match kind {
        GroupKind::Vsts => None,
        GroupKind::AzureKeyVault => {
            let provider = body.get("providerData").and_then(Value::as_object);
            let field = |k: &str| {
                provider
                    .and_then(|p| p.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let (Some(vault), Some(endpoint)) = (field("vault"), field("serviceEndpointId")) else {
                return Err(bad_request(
                    "Provider data is required for a variable group of type AzureKeyVault.",
                ));
            };
            Some(KeyVaultLink {
                vault,
                service_endpoint_id: endpoint,
            })
        }
    };
    let mut references = Vec::new();
    for r in body
        .get("variableGroupProjectReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let project = r.get("projectReference");
        let by = |k: &str| project.and_then(|p| p.get(k)).and_then(Value::as_str);
        let found = by("id")
            .and_then(|id| org.projects.iter().find(|p| p.id.eq_ignore_ascii_case(id)))
            .or_else(|| by("name").and_then(|n| org.project(n)));
        let ref_name = r
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty());
        let (Some(project), Some(ref_name)) = (found, ref_name) else {
            return Err(invalid_references());
        };
        references.push(ProjectReference {
            project_id: project.id.clone(),
            name: ref_name.to_owned(),
            description: r
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        });
    }
    if references.is_empty() {
        return Err(invalid_references());
    }
    let mut variables: Vec<SentVariable> = Vec::new();
    if let Some(vars) = body.get("variables") {
        let Some(vars) = vars.as_object() else {
            return Err(bad_request(
                "Variables must be an object of name to VariableValue.",
            ));
        };
        for (vname, v) in vars {
            if variables.iter().any(|x| x.name.eq_ignore_ascii_case(vname)) {
                return Err(bad_request(&format!(
                    "Variable group contains more than one variable named '{vname}' (variable names are case-insensitive)."
                )));
            }
            let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
            let value = match v.get("value") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            variables.push(SentVariable {
                name: vname.clone(),
                value,
                secret: flag("isSecret"),
                read_only: flag("isReadOnly"),
            });
        }
    }
    Ok(Parameters {
        name,
        description: text("description").unwrap_or_default(),
        kind,
        vault,
        references,
        variables,
    })
}

/// The sent variables as stored: a secret sent without a value keeps the value it had.
fn merge(old: &[Variable], sent: Vec<SentVariable>) -> Vec<Variable> {
    sent.into_iter()
        .map(|s| {
            let value = match s.value {
                Some(v) => Redacted(v),
                None if s.secret => old
                    .iter()
                    .find(|o| o.name.eq_ignore_ascii_case(&s.name))
                    .map_or_else(|| Redacted(String::new()), |o| o.value.clone()),
                None => Redacted(String::new()),
            };
            Variable {
                name: s.name,
                value,
                secret: s.secret,
                read_only: s.read_only,
            }
        })
        .collect()
}

fn duplicate_name(org: &Org, params: &Parameters, except: Option<u32>) -> Option<Resp> {
    let clash = org.groups.iter().any(|g| {
        Some(g.id) != except
            && g.name.eq_ignore_ascii_case(&params.name)
            && g.references.iter().any(|r| {
                params
                    .references
                    .iter()
                    .any(|p| p.project_id == r.project_id)
            })
    });
    clash.then(|| {
        error(
            400,
            "Microsoft.TeamFoundation.DistributedTask.WebApi.VariableGroupExistsException, Microsoft.TeamFoundation.DistributedTask.WebApi",
            "VariableGroupExistsException",
            &format!("Variable group with name {} already exists.", params.name),
        )
    })
}

pub fn post(
    st: &mut State,
    base: &str,
    req: &Req,
    org: &str,
    identity: usize,
    now: OffsetDateTime,
) -> Resp {
    let Some(o) = st.devops.org_mut(org) else {
        return org_not_found(org);
    };
    let params = match parameters(o, req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(r) = duplicate_name(o, &params, None) {
        return r;
    }
    let id = o.groups.iter().map(|g| g.id).max().unwrap_or(0) + 1;
    o.groups.push(VariableGroup {
        id,
        name: params.name,
        kind: params.kind,
        description: params.description,
        vault: params.vault,
        references: params.references,
        variables: merge(&[], params.variables),
        created_by: identity,
        created_on: now,
        modified_by: identity,
        modified_on: now,
        puts: 0,
    });
    let st = &*st;
    let o = st.devops.org(org).expect("organization just written");
    let g = o.groups.last().expect("group just added");
    Resp::json(200, &group_json(st, base, o, g))
}

pub fn put(
    st: &mut State,
    base: &str,
    req: &Req,
    org: &str,
    id: &str,
    identity: usize,
    now: OffsetDateTime,
) -> Resp {
    let Some(o) = st.devops.org_mut(org) else {
        return org_not_found(org);
    };
    let Ok(n) = id.parse::<u32>() else {
        return bad_request(&format!("The value '{id}' is not valid for groupId."));
    };
    let params = match parameters(o, req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(r) = duplicate_name(o, &params, Some(n)) {
        return r;
    }
    let Some(g) = o.groups.iter_mut().find(|g| g.id == n) else {
        return group_not_found(id);
    };
    g.variables = merge(&g.variables, params.variables);
    g.name = params.name;
    g.description = params.description;
    g.kind = params.kind;
    g.vault = params.vault;
    g.references = params.references;
    g.modified_by = identity;
    g.modified_on = now;
    g.puts += 1;
    let st = &*st;
    let o = st.devops.org(org).expect("organization just written");
    let g = o
        .groups
        .iter()
        .find(|g| g.id == n)
        .expect("group just written");
    Resp::json(200, &group_json(st, base, o, g))
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn group_name_wildcards() {
        assert!(wildcard("billing*", "Billing-Prod"));
        assert!(wildcard("*prod", "billing-prod"));
        assert!(wildcard("b*-p*d", "billing-prod"));
        assert!(wildcard("billing-prod", "BILLING-PROD"));
        assert!(!wildcard("billing", "billing-prod"));
        assert!(!wildcard("*dev", "billing-prod"));
    }
}
