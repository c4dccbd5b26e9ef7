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
