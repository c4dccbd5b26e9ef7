//! The emulated Azure Resource Manager: ARM's checks and headers, storage accounts, Service Bus
//! and Event Hubs rules, the Cosmos DB regenerateKey long-running operation, App Service Key
//! Vault references, Logic Apps workflows, the request budget, and the data planes that judge
//! keys. The data-plane signatures are computed here from the services' specifications, not
//! with the emulator's code.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use keyrot_emulator::{Emulator, EmulatorConfig, FaultRule, Seed};
use serde_json::{json, Value};

const TENANT: &str = "11111111-2222-3333-4444-000000000001";
const APP: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const SECRET: &str = "app-secret-current";
const SUB: &str = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
const STORAGE_KEY1: &str =
    "c3RvcmFnZS1rZXktb25lLWZvci10ZXN0cy1vbmx5LW5vdC1hLXJlYWwta2V5LTAwMDAwMDAwMDAwMDAwMDA=";

fn seed_toml() -> String {
    format!(
        r#"
tenant_id = "{TENANT}"

[[client]]
client_id = "{APP}"
secrets = [{{ value = "{SECRET}" }}]

[[vault]]
name = "kv1"
[[vault.secret]]
name = "db-key"
value = "first"

[arm]
subscription_id = "{SUB}"
resource_groups = ["empty-rg"]

[[arm.storage_account]]
resource_group = "rg"
name = "orders"
key1 = "{STORAGE_KEY1}"
key1_created = "-40d"
key_expiration_period_days = 90

[[arm.storage_account]]
resource_group = "rg"
name = "nopolicy"

[[arm.servicebus_namespace]]
resource_group = "rg"
name = "orders-bus"
queues = [{{ name = "q1", rules = [{{ name = "sender", rights = ["Send"] }}] }}]
topics = [{{ name = "t1" }}]

[[arm.eventhubs_namespace]]
resource_group = "rg"
name = "orders-hub"
rules = [{{ name = "RootManageSharedAccessKey", rights = ["Listen", "Manage", "Send"] }}]
eventhubs = [{{ name = "eh1", rules = [{{ name = "send", rights = ["Send"] }}] }}]

[[arm.cosmos_account]]
resource_group = "rg"
name = "orders-db"
regenerate_seconds = 2

[[arm.site]]
resource_group = "rg"
name = "orders-api"
app_settings = {{ DB_KEY = "@Microsoft.KeyVault(SecretUri=https://kv1.vault.localhost/secrets/db-key/)", PLAIN = "x", MISSING = "@Microsoft.KeyVault(VaultName=kv1;SecretName=nope)" }}

[[arm.logic_app]]
resource_group = "rg"
name = "orders-flow"
definition = '{{"$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#", "contentVersion": "1.0.0.0", "parameters": {{"apiKey": {{"type": "SecureString"}}}}, "triggers": {{}}, "actions": {{}}, "outputs": {{}}}}'
parameters = '{{"apiKey": {{"value": "old"}}}}'
"#
    )
}

struct T {
    env: common::Env,
    token: String,
}

fn client(emu: &Emulator) -> reqwest::Client {
    let addr: SocketAddr = ([127, 0, 0, 1], emu.port()).into();
    let cert = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap();
    let mut b = reqwest::Client::builder().tls_certs_only([cert]).no_proxy();
    for h in [
        "login.localhost",
        "management.localhost",
        "localhost",
        "kv1.vault.localhost",
        "orders.blob.localhost",
        "nopolicy.blob.localhost",
        "orders-bus.servicebus.localhost",
        "orders-hub.servicebus.localhost",
        "orders-db.documents.localhost",
    ] {
        b = b.resolve(h, addr);
    }
    b.build().unwrap()
}

async fn start_seed(toml: &str) -> T {
    let emu = Emulator::start(EmulatorConfig::new(Seed::from_toml_str(toml).unwrap()))
        .await
        .unwrap();
    let http = client(&emu);
    let env = common::Env { emu, http };
    let token = env
        .token_for(APP, SECRET, "https://management.azure.com/.default")
        .await;
    T { env, token }
}

