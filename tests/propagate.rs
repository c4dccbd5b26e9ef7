//! The whole loop end to end: `keyrot rotate` (and `keyrot sync`) with the real binary against
//! the emulator's Key Vault, Azure DevOps, GitHub and webhook sink. After a rotation every copy
//! holds the served value (the other variables of the group intact), each pipeline, release
//! and workflow is started exactly once however many credentials name it, and the runs saw the
//! new value; a copy that fails holds everything back until a later run finishes it; a kill
//! between any two steps is finished by the rerun with each run started exactly once; a dry
//! run sends reads only; no value appears in any output, URL or notification.

mod common;

use std::time::Duration;

use common::{Harness, Run, CLIENT_ID, CLIENT_SECRET};
use keyrot_emulator::{FaultRule, GithubSecretScope, HookKind};

const PAT: &str = "pat-loop-4a7e-planted";
const GH_TOKEN: &str = "ghp_loop_token_0001";
const OLD_BILLING: &str = "LOOP-billing-old-1a2b";
const OLD_DB: &str = "LOOP-db-old-3c4d";
const KEPT: &str = "LOOP-kept-secret-5e6f";

fn seed() -> String {
    format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]

[[vault]]
name = "loop"

[[vault.secret]]
name = "billing-secret"
value = "{OLD_BILLING}"
exp = "+3d"

[[vault.secret]]
name = "db-password"
value = "{OLD_DB}"
exp = "+3d"

[[devops.identity]]
display_name = "keyrot"
unique_name = "keyrot@contoso.com"

[[devops.pat]]
token = "{PAT}"
identity = "keyrot@contoso.com"

[[devops.organization]]
name = "contoso"

[[devops.organization.project]]
name = "payments"

[[devops.organization.project.variable_group]]
id = 7
name = "billing-prod"
variables = {{ BILLING_CLIENT_SECRET = {{ value = "{OLD_BILLING}", secret = true }}, DB_PASSWORD = {{ value = "{OLD_DB}", secret = true }}, OTHER_SECRET = {{ value = "{KEPT}", secret = true }}, REGION = {{ value = "westeurope" }} }}

[[devops.organization.project.pipeline]]
id = 12
name = "billing-deploy"
parameters = ["reason"]
variable_groups = ["billing-prod"]

[[devops.organization.project.release_definition]]
id = 3
name = "billing-cd"
variable_groups = ["billing-prod"]
artifacts = [{{ alias = "_billing", default_version = "20260101.1" }}]

[[github.token]]
token = "{GH_TOKEN}"
login = "octocat"

[[github.repository]]
full_name = "contoso/billing"
secrets = [{{ name = "BILLING_CLIENT_SECRET", value = "{OLD_BILLING}" }}]

[[github.repository.workflow]]
path = ".github/workflows/deploy.yml"
inputs = {{ reason = {{ required = true }} }}
"#
    )
}

