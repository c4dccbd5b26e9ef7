//! Contract tests: the emulator's responses have the field names, types and shapes of the
//! REST spec examples, the 2025-07-01 swagger and recorded live traffic. The fixtures are
//! copies under `tests/fixtures/keyvault/` (see `tests/fixtures/PROVENANCE.md`), compiled in so
//! the tests need nothing outside the repository.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

macro_rules! fixture {
    ($p:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../../tests/fixtures/keyvault/", $p)))
            .expect($p)
    };
}

fn example_response(example: &Value) -> Value {
    example["responses"]["200"]["body"].clone()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `reference` is in `ours` with the same JSON type (recursively; arrays are
/// compared by their first elements).
fn has_reference_fields(ours: &Value, reference: &Value, path: &str) {
    match (ours, reference) {
        (Value::Object(o), Value::Object(r)) => {
            for (k, rv) in r {
                let ov = o
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} missing; ours: {ours}"));
                has_reference_fields(ov, rv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            if let (Some(o), Some(r)) = (o.first(), r.first()) {
                has_reference_fields(o, r, &format!("{path}[0]"));
            }
        }
        // nextLink is null on a last page and a string otherwise.
        (Value::Null, Value::String(_)) if path.ends_with("nextLink") => {}
        (o, r) => assert_eq!(kind(o), kind(r), "type of {path}: ours {o}, reference {r}"),
    }
}

/// Every field of `ours` appears in at least one reference (no invented fields).
fn only_known_fields(ours: &Value, references: &[&Value], path: &str) {
    if let Value::Object(o) = ours {
        for (k, v) in o {
            let subs: Vec<&Value> = references.iter().filter_map(|r| r.get(k)).collect();
            assert!(!subs.is_empty(), "{path}.{k} is not in any reference");
            let firsts: Vec<&Value> = subs.iter().map(|s| s.get(0).unwrap_or(s)).collect();
            only_known_fields(v.get(0).unwrap_or(v), &firsts, &format!("{path}.{k}"));
        }
    }
}

/// Validates `value` against a definition of the 2025-07-01 swagger.
fn swagger_valid(swagger: &Value, schema: &Value, value: &Value, path: &str) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return swagger_valid(swagger, &swagger["definitions"][name], value, path);
    }
    let mut props = serde_json::Map::new();
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            let name = s["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            if let Some(p) = swagger["definitions"][name]["properties"].as_object() {
                props.extend(p.clone());
            }
        }
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        props.extend(p.clone());
    }
    match value {
        Value::Object(o) if !props.is_empty() => {
            for (k, v) in o {
                let s = props
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is not in the swagger definition"));
                swagger_valid(swagger, s, v, &format!("{path}.{k}"));
            }
        }
        Value::Null => {}
        v => {
            let want = schema
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("object");
            assert_eq!(kind(v), want, "{path}: {v}");
            if let (Value::Array(items), Some(item_schema)) = (v, schema.get("items")) {
                for (i, it) in items.iter().enumerate() {
                    swagger_valid(swagger, item_schema, it, &format!("{path}[{i}]"));
                }
            }
            if let (Value::Object(m), Some(ap)) = (v, schema.get("additionalProperties")) {
                for (k, x) in m {
                    swagger_valid(swagger, ap, x, &format!("{path}.{k}"));
                }
            }
        }
    }
}

fn def(name: &str) -> Value {
    json!({"$ref": format!("#/definitions/{name}")})
}

