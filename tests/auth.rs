//! Every credential kind but the VM metadata service and the Azure CLI, end to end against the
//! emulator's token, OIDC and managed-identity endpoints.

mod common;

use common::{Harness, CLIENT_ID, CLIENT_SECRET};

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

/// Entra's refusals, as the emulator's token endpoint gives them: one line per credential
/// tried, never cut, with the AADSTS code, Entra's description and ids, ending with the fix.
mod refusals {
    use super::*;

    const EXPIRED_APP: &str = "expired-app";

    /// The standard seed plus an application whose only secret has expired.
    fn seed() -> String {
        format!(
            "{}\n[[client]]\nclient_id = \"{EXPIRED_APP}\"\nsecrets = [{{ value = \"expired-secret\", expires = \"-1d\" }}]\n",
            common::standard_seed()
        )
    }

    /// Runs `check` and returns the line of the credential that was tried.
    async fn refused(h: &Harness, env: Vec<(String, String)>) -> String {
        let run = h.run(env, &["check", "--vault", &h.vault("clean")]).await;
        run.expect_code(3);
        assert!(
            !run.stderr.contains("invalid type") && !run.stderr.contains('…'),
            "{}",
            run.stderr
        );
        let tried: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("  - ") && !l.contains("not configured"))
            .collect();
        assert_eq!(
            tried.len(),
            1,
            "one line per credential tried:\n{}",
            run.stderr
        );
        let line = tried[0].to_string();
        // Entra's ids come along (what support asks for), on the same line.
        assert!(
            line.contains("trace ID ") && line.contains("correlation ID "),
            "{line}"
        );
        line
    }

    fn secret_env(h: &Harness, client: &str, secret: &str, tenant: &str) -> Vec<(String, String)> {
        let mut env = base_env(h);
        env.extend([
            ("AZURE_CLIENT_ID".into(), client.into()),
            ("AZURE_TENANT_ID".into(), tenant.into()),
            ("AZURE_CLIENT_SECRET".into(), secret.into()),
        ]);
        env
    }

    fn token_file_env(h: &Harness, dir: &tempfile::TempDir, token: &str) -> Vec<(String, String)> {
        let file = dir.path().join("token");
        std::fs::write(&file, token).unwrap();
        let mut env = base_env(h);
        env.extend([
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_TENANT_ID".into(), h.emulator.tenant_id().into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE".into(),
                file.display().to_string(),
            ),
        ]);
        env
    }

    fn assert_line(line: &str, starts: &str, has: &[&str]) {
        assert!(
            line.starts_with(starts),
            "expected {starts:?} at the start of:\n{line}"
        );
        for needle in has {
            assert!(line.contains(needle), "expected {needle:?} in:\n{line}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_wrong_client_secret() {
        let h = Harness::start(&seed()).await;
        let tenant = h.emulator.tenant_id().to_string();
        let line = refused(&h, secret_env(&h, CLIENT_ID, "not-the-secret", &tenant)).await;
        assert_line(
            &line,
            &format!("  - client secret for client {CLIENT_ID} in tenant {tenant}: AADSTS7000215: Invalid client secret provided."),
            &["Fix: check AZURE_CLIENT_SECRET: it is wrong or was rotated"],
        );
        assert!(!line.contains("not-the-secret"), "{line}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_expired_client_secret() {
        let h = Harness::start(&seed()).await;
        let tenant = h.emulator.tenant_id().to_string();
        let line = refused(&h, secret_env(&h, EXPIRED_APP, "expired-secret", &tenant)).await;
        assert_line(
            &line,
            "  - client secret for client expired-app",
            &[
                "AADSTS7000222: The provided client secret keys for app 'expired-app' are expired.",
                "Fix: the client secret in AZURE_CLIENT_SECRET has expired",
            ],
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_application_the_tenant_does_not_know() {
        let h = Harness::start(&seed()).await;
        let tenant = h.emulator.tenant_id().to_string();
        let line = refused(&h, secret_env(&h, "no-such-app", "x", &tenant)).await;
        assert_line(
            &line,
            "  - client secret for client no-such-app",
            &[
                "AADSTS700016: Application with identifier 'no-such-app' was not found",
                "Fix: no application with this client id is registered in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID",
            ],
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_tenant_that_does_not_exist() {
        let h = Harness::start(&seed()).await;
        let tenant = "00000000-0000-4000-8000-000000000000";
        let line = refused(&h, secret_env(&h, CLIENT_ID, CLIENT_SECRET, tenant)).await;
        assert_line(
            &line,
            "  - client secret for client",
            &[
                &format!("AADSTS90002: Tenant '{tenant}' not found."),
                "Fix: no such tenant: check AZURE_TENANT_ID",
            ],
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn no_federated_credential_matches_the_subject() {
        let h = Harness::start(&seed()).await;
        let dir = tempfile::tempdir().unwrap();
        let subject = "repo:keyrot/app:ref:refs/heads/feature";
        let token = h.emulator.mint_federated_token(subject);
        let line = refused(&h, token_file_env(&h, &dir, &token)).await;
        assert_line(
            &line,
            "  - workload identity for client keyrot-ci",
            &[
                "AADSTS70021: No matching federated identity record found for presented assertion.",
                &format!("Fix: add a federated credential to the app with subject '{subject}'"),
            ],
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_github_job_whose_subject_is_not_federated() {
        let h = Harness::start(&seed()).await;
        let mut env = base_env(&h);
        env.extend([
            // This app trusts no subject at all.
            ("AZURE_CLIENT_ID".into(), "lister-only".into()),
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
        let line = refused(&h, env).await;
        assert_line(
            &line,
            "  - GitHub Actions OIDC for client lister-only",
            &["AADSTS70021:", "Fix: add a federated credential to the app with subject 'repo:keyrot/app:ref:refs/heads/main'"],
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_token_from_an_issuer_nobody_trusts() {
        use base64::Engine as _;
        let h = Harness::start(&seed()).await;
        let dir = tempfile::tempdir().unwrap();
        let part = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let token = format!(
            "{}.{}.c2ln",
            part(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            part(
                serde_json::json!({"iss": "https://issuer.example", "sub": "x", "aud": "api://AzureADTokenExchange"})
            )
        );
        let line = refused(&h, token_file_env(&h, &dir, &token)).await;
        assert_line(
            &line,
            "  - workload identity for client keyrot-ci",
            &[
                "AADSTS700211:",
                "Fix: the app has no federated credential for issuer 'https://issuer.example'",
            ],
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_token_file_that_holds_no_jwt() {
        let h = Harness::start(&seed()).await;
        let dir = tempfile::tempdir().unwrap();
        let line = refused(&h, token_file_env(&h, &dir, "not-a-jwt")).await;
        assert_line(
            &line,
            "  - workload identity for client keyrot-ci",
            &[
                "AADSTS50027: JWT token is invalid or malformed.",
                "Fix: the federated token is not a valid JWT",
            ],
        );
    }
}
