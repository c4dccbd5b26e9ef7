//! Microsoft Graph applications: contract tests against the recorded/documented payloads
//! (copies under `tests/fixtures/graph/`, see `tests/fixtures/PROVENANCE.md`), lookups,
//! `addPassword`/`removePassword` as the token endpoint sees them, permissions, tokens and
//! faults.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use keyrot_emulator::{FaultRule, Seed};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

macro_rules! fixture {
    ($p:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../../tests/fixtures/graph/", $p)))
            .expect($p)
    };
}

const ROTATOR: &str = "cccccccc-0000-0000-0000-000000000001";
const ROTATOR_SECRET: &str = "rotator-login-secret";
const ADMIN: &str = "cccccccc-0000-0000-0000-000000000002";
const ADMIN_SECRET: &str = "admin-login-secret";
const READER: &str = "cccccccc-0000-0000-0000-000000000003";
const READER_SECRET: &str = "reader-login-secret";
const NOBODY: &str = "cccccccc-0000-0000-0000-000000000004";
const NOBODY_SECRET: &str = "nobody-login-secret";
const TARGET: &str = "dddddddd-0000-0000-0000-000000000001";
const TARGET_OID: &str = "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
const TARGET_SECRET: &str = "tgt8Q~current-target-secret";
const OTHER: &str = "dddddddd-0000-0000-0000-000000000002";
const K_CURRENT: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";
const K_EXPIRED: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f7";
const K_CERT: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f8";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

fn graph_seed() -> String {
    format!(
        r#"
tenant_id = "{TENANT}"

[[client]]
client_id = "{ROTATOR}"
display_name = "keyrot-rotator"
secrets = [{{ value = "{ROTATOR_SECRET}" }}]
graph_permissions = ["Application.ReadWrite.OwnedBy"]

[[client]]
client_id = "{ADMIN}"
secrets = [{{ value = "{ADMIN_SECRET}" }}]
graph_permissions = ["Application.ReadWrite.All"]

[[client]]
client_id = "{READER}"
secrets = [{{ value = "{READER_SECRET}" }}]
graph_permissions = ["Application.Read.All"]

[[client]]
client_id = "{NOBODY}"
secrets = [{{ value = "{NOBODY_SECRET}" }}]

[[client]]
client_id = "{TARGET}"
object_id = "{TARGET_OID}"
display_name = "billing-api"
owners = ["{ROTATOR}"]
secrets = [
  {{ value = "{TARGET_SECRET}", key_id = "{K_CURRENT}", display_name = "current", start = "-30d", end = "+60d" }},
  {{ value = "old8Q~expired-target-secret", key_id = "{K_EXPIRED}", start = "-400d", expires = "-1d" }},
  {{ value = "fut8Q~future-target-secret", start = "+2d", end = "+400d" }},
]
certificates = [{{ key_id = "{K_CERT}", display_name = "signing-cert", start = "-300d", end = "+65d" }}]

[[client]]
client_id = "{OTHER}"
display_name = "other-app"
secrets = [{{ value = "other-secret" }}]

[[vault]]
name = "kv1"
"#
    )
}

async fn graph_env() -> Env {
    start_with(Seed::from_toml_str(&graph_seed()).expect("graph seed")).await
}

impl Env {
    async fn graph_token(&self, client: &str, secret: &str) -> String {
        self.token_for(client, secret, GRAPH_SCOPE).await
    }

    /// A Graph call; `path` starts with `/v1.0`.
    async fn graph(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, HeaderMap, Value) {
        let url = format!("{}{path}", self.emu.graph_url());
        self.kv(method, &url, token, body).await
    }

    /// Token endpoint answer for a client secret: `None` on success, else the AADSTS code.
    async fn login_error(&self, client: &str, secret: &str) -> Option<u64> {
        let (s, v) = self
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", secret),
                ("scope", SCOPE),
            ])
            .await;
        if s == 200 {
            None
        } else {
            Some(v["error_codes"][0].as_u64().unwrap())
        }
    }
}

fn app_path(id: &str) -> String {
    format!("/v1.0/applications/{id}")
}

