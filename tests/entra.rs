//! `keyrot check --app`: Entra application credentials through Microsoft Graph, end to end:
//! the real binary, over HTTPS, with a Graph token from the same credential chain, against
//! the emulator's Graph.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, PLANTED};
use keyrot_emulator::FaultRule;
use serde_json::Value;

/// Signs in with `Application.Read.All` (least privilege for a check).
const CHECKER: &str = "cccccccc-0000-4000-8000-000000000001";
const CHECKER_SECRET: &str = "checker-login-secret";
/// Signs in without any Graph permission.
const NOBODY: &str = "cccccccc-0000-4000-8000-000000000002";
const NOBODY_SECRET: &str = "nobody-login-secret";
/// The application under check.
const TARGET: &str = "dddddddd-0000-4000-8000-000000000001";
const TARGET_OID: &str = "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
const K_EXPIRED: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e501";
const K_EXPIRING: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e502";
const K_HEALTHY: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e503";
const K_CERT: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e504";
/// A keyId the application does not have.
const K_REMOVED: &str = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5ff";
const UNKNOWN_APP: &str = "eeeeeeee-0000-4000-8000-000000000009";
/// An application keyrot has rotated: its newest password is keyrot's.
const ROTATED: &str = "dddddddd-0000-4000-8000-000000000002";
const K_NEW: &str = "6a0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e501";
const K_OLD: &str = "6a0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e502";
const K_FOREIGN: &str = "6a0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e503";

fn seed() -> String {
    let grace_ends = (time::OffsetDateTime::now_utc() + time::Duration::days(2))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    format!(
        r#"
[[client]]
client_id = "{CHECKER}"
display_name = "keyrot-checker"
secrets = [{{ value = "{CHECKER_SECRET}" }}]
graph_permissions = ["Application.Read.All"]

[[client]]
client_id = "{NOBODY}"
secrets = [{{ value = "{NOBODY_SECRET}" }}]

[[client]]
client_id = "{TARGET}"
object_id = "{TARGET_OID}"
display_name = "billing-api"
secrets = [
  {{ value = "{p0}", key_id = "{K_EXPIRED}", display_name = "old", start = "-400d", end = "-2d" }},
  {{ value = "{p1}", key_id = "{K_EXPIRING}", display_name = "ci", start = "-80d", end = "+3d" }},
  {{ value = "{p2}", key_id = "{K_HEALTHY}", start = "-1d", end = "+200d" }},
]
certificates = [{{ key_id = "{K_CERT}", display_name = "signing", start = "-300d", end = "+20d" }}]

[[client]]
client_id = "{ROTATED}"
display_name = "rotated-api"
secrets = [
  {{ value = "rotated-new", key_id = "{K_NEW}", display_name = "keyrot:r-new", start = "-1h", end = "+180d" }},
  {{ value = "rotated-old", key_id = "{K_OLD}", display_name = "keyrot:r-old", start = "-90d", end = "+90d" }},
  {{ value = "rotated-foreign", key_id = "{K_FOREIGN}", display_name = "ci-pipeline", start = "-200d", end = "+100d" }},
]

[[vault]]
name = "rotatedkv"

[[vault.secret]]
name = "rotated-api-secret"
value = "rotated-new"
exp = "+180d"
tags = {{ "keyrot-app" = "{ROTATED}", "keyrot-key-id" = "{K_NEW}", "keyrot-grace-ends" = "{grace_ends}" }}

[[vault]]
name = "billing"

[[vault.secret]]
name = "billing-client-secret"
value = "{p1}"
exp = "+150d"
tags = {{ "keyrot-app" = "{TARGET}", "keyrot-key-id" = "{K_EXPIRING}", owner = "team-a" }}

[[vault.secret]]
name = "long-lived-client-secret"
value = "{p2}"
exp = "+100d"
tags = {{ "keyrot-app" = "{TARGET_OID}", "keyrot-key-id" = "{K_HEALTHY}" }}

[[vault.secret]]
name = "plain"
value = "v"
exp = "+100d"

[[vault]]
name = "removed"

[[vault.secret]]
name = "dangling-client-secret"
value = "v"
exp = "+100d"
tags = {{ "keyrot-app" = "{TARGET}", "keyrot-key-id" = "{K_REMOVED}" }}
"#,
        p0 = PLANTED[0],
        p1 = PLANTED[1],
        p2 = PLANTED[2],
    )
}

