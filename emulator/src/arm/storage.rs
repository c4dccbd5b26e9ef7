//! `Microsoft.Storage/storageAccounts`: GET, `listKeys`, `regenerateKey`; and the blob endpoint
//! `{account}.blob.localhost` that judges keys with Shared Key authorization
//! (`GET /?comp=list`, the List Containers operation).
//!
//! Shapes follow rest-api-specs `Microsoft.Storage/stable/2023-05-01` (tests/fixtures/arm):
//! `listKeys` and `regenerateKey` answer both keys as `{"keys":[{keyName, value, permissions,
//! creationTime}]}`; `permissions` is `FULL`, as the live service sends it (the spec's examples
//! write `Full`; the SDKs' enum is case-insensitive). `regenerateKey` takes `{"keyName": "key1"
//! | "key2"}` (case-insensitive); anything else (also `kerb1`/`kerb2`, which need AD DS) is 400
//! `InvalidValuesForRequestParameters`. The account's `keyCreationTime` moves with each
//! regeneration; `keyPolicy` is present when the seed sets `key_expiration_period_days`.

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{arm_time, now_ms, random_key, resource_not_found, rp_error, Ctx};
use crate::http::{Req, Resp};
use crate::state::{new_uuid, Shared};

pub const API_VERSIONS: &[&str] = &[
    "2026-09-01",
    "2025-08-01",
    "2025-06-01",
    "2025-01-01",
    "2024-01-01",
    "2023-05-01",
    "2023-04-01",
    "2023-01-01",
    "2022-09-01",
    "2022-05-01",
    "2021-09-01",
    "2021-08-01",
    "2021-06-01",
    "2021-04-01",
    "2019-06-01",
];

const TYPE: &str = "Microsoft.Storage/storageAccounts";

pub struct Key {
    pub value: String,
    pub created_ms: i128,
}

pub struct StorageAccount {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub created_ms: i128,
    pub key1: Key,
    pub key2: Key,
    pub key_expiration_period_days: Option<u32>,
    pub regenerations: Vec<String>,
}

impl StorageAccount {
    pub fn from_seed(s: &super::StorageAccountSeed, start: i64) -> StorageAccount {
        let key = |v: &Option<crate::seed::Redacted>, t: &Option<crate::seed::TimeSpec>| Key {
            value: v
                .as_ref()
                .map_or_else(|| random_key(64), |v| v.expose().to_owned()),
            created_ms: i128::from(t.as_ref().map_or(start, |t| t.resolve(start))) * 1000,
        };
        let key1 = key(&s.key1, &s.key1_created);
        let key2 = key(&s.key2, &s.key2_created);
        StorageAccount {
            resource_group: s.resource_group.clone(),
            name: s.name.clone(),
            location: s.location.clone(),
            created_ms: key1.created_ms.min(key2.created_ms),
            key1,
            key2,
            key_expiration_period_days: s.key_expiration_period_days,
            regenerations: Vec::new(),
        }
    }

    fn keys_json(&self) -> Value {
        let k = |name: &str, key: &Key| json!({"keyName": name, "value": key.value, "permissions": "FULL", "creationTime": arm_time(key.created_ms)});
        json!({"keys": [k("key1", &self.key1), k("key2", &self.key2)]})
    }

    pub fn admin(&self) -> Value {
        json!({
            "resource_group": self.resource_group,
            "name": self.name,
            "keys": self.keys_json()["keys"],
            "regenerations": self.regenerations,
        })
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
            Op::Get => "arm.storage.get",
            Op::ListKeys => "arm.storage.listKeys",
            Op::RegenerateKey => "arm.storage.regenerateKey",
        }
    }
}