fn by_app_id(app_id: &str) -> String {
    format!("/v1.0/applications(appId='{app_id}')")
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same keys as the reference (ignoring `@odata.*` annotations, which the docs' examples
/// leave out), and the same JSON types wherever both are non-null (Graph properties are
/// nullable), recursively.
fn same_shape(ours: &Value, reference: &Value, path: &str) {
    match (ours, reference) {
        (Value::Object(o), Value::Object(r)) => {
            for k in r.keys() {
                assert!(o.contains_key(k), "{path}.{k} missing; ours: {ours}");
            }
            for (k, v) in o {
                if k.starts_with("@odata.") {
                    continue;
                }
                let rv = r
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is not in the reference"));
                same_shape(v, rv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            if let (Some(o), Some(r)) = (o.first(), r.first()) {
                same_shape(o, r, &format!("{path}[0]"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (o, r) => assert_eq!(kind(o), kind(r), "type of {path}: ours {o}, reference {r}"),
    }
}

fn password_keys() -> Vec<String> {
    let mut keys: Vec<String> = fixture!("passwordCredential-resource.json")
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with("@odata."))
        .cloned()
        .collect();
    k.sort();
    k
}

fn parse_time(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn assert_graph_error(h: &HeaderMap, v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    let inner = &v["error"]["innerError"];
    assert!(inner["date"].is_string(), "{v}");
    assert_eq!(
        inner["request-id"],
        h["request-id"].to_str().unwrap(),
        "{v}"
    );
    assert_eq!(
        inner["client-request-id"],
        h["client-request-id"].to_str().unwrap(),
        "{v}"
    );
}

fn secret_texts(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let apps: Vec<&Value> = match v.get("value") {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => vec![v],
    };
    for a in apps {
        for p in a["passwordCredentials"].as_array().into_iter().flatten() {
            out.push(p["secretText"].clone());
        }
    }
    out
}

// ---- contract --------------------------------------------------------------------------------

#[tokio::test]
async fn get_application_matches_documented_shape() {
    let env = graph_env().await;
    let t = env.graph_token(ADMIN, ADMIN_SECRET).await;
    let (s, h, v) = env
        .graph("GET", &app_path(TARGET_OID), Some(&t), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let doc = fixture!("application-get.json");
    same_shape(&v, &doc["response"]["body"], "application");
    assert_eq!(
        v["@odata.context"],
        format!(
            "{}/v1.0/$metadata#applications/$entity",
            env.emu.graph_url()
        )
    );
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(h["odata-version"], "4.0");
    assert!(is_guid(h["request-id"].to_str().unwrap()));
    assert_eq!(h["client-request-id"], h["request-id"]);

    assert_eq!(v["id"], TARGET_OID);
    assert_eq!(v["appId"], TARGET);
    assert_eq!(v["displayName"], "billing-api");
    let passwords = v["passwordCredentials"].as_array().unwrap();
    assert_eq!(passwords.len(), 3);
    let resource = fixture!("passwordCredential-resource.json");
    for p in passwords {
        assert_eq!(keys_of(p), password_keys(), "{p}");
        same_shape(
            &json!({"hint": p["hint"], "keyId": p["keyId"], "displayName": p["displayName"]}),
            &json!({"hint": resource["hint"], "keyId": resource["keyId"], "displayName": resource["displayName"]}),
            "passwordCredential",
        );
        assert_eq!(p["secretText"], Value::Null);
        assert_eq!(p["customKeyIdentifier"], Value::Null);
        assert!(is_guid(p["keyId"].as_str().unwrap()));
        parse_time(p["startDateTime"].as_str().unwrap());
        parse_time(p["endDateTime"].as_str().unwrap());
    }
    let current = passwords.iter().find(|p| p["keyId"] == K_CURRENT).unwrap();
    assert_eq!(current["hint"], &TARGET_SECRET[..3]);
    assert_eq!(current["displayName"], "current");
    let start = parse_time(current["startDateTime"].as_str().unwrap());
    let end = parse_time(current["endDateTime"].as_str().unwrap());
    assert_eq!((end - start).whole_days(), 90);

    let keys = v["keyCredentials"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["keyId"], K_CERT);
    assert_eq!(k["displayName"], "signing-cert");
    assert_eq!(k["type"], "AsymmetricX509Cert");
    assert_eq!(k["usage"], "Verify");
    assert_eq!(k["key"], Value::Null);
    let thumb = base64::engine::general_purpose::STANDARD
        .decode(k["customKeyIdentifier"].as_str().unwrap())
        .unwrap();
    assert_eq!(thumb.len(), 20);
    let (ks, ke) = (
        parse_time(k["startDateTime"].as_str().unwrap()),
        parse_time(k["endDateTime"].as_str().unwrap()),
    );
    assert_eq!((ke - ks).whole_days(), 365);
}

#[tokio::test]
async fn add_and_remove_password_match_documented_exchange() {
    let env = graph_env().await;
    let t = env.graph_token(ADMIN, ADMIN_SECRET).await;
    let doc = fixture!("application-addPassword.json");
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let (s, h, v) = env
        .graph(
            "POST",
            &format!("{}/addPassword", app_path(TARGET_OID)),
            Some(&t),
            Some(doc["request"]["body"].clone()),
        )
        .await;
    assert_eq!(s, doc["response"]["status"].as_u64().unwrap() as u16, "{v}");
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    same_shape(&v, &doc["response"]["body"], "passwordCredential");
    assert_eq!(keys_of(&v), keys_of(&doc["response"]["body"]));
    assert_eq!(keys_of(&v), password_keys());
    assert_eq!(
        v["@odata.context"],
        format!(
            "{}/v1.0/$metadata#microsoft.graph.passwordCredential",
            env.emu.graph_url()
        )
    );
    assert_eq!(v["displayName"], "Password friendly name");
    let text = v["secretText"].as_str().unwrap();
    assert_eq!(text.len(), 40, "Entra-like length");
    assert!(text.contains('~'));
    assert_eq!(v["hint"], &text[..3]);
    let key_id = v["keyId"].as_str().unwrap().to_owned();
    assert!(is_guid(&key_id));
    // Defaults: start now, end start + 2 years.
    let start = parse_time(v["startDateTime"].as_str().unwrap());
    let end = parse_time(v["endDateTime"].as_str().unwrap());
    assert!(start >= before && start <= time::OffsetDateTime::now_utc());
    assert_eq!(end.year(), start.year() + 2);
    assert_eq!((end.month(), end.day()), (start.month(), start.day()));

    // The new secret is the application's and works (no replication delay in this seed).
    assert!(env.emu.token_works(TARGET, text));
    assert_eq!(env.login_error(TARGET, text).await, None);
    let listed = env.emu.application_passwords(TARGET);
    assert_eq!(listed.len(), 4);
    let mine = listed.iter().find(|p| p.key_id == key_id).unwrap();
    assert_eq!(mine.hint, &text[..3]);
    assert_eq!(mine.display_name.as_deref(), Some("Password friendly name"));
    assert_eq!(env.emu.application_passwords(TARGET_OID), listed);

    // removePassword: the documented request gives 204 with no body.
    let rdoc = fixture!("application-removePassword.json");
    let (s, _, v) = env
        .graph(
            "POST",
            &format!("{}/removePassword", app_path(TARGET_OID)),
            Some(&t),
            Some(json!({"keyId": key_id})),
        )
        .await;
    assert_eq!(s, rdoc["response"]["status"].as_u64().unwrap() as u16);
    assert_eq!(v, Value::Null, "no body");
    assert_eq!(keys_of(&rdoc["request"]["body"]), vec!["keyId".to_owned()]);
}

#[tokio::test]
async fn forbidden_matches_recorded_graph_403() {
    let env = graph_env().await;
    let t = env.graph_token(NOBODY, NOBODY_SECRET).await;
    let rec = fixture!("recording-graph-403-Authorization_RequestDenied.json");
    let want: Value = serde_json::from_str(rec["response"]["body"].as_str().unwrap()).unwrap();
    let r = env
        .http
        .get(format!(
            "{}/v1.0/applications?$filter=startswith%28displayName%2C%27billing%27%29",
            env.emu.graph_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16() as u64,
        rec["response"]["status"]["code"]
    );
    let h = r.headers().clone();
    let got: Value = r.json().await.unwrap();
    same_shape(&got, &want, "403");
    assert_eq!(got["error"]["code"], want["error"]["code"]);
    assert_eq!(got["error"]["message"], want["error"]["message"]);
    assert_eq!(
        keys_of(&got["error"]["innerError"]),
        keys_of(&want["error"]["innerError"])
    );
    assert_graph_error(&h, &got, "Authorization_RequestDenied");
    // innerError.date is "YYYY-MM-DDTHH:MM:SS" without zone, like the recording.
    let date = got["error"]["innerError"]["date"].as_str().unwrap();
    assert_eq!(
        date.len(),
        want["error"]["innerError"]["date"].as_str().unwrap().len()
    );
    for (name, value) in rec["response"]["headers"].as_object().unwrap() {
        match name.as_str() {
            "cache-control" | "content-type" | "strict-transport-security" | "vary" => {
                assert_eq!(h[name.as_str()], value.as_str().unwrap(), "{name}")
            }
            "request-id" | "x-ms-ags-diagnostic" | "x-ms-resource-unit" | "date" => {
                assert!(h.contains_key(name.as_str()), "{name}")
            }
            _ => {}
        }
    }
    // A client-request-id sent by the client is echoed.
    let r = env
        .http
        .get(format!("{}{}", env.emu.graph_url(), app_path(TARGET_OID)))
        .bearer_auth(&t)
        .header("client-request-id", "my-corr-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["client-request-id"], "my-corr-1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["innerError"]["client-request-id"], "my-corr-1");
}

// ---- lookups ---------------------------------------------------------------------------------

#[tokio::test]
async fn get_by_object_id_and_app_id_with_select() {
    let env = graph_env().await;
    let t = env.graph_token(READER, READER_SECRET).await;
    let (s, _, by_id) = env
        .graph("GET", &app_path(TARGET_OID), Some(&t), None)
        .await;
    assert_eq!(s, 200, "{by_id}");
    let (s, _, by_app) = env.graph("GET", &by_app_id(TARGET), Some(&t), None).await;
    assert_eq!(s, 200, "{by_app}");
    assert_eq!(by_id["id"], by_app["id"]);
    // Percent-encoded quotes and upper-case object ids resolve too.
    let (s, _, v) = env
        .graph(
            "GET",
            &format!("/v1.0/applications(appId=%27{TARGET}%27)"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!((s, &v["appId"]), (200, &json!(TARGET)));
    let (s, _, _) = env
        .graph("GET", &app_path(&TARGET_OID.to_uppercase()), Some(&t), None)
        .await;
    assert_eq!(s, 200);
    // The default object id is a GUID derived from the client id, stable across restarts.
    let (_, _, other) = env.graph("GET", &by_app_id(OTHER), Some(&t), None).await;
    let oid = other["id"].as_str().unwrap().to_owned();
    assert!(is_guid(&oid));
    let again = graph_env().await;
    let t2 = again.graph_token(READER, READER_SECRET).await;
    let (_, _, other2) = again.graph("GET", &by_app_id(OTHER), Some(&t2), None).await;
    assert_eq!(other2["id"], oid);

    let select = "id,appId,displayName,passwordCredentials,keyCredentials";
    let (s, _, v) = env
        .graph(
            "GET",
            &format!("{}?$select={select}", by_app_id(TARGET)),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let mut want: Vec<String> = select.split(',').map(str::to_owned).collect();
    want.sort();
    assert_eq!(keys_of(&v), want);
    assert_eq!(
        v["@odata.context"],
        format!(
            "{}/v1.0/$metadata#applications({select})/$entity",
            env.emu.graph_url()
        )
    );
    assert_eq!(v["passwordCredentials"].as_array().unwrap().len(), 3);

    let (s, h, v) = env
        .graph(
            "GET",
            &format!("{}?$select=id,nope", app_path(TARGET_OID)),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_graph_error(&h, &v, "BadRequest");
    assert!(v["error"]["message"].as_str().unwrap().contains("'nope'"));

    let missing = "00000000-1111-2222-3333-444444444444";
    for path in [app_path(missing), by_app_id(missing)] {
        let (s, h, v) = env.graph("GET", &path, Some(&t), None).await;
        assert_eq!(s, 404, "{path}");
        assert_graph_error(&h, &v, "Request_ResourceNotFound");
        assert_eq!(
            v["error"]["message"],
            format!("Resource '{missing}' does not exist or one of its queried reference-property objects are not present.")
        );
    }
    let (s, h, v) = env
        .graph("GET", &app_path("not-a-guid"), Some(&t), None)
        .await;
    assert_eq!(s, 400);
    assert_graph_error(&h, &v, "Request_BadRequest");
    assert_eq!(
        v["error"]["message"],
        "Invalid object identifier 'not-a-guid'."
    );
    let (s, _, v) = env
        .graph("GET", "/v1.0/servicePrincipals", Some(&t), None)
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _, v) = env.graph("GET", "/beta/applications", Some(&t), None).await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (400, Some("Invalid version: beta"))
    );
    let (s, _, v) = env
        .graph("DELETE", &app_path(TARGET_OID), Some(&t), None)
        .await;
    assert_eq!(s, 405, "{v}");
}

#[tokio::test]
async fn list_with_filter() {
    let env = graph_env().await;
    let t = env.graph_token(READER, READER_SECRET).await;
    let base = env.emu.graph_url();
    let get = |q: String| {
        let http = env.http.clone();
        let t = t.clone();
        let url = format!("{base}/v1.0/applications{q}");
        async move {
            let r = http.get(url).bearer_auth(t).send().await.unwrap();
            let s = r.status().as_u16();
            let h = r.headers().clone();
            (s, h, r.json::<Value>().await.unwrap())
        }
    };
    for q in [
        format!("?$filter=appId%20eq%20'{TARGET}'"),
        format!("?$filter=appId+eq+'{TARGET}'"),
        format!("?%24filter=appId%20eq%20%27{TARGET}%27"),
        format!("?$filter=(appId eq '{TARGET}')"),
        format!("?$filter=appid%20eq%20'{}'", TARGET.to_uppercase()),
    ] {
        let (s, _, v) = get(q.clone()).await;
        assert_eq!(s, 200, "{q}: {v}");
        assert_eq!(
            v["@odata.context"],
            format!("{base}/v1.0/$metadata#applications"),
            "{q}"
        );
        let value = v["value"].as_array().unwrap();
        assert_eq!(value.len(), 1, "{q}");
        assert_eq!(value[0]["id"], TARGET_OID);
        assert_eq!(value[0]["passwordCredentials"].as_array().unwrap().len(), 3);
    }
    let (s, _, v) = get("?$filter=appId eq '99999999-0000-0000-0000-000000000000'".into()).await;
    assert_eq!((s, v["value"].as_array().unwrap().len()), (200, 0));
    let (s, _, v) = get(format!("?$filter=id eq '{TARGET_OID}'&$select=id,appId")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"][0], json!({"id": TARGET_OID, "appId": TARGET}));
    assert_eq!(
        v["@odata.context"],
        format!("{base}/v1.0/$metadata#applications(id,appId)")
    );
    let (_, _, v) = get("?$filter=displayName eq 'billing-api'".into()).await;
    assert_eq!(v["value"][0]["appId"], TARGET);
    let (_, _, v) = get("?$filter=startswith(displayName,'bill')".into()).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let (s, _, v) = get(String::new()).await;
    assert_eq!((s, v["value"].as_array().unwrap().len()), (200, 6));

    for (q, code) in [
        ("?$filter=description eq 'x'", "Request_UnsupportedQuery"),
        ("?$filter=appId ne 'x'", "Request_UnsupportedQuery"),
        ("?$filter=endswith(appId,'x')", "Request_UnsupportedQuery"),
        ("?$filter=appId eq x", "BadRequest"),
        ("?$filter=appId", "BadRequest"),
        ("?$filter='x' eq appId", "BadRequest"),
    ] {
        let (s, h, v) = get(q.into()).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert_graph_error(&h, &v, code);
    }
    let (_, _, v) = get("?$filter=description eq 'x'".into()).await;
    assert_eq!(
        v["error"]["message"],
        "Unsupported or invalid query filter clause specified for property 'description' of resource 'Application'."
    );
}

// ---- the token endpoint's view -----------------------------------------------------------------

async fn add_password(env: &Env, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (s, _, v) = env
        .graph(
            "POST",
            &format!("{path}/addPassword"),
            Some(token),
            Some(body),
        )
        .await;
    (s, v)
}

#[tokio::test]
async fn added_secret_works_only_after_replication_delay() {
    let env = graph_env().await;
    env.emu.set_graph_replication_delay(2);
    let t = env.graph_token(ROTATOR, ROTATOR_SECRET).await;
    let added = Instant::now();
    let (s, v) = add_password(
        &env,
        &t,
        &by_app_id(TARGET),
        json!({"passwordCredential": {"displayName": "keyrot rot-1"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let text = v["secretText"].as_str().unwrap().to_owned();
    // Listed at once (Graph wrote it), refused by the token endpoint until replicated.
    let listed = env.emu.application_passwords(TARGET);
    let mine = listed
        .iter()
        .find(|p| p.key_id == v["keyId"].as_str().unwrap())
        .unwrap();
    assert!(mine.replicated_at > mine.start);
    assert!(!env.emu.token_works(TARGET, &text));
    assert_eq!(env.login_error(TARGET, &text).await, Some(7000215));
    assert_eq!(env.emu.client_secret_error(TARGET, &text), Some(7000215));
    // The old secret keeps working throughout.
    assert!(env.emu.token_works(TARGET, TARGET_SECRET));
    let mut worked_at = None;
    while added.elapsed() < Duration::from_secs(5) {
        if env.login_error(TARGET, &text).await.is_none() {
            worked_at = Some(added.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worked_at = worked_at.expect("secret never started working");
    assert!(worked_at >= Duration::from_millis(1000), "{worked_at:?}");
    assert!(env.emu.token_works(TARGET, &text));
    assert_eq!(env.emu.client_secret_error(TARGET, &text), None);
}

#[tokio::test]
async fn expired_and_not_yet_started_secrets_are_refused() {
    let env = graph_env().await;
    // Seeded: expired → 7000222, not started → 7000215, current → works.
    assert_eq!(
        env.login_error(TARGET, "old8Q~expired-target-secret").await,
        Some(7000222)
    );
    assert_eq!(
        env.login_error(TARGET, "fut8Q~future-target-secret").await,
        Some(7000215)
    );
    assert_eq!(env.login_error(TARGET, TARGET_SECRET).await, None);
    assert_eq!(env.login_error(TARGET, "never-issued").await, Some(7000215));
    assert_eq!(
        env.emu.client_secret_error("nobody-there", "x"),
        Some(700016)
    );

    // Added through Graph with explicit dates.
    let t = env.graph_token(ADMIN, ADMIN_SECRET).await;
    let now = time::OffsetDateTime::now_utc();
    let fmt = |d: time::OffsetDateTime| {
        d.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (s, future) = add_password(
        &env,
        &t,
        &app_path(TARGET_OID),
        json!({"passwordCredential": {"startDateTime": fmt(now + time::Duration::hours(1)),
                                      "endDateTime": fmt(now + time::Duration::days(30))}}),
    )
    .await;
    assert_eq!(s, 200, "{future}");
    assert_eq!(
        env.login_error(TARGET, future["secretText"].as_str().unwrap())
            .await,
        Some(7000215)
    );
    let (s, past) = add_password(
        &env,
        &t,
        &app_path(TARGET_OID),
        json!({"passwordCredential": {"startDateTime": fmt(now - time::Duration::days(2)),
                                      "endDateTime": fmt(now - time::Duration::days(1))}}),
    )
    .await;
    assert_eq!(s, 200, "{past}");
    assert_eq!(
        env.login_error(TARGET, past["secretText"].as_str().unwrap())
            .await,
        Some(7000222)
    );
    // Dates come back as sent; fractional seconds keep Graph's 7 digits.
    let (s, v) = add_password(
        &env,
        &t,
        &app_path(TARGET_OID),
        json!({"passwordCredential": {"startDateTime": "2030-01-01T00:00:00Z",
                                      "endDateTime": "2031-06-30T12:00:00.1234567Z"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["startDateTime"], "2030-01-01T00:00:00Z");
    assert_eq!(v["endDateTime"], "2031-06-30T12:00:00.1234567Z");

    // Invalid dates.
    for body in [
        json!({"passwordCredential": {"startDateTime": "2030-01-02T00:00:00Z", "endDateTime": "2030-01-01T00:00:00Z"}}),
        json!({"passwordCredential": {"startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2030-01-01T00:00:00Z"}}),
    ] {
        let (s, h, v) = env
            .graph(
                "POST",
                &format!("{}/addPassword", app_path(TARGET_OID)),
                Some(&t),
                Some(body),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        assert_graph_error(&h, &v, "Request_BadRequest");
    }
    let (s, h, v) = env
        .graph(
            "POST",
            &format!("{}/addPassword", app_path(TARGET_OID)),
            Some(&t),
            Some(json!({"passwordCredential": {"endDateTime": "next tuesday"}})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_graph_error(&h, &v, "BadRequest");
    // Nothing was added by the failed calls: 3 seeded + 3 added.
    assert_eq!(env.emu.application_passwords(TARGET).len(), 6);
}

#[tokio::test]
async fn removed_secret_stops_working() {
    let env = graph_env().await;
    let t = env.graph_token(ROTATOR, ROTATOR_SECRET).await;
    let (s, v) = add_password(&env, &t, &app_path(TARGET_OID), json!({})).await;
    assert_eq!(s, 200, "{v}");
    let text = v["secretText"].as_str().unwrap().to_owned();
    let key_id = v["keyId"].as_str().unwrap().to_owned();
    assert_eq!(env.login_error(TARGET, &text).await, None);

    let remove = |key: String| {
        let t = t.clone();
        let env = &env;
        async move {
            env.graph(
                "POST",
                &format!("{}/removePassword", by_app_id(TARGET)),
                Some(&t),
                Some(json!({ "keyId": key })),
            )
            .await
        }
    };
    let (s, _, _) = remove(key_id.clone()).await;
    assert_eq!(s, 204);
    assert_eq!(env.login_error(TARGET, &text).await, Some(7000215));
    assert!(!env.emu.token_works(TARGET, &text));
    assert!(env
        .emu
        .application_passwords(TARGET)
        .iter()
        .all(|p| p.key_id != key_id));
    let (_, _, app) = env
        .graph("GET", &app_path(TARGET_OID), Some(&t), None)
        .await;
    assert!(app["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["keyId"] != key_id.as_str()));

    // Again: the key is gone.
    let (s, h, v) = remove(key_id.clone()).await;
    assert_eq!(s, 400, "{v}");
    assert_graph_error(&h, &v, "Request_BadRequest");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("No password credential found with keyId {key_id}")));
    let (s, _, v) = remove("not-a-guid".into()).await;
    assert_eq!(s, 400, "{v}");

    // Seeded secrets can be removed too (the expired one, by its seeded keyId).
    let (s, _, _) = remove(K_EXPIRED.to_uppercase()).await;
    assert_eq!(s, 204);
    assert_eq!(env.emu.application_passwords(TARGET).len(), 2);
}

#[tokio::test]
async fn secret_text_is_never_readable_again() {
    let env = graph_env().await;
    let t = env.graph_token(ADMIN, ADMIN_SECRET).await;
    env.emu.clear_requests();
    let (s, v) = add_password(
        &env,
        &t,
        &app_path(TARGET_OID),
        json!({"passwordCredential": {"displayName": "x"}}),
    )
    .await;
    assert_eq!(s, 200);
    let text = v["secretText"].as_str().unwrap().to_owned();
    let reads = [
        app_path(TARGET_OID),
        by_app_id(TARGET),
        format!("{}?$select=passwordCredentials", app_path(TARGET_OID)),
        format!("/v1.0/applications?$filter=appId eq '{TARGET}'"),
        "/v1.0/applications".to_owned(),
    ];
    for path in reads {
        let (s, _, v) = env.graph("GET", &path, Some(&t), None).await;
        assert_eq!(s, 200, "{path}");
        let texts = secret_texts(&v);
        assert!(!texts.is_empty(), "{path}");
        assert!(texts.iter().all(Value::is_null), "{path}: {v}");
        assert!(!v.to_string().contains(&text), "{path}");
    }
    // Nor through the admin API or the request log.
    let admin = env
        .http
        .get(format!("{}/applications", env.emu.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!admin.contains(&text));
    assert!(admin.contains(&format!("\"hint\":\"{}\"", &text[..3])));
    assert!(env.emu.requests().iter().all(|r| {
        !String::from_utf8_lossy(&r.body).contains(&text) && !r.path_and_query.contains(&text)
    }));
    let debug = format!("{:?}", env.emu.application_passwords(TARGET));
    assert!(!debug.contains(&text));
}

// ---- authorization ---------------------------------------------------------------------------

#[tokio::test]
async fn permission_matrix() {
    let env = graph_env().await;
    let rotator = env.graph_token(ROTATOR, ROTATOR_SECRET).await;
    let admin = env.graph_token(ADMIN, ADMIN_SECRET).await;
    let reader = env.graph_token(READER, READER_SECRET).await;
    let nobody = env.graph_token(NOBODY, NOBODY_SECRET).await;

    // The roles claim carries the granted application permissions.
    let claims = |tok: &str| -> Value {
        let part = tok.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        claims(&rotator)["roles"],
        json!(["Application.ReadWrite.OwnedBy"])
    );
    assert_eq!(claims(&rotator)["aud"], "https://graph.microsoft.com");
    assert!(claims(&nobody).get("roles").is_none());

    let target = app_path(TARGET_OID);
    let other = by_app_id(OTHER);
    let cases: &[(&str, &str, &str, u16)] = &[
        ("rotator", &rotator, "GET target", 200),
        ("rotator", &rotator, "GET other", 200),
        ("rotator", &rotator, "ADD target", 200),
        ("rotator", &rotator, "ADD other", 403),
        ("rotator", &rotator, "REMOVE other", 403),
        ("admin", &admin, "ADD other", 200),
        ("admin", &admin, "GET target", 200),
        ("reader", &reader, "GET target", 200),
        ("reader", &reader, "LIST", 200),
        ("reader", &reader, "ADD target", 403),
        ("reader", &reader, "REMOVE target", 403),
        ("nobody", &nobody, "GET target", 403),
        ("nobody", &nobody, "LIST", 403),
        ("nobody", &nobody, "ADD target", 403),
    ];
    for (who, tok, op, want) in cases {
        let (method, path, body) = match *op {
            "GET target" => ("GET", target.clone(), None),
            "GET other" => ("GET", other.clone(), None),
            "LIST" => ("GET", "/v1.0/applications".to_owned(), None),
            "ADD target" => ("POST", format!("{target}/addPassword"), Some(json!({}))),
            "ADD other" => ("POST", format!("{other}/addPassword"), Some(json!({}))),
            "REMOVE target" => (
                "POST",
                format!("{target}/removePassword"),
                Some(json!({ "keyId": K_CURRENT })),
            ),
            "REMOVE other" => (
                "POST",
                format!("{other}/removePassword"),
                Some(json!({ "keyId": K_CURRENT })),
            ),
            _ => unreachable!(),
        };
        let (s, h, v) = env.graph(method, &path, Some(tok), body).await;
        assert_eq!(s, *want, "{who} {op}: {v}");
        if s == 403 {
            assert_graph_error(&h, &v, "Authorization_RequestDenied");
            assert_eq!(
                v["error"]["message"],
                "Insufficient privileges to complete the operation."
            );
        }
    }
    // Only the allowed writes happened: 3 seeded + rotator's on TARGET; 1 seeded + admin's on
    // OTHER; the current secret was not removed.
    assert_eq!(env.emu.application_passwords(TARGET).len(), 4);
    assert_eq!(env.emu.application_passwords(OTHER).len(), 2);
    assert!(env.emu.token_works(TARGET, TARGET_SECRET));
    // A missing application is 404 for a writer, even one that could not write it.
    let (s, _, _) = env
        .graph(
            "POST",
            "/v1.0/applications/00000000-1111-2222-3333-444444444444/addPassword",
            Some(&rotator),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn only_graph_tokens_are_accepted() {
    let env = graph_env().await;
    let path = app_path(TARGET_OID);
    let check = |s: u16, h: &HeaderMap, v: &Value, message: &str| {
        assert_eq!(s, 401, "{v}");
        assert_graph_error(h, v, "InvalidAuthenticationToken");
        assert_eq!(v["error"]["message"], message);
        let www = h["www-authenticate"].to_str().unwrap();
        assert!(www.starts_with("Bearer realm=\"\""), "{www}");
        assert!(
            www.contains("client_id=\"00000003-0000-0000-c000-000000000000\""),
            "{www}"
        );
    };
    let (s, h, v) = env.graph("GET", &path, None, None).await;
    check(s, &h, &v, "Access token is empty.");
    // A Key Vault token of a client that may write everything.
    let kv = env.token_for(ADMIN, ADMIN_SECRET, SCOPE).await;
    let (s, h, v) = env.graph("GET", &path, Some(&kv), None).await;
    check(
        s,
        &h,
        &v,
        "Access token validation failure. Invalid audience.",
    );
    let (s, h, v) = env
        .graph(
            "POST",
            &format!("{path}/addPassword"),
            Some(&kv),
            Some(json!({})),
        )
        .await;
    check(
        s,
        &h,
        &v,
        "Access token validation failure. Invalid audience.",
    );
    let (s, h, v) = env.graph("GET", &path, Some("garbage"), None).await;
    check(
        s,
        &h,
        &v,
        "CompactToken parsing failed with error code: 80049217",
    );
    // Graph's app id works as the scope too.
    let t = env
        .token_for(
            ADMIN,
            ADMIN_SECRET,
            "00000003-0000-0000-c000-000000000000/.default",
        )
        .await;
    let (s, _, _) = env.graph("GET", &path, Some(&t), None).await;
    assert_eq!(s, 200);
    // And the other way round: a Graph token is no good at Key Vault.
    let g = env.graph_token(ADMIN, ADMIN_SECRET).await;
    let (s, _, v) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("kv1")),
            Some(&g),
            None,
        )
        .await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("AKV10022"));
    assert!(!env.emu.token_works(ADMIN, "wrong"));
}

// ---- faults ----------------------------------------------------------------------------------

#[tokio::test]
async fn faults_on_every_graph_route() {
    let env = graph_env().await;
    let t = env.graph_token(ADMIN, ADMIN_SECRET).await;
    let routes: [(&str, &str, String, Option<Value>); 4] = [
        ("graph.applications.get", "GET", by_app_id(TARGET), None),
        (
            "graph.applications.list",
            "GET",
            format!("/v1.0/applications?$filter=appId eq '{TARGET}'"),
            None,
        ),
        (
            "graph.addPassword",
            "POST",
            format!("{}/addPassword", app_path(TARGET_OID)),
            Some(json!({})),
        ),
        (
            "graph.removePassword",
            "POST",
            format!("{}/removePassword", app_path(TARGET_OID)),
            Some(json!({ "keyId": K_EXPIRED })),
        ),
    ];
    for (route, method, path, body) in &routes {
        env.emu.clear_requests();
        let before = env.emu.application_passwords(TARGET).len();
        env.emu.add_fault(FaultRule {
            status: Some(429),
            retry_after: Some(3),
            count: Some(1),
            ..FaultRule::new(*route)
        });
        let (s, h, v) = env.graph(method, path, Some(&t), body.clone()).await;
        assert_eq!(s, 429, "{route}: {v}");
        assert_eq!(h["retry-after"], "3", "{route}");
        assert_graph_error(&h, &v, "TooManyRequests");

        env.emu.add_fault(FaultRule {
            status: Some(500),
            count: Some(1),
            ..FaultRule::new(*route)
        });
        let (s, h, v) = env.graph(method, path, Some(&t), body.clone()).await;
        assert_eq!(s, 500, "{route}: {v}");
        assert!(v["error"]["code"].is_string(), "{route}: {v}");
        assert!(h.contains_key("request-id"));

        env.emu.add_fault(FaultRule {
            drop: true,
            count: Some(1),
            ..FaultRule::new(*route)
        });
        let url = format!("{}{path}", env.emu.graph_url());
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = env.http.request(m, url).bearer_auth(&t);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        assert!(rb.send().await.is_err(), "{route}: dropped");
        // A failed call changed nothing.
        assert_eq!(
            env.emu.application_passwords(TARGET).len(),
            before,
            "{route}"
        );

        // The rules are used up: the call goes through.
        let (s, _, v) = env.graph(method, path, Some(&t), body.clone()).await;
        assert!(s == 200 || s == 204, "{route}: {s} {v}");
        let log: Vec<(String, u16)> = env
            .emu
            .requests()
            .iter()
            .map(|r| (r.route.clone(), r.status))
            .collect();
        assert_eq!(
            log,
            vec![
                (route.to_string(), 429),
                (route.to_string(), 500),
                (route.to_string(), 0),
                (route.to_string(), s),
            ],
            "{route}"
        );
    }

    // Latency applies to Graph routes as well.
    env.emu.add_fault(FaultRule {
        latency_ms: Some(300),
        count: Some(1),
        ..FaultRule::new("graph.applications.get")
    });
    let started = Instant::now();
    let (s, _, _) = env.graph("GET", &by_app_id(TARGET), Some(&t), None).await;
    assert_eq!(s, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

// ---- seed and admin --------------------------------------------------------------------------

#[test]
fn seed_validation() {
    let bad = |extra: &str, want: &str| {
        let toml = format!("[[client]]\nclient_id = \"a\"\n{extra}\n");
        let err = Seed::from_toml_str(&toml).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(want), "{extra}: {msg}");
    };
    bad(
        "graph_permissions = [\"Directory.ReadWrite.All\"]",
        "Directory.ReadWrite.All",
    );
    bad("owners = [\"nobody\"]", "owner \"nobody\"");
    bad(
        "secrets = [{ value = \"x\", end = \"+1d\", expires = \"+1d\" }]",
        "both `end` and `expires`",
    );
    bad(
        "secrets = [{ value = \"x\", key_id = \"k\" }]",
        "must be a GUID",
    );
    bad("object_id = \"oid\"", "must be a GUID");
    bad("certificates = [{ thumbprint = \"x\" }]", "thumbprint");
    let seed = Seed::from_toml_str(
        "[graph]\nreplication_delay_seconds = 7\n[[client]]\nclient_id = \"a\"\nowners = [\"A\"]\n",
    )
    .unwrap();
    assert_eq!(seed.graph.replication_delay_seconds, 7);
    // Seeds without any Graph fields keep working.
    Seed::from_toml_str(&seed_toml()).unwrap();
}

#[tokio::test]
async fn admin_reports_graph_url_and_applications() {
    let env = graph_env().await;
    let facts: Value = env
        .http
        .get(env.emu.admin_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(facts["graph_url"], env.emu.graph_url());
    assert_eq!(
        env.emu.graph_url(),
        format!("https://graph.localhost:{}", env.emu.port())
    );
    let apps: Value = env
        .http
        .get(format!("{}/applications", env.emu.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let target = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appId"] == TARGET)
        .unwrap();
    assert_eq!(target["id"], TARGET_OID);
    assert_eq!(target["owners"], json!([ROTATOR]));
    assert_eq!(target["passwordCredentials"].as_array().unwrap().len(), 3);
    assert_eq!(target["keyCredentials"][0]["keyId"], K_CERT);
}
