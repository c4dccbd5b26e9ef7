//! `keyrot check` end to end: the real binary, over HTTPS, through the challenge and token
//! path, against the emulator.

mod common;

use common::{credential, Harness};

#[tokio::test(flavor = "multi_thread")]
async fn json_report_classifies_every_state_and_fails_the_gate() {
    let h = Harness::start(&common::standard_seed()).await;
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check",
                "--vault",
                &h.vault("gate"),
                "--format",
                "json",
                "--kinds",
                "secrets,certificates,keys",
            ],
        )
        .await;
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["version"], 1);
    assert_eq!(report["status"], "fail");
    assert_eq!(report["policy"]["warn_within_seconds"], 30 * 86_400);
    assert_eq!(report["policy"]["fail_within_seconds"], 7 * 86_400);
    assert_eq!(report["policy"]["no_expiry"], "warn");

    let expect = [
        ("expired-secret", "expired", "fail"),
        ("expiring-soon", "expiring", "fail"),
        ("expiring-later", "expiring", "warn"),
        ("healthy", "valid", "ok"),
        ("forever", "no_expiry", "warn"),
        ("future", "not_yet_valid", "warn"),
        ("switched-off", "disabled", "ok"),
        ("rotated", "valid", "ok"),
        ("tls-cert", "expiring", "fail"),
        ("signing-key", "valid", "ok"),
    ];
    for (name, state, severity) in expect {
        let c = credential(&report, name);
        assert_eq!(c["state"], state, "{name}: {c:#}");
        assert_eq!(c["severity"], severity, "{name}: {c:#}");
        assert_eq!(c["source"], "keyvault");
        assert_eq!(c["vault"], h.vault("gate"));
    }
    let expired = credential(&report, "expired-secret");
    assert_eq!(expired["kind"], "secret");
    assert!(expired["version"].is_null());
    assert_eq!(expired["enabled"], true);
    assert_eq!(expired["tags"]["owner"], "team-a");
    let left = expired["expires_in_seconds"].as_i64().unwrap();
    assert!(
        (-3 * 86_400 - 120..=-3 * 86_400 + 120).contains(&left),
        "{left}"
    );
    assert!(expired["id"]
        .as_str()
        .unwrap()
        .ends_with("/secrets/expired-secret"));
    assert!(credential(&report, "forever")["expires"].is_null());
    assert_eq!(credential(&report, "tls-cert")["kind"], "certificate");
    assert_eq!(credential(&report, "signing-key")["kind"], "key");
    assert_eq!(report["counts"]["fail"], 3);
    assert_eq!(report["counts"]["warn"], 3);
    assert_eq!(report["counts"]["ok"], 4);
    // Logs went to stderr, with the one line that names the credential used.
    assert!(
        run.stderr
            .contains("auth: using client secret for client keyrot-ci"),
        "{}",
        run.stderr
    );
    h.assert_no_planted_values(&[&run.stdout, &run.stderr]);
    // A check reads the list APIs only: never a value.
    assert!(
        h.emulator
            .requests()
            .iter()
            .all(|r| r.route != "secrets.get"),
        "check must not read secret values"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_follow_the_gate() {
    let h = Harness::start(&common::standard_seed()).await;
    let env = h.client_secret_env();
    let clean = h.vault("clean");
    let soon = h.vault("soon");
    h.run(env.clone(), &["check", "--vault", &clean])
        .await
        .expect_code(0);
    let warned = h
        .run(
            env.clone(),
            &["check", "--vault", &soon, "--format", "json"],
        )
        .await;
    warned.expect_code(0);
    assert_eq!(warned.json()["status"], "warn");
    h.run(env.clone(), &["check", "--vault", &soon, "--strict"])
        .await
        .expect_code(1);
    // A wider fail window turns the same credential into a failure.
    h.run(
        env.clone(),
        &["check", "--vault", &soon, "--fail-within", "25d"],
    )
    .await
    .expect_code(1);
    // no-expiry policy.
    let gate = h.vault("gate");
    let run = h
        .run(
            env.clone(),
            &[
                "check",
                "--vault",
                &gate,
                "--name",
                "forever",
                "--no-expiry",
                "fail",
                "--format",
                "json",
            ],
        )
        .await;
    run.expect_code(1);
    assert_eq!(credential(&run.json(), "forever")["severity"], "fail");
    h.run(
        env,
        &[
            "check",
            "--vault",
            &gate,
            "--name",
            "forever",
            "--no-expiry",
            "ignore",
        ],
    )
    .await
    .expect_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn several_vaults_from_the_environment() {
    let h = Harness::start(&common::standard_seed()).await;
    let mut env = h.client_secret_env();
    env.push((
        "KEYROT_VAULTS".into(),
        format!("{},{}", h.vault("clean"), h.vault("soon")),
    ));
    let run = h.run(env, &["check", "--format", "json"]).await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(credential(&report, "fine")["vault"], h.vault("clean"));
    assert_eq!(
        credential(&report, "in-warn-window")["vault"],
        h.vault("soon")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_reports_superseded_versions_still_enabled() {
    let h = Harness::start(&common::standard_seed()).await;
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check",
                "--vault",
                &h.vault("gate"),
                "--versions",
                "--name",
                "rotated",
                "--format",
                "json",
            ],
        )
        .await;
    run.expect_code(0);
    let report = run.json();
    let stale: Vec<_> = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "stale_enabled_version")
        .collect();
    assert_eq!(stale.len(), 1, "{report:#}");
    assert_eq!(stale[0]["severity"], "warn");
    assert_eq!(stale[0]["name"], "rotated");
    assert!(stale[0]["version"].as_str().is_some_and(|v| v.len() == 32));
    assert_eq!(report["status"], "warn");
    h.assert_no_planted_values(&[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_by_name_glob_and_tag() {
    let h = Harness::start(&common::standard_seed()).await;
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check",
                "--vault",
                &h.vault("gate"),
                "--name",
                "expir*",
                "--tag",
                "owner=team-b",
                "--format",
                "json",
            ],
        )
        .await;
    let report = run.json();
    let names: Vec<_> = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["expiring-soon"]);
    run.expect_code(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_renders_and_output_goes_to_a_file() {
    let h = Harness::start(&common::standard_seed()).await;
    let dir = tempfile::tempdir().unwrap();
    let gate = h.vault("gate");
    for (format, must_contain) in [
        ("table", "expired-secret"),
        ("markdown", "| "),
        ("junit", "<testsuite"),
        ("json", "\"version\": 1"),
    ] {
        let path = dir.path().join(format!("report.{format}"));
        let run = h
            .run(
                h.client_secret_env(),
                &[
                    "check",
                    "--vault",
                    &gate,
                    "--format",
                    format,
                    "--output",
                    path.to_str().unwrap(),
                ],
            )
            .await;
        run.expect_code(1);
        assert!(
            run.stdout.is_empty(),
            "{format}: stdout must stay empty with --output"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(must_contain), "{format}: {text}");
        assert!(text.contains("expiring-soon"), "{format}: {text}");
        assert!(
            !text.contains('\u{1b}'),
            "{format}: no colour codes in files"
        );
        h.assert_no_planted_values(&[&text, &run.stderr]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_across_many_pages() {
    let seed = format!(
        "{}\n[[vault]]\nname = \"bulk\"\n[[vault.generate]]\nkind = \"secret\"\nprefix = \"bulk-\"\ncount = 140\nexp = \"+100d\"\n",
        common::standard_seed()
    );
    let h = Harness::start(&seed).await;
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("bulk"), "--format", "json"],
        )
        .await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["credentials"].as_array().unwrap().len(), 140);
    assert_eq!(report["counts"]["ok"], 140);
    let pages = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.route == "secrets.list" && r.status == 200)
        .count();
    assert!(
        pages >= 6,
        "140 secrets at 25 a page need at least 6 pages, saw {pages}"
    );
}

/// Versions written in the same second whose ids sort against the write order, as concurrent
/// writers produce them: `(created, version id)` order would call the first-written one current.
/// Key Vault serves the last one written (the last in the seed); `now_plus(2)` and
/// `now_plus(-1)` are RFC 3339 instants for keyrot's grace tag.
fn versions_seed() -> String {
    let at = |days: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::days(days))
            .replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    format!(
        r#"{standard}
[[vault]]
name = "versions"

[[vault.secret]]
name = "same-second"
[[vault.secret.version]]
id = "ffffffff000000000000000000000003"
value = "{p1}"
exp = "+10d"
created = "-1h"
[[vault.secret.version]]
id = "88888888000000000000000000000002"
value = "second"
exp = "+20d"
created = "-1h"
[[vault.secret.version]]
id = "00000000000000000000000000000001"
value = "served"
exp = "+90d"
created = "-1h"

[[vault.secret]]
name = "outage"
[[vault.secret.version]]
id = "ffffffff0000000000000000000000a2"
value = "still-enabled"
exp = "+90d"
created = "-1h"
[[vault.secret.version]]
id = "000000000000000000000000000000a1"
value = "served-but-disabled"
enabled = false
exp = "+90d"
created = "-1h"

[[vault.secret]]
name = "retired"
[[vault.secret.version]]
value = "r1"
enabled = false
created = "-2d"
[[vault.secret.version]]
value = "r2"
enabled = false
created = "-1d"

[[vault.secret]]
name = "graced"
[[vault.secret.version]]
id = "ffffffff0000000000000000000000b2"
value = "previous"
exp = "+30d"
created = "-1h"
tags = {{ owner = "team-a" }}
[[vault.secret.version]]
id = "000000000000000000000000000000b1"
value = "rotated"
exp = "+90d"
created = "-1h"
tags = {{ owner = "team-a", "keyrot-rotation-id" = "r-1", "keyrot-grace-ends" = "{in_two_days}" }}

[[vault.secret]]
name = "grace-over"
[[vault.secret.version]]
id = "ffffffff0000000000000000000000c2"
value = "previous"
exp = "+30d"
created = "-3d"
[[vault.secret.version]]
id = "000000000000000000000000000000c1"
value = "rotated"
exp = "+90d"
created = "-3d"
tags = {{ "keyrot-rotation-id" = "r-2", "keyrot-grace-ends" = "{yesterday}" }}
"#,
        standard = common::standard_seed(),
        p1 = common::PLANTED[1],
        in_two_days = at(2),
        yesterday = at(-1),
    )
}

/// The entries of a JSON report for `name`, current version first.
fn entries<'a>(report: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    let mut found: Vec<&serde_json::Value> = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .collect();
    found.sort_by_key(|c| c["version"].as_str().unwrap_or("").to_owned());
    found
}

