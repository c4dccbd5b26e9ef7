//! Entra token endpoint, discovery, OIDC token sources and managed identity.

mod common;

use common::*;
use serde_json::Value;

fn assert_aad(v: &Value, error: &str, code: u64) {
    assert_eq!(v["error"], error, "{v}");
    assert_eq!(v["error_codes"], serde_json::json!([code]), "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(
        d.contains("\r\nTrace ID: ")
            && d.contains("\r\nCorrelation ID: ")
            && d.contains("\r\nTimestamp: "),
        "{d}"
    );
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(v[k].is_string(), "{k} in {v}");
    }
}

#[tokio::test]
async fn client_secret_success_and_errors() {
    let env = start().await;
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["ext_expires_in"], 3599);
    assert_eq!(v["access_token"].as_str().unwrap().split('.').count(), 3);

    let cases: &[(&str, &str, u16, &str, u64)] = &[
        (APP, "wrong", 401, "invalid_client", 7000215),
        (APP, "app-secret-expired", 401, "invalid_client", 7000222),
        (
            APP,
            "app-secret-not-replicated",
            401,
            "invalid_client",
            7000215,
        ),
        (
            "bbbbbbbb-0000-0000-0000-000000000000",
            "x",
            400,
            "unauthorized_client",
            700016,
        ),
    ];
    for (client, secret, status, error, code) in cases {
        let (s, v) = env
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", secret),
                ("scope", SCOPE),
            ])
            .await;
        assert_eq!(s, *status, "{v}");
        assert_aad(&v, error, *code);
    }

    // Unknown tenant.
    let url = format!(
        "{}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token",
        env.emu.authority_host()
    );
    let r = env
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("client-request-id", "corr-1")
        .body(format!("grant_type=client_credentials&client_id={APP}&client_secret={APP_SECRET}&scope=https%3A%2F%2Fvault.localhost%2F.default"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["client-request-id"], "corr-1");
    let v: Value = r.json().await.unwrap();
    assert_aad(&v, "invalid_request", 90002);
    assert_eq!(v["correlation_id"], "corr-1");

    // Scope without /.default and unknown resource.
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", "https://vault.localhost"),
        ])
        .await;
    assert_eq!(s, 400);
    assert_aad(&v, "invalid_scope", 1002012);
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", "https://nothing.example/.default"),
        ])
        .await;
    assert_eq!(s, 400);
    assert_aad(&v, "invalid_resource", 500011);
}

#[tokio::test]
async fn federated_assertions() {
    let env = start().await;
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let good = env.emu.mint_federated_token(FEDERATED_SUBJECT);
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", &good),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap();
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("kv1")),
            Some(t),
            None,
        )
        .await;
    assert_eq!(s, 200);

    let other = env
        .emu
        .mint_federated_token("repo:evil/app:ref:refs/heads/main");
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", &other),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 400);
    assert_aad(&v, "invalid_client", 70021);
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("Assertion Subject: 'repo:evil/app:ref:refs/heads/main'"));

    // A JWT the emulator never minted.
    let forged = format!(
        "{}.{}.sig",
        "eyJhbGciOiJSUzI1NiJ9", "eyJpc3MiOiJodHRwczovL2V2aWwifQ"
    );
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", &forged),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 400);
    assert_aad(&v, "invalid_client", 700211);

    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", "garbage"),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 400);
    assert_aad(&v, "invalid_request", 50027);
}

#[tokio::test]
async fn openid_configuration_and_instance_discovery() {
    let env = start().await;
    let auth = env.emu.authority_host();
    let v: Value = env
        .http
        .get(format!(
            "{auth}/{TENANT}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["token_endpoint"],
        format!("{auth}/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(v["issuer"], format!("{auth}/{TENANT}/v2.0"));
    assert!(v["authorization_endpoint"].is_string());
    assert!(v["jwks_uri"].is_string());
    let r = env
        .http
        .get(format!(
            "{auth}/not-a-tenant/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .get(format!("{auth}/common/discovery/instance?api-version=1.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn github_oidc_token_works_as_assertion() {
    let env = start().await;
    let url = format!(
        "{}&audience=api://AzureADTokenExchange",
        env.emu.github_oidc_request_url()
    );
    let r = env
        .http
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .get(&url)
        .bearer_auth(GH_REQUEST_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let jwt = v["value"].as_str().unwrap();
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 200, "{v}");

    // Wrong audience requested from GitHub → Entra refuses the assertion.
    let url = format!(
        "{}&audience=https://example.com",
        env.emu.github_oidc_request_url()
    );
    let v: Value = env
        .http
        .get(&url)
        .bearer_auth(GH_REQUEST_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", v["value"].as_str().unwrap()),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 400);
    assert_aad(&v, "invalid_client", 70021);
}

#[tokio::test]
async fn azure_pipelines_oidc() {
    let env = start().await;
    let url = format!(
        "{}?api-version=7.1&serviceConnectionId=sc-1",
        env.emu.azure_pipelines_oidc_url()
    );
    let r = env
        .http
        .post(&url)
        .bearer_auth("wrong")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .post(&url)
        .bearer_auth(ADO_TOKEN)
        .header("x-tfs-fedauthredirect", "Suppress")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let jwt = v["oidcToken"].as_str().unwrap();
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 200, "{v}");
    let r = env
        .http
        .post(format!(
            "{}?api-version=7.1",
            env.emu.azure_pipelines_oidc_url()
        ))
        .bearer_auth(ADO_TOKEN)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn app_service_managed_identity() {
    let env = start().await;
    let url = format!(
        "{}?api-version=2019-08-01&resource=https://vault.localhost",
        env.emu.msi_endpoint()
    );
    let r = env
        .http
        .get(&url)
        .header("metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .get(&url)
        .header("X-IDENTITY-HEADER", MSI_HEADER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["expires_on"].as_str().unwrap().parse::<i64>().is_ok(),
        "expires_on is a string of seconds"
    );
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["resource"], "https://vault.localhost");
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("kv1")),
            Some(v["access_token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let r = env
        .http
        .get(format!(
            "{url}&client_id=cccccccc-0000-0000-0000-000000000000"
        ))
        .header("X-IDENTITY-HEADER", MSI_HEADER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
