//! The copies that live on Azure, end to end with the real binary against the emulator: an App
//! Service site whose Key Vault references cache the credential (refreshed once, then its
//! reference resolves to the new version), a Logic App workflow parameter (read, set, written
//! back whole: definition and state kept) and a secret in another vault (a new version with the
//! same expiry). A dry run writes nothing; a target keyrot cannot see stops the plan before
//! anything rotates; a failing ARM write is `propagation_failed` until the next run finishes
//! it; no value appears in any output, URL or request body keyrot did not mean it for.

mod common;

use common::{Harness, Run, CLIENT_ID, CLIENT_SECRET};
use keyrot_emulator::FaultRule;
use serde_json::{json, Value};

const OLD: &str = "ARMCOPY-old-value-7d1e";
const KEPT: &str = "ARMCOPY-kept-param-93af";
const OLD_COPY: &str = "ARMCOPY-old-copy-41b0";
const SUB: &str = "5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f";

fn definition() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "dbPassword": {"type": "SecureString", "defaultValue": ""},
            "otherKey": {"type": "SecureString"},
            "retries": {"type": "Int", "defaultValue": 3}
        },
        "triggers": {"manual": {"type": "Request", "kind": "Http"}},
        "actions": {},
        "outputs": {}
    })
}

fn seed(vault_url: &str) -> String {
    let parameters = json!({
        "dbPassword": {"value": OLD},
        "otherKey": {"value": KEPT},
        "retries": {"value": 5}
    });
    format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]

[[vault]]
name = "main"

[[vault.secret]]
name = "orders-db"
value = "{OLD}"
exp = "+3d"

[[vault]]
name = "drvault"

[[vault.secret]]
name = "orders-db"
value = "{OLD_COPY}"
exp = "+3d"

[[vault]]
name = "nosy"
access = {{ "{CLIENT_ID}" = ["secrets/list"] }}

[arm]
subscription_id = "{SUB}"

[[arm.site]]
resource_group = "rg"
name = "orders-api"
app_settings = {{ DB_PASSWORD = "@Microsoft.KeyVault(SecretUri={vault_url}/secrets/orders-db/)", PLAIN = "x" }}

[[arm.site]]
resource_group = "rg"
name = "unrelated-api"
app_settings = {{ OTHER = "@Microsoft.KeyVault(VaultName=main;SecretName=something-else)" }}

[[arm.logic_app]]
resource_group = "rg"
name = "orders-flow"
state = "Disabled"
definition = '{definition}'
parameters = '{parameters}'
"#,
        definition = definition(),
    )
}

fn site(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/{name}")
}

fn workflow(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Logic/workflows/{name}")
}

struct Fixture {
    harness: Harness,
    dir: tempfile::TempDir,
    config: String,
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::with(&site("orders-api"), &workflow("orders-flow"), "drvault").await
    }

    /// keyrot.toml with orders-db copied to `site`, `workflow` and vault `other`.
    async fn with(site: &str, workflow: &str, other: &str) -> Fixture {
        // The seed is written before the port is known: the site's reference names the vault
        // by its host (the emulated app, like App Service, goes by the vault's name).
        let harness = Harness::start(&seed("https://main.vault.localhost")).await;
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
name = "orders-db"
generator = "random"
content_type = "text/plain"

  [[credential.propagate]]
  to = "app-service-settings-refresh"
  site = "{site}"

  [[credential.propagate]]
  to = "logic-app-parameter"
  workflow = "{workflow}"
  parameter = "dbPassword"

  [[credential.propagate]]
  to = "key-vault-secret"
  vault = "{other}"
"#,
                vault = harness.vault("main"),
                other = harness.vault(other),
            ),
        )
        .unwrap();
        Fixture {
            config: config.display().to_string(),
            harness,
            dir,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.harness.client_secret_env();
        env.push(("KEYROT_ARM_URL".into(), self.harness.emulator.arm_url()));
        env
    }

    fn audit_log(&self) -> String {
        self.dir.path().join("audit.jsonl").display().to_string()
    }

    async fn run(&self, command: &str, extra: &[&str]) -> Run {
        let audit = self.audit_log();
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
            "--audit-log",
            audit.as_str(),
        ];
        args.extend_from_slice(extra);
        self.harness.run(self.env(), &args).await
    }

    fn versions(&self, vault: &str) -> Vec<keyrot_emulator::SecretVersionView> {
        self.harness.emulator.secret_versions(vault, "orders-db")
    }

    fn served(&self, vault: &str) -> String {
        let versions = self.versions(vault);
        let last = versions.last().expect("a version");
        last.value.as_ref().expect("value").expose().to_string()
    }

    fn logic_app(&self) -> Value {
        self.harness.emulator.logic_app("orders-flow")
    }

    /// Every copy holds the served value of main/orders-db.
    fn assert_copied(&self, when: &str) {
        let emu = &self.harness.emulator;
        let value = self.served("main");
        assert_ne!(value, OLD, "{when}: not rotated");
        let source = self.versions("main").last().cloned().unwrap();
        // The site holds the new version.
        let held = emu.site_reference_versions("orders-api");
        assert_eq!(
            held["DB_PASSWORD"].as_deref(),
            Some(source.version.as_str()),
            "{when}: {held:?}"
        );
        // The workflow's parameter, the others and the definition and state as they were.
        let app = self.logic_app();
        assert_eq!(
            app["properties"]["parameters"],
            json!({"dbPassword": {"value": value}, "otherKey": {"value": KEPT}, "retries": {"value": 5}}),
            "{when}"
        );
        assert_eq!(app["properties"]["definition"], definition(), "{when}");
        assert_eq!(app["properties"]["state"], "Disabled", "{when}");
        // The other vault serves the value, with the source's expiry and not-before.
        let copy = self.versions("drvault").last().cloned().unwrap();
        assert_eq!(copy.value.as_ref().unwrap().expose(), value, "{when}");
        assert_eq!(copy.exp, source.exp, "{when}");
        assert!(copy.exp.is_some());
        assert_eq!(copy.nbf, source.nbf, "{when}");
        assert_eq!(copy.content_type.as_deref(), Some("text/plain"), "{when}");
        assert!(copy.enabled);
    }

    /// No value in any output, nor in a URL; a request body holds a value only where it is
    /// written on purpose (the vaults' PUTs, the workflow's PUT).
    fn assert_no_leaks(&self, texts: &[&str]) {
        let mut values: Vec<String> = self
            .versions("main")
            .iter()
            .chain(&self.versions("drvault"))
            .filter_map(|v| v.value.as_ref().map(|v| v.expose().to_string()))
            .collect();
        values.extend([OLD, KEPT, OLD_COPY, CLIENT_SECRET].map(String::from));
        let audit = std::fs::read_to_string(self.audit_log()).unwrap_or_default();
        for value in &values {
            for (i, text) in texts.iter().chain([&audit.as_str()]).enumerate() {
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
                let on_purpose = request.method == "PUT"
                    && (request.route == "secrets.set" || request.route == "arm.logic.put");
                let token = request.route == "token";
                if !on_purpose && !token {
                    assert!(
                        !String::from_utf8_lossy(&request.body).contains(value.as_str()),
                        "a value in the body of {} {}",
                        request.method,
                        request.route
                    );
                }
            }
        }
    }
}