fn find<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["credentials"]
        .as_array()
        .expect("credentials array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in report: {report:#}"))
}

fn seconds(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// Whole days from now, with two minutes of slack for the emulator's start.
fn about_days(value: &Value, days: i64) -> bool {
    (days * 86_400 - 120..=days * 86_400 + 120).contains(&seconds(value))
}

#[tokio::test(flavor = "multi_thread")]
async fn check_app_by_app_id_classifies_passwords_and_certificates() {
    let h = Harness::start(&seed()).await;
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--app", TARGET, "--format", "json"],
        )
        .await;
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["status"], "fail");
    assert_eq!(report["credentials"].as_array().unwrap().len(), 4);
    let expect = [
        (K_EXPIRED, "app-password", "old", "expired", "fail", -2),
        (K_EXPIRING, "app-password", "ci", "expiring", "fail", 3),
        (K_HEALTHY, "app-password", K_HEALTHY, "valid", "ok", 200),
        (K_CERT, "app-certificate", "signing", "expiring", "warn", 20),
    ];
    for (key_id, kind, name, state, severity, days) in expect {
        let c = find(&report, key_id);
        assert_eq!(c["source"], "entra", "{c:#}");
        assert_eq!(c["kind"], kind, "{c:#}");
        assert_eq!(c["name"], name, "{c:#}");
        assert_eq!(c["state"], state, "{c:#}");
        assert_eq!(c["severity"], severity, "{c:#}");
        assert!(c["vault"].is_null(), "{c:#}");
        assert!(c["version"].is_null());
        assert_eq!(c["enabled"], true);
        assert!(c["not_before"].is_string(), "{c:#}");
        assert!(about_days(&c["expires_in_seconds"], days), "{c:#}");
        assert_eq!(c["application"]["id"], TARGET_OID);
        assert_eq!(c["application"]["app_id"], TARGET);
        assert_eq!(c["application"]["display_name"], "billing-api");
        assert_eq!(c["application"]["key_id"], key_id);
    }
    assert_eq!(report["counts"]["fail"], 2);
    assert_eq!(report["counts"]["warn"], 1);
    assert_eq!(report["counts"]["ok"], 1);

    // By appId: the object-id lookup 404s first, then applications(appId='…') answers; both
    // with the $select keyrot needs, a Graph token, and no secret read anywhere.
    let graph: Vec<_> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route.starts_with("graph."))
        .collect();
    let statuses: Vec<u16> = graph.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [404, 200], "{graph:#?}");
    assert!(graph[0].path_and_query.starts_with(&format!(
        "/v1.0/applications/{TARGET}?$select=id,appId,displayName,passwordCredentials,keyCredentials"
    )));
    assert!(graph[1]
        .path_and_query
        .starts_with(&format!("/v1.0/applications(appId='{TARGET}')?$select=")));
    assert!(graph.iter().all(|r| r.method == "GET"));
    assert!(graph
        .iter()
        .all(|r| r.header("client-request-id").is_some()));
    h.assert_no_planted_values(&[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_app_by_object_id_with_a_vault_in_one_table() {
    let h = Harness::start(&seed()).await;
    let kv = h.vault("billing");
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--vault", &kv, "--app", TARGET_OID, "--name", "*"],
        )
        .await;
    run.expect_code(1);
    // One object-id lookup answers at once.
    let gets: Vec<_> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route == "graph.applications.get")
        .collect();
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(gets[0].status, 200);
    // Entra rows name the application where Key Vault rows name the vault.
    // Columns: SEVERITY STATE VAULT KIND NAME …
    let row = |name: &str| -> Vec<&str> {
        run.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cells| cells.get(4) == Some(&name))
            .unwrap_or_else(|| panic!("no row {name}:\n{}", run.stdout))
    };
    assert_eq!(
        row("old")[..4],
        ["fail", "expired", "entra:billing-api", "app-password"]
    );
    assert_eq!(
        row("signing")[2..4],
        ["entra:billing-api", "app-certificate"]
    );
    assert_eq!(row("plain")[2..4], ["billing", "secret"]);
    assert!(run.stdout.contains("gate FAILED"));
    h.assert_no_planted_values(&[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_application_is_a_runtime_error_naming_it() {
    let h = Harness::start(&seed()).await;
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--app", UNKNOWN_APP],
        )
        .await;
    run.expect_code(3);
    // The report still comes out, with the application as an error entry.
    assert!(
        run.stdout
            .contains(&format!("ERROR application {UNKNOWN_APP} (not_found): ")),
        "{}",
        run.stdout
    );
    let err = &run.stderr;
    assert!(
        err.contains(&format!(
            "Microsoft Graph: reading application {UNKNOWN_APP} failed: 404 Not Found, Request_ResourceNotFound"
        )),
        "{err}"
    );
    assert!(err.contains("request-id "), "{err}");
    assert!(
        err.contains(&format!(
            "no application has object id or appId {UNKNOWN_APP}"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_application_does_not_discard_the_others() {
    let h = Harness::start(&seed()).await;
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &[
                "check",
                "--app",
                TARGET,
                "--app",
                UNKNOWN_APP,
                "--format",
                "json",
            ],
        )
        .await;
    run.expect_code(3);
    let report = run.json();
    assert_eq!(report["credentials"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["errors"],
        serde_json::json!([{
            "source": "entra",
            "vault": null,
            "application": UNKNOWN_APP,
            "kind": null,
            "name": null,
            "reason": "not_found",
            "message": report["errors"][0]["message"].clone(),
        }])
    );
    assert!(report["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("404 Not Found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn superseded_passwords_say_who_removes_them_and_when() {
    let h = Harness::start(&seed()).await;
    let kv = h.vault("rotatedkv");
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &[
                "check", "--app", ROTATED, "--vault", &kv, "--strict", "--format", "json",
            ],
        )
        .await;
    let report = run.json();
    // keyrot's own older password: in its grace period, with the date from the Key Vault
    // secret holding the new one.
    let old = find(&report, K_OLD);
    assert_eq!(old["state"], "in_grace", "{old:#}");
    assert_eq!(old["severity"], "ok");
    let message = old["message"].as_str().unwrap();
    assert!(
        message.contains("keyrot rotate removes it at or after 20"),
        "{message}"
    );
    // A password keyrot did not create: what the user can do, never that keyrot removes it.
    let foreign = find(&report, K_FOREIGN);
    assert_eq!(foreign["state"], "stale_enabled_version", "{foreign:#}");
    let message = foreign["message"].as_str().unwrap();
    assert!(message.contains("was not created by keyrot"), "{message}");
    assert!(message.contains("remove it in Entra"), "{message}");
    assert!(message.contains("remove_foreign = true"), "{message}");
    assert!(
        !message.contains("keyrot rotate removes it after"),
        "{message}"
    );
    assert_eq!(find(&report, K_NEW)["state"], "valid");
    // --strict: the foreign password fails the gate; keyrot's own in grace does not.
    run.expect_code(1);
    assert_eq!(report["counts"]["fail"], 1, "{report:#}");

    // Without the vault, the date is unknown: keyrot says it removes it after its grace.
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--app", ROTATED, "--format", "json"],
        )
        .await;
    run.expect_code(0);
    let report = run.json();
    let old = find(&report, K_OLD);
    assert_eq!(old["state"], "in_grace", "{old:#}");
    assert!(old["message"]
        .as_str()
        .unwrap()
        .contains("keyrot rotate removes it after its grace period"));

    // Under GitHub Actions, no annotation for an app password says to disable an old version.
    let dir = tempfile::tempdir().unwrap();
    let mut env = h.graph_env(CHECKER, CHECKER_SECRET);
    env.push(("GITHUB_ACTIONS".into(), "true".into()));
    env.push(("RUNNER_TEMP".into(), dir.path().display().to_string()));
    let run = h
        .run(env, &["check", "--app", ROTATED, "--vault", &kv])
        .await;
    run.expect_code(0);
    let annotation = run
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        annotation.contains("ci-pipeline old password still valid"),
        "{annotation}"
    );
    assert!(
        !annotation.to_lowercase().contains("disable"),
        "{annotation}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_graph_permission_the_error_names_the_permission() {
    let h = Harness::start(&seed()).await;
    let run = h
        .run(
            h.graph_env(NOBODY, NOBODY_SECRET),
            &["check", "--app", TARGET],
        )
        .await;
    run.expect_code(3);
    let err = &run.stderr;
    assert!(
        err.contains("403 Forbidden, Authorization_RequestDenied: Insufficient privileges to complete the operation."),
        "{err}"
    );
    assert!(err.contains("Application.Read.All"), "{err}");
    // The token was a Graph token: the emulator checked permissions, not the audience.
    let graph: Vec<_> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route.starts_with("graph."))
        .collect();
    assert_eq!(graph.len(), 1, "a 403 is not retried: {graph:#?}");
    assert_eq!(graph[0].status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_on_graph_is_retried_after_retry_after() {
    let h = Harness::start(&seed()).await;
    h.emulator.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(1),
        count: Some(1),
        ..FaultRule::new("graph.applications.get")
    });
    let started = Instant::now();
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--app", TARGET_OID, "--format", "json"],
        )
        .await;
    let took = started.elapsed();
    run.expect_code(1);
    assert_eq!(run.json()["credentials"].as_array().unwrap().len(), 4);
    let statuses: Vec<u16> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route == "graph.applications.get")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After honoured: {took:?}"
    );

    // A 503 with Retry-After is retried the same way.
    h.emulator.clear_requests();
    h.emulator.add_fault(FaultRule {
        status: Some(503),
        retry_after: Some(1),
        count: Some(1),
        ..FaultRule::new("graph.applications.get")
    });
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--app", TARGET_OID, "--format", "json"],
        )
        .await;
    run.expect_code(1);
    let statuses: Vec<u16> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route == "graph.applications.get")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 200]);

    // Throttling that outlasts --timeout ends in Graph's own answer, explained.
    h.emulator.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(30),
        ..FaultRule::new("graph.applications.get")
    });
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--app", TARGET_OID, "--timeout", "2s"],
        )
        .await;
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("429 Too Many Requests, TooManyRequests"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("raise --timeout"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_secret_holding_an_entra_password_gets_the_earlier_end_date() {
    let h = Harness::start(&seed()).await;
    let kv = h.vault("billing");
    // No --app: the tags alone make keyrot read the application.
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--vault", &kv, "--format", "json"],
        )
        .await;
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["credentials"].as_array().unwrap().len(), 3);
    let held = common::credential(&report, "billing-client-secret");
    assert_eq!(held["source"], "keyvault");
    assert_eq!(held["vault"], kv);
    // Key Vault says +150 days; the Entra password it holds ends in 3.
    assert_eq!(held["state"], "expiring", "{held:#}");
    assert_eq!(held["severity"], "fail");
    assert!(about_days(&held["expires_in_seconds"], 3), "{held:#}");
    let message = held["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "the date is the end of Entra password {K_EXPIRING} of billing-api, earlier than Key Vault's: the Key Vault exp is later"
        )),
        "{message}"
    );
    assert_eq!(held["application"]["app_id"], TARGET);
    assert_eq!(held["application"]["key_id"], K_EXPIRING);
    assert_eq!(held["tags"]["owner"], "team-a");

    // Tagged by object id, with a password that ends after the Key Vault exp: unchanged.
    let later = common::credential(&report, "long-lived-client-secret");
    assert_eq!(later["state"], "valid");
    assert!(about_days(&later["expires_in_seconds"], 100), "{later:#}");
    assert!(!later["message"].as_str().unwrap().contains("Entra"));
    assert_eq!(later["application"]["id"], TARGET_OID);

    let plain = common::credential(&report, "plain");
    assert!(plain["application"].is_null());
    // The application was read once for both secrets, by appId (object id 404 first) or by
    // object id.
    let gets = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route == "graph.applications.get" && r.status == 200)
        .count();
    assert!((1..=2).contains(&gets), "{gets}");
    h.assert_no_planted_values(&[&run.stdout, &run.stderr]);

    // A secret holding a password the application no longer has cannot sign in: it fails.
    let run = h
        .run(
            h.graph_env(CHECKER, CHECKER_SECRET),
            &["check", "--vault", &h.vault("removed"), "--format", "json"],
        )
        .await;
    run.expect_code(1);
    let report = run.json();
    let dangling = common::credential(&report, "dangling-client-secret");
    assert_eq!(dangling["state"], "expired", "{dangling:#}");
    assert_eq!(dangling["severity"], "fail");
    assert!(
        dangling["message"]
            .as_str()
            .unwrap()
            .contains("which the application no longer has"),
        "{dangling:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_check_survives_an_identity_without_graph_permission() {
    let h = Harness::start(&seed()).await;
    let kv = h.vault("billing");
    let run = h
        .run(
            h.graph_env(NOBODY, NOBODY_SECRET),
            &["check", "--vault", &kv, "--format", "json"],
        )
        .await;
    // The Key Vault dates decide (all beyond the warn window): the gate passes, and says what
    // it could not compare.
    run.expect_code(0);
    let report = run.json();
    let held = common::credential(&report, "billing-client-secret");
    assert_eq!(held["state"], "valid", "{held:#}");
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .contains("Entra end date not checked: application"),
        "{held:#}"
    );
    assert!(held["message"].as_str().unwrap().contains("403 Forbidden"));
    assert!(
        run.stderr
            .contains("cannot compare Key Vault secrets tagged keyrot-app="),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_come_from_keyrot_toml_and_the_environment() {
    let h = Harness::start(&seed()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyrot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[defaults]
vault = "{kv}"

[[credential]]
name = "billing-client-secret"
generator = "entra-app-password"
application = "{TARGET}"
"#,
            kv = h.vault("billing")
        ),
    )
    .unwrap();
    let mut env = h.graph_env(CHECKER, CHECKER_SECRET);
    env.push(("KEYROT_CONFIG".into(), config.display().to_string()));
    let run = h.run(env, &["check", "--format", "json"]).await;
    run.expect_code(1);
    let report = run.json();
    // The config's application is checked; its vault is not listed by `check`.
    assert_eq!(report["credentials"].as_array().unwrap().len(), 4);
    assert_eq!(find(&report, K_CERT)["kind"], "app-certificate");

    // KEYROT_APPS, comma separated; the same app twice (appId and object id) counts once.
    let mut env = h.graph_env(CHECKER, CHECKER_SECRET);
    env.push(("KEYROT_APPS".into(), format!("{TARGET},{TARGET_OID}")));
    let run = h.run(env, &["check", "--format", "json"]).await;
    run.expect_code(1);
    assert_eq!(run.json()["credentials"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_to_check_or_a_bad_id_is_a_usage_error_before_any_request() {
    let h = Harness::start(&seed()).await;
    let env = h.graph_env(CHECKER, CHECKER_SECRET);
    let run = h.run(env.clone(), &["check"]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("nothing to check"), "{}", run.stderr);
    assert!(run.stderr.contains("--app"), "{}", run.stderr);

    let run = h.run(env.clone(), &["check", "--app", "billing-api"]).await;
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("invalid --app \"billing-api\": expected a GUID"),
        "{}",
        run.stderr
    );
    let run = h
        .run(
            env.clone(),
            &[
                "check",
                "--app",
                TARGET,
                "--graph-url",
                "http://graph.localhost",
            ],
        )
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("--graph-url"), "{}", run.stderr);
    let missing = h
        .run(env, &["check", "--config", "/nonexistent/keyrot.toml"])
        .await;
    missing.expect_code(2);
    assert!(
        missing.stderr.contains("no such file"),
        "{}",
        missing.stderr
    );
    assert!(h.emulator.requests().is_empty(), "no request was sent");
}
