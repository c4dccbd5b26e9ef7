//! keyrot's GitHub client (`src/github/`, octocrab over keyrot's transport) against the
//! emulated GitHub: the emulator decrypts exactly the planted value; 429, 500, secondary rate
//! limits, dropped connections and hangs end cleanly; a workflow's own token is refused with
//! the permission it lacks; planted values appear in no URL, error or log line.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use keyrot::auth::github::GithubAuth;
use keyrot::auth::AuthEnv;
use keyrot::github::{GithubClient, GithubErrorKind, OrgVisibility, SecretTarget};
use keyrot::model::SecretValue;
use keyrot::transport::{BudgetScope, KeyrotTransport, TransportConfig};
use keyrot_emulator::{Emulator, EmulatorConfig, FaultRule, GithubSecretScope, Seed};

const PAT: &str = "ghp_keyrot_test_pat_0001";
const WORKFLOW_TOKEN: &str = "ghs_workflow_token_0002";
const PLANTED: &str = "planted-gh-value-5d2f9e71";

fn seed() -> Seed {
    Seed::from_toml_str(&format!(
        r#"
[[github.token]]
token = "{PAT}"
login = "octocat"

[[github.token]]
token = "{WORKFLOW_TOKEN}"
login = "github-actions[bot]"
kind = "workflow"

[[github.organization]]
login = "contoso"

[[github.repository]]
full_name = "contoso/billing"
id = 42
secrets = [{{ name = "BILLING_CLIENT_SECRET", value = "old-value" }}]

[[github.repository.environment]]
name = "production"

[[github.repository.workflow]]
path = ".github/workflows/deploy.yml"
environment = "production"
inputs = {{ reason = {{ required = true }} }}

[[github.repository]]
full_name = "contoso/legacy"
ghes = true

[[github.repository.workflow]]
path = ".github/workflows/deploy.yml"

[[github.app]]
id = 1001
slug = "keyrot-rotator"
installation = [{{ id = 2002, account = "contoso" }}]
"#
    ))
    .expect("seed")
}

struct Setup {
    emu: Emulator,
}

impl Setup {
    async fn start() -> Setup {
        Setup {
            emu: Emulator::start(EmulatorConfig::new(seed()))
                .await
                .expect("emulator"),
        }
    }

    fn client(&self, token: &str, budget: Duration) -> GithubClient {
        self.client_with(&[("GITHUB_TOKEN", token)], budget)
    }

    fn client_with(&self, env: &[(&str, &str)], budget: Duration) -> GithubClient {
        self.try_client_with(env, budget).expect("client")
    }

    fn try_client_with(
        &self,
        env: &[(&str, &str)],
        budget: Duration,
    ) -> Result<GithubClient, keyrot::github::GithubError> {
        let transport = KeyrotTransport::new(&TransportConfig {
            extra_roots: vec![(
                self.emu.ca_path().display().to_string(),
                self.emu.ca_pem().as_bytes().to_vec(),
            )],
            budget,
            scope: BudgetScope::EachCall,
        })
        .expect("transport");
        let api = self.emu.github_api_url();
        let pairs = env
            .iter()
            .copied()
            .chain([("GITHUB_API_URL", api.as_str())]);
        let auth = GithubAuth::from_env(&AuthEnv::from_pairs(pairs)).expect("auth");
        GithubClient::new(&auth, &transport)
    }

    fn stored(&self, scope: GithubSecretScope<'_>, name: &str) -> Option<String> {
        self.emu
            .github_secret(scope, name)
            .map(|s| s.value.expose().to_owned())
    }

    /// The repository's seeded secret as the emulator holds it.
    fn stored_billing(&self) -> Option<String> {
        self.stored(
            GithubSecretScope::Repository("contoso/billing"),
            "BILLING_CLIENT_SECRET",
        )
    }