pub(crate) fn handle(ctx: &mut Ctx<'_>, rg: &str, name: &str, op: Op) -> Resp {
    let port = ctx.port;
    let Some(i) = ctx.st.arm.storage.iter().position(|a| {
        a.resource_group.eq_ignore_ascii_case(rg) && a.name.eq_ignore_ascii_case(name)
    }) else {
        return resource_not_found(TYPE, name, rg);
    };
    match op {
        Op::Get => {
            let a = &ctx.st.arm.storage[i];
            let id = ctx.resource_id(&a.resource_group, TYPE, &a.name);
            Resp::json(200, &account_json(a, &id, port))
        }
        Op::ListKeys => Resp::json(200, &ctx.st.arm.storage[i].keys_json()),
        Op::RegenerateKey => {
            let body = match ctx.body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let key_name = body
                .get("keyName")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            let a = &mut ctx.st.arm.storage[i];
            let key = match key_name.as_deref() {
                Some("key1") => &mut a.key1,
                Some("key2") => &mut a.key2,
                _ => {
                    return rp_error(
                        400,
                        "InvalidValuesForRequestParameters",
                        "Values for request parameters are invalid: keyName.",
                    )
                }
            };
            *key = Key {
                value: random_key(64),
                created_ms: now_ms(),
            };
            a.regenerations.push(key_name.unwrap_or_default());
            Resp::json(200, &a.keys_json())
        }
    }
}

fn account_json(a: &StorageAccount, id: &str, port: u16) -> Value {
    let endpoint = |svc: &str| format!("https://{}.{svc}.localhost:{port}/", a.name);
    let mut properties = json!({
        "keyCreationTime": {"key1": arm_time(a.key1.created_ms), "key2": arm_time(a.key2.created_ms)},
        "allowCrossTenantReplication": false,
        "privateEndpointConnections": [],
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": false,
        "allowSharedKeyAccess": true,
        "networkAcls": {"ipv6Rules": [], "bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
        "supportsHttpsTrafficOnly": true,
        "encryption": {
            "requireInfrastructureEncryption": false,
            "services": {
                "file": {"keyType": "Account", "enabled": true, "lastEnabledTime": arm_time(a.created_ms)},
                "blob": {"keyType": "Account", "enabled": true, "lastEnabledTime": arm_time(a.created_ms)}
            },
            "keySource": "Microsoft.Storage"
        },
        "accessTier": "Hot",
        "provisioningState": "Succeeded",
        "creationTime": arm_time(a.created_ms),
        "primaryEndpoints": {
            "dfs": endpoint("dfs"), "web": endpoint("z6.web"), "blob": endpoint("blob"),
            "queue": endpoint("queue"), "table": endpoint("table"), "file": endpoint("file")
        },
        "primaryLocation": a.location,
        "statusOfPrimary": "available",
    });
    if let Some(days) = a.key_expiration_period_days {
        properties["keyPolicy"] = json!({"keyExpirationPeriodInDays": days});
    }
    json!({
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "kind": "StorageV2",
        "id": id,
        "name": a.name,
        "type": TYPE,
        "location": a.location,
        "tags": {},
        "properties": properties,
    })
}

// --- the blob endpoint ------------------------------------------------------------------

pub fn blob_route(req: &Req) -> &'static str {
    if req.method == "GET" && req.path == "/" && req.query("comp") == Some("list") {
        "storage.blob.list"
    } else {
        "storage.blob.unknown"
    }
}

const AUTH_FAILED: &str = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";