async fn check_versions(h: &Harness, extra: &[&str]) -> common::Run {
    let vault = h.vault("versions");
    let mut args = vec!["check", "--vault", &vault, "--versions", "--format", "json"];
    args.extend_from_slice(extra);
    h.run(h.client_secret_env(), &args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_find_the_served_version_by_metadata_not_by_id_order() {
    let h = Harness::start(&versions_seed()).await;
    let run = check_versions(&h, &["--name", "same-second"]).await;
    run.expect_code(0);
    let report = run.json();
    let found = entries(&report, "same-second");
    assert_eq!(found.len(), 3, "{report:#}");
    // The current version, as the list API reports it: the last one written.
    let current = found[0];
    assert!(current["version"].is_null());
    assert_eq!(current["state"], "valid", "{current:#}");
    assert!(
        (89 * 86_400..=90 * 86_400).contains(&current["expires_in_seconds"].as_i64().unwrap()),
        "{current:#}"
    );
    let superseded: Vec<(&str, &str)> = found[1..]
        .iter()
        .map(|c| (c["version"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        superseded,
        [
            ("88888888000000000000000000000002", "stale_enabled_version"),
            ("ffffffff000000000000000000000003", "stale_enabled_version"),
        ]
    );
    for stale in &found[1..] {
        assert!(
            stale["message"]
                .as_str()
                .unwrap()
                .contains("superseded by 00000000000000000000000000000001"),
            "{stale:#}"
        );
    }
    assert_eq!(report["policy"]["versions"], true);
    h.assert_no_planted_values(&[&run.stdout, &run.stderr]);
    assert!(
        h.emulator
            .requests()
            .iter()
            .all(|r| r.route != "secrets.get"),
        "check --versions must not read secret values"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_served_version_with_an_older_one_enabled_fails_and_a_retired_secret_does_not() {
    let h = Harness::start(&versions_seed()).await;
    let run = check_versions(&h, &["--name", "outage", "--name", "retired"]).await;
    run.expect_code(1);
    let report = run.json();
    let outage = entries(&report, "outage");
    assert_eq!(outage[0]["state"], "current_disabled", "{report:#}");
    assert_eq!(outage[0]["severity"], "fail");
    assert_eq!(outage[1]["version"], "ffffffff0000000000000000000000a2");
    assert_eq!(outage[1]["state"], "stale_enabled_version");
    let retired = entries(&report, "retired");
    assert_eq!(retired.len(), 1, "disabled old versions are not reported");
    assert_eq!(retired[0]["state"], "disabled");
    assert_eq!(retired[0]["severity"], "ok");
    assert!(retired[0]["message"].as_str().unwrap().contains("retired"));

    // Without --versions keyrot sees only the current version, and says what --versions adds.
    let vault = h.vault("versions");
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check", "--vault", &vault, "--name", "outage", "--format", "json",
            ],
        )
        .await;
    run.expect_code(0);
    let report = run.json();
    let outage = common::credential(&report, "outage");
    assert_eq!(outage["state"], "disabled");
    assert!(
        outage["message"].as_str().unwrap().contains("--versions"),
        "{outage:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_keyrot_superseded_is_in_grace_until_its_tag_says_and_strict_passes() {
    let h = Harness::start(&versions_seed()).await;
    // Right after keyrot's rotation (grace ends in two days): --strict passes, no keyrot.toml.
    let run = check_versions(&h, &["--name", "graced", "--strict"]).await;
    run.expect_code(0);
    let report = run.json();
    let graced = entries(&report, "graced");
    assert_eq!(graced[1]["version"], "ffffffff0000000000000000000000b2");
    assert_eq!(graced[1]["state"], "in_grace", "{report:#}");
    assert_eq!(graced[1]["severity"], "ok");
    let message = graced[1]["message"].as_str().unwrap();
    assert!(
        message.contains("keyrot will disable it at 20"),
        "{message}"
    );
    assert_eq!(report["status"], "pass");

    // Once the grace period has ended, the old version is stale again.
    let run = check_versions(&h, &["--name", "grace-over", "--strict"]).await;
    run.expect_code(1);
    let report = run.json();
    let over = entries(&report, "grace-over");
    assert_eq!(over[1]["state"], "stale_enabled_version", "{report:#}");
    assert!(over[1]["message"]
        .as_str()
        .unwrap()
        .contains("keyrot's grace period for it ended"));

    // --tag selects a secret by its current version's tags; its versions go with it.
    let run = check_versions(&h, &["--tag", "keyrot-rotation-id=r-1"]).await;
    run.expect_code(0);
    assert_eq!(entries(&run.json(), "graced").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn version_listings_start_as_list_pages_arrive() {
    let seed = format!(
        "{}\n[[vault]]\nname = \"paged\"\n[[vault.generate]]\nkind = \"secret\"\nprefix = \"paged-\"\ncount = 70\nexp = \"+100d\"\n",
        common::standard_seed()
    );
    let h = Harness::start(&seed).await;
    // Slow list pages, fast version listings: a listing that waited for the last page would
    // send every version request after it.
    h.emulator.add_fault(keyrot_emulator::FaultRule {
        latency_ms: Some(300),
        ..keyrot_emulator::FaultRule::new("secrets.list")
    });
    let vault = h.vault("paged");
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &vault, "--versions", "--format", "json"],
        )
        .await;
    run.expect_code(0);
    assert_eq!(run.json()["credentials"].as_array().unwrap().len(), 70);
    let routes: Vec<String> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| r.route)
        .collect();
    let last_page = routes.iter().rposition(|r| r == "secrets.list").unwrap();
    let first_versions = routes.iter().position(|r| r == "secrets.versions").unwrap();
    assert!(
        routes.iter().filter(|r| *r == "secrets.list").count() >= 3,
        "{routes:?}"
    );
    assert!(
        first_versions < last_page,
        "version listings waited for the whole listing: {routes:?}"
    );
    assert_eq!(
        routes.iter().filter(|r| *r == "secrets.versions").count(),
        70
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_that_select_nothing_are_usage_errors_naming_them() {
    let h = Harness::start(&common::standard_seed()).await;
    let gate = h.vault("gate");
    let env = h.client_secret_env();
    let run = h
        .run(env.clone(), &["check", "--vault", &gate, "--name", "tpyo"])
        .await;
    run.expect_code(2);
    assert!(
        run.stderr.contains("--name \"tpyo\" selects no credential"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "no report for a usage error");

    // One pattern of several: only the one that selects nothing is named.
    let run = h
        .run(
            env.clone(),
            &[
                "check", "--vault", &gate, "--name", "expir*", "--name", "tpyo",
            ],
        )
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("--name \"tpyo\""), "{}", run.stderr);
    assert!(!run.stderr.contains("expir*"), "{}", run.stderr);

    let run = h
        .run(
            env.clone(),
            &["check", "--vault", &gate, "--tag", "owner=nobody"],
        )
        .await;
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--tag \"owner=nobody\" selects no credential"),
        "{}",
        run.stderr
    );
    // A name that exists, but not with the tag.
    let run = h
        .run(
            env,
            &[
                "check",
                "--vault",
                &gate,
                "--name",
                "healthy",
                "--tag",
                "owner=team-b",
            ],
        )
        .await;
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--name \"healthy\" selects no credential with --tag \"owner=team-b\""),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_vault_is_an_error_entry_and_the_rest_is_still_reported() {
    let h = Harness::start(&common::standard_seed()).await;
    let (clean, missing, locked) = (h.vault("clean"), h.vault("nosuchvault"), h.vault("locked"));
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check", "--vault", &clean, "--vault", &missing, "--vault", &locked, "--format",
                "json",
            ],
        )
        .await;
    run.expect_code(3);
    let report = run.json();
    // What could be read passed, yet the gate fails: it could not see everything.
    assert_eq!(report["status"], "fail");
    assert_eq!(common::credential(&report, "fine")["state"], "valid");
    assert_eq!(
        report["counts"],
        serde_json::json!({"ok": 1, "warn": 0, "fail": 0})
    );
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{report:#}");
    let by_vault = |vault: &str| {
        errors
            .iter()
            .find(|e| e["vault"] == vault)
            .unwrap_or_else(|| panic!("no error for {vault}: {report:#}"))
    };
    let not_found = by_vault(&missing);
    assert_eq!(not_found["source"], "keyvault");
    assert_eq!(not_found["kind"], "secret");
    assert_eq!(not_found["reason"], "not_found");
    assert!(not_found["application"].is_null() && not_found["name"].is_null());
    let forbidden = by_vault(&locked);
    assert_eq!(forbidden["reason"], "forbidden");
    assert!(forbidden["message"]
        .as_str()
        .unwrap()
        .contains("permission denied"));
    // stderr says why the exit code is 3, naming both.
    assert!(
        run.stderr.contains("could not read everything"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&missing) && run.stderr.contains(&locked),
        "{}",
        run.stderr
    );

    // A vault whose host does not resolve, in the table, beside one that failed the gate:
    // exit 3 still wins, and the summary says the readable part failed.
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "check",
                "--vault",
                &h.vault("gate"),
                "--vault",
                "https://no-such-vault.invalid",
                "--timeout",
                "20s",
            ],
        )
        .await;
    run.expect_code(3);
    assert!(run.stdout.contains("expired-secret"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("ERROR secrets in no-such-vault (connection): cannot list secrets in https://no-such-vault.invalid: cannot resolve host no-such-vault.invalid"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "2 fail, 3 warn, 3 ok in what could be read; 1 could not be read — gate FAILED"
        ),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_days_left_column_agrees_with_the_message() {
    let seed = format!(
        "{}\n[[vault]]\nname = \"days\"\n[[vault.secret]]\nname = \"three-and-a-bit\"\nvalue = \"v\"\nexp = \"-3d\"\n",
        common::standard_seed()
    );
    let h = Harness::start(&seed).await;
    // Expired three days and some seconds ago by the time keyrot runs: rounding towards the
    // past would show -4 beside "expired 3 days ago".
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("days")],
        )
        .await;
    run.expect_code(1);
    let row = run
        .stdout
        .lines()
        .find(|l| l.contains("three-and-a-bit"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[6], "-3", "{row}");
    assert!(row.contains("  expired 3 days ago ("), "{row}");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_with_and_without_versions() {
    let h = Harness::start(&common::standard_seed()).await;
    let run = h.run(Vec::new(), &["demo"]).await;
    run.expect_code(0);
    assert!(run.stdout.starts_with("SEVERITY"), "{}", run.stdout);
    assert!(!run.stdout.contains("redis-access-key@"), "{}", run.stdout);
    // The loop: the gate on keyrot.toml's three credentials (one a storage account key) fails, they are rotated with their
    // copies updated and their deploys started (links shown), notified, and the gate passes.
    let the_loop = run
        .stdout
        .split_once("The loop.")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no loop in the demo:\n{}", run.stdout));
    let gates: Vec<&str> = the_loop
        .lines()
        .filter(|l| l.contains(" — gate FAILED") || l.contains(" — passed"))
        .collect();
    assert_eq!(
        gates,
        [
            "2 fail, 1 warn, 0 ok — gate FAILED",
            "0 fail, 0 warn, 3 ok — passed"
        ],
        "{the_loop}"
    );
    assert!(the_loop.contains("3 rotated, 0 up to date"), "{the_loop}");
    for link in [
        "_build/results?buildId=",
        "_release?releaseId=",
        "/actions/runs/",
    ] {
        assert!(the_loop.contains(link), "no {link} in {the_loop}");
    }
    assert!(
        the_loop.contains("notified the Teams webhook"),
        "{the_loop}"
    );
    for value in [
        "demo-billing-secret",
        "a2V5cm90LWRlbW8tc3RvcmFnZS1rZXkxLWxvY2FsLW9ubHktbm90LWEtcmVhbC1rZXktMDAwMDAwMDAwMDAwMA==",
    ] {
        assert!(!run.stdout.contains(value), "a value in the demo's output");
    }
    let run = h.run(Vec::new(), &["demo", "--versions"]).await;
    run.expect_code(0);
    assert!(run.stdout.contains("redis-access-key@"), "{}", run.stdout);
    // A flag now, as on check: a value is refused.
    h.run(Vec::new(), &["demo", "--versions", "true"])
        .await
        .expect_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_number_timeout_is_refused_asking_for_a_unit() {
    let h = Harness::start(&common::standard_seed()).await;
    let clean = h.vault("clean");
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &clean, "--timeout", "30"],
        )
        .await;
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "--timeout: invalid duration \"30\": a bare number is ambiguous here; give a unit: 30s, 5m"
        ),
        "{}",
        run.stderr
    );
    let mut env = h.client_secret_env();
    env.push(("KEYROT_TIMEOUT".into(), "45".into()));
    let run = h.run(env, &["check", "--vault", &clean]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("(e.g. 45s)"), "{}", run.stderr);
    assert!(
        h.emulator.requests().is_empty(),
        "refused before any request"
    );
    // Policy windows keep bare days.
    h.run(
        h.client_secret_env(),
        &[
            "check",
            "--vault",
            &clean,
            "--warn-within",
            "30",
            "--timeout",
            "30s",
        ],
    )
    .await
    .expect_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_that_gets_no_token_is_one_runtime_error_said_once() {
    let h = Harness::start(&common::standard_seed()).await;
    let env: Vec<(String, String)> = h
        .client_secret_env()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "AZURE_CLIENT_SECRET" {
                "not-the-secret".to_string()
            } else {
                v
            };
            (k, v)
        })
        .collect();
    let (gate, clean) = (h.vault("gate"), h.vault("clean"));
    let run = h
        .run(
            env,
            &[
                "check",
                "--vault",
                &gate,
                "--vault",
                &clean,
                "--kinds",
                "secrets,certificates,keys",
            ],
        )
        .await;
    run.expect_code(3);
    // Six listings could not get a token; the user is told once, with the fix.
    assert_eq!(
        run.stderr.matches("AADSTS7000215").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("check AZURE_CLIENT_SECRET"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("could not be read"), "{}", run.stdout);
}