    /// No request the emulator saw carries the planted value in its URL or body.
    fn assert_value_never_sent_in_clear(&self) {
        let requests = self.emu.requests();
        assert!(!requests.is_empty());
        for r in requests {
            assert!(!r.path_and_query.contains(PLANTED), "{r:?}");
            assert!(!String::from_utf8_lossy(&r.body).contains(PLANTED), "{r:?}");
            assert!(r.host.starts_with("api.github.localhost"), "{r:?}");
        }
    }
}

fn repo() -> SecretTarget {
    SecretTarget::Repository("contoso/billing".into())
}

/// The planted value into the repository's seeded secret.
async fn write_planted(
    gh: &GithubClient,
) -> Result<keyrot::github::SecretWrite, keyrot::github::GithubError> {
    gh.set_secret(
        &repo(),
        "BILLING_CLIENT_SECRET",
        &SecretValue::new(PLANTED.into()),
    )
    .await
}

#[tokio::test]
async fn repository_environment_and_organization_secrets_hold_the_planted_value() {
    let s = Setup::start().await;
    let gh = s.client(PAT, Duration::from_secs(20));
    let value = SecretValue::new(PLANTED.into());

    let write = gh
        .set_secret(&repo(), "BILLING_CLIENT_SECRET", &value)
        .await
        .expect("repository write");
    assert!(!write.created, "the seeded secret is updated (204)");
    assert_eq!(s.stored_billing().as_deref(), Some(PLANTED));
    let meta = gh
        .verify_secret(&repo(), "BILLING_CLIENT_SECRET", &write)
        .await
        .expect("verified");
    assert_eq!(meta.name, "BILLING_CLIENT_SECRET");

    let env = SecretTarget::Environment {
        repository: "contoso/billing".into(),
        environment: "production".into(),
    };
    let write = gh
        .set_secret(&env, "DB_PASSWORD", &value)
        .await
        .expect("env write");
    assert!(write.created, "a new secret is created (201)");
    gh.verify_secret(&env, "DB_PASSWORD", &write)
        .await
        .expect("env verified");
    let scope = GithubSecretScope::Environment {
        repository: "contoso/billing",
        environment: "production",
    };
    assert_eq!(s.stored(scope, "DB_PASSWORD").as_deref(), Some(PLANTED));

    let org = SecretTarget::Organization {
        organization: "contoso".into(),
        visibility: OrgVisibility::Selected,
        selected_repository_ids: vec![42],
    };
    let write = gh
        .set_secret(&org, "SHARED_KEY", &value)
        .await
        .expect("org write");
    assert!(write.created);
    gh.verify_secret(&org, "SHARED_KEY", &write)
        .await
        .expect("org verified");
    let held = s
        .emu
        .github_secret(GithubSecretScope::Organization("contoso"), "SHARED_KEY")
        .unwrap();
    assert_eq!(held.value.expose(), PLANTED);
    assert_eq!(held.visibility.as_deref(), Some("selected"));
    assert_eq!(held.selected_repository_ids, vec![42]);

    s.assert_value_never_sent_in_clear();
    // The token went to the API only, as keyrot's transport binds it.
    assert!(s
        .emu
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {PAT}"))));
}

#[tokio::test]
async fn verify_fails_when_the_secret_is_older_than_the_write() {
    let s = Setup::start().await;
    let gh = s.client(PAT, Duration::from_secs(20));
    let write = write_planted(&gh).await.unwrap();
    let later = keyrot::github::SecretWrite {
        answered_at: write.answered_at + time::Duration::minutes(5),
        ..write
    };
    let err = gh
        .verify_secret(&repo(), "BILLING_CLIENT_SECRET", &later)
        .await
        .unwrap_err();
    assert_eq!(err.kind, GithubErrorKind::Runtime);
    assert!(err.message.contains("did not take"), "{err}");
    let err = gh.secret(&repo(), "NOT_THERE").await.unwrap_err();
    assert_eq!(err.kind, GithubErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn transient_failures_are_retried_and_the_write_lands() {
    for (route, fault) in [
        (
            "github.publickey.get",
            FaultRule {
                status: Some(429),
                retry_after: Some(1),
                count: Some(1),
                ..FaultRule::new("")
            },
        ),
        (
            "github.secrets.put",
            FaultRule {
                status: Some(500),
                count: Some(1),
                ..FaultRule::new("")
            },
        ),
        (
            "github.secrets.put",
            FaultRule {
                status: Some(403),
                retry_after: Some(1),
                count: Some(1),
                ..FaultRule::new("")
            },
        ),
        (
            "github.publickey.get",
            FaultRule {
                drop: true,
                count: Some(1),
                ..FaultRule::new("")
            },
        ),
    ] {
        let s = Setup::start().await;
        s.emu.add_fault(FaultRule {
            route: route.into(),
            ..fault.clone()
        });
        let gh = s.client(PAT, Duration::from_secs(20));
        write_planted(&gh)
            .await
            .unwrap_or_else(|e| panic!("{route} {fault:?}: {e}"));
        assert_eq!(
            s.stored_billing().as_deref(),
            Some(PLANTED),
            "{route} {fault:?}"
        );
        let tries = s.emu.requests().iter().filter(|r| r.route == route).count();
        assert_eq!(tries, 2, "{route} {fault:?}: one failure, one retry");
    }
}

#[tokio::test]
async fn lasting_failures_and_hangs_end_cleanly_within_the_budget() {
    for fault in [
        FaultRule {
            status: Some(500),
            ..FaultRule::new("github.secrets.put")
        },
        FaultRule {
            status: Some(403),
            retry_after: Some(60),
            ..FaultRule::new("github.secrets.put")
        },
        FaultRule {
            drop: true,
            ..FaultRule::new("github.publickey.get")
        },
        FaultRule {
            latency_ms: Some(30_000),
            ..FaultRule::new("github.publickey.get")
        },
    ] {
        let s = Setup::start().await;
        s.emu.add_fault(fault.clone());
        let gh = s.client(PAT, Duration::from_secs(2));
        let started = Instant::now();
        let err = write_planted(&gh).await.expect_err("must fail");
        // Generous: the machine may be loaded; a hang would take 30 s.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{fault:?} took {:?}",
            started.elapsed()
        );
        assert_eq!(err.kind, GithubErrorKind::Runtime, "{fault:?}: {err}");
        assert!(!err.message.contains(PLANTED));
        assert_eq!(
            s.stored_billing().as_deref(),
            Some("old-value"),
            "{fault:?}"
        );
        if fault.retry_after == Some(60) {
            assert!(err.message.contains("secondary rate limit"), "{err}");
        }
    }
}

#[tokio::test]
async fn a_workflow_token_is_refused_naming_the_permission() {
    let s = Setup::start().await;
    let gh = s.client(WORKFLOW_TOKEN, Duration::from_secs(10));
    let err = write_planted(&gh).await.unwrap_err();
    assert_eq!(err.kind, GithubErrorKind::Auth);
    assert!(
        err.message
            .contains("Resource not accessible by integration"),
        "{err}"
    );
    assert!(
        err.message.contains("Secrets: write") && err.message.contains("GITHUB_TOKEN"),
        "{err}"
    );
    let env = SecretTarget::Environment {
        repository: "contoso/billing".into(),
        environment: "production".into(),
    };
    let err = gh
        .set_secret(&env, "X", &SecretValue::new(PLANTED.into()))
        .await
        .unwrap_err();
    assert!(err.message.contains("Environments: write"), "{err}");

    let gh = s.client("ghp_not_known", Duration::from_secs(10));
    let err = gh.public_key(&repo()).await.unwrap_err();
    assert_eq!(err.kind, GithubErrorKind::Auth);
    assert!(err.message.contains("Bad credentials"), "{err}");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn planted_values_reach_no_log_line_or_error() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not scoped: a scoped subscriber misses events while other tests run on other
    // threads (tracing's interest cache is process-wide). Every test here plants the same
    // value, so their lines are searched too.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let s = Setup::start().await;
    s.emu.add_fault(FaultRule {
        status: Some(500),
        count: Some(1),
        ..FaultRule::new("github.secrets.put")
    });
    let gh = s.client(PAT, Duration::from_secs(20));
    let value = SecretValue::new(PLANTED.into());
    gh.set_secret(&repo(), "BILLING_CLIENT_SECRET", &value)
        .await
        .expect("write");
    let mut errors = Vec::new();
    for target in [
        SecretTarget::Repository("contoso/missing".into()),
        SecretTarget::Organization {
            organization: "nobody".into(),
            visibility: OrgVisibility::All,
            selected_repository_ids: vec![],
        },
    ] {
        errors.push(
            gh.set_secret(&target, "BILLING_CLIENT_SECRET", &value)
                .await
                .unwrap_err()
                .to_string(),
        );
    }
    errors.push(format!(
        "{:?}",
        gh.set_secret(&repo(), "GITHUB_BAD", &value)
            .await
            .unwrap_err()
    ));

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(log.contains("retrying"), "the retry was logged: {log}");
    assert!(!log.contains(PLANTED), "{log}");
    assert!(!log.contains(PAT), "the token is not logged either");
    for e in &errors {
        assert!(!e.contains(PLANTED), "{e}");
    }
    assert!(
        errors[0].contains("does not exist or is not visible"),
        "{}",
        errors[0]
    );
    s.assert_value_never_sent_in_clear();
}

fn inputs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn a_dispatched_run_sees_the_new_value_and_can_be_found_again() {
    let s = Setup::start().await;
    let gh = s.client(PAT, Duration::from_secs(20));
    let before = time::OffsetDateTime::now_utc();
    let env = SecretTarget::Environment {
        repository: "contoso/billing".into(),
        environment: "production".into(),
    };
    gh.set_secret(
        &env,
        "BILLING_CLIENT_SECRET",
        &SecretValue::new(PLANTED.into()),
    )
    .await
    .unwrap();
    let dispatched = gh
        .dispatch_workflow(
            "contoso/billing",
            "deploy.yml",
            "main",
            &inputs(&[("reason", "credential-rotation")]),
        )
        .await
        .expect("dispatch");
    let run = dispatched.run.expect("run details");
    assert!(run
        .html_url
        .starts_with("https://github.localhost/contoso/billing/actions/runs/"));
    let runs = s.emu.github_runs("contoso/billing");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, run.id);
    assert_eq!(runs[0].secrets["BILLING_CLIENT_SECRET"].expose(), PLANTED);
    assert_eq!(runs[0].inputs["reason"], "credential-rotation");

    // After a crash: the run is found by workflow, actor and time instead of dispatching again.
    let actor = gh.actor_login().await.unwrap();
    assert_eq!(actor, "octocat");
    let found = gh
        .runs_since("contoso/billing", "deploy.yml", &actor, before)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [run.id]);
    assert_eq!(found[0].html_url, run.html_url);
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    assert!(gh
        .runs_since("contoso/billing", "deploy.yml", &actor, later)
        .await
        .unwrap()
        .is_empty());
    assert!(gh
        .runs_since("contoso/billing", "deploy.yml", "someone-else", before)
        .await
        .unwrap()
        .is_empty());

    // Inputs the workflow does not declare: a clear error naming the workflow.
    let err = gh
        .dispatch_workflow(
            "contoso/billing",
            "deploy.yml",
            "main",
            &inputs(&[("reason", "r"), ("extra", "x")]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, GithubErrorKind::Config);
    assert!(
        err.message.contains("deploy.yml of contoso/billing")
            && err.message.contains("Unexpected inputs provided"),
        "{err}"
    );
    assert_eq!(s.emu.github_runs("contoso/billing").len(), 1);
}

#[tokio::test]
async fn older_enterprise_servers_get_the_plain_dispatch() {
    let s = Setup::start().await;
    let gh = s.client(PAT, Duration::from_secs(20));
    let dispatched = gh
        .dispatch_workflow("contoso/legacy", "deploy.yml", "main", &BTreeMap::new())
        .await
        .expect("dispatch");
    assert_eq!(
        dispatched.run, None,
        "no run id from a server without return_run_details"
    );
    assert_eq!(
        s.emu.github_runs("contoso/legacy").len(),
        1,
        "dispatched once"
    );
    let statuses: Vec<u16> = s.emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 204]);
}