async fn start() -> T {
    start_seed(&seed_toml()).await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl T {
    fn rg_url(&self, rest: &str) -> String {
        format!(
            "{}/subscriptions/{SUB}/resourceGroups/rg/providers/{rest}",
            self.env.emu.arm_url()
        )
    }

    async fn call_with(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.env.http.request(m, url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        } else if method == "POST" {
            rb = rb.header("content-length", "0");
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: &str, url: &str, body: Option<Value>) -> Answer {
        self.call_with(method, url, Some(&self.token), body).await
    }
}

fn error_code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("")
}

const SV: &str = "api-version=2023-05-01";

// --- ARM's checks ---------------------------------------------------------------------

#[tokio::test]
async fn arm_checks_authentication_api_version_and_scopes() {
    let t = start().await;
    let url = t.rg_url(&format!("Microsoft.Storage/storageAccounts/orders?{SV}"));

    let a = t.call_with("GET", &url, None, None).await;
    assert_eq!(a.status, 401);
    assert_eq!(error_code(&a), "AuthenticationFailed");
    let challenge = a.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer authorization_uri=\"https://login.localhost:"),
        "{challenge}"
    );
    assert!(challenge.contains(TENANT));

    let a = t.call_with("GET", &url, Some("not-a-token"), None).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (401, "InvalidAuthenticationToken")
    );

    let vault_token = t
        .env
        .token_for(APP, SECRET, "https://vault.localhost/.default")
        .await;
    let a = t.call_with("GET", &url, Some(&vault_token), None).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (401, "InvalidAuthenticationTokenAudience")
    );
    assert!(a.header("www-authenticate").is_some());

    // This emulated cloud's own ARM audience works too.
    let local = t
        .env
        .token_for(APP, SECRET, &format!("{}/.default", t.env.emu.arm_url()))
        .await;
    assert_eq!(
        t.call_with("GET", &url, Some(&local), None).await.status,
        200
    );

    let a = t
        .call(
            "GET",
            &t.rg_url("Microsoft.Storage/storageAccounts/orders"),
            None,
        )
        .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "MissingApiVersionParameter")
    );
    let a = t
        .call(
            "GET",
            &t.rg_url("Microsoft.Storage/storageAccounts/orders?api-version=2099-01-01"),
            None,
        )
        .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "InvalidApiVersionParameter")
    );
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("2099-01-01") && msg.contains("2023-05-01"),
        "{msg}"
    );

    let other = url.replace(SUB, "99999999-9999-4999-8999-999999999999");
    let a = t.call("GET", &other, None).await;
    assert_eq!((a.status, error_code(&a)), (404, "SubscriptionNotFound"));
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("99999999-9999-4999-8999-999999999999"));

    let a = t.call("GET", &url.replace("/rg/", "/nope-rg/"), None).await;
    assert_eq!((a.status, error_code(&a)), (404, "ResourceGroupNotFound"));
    assert_eq!(
        a.body["error"]["message"],
        "Resource group 'nope-rg' could not be found."
    );

    let a = t
        .call(
            "GET",
            &url.replace("/empty-rg/", "/rg/").replace("orders?", "x?"),
            None,
        )
        .await;
    assert_eq!((a.status, error_code(&a)), (404, "ResourceNotFound"));
    assert_eq!(
        a.body["error"]["message"],
        "The Resource 'Microsoft.Storage/storageAccounts/x' under resource group 'rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );

    // Headers on every answer.
    let a = t.call("GET", &url, None).await;
    for h in [
        "x-ms-request-id",
        "x-ms-correlation-request-id",
        "x-ms-routing-request-id",
    ] {
        assert!(a.header(h).is_some(), "{h} missing");
    }
    assert!(a
        .header("x-ms-ratelimit-remaining-subscription-reads")
        .is_some());

    // Route names reach the request log.
    let routes: Vec<String> = t
        .env
        .emu
        .requests()
        .iter()
        .map(|r| r.route.clone())
        .collect();
    assert!(routes.iter().any(|r| r == "arm.storage.get"), "{routes:?}");

    let a = t
        .call(
            "GET",
            &t.rg_url(&format!("Microsoft.Compute/virtualMachines/vm?{SV}")),
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(t.env.emu.requests().last().unwrap().route, "arm.unknown");
}

#[tokio::test]
async fn throttling_counts_down_and_answers_429_with_retry_after() {
    let t = start().await;
    t.env.emu.set_arm_budget(3, 2);
    let get = t.rg_url(&format!("Microsoft.Storage/storageAccounts/orders?{SV}"));
    let list = t.rg_url(&format!(
        "Microsoft.Storage/storageAccounts/orders/listKeys?{SV}"
    ));
    let mut reads = Vec::new();
    for _ in 0..3 {
        let a = t.call("GET", &get, None).await;
        assert_eq!(a.status, 200);
        reads.push(
            a.header("x-ms-ratelimit-remaining-subscription-reads")
                .unwrap()
                .to_owned(),
        );
        assert!(a
            .header("x-ms-ratelimit-remaining-subscription-writes")
            .is_none());
    }
    assert_eq!(reads, ["2", "1", "0"]);
    let a = t.call("GET", &get, None).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (429, "SubscriptionRequestsThrottled")
    );
    let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1200).contains(&retry), "{retry}");

    let a = t.call("POST", &list, None).await;
    assert_eq!(
        a.header("x-ms-ratelimit-remaining-subscription-writes"),
        Some("1")
    );
    assert_eq!(t.call("POST", &list, None).await.status, 200);
    assert_eq!(t.call("POST", &list, None).await.status, 429);

    // A generous budget refills quickly: 3600/hour is one token per second.
    t.env.emu.set_arm_budget(3600, 3600);
    assert_eq!(
        t.call("GET", &get, None)
            .await
            .header("x-ms-ratelimit-remaining-subscription-reads"),
        Some("3599")
    );

    // Faults apply by route name, with ARM's error shape.
    t.env.emu.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(7),
        count: Some(1),
        ..FaultRule::new("arm.storage.listKeys")
    });
    let a = t.call("POST", &list, None).await;
    assert_eq!((a.status, a.header("retry-after")), (429, Some("7")));
    assert!(a.body["error"]["code"].is_string());
    assert_eq!(t.call("POST", &list, None).await.status, 200);
}

