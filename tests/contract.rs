//! Contract tests of keyrot's parsing: real recorded Key Vault traffic (Azure SDK for JS test
//! recordings) and the REST spec's examples, replayed through the official SDK client and
//! keyrot's `vault.rs`. Provenance of every file: tests/fixtures/PROVENANCE.md.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{
    AsyncRawResponse, ClientOptions, HttpClient, Request, RetryOptions, StatusCode, Transport,
};
use keyrot::model::Kind;
use keyrot::vault::{Vault, VaultUrl};
use serde_json::Value;

fn fixture(path: &str) -> Value {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keyvault")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap()
}

/// One recorded exchange, reduced to what the replay needs.
#[derive(Clone)]
struct Exchange {
    method: String,
    path: String,
    skiptoken: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn url_parts(uri: &str) -> (String, Option<String>) {
    let url = url::Url::parse(uri).unwrap();
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "$skiptoken")
        .map(|(_, v)| v.into_owned());
    (url.path().to_string(), token)
}

/// Serves recorded answers: the 401 challenge to any request without a token, otherwise the
/// exchange with the same method, path and `$skiptoken` (api-version is ignored, since the
/// recording's client spoke an older one).
#[derive(Debug)]
struct Replay {
    exchanges: Vec<Exchange>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

#[async_trait]
impl HttpClient for Replay {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let authorized = request
            .headers()
            .get_optional_str(&HeaderName::from_static("authorization"))
            .is_some();
        let (path, token) = url_parts(request.url().as_str());
        let method = request.method().to_string().to_uppercase();
        let found = self
            .exchanges
            .iter()
            .find(|e| {
                if authorized {
                    e.status != 401 && e.method == method && e.path == path && e.skiptoken == token
                } else {
                    e.status == 401
                }
            })
            .unwrap_or_else(|| panic!("no recorded answer for {method} {path} {token:?}"));
        let mut headers = Headers::new();
        for (k, v) in &found.headers {
            headers.insert(
                HeaderName::from(k.to_lowercase()),
                HeaderValue::from(v.clone()),
            );
        }
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(found.status),
            headers,
            found.body.clone(),
        ))
    }
}

fn from_recording(name: &str) -> Vec<Exchange> {
    let recording = fixture(&format!("recordings/{name}"));
    recording["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (path, skiptoken) = url_parts(e["RequestUri"].as_str().unwrap());
            let headers = e["ResponseHeaders"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            Exchange {
                method: e["RequestMethod"].as_str().unwrap().to_string(),
                path,
                skiptoken,
                status: e["StatusCode"].as_u64().unwrap() as u16,
                headers,
                body: serde_json::to_vec(&e["ResponseBody"]).unwrap(),
            }
        })
        .collect()
}

#[derive(Debug)]
struct FixedToken;

#[async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        // The recorded challenge names https://vault.azure.net; the SDK must ask for its scope.
        assert_eq!(scopes, ["https://vault.azure.net/.default"]);
        Ok(AccessToken {
            token: Secret::new("recorded-token"),
            expires_on: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        })
    }
}

fn vault(base: &str, exchanges: Vec<Exchange>) -> Vault {
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(Replay { exchanges }))),
        retry: RetryOptions::none(),
        ..Default::default()
    };
    Vault::new(
        VaultUrl::parse(base).unwrap(),
        Arc::new(FixedToken),
        options,
    )
    .unwrap()
}

#[tokio::test]
async fn recorded_paging_with_empty_pages_yields_every_secret() {
    let exchanges = from_recording("js_recording_can_list_secrets_by_page.json");
    // What the recorded pages hold, independently of keyrot: every id in every list page.
    let mut expected: Vec<String> = exchanges
        .iter()
        .filter(|e| e.method == "GET" && e.path == "/secrets" && e.status == 200)
        .flat_map(|e| {
            let body: Value = serde_json::from_slice(&e.body).unwrap();
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    i["id"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    expected.sort();
    let empty_pages = exchanges
        .iter()
        .filter(|e| {
            e.path == "/secrets"
                && serde_json::from_slice::<Value>(&e.body).unwrap()["value"]
                    .as_array()
                    .is_some_and(|v| v.is_empty())
        })
        .count();
    assert!(
        empty_pages > 0,
        "the recording is chosen for its empty pages"
    );

    let records = vault("https://keyvault_name.vault.azure.net", exchanges)
        .list(Kind::Secret)
        .await
        .unwrap();
    let mut names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
    names.sort();
    assert_eq!(names, expected);
    assert!(!names.is_empty());
    for r in &records {
        assert_eq!(r.vault, "https://keyvault_name.vault.azure.net");
        assert!(r.version.is_none(), "list ids carry no version");
        assert!(r.created.is_some(), "Unix-seconds `created` is parsed");
    }
}

#[tokio::test]
async fn spec_example_list_page_parses_attributes_and_follows_the_absolute_next_link() {
    let example = fixture("7.5/GetSecrets-example.json");
    let first = &example["responses"]["200"]["body"];
    let next_link = first["nextLink"].as_str().unwrap();
    let (_, token) = url_parts(next_link);
    let json = |v: &Value| serde_json::to_vec(v).unwrap();
    let ok_headers = vec![(
        "content-type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    let exchanges = vec![
        Exchange {
            method: "GET".into(),
            path: "/secrets".into(),
            skiptoken: None,
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                r#"Bearer authorization="https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#.into(),
            )],
            body: br#"{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}"#.to_vec(),
        },
        Exchange { method: "GET".into(), path: "/secrets".into(), skiptoken: None, status: 200, headers: ok_headers.clone(), body: json(first) },
        // The last page: as the service sends it, with "nextLink": null.
        Exchange {
            method: "GET".into(),
            path: "/secrets".into(),
            skiptoken: token,
            status: 200,
            headers: ok_headers,
            body: br#"{"value":[{"id":"https://myvault.vault.azure.net/secrets/listsecrettest1","attributes":{"enabled":false,"nbf":1482189000,"exp":1893456000,"created":1482189047,"updated":1482189047},"tags":{"owner":"ops"}}],"nextLink":null}"#.to_vec(),
        },
    ];
    let records = vault("myvault", exchanges)
        .list(Kind::Secret)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].name, "listsecrettest0");
    assert!(records[0].enabled);
    assert_eq!(records[0].created.unwrap().unix_timestamp(), 1_482_189_047);
    assert_eq!(records[0].expires, None);
    assert_eq!(records[1].name, "listsecrettest1");
    assert!(!records[1].enabled);
    assert_eq!(records[1].expires.unwrap().unix_timestamp(), 1_893_456_000);
    assert_eq!(
        records[1].not_before.unwrap().unix_timestamp(),
        1_482_189_000
    );
    assert_eq!(
        records[1].tags.get("owner").map(String::as_str),
        Some("ops")
    );
}

