//! `Microsoft.DocumentDB/databaseAccounts`: GET, `listKeys`, and `regenerateKey`, a
//! long-running operation; and the account endpoint `{account}.documents.localhost` that judges
//! keys with master-key authorization.
//!
//! `regenerateKey` takes `{"keyKind": "primary" | "secondary" | "primaryReadonly" |
//! "secondaryReadonly"}` and answers **202** with `{"status":"Dequeued"}` (as the service does),
//! `Azure-AsyncOperation: {arm}/subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{l}/
//! operationsStatus/{id}?api-version=…` and `Location: …/operationResults/{id}?api-version=…`.
//! The status URL answers `{"status":"InProgress"}` until the account's `regenerate_seconds`
//! have passed, then `{"status":"Succeeded"}`; the Location URL answers 202 (with `Location`),
//! then 200 with an empty body. The key changes when the operation completes, not before.
//! A `regenerateKey` while another runs on the same account is **412** `PreconditionFailed`
//! "There is another user operation in progress which requires an exclusive lock on …", as the
//! service answers conflicting operations. A bad `keyKind` is 400 `BadRequest`.
//!
//! The data plane accepts `GET /` with `authorization` = URL-encoded
//! `type=master&ver=1.0&sig={base64 HMAC-SHA256 keyed with the base64-decoded key over
//! "get\n\n\n{x-ms-date, lower-case}\n\n"}` (any of the four keys for this read), `x-ms-date`
//! within 15 minutes of now; 200 with the database account JSON, else 401 `Unauthorized` (403
//! `Forbidden` for a stale date).

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{arm_time, now_ms, random_key, resource_not_found, rp_error, ArmState, Ctx};
use crate::http::{Req, Resp};
use crate::state::{new_uuid, Shared};

pub const API_VERSIONS: &[&str] = &[
    "2026-03-15",
    "2025-10-15",
    "2025-04-15",
    "2024-11-15",
    "2024-08-15",
    "2024-05-15",
    "2024-02-15-preview",
    "2023-11-15",
    "2023-09-15",
    "2023-04-15",
    "2023-03-15",
    "2022-11-15",
    "2022-08-15",
    "2022-05-15",
    "2021-10-15",
    "2021-04-15",
];

const TYPE: &str = "Microsoft.DocumentDB/databaseAccounts";
const KINDS: [&str; 4] = [
    "primary",
    "secondary",
    "primaryReadonly",
    "secondaryReadonly",
];
const KEY_FIELDS: [&str; 4] = [
    "primaryMasterKey",
    "secondaryMasterKey",
    "primaryReadonlyMasterKey",
    "secondaryReadonlyMasterKey",
];

#[derive(Clone)]
pub struct Key {
    pub value: String,
    pub created_ms: i128,
}

pub struct CosmosAccount {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub regenerate_seconds: u64,
    pub created_ms: i128,
    pub keys: [Key; 4],
    pub regenerations: Vec<String>,
}

/// A regenerateKey operation.
pub struct Operation {
    pub id: String,
    pub account: String,
    pub kind: usize,
    pub completes_ms: i128,
    pub done: bool,
}

impl CosmosAccount {
    pub fn from_seed(s: &super::CosmosAccountSeed, start: i64) -> CosmosAccount {
        let created_ms =
            i128::from(s.keys_created.as_ref().map_or(start, |t| t.resolve(start))) * 1000;
        let key = |k: &Option<crate::seed::Redacted>| Key {
            value: k
                .as_ref()
                .map_or_else(|| random_key(64), |k| k.expose().to_owned()),
            created_ms,
        };
        CosmosAccount {
            resource_group: s.resource_group.clone(),
            name: s.name.clone(),
            location: s.location.clone(),
            regenerate_seconds: s.regenerate_seconds,
            created_ms,
            keys: [
                key(&s.primary_key),
                key(&s.secondary_key),
                key(&s.primary_readonly_key),
                key(&s.secondary_readonly_key),
            ],
            regenerations: Vec::new(),
        }
    }

    fn keys_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (field, k) in KEY_FIELDS.iter().zip(&self.keys) {
            m.insert((*field).to_owned(), Value::from(k.value.clone()));
        }
        Value::Object(m)
    }

    pub fn admin(&self) -> Value {
        json!({
            "resource_group": self.resource_group,
            "name": self.name,
            "keys": self.keys_json(),
            "regenerations": self.regenerations,
        })
    }
}