/// Blob storage's XML error, with `RequestId` and `Time` lines in the message as the service
/// writes them.
pub fn xml_error(status: u16, code: &str, message: &str, detail: Option<&str>) -> Resp {
    let request_id = new_uuid();
    let time = arm_time(now_ms());
    let detail = detail
        .map(|d| {
            format!(
                "<AuthenticationErrorDetail>{}</AuthenticationErrorDetail>",
                xml_escape(d)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{}\nRequestId:{request_id}\nTime:{time}</Message>{detail}</Error>",
        xml_escape(message)
    );
    Resp::text(status, "application/xml", body)
        .header("x-ms-error-code", code)
        .header("x-ms-request-id", request_id)
        .header("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0")
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The Shared Key string-to-sign for the Blob service (version 2015-02-21 and later).
pub(crate) fn string_to_sign(account: &str, req: &Req) -> String {
    let h = |name: &str| req.header(name).unwrap_or("").trim().to_owned();
    let content_length = match h("content-length").as_str() {
        "0" => String::new(),
        v => v.to_owned(),
    };
    let mut canonical_headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    canonical_headers.sort();
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in &req.query {
        params
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.clone());
    }
    let mut resource = format!("/{account}{}", req.path);
    for (k, mut vs) in params {
        vs.sort();
        resource.push_str(&format!("\n{k}:{}", vs.join(",")));
    }
    let mut s = [
        req.method.clone(),
        h("content-encoding"),
        h("content-language"),
        content_length,
        h("content-md5"),
        h("content-type"),
        h("date"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    ]
    .join("\n");
    s.push('\n');
    for (k, v) in canonical_headers {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(&resource);
    s
}

fn sign(key_b64: &str, text: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .ok()?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), text.as_bytes());
    Some(base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
}

pub fn blob(shared: &Shared, account: &str, req: &Req) -> Resp {
    let keys = {
        let st = shared.lock();
        st.arm
            .storage
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(account))
            .map(|a| (a.name.clone(), a.key1.value.clone(), a.key2.value.clone()))
    };
    let Some((name, key1, key2)) = keys else {
        return xml_error(
            404,
            "ResourceNotFound",
            &format!("The storage account '{account}' does not exist in this keyrot emulator. (Azure would fail DNS resolution of {account}.blob.core.windows.net.)"),
            None,
        );
    };
    let version = req.header("x-ms-version").unwrap_or("").to_owned();
    let refuse = |detail: &str| xml_error(403, "AuthenticationFailed", AUTH_FAILED, Some(detail));
    let Some(auth) = req.header("authorization") else {
        return refuse("Authorization header is missing. (keyrot emulator: the blob endpoint judges Shared Key only.)");
    };
    let Some((claimed_account, signature)) = auth
        .strip_prefix("SharedKey ")
        .and_then(|rest| rest.trim().split_once(':'))
    else {
        return refuse(&format!("The authorization header is not in the format 'SharedKey account:signature': '{auth}'."));
    };
    if !claimed_account.eq_ignore_ascii_case(&name) {
        return refuse(&format!(
            "Issuer validation failed. Issuer did not match: '{claimed_account}'."
        ));
    }
    let date = req.header("x-ms-date").or_else(|| req.header("date"));
    let Some(date) = date else {
        return refuse("Request date header not specified.");
    };
    match super::http_date(date).ok_or(()) {
        Ok(t) => {
            let skew = (time::OffsetDateTime::now_utc() - t).whole_seconds();
            if skew > 15 * 60 {
                return refuse(&format!("Request date header too old: '{date}'"));
            }
            if skew < -15 * 60 {
                return refuse(&format!("Request date header is in the future: '{date}'"));
            }
        }
        Err(_) => {
            return refuse(&format!(
                "The Date header in the request is incorrect: '{date}'"
            ))
        }
    }
    let to_sign = string_to_sign(&name, req);
    let ok = [key1, key2]
        .iter()
        .filter_map(|k| sign(k, &to_sign))
        .any(|expected| expected == signature);
    if !ok {
        return refuse(&format!(
            "The MAC signature found in the HTTP request '{signature}' is not the same as any computed signature. Server used following string to sign: '{to_sign}'."
        ));
    }
    if blob_route(req) != "storage.blob.list" {
        return xml_error(
            400,
            "UnsupportedHttpVerb",
            "The resource doesn't support specified Http Verb. (keyrot emulator: only GET /?comp=list)",
            None,
        );
    }
    let max = req
        .query("maxresults")
        .map(|m| format!("<MaxResults>{}</MaxResults>", xml_escape(m)))
        .unwrap_or_default();
    let body = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"https://{name}.blob.localhost:{}/\">{max}<Containers /><NextMarker /></EnumerationResults>",
        shared.port
    );
    let mut r = Resp::text(200, "application/xml", body)
        .header("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0")
        .header("x-ms-request-id", new_uuid());
    if !version.is_empty() {
        r = r.header("x-ms-version", version);
    }
    r
}
