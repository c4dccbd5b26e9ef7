//! `https://localhost:{port}/_admin`: the HTTP mirror of the fault and request-log API, for
//! test suites in other languages and for `keyrot emulator` users.
//!
//! | method | path | effect |
//! |---|---|---|
//! | GET | `/_admin` | emulator facts (port, tenant, vault URLs, CA path) |
//! | POST | `/_admin/faults` | add a [`FaultRule`](crate::FaultRule) (JSON body) |
//! | DELETE | `/_admin/faults` | remove every fault |
//! | GET | `/_admin/requests` | the request log as a JSON array |
//! | DELETE | `/_admin/requests` | clear the log |

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
                    "vaults": vaults,
                    "ca_path": ca_path,
                }),
            )
        }
        ("POST", "/_admin/faults") => match serde_json::from_slice::<FaultRule>(&req.body) {
            Ok(rule) => {
                shared.lock().faults.add(rule.clone());
                Resp::json(201, &rule)
            }
            Err(e) => Resp::json(400, &json!({"error": format!("invalid fault rule: {e}")})),
        },
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
/// emulator accepts is JSON or a form.
pub fn request_json(r: &RecordedRequest) -> serde_json::Value {
    json!({
        "method": r.method,
        "host": r.host,
        "path_and_query": r.path_and_query,
        "headers": r.headers,
        "body": String::from_utf8_lossy(&r.body),
        "status": r.status,
        "route": r.route,
    })
}