// --- storage ------------------------------------------------------------------------------

#[tokio::test]
async fn storage_get_list_regenerate_follow_the_spec() {
    let t = start().await;
    let base = t.rg_url("Microsoft.Storage/storageAccounts/orders");
    let a = t.call("GET", &format!("{base}?{SV}"), None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["name"], "orders");
    assert_eq!(a.body["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(
        a.body["id"],
        format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/orders")
    );
    assert_eq!(
        a.body["properties"]["keyPolicy"]["keyExpirationPeriodInDays"],
        90
    );
    let k1_created = a.body["properties"]["keyCreationTime"]["key1"]
        .as_str()
        .unwrap()
        .to_owned();
    let created =
        time::OffsetDateTime::parse(&k1_created, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let age = time::OffsetDateTime::now_utc() - created;
    assert!((age.whole_days() - 40).abs() <= 1, "{k1_created}");
    let no_policy = t
        .call(
            "GET",
            &format!(
                "{}?{SV}",
                t.rg_url("Microsoft.Storage/storageAccounts/nopolicy")
            ),
            None,
        )
        .await;
    assert!(no_policy.body["properties"].get("keyPolicy").is_none());

    // listKeys: the fixture's shape plus creationTime.
    let fixture: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/arm/StorageAccountListKeys.json"
    ))
    .unwrap();
    let a = t.call("POST", &format!("{base}/listKeys?{SV}"), None).await;
    assert_eq!(a.status, 200);
    assert_same_keys_shape(&fixture["responses"]["200"]["body"], &a.body);
    assert_eq!(a.body["keys"][0]["value"], STORAGE_KEY1);
    assert_eq!(a.body["keys"][0]["creationTime"], k1_created.as_str());

    // regenerateKey: the fixture's request body, both keys back.
    let fixture: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/arm/StorageAccountRegenerateKey.json"
    ))
    .unwrap();
    let (old1, old2) = t.env.emu.storage_keys("orders");
    let a = t
        .call(
            "POST",
            &format!("{base}/regenerateKey?{SV}"),
            Some(fixture["parameters"]["regenerateKey"].clone()),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_same_keys_shape(&fixture["responses"]["200"]["body"], &a.body);
    let (new1, new2) = t.env.emu.storage_keys("orders");
    assert_eq!(new1, old1);
    assert_ne!(new2, old2);
    assert_eq!(a.body["keys"][1]["value"], new2.as_str());
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&new2)
            .unwrap()
            .len(),
        64
    );
    assert_eq!(t.env.emu.storage_regenerations("orders"), ["key2"]);
    let (_, k2) = t.env.emu.storage_key_views("orders");
    assert!((time::OffsetDateTime::now_utc() - k2.created).whole_seconds() < 5);
    let g = t.call("GET", &format!("{base}?{SV}"), None).await;
    assert_ne!(
        g.body["properties"]["keyCreationTime"]["key2"],
        g.body["properties"]["keyCreationTime"]["key1"]
    );

    for bad in [
        json!({"keyName": "key3"}),
        json!({"keyName": "kerb1"}),
        json!({}),
        json!({"keyName": 1}),
    ] {
        let a = t
            .call("POST", &format!("{base}/regenerateKey?{SV}"), Some(bad))
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(a.body["error"]["code"].is_string() && a.body["error"]["message"].is_string());
    }
    assert_eq!(t.env.emu.storage_regenerations("orders"), ["key2"]);
    let a = t
        .call(
            "POST",
            &format!(
                "{}/regenerateKey?{SV}",
                t.rg_url("Microsoft.Storage/storageAccounts/ghost")
            ),
            Some(json!({"keyName":"key1"})),
        )
        .await;
    assert_eq!((a.status, error_code(&a)), (404, "ResourceNotFound"));
}