fn credential(report: &Value) -> &Value {
    common::credential(report, "orders-db")
}

fn copies_by_kind(c: &Value) -> Vec<(String, String)> {
    c["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["kind"].as_str().unwrap().to_owned(),
                x["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_refreshes_the_site_once_sets_the_parameter_and_copies_to_the_other_vault() {
    let f = Fixture::start().await;
    let copies_before = f.versions("drvault").len();
    let run = f.run("rotate", &[]).await;
    run.expect_code(0);
    let report = run.json();
    let c = credential(&report);
    assert_eq!(c["status"], "rotated", "{c:#}");
    assert_eq!(
        copies_by_kind(c),
        [
            ("app-service-settings-refresh".into(), "updated".into()),
            ("logic-app-parameter".into(), "updated".into()),
            ("key-vault-secret".into(), "updated".into()),
        ]
    );
    assert_eq!(
        c["copies"][0]["target"],
        "Key Vault references of App Service site orders-api"
    );
    // Exactly one refresh, of the site that references the credential.
    assert_eq!(f.harness.emulator.site_refreshes("orders-api"), 1);
    assert_eq!(f.harness.emulator.site_refreshes("unrelated-api"), 0);
    let refreshes = f
        .harness
        .emulator
        .requests()
        .iter()
        .filter(|r| r.route == "arm.web.refresh")
        .count();
    assert_eq!(refreshes, 1);
    // One PUT of the workflow, carrying the whole document.
    let put = f
        .harness
        .emulator
        .logic_app_last_put("orders-flow")
        .unwrap();
    assert_eq!(put["properties"]["definition"], definition());
    assert_eq!(put["properties"]["state"], "Disabled");
    // A new version in the other vault.
    assert_eq!(f.versions("drvault").len(), copies_before + 1);
    f.assert_copied("after the rotation");
    f.assert_no_leaks(&[&run.stdout, &run.stderr]);

    // A sync writes the same value again and refreshes once more.
    let sync = f
        .harness
        .run(
            f.env(),
            &["sync", "--config", &f.config, "--format", "markdown"],
        )
        .await;
    sync.expect_code(0);
    assert!(sync.stdout.contains("orders-db"), "{}", sync.stdout);
    assert_eq!(f.harness.emulator.site_refreshes("orders-api"), 2);
    f.assert_copied("after the sync");
    f.assert_no_leaks(&[&run.stdout, &run.stderr, &sync.stdout, &sync.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_reads_every_target_and_writes_nothing() {
    let f = Fixture::start().await;
    let run = f.run("rotate", &["--dry-run"]).await;
    run.expect_code(0);
    let report = run.json();
    let c = credential(&report);
    assert_eq!(c["status"], "planned", "{c:#}");
    assert!(
        copies_by_kind(c).iter().all(|(_, s)| s == "planned"),
        "{c:#}"
    );
    let requests = f.harness.emulator.requests();
    let writes: Vec<String> = requests
        .iter()
        .filter(|r| r.method != "GET" && r.route != "token")
        .map(|r| format!("{} {} ({})", r.method, r.path_and_query, r.route))
        .collect();
    assert!(writes.is_empty(), "a dry run wrote: {writes:#?}");
    // It did read each target.
    for route in ["arm.web.configreferences", "arm.logic.get"] {
        assert!(requests.iter().any(|r| r.route == route), "no {route}");
    }
    assert!(requests
        .iter()
        .any(|r| r.route == "secrets.get" && r.host.starts_with("drvault.")));
    assert_eq!(f.harness.emulator.site_refreshes("orders-api"), 0);
    assert!(f
        .harness
        .emulator
        .logic_app_last_put("orders-flow")
        .is_none());
    assert_eq!(f.versions("main").len(), 1);
    assert_eq!(f.versions("drvault").len(), 1);
    f.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_keyrot_cannot_see_stops_the_plan_before_anything_rotates() {
    for (site_id, workflow_id, other, expected) in [
        (
            site("unrelated-api"),
            workflow("orders-flow"),
            "drvault",
            &[
                "App Service site unrelated-api does not reference secret orders-db of vault main",
                "OTHER -> main/something-else",
            ][..],
        ),
        (
            site("no-such-api"),
            workflow("orders-flow"),
            "drvault",
            &["no-such-api", "ResourceNotFound"][..],
        ),
        (
            site("orders-api"),
            workflow("no-such-flow"),
            "drvault",
            &["no-such-flow", "ResourceNotFound"][..],
        ),
        (
            site("orders-api"),
            workflow("orders-flow"),
            "nosy",
            &[
                "secret orders-db of vault https://nosy.",
                "Key Vault Secrets Officer",
            ][..],
        ),
    ] {
        let f = Fixture::with(&site_id, &workflow_id, other).await;
        let run = f.run("rotate", &[]).await;
        run.expect_code(3);
        let report = run.json();
        let c = credential(&report);
        assert_eq!(c["status"], "failed", "{c:#}");
        assert_eq!(c["failed_during"], "planning", "{c:#}");
        let message = c["message"].as_str().unwrap();
        for word in expected {
            assert!(message.contains(word), "{message:?} lacks {word:?}");
        }
        assert_eq!(f.versions("main").len(), 1, "rotated despite {expected:?}");
        assert_eq!(f.harness.emulator.site_refreshes("orders-api"), 0);
        assert!(f
            .harness
            .emulator
            .logic_app_last_put("orders-flow")
            .is_none());
        f.assert_no_leaks(&[&run.stdout, &run.stderr]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parameter_that_is_not_a_string_stops_the_plan() {
    let f = Fixture::start().await;
    let text = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("parameter = \"dbPassword\"", "parameter = \"retries\"");
    std::fs::write(&f.config, text).unwrap();
    let run = f.run("rotate", &[]).await;
    run.expect_code(3);
    let c = credential(&run.json()).clone();
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("declares parameter \"retries\" as Int"),
        "{message}"
    );
    assert_eq!(f.versions("main").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_workflow_write_is_propagation_failed_until_the_next_run_finishes_it() {
    let f = Fixture::start().await;
    f.harness.emulator.add_fault(FaultRule {
        status: Some(500),
        ..FaultRule::new("arm.logic.put")
    });
    let run = f.run("rotate", &[]).await;
    run.expect_code(1);
    let report = run.json();
    let c = credential(&report);
    assert_eq!(c["status"], "propagation_failed", "{c:#}");
    assert_eq!(
        copies_by_kind(c),
        [
            ("app-service-settings-refresh".into(), "updated".into()),
            ("logic-app-parameter".into(), "failed".into()),
            ("key-vault-secret".into(), "updated".into()),
        ]
    );
    let message = c["copies"][1]["message"].as_str().unwrap();
    assert!(message.contains("orders-flow"), "{message}");
    // The workflow still holds the old value; the previous version stays enabled.
    assert_eq!(
        f.logic_app()["properties"]["parameters"]["dbPassword"]["value"],
        OLD
    );
    let versions = f.versions("main");
    assert_eq!(versions.len(), 2);
    assert!(versions[0].enabled);

    f.harness.emulator.clear_faults();
    let rerun = f.run("rotate", &[]).await;
    rerun.expect_code(0);
    let report = rerun.json();
    let c = credential(&report);
    assert!(
        copies_by_kind(c).iter().all(|(_, s)| s == "updated"),
        "{c:#}"
    );
    assert_eq!(
        f.versions("main").len(),
        2,
        "rotated again instead of finishing"
    );
    f.assert_copied("after the rerun");
    f.assert_no_leaks(&[&run.stdout, &run.stderr, &rerun.stdout, &rerun.stderr]);
}