#[tokio::test]
async fn spec_example_versions_page_parses_versioned_ids() {
    let example = fixture("7.5/GetSecretVersions-example.json");
    let mut body = example["responses"]["200"]["body"].clone();
    body["nextLink"] = Value::Null;
    let recorded = body["value"][0].clone();
    let recorded_id = recorded["id"].as_str().unwrap().to_string();
    let name = recorded_id.split('/').nth(4).unwrap().to_string();
    let recorded_version = recorded_id.rsplit('/').next().unwrap().to_string();
    // The example has one version; add a newer one so the recorded one is superseded.
    let mut newer = recorded.clone();
    newer["id"] = Value::from(format!(
        "https://myvault.vault.azure.net/secrets/{name}/0123456789abcdef0123456789abcdef"
    ));
    newer["attributes"]["created"] =
        Value::from(recorded["attributes"]["created"].as_i64().unwrap() + 100);
    body["value"].as_array_mut().unwrap().push(newer.clone());
    // The vault's listing: its item is the current version's properties, without the version.
    let mut listed = newer;
    listed["id"] = Value::from(format!("https://myvault.vault.azure.net/secrets/{name}"));
    let exchanges_listing = |item: &Value| {
        let list_page = serde_json::json!({"value": [item], "nextLink": null});
        vec![
            Exchange {
                method: "GET".into(),
                path: "/secrets".into(),
                skiptoken: None,
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&list_page).unwrap(),
            },
            Exchange {
                method: "GET".into(),
                path: format!("/secrets/{name}/versions"),
                skiptoken: None,
                status: 401,
                headers: vec![("www-authenticate".into(), r#"Bearer authorization="https://login.windows.net/t", resource="https://vault.azure.net""#.into())],
                body: b"{}".to_vec(),
            },
            Exchange {
                method: "GET".into(),
                path: format!("/secrets/{name}/versions"),
                skiptoken: None,
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&body).unwrap(),
            },
        ]
    };
    let exchanges = exchanges_listing(&listed);
    let listing = vault("myvault", exchanges)
        .secrets_with_versions(2)
        .await
        .unwrap();
    assert!(listing.failed.is_empty());
    let current: Vec<_> = listing
        .records
        .iter()
        .filter(|r| r.superseded.is_none())
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].version, None);
    let superseded: Vec<_> = listing
        .records
        .iter()
        .filter(|r| r.superseded.is_some())
        .collect();
    assert_eq!(superseded.len(), 1);
    let r = &superseded[0];
    assert_eq!(r.name, name);
    assert_eq!(r.version.as_deref(), Some(recorded_version.as_str()));
    assert_eq!(r.id, recorded_id);
    assert_eq!(
        r.enabled,
        recorded["attributes"]["enabled"].as_bool().unwrap()
    );
    let by = r.superseded.as_ref().unwrap();
    assert_eq!(by.by_version, "0123456789abcdef0123456789abcdef");

    // A list answer that matches no version (the secret was updated in between): that
    // secret is reported as failed, `changed`; its list record is kept.
    let mut changed = listed.clone();
    changed["attributes"]["updated"] =
        Value::from(listed["attributes"]["updated"].as_i64().unwrap() + 1);
    let listing = vault("myvault", exchanges_listing(&changed))
        .secrets_with_versions(2)
        .await
        .unwrap();
    assert_eq!(listing.records.len(), 1);
    assert_eq!(listing.failed.len(), 1);
    let (failed_name, error) = &listing.failed[0];
    assert_eq!(failed_name, &name);
    assert_eq!(error.reason(), keyrot::model::ReadFailure::Changed);
    assert!(error.to_string().contains("run the check again"), "{error}");
}