/// Applies every operation whose time has come.
pub fn settle(arm: &mut ArmState, now: i128) {
    for op in arm
        .operations
        .iter_mut()
        .filter(|o| !o.done && o.completes_ms <= now)
    {
        op.done = true;
        if let Some(a) = arm.cosmos.iter_mut().find(|a| a.name == op.account) {
            a.keys[op.kind] = Key {
                value: random_key(64),
                created_ms: op.completes_ms,
            };
            a.regenerations.push(KINDS[op.kind].to_owned());
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    ListKeys,
    RegenerateKey,
}

impl Op {
    pub fn parse(method: &str, tail: &[&str]) -> Option<Op> {
        match (method, tail) {
            ("GET", []) => Some(Op::Get),
            ("POST", ["listkeys"]) => Some(Op::ListKeys),
            ("POST", ["regeneratekey"]) => Some(Op::RegenerateKey),
            _ => None,
        }
    }

    pub fn route(self) -> &'static str {
        match self {
            Op::Get => "arm.cosmos.get",
            Op::ListKeys => "arm.cosmos.listKeys",
            Op::RegenerateKey => "arm.cosmos.regenerateKey",
        }
    }
}

/// `westeurope` → `West Europe`, as Cosmos DB names locations.
fn display_location(l: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("westeurope", "West Europe"),
        ("northeurope", "North Europe"),
        ("eastus", "East US"),
        ("eastus2", "East US 2"),
        ("westus", "West US"),
        ("westus2", "West US 2"),
        ("centralus", "Central US"),
        ("uksouth", "UK South"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(l))
        .map_or_else(|| l.to_owned(), |(_, v)| (*v).to_owned())
}

pub(crate) fn handle(ctx: &mut Ctx<'_>, rg: &str, name: &str, op: Op) -> Resp {
    let port = ctx.port;
    let Some(i) = ctx.st.arm.cosmos.iter().position(|a| {
        a.resource_group.eq_ignore_ascii_case(rg) && a.name.eq_ignore_ascii_case(name)
    }) else {
        return resource_not_found(TYPE, name, rg);
    };
    match op {
        Op::Get => {
            let a = &ctx.st.arm.cosmos[i];
            let id = ctx.resource_id(&a.resource_group, TYPE, &a.name);
            Resp::json(200, &account_json(a, &id, port))
        }
        Op::ListKeys => Resp::json(200, &ctx.st.arm.cosmos[i].keys_json()),
        Op::RegenerateKey => {
            let body = match ctx.body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let kind = body.get("keyKind").and_then(Value::as_str).unwrap_or("");
            let Some(k) = KINDS.iter().position(|x| x.eq_ignore_ascii_case(kind)) else {
                return rp_error(
                    400,
                    "BadRequest",
                    &format!("Invalid keyKind '{kind}'. Supported values are 'primary', 'secondary', 'primaryReadonly' and 'secondaryReadonly'.\r\nActivityId: {}, Microsoft.Azure.Documents.Common/2.14.0", new_uuid()),
                );
            };
            let account = ctx.st.arm.cosmos[i].name.clone();
            let busy = ctx
                .st
                .arm
                .operations
                .iter()
                .any(|o| !o.done && o.account == account);
            if busy {
                return rp_error(
                    412,
                    "PreconditionFailed",
                    &format!("There is another user operation in progress which requires an exclusive lock on [{account}]. Please retry after sometime.\r\nActivityId: {}, Microsoft.Azure.Documents.Common/2.14.0", new_uuid()),
                );
            }
            let a = &ctx.st.arm.cosmos[i];
            let location = a.location.clone();
            let id = new_uuid();
            let completes_ms = now_ms() + i128::from(a.regenerate_seconds) * 1000;
            ctx.st.arm.operations.push(Operation {
                id: id.clone(),
                account,
                kind: k,
                completes_ms,
                done: false,
            });
            let (status, result) = operation_urls(ctx, &location, &id);
            Resp::json(202, &json!({"status": "Dequeued"}))
                .header("Azure-AsyncOperation", status)
                .header("Location", result)
        }
    }
}

fn operation_urls(ctx: &Ctx<'_>, location: &str, id: &str) -> (String, String) {
    let base = format!(
        "{}/subscriptions/{}/providers/Microsoft.DocumentDB/locations/{location}",
        ctx.base(),
        ctx.sub()
    );
    (
        format!(
            "{base}/operationsStatus/{id}?api-version={}",
            ctx.api_version
        ),
        format!(
            "{base}/operationResults/{id}?api-version={}",
            ctx.api_version
        ),
    )
}

pub(crate) fn operation(ctx: &mut Ctx<'_>, location: &str, id: &str, result: bool) -> Resp {
    let Some(op) = ctx
        .st
        .arm
        .operations
        .iter()
        .find(|o| o.id.eq_ignore_ascii_case(id))
    else {
        return rp_error(
            404,
            "NotFound",
            &format!("Operation '{id}' was not found.\r\nActivityId: {}, Microsoft.Azure.Documents.Common/2.14.0", new_uuid()),
        );
    };
    let done = op.done;
    let id = op.id.clone();
    match (result, done) {
        (false, false) => Resp::json(200, &json!({"status": "InProgress"})),
        (false, true) => Resp::json(200, &json!({"status": "Succeeded"})),
        (true, false) => {
            let (_, loc) = operation_urls(ctx, location, &id);
            Resp::json(202, &json!({"status": "InProgress"})).header("Location", loc)
        }
        (true, true) => Resp::empty(200),
    }
}

fn account_json(a: &CosmosAccount, id: &str, port: u16) -> Value {
    let endpoint = format!("https://{}.documents.localhost:{port}/", a.name);
    let loc = display_location(&a.location);
    let region = json!({
        "id": format!("{}-{}", a.name, a.location.to_ascii_lowercase()),
        "locationName": loc,
        "documentEndpoint": endpoint,
        "provisioningState": "Succeeded",
        "failoverPriority": 0,
        "isZoneRedundant": false,
    });
    let mut keys_metadata = serde_json::Map::new();
    for (field, k) in KEY_FIELDS.iter().zip(&a.keys) {
        keys_metadata.insert(
            (*field).to_owned(),
            json!({"generationTime": arm_time(k.created_ms)}),
        );
    }
    json!({
        "id": id,
        "name": a.name,
        "location": loc,
        "type": TYPE,
        "kind": "GlobalDocumentDB",
        "tags": {},
        "identity": {"type": "None"},
        "properties": {
            "provisioningState": "Succeeded",
            "documentEndpoint": endpoint,
            "databaseAccountOfferType": "Standard",
            "ipRules": [],
            "isVirtualNetworkFilterEnabled": false,
            "enableAutomaticFailover": false,
            "consistencyPolicy": {"defaultConsistencyLevel": "Session", "maxIntervalInSeconds": 5, "maxStalenessPrefix": 100},
            "capabilities": [],
            "writeLocations": [region.clone()],
            "readLocations": [region.clone()],
            "locations": [region],
            "failoverPolicies": [{"id": format!("{}-{}", a.name, a.location.to_ascii_lowercase()), "locationName": loc, "failoverPriority": 0}],
            "virtualNetworkRules": [],
            "privateEndpointConnections": [],
            "enableMultipleWriteLocations": false,
            "disableKeyBasedMetadataWriteAccess": false,
            "publicNetworkAccess": "Enabled",
            "enableFreeTier": false,
            "enableAnalyticalStorage": false,
            "disableLocalAuth": false,
            "minimalTlsVersion": "Tls12",
            "networkAclBypass": "None",
            "createMode": "Default",
            "keysMetadata": keys_metadata,
            "instanceId": crate::state::derived_guid(&a.name),
        },
        "systemData": {"createdAt": arm_time(a.created_ms)},
    })
}

// --- the account endpoint ---------------------------------------------------------------

fn data_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"code": code, "message": format!("{message}\r\nActivityId: {}, Microsoft.Azure.Documents.Common/2.14.0", new_uuid())}),
    )
    .header("x-ms-activity-id", new_uuid())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `(resourceType, resourceLink)` of a path, as the master-key signature names them.