struct Fixture {
    harness: Harness,
    _dir: tempfile::TempDir,
    config: String,
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::with_targets("billing-prod", "billing-deploy").await
    }

    /// The loop's keyrot.toml with billing-secret's group and pipeline named as given.
    async fn with_targets(group: &str, pipeline: &str) -> Fixture {
        let harness = Harness::start(&seed()).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keyrot.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[defaults]
vault = "{vault}"
rotate_within = "30d"
validity = "90d"
grace = "7d"

[[credential]]
name = "billing-secret"
generator = "random"

  [[credential.propagate]]
  to = "azure-devops-variable-group"
  organization = "contoso"
  project = "payments"
  group = "{group}"
  variable = "billing_client_secret"

  [[credential.propagate]]
  to = "github-secret"
  repository = "contoso/billing"
  secret = "BILLING_CLIENT_SECRET"

  [[credential.trigger]]
  to = "azure-devops-pipeline"
  organization = "contoso"
  project = "payments"
  pipeline = "{pipeline}"
  branch = "main"
  parameters = {{ reason = "credential-rotation" }}

  [[credential.trigger]]
  to = "azure-devops-release"
  organization = "https://dev.azure.com/contoso"
  project = "payments"
  definition = "billing-cd"

  [[credential.trigger]]
  to = "github-workflow"
  repository = "contoso/billing"
  workflow = "deploy.yml"
  ref = "main"
  inputs = {{ reason = "credential-rotation" }}

[[credential]]
name = "db-password"
generator = "random"

  [[credential.propagate]]
  to = "azure-devops-variable-group"
  organization = "contoso"
  project = "payments"
  group = "billing-prod"
  variable = "DB_PASSWORD"

  [[credential.trigger]]
  to = "azure-devops-pipeline"
  organization = "contoso"
  project = "payments"
  pipeline = "billing-deploy"
  branch = "main"
  parameters = {{ reason = "credential-rotation" }}

[[notify]]
to = "teams"
url_env = "KEYROT_TEAMS_WEBHOOK_URL"
events = ["expiring", "rotated", "failed"]
"#,
                vault = harness.vault("loop")
            ),
        )
        .unwrap();
        Fixture {
            config: config.display().to_string(),
            harness,
            _dir: dir,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let emu = &self.harness.emulator;
        let mut env = self.harness.client_secret_env();
        env.extend([
            ("KEYROT_AZURE_DEVOPS_URL".into(), emu.devops_url()),
            ("AZURE_DEVOPS_EXT_PAT".into(), PAT.into()),
            ("GITHUB_API_URL".into(), emu.github_api_url()),
            ("GITHUB_TOKEN".into(), GH_TOKEN.into()),
            (
                "KEYROT_TEAMS_WEBHOOK_URL".into(),
                emu.hook_url(HookKind::Teams, "ops"),
            ),
        ]);
        env
    }

    async fn run(&self, command: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            command,
            "--config",
            self.config.as_str(),
            "--lock-settle",
            "2s",
            "--lock-lease",
            "10s",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        self.harness.run(self.env(), &args).await
    }

    /// Starts `keyrot rotate` (as [`Fixture::run`] would) and SIGKILLs it once it pauses at
    /// `step`.
    async fn kill_at(&self, step: &str) {
        let mut command = common::keyrot_command(&self.env());
        command.args([
            "rotate",
            "--config",
            &self.config,
            "--lock-settle",
            "2s",
            "--lock-lease",
            "10s",
        ]);
        common::kill_when_paused(command, step).await;
    }

    fn served(&self, name: &str) -> String {
        let versions = self.harness.emulator.secret_versions("loop", name);
        let last = versions.last().expect("a version");
        last.value.as_ref().expect("value").expose().to_string()
    }

    fn versions(&self, name: &str) -> usize {
        self.harness.emulator.secret_versions("loop", name).len()
    }

    fn group_value(&self, variable: &str) -> String {
        let group = self
            .harness
            .emulator
            .devops_variable_group("contoso", "billing-prod")
            .expect("group");
        let (_, v) = group
            .variables
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(variable))
            .unwrap_or_else(|| panic!("{variable} missing from the group"));
        assert!(v.secret || variable == "REGION", "{variable} is not secret");
        v.value.expose().to_string()
    }

    async fn set_group_variable(&self, variable: &str, value: &str) {
        use keyrot::transport::{BudgetScope, KeyrotTransport, TransportConfig};
        let emu = &self.harness.emulator;
        let transport = KeyrotTransport::new(&TransportConfig {
            extra_roots: vec![("emulator CA".into(), emu.ca_pem().as_bytes().to_vec())],
            budget: Duration::from_secs(20),
            scope: BudgetScope::EachCall,
        })
        .unwrap();
        let org = keyrot::devops::Organization::parse("contoso", Some(&emu.devops_url())).unwrap();
        let credential =
            keyrot::auth::DevopsCredential::Pat(keyrot::model::SecretValue::new(PAT.into()));
        keyrot::devops::DevopsClient::new(org, credential, &transport)
            .set_variable(
                "payments",
                "billing-prod",
                variable,
                &keyrot::model::SecretValue::new(value.into()),
            )
            .await
            .expect("set by hand");
    }

    fn github_secret(&self) -> String {
        self.harness
            .emulator
            .github_secret(
                GithubSecretScope::Repository("contoso/billing"),
                "BILLING_CLIENT_SECRET",
            )
            .expect("secret")
            .value
            .expose()
            .to_string()
    }

    /// (pipeline runs, releases) of the organization.
    fn devops_runs(
        &self,
    ) -> (
        Vec<keyrot_emulator::DevopsRunView>,
        Vec<keyrot_emulator::DevopsRunView>,
    ) {
        self.harness
            .emulator
            .devops_runs("contoso")
            .into_iter()
            .partition(|r| !r.release)
    }

    fn workflow_runs(&self) -> Vec<keyrot_emulator::GithubRunView> {
        self.harness.emulator.github_runs("contoso/billing")
    }

    /// Every copy holds the served value; the group's other variables are intact; each run
    /// was started exactly once and saw the served values.
    fn assert_complete(&self, when: &str) {
        self.assert_complete_with(when, 1);
    }

    /// As [`assert_complete`], when the shared pipeline was started by `pipeline_runs` keyrot
    /// runs (each run that rotated a credential naming it starts it once): the last of them
    /// saw every new value.
    fn assert_complete_with(&self, when: &str, pipeline_runs: usize) {
        let (billing, db) = (self.served("billing-secret"), self.served("db-password"));
        assert_ne!(billing, OLD_BILLING, "{when}: billing-secret not rotated");
        assert_ne!(db, OLD_DB, "{when}: db-password not rotated");
        assert_eq!(self.group_value("BILLING_CLIENT_SECRET"), billing, "{when}");
        assert_eq!(self.group_value("DB_PASSWORD"), db, "{when}");
        assert_eq!(self.group_value("OTHER_SECRET"), KEPT, "{when}");
        assert_eq!(self.group_value("REGION"), "westeurope", "{when}");
        assert_eq!(self.github_secret(), billing, "{when}");
        let (pipelines, releases) = self.devops_runs();
        assert_eq!(
            pipelines.len(),
            pipeline_runs,
            "{when}: pipeline runs {pipelines:#?}"
        );
        assert_eq!(releases.len(), 1, "{when}: releases {releases:#?}");
        let pipelines = &pipelines[pipeline_runs - 1..];
        // Each run saw the new value of every credential that names it (the release is named
        // by billing-secret only: db-password's copy in the same group may still hold the old,
        // still enabled, value when a failure held db-password back).
        for run in pipelines.iter().chain(&releases) {
            let seen = &run.variable_groups["billing-prod"];
            let value = |name: &str| {
                seen.iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.expose().to_string())
            };
            assert_eq!(
                value("BILLING_CLIENT_SECRET").as_deref(),
                Some(billing.as_str()),
                "{when}"
            );
            if !run.release {
                assert_eq!(value("DB_PASSWORD").as_deref(), Some(db.as_str()), "{when}");
            }
        }
        assert_eq!(pipelines[0].parameters["reason"], "credential-rotation");
        assert_eq!(pipelines[0].branch.as_deref(), Some("refs/heads/main"));
        let workflows = self.workflow_runs();
        assert_eq!(workflows.len(), 1, "{when}: workflow runs");
        assert_eq!(
            workflows[0].secrets["BILLING_CLIENT_SECRET"].expose(),
            billing,
            "{when}: the workflow run saw another value"
        );
    }

    fn assert_no_leaks(&self, texts: &[&str]) {
        let mut values = vec![
            self.served("billing-secret"),
            self.served("db-password"),
            OLD_BILLING.to_string(),
            OLD_DB.to_string(),
            KEPT.to_string(),
            PAT.to_string(),
            GH_TOKEN.to_string(),
        ];
        values.push(CLIENT_SECRET.to_string());
        for value in &values {
            for (i, text) in texts.iter().enumerate() {
                assert!(
                    !text.contains(value.as_str()),
                    "a value leaked into output #{i}"
                );
            }
            for request in self.harness.emulator.requests() {
                assert!(
                    !request.path_and_query.contains(value.as_str()),
                    "a value in a URL"
                );
            }
            for delivery in self.harness.emulator.hook_deliveries() {
                assert!(
                    !delivery.body.contains(value.as_str()),
                    "a value in a notification"
                );
            }
        }
    }
}

