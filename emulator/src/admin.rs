//! `https://localhost:{port}/_admin`: the HTTP mirror of the fault and request-log API, for
//! test suites in other languages and for `keyrot emulator` users.
//!
//! | method | path | effect |
//! |---|---|---|
//! | GET | `/_admin` | emulator facts (port, tenant, authority, Graph and vault URLs, CA path) |
//! | GET | `/_admin/applications` | every application's password and certificate metadata (never secret text) |
//! | GET | `/_admin/devops` | every Azure DevOps variable group with its values |
//! | GET | `/_admin/arm` | every emulated ARM resource with its keys, regenerations, reference refreshes and workflow PUTs |
//! | PUT | `/_admin/arm/budget` | `{"reads_per_hour", "writes_per_hour"}`: a fresh ARM request budget |
//! | POST | `/_admin/faults` | add a [`FaultRule`](crate::FaultRule) (JSON body) |
//! | DELETE | `/_admin/faults` | remove every fault |
//! | PUT | `/_admin/keyvault` | `{"version_ids": "random" \| "descending"}`: the `[keyvault]` seed setting, from now on |
//! | GET | `/_admin/github/secret?name=…&repository=…[&environment=…]` or `&organization=…` | one emulated GitHub secret with its value |
//! | GET | `/_admin/github/runs?repository=…` | the repository's workflow runs with the secret values each saw |
//! | GET | `/_admin/requests` | the request log as a JSON array |
//! | DELETE | `/_admin/requests` | clear the log |
//! | GET, DELETE | `/_admin/hooks` | the webhook sink's deliveries (`hooks.localhost`), or forget them |
//! | * | `/_admin/eventgrid/…` | Event Grid: subscriptions, the publisher's clock, injected events, delivery log and status (see [`crate::eventgrid`]) |

use serde_json::json;

use crate::faults::FaultRule;
use crate::http::{Req, Resp};
use crate::state::Shared;
use crate::RecordedRequest;

pub fn handle(shared: &Shared, ca_path: &str, req: &Req) -> Resp {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/_admin") => {
            let vaults: Vec<String> = {
                let st = shared.lock();
                let mut v: Vec<String> = st
                    .vaults
                    .values()
                    .map(|v| shared.vault_base(&v.name))
                    .collect();
                v.sort();
                v
            };
            Resp::json(
                200,
                &json!({
                    "port": shared.port,
                    "tenant_id": shared.tenant_id,
                    "authority_host": shared.login_base(),
                    "graph_url": shared.graph_base(),
                    "arm_url": format!("https://management.localhost:{}", shared.port),
                    "vaults": vaults,
                    "ca_path": ca_path,
                }),
            )
        }
        ("GET", "/_admin/applications") => Resp::json(200, &applications(shared)),
        (_, "/_admin/devops") => crate::devops::admin(shared, req),
        (_, p) if p == "/_admin/arm" || p.starts_with("/_admin/arm/") => {
            crate::arm::admin(shared, req)
        }
        (_, p) if p.starts_with("/_admin/github") => crate::github::admin(shared, req),
        ("POST", "/_admin/faults") => match serde_json::from_slice::<FaultRule>(&req.body) {
            Ok(rule) => {
                shared.lock().faults.add(rule.clone());
                Resp::json(201, &rule)
            }
            Err(e) => Resp::json(400, &json!({"error": format!("invalid fault rule: {e}")})),
        },
        ("PUT", "/_admin/keyvault") => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct KeyVaultSettings {
                version_ids: crate::seed::VersionIds,
            }
            match serde_json::from_slice::<KeyVaultSettings>(&req.body) {
                Ok(settings) => {
                    shared.lock().version_ids = settings.version_ids;
                    Resp::json(200, &json!({"version_ids": settings.version_ids}))
                }
                Err(e) => Resp::json(
                    400,
                    &json!({"error": format!("invalid Key Vault settings: {e}")}),
                ),
            }
        }
        (_, "/_admin/hooks") => crate::hooks::admin(shared, req),
        ("DELETE", "/_admin/faults") => {
            shared.lock().faults.clear();
            Resp::empty(204)
        }
        ("GET", "/_admin/requests") => {
            let reqs: Vec<serde_json::Value> =
                shared.lock().requests.iter().map(request_json).collect();
            Resp::json(200, &reqs)
        }
        ("DELETE", "/_admin/requests") => {
            shared.lock().requests.clear();
            Resp::empty(204)
        }
        _ => Resp::json(
            404,
            &json!({"error": format!("no admin endpoint {} {}", req.method, req.path)}),
        ),
    }
}

/// The JSON form of a recorded request; the body is text (lossy UTF-8) because every body the
/// emulator accepts is JSON or a form. `received_at_unix_us` is the arrival time in
/// microseconds since the Unix epoch (the system clock, so other processes on the machine can
/// compare their own timestamps with it).
pub fn request_json(r: &RecordedRequest) -> serde_json::Value {
    let received_at_unix_us = r
        .received_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    json!({
        "method": r.method,
        "host": r.host,
        "path_and_query": r.path_and_query,
        "headers": r.headers,
        "body": String::from_utf8_lossy(&r.body),
        "status": r.status,
        "route": r.route,
        "received_at_unix_us": received_at_unix_us,
    })
}

/// Every application with its credentials' metadata, sorted by appId. Secret text never
/// leaves the emulator this way: only `hint`, as Graph shows it.
fn applications(shared: &Shared) -> serde_json::Value {
    let st = shared.lock();
    let mut apps: Vec<&crate::state::Client> = st.clients.values().collect();
    apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let fmt = crate::graph::format_time;
    serde_json::Value::Array(
        apps.into_iter()
            .map(|c| {
                json!({
                    "appId": c.client_id,
                    "id": c.object_id,
                    "displayName": c.display_name,
                    "owners": c.owners,
                    "graphPermissions": c.graph_permissions,
                    "passwordCredentials": c.secrets.iter().map(|s| json!({
                        "keyId": s.key_id,
                        "displayName": s.display_name,
                        "startDateTime": fmt(s.start),
                        "endDateTime": s.end.map(fmt),
                        "hint": s.hint(),
                        "replicatedDateTime": fmt(s.usable_from),
                    })).collect::<Vec<_>>(),
                    "keyCredentials": c.certificates.iter().map(|k| json!({
                        "keyId": k.key_id,
                        "displayName": k.display_name,
                        "startDateTime": fmt(k.start),
                        "endDateTime": fmt(k.end),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