fn resource_parts(path: &str) -> (String, String) {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if segs.is_empty() {
        return (String::new(), String::new());
    }
    if segs.len() % 2 == 1 {
        (
            segs[segs.len() - 1].to_ascii_lowercase(),
            segs[..segs.len() - 1].join("/"),
        )
    } else {
        (segs[segs.len() - 2].to_ascii_lowercase(), segs.join("/"))
    }
}

pub fn data(shared: &Shared, account: &str, req: &Req) -> Resp {
    let (name, keys, location) = {
        let mut st = shared.lock();
        st.arm.settle();
        match st
            .arm
            .cosmos
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(account))
        {
            Some(a) => (
                a.name.clone(),
                a.keys.clone().map(|k| k.value),
                display_location(&a.location),
            ),
            None => {
                return data_error(
                    404,
                    "NotFound",
                    &format!("The account '{account}' does not exist in this keyrot emulator. (Azure would fail DNS resolution of {account}.documents.azure.com.)"),
                )
            }
        }
    };
    let Some(auth) = req.header("authorization") else {
        return data_error(
            401,
            "Unauthorized",
            "Required Header authorization is missing. Ensure a valid Authorization token is passed.",
        );
    };
    let decoded = percent_decode(auth);
    let mut fields = std::collections::HashMap::new();
    for part in decoded.split('&') {
        if let Some((k, v)) = part.split_once('=') {
            fields.insert(k.to_ascii_lowercase(), v.to_owned());
        }
    }
    let bad_token = || {
        data_error(
            401,
            "Unauthorized",
            "The input authorization token can't serve the request. The wrong key is being used or the expected payload is not built as per the protocol. For more info: https://aka.ms/cosmosdb-tsg-mac-signature",
        )
    };
    if fields.get("type").map(String::as_str) != Some("master") || !fields.contains_key("sig") {
        return bad_token();
    }
    let date = req
        .header("x-ms-date")
        .or_else(|| req.header("date"))
        .unwrap_or("");
    match super::http_date(date).ok_or(()) {
        Ok(t) if (time::OffsetDateTime::now_utc() - t).whole_seconds().abs() <= 15 * 60 => {}
        _ => {
            return data_error(
                403,
                "Forbidden",
                &format!("The authorization token is not valid at the current time. Please create another token and retry (token start time: {date}, current server time: {}).", crate::graph::format_time(time::OffsetDateTime::now_utc())),
            )
        }
    }
    let (ty, link) = resource_parts(&req.path);
    let payload = format!(
        "{}\n{ty}\n{link}\n{}\n\n",
        req.method.to_ascii_lowercase(),
        date.to_ascii_lowercase()
    );
    let sig = fields.get("sig").cloned().unwrap_or_default();
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(&sig) else {
        return bad_token();
    };
    let read = req.method == "GET" || req.method == "HEAD";
    let usable = if read { &keys[..] } else { &keys[..2] };
    let ok = usable.iter().any(|k| {
        base64::engine::general_purpose::STANDARD
            .decode(k)
            .is_ok_and(|kb| {
                hmac::verify(
                    &hmac::Key::new(hmac::HMAC_SHA256, &kb),
                    payload.as_bytes(),
                    &tag,
                )
                .is_ok()
            })
    });
    if !ok {
        return bad_token();
    }
    if !(read && ty.is_empty()) {
        return data_error(
            404,
            "NotFound",
            "Resource Not Found. (keyrot emulator: only GET / is served)",
        );
    }
    let endpoint = format!("https://{name}.documents.localhost:{}/", shared.port);
    let region = json!([{"name": location, "databaseAccountEndpoint": endpoint}]);
    Resp::json(
        200,
        &json!({
            "_self": "",
            "id": name,
            "_rid": format!("{name}.documents.localhost"),
            "media": "//media/",
            "addresses": "//addresses/",
            "_dbs": "//dbs/",
            "writableLocations": region,
            "readableLocations": region,
            "enableMultipleWriteLocations": false,
            "userReplicationPolicy": {"asyncReplication": false, "minReplicaSetSize": 3, "maxReplicasetSize": 4},
            "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
            "systemReplicationPolicy": {"minReplicaSetSize": 3, "maxReplicasetSize": 4},
            "readPolicy": {"primaryReadCoefficient": 1, "secondaryReadCoefficient": 1},
            "queryEngineConfiguration": "{}",
        }),
    )
    .header("x-ms-activity-id", new_uuid())
    .header("x-ms-gatewayversion", "2.0.0")
}