fn credential<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    common::credential(report, name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_updates_every_copy_then_starts_each_run_once_and_notifies() {
    let f = Fixture::start().await;
    let run = f.run("rotate", &[]).await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["version"], 2);
    for name in ["billing-secret", "db-password"] {
        let c = credential(&report, name);
        assert_eq!(c["status"], "rotated", "{c:#}");
        for copy in c["copies"].as_array().unwrap() {
            assert_eq!(copy["status"], "updated", "{copy:#}");
        }
    }
    f.assert_complete("after the rotation");

    // The shared pipeline is one run, listed under both credentials.
    let billing_runs = credential(&report, "billing-secret")["runs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(billing_runs.len(), 3, "{billing_runs:#?}");
    let pipeline = billing_runs
        .iter()
        .find(|r| r["kind"] == "azure-devops-pipeline")
        .unwrap();
    assert_eq!(pipeline["status"], "started");
    assert_eq!(pipeline["credentials"].as_array().unwrap().len(), 2);
    let (pipelines, _) = f.devops_runs();
    assert_eq!(pipeline["id"], pipelines[0].id.to_string());
    assert!(
        pipeline["url"].as_str().unwrap().contains("buildId="),
        "{pipeline:#}"
    );
    let workflow = billing_runs
        .iter()
        .find(|r| r["kind"] == "github-workflow")
        .unwrap();
    assert_eq!(workflow["id"], f.workflow_runs()[0].id.to_string());

    // Grace now counts from the propagation: the tag holds a date, and the journal is done.
    let versions = f.harness.emulator.secret_versions("loop", "billing-secret");
    let grace = &versions.last().unwrap().tags["keyrot-grace-ends"];
    assert!(grace.ends_with('Z'), "grace end {grace}");
    let journal = f
        .harness
        .emulator
        .secret_versions("loop", "keyrot-journal-billing-secret");
    let entry: serde_json::Value =
        serde_json::from_str(journal.last().unwrap().value.as_ref().unwrap().expose()).unwrap();
    assert_eq!(entry["step"], "done");
    assert!(entry["propagated_at"].is_string());

    // One notification for the run, the card the Teams sink accepts, with the run links.
    let deliveries = f.harness.emulator.hook_deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert!(deliveries[0].body.contains("billing-secret"));
    assert!(deliveries[0]
        .body
        .contains(pipeline["url"].as_str().unwrap()));
    f.assert_no_leaks(&[&run.stdout, &run.stderr]);

    // Nothing is due any more: nothing written, nothing started, nothing sent.
    let again = f.run("rotate", &[]).await;
    again.expect_code(0);
    assert_eq!(
        credential(&again.json(), "billing-secret")["status"],
        "up_to_date"
    );
    f.assert_complete("after a second run");
    assert_eq!(f.harness.emulator.hook_deliveries().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_resolves_every_target_with_reads_only() {
    let f = Fixture::start().await;
    let run = f.run("rotate", &["--dry-run"]).await;
    run.expect_code(0);
    let c = credential(&run.json(), "billing-secret").clone();
    assert_eq!(c["status"], "planned");
    assert_eq!(c["copies"].as_array().unwrap().len(), 2, "{c:#}");
    assert!(c["copies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["status"] == "planned"));
    assert_eq!(c["runs"].as_array().unwrap().len(), 3, "{c:#}");
    let writes: Vec<String> = f
        .harness
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    // The token requests to the emulator's login are POSTs by the protocol; nothing else is.
    assert!(
        writes.iter().all(|w| w.contains("/oauth2/")),
        "a dry run wrote: {writes:#?}"
    );
    assert_eq!(f.served("billing-secret"), OLD_BILLING);
    assert!(f.devops_runs().0.is_empty() && f.workflow_runs().is_empty());
    assert!(f.harness.emulator.hook_deliveries().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_or_pipeline_keyrot_cannot_see_stops_the_run_before_anything_is_rotated() {
    for (group, pipeline, missing) in [
        ("no-such-group", "billing-deploy", "no-such-group"),
        ("billing-prod", "no-such-pipeline", "no-such-pipeline"),
    ] {
        let f = Fixture::with_targets(group, pipeline).await;
        let run = f.run("rotate", &[]).await;
        run.expect_code(3);
        let report = run.json();
        let c = credential(&report, "billing-secret");
        assert_eq!(c["status"], "failed");
        assert_eq!(c["failed_during"], "planning");
        assert!(c["message"].as_str().unwrap().contains(missing), "{c:#}");
        assert_eq!(f.versions("billing-secret"), 1, "rotated despite {missing}");
        // The other credential's targets are all there: it is rotated as usual.
        assert_eq!(credential(&report, "db-password")["status"], "rotated");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_copy_holds_back_runs_and_retirement_until_the_next_run_finishes_it() {
    let f = Fixture::start().await;
    f.harness.emulator.add_fault(FaultRule {
        status: Some(500),
        ..FaultRule::new("github.secrets.put")
    });
    let run = f.run("rotate", &[]).await;
    run.expect_code(1);
    let report = run.json();
    let billing = credential(&report, "billing-secret");
    assert_eq!(billing["status"], "propagation_failed", "{billing:#}");
    // Its runs (the shared pipeline included) are held back: nothing deploys a half-propagated
    // credential.
    assert!(f.devops_runs().0.is_empty(), "a pipeline ran");
    assert!(f.devops_runs().1.is_empty(), "a release was created");
    assert!(f.workflow_runs().is_empty(), "a workflow ran");
    let held = credential(&report, "db-password")["runs"][0].clone();
    assert_eq!(held["status"], "withheld", "{held:#}");
    // The previous value stays usable: grace has not started.
    let versions = f.harness.emulator.secret_versions("loop", "billing-secret");
    assert_eq!(versions.len(), 2);
    assert!(versions[0].enabled);
    assert_eq!(versions[1].tags["keyrot-grace-ends"], "after-propagation");
    // The failure is told.
    assert_eq!(f.harness.emulator.hook_deliveries().len(), 1);

    f.harness.emulator.clear_faults();
    let rerun = f.run("rotate", &[]).await;
    rerun.expect_code(0);
    assert_eq!(
        f.versions("billing-secret"),
        2,
        "rotated again instead of finishing"
    );
    f.assert_complete("after the rerun");
    f.assert_no_leaks(&[&run.stdout, &run.stderr, &rerun.stdout, &rerun.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_pushes_the_served_value_to_a_copy_that_drifted_without_rotating() {
    let f = Fixture::start().await;
    f.run("rotate", &[]).await.expect_code(0);
    // Someone overwrote the group's copy by hand.
    f.set_group_variable("BILLING_CLIENT_SECRET", "LOOP-drifted-by-hand")
        .await;
    assert_eq!(
        f.group_value("BILLING_CLIENT_SECRET"),
        "LOOP-drifted-by-hand"
    );
    let sync = f.run("sync", &["--name", "billing-secret"]).await;
    sync.expect_code(0);
    let c = credential(&sync.json(), "billing-secret").clone();
    assert_eq!(c["status"], "synced", "{c:#}");
    assert!(
        c["runs"].as_array().unwrap().is_empty(),
        "sync started runs without --trigger"
    );
    assert_eq!(f.versions("billing-secret"), 2);
    f.assert_complete("after the sync");
    // With --trigger, its runs start (once more each).
    let sync = f
        .run("sync", &["--name", "billing-secret", "--trigger"])
        .await;
    sync.expect_code(0);
    assert_eq!(f.workflow_runs().len(), 2);
    assert_eq!(f.devops_runs().0.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_notify_sends_what_expires_soonest_first_and_what_keyrot_will_do() {
    let f = Fixture::start().await;
    let vault = f.harness.vault("loop");
    let mut args = vec![
        "check",
        "--vault",
        vault.as_str(),
        "--config",
        f.config.as_str(),
    ];
    args.push("--notify");
    let run = f.harness.run(f.env(), &args).await;
    // Both secrets expire within the default fail window: the gate fails, and says so.
    run.expect_code(1);
    let deliveries = f.harness.emulator.hook_deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}\n{}", run.stderr);
    let body = &deliveries[0].body;
    for name in ["billing-secret", "db-password"] {
        assert!(body.contains(name), "{name} missing from {body}");
    }
    assert!(
        body.to_lowercase().contains("next run"),
        "no planned action in {body}"
    );
    f.assert_no_leaks(&[&run.stdout, &run.stderr]);
    // Without --notify nothing is sent.
    let quiet = f.harness.run(f.env(), &args[..args.len() - 1]).await;
    quiet.expect_code(1);
    assert_eq!(f.harness.emulator.hook_deliveries().len(), 1);
}

/// A fault as the tests name it, on `route`: 429 twice (with `Retry-After: 1`), 500 for good,
/// the answer dropped after the request was carried out, the request dropped unanswered, or
/// a 6 s hang (over the tests' 3 s `--timeout`).
fn fault_rule(route: &str, fault: &str) -> FaultRule {
    match fault {
        "429" => FaultRule {
            status: Some(429),
            retry_after: Some(1),
            count: Some(2),
            ..FaultRule::new(route)
        },
        "500" => FaultRule {
            status: Some(500),
            ..FaultRule::new(route)
        },
        "dropped answer" => FaultRule {
            drop_after: true,
            count: Some(1),
            ..FaultRule::new(route)
        },
        "dropped request" => FaultRule {
            drop: true,
            count: Some(1),
            ..FaultRule::new(route)
        },
        "hang" => FaultRule {
            latency_ms: Some(6_000),
            count: Some(1),
            ..FaultRule::new(route)
        },
        other => panic!("{other}"),
    }
}

/// One fault on one route of the loop: the run completes or stops cleanly (exit 0 or 1, never
/// a panic or a hang), and a rerun without the fault completes with every copy holding the
/// served value and each run started exactly once (a start whose answer was lost is found,
/// not started again).
async fn fault_on(route: &str, fault: &str) {
    let f = Fixture::start().await;
    f.harness.emulator.add_fault(fault_rule(route, fault));
    let run = f.run("rotate", &["--timeout", "3s"]).await;
    let context = format!(
        "{route} {fault}: exit {}\n{}\n{}",
        run.code, run.stdout, run.stderr
    );
    // A read the plan needs fails the credential before anything changes (exit 3); a write
    // after the commit leaves it propagation_failed (exit 1).
    assert!([0, 1, 3].contains(&run.code), "{context}");
    let report = run.json();
    let mut rotated_first = 0;
    for name in ["billing-secret", "db-password"] {
        let c = credential(&report, name);
        match c["status"].as_str().unwrap() {
            "rotated" => rotated_first += 1,
            "propagation_failed" => {}
            "failed" => assert_eq!(c["failed_during"], "planning", "{context}"),
            _ => panic!("{context}"),
        }
    }
    // One credential stopped at its plan while the other rotated: each keyrot run that rotates
    // a credential naming the shared pipeline starts it, so it runs twice.
    let planned_out = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["failed_during"] == "planning");
    let pipeline_runs = if planned_out && rotated_first > 0 {
        2
    } else {
        1
    };
    f.harness.emulator.clear_faults();
    // A hung request may still be on its way; the rerun waits out the first run's lease too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rerun = f.run("rotate", &["--wait-lock", "30s"]).await;
    rerun.expect_code(0);
    assert_eq!(f.versions("billing-secret"), 2, "{context}");
    assert_eq!(f.versions("db-password"), 2, "{context}");
    f.assert_complete_with(&context, pipeline_runs);
    f.assert_no_leaks(&[&run.stdout, &run.stderr, &rerun.stdout, &rerun.stderr]);
}

macro_rules! fault_tests {
    ($($test:ident: $route:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                for fault in ["429", "500", "dropped answer", "dropped request", "hang"] {
                    fault_on($route, fault).await;
                }
            }
        )*
    };
}

fault_tests! {
    faults_writing_the_variable_group_end_cleanly_and_the_rerun_completes: "devops.variablegroups.put";
    faults_writing_the_github_secret_end_cleanly_and_the_rerun_completes: "github.secrets.put";
    faults_starting_the_pipeline_never_start_it_twice: "devops.runs.post";
    faults_creating_the_release_never_create_it_twice: "devops.releases.post";
    faults_dispatching_the_workflow_never_start_it_twice: "github.workflows.dispatch";
    faults_finding_the_group_end_cleanly_and_the_rerun_completes: "devops.variablegroups.list";
    faults_reading_the_group_end_cleanly_and_the_rerun_completes: "devops.variablegroups.get";
    faults_reading_the_public_key_end_cleanly_and_the_rerun_completes: "github.publickey.get";
    faults_verifying_the_github_secret_end_cleanly_and_the_rerun_completes: "github.secrets.get";
    faults_finding_the_pipeline_end_cleanly_and_the_rerun_completes: "devops.pipelines.list";
}

/// Kills a rotation at `step` and reruns it until the dead run's lock lease is over.
async fn crash_at(step: &str) {
    let f = Fixture::start().await;
    f.kill_at(step).await;
    let rerun = f.run("rotate", &["--wait-lock", "40s"]).await;
    rerun.expect_code(0);
    assert_eq!(f.versions("billing-secret"), 2, "{step}: rotated twice");
    assert_eq!(f.versions("db-password"), 2, "{step}: rotated twice");
    f.assert_complete(&format!("after a kill at {step} and a rerun"));
    f.assert_no_leaks(&[&rerun.stdout, &rerun.stderr]);
    // And the run after that has nothing left to do.
    tokio::time::sleep(Duration::from_millis(10)).await;
    f.run("rotate", &[]).await.expect_code(0);
    f.assert_complete(&format!("after a third run ({step})"));
}

/// The lookups that adopt a run an interrupted run started, under each fault: the run whose
/// lookup fails ends cleanly (exit 0 or 1, its marks kept), and the next one adopts every run,
/// so each is started exactly once.
async fn adoption_under(route: &str) {
    for fault in ["429", "500", "dropped request", "hang"] {
        let f = Fixture::start().await;
        f.kill_at("triggered").await;
        f.harness.emulator.add_fault(fault_rule(route, fault));
        let run = f
            .run("rotate", &["--wait-lock", "40s", "--timeout", "3s"])
            .await;
        let context = format!(
            "{route} {fault}: exit {}\n{}\n{}",
            run.code, run.stdout, run.stderr
        );
        assert!([0, 1].contains(&run.code), "{context}");
        f.harness.emulator.clear_faults();
        tokio::time::sleep(Duration::from_secs(3)).await;
        f.run("rotate", &["--wait-lock", "30s"])
            .await
            .expect_code(0);
        f.assert_complete(&context);
    }
}

macro_rules! adoption_tests {
    ($($test:ident: $route:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                adoption_under($route).await;
            }
        )*
    };
}

adoption_tests! {
    adopting_under_faults_asking_who_keyrot_is: "devops.connectiondata";
    adopting_under_faults_listing_pipeline_runs: "devops.builds.list";
    adopting_under_faults_listing_releases: "devops.releases.list";
    adopting_under_faults_asking_the_github_actor: "github.user.get";
    adopting_under_faults_listing_workflow_runs: "github.runs.list";
}

/// Kills a rotation just before or just after it notifies: the journal's marks make the
/// rerun notify (once when the first never sent; once more when it sent but was killed before
/// clearing the marks), and nothing is rotated again.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_around_its_notification_is_followed_by_one_that_notifies() {
    for (step, deliveries) in [("notifying", 1), ("notified", 2)] {
        let f = Fixture::start().await;
        f.kill_at(step).await;
        let sent_before = f.harness.emulator.hook_deliveries().len();
        assert_eq!(sent_before, deliveries - 1, "{step}");
        let rerun = f.run("rotate", &["--wait-lock", "40s"]).await;
        rerun.expect_code(0);
        let report = rerun.json();
        for name in ["billing-secret", "db-password"] {
            let c = credential(&report, name);
            assert_eq!(c["status"], "rotated", "{step}: {c:#}");
            assert!(c["recovered"].is_string(), "{step}: {c:#}");
        }
        assert_eq!(f.versions("billing-secret"), 2, "{step}");
        let sent = f.harness.emulator.hook_deliveries();
        assert_eq!(sent.len(), deliveries, "{step}: {sent:#?}");
        let last = &sent.last().unwrap().body;
        assert!(
            last.contains("billing-secret") && last.contains("db-password"),
            "{step}"
        );
        f.assert_complete(step);
        // The marks are cleared: a third run has nothing to tell.
        f.run("rotate", &[]).await.expect_code(0);
        assert_eq!(
            f.harness.emulator.hook_deliveries().len(),
            deliveries,
            "{step}"
        );
    }
}

macro_rules! crash_tests {
    ($($test:ident: $step:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                crash_at($step).await;
            }
        )*
    };
}

crash_tests! {
    killed_after_verifying_is_undone_then_rotated_and_propagated: "verified";
    killed_after_committing_is_propagated_by_the_rerun: "committed";
    killed_after_the_copies_before_journaling_is_finished_by_the_rerun: "copied";
    killed_after_journaling_the_runs_starts_each_once: "propagated";
    killed_after_starting_the_runs_adopts_them_instead_of_starting_twice: "triggered";
}
