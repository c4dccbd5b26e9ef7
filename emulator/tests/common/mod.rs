//! Shared helpers: a seeded emulator and a reqwest client that trusts it and resolves its hosts.
#![allow(dead_code)]

use std::net::SocketAddr;

use keyrot_emulator::{Emulator, EmulatorConfig, Seed};
use serde_json::Value;

pub const TENANT: &str = "11111111-2222-3333-4444-000000000001";
pub const APP: &str = "aaaaaaaa-0000-0000-0000-000000000001";
pub const APP_SECRET: &str = "app-secret-current";
pub const LIMITED: &str = "aaaaaaaa-0000-0000-0000-000000000002";
pub const LIMITED_SECRET: &str = "limited-secret";
pub const FEDERATED_SUBJECT: &str = "repo:acme/app:ref:refs/heads/main";
pub const GH_REQUEST_TOKEN: &str = "gh-request-token";
pub const ADO_TOKEN: &str = "ado-access-token";
pub const MSI_CLIENT: &str = "aaaaaaaa-0000-0000-0000-000000000003";
pub const MSI_HEADER: &str = "msi-header-value";
pub const SCOPE: &str = "https://vault.localhost/.default";

pub fn seed_toml() -> String {
    format!(
        r#"
tenant_id = "{TENANT}"

[[client]]
client_id = "{APP}"
display_name = "test-app"
federated_subjects = ["{FEDERATED_SUBJECT}", "sc://keyrot/keyrot/sc-1"]
secrets = [
  {{ value = "app-secret-expired", expires = "-1d" }},
  {{ value = "{APP_SECRET}", expires = "+30d" }},
  {{ value = "app-secret-not-replicated", valid_after_seconds = 3600 }},
]

[[client]]
client_id = "{LIMITED}"
secrets = [{{ value = "{LIMITED_SECRET}" }}]

[[client]]
client_id = "{MSI_CLIENT}"

[github_oidc]
request_token = "{GH_REQUEST_TOKEN}"
subject = "{FEDERATED_SUBJECT}"

[azure_pipelines]
access_token = "{ADO_TOKEN}"

[managed_identity]
client_id = "{MSI_CLIENT}"
header = "{MSI_HEADER}"

[[vault]]
name = "kv1"
location = "westeurope"

[[vault.secret]]
name = "seeded"
value = "seeded-value"
exp = "+3d"
tags = {{ owner = "team" }}

[[vault.secret]]
name = "disabled-one"
value = "x"
enabled = false

[[vault.secret]]
name = "multi"
[[vault.secret.version]]
value = "old"
[[vault.secret.version]]
value = "new"

[[vault.certificate]]
name = "tls-cert"
exp = "+20d"

[[vault.key]]
name = "signing-key"
kty = "EC"

[[vault]]
name = "locked"
location = "northeurope"
access = {{ "{LIMITED}" = ["secrets/get"], "{APP}" = ["secrets/*", "certificates/list"] }}

[[vault.secret]]
name = "s1"
value = "v1"
"#
    )
}

pub struct Env {
    pub emu: Emulator,
    pub http: reqwest::Client,
}

pub async fn start() -> Env {
    start_with(Seed::from_toml_str(&seed_toml()).expect("test seed")).await
}

pub async fn start_with(seed: Seed) -> Env {
    let emu = Emulator::start(EmulatorConfig::new(seed))
        .await
        .expect("start");
    let http = client_for(&emu);
    Env { emu, http }
}

pub fn client_for(emu: &Emulator) -> reqwest::Client {
    let addr: SocketAddr = ([127, 0, 0, 1], emu.port()).into();
    let cert = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).expect("ca");
    let mut b = reqwest::Client::builder()
        .tls_certs_only([cert])
        .no_proxy()
        .resolve("login.localhost", addr)
        .resolve("graph.localhost", addr)
        .resolve("devops.localhost", addr)
        .resolve("vsrm.devops.localhost", addr)
        .resolve("api.github.localhost", addr)
        .resolve("localhost", addr);
    for v in ["kv1", "locked", "nope", "demo", "payments"] {
        b = b.resolve(&format!("{v}.vault.localhost"), addr);
    }
    b.build().expect("client")
}

impl Env {
    pub fn vault(&self, name: &str) -> String {
        self.emu.vault_url(name)
    }

    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.emu.authority_host(),
            self.emu.tenant_id()
        )
    }

    pub async fn token_form(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .http
            .post(self.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap())
    }

    pub async fn token_for(&self, client: &str, secret: &str, scope: &str) -> String {
        let (s, v) = self
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .await;
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn token(&self) -> String {
        self.token_for(APP, APP_SECRET, SCOPE).await
    }

    /// A Key Vault call with a bearer token; returns status, headers and JSON (Null if none).
    pub async fn kv(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let s = r.status().as_u16();
        let h = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (s, h, v)
    }
}