/// Response bodies of one recording, in order.
fn recorded(rec: &Value) -> Vec<(u16, Value, Value)> {
    rec["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["StatusCode"].as_u64().unwrap() as u16,
                e["ResponseHeaders"].clone(),
                e["ResponseBody"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn secret_bundles_match_examples_recordings_and_swagger() {
    let swagger = fixture!("2025-07-01/secrets.json");
    let set_rec = recorded(&fixture!(
        "recordings/js_recording_can_set_a_secret_with_attributes.json"
    ));
    let recorded_set = &set_rec[1].2;
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");

    let (s, _, set) = env
        .kv(
            "PUT",
            &format!("{base}/secrets/contract?api-version=7.5"),
            Some(&t),
            Some(json!({"value": "v", "attributes": {"exp": 32503680000i64}})),
        )
        .await;
    assert_eq!(s, 200);
    let example = example_response(&fixture!("7.5/SetSecret-example.json"));
    has_reference_fields(&set, &example, "set");
    has_reference_fields(&set, recorded_set, "set");
    only_known_fields(&set, &[&example, recorded_set], "set");
    swagger_valid(&swagger, &def("SecretBundle"), &set, "set");
    let ver = set["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    let (_, _, got) = env
        .kv(
            "GET",
            &format!("{base}/secrets/contract/{ver}?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/GetSecret-example.json"));
    has_reference_fields(&got, &example, "get");
    only_known_fields(&got, &[&example, &set_rec[2].2], "get");
    swagger_valid(&swagger, &def("SecretBundle"), &got, "get");

    let (_, _, upd) = env
        .kv("PATCH", &format!("{base}/secrets/contract/{ver}?api-version=7.5"), Some(&t), Some(json!({"tags": {"mytag": "myvalue"}, "contentType": "myContentType", "attributes": {"enabled": true}})))
        .await;
    let example = example_response(&fixture!("7.5/UpdateSecret-example.json"));
    has_reference_fields(&upd, &example, "update");
    only_known_fields(&upd, &[&example, recorded_set], "update");
    assert!(upd.get("value").is_none());
    swagger_valid(&swagger, &def("SecretBundle"), &upd, "update");

    let (_, _, backup) = env
        .kv(
            "POST",
            &format!("{base}/secrets/contract/backup?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/BackupSecret-example.json"));
    has_reference_fields(&backup, &example, "backup");
    only_known_fields(&backup, &[&example], "backup");
    swagger_valid(&swagger, &def("BackupSecretResult"), &backup, "backup");
}

#[tokio::test]
async fn list_pages_match_examples_and_recorded_paging() {
    let swagger = fixture!("2025-07-01/secrets.json");
    let rec = recorded(&fixture!(
        "recordings/js_recording_can_list_secrets_by_page.json"
    ));
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    env.kv(
        "PUT",
        &format!("{base}/secrets/a-deleted?api-version=7.5"),
        Some(&t),
        Some(json!({"value": "v", "contentType": "plainText"})),
    )
    .await;
    env.kv(
        "DELETE",
        &format!("{base}/secrets/a-deleted?api-version=7.5"),
        Some(&t),
        None,
    )
    .await;

    let example = example_response(&fixture!("7.5/GetSecrets-example.json"));
    let recorded_pages: Vec<&Value> = rec
        .iter()
        .filter(|(_, _, b)| b.get("value").is_some_and(Value::is_array))
        .map(|(_, _, b)| b)
        .collect();
    let recorded_item = recorded_pages
        .iter()
        .find_map(|p| p["value"].get(0))
        .unwrap();
    let recorded_page = json!({"value": [recorded_item], "nextLink": null});

    let mut url = format!("{base}/secrets?api-version=7.3&maxresults=1");
    let mut saw_empty = false;
    loop {
        let (s, _, page) = env.kv("GET", &url, Some(&t), None).await;
        assert_eq!(s, 200);
        swagger_valid(&swagger, &def("SecretListResult"), &page, "page");
        // Field names beyond the examples' (exp, nbf, tags…) are checked by the swagger above.
        only_known_fields(
            &json!({"value": [], "nextLink": page["nextLink"]}),
            &[&example, &recorded_page],
            "page",
        );
        if page["value"].as_array().unwrap().is_empty() {
            saw_empty = true;
            // Same as the recorded empty pages: `value: []` with a nextLink.
            assert!(page["nextLink"].is_string());
        } else {
            // contentType is optional (only set on some secrets); everything else must be there.
            let mut example_item = example["value"][0].clone();
            example_item.as_object_mut().unwrap().remove("contentType");
            has_reference_fields(&page["value"][0], &example_item, "item");
            has_reference_fields(&page["value"][0], recorded_item, "item");
        }
        match page["nextLink"].as_str() {
            None => {
                assert_eq!(
                    page["nextLink"],
                    Value::Null,
                    "last page sends nextLink: null like the recording"
                );
                break;
            }
            Some(next) => {
                // Recorded: https://host:443/secrets?api-version=7.3&$skiptoken=…&maxresults=1
                let recorded_next = recorded_pages[0]["nextLink"].as_str().unwrap();
                let tail = |s: &str| {
                    s.split_once("/secrets?")
                        .unwrap()
                        .1
                        .split('&')
                        .map(|p| p.split('=').next().unwrap().to_owned())
                        .collect::<Vec<_>>()
                };
                assert_eq!(tail(next), tail(recorded_next));
                assert!(next.starts_with(&format!(
                    "https://kv1.vault.localhost:{}/secrets?api-version=7.3&",
                    env.emu.port()
                )));
                let tok = next
                    .split("$skiptoken=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap();
                let decoded: Value = serde_json::from_slice(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(tok)
                        .unwrap(),
                )
                .unwrap();
                assert!(decoded["NextMarker"].is_string());
                assert_eq!(decoded["TargetLocation"], 0);
                url = next.to_owned();
            }
        }
    }
    assert!(saw_empty);
    // The last recorded page also ends with nextLink: null.
    assert!(recorded_pages.last().unwrap()["nextLink"].is_null());

    let (_, _, versions) = env
        .kv(
            "GET",
            &format!("{base}/secrets/multi/versions?api-version=7.5&maxresults=1"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/GetSecretVersions-example.json"));
    has_reference_fields(&versions, &example, "versions");
    swagger_valid(&swagger, &def("SecretListResult"), &versions, "versions");
}

#[tokio::test]
async fn deleted_secret_shapes() {
    let swagger = fixture!("2025-07-01/secrets.json");
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    env.kv(
        "PUT",
        &format!("{base}/secrets/gone?api-version=7.5"),
        Some(&t),
        Some(json!({"value": "v", "contentType": "plainText"})),
    )
    .await;

    let (_, _, del) = env
        .kv(
            "DELETE",
            &format!("{base}/secrets/gone?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/DeleteSecret-example.json"));
    has_reference_fields(&del, &example, "delete");
    only_known_fields(
        &del,
        &[
            &example,
            &json!({"contentType": "", "attributes": {"recoverableDays": 7}}),
        ],
        "delete",
    );
    swagger_valid(&swagger, &def("DeletedSecretBundle"), &del, "delete");

    let (_, _, got) = env
        .kv(
            "GET",
            &format!("{base}/deletedsecrets/gone?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/GetDeletedSecret-example.json"));
    has_reference_fields(&got, &example, "deleted.get");
    swagger_valid(&swagger, &def("DeletedSecretBundle"), &got, "deleted.get");

    let (_, _, list) = env
        .kv(
            "GET",
            &format!("{base}/deletedsecrets?api-version=7.5&maxresults=1"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/GetDeletedSecrets-example.json"));
    has_reference_fields(&list["value"][0], &example["value"][0], "deleted.list");
    only_known_fields(
        &list["value"][0],
        &[
            &example["value"][0],
            &json!({"attributes": {"recoverableDays": 7}}),
        ],
        "deleted.list",
    );
    swagger_valid(
        &swagger,
        &def("DeletedSecretListResult"),
        &list,
        "deleted.list",
    );

    let (_, _, rec) = env
        .kv(
            "POST",
            &format!("{base}/deletedsecrets/gone/recover?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    let example = example_response(&fixture!("7.5/RecoverDeletedSecret-example.json"));
    has_reference_fields(&rec, &example, "recover");
    swagger_valid(&swagger, &def("SecretBundle"), &rec, "recover");

    env.kv(
        "DELETE",
        &format!("{base}/secrets/gone?api-version=7.5"),
        Some(&t),
        None,
    )
    .await;
    let purge_example = fixture!("7.5/PurgeDeletedSecret-example.json");
    assert!(purge_example["responses"]["204"].is_object());
    let (s, _, body) = env
        .kv(
            "DELETE",
            &format!("{base}/deletedsecrets/gone?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(body, Value::Null);
}

#[tokio::test]
async fn error_bodies_and_headers_match_recordings() {
    let swagger = fixture!("2025-07-01/secrets.json");
    let missing = recorded(&fixture!(
        "recordings/js_recording_can_get_a_secret_non_existing.json"
    ));
    let disabled = recorded(&fixture!(
        "recordings/js_recording_cant_get_a_disabled_secret.json"
    ));
    let deleted_missing = recorded(&fixture!(
        "recordings/js_recording_can_get_a_deleted_secret_non_existing.json"
    ));
    let env = start().await;
    let base = env.vault("kv1");

    // 401 challenge: body identical, header set a superset of the recording's.
    let name = "CRUDSecretName-cangetasecretNonExisting-";
    let r = env
        .http
        .get(format!("{base}/secrets/{name}/?api-version=7.4-preview.1"))
        .header(
            "x-ms-client-request-id",
            "e84e1f94-69e0-4934-b889-a93c00e101ae",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), missing[0].0);
    let ignore = [
        "x-ms-keyvault-rbac-assignment-id",
        "x-ms-keyvault-rbac-cache",
    ];
    for (k, v) in missing[0].1.as_object().unwrap() {
        if ignore.contains(&k.to_ascii_lowercase().as_str()) {
            continue;
        }
        let ours = r
            .headers()
            .get(k.as_str())
            .unwrap_or_else(|| panic!("header {k} missing"));
        let ours = ours.to_str().unwrap();
        match k.to_ascii_lowercase().as_str() {
            "www-authenticate" => {
                // Same parameters, pointing at the emulator's authority and resource.
                let shape = |s: &str| {
                    s.split('"')
                        .step_by(2)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                };
                assert_eq!(shape(ours), shape(v.as_str().unwrap()));
            }
            "cache-control"
            | "content-type"
            | "expires"
            | "pragma"
            | "strict-transport-security"
            | "x-content-type-options"
            | "x-ms-client-request-id" => assert_eq!(ours, v.as_str().unwrap(), "{k}"),
            _ => {}
        }
    }
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, missing[0].2);

    // 404 with the recorded message for the same name.
    let t = env.token().await;
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets/{name}/?api-version=7.4-preview.1"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, missing[1].0);
    assert_eq!(e, missing[1].2);
    swagger_valid(&swagger, &def("KeyVaultError"), &e, "404");

    // DELETE of a missing secret.
    let name = "CRUDSecretName-cangetadeletedsecretNonExisting-";
    let (s, _, e) = env
        .kv(
            "DELETE",
            &format!("{base}/secrets/{name}?api-version=7.3"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, deleted_missing[1].0);
    assert_eq!(e, deleted_missing[1].2);

    // Disabled secret: set with enabled=false then GET latest → the recorded 403.
    let name = "CRUDSecretName-cantgetadisabledsecret-";
    let (s, _, set) = env
        .kv(
            "PUT",
            &format!("{base}/secrets/{name}?api-version=7.4-preview.1"),
            Some(&t),
            Some(disabled[1].2.clone()),
        )
        .await;
    assert_eq!(s, 200);
    has_reference_fields(&set, &disabled[1].2, "disabled set");
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets/{name}/?api-version=7.4-preview.1"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, disabled[2].0);
    assert_eq!(e, disabled[2].2);
    swagger_valid(&swagger, &def("KeyVaultError"), &e, "403");
}

#[test]
fn common_error_definition_matches_the_envelope() {
    let common = fixture!("7.5/common.json");
    let defs = &common["definitions"];
    let err_props = defs["Error"]["properties"].as_object().unwrap();
    for k in ["code", "message", "innererror"] {
        assert!(err_props.contains_key(k), "{k}");
    }
    assert!(defs["KeyVaultError"]["properties"]["error"].is_object());
}
