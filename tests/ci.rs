//! `keyrot check` speaking GitHub Actions' and Azure Pipelines' protocols, end to end: the real
//! binary against the emulator, with the runner's files in a temporary folder.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::runners::{self, Command};
use common::Harness;

/// Commands as each runner parses them (`common/runners.rs`).
type GhCommand = Command;
type VsoCommand = Command;

fn gh_command(line: &str) -> Option<GhCommand> {
    runners::github_line(line)
}

fn vso_command(line: &str) -> Option<VsoCommand> {
    runners::azure_line(line)
}

/// A runner file command file (`$GITHUB_OUTPUT`), as the runner reads it on Linux.
fn file_commands(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            assert!(!name.contains('='), "heredoc form expected: {line:?}");
            assert!(
                delimiter.starts_with("ghadelimiter_") && delimiter.len() > 20,
                "{delimiter:?}"
            );
            let mut value = Vec::new();
            loop {
                let next = lines.next().expect("closing delimiter");
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            out.push((name.to_owned(), value.join("\n")));
        } else {
            panic!("keyrot writes only the heredoc form, got {line:?}");
        }
    }
    out
}

struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn github_env(&self, h: &Harness) -> Vec<(String, String)> {
        let mut env = h.client_secret_env();
        env.push(("GITHUB_ACTIONS".into(), "true".into()));
        env.push(("GITHUB_OUTPUT".into(), self.display("output")));
        env.push(("GITHUB_STEP_SUMMARY".into(), self.display("summary.md")));
        env.push(("RUNNER_TEMP".into(), self.dir.path().display().to_string()));
        env
    }

    fn azure_env(&self, h: &Harness) -> Vec<(String, String)> {
        let mut env = h.client_secret_env();
        env.push(("TF_BUILD".into(), "True".into()));
        env.push((
            "AGENT_TEMPDIRECTORY".into(),
            self.dir.path().display().to_string(),
        ));
        env
    }

    fn display(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("{name} unreadable: {e}"))
    }

    fn outputs(&self) -> BTreeMap<String, String> {
        file_commands(&self.read("output")).into_iter().collect()
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn github_annotations_outputs_summary_and_report() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let run = h
        .run(
            runner.github_env(&h),
            &[
                "check",
                "--vault",
                &h.vault("gate"),
                "--kinds",
                "secrets,certificates,keys",
            ],
        )
        .await;
    run.expect_code(1);

    // Annotations first, most urgent first, then the folded group, then the usual table.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let commands: Vec<GhCommand> = lines.iter().filter_map(|l| gh_command(l)).collect();
    let annotations: Vec<&GhCommand> = commands
        .iter()
        .filter(|c| c.name == "error" || c.name == "warning")
        .collect();
    let levels: Vec<&str> = annotations.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        levels,
        ["error", "error", "error", "warning", "warning", "warning"],
        "{}",
        run.stdout
    );
    let titles: Vec<&str> = annotations
        .iter()
        .map(|c| c.properties["title"].as_str())
        .collect();
    assert!(
        titles[0].starts_with("keyrot: expired-secret expired 3 days ago ("),
        "{titles:?}"
    );
    assert!(
        titles[1].starts_with("keyrot: tls-cert expires in "),
        "{titles:?}"
    );
    assert!(
        titles[2].starts_with("keyrot: expiring-soon expires in "),
        "{titles:?}"
    );
    assert!(titles
        .iter()
        .any(|t| t.starts_with("keyrot: forever has no expiry date")));
    assert!(
        annotations[0].data.contains("Rotate it now"),
        "{}",
        annotations[0].data
    );
    assert!(
        annotations[1].data.contains("Renew it"),
        "{}",
        annotations[1].data
    );
    for name in ["healthy", "switched-off", "signing-key"] {
        assert!(!titles.iter().any(|t| t.contains(name)), "{name} annotated");
    }
    let table_start = lines
        .iter()
        .position(|l| l.starts_with("SEVERITY"))
        .expect("table printed");
    // The report is fenced by stop-commands with a random token; keyrot's commands come before.
    let token = lines[table_start - 1]
        .strip_prefix("::stop-commands::")
        .expect("the report is fenced");
    assert_eq!(lines.last(), Some(&format!("::{token}::").as_str()));
    let last_command = lines[..table_start - 1]
        .iter()
        .rposition(|l| l.starts_with("::"))
        .expect("commands printed");
    assert_eq!(lines[last_command], "::endgroup::");
    assert!(lines.contains(&"::group::keyrot: report file, step outputs and summary"));

    // Step outputs, in the heredoc form.
    let outputs = runner.outputs();
    assert_eq!(outputs["status"], "fail");
    assert_eq!(outputs["failed"], "3");
    assert_eq!(outputs["warned"], "3");
    let report_path = PathBuf::from(&outputs["report"]);
    assert!(report_path.is_absolute());
    assert_eq!(report_path, runner.path("keyrot-check-report.json"));
    let report = read_json(&report_path);
    assert_eq!(report["version"], 1);
    assert_eq!(report["status"], "fail");
    assert_eq!(report["counts"]["fail"], 3);
    assert_eq!(report["credentials"].as_array().map(Vec::len), Some(10));

    // The step summary: every credential, most urgent first.
    let summary = runner.read("summary.md");
    assert!(
        summary.starts_with("### keyrot check: failed\n"),
        "{summary}"
    );
    let rows: Vec<&str> = summary.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 2 + 10, "{summary}");
    assert!(rows[2].contains("| expired-secret |"), "{}", rows[2]);

    h.assert_no_planted_values(&[
        &run.stdout,
        &run.stderr,
        &runner.read("output"),
        &summary,
        &std::fs::read_to_string(&report_path).unwrap(),
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_with_output_file_keeps_the_report_clean() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let custom = runner.path("custom-report.json");
    let report_file = runner.path("human.json");
    let mut env = runner.github_env(&h);
    env.push(("KEYROT_REPORT".into(), custom.display().to_string()));
    let run = h
        .run(
            env,
            &[
                "check",
                "--vault",
                &h.vault("soon"),
                "--format",
                "json",
                "--output",
                report_file.to_str().unwrap(),
            ],
        )
        .await;
    run.expect_code(0);
    // The --output file holds the JSON report alone; the CI lines went to stdout.
    let report = read_json(&report_file);
    assert_eq!(report["status"], "warn");
    assert!(
        run.stdout
            .starts_with("::warning title=keyrot%3A in-warn-window expires in 19 days ("),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('{'), "{}", run.stdout);
    // KEYROT_REPORT chose the CI report's path.
    let outputs = runner.outputs();
    assert_eq!(outputs["status"], "warn");
    assert_eq!(outputs["failed"], "0");
    assert_eq!(outputs["warned"], "1");
    assert_eq!(PathBuf::from(&outputs["report"]), custom);
    assert_eq!(read_json(&custom)["counts"], report["counts"]);
    assert!(!runner.path("keyrot-check-report.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn github_without_runner_files_skips_them_quietly() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let mut env = h.client_secret_env();
    env.push(("GITHUB_ACTIONS".into(), "true".into()));
    env.push(("GITHUB_OUTPUT".into(), String::new()));
    env.push((
        "RUNNER_TEMP".into(),
        runner.dir.path().display().to_string(),
    ));
    let run = h.run(env, &["check", "--vault", &h.vault("clean")]).await;
    run.expect_code(0);
    let debug: Vec<String> = run
        .stdout
        .lines()
        .filter_map(gh_command)
        .filter(|c| c.name == "debug")
        .map(|c| c.data)
        .collect();
    assert_eq!(debug.len(), 2, "{}", run.stdout);
    assert!(!run.stdout.contains("::error") && !run.stdout.contains("::warning"));
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    assert_eq!(
        read_json(&runner.path("keyrot-check-report.json"))["status"],
        "pass"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_unwritable_output_is_a_runtime_error_after_the_report() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let missing = runner.path("no/such/dir/output");
    let mut env = runner.github_env(&h);
    env.retain(|(k, _)| k != "GITHUB_OUTPUT");
    env.push(("GITHUB_OUTPUT".into(), missing.display().to_string()));
    let run = h.run(env, &["check", "--vault", &h.vault("clean")]).await;
    run.expect_code(3);
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("SEVERITY"),
        "the report is still printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_warn_only_succeeds_with_issues_and_sets_outputs() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let run = h
        .run(
            runner.azure_env(&h),
            &["check", "--vault", &h.vault("soon")],
        )
        .await;
    run.expect_code(0);
    let commands: Vec<VsoCommand> = run.stdout.lines().filter_map(vso_command).collect();
    let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "task.logissue",
            "task.setvariable",
            "task.setvariable",
            "task.setvariable",
            "task.setvariable",
            "task.complete",
        ],
        "{}",
        run.stdout
    );
    assert_eq!(commands[0].properties["type"], "warning");
    assert!(
        commands[0]
            .data
            .starts_with("keyrot: in-warn-window expires in 19 days ("),
        "{}",
        commands[0].data
    );
    let variables: BTreeMap<&str, &str> = commands[1..5]
        .iter()
        .map(|c| {
            assert_eq!(c.properties["isOutput"], "true");
            (c.properties["variable"].as_str(), c.data.as_str())
        })
        .collect();
    assert_eq!(variables["KEYROT_STATUS"], "warn");
    assert_eq!(variables["KEYROT_FAILED"], "0");
    assert_eq!(variables["KEYROT_WARNED"], "1");
    let report_path = runner.path("keyrot-check-report.json");
    assert_eq!(
        variables["KEYROT_REPORT"],
        report_path.display().to_string()
    );
    assert_eq!(read_json(&report_path)["status"], "warn");
    assert_eq!(commands[5].properties["result"], "SucceededWithIssues");
    assert!(run
        .stdout
        .contains("##[group]keyrot: report file and output variables\n"));
    let table_start = run.stdout.find("SEVERITY").expect("table printed");
    assert!(run.stdout.rfind("##").unwrap() < table_start);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_failure_logs_errors_and_leaves_the_result_to_the_exit_code() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let run = h
        .run(
            runner.azure_env(&h),
            &["check", "--vault", &h.vault("gate"), "--versions"],
        )
        .await;
    run.expect_code(1);
    let commands: Vec<VsoCommand> = run.stdout.lines().filter_map(vso_command).collect();
    let issues: Vec<&str> = commands
        .iter()
        .filter(|c| c.name == "task.logissue")
        .map(|c| c.properties["type"].as_str())
        .collect();
    // Secrets only: 2 fail (expired, expiring soon); 4 warn (later, forever, future, rotated@…).
    assert_eq!(
        issues,
        ["error", "error", "warning", "warning", "warning", "warning"]
    );
    assert!(!commands.iter().any(|c| c.name == "task.complete"));
    let status = commands
        .iter()
        .find(|c| c.properties.get("variable").map(String::as_str) == Some("KEYROT_STATUS"))
        .expect("status variable");
    assert_eq!(status.data, "fail");
    h.assert_no_planted_values(&[
        &run.stdout,
        &run.stderr,
        &runner.read("keyrot-check-report.json"),
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ci_none_under_github_adds_nothing() {
    let h = Harness::start(&common::standard_seed()).await;
    for how in ["flag", "env"] {
        let runner = Runner::new();
        let mut env = runner.github_env(&h);
        let mut args = vec!["check", "--vault", "", "--format", "json"];
        let vault = h.vault("gate");
        args[2] = &vault;
        if how == "flag" {
            args.extend(["--ci", "none"]);
        } else {
            env.push(("KEYROT_CI".into(), "none".into()));
        }
        let run = h.run(env, &args).await;
        run.expect_code(1);
        // stdout is the JSON report and nothing else.
        assert_eq!(run.json()["status"], "fail", "{how}");
        assert!(!run.stdout.contains("::"), "{how}: {}", run.stdout);
        assert!(!runner.path("output").exists(), "{how}");
        assert!(!runner.path("summary.md").exists(), "{how}");
        assert!(!runner.path("keyrot-check-report.json").exists(), "{how}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forcing_a_system_and_rejecting_a_bad_one() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    // No CI variables at all, but --ci azure: the Azure protocol is spoken.
    let mut env = h.client_secret_env();
    env.push((
        "AGENT_TEMPDIRECTORY".into(),
        runner.dir.path().display().to_string(),
    ));
    let run = h
        .run(
            env,
            &["check", "--vault", &h.vault("clean"), "--ci", "azure"],
        )
        .await;
    run.expect_code(0);
    assert!(run
        .stdout
        .contains("##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]pass\n"));
    assert!(!run.stdout.contains("task.complete"));

    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean"), "--ci", "jenkins"],
        )
        .await;
    run.expect_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_on_stdout_under_ci_moves_the_commands_to_stderr() {
    let h = Harness::start(&common::standard_seed()).await;
    let runner = Runner::new();
    let vault = h.vault("gate");
    let run = h
        .run(
            runner.github_env(&h),
            &["check", "--vault", &vault, "--format", "json"],
        )
        .await;
    run.expect_code(1);
    // stdout parses as the report alone, so `keyrot check --format json | jq` works in a step.
    assert_eq!(run.json()["status"], "fail");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("::error title=keyrot%3A expired-secret")),
        "{}",
        run.stderr
    );
    assert_eq!(runner.outputs()["status"], "fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_vault_still_gets_annotations_outputs_summary_and_report() {
    let h = Harness::start(&common::standard_seed()).await;
    let locked = h.vault("locked");
    let runner = Runner::new();
    let run = h
        .run(
            runner.github_env(&h),
            &["check", "--vault", &h.vault("soon"), "--vault", &locked],
        )
        .await;
    // The readable vault only warned; the gate still fails with exit 3.
    run.expect_code(3);
    let commands: Vec<GhCommand> = run.stdout.lines().filter_map(gh_command).collect();
    let annotations: Vec<&GhCommand> = commands
        .iter()
        .filter(|c| c.name == "error" || c.name == "warning")
        .collect();
    let levels: Vec<&str> = annotations.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(levels, ["error", "warning"], "{}", run.stdout);
    assert_eq!(
        annotations[0].properties["title"],
        "keyrot: cannot read secrets in locked"
    );
    assert!(annotations[0].data.contains("permission denied"));
    assert!(annotations[1].properties["title"].contains("in-warn-window"));

    let outputs = runner.outputs();
    assert_eq!(outputs["status"], "fail");
    assert_eq!(outputs["failed"], "0");
    assert_eq!(outputs["warned"], "1");
    let report = read_json(Path::new(&outputs["report"]));
    assert_eq!(report["errors"][0]["vault"], locked);
    assert_eq!(report["errors"][0]["reason"], "forbidden");
    assert_eq!(report["credentials"].as_array().map(Vec::len), Some(1));
    let summary = runner.read("summary.md");
    assert!(summary.contains("**Could not be read**"), "{summary}");
    assert!(summary.contains("| in-warn-window |"), "{summary}");
    // The table on stdout says the same.
    assert!(run.stdout.contains("ERROR secrets in locked (forbidden)"));
    assert!(
        run.stderr.contains("could not read everything"),
        "{}",
        run.stderr
    );

    // Azure Pipelines: an issue for the vault, no SucceededWithIssues.
    let runner = Runner::new();
    let run = h
        .run(
            runner.azure_env(&h),
            &["check", "--vault", &h.vault("soon"), "--vault", &locked],
        )
        .await;
    run.expect_code(3);
    let issues: Vec<VsoCommand> = run
        .stdout
        .lines()
        .filter_map(vso_command)
        .filter(|c| c.name == "task.logissue")
        .collect();
    assert_eq!(issues.len(), 2, "{}", run.stdout);
    assert_eq!(issues[0].properties["type"], "error");
    assert!(issues[0]
        .data
        .starts_with("keyrot: cannot read secrets in locked: "));
    assert!(
        !run.stdout.contains("SucceededWithIssues"),
        "{}",
        run.stdout
    );
}