#[tokio::test]
async fn issues_are_opened() {
    let s = Setup::start().await;
    let gh = s.client(WORKFLOW_TOKEN, Duration::from_secs(20));
    let issue = gh
        .create_issue(
            "contoso/billing",
            "keyrot: rotation failed",
            "details",
            &["keyrot".to_string()],
        )
        .await
        .expect("issue");
    assert_eq!(issue.number, 1);
    assert_eq!(
        issue.html_url,
        "https://github.localhost/contoso/billing/issues/1"
    );
    let seen = s.emu.github_issues("contoso/billing");
    assert_eq!(
        (seen[0].title.as_str(), seen[0].labels.as_slice()),
        ("keyrot: rotation failed", ["keyrot".to_string()].as_slice())
    );
    assert_eq!(gh.actor_login().await.unwrap(), "github-actions[bot]");
}

#[tokio::test]
async fn a_github_app_writes_through_its_installation_token() {
    let s = Setup::start().await;
    let pem = s.emu.github_app_private_key(1001).expect("app key");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("app.pem");
    std::fs::write(&key_file, pem.expose()).unwrap();
    let key_path = key_file.display().to_string();
    for env in [
        vec![
            ("KEYROT_GITHUB_APP_ID", "1001"),
            ("KEYROT_GITHUB_APP_PRIVATE_KEY", pem.expose()),
        ],
        vec![
            ("KEYROT_GITHUB_APP_ID", "1001"),
            ("KEYROT_GITHUB_APP_PRIVATE_KEY_FILE", key_path.as_str()),
            ("GITHUB_TOKEN", WORKFLOW_TOKEN),
        ],
    ] {
        let gh = s.client_with(&env, Duration::from_secs(20));
        write_planted(&gh).await.expect("write as the App");
        let org = SecretTarget::Organization {
            organization: "contoso".into(),
            visibility: OrgVisibility::All,
            selected_repository_ids: vec![],
        };
        gh.set_secret(&org, "ORG_KEY", &SecretValue::new(PLANTED.into()))
            .await
            .expect("org write as the App");
        assert_eq!(gh.actor_login().await.unwrap(), "keyrot-rotator[bot]");
        gh.dispatch_workflow(
            "contoso/billing",
            "deploy.yml",
            "main",
            &inputs(&[("reason", "r")]),
        )
        .await
        .expect("dispatch as the App");
    }
    assert_eq!(s.stored_billing().as_deref(), Some(PLANTED));
    assert!(s
        .emu
        .github_runs("contoso/billing")
        .iter()
        .all(|r| r.actor == "keyrot-rotator[bot]"));
    let routes: Vec<String> = s.emu.requests().iter().map(|r| r.route.clone()).collect();
    assert!(
        routes.contains(&"github.app.token".to_string())
            && routes.contains(&"github.installation.get".to_string()),
        "{routes:?}"
    );
    // One installation lookup per repository or organization and client, not per call.
    assert_eq!(
        routes
            .iter()
            .filter(|r| *r == "github.installation.get")
            .count(),
        4,
        "{routes:?}"
    );

    let err = s
        .try_client_with(
            &[
                ("KEYROT_GITHUB_APP_ID", "1001"),
                ("KEYROT_GITHUB_APP_PRIVATE_KEY", "not-a-key-planted"),
            ],
            Duration::from_secs(5),
        )
        .unwrap_err();
    assert_eq!(err.kind, GithubErrorKind::Config);
    assert!(
        err.message.contains("RSA private key") && !err.message.contains("not-a-key-planted"),
        "{err}"
    );
}