fn assert_same_keys_shape(fixture: &Value, got: &Value) {
    let f = fixture["keys"].as_array().unwrap();
    let g = got["keys"].as_array().unwrap();
    assert_eq!(f.len(), g.len());
    for (f, g) in f.iter().zip(g) {
        assert_eq!(f["keyName"], g["keyName"]);
        // The spec's examples write "Full"; the live service sends "FULL".
        assert!(f["permissions"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(g["permissions"].as_str().unwrap()));
        for k in f.as_object().unwrap().keys() {
            assert!(g.get(k).is_some(), "{k} missing from {g}");
        }
        assert!(g["value"].as_str().is_some_and(|v| !v.is_empty()));
    }
}

fn http_date() -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc().format(&fmt).unwrap()
}

fn hmac_b64(key: &[u8], text: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// `GET /?comp=list&maxresults=1` signed as the Storage Shared Key spec defines.
async fn list_containers(t: &T, account: &str, key: &str) -> (u16, String) {
    let date = http_date();
    let version = "2021-08-06";
    let to_sign = format!(
        "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{account}/\ncomp:list\nmaxresults:1"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    let sig = hmac_b64(&key, &to_sign);
    let r = t
        .env
        .http
        .get(format!(
            "https://{account}.blob.localhost:{}/?comp=list&maxresults=1",
            t.env.emu.port()
        ))
        .header("x-ms-date", date)
        .header("x-ms-version", version)
        .header("Authorization", format!("SharedKey {account}:{sig}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn blob_endpoint_judges_shared_key_signatures() {
    let t = start().await;
    let (k1, k2) = t.env.emu.storage_keys("orders");
    for k in [&k1, &k2] {
        let (s, body) = list_containers(&t, "orders", k).await;
        assert_eq!(s, 200, "{body}");
        assert!(
            body.contains("<EnumerationResults") && body.contains("<Containers />"),
            "{body}"
        );
    }
    let (s, body) = list_containers(&t, "orders", &t.env.emu.storage_keys("nopolicy").0).await;
    assert_eq!(s, 403);
    assert!(body.contains("<Code>AuthenticationFailed</Code>"));
    assert!(body.contains("Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."));
    assert_eq!(
        t.env.emu.requests().last().unwrap().route,
        "storage.blob.list"
    );

    // After a regeneration the old key2 is refused, key1 still works.
    let base = t.rg_url("Microsoft.Storage/storageAccounts/orders");
    t.call(
        "POST",
        &format!("{base}/regenerateKey?{SV}"),
        Some(json!({"keyName": "key2"})),
    )
    .await;
    assert_eq!(list_containers(&t, "orders", &k2).await.0, 403);
    assert_eq!(list_containers(&t, "orders", &k1).await.0, 200);
    assert_eq!(
        list_containers(&t, "orders", &t.env.emu.storage_keys("orders").1)
            .await
            .0,
        200
    );
}

// --- Service Bus and Event Hubs --------------------------------------------------------

const SBV: &str = "api-version=2024-01-01";

#[tokio::test]
async fn servicebus_rules_list_and_regenerate_at_every_level() {
    let t = start().await;
    let port = t.env.emu.port();
    let ns = t.rg_url("Microsoft.ServiceBus/namespaces/orders-bus");
    let a = t
        .call(
            "POST",
            &format!("{ns}/authorizationRules/RootManageSharedAccessKey/listKeys?{SBV}"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (p, s) = t
        .env
        .emu
        .servicebus_rule_keys("orders-bus", None, "RootManageSharedAccessKey");
    assert_eq!(a.body["primaryKey"], p.as_str());
    assert_eq!(a.body["secondaryKey"], s.as_str());
    assert_eq!(a.body["keyName"], "RootManageSharedAccessKey");
    assert_eq!(
        a.body["primaryConnectionString"],
        format!("Endpoint=sb://orders-bus.servicebus.localhost:{port}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={p}")
    );
    assert_eq!(
        t.env.emu.requests().last().unwrap().route,
        "arm.servicebus.listKeys"
    );

    let q = format!("{ns}/queues/q1/authorizationRules/sender");
    let a = t
        .call(
            "POST",
            &format!("{q}/regenerateKeys?{SBV}"),
            Some(json!({"keyType": "PrimaryKey"})),
        )
        .await;
    assert_eq!(a.status, 200);
    let (p2, s2) = t
        .env
        .emu
        .servicebus_rule_keys("orders-bus", Some("q1"), "sender");
    assert_eq!(a.body["primaryKey"], p2.as_str());
    assert_eq!(
        a.body["secondaryConnectionString"],
        format!("Endpoint=sb://orders-bus.servicebus.localhost:{port}/;SharedAccessKeyName=sender;SharedAccessKey={s2};EntityPath=q1")
    );
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&p2)
            .unwrap()
            .len(),
        32
    );
    let a = t
        .call("POST", &format!("{q}/regenerateKeys?{SBV}"), Some(json!({"keyType": "SecondaryKey", "key": "Z2l2ZW4ta2V5LXZhbHVlLXRoaXJ0eS10d28tYnl0ZXMhIQ=="})))
        .await;
    assert_eq!(
        a.body["secondaryKey"],
        "Z2l2ZW4ta2V5LXZhbHVlLXRoaXJ0eS10d28tYnl0ZXMhIQ=="
    );
    assert_eq!(
        t.env
            .emu
            .servicebus_regenerations("orders-bus", Some("q1"), "sender"),
        ["PrimaryKey", "SecondaryKey"]
    );

    let a = t
        .call(
            "POST",
            &format!("{q}/regenerateKeys?{SBV}"),
            Some(json!({"keyType": "TertiaryKey"})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(error_code(&a) == "BadRequest");
    let a = t
        .call(
            "POST",
            &format!("{ns}/topics/t1/authorizationRules/nope/listKeys?{SBV}"),
            None,
        )
        .await;
    assert_eq!((a.status, error_code(&a)), (404, "ResourceNotFound"));
    let a = t
        .call(
            "POST",
            &format!("{ns}/queues/ghost/authorizationRules/sender/listKeys?{SBV}"),
            None,
        )
        .await;
    assert_eq!(a.status, 404);

    // Event Hubs: namespace and event hub level.
    let hub = t.rg_url("Microsoft.EventHub/namespaces/orders-hub");
    let a = t
        .call(
            "POST",
            &format!("{hub}/eventhubs/eh1/authorizationRules/send/regenerateKeys?{SBV}"),
            Some(json!({"keyType": "SecondaryKey"})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert!(a.body["primaryConnectionString"]
        .as_str()
        .unwrap()
        .ends_with(";EntityPath=eh1"));
    assert_eq!(
        t.env
            .emu
            .eventhub_regenerations("orders-hub", Some("eh1"), "send"),
        ["SecondaryKey"]
    );
    assert_eq!(
        t.env.emu.requests().last().unwrap().route,
        "arm.eventhub.regenerateKeys"
    );
    let a = t
        .call(
            "POST",
            &format!("{hub}/authorizationRules/RootManageSharedAccessKey/listKeys?{SBV}"),
            None,
        )
        .await;
    assert_eq!(
        a.body["primaryKey"],
        t.env
            .emu
            .eventhub_rule_keys("orders-hub", None, "RootManageSharedAccessKey")
            .0
            .as_str()
    );
    // A Service Bus path does not find an Event Hubs namespace.
    let a = t
        .call(
            "POST",
            &format!(
                "{}/authorizationRules/RootManageSharedAccessKey/listKeys?{SBV}",
                t.rg_url("Microsoft.ServiceBus/namespaces/orders-hub")
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 404);
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A SAS token as the Service Bus spec defines it.
fn sas(uri: &str, rule: &str, key: &str, expiry: i64) -> String {
    let sr = enc(uri);
    let sig = hmac_b64(key.as_bytes(), &format!("{sr}\n{expiry}"));
    format!(
        "SharedAccessSignature sr={sr}&sig={}&se={expiry}&skn={rule}",
        enc(&sig)
    )
}

#[tokio::test]
async fn namespace_endpoint_judges_sas_tokens() {
    let t = start().await;
    let port = t.env.emu.port();
    let host = format!("https://orders-bus.servicebus.localhost:{port}");
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let send = |auth: String, entity: &str| {
        t.env
            .http
            .post(format!("{host}/{entity}/messages"))
            .header("Authorization", auth)
            .body("hello")
            .send()
    };
    let (p, s) = t
        .env
        .emu
        .servicebus_rule_keys("orders-bus", Some("q1"), "sender");
    assert_eq!(
        send(sas(&format!("{host}/q1"), "sender", &p, exp), "q1")
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        send(
            sas("sb://orders-bus.servicebus.localhost/q1", "sender", &s, exp),
            "q1"
        )
        .await
        .unwrap()
        .status(),
        201
    );
    // Wrong key, expired, other entity, no header.
    let r = send(sas(&format!("{host}/q1"), "sender", "d3Jvbmc=", exp), "q1")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("<Error><Code>401</Code><Detail>InvalidSignature"),
        "{body}"
    );
    assert_eq!(
        send(sas(&format!("{host}/q1"), "sender", &p, exp - 1200), "q1")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send(sas(&format!("{host}/t1"), "sender", &p, exp), "q1")
            .await
            .unwrap()
            .status(),
        401
    );
    // The entity rule cannot read the description (Manage); the namespace's root rule can.
    let r = t
        .env
        .http
        .get(format!("{host}/q1"))
        .header(
            "Authorization",
            sas(&format!("{host}/q1"), "sender", &p, exp),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (root, _) = t
        .env
        .emu
        .servicebus_rule_keys("orders-bus", None, "RootManageSharedAccessKey");
    let r = t
        .env
        .http
        .get(format!("{host}/q1"))
        .header(
            "Authorization",
            sas(&host, "RootManageSharedAccessKey", &root, exp),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("QueueDescription"));
    assert_eq!(
        t.env.emu.requests().last().unwrap().route,
        "servicebus.data"
    );

    // After regenerating the primary key the old one is refused.
    let q =
        t.rg_url("Microsoft.ServiceBus/namespaces/orders-bus/queues/q1/authorizationRules/sender");
    t.call(
        "POST",
        &format!("{q}/regenerateKeys?{SBV}"),
        Some(json!({"keyType": "PrimaryKey"})),
    )
    .await;
    assert_eq!(
        send(sas(&format!("{host}/q1"), "sender", &p, exp), "q1")
            .await
            .unwrap()
            .status(),
        401
    );
    let (p2, _) = t
        .env
        .emu
        .servicebus_rule_keys("orders-bus", Some("q1"), "sender");
    assert_eq!(
        send(sas(&format!("{host}/q1"), "sender", &p2, exp), "q1")
            .await
            .unwrap()
            .status(),
        201
    );

    // Event Hubs on the same host suffix.
    let hub = format!("https://orders-hub.servicebus.localhost:{port}");
    let (hp, _) = t
        .env
        .emu
        .eventhub_rule_keys("orders-hub", Some("eh1"), "send");
    let r = t
        .env
        .http
        .post(format!("{hub}/eh1/messages"))
        .header(
            "Authorization",
            sas(&format!("{hub}/eh1"), "send", &hp, exp),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

// --- Cosmos DB -------------------------------------------------------------------------

const CV: &str = "api-version=2024-11-15";

async fn cosmos_get(t: &T, key: &str) -> u16 {
    let date = http_date();
    let payload = format!("get\n\n\n{}\n\n", date.to_lowercase());
    let sig = hmac_b64(
        &base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap(),
        &payload,
    );
    let auth = enc(&format!("type=master&ver=1.0&sig={sig}"));
    t.env
        .http
        .get(format!(
            "https://orders-db.documents.localhost:{}/",
            t.env.emu.port()
        ))
        .header("authorization", auth)
        .header("x-ms-date", date)
        .header("x-ms-version", "2018-12-31")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn cosmos_regenerate_is_a_long_running_operation() {
    let t = start().await;
    let base = t.rg_url("Microsoft.DocumentDB/databaseAccounts/orders-db");
    let a = t.call("GET", &format!("{base}?{CV}"), None).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["properties"]["documentEndpoint"],
        format!(
            "https://orders-db.documents.localhost:{}/",
            t.env.emu.port()
        )
    );
    assert!(a.body["properties"]["keysMetadata"]["primaryMasterKey"]["generationTime"].is_string());

    let a = t.call("POST", &format!("{base}/listKeys?{CV}"), None).await;
    let before = t.env.emu.cosmos_keys("orders-db");
    assert_eq!(a.body["primaryMasterKey"], before[0].as_str());
    assert_eq!(a.body["secondaryReadonlyMasterKey"], before[3].as_str());
    for k in &before {
        assert_eq!(cosmos_get(&t, k).await, 200);
    }

    let a = t
        .call(
            "POST",
            &format!("{base}/regenerateKey?{CV}"),
            Some(json!({"keyKind": "secondary"})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let status_url = a.header("azure-asyncoperation").unwrap().to_owned();
    let location = a.header("location").unwrap().to_owned();
    assert!(
        status_url.starts_with(&format!(
            "{}/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/",
            t.env.emu.arm_url()
        )),
        "{status_url}"
    );
    assert!(status_url.contains("/operationsStatus/") && location.contains("/operationResults/"));

    // Until it completes, the key has not changed and another regenerate conflicts.
    let s = t.call("GET", &status_url, None).await;
    assert_eq!(
        (s.status, s.body["status"].as_str()),
        (200, Some("InProgress"))
    );
    assert_eq!(t.env.emu.requests().last().unwrap().route, "arm.operation");
    let l = t.call("GET", &location, None).await;
    assert_eq!(l.status, 202);
    assert_eq!(t.env.emu.cosmos_keys("orders-db"), before);
    assert_eq!(cosmos_get(&t, &before[1]).await, 200);
    let c = t
        .call(
            "POST",
            &format!("{base}/regenerateKey?{CV}"),
            Some(json!({"keyKind": "primary"})),
        )
        .await;
    assert_eq!((c.status, error_code(&c)), (412, "PreconditionFailed"));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let s = t.call("GET", &status_url, None).await;
    assert_eq!(s.body["status"], "Succeeded");
    let l = t.call("GET", &location, None).await;
    assert_eq!((l.status, &l.body), (200, &Value::Null));
    let after = t.env.emu.cosmos_keys("orders-db");
    assert_eq!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    assert_eq!(t.env.emu.cosmos_regenerations("orders-db"), ["secondary"]);
    let a = t.call("POST", &format!("{base}/listKeys?{CV}"), None).await;
    assert_eq!(a.body["secondaryMasterKey"], after[1].as_str());
    assert_eq!(cosmos_get(&t, &before[1]).await, 401);
    assert_eq!(cosmos_get(&t, &after[1]).await, 200);
    assert_eq!(t.env.emu.requests().last().unwrap().route, "cosmos.data");

    let a = t
        .call(
            "POST",
            &format!("{base}/regenerateKey?{CV}"),
            Some(json!({"keyKind": "tertiary"})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"]["message"].is_string());
}

// --- App Service and Logic Apps ------------------------------------------------------------

#[tokio::test]
async fn site_references_resolve_and_refresh_from_the_emulated_vault() {
    let t = start().await;
    let refs = t.rg_url("Microsoft.Web/sites/orders-api/config/configreferences/appsettings");
    let wv = "api-version=2022-03-01";
    let a = t.call("GET", &format!("{refs}?{wv}"), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let items = a.body["value"].as_array().unwrap();
    assert_eq!(items.len(), 2, "PLAIN is not a reference");
    let db = items.iter().find(|i| i["name"] == "DB_KEY").unwrap();
    let v1 = t.env.emu.secret_versions("kv1", "db-key")[0]
        .version
        .clone();
    assert_eq!(db["properties"]["status"], "Resolved");
    assert_eq!(db["properties"]["vaultName"], "kv1");
    assert_eq!(db["properties"]["secretName"], "db-key");
    assert_eq!(db["properties"]["secretVersion"], v1.as_str());
    assert_eq!(db["properties"]["identityType"]["type"], "SystemAssigned");
    let missing = items.iter().find(|i| i["name"] == "MISSING").unwrap();
    assert_eq!(missing["properties"]["status"], "SecretNotFound");

    // A new version in the vault: the app keeps the old one until a refresh.
    let kv_token = t
        .env
        .token_for(APP, SECRET, "https://vault.localhost/.default")
        .await;
    let r = t
        .call_with(
            "PUT",
            &format!(
                "{}/secrets/db-key?api-version=7.5",
                t.env.emu.vault_url("kv1")
            ),
            Some(&kv_token),
            Some(json!({"value": "second"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let v2 = t.env.emu.secret_versions("kv1", "db-key")[1]
        .version
        .clone();
    let one = t.call("GET", &format!("{refs}/DB_KEY?{wv}"), None).await;
    assert_eq!(one.body["properties"]["secretVersion"], v1.as_str());
    let r = t.call("POST", &format!("{refs}/refresh?{wv}"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        t.env.emu.requests().last().unwrap().route,
        "arm.web.refresh"
    );
    assert_eq!(t.env.emu.site_refreshes("orders-api"), 1);
    let one = t.call("GET", &format!("{refs}/DB_KEY?{wv}"), None).await;
    assert_eq!(one.body["properties"]["secretVersion"], v2.as_str());
    assert_eq!(
        t.env.emu.site_reference_versions("orders-api")["DB_KEY"],
        Some(v2)
    );
    let a = t
        .call(
            "GET",
            &format!(
                "{}?{wv}",
                t.rg_url("Microsoft.Web/sites/ghost/config/configreferences/appsettings")
            ),
            None,
        )
        .await;
    assert_eq!((a.status, error_code(&a)), (404, "ResourceNotFound"));
}

#[tokio::test]
async fn logic_app_get_and_put_keep_the_fixture_shape() {
    let t = start().await;
    let url = format!(
        "{}?api-version=2019-05-01",
        t.rg_url("Microsoft.Logic/workflows/orders-flow")
    );
    let fixture: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/arm/Workflows_Get.json")).unwrap();
    let a = t.call("GET", &url, None).await;
    assert_eq!(a.status, 200);
    let want = &fixture["responses"]["200"]["body"];
    for k in want.as_object().unwrap().keys() {
        assert!(a.body.get(k).is_some(), "{k} missing");
    }
    for k in want["properties"].as_object().unwrap().keys() {
        if k != "integrationAccount" && k != "integrationServiceEnvironment" {
            assert!(
                a.body["properties"].get(k).is_some(),
                "properties.{k} missing"
            );
        }
    }
    assert_eq!(a.body["properties"]["parameters"]["apiKey"]["value"], "old");
    assert_eq!(a.body["properties"]["state"], "Enabled");
    assert_eq!(a.body, t.env.emu.logic_app("orders-flow"));

    let mut body = a.body.clone();
    body["properties"]["parameters"]["apiKey"]["value"] = json!("new");
    body["properties"]["definition"]["actions"] = json!({"Ping": {"type": "Http", "inputs": {"method": "GET", "uri": "https://example.invalid"}}});
    let p = t.call("PUT", &url, Some(body.clone())).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["properties"]["parameters"]["apiKey"]["value"], "new");
    assert_ne!(
        p.body["properties"]["version"],
        a.body["properties"]["version"]
    );
    assert_eq!(t.env.emu.logic_app_last_put("orders-flow"), Some(body));
    assert_eq!(
        t.env.emu.logic_app("orders-flow")["properties"]["definition"]["actions"]["Ping"]["type"],
        "Http"
    );
    assert_eq!(t.env.emu.requests().last().unwrap().route, "arm.logic.put");

    // The fixture's create request creates a new workflow.
    let create: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/arm/Workflows_CreateOrUpdate.json"
    ))
    .unwrap();
    let new_url = format!(
        "{}?api-version=2019-05-01",
        t.rg_url("Microsoft.Logic/workflows/test-workflow")
    );
    let c = t
        .call(
            "PUT",
            &new_url,
            Some(create["parameters"]["workflow"].clone()),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    assert_eq!(c.body["location"], "brazilsouth");
    let mut no_location = create["parameters"]["workflow"].clone();
    no_location.as_object_mut().unwrap().remove("location");
    let c = t
        .call(
            "PUT",
            &new_url.replace("test-workflow", "other"),
            Some(no_location),
        )
        .await;
    assert_eq!((c.status, error_code(&c)), (400, "LocationRequired"));
    let a = t
        .call("GET", &new_url.replace("test-workflow", "ghost"), None)
        .await;
    assert_eq!((a.status, error_code(&a)), (404, "ResourceNotFound"));
}

#[tokio::test]
async fn admin_api_shows_arm_state_and_sets_the_budget() {
    let t = start().await;
    let a = t
        .call_with("GET", &format!("{}/arm", t.env.emu.admin_url()), None, None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["subscription_id"], SUB);
    assert_eq!(
        a.body["storage_accounts"][0]["keys"][0]["value"],
        STORAGE_KEY1
    );
    let b = t
        .call_with(
            "PUT",
            &format!("{}/arm/budget", t.env.emu.admin_url()),
            None,
            Some(json!({"reads_per_hour": 1, "writes_per_hour": 1})),
        )
        .await;
    assert_eq!(b.status, 200);
    let url = t.rg_url(&format!("Microsoft.Storage/storageAccounts/orders?{SV}"));
    assert_eq!(t.call("GET", &url, None).await.status, 200);
    assert_eq!(t.call("GET", &url, None).await.status, 429);
}

#[test]
fn seeds_are_validated() {
    assert!(Seed::from_toml_str("[arm]\nsubscription_id = \"nope\"").is_err());
    assert!(Seed::from_toml_str(
        "[[arm.storage_account]]\nresource_group = \"rg\"\nname = \"Bad_Name\""
    )
    .is_err());
    assert!(Seed::from_toml_str(
        "[[arm.logic_app]]\nresource_group = \"rg\"\nname = \"x\"\ndefinition = \"{not json\""
    )
    .is_err());
    let s =
        Seed::from_toml_str("[[arm.storage_account]]\nresource_group = \"rg\"\nname = \"okname\"")
            .unwrap();
    assert_eq!(
        s.arm.subscription_id,
        keyrot_emulator::DEFAULT_SUBSCRIPTION_ID
    );
}
