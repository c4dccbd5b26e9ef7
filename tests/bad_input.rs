//! Bad input gets a clear error and exit code 2 (usage) or 3 (runtime), never a panic.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use keyrot_emulator::{FaultBody, FaultRule};

fn no_panic(run: &common::Run) {
    assert!(
        !run.stderr.contains("panicked"),
        "keyrot panicked:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("RUST_BACKTRACE"),
        "keyrot panicked:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2_before_any_request() {
    let h = Harness::start(&common::standard_seed()).await;
    let env = h.client_secret_env();
    let vault = h.vault("gate");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["check", "--vault", "my_vault!"], "invalid vault name"),
        (
            vec!["check", "--vault", "http://gate.vault.localhost"],
            "https",
        ),
        (
            vec!["check", "--vault", "https://gate.vault.localhost/secrets/x"],
            "base URL",
        ),
        (
            vec!["check", "--vault", &vault, "--kinds", "passwords"],
            "passwords",
        ),
        (
            vec!["check", "--vault", &vault, "--warn-within", "3w"],
            "--warn-within",
        ),
        (
            vec!["check", "--vault", &vault, "--fail-within=-1d"],
            "--fail-within",
        ),
        (
            vec!["check", "--vault", &vault, "--fail-within", "40d"],
            "must not exceed",
        ),
        (
            vec!["check", "--vault", &vault, "--tag", "owner"],
            "KEY=VALUE",
        ),
        (vec!["check", "--vault", &vault, "--format", "yaml"], "yaml"),
        (
            vec!["check", "--vault", &vault, "--timeout", "soon"],
            "--timeout",
        ),
        (
            vec![
                "check",
                "--vault",
                &vault,
                "--ca-cert",
                "/nonexistent/ca.pem",
            ],
            "cannot read CA certificate",
        ),
        (vec!["check"], "--vault"),
    ];
    for (args, needle) in cases {
        let run = h.run(env.clone(), &args).await;
        no_panic(&run);
        assert_eq!(
            run.code, 2,
            "{args:?} should be a usage error:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(needle),
            "{args:?}: expected {needle:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        h.emulator.requests().is_empty(),
        "usage errors must not reach the network"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_file_that_is_not_pem_is_a_usage_error() {
    let h = Harness::start(&common::standard_seed()).await;
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("ca.pem");
    std::fs::write(&bogus, "this is not a certificate").unwrap();
    let mut env = h.client_secret_env();
    env.retain(|(k, _)| k != "KEYROT_CA_CERT");
    env.push(("KEYROT_CA_CERT".into(), bogus.display().to_string()));
    let run = h.run(env, &["check", "--vault", &h.vault("gate")]).await;
    no_panic(&run);
    run.expect_code(2);
    assert!(run.stderr.contains("PEM"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_certificate_fails_at_once_naming_the_cause() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = h.client_secret_env();
    env.retain(|(k, _)| k != "KEYROT_CA_CERT");
    let started = Instant::now();
    let run = h.run(env, &["check", "--vault", &h.vault("gate")]).await;
    no_panic(&run);
    run.expect_code(3);
    assert!(
        run.stderr.contains("certificate not trusted"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("UnknownIssuer"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "TLS failures are not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_on_a_localhost_port_fails_at_once() {
    let h = Harness::start(&common::standard_seed()).await;
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check",
                "--vault",
                &format!("https://nowhere.vault.localhost:{port}"),
            ],
        )
        .await;
    no_panic(&run);
    run.expect_code(3);
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn unresolvable_host_fails_at_once() {
    let h = Harness::start(&common::standard_seed()).await;
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check",
                "--vault",
                "https://no-such-vault.invalid",
                "--timeout",
                "20s",
            ],
        )
        .await;
    no_panic(&run);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("cannot resolve host no-such-vault.invalid"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_is_a_runtime_error_that_lists_what_was_tried() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = h.client_secret_env();
    env.retain(|(k, _)| k != "AZURE_CLIENT_SECRET");
    env.push(("AZURE_CLIENT_SECRET".into(), "wrong-secret-value-77".into()));
    let run = h.run(env, &["check", "--vault", &h.vault("gate")]).await;
    no_panic(&run);
    run.expect_code(3);
    assert!(run.stderr.contains("AADSTS7000215"), "{}", run.stderr);
    assert!(
        run.stderr.contains("client secret for client keyrot-ci"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("wrong-secret-value-77"),
        "the secret must never be printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_permission_names_the_role_and_the_vault() {
    let h = Harness::start(&common::standard_seed()).await;
    let vault = h.vault("locked");
    let run = h
        .run(h.client_secret_env(), &["check", "--vault", &vault])
        .await;
    no_panic(&run);
    run.expect_code(3);
    assert!(
        run.stderr.contains("Key Vault Secrets User"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&vault), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_that_answers_html_or_truncated_json_is_a_runtime_error() {
    for body in [FaultBody::Html, FaultBody::Truncated] {
        let h = Harness::start(&common::standard_seed()).await;
        h.emulator.add_fault(FaultRule {
            body: Some(body),
            ..FaultRule::new("secrets.list")
        });
        let run = h
            .run(
                h.client_secret_env(),
                &["check", "--vault", &h.vault("gate")],
            )
            .await;
        no_panic(&run);
        run.expect_code(3);
        assert!(
            run.stderr.contains("not Key Vault JSON"),
            "{body:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_honouring_retry_after() {
    let h = Harness::start(&common::standard_seed()).await;
    h.emulator.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(1),
        count: Some(2),
        ..FaultRule::new("secrets.list")
    });
    let started = Instant::now();
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean")],
        )
        .await;
    run.expect_code(0);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two Retry-After: 1 waits"
    );
    let throttled = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_and_server_errors_are_retried() {
    let h = Harness::start(&common::standard_seed()).await;
    h.emulator.add_fault(FaultRule {
        drop: true,
        count: Some(1),
        ..FaultRule::new("secrets.list")
    });
    h.emulator.add_fault(FaultRule {
        status: Some(500),
        count: Some(1),
        ..FaultRule::new("token")
    });
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean")],
        )
        .await;
    run.expect_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_unavailability_gives_up_within_the_budget_naming_the_status() {
    let h = Harness::start(&common::standard_seed()).await;
    h.emulator.add_fault(FaultRule {
        status: Some(503),
        ..FaultRule::new("secrets.list")
    });
    let started = Instant::now();
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean"), "--timeout", "3s"],
        )
        .await;
    no_panic(&run);
    run.expect_code(3);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the budget bounds the retries"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_beyond_the_budget_is_not_waited_for() {
    let h = Harness::start(&common::standard_seed()).await;
    h.emulator.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(120),
        ..FaultRule::new("secrets.list")
    });
    let started = Instant::now();
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean"), "--timeout", "5s"],
        )
        .await;
    run.expect_code(3);
    assert!(run.stderr.contains("429"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
}
