//! Every credential kind but the VM metadata service and the Azure CLI, end to end against the
//! emulator's token, OIDC and managed-identity endpoints.

mod common;

use common::{Harness, CLIENT_ID};

fn base_env(h: &Harness) -> Vec<(String, String)> {
    vec![
        ("AZURE_AUTHORITY_HOST".into(), h.emulator.authority_host()),
        (
            "KEYROT_CA_CERT".into(),
            h.emulator.ca_path().display().to_string(),
        ),
    ]
}

async fn check_clean(h: &Harness, env: Vec<(String, String)>, expect_line: &str) {
    let run = h.run(env, &["check", "--vault", &h.vault("clean")]).await;
    run.expect_code(0);
    assert!(
        run.stderr.contains(expect_line),
        "expected {expect_line:?} in:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_identity_from_a_token_file() {
    let h = Harness::start(&common::standard_seed()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(
        &file,
        h.emulator
            .mint_federated_token("repo:keyrot/app:ref:refs/heads/main"),
    )
    .unwrap();
    let mut env = base_env(&h);
    env.extend([
        ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
        ("AZURE_TENANT_ID".into(), h.emulator.tenant_id().into()),
        (
            "AZURE_FEDERATED_TOKEN_FILE".into(),
            file.display().to_string(),
        ),
    ]);
    check_clean(
        &h,
        env,
        "auth: using workload identity for client keyrot-ci",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn github_actions_oidc() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = base_env(&h);
    env.extend([
        ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
        ("AZURE_TENANT_ID".into(), h.emulator.tenant_id().into()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
            h.emulator.github_oidc_request_url(),
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
            "gh-request-token".into(),
        ),
    ]);
    check_clean(
        &h,
        env,
        "auth: using GitHub Actions OIDC for client keyrot-ci",
    )
    .await;
    let asked = h
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.route == "github-oidc")
        .expect("OIDC token requested");
    assert!(
        asked
            .path_and_query
            .contains("audience=api%3A%2F%2FAzureADTokenExchange")
            || asked
                .path_and_query
                .contains("audience=api://AzureADTokenExchange"),
        "{}",
        asked.path_and_query
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_pipelines_workload_identity_federation() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = base_env(&h);
    env.extend([
        ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
        ("AZURE_TENANT_ID".into(), h.emulator.tenant_id().into()),
        (
            "SYSTEM_OIDCREQUESTURI".into(),
            h.emulator.azure_pipelines_oidc_url(),
        ),
        (
            "SYSTEM_ACCESSTOKEN".into(),
            "ado-system-access-token".into(),
        ),
        (
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID".into(),
            "conn-1".into(),
        ),
    ]);
    check_clean(
        &h,
        env,
        "auth: using Azure Pipelines service connection conn-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn app_service_managed_identity() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = base_env(&h);
    env.extend([
        ("IDENTITY_ENDPOINT".into(), h.emulator.msi_endpoint()),
        ("IDENTITY_HEADER".into(), "msi-header-value".into()),
    ]);
    check_clean(&h, env, "auth: using managed identity").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forcing_a_kind_that_is_not_configured_says_what_is_missing() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = h.client_secret_env();
    env.push(("KEYROT_AUTH".into(), "github-oidc".into()));
    let run = h.run(env, &["check", "--vault", &h.vault("clean")]).await;
    run.expect_code(3);
    assert!(
        run.stderr.contains("GitHub Actions OIDC: not configured"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ACTIONS_ID_TOKEN_REQUEST_URL"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_none_works_the_error_lists_every_attempt() {
    let h = Harness::start(&common::standard_seed()).await;
    // Managed identity pointed at a closed loopback port, so nothing leaves this machine.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = base_env(&h);
    env.extend([
        (
            "IDENTITY_ENDPOINT".into(),
            format!("https://localhost:{port}/msi/token"),
        ),
        ("IDENTITY_HEADER".into(), "x".into()),
    ]);
    let run = h.run(env, &["check", "--vault", &h.vault("clean")]).await;
    run.expect_code(3);
    for expected in [
        "no Azure credential worked",
        "client secret: not configured",
        "workload identity: not configured",
        "GitHub Actions OIDC: not configured",
        "Azure Pipelines workload identity federation: not configured",
        "managed identity",
        "connection refused",
    ] {
        assert!(
            run.stderr.contains(expected),
            "expected {expected:?} in:\n{}",
            run.stderr
        );
    }
}
