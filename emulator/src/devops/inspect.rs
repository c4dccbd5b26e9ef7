//! What tests may see of the emulated Azure DevOps that the service itself never shows:
//! secret values, PUT counts. Rust methods on [`Emulator`] and `GET /_admin/devops`.

use std::collections::BTreeMap;

use serde_json::json;
use time::OffsetDateTime;

use crate::http::{Req, Resp};
use crate::seed::Redacted;
use crate::state::Shared;
use crate::Emulator;

/// One variable of a group, value included (redacted in `Debug`).
#[derive(Clone, Debug)]
pub struct DevopsVariableView {
    pub value: Redacted,
    pub secret: bool,
    pub read_only: bool,
}

/// A variable group as the emulator holds it.
#[derive(Clone, Debug)]
pub struct DevopsGroupView {
    pub id: u32,
    pub name: String,
    /// `Vsts` or `AzureKeyVault`.
    pub kind: String,
    /// Keyed by name as last written (the service compares names case-insensitively).
    pub variables: BTreeMap<String, DevopsVariableView>,
    pub modified_on: OffsetDateTime,
    /// The identity id of the last writer.
    pub modified_by: String,
    /// How many PUTs changed the group.
    pub puts: u32,
}

fn views(shared: &Shared, org: &str) -> Vec<DevopsGroupView> {
    let st = shared.lock();
    let Some(o) = st.devops.org(org) else {
        return Vec::new();
    };
    o.groups
        .iter()
        .map(|g| DevopsGroupView {
            id: g.id,
            name: g.name.clone(),
            kind: g.kind.as_str().to_owned(),
            variables: g
                .variables
                .iter()
                .map(|v| {
                    (
                        v.name.clone(),
                        DevopsVariableView {
                            value: v.value.clone(),
                            secret: v.secret,
                            read_only: v.read_only,
                        },
                    )
                })
                .collect(),
            modified_on: g.modified_on,
            modified_by: st
                .devops
                .identities
                .get(g.modified_by)
                .map(|i| i.id.clone())
                .unwrap_or_default(),
            puts: g.puts,
        })
        .collect()
}

impl Emulator {
    /// `https://devops.localhost:{port}` (for `KEYROT_AZURE_DEVOPS_URL`; it stands for
    /// `https://dev.azure.com`, and `vsrm.devops.localhost` for `vsrm.dev.azure.com`).
    pub fn devops_url(&self) -> String {
        format!("https://devops.localhost:{}", self.port())
    }

    /// A variable group of an organization by name (case-insensitive) or numeric id, values
    /// included; `None` when there is none.
    pub fn devops_variable_group(&self, org: &str, group: &str) -> Option<DevopsGroupView> {
        views(&self.shared, org)
            .into_iter()
            .find(|g| g.name.eq_ignore_ascii_case(group) || g.id.to_string() == group)
    }
}

/// `GET /_admin/devops`: every organization's variable groups with their values (for test
/// suites in other languages; the service itself never shows a secret value).
pub fn admin(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return Resp::json(405, &json!({"error": "GET /_admin/devops only"}));
    }
    let orgs: Vec<String> = shared
        .lock()
        .devops
        .orgs
        .iter()
        .map(|o| o.name.clone())
        .collect();
    let body: serde_json::Map<String, serde_json::Value> = orgs
        .iter()
        .map(|org| {
            let groups: Vec<serde_json::Value> = views(shared, org)
                .into_iter()
                .map(|g| {
                    json!({
                        "id": g.id, "name": g.name, "type": g.kind, "puts": g.puts,
                        "modifiedBy": g.modified_by,
                        "modifiedOn": crate::graph::format_time(g.modified_on),
                        "variables": g.variables.iter().map(|(k, v)| (k.clone(), json!({
                            "value": v.value.expose(), "isSecret": v.secret, "isReadOnly": v.read_only,
                        }))).collect::<serde_json::Map<_, _>>(),
                    })
                })
                .collect();
            (org.clone(), json!({"variableGroups": groups}))
        })
        .collect();
    Resp::json(200, &body)
}

/// A pipeline run or a release, with the variable-group values it captured when created.
#[derive(Clone, Debug)]
pub struct DevopsRunView {
    pub id: u32,
    /// `true` for a classic release, `false` for a YAML pipeline run.
    pub release: bool,
    /// The pipeline or release definition id.
    pub definition_id: u32,
    pub created: OffsetDateTime,
    /// The identity id that started it.
    pub by: String,
    pub branch: Option<String>,
    pub parameters: BTreeMap<String, String>,
    /// (alias, version) of a release's artifacts.
    pub artifacts: Vec<(String, String)>,
    /// Group name → variable → value at creation (redacted in `Debug`).
    pub variable_groups: BTreeMap<String, BTreeMap<String, Redacted>>,
}

impl Emulator {
    /// Every pipeline run and release of an organization, oldest first.
    pub fn devops_runs(&self, org: &str) -> Vec<DevopsRunView> {
        let st = self.shared.lock();
        let Some(o) = st.devops.org(org) else {
            return Vec::new();
        };
        o.runs
            .iter()
            .map(|r| DevopsRunView {
                id: r.id,
                release: r.release,
                definition_id: r.definition_id,
                created: r.created,
                by: st
                    .devops
                    .identities
                    .get(r.by)
                    .map(|i| i.id.clone())
                    .unwrap_or_default(),
                branch: r.branch.clone(),
                parameters: r.parameters.clone(),
                artifacts: r.artifacts.clone(),
                variable_groups: r.snapshot.clone(),
            })
            .collect()
    }
}
