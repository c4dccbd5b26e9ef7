//! `keyrot fetch` end to end: the real binary against the in-process emulator (and, for answers
//! no honest server gives, a small hostile one), under each CI system and outside CI. Every test
//! searches every output, file and request for the planted values.
//!
//! The env-file writer is also checked on its own, against the readers it promises to agree
//! with: bash and dash (`set -a; . file`) and python-dotenv (the repo's `.venv`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Harness, Run, CLIENT_ID, CLIENT_SECRET};
use keyrot::fetch::dotenv;
use keyrot_emulator::FaultRule;

const DB: &str = "FETCH-db-9c1e $'\"#\\ end";
const LINE1: &str = "FETCH-multi-line1-77aa";
const LINE2: &str = "FETCH-multi-line2-88bb";
const API: &str = "FETCH-api-3b7d";
const EXPIRED: &str = "FETCH-expired-1d2e";
const EARLY: &str = "FETCH-early-5f6a";
const OFF: &str = "FETCH-off-0a0b";
const CR1: &str = "FETCH-cr-part1-4c4c";
const CR2: &str = "FETCH-cr-part2-5d5d";
const OTHER_DB: &str = "FETCH-other-db-6e6e";
const OTHER_ONLY: &str = "FETCH-other-only-7f7f";
const BASH_ENV: &str = "FETCH-bash-env-8a8a";
const PATH_VALUE: &str = "FETCH-path-9b9b";

fn multi() -> String {
    format!("{LINE1}\n{LINE2}")
}

fn with_cr() -> String {
    format!("{CR1}\r{CR2}")
}

fn values() -> Vec<String> {
    let mut values: Vec<String> = [
        DB, LINE1, LINE2, API, EXPIRED, EARLY, OFF, CR1, CR2, OTHER_DB, OTHER_ONLY, BASH_ENV,
        PATH_VALUE,
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();
    values.push(multi());
    values.push(with_cr());
    values
}

fn seed() -> String {
    let toml = |s: &str| serde_json::to_string(s).unwrap(); // a JSON string is a TOML basic string
    format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]

[[vault]]
name = "app"

[[vault.secret]]
name = "db-password"
value = {db}
exp = "+100d"

[[vault.secret]]
name = "tls-bundle"
value = {multi}
exp = "+100d"

[[vault.secret]]
name = "api-key"
value = {api}
exp = "+3d"
tags = {{ owner = "team-a" }}

[[vault.secret]]
name = "old-token"
value = {expired}
exp = "-1d"

[[vault.secret]]
name = "next-token"
value = {early}
nbf = "+2d"

[[vault.secret]]
name = "switched-off"
value = {off}
enabled = false

[[vault]]
name = "other"

[[vault.secret]]
name = "db-password"
value = {other_db}

[[vault.secret]]
name = "other-only"
value = {other_only}

[[vault.secret]]
name = "cr-token"
value = {cr}

[[vault]]
name = "hostile"

[[vault.secret]]
name = "bash-env"
value = {bash_env}

[[vault.secret]]
name = "path"
value = {path}
"#,
        db = toml(DB),
        multi = toml(&multi()),
        api = toml(API),
        expired = toml(EXPIRED),
        early = toml(EARLY),
        off = toml(OFF),
        other_db = toml(OTHER_DB),
        other_only = toml(OTHER_ONLY),
        cr = toml(&with_cr()),
        bash_env = toml(BASH_ENV),
        path = toml(PATH_VALUE),
    )
}

struct Fixture {
    harness: Harness,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture {
            harness: Harness::start(&seed()).await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn env(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env = self.harness.client_secret_env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    }

    fn github_env(&self) -> Vec<(String, String)> {
        self.env(&[
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_ENV", self.path("github_env")),
            ("GITHUB_OUTPUT", self.path("github_output")),
        ])
    }

    fn azure_env(&self) -> Vec<(String, String)> {
        self.env(&[("TF_BUILD", "True".into())])
    }

    /// `keyrot fetch --vault app ARGS…`.
    async fn fetch(&self, env: Vec<(String, String)>, args: &[&str]) -> Run {
        let vault = self.harness.vault("app");
        let mut all = vec!["fetch", "--vault", vault.as_str()];
        all.extend_from_slice(args);
        self.harness.run(env, &all).await
    }

    /// `keyrot fetch ARGS…` (the test names the vaults).
    async fn fetch_from(&self, env: Vec<(String, String)>, args: &[&str]) -> Run {
        let mut all = vec!["fetch"];
        all.extend_from_slice(args);
        self.harness.run(env, &all).await
    }

    /// What the job's later steps get from `$GITHUB_ENV`, by variable.
    fn github_exports(&self) -> BTreeMap<String, String> {
        parse_file_commands(&self.read("github_env"))
            .into_iter()
            .collect()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// No value in any request the emulator saw, nor in the given texts.
    fn assert_no_values(&self, texts: &[&str]) {
        for value in values() {
            for (i, text) in texts.iter().enumerate() {
                assert!(
                    !text.contains(&value),
                    "a secret value leaked into text #{i}"
                );
            }
            for request in self.harness.emulator.requests() {
                assert!(!request.path_and_query.contains(&value), "value in a URL");
                assert!(
                    !String::from_utf8_lossy(&request.body).contains(&value),
                    "value in a request body"
                );
            }
        }
    }

    /// The secrets GET read, by path (`/secrets/api-key`), in order.
    fn gets(&self) -> Vec<String> {
        self.harness
            .emulator
            .requests()
            .iter()
            .filter(|r| r.route == "secrets.get" && r.status == 200)
            .map(|r| {
                let path = r.path_and_query.split('?').next().unwrap_or("");
                path.trim_end_matches('/').to_string()
            })
            .collect()
    }

    fn routes(&self) -> Vec<String> {
        self.harness
            .emulator
            .requests()
            .iter()
            .map(|r| r.route.clone())
            .collect()
    }
}

/// Reads `NAME<<DELIM\nvalue\nDELIM` blocks the way the runner does.
fn parse_file_commands(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (name, delimiter) = line
            .split_once("<<")
            .unwrap_or_else(|| panic!("not a heredoc line: {line:?}"));
        let mut value = Vec::new();
        for next in lines.by_ref() {
            if next == delimiter {
                break;
            }
            value.push(next);
        }
        out.push((name.to_string(), value.join("\n")));
    }
    out
}

/// Undoes the Azure Pipelines agent's escaping of command data.
fn azure_unescape(data: &str) -> String {
    data.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%5D", "]")
        .replace("%3B", ";")
        .replace("%AZP25", "%")
}

/// Undoes the GitHub runner's escaping of command data.
fn github_unescape(data: &str) -> String {
    data.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// The `##vso[task.setvariable]` lines of a run: (name, value), checking each is a secret.
fn azure_variables(stdout: &str) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("##vso[task.setvariable ") {
            let (props, data) = rest.split_once(']').unwrap();
            assert!(props.contains("issecret=true"), "{props}");
            let name = props
                .split(';')
                .find_map(|p| p.strip_prefix("variable="))
                .unwrap();
            variables.push((name.to_string(), azure_unescape(data)));
        }
    }
    variables.sort();
    variables
}

// --- delivery -----------------------------------------------------------------------------------

#[tokio::test]
async fn github_masks_every_value_and_line_first_then_fills_the_job_environment() {
    let f = Fixture::start().await;
    let other = f.harness.vault("other");
    let app = f.harness.vault("app");
    let run = f
        .fetch_from(
            f.github_env(),
            &[
                "--vault",
                &app,
                "--vault",
                &other,
                "--name",
                "app/db-password",
                "--name",
                "tls-*",
                "--name",
                "api-key",
                "--name",
                "cr-token",
            ],
        )
        .await;
    run.expect_code(0);

    let lines: Vec<&str> = run.stdout.lines().collect();
    let masks: Vec<String> = lines
        .iter()
        .take_while(|l| l.starts_with("::add-mask::"))
        .map(|l| github_unescape(&l["::add-mask::".len()..]))
        .collect();
    // Every value, every line of a multi-line value, and both parts of a value split by a
    // bare CR (the runner reads a log line as ending at CR too).
    for value in [
        DB.to_string(),
        multi(),
        LINE1.into(),
        LINE2.into(),
        API.into(),
        with_cr(),
        CR1.into(),
        CR2.into(),
    ] {
        assert!(
            masks.contains(&value),
            "no mask for one value; masks: {}",
            masks.len()
        );
    }
    // Everything after the masks is free of values.
    let rest: Vec<&str> = lines.iter().skip(masks.len()).copied().collect();
    f.assert_no_values(&[&rest.join("\n"), &run.stderr]);

    let exported = parse_file_commands(&f.read("github_env"));
    let get = |n: &str| {
        exported
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("DB_PASSWORD").as_deref(), Some(DB));
    assert_eq!(get("TLS_BUNDLE"), Some(multi()));
    assert_eq!(get("API_KEY").as_deref(), Some(API));
    assert_eq!(get("CR_TOKEN"), Some(with_cr()));
    assert_eq!(exported.len(), 4);
    assert!(f.read("github_output").is_empty());
}

/// What a runner shows of `stdout` once it applied the masks the run registered: every
/// occurrence of a mask, longest first, becomes `***`.
fn as_the_runner_shows(stdout: &str, mask: impl Fn(&str) -> Option<String>) -> String {
    let mut masks: Vec<String> = stdout.lines().filter_map(&mask).collect();
    masks.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let mut shown = Vec::new();
    for line in stdout.lines().filter(|l| mask(l).is_none()) {
        let mut line = line.to_string();
        for m in &masks {
            line = line.replace(m.as_str(), "***");
        }
        shown.push(line);
    }
    shown.join("\n")
}

/// `--stdout --format json` prints values in JSON's escaped form (`\"`, `\\`, `##\u005b`):
/// under CI that form is masked too, or the runner would show it in the log.
#[tokio::test]
async fn json_on_stdout_under_ci_masks_the_escaped_form_it_prints() {
    let f = Fixture::start().await;
    let printed = serde_json::to_string(DB).unwrap();
    let printed = &printed[1..printed.len() - 1];
    assert_ne!(printed, DB, "the planted value must need escaping in JSON");
    for (system, env) in [("github", f.github_env()), ("azure", f.azure_env())] {
        let run = f
            .fetch(
                env,
                &["--name", "db-password", "--stdout", "--format", "json"],
            )
            .await;
        run.expect_code(0);
        assert!(
            run.stdout.contains(printed),
            "{system}: the document shows the value"
        );
        let shown = as_the_runner_shows(&run.stdout, |line| {
            if let Some(data) = line.strip_prefix("::add-mask::") {
                Some(github_unescape(data))
            } else {
                line.strip_prefix("##vso[task.setsecret]")
                    .map(azure_unescape)
            }
        });
        assert!(shown.contains("\"value\": \"***\""), "{system}: {shown}");
        assert!(
            !shown.contains(printed),
            "{system}: the escaped value shows"
        );
        f.assert_no_values(&[&shown, &run.stderr]);
    }
}

#[tokio::test]
async fn github_outputs_instead_of_environment_on_request() {
    let f = Fixture::start().await;
    let run = f
        .fetch(f.github_env(), &["--name", "api-key", "--to", "outputs"])
        .await;
    run.expect_code(0);
    assert!(f.read("github_env").is_empty());
    let outputs = parse_file_commands(&f.read("github_output"));
    assert_eq!(outputs, [("API_KEY".to_string(), API.to_string())]);
}

#[tokio::test]
async fn azure_pipelines_gets_secret_variables_named_like_azurekeyvault_task() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.azure_env(),
            &["--name", "db-password", "--name", "tls-bundle"],
        )
        .await;
    run.expect_code(0);
    let mut secrets_marked = Vec::new();
    let mut seen_variable = false;
    for line in run.stdout.lines() {
        if line.starts_with("##vso[task.setvariable ") {
            seen_variable = true;
        } else if let Some(data) = line.strip_prefix("##vso[task.setsecret]") {
            // A secret must be marked before its variable line can echo anywhere.
            assert!(!seen_variable, "setsecret after a variable was set");
            secrets_marked.push(azure_unescape(data));
        } else {
            f.assert_no_values(&[line]);
        }
    }
    assert_eq!(
        azure_variables(&run.stdout),
        [
            ("db-password".to_string(), DB.to_string()),
            ("tls-bundle".to_string(), multi())
        ]
    );
    for line in [LINE1, LINE2] {
        assert!(
            secrets_marked.iter().any(|s| s == line),
            "line not marked secret"
        );
    }
    f.assert_no_values(&[&run.stderr]);
}

#[tokio::test]
async fn values_reach_stdout_only_when_asked() {
    let f = Fixture::start().await;
    let run = f
        .fetch(f.env(&[]), &["--name", "api-key", "--stdout"])
        .await;
    run.expect_code(0);
    assert_eq!(run.stdout, format!("API_KEY='{API}'\n"));
    f.assert_no_values(&[&run.stderr]);
}

#[tokio::test]
async fn nowhere_to_put_values_is_a_usage_error_before_any_request() {
    let f = Fixture::start().await;
    let run = f.fetch(f.env(&[]), &["--name", "api-key"]).await;
    run.expect_code(2);
    assert!(
        run.stderr.contains("nowhere to put the values"),
        "{}",
        run.stderr
    );
    assert!(f.harness.emulator.requests().is_empty());

    // Under GitHub Actions without the runner's file, say which variable is missing.
    let env = f.env(&[("GITHUB_ACTIONS", "true".into())]);
    let run = f.fetch(env, &["--name", "api-key"]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("GITHUB_ENV"), "{}", run.stderr);
}

// --- selection: exact names, globs, exclusions, several vaults --------------------------------

#[tokio::test]
async fn exact_names_are_read_directly_without_listing_the_vault() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.env(&[]),
            &[
                "--name",
                "api-key",
                "--name",
                "db-password",
                "--stdout",
                "--format",
                "json",
            ],
        )
        .await;
    run.expect_code(0);
    assert_eq!(run.json()["secrets"][1]["value"], DB);
    assert!(
        !f.routes().iter().any(|r| r.ends_with(".list")),
        "an exact name listed the vault: {:?}",
        f.routes()
    );
    let mut gets = f.gets();
    gets.sort();
    assert_eq!(gets, ["/secrets/api-key", "/secrets/db-password"]);

    // One name: the three-request floor (Key Vault's challenge, a token, one GET), nothing more.
    f.harness.emulator.clear_requests();
    let run = f
        .fetch(f.env(&[]), &["--name", "api-key", "--stdout"])
        .await;
    run.expect_code(0);
    assert_eq!(f.routes(), ["challenge", "token", "secrets.get"]);
}

#[tokio::test]
async fn a_refused_exact_name_exports_nothing_and_drops_every_value() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.github_env(),
            &[
                "--name",
                "api-key",
                "--name",
                "old-token",
                "--name",
                "next-token",
                "--name",
                "switched-off",
            ],
        )
        .await;
    run.expect_code(1);
    for (name, why) in [
        ("old-token", "expired at"),
        ("next-token", "not valid until"),
        ("switched-off", "disabled"),
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(name) && l.contains(why)),
            "{name}: {why} missing from:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("nothing was exported"));
    assert!(
        run.stdout.contains("::error"),
        "no annotation:\n{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("::add-mask::"),
        "nothing exported, nothing to mask"
    );
    // Read (one GET each, so judged on what Key Vault serves), but nothing went anywhere.
    assert!(f.read("github_env").is_empty());
    f.assert_no_values(&[&run.stdout, &run.stderr]);
}

#[tokio::test]
async fn globs_skip_disabled_expired_and_early_secrets_with_a_warning_without_reading_them() {
    let f = Fixture::start().await;
    let run = f.fetch(f.github_env(), &["--name", "*"]).await;
    run.expect_code(0);
    let exported = f.github_exports();
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        ["API_KEY", "DB_PASSWORD", "TLS_BUNDLE"]
    );
    for (name, why) in [
        ("old-token", "expired at"),
        ("next-token", "not valid until"),
        ("switched-off", "disabled"),
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("::warning") && l.contains(name) && l.contains(why)),
            "no warning for {name}:\n{}",
            run.stdout
        );
    }
    let mut gets = f.gets();
    gets.sort();
    assert_eq!(
        gets,
        [
            "/secrets/api-key",
            "/secrets/db-password",
            "/secrets/tls-bundle"
        ],
        "a skipped secret's value was read"
    );
    let rest: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    f.assert_no_values(&[&rest.join("\n"), &run.stderr]);

    // --allow-expired exports the expired and early ones; disabled stays skipped.
    let f = Fixture::start().await;
    let run = f.fetch(f.github_env(), &["--allow-expired"]).await;
    run.expect_code(0);
    let exported = f.github_exports();
    assert_eq!(exported["OLD_TOKEN"], EXPIRED);
    assert_eq!(exported["NEXT_TOKEN"], EARLY);
    assert!(!exported.contains_key("SWITCHED_OFF"));
    assert!(run.stdout.contains("keyrot fetch skipped switched-off"));
}

#[tokio::test]
async fn azure_pipelines_skips_with_issues_and_never_fails_on_a_disabled_secret() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.azure_env(),
            &["--name", "*-token", "--name", "switched-*"],
        )
        .await;
    run.expect_code(0);
    assert!(azure_variables(&run.stdout).is_empty());
    assert!(run
        .stdout
        .contains("##vso[task.logissue type=warning;]switched-off"));
    assert!(run
        .stdout
        .contains("##vso[task.complete result=SucceededWithIssues;]"));
}

#[tokio::test]
async fn strict_turns_any_skip_into_a_failure_before_any_value_is_read() {
    let f = Fixture::start().await;
    let run = f.fetch(f.github_env(), &["--strict"]).await;
    run.expect_code(1);
    assert!(run.stderr.contains("--strict"), "{}", run.stderr);
    assert!(run.stderr.contains("switched-off"), "{}", run.stderr);
    assert!(f.gets().is_empty(), "values were read: {:?}", f.gets());
    assert!(f.read("github_env").is_empty());
}

#[tokio::test]
async fn excluded_secrets_are_left_out_silently() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.github_env(),
            &[
                "--exclude",
                "*-token",
                "--exclude",
                "switched-off",
                "--strict",
            ],
        )
        .await;
    run.expect_code(0);
    assert!(!run.stdout.contains("::warning"), "{}", run.stdout);
    let exported = f.github_exports();
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        ["API_KEY", "DB_PASSWORD", "TLS_BUNDLE"]
    );
}

#[tokio::test]
async fn a_name_that_selects_nothing_is_a_usage_error_that_exports_nothing() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.env(&[]),
            &[
                "--name",
                "api-key",
                "--name",
                "db-pasword",
                "--name",
                "nope-*",
                "--stdout",
            ],
        )
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("--name db-pasword"), "{}", run.stderr);
    assert!(run.stderr.contains("--name nope-*"), "{}", run.stderr);
    assert!(!run.stderr.contains("--name api-key"));
    assert!(run.stdout.is_empty());
    f.assert_no_values(&[&run.stdout, &run.stderr]);

    // A tag the named secret does not carry selects nothing either.
    let run = f
        .fetch(
            f.env(&[]),
            &["--name", "db-password", "--tag", "owner=team-a", "--stdout"],
        )
        .await;
    run.expect_code(2);
    assert!(
        run.stderr.contains("with the tags owner=team-a"),
        "{}",
        run.stderr
    );
    let run = f
        .fetch(
            f.env(&[]),
            &["--name", "api-key", "--tag", "owner=team-a", "--stdout"],
        )
        .await;
    run.expect_code(0);
}

#[tokio::test]
async fn several_vaults_from_flags_or_keyrot_vaults_and_each_secret_names_its_vault() {
    let f = Fixture::start().await;
    let (app, other) = (f.harness.vault("app"), f.harness.vault("other"));
    // KEYROT_VAULTS, comma separated, as action.yml and task.json pass them.
    let env = f.env(&[("KEYROT_VAULTS", format!("{app},{other}"))]);
    let run = f
        .fetch_from(
            env,
            &[
                "--name",
                "api-key",
                "--name",
                "other-only",
                "--format",
                "json",
                "--stdout",
            ],
        )
        .await;
    run.expect_code(0);
    let doc = run.json();
    let secrets = doc["secrets"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = secrets
        .iter()
        .map(|s| {
            (
                s["vault"].as_str().unwrap(),
                s["name"].as_str().unwrap(),
                s["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (app.as_str(), "api-key", API),
            (other.as_str(), "other-only", OTHER_ONLY)
        ]
    );
    assert_eq!(doc["vaults"], serde_json::json!([app, other]));

    // The same name in two vaults would be one variable: an error naming both, with renames.
    let run = f
        .fetch_from(
            f.github_env(),
            &["--vault", &app, "--vault", &other, "--name", "db-password"],
        )
        .await;
    run.expect_code(2);
    assert!(
        run.stderr.contains("would all be exported as DB_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("--name app/db-password=APP_DB_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("--name other/db-password=OTHER_DB_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(f.read("github_env").is_empty());
    assert!(!run.stdout.contains("::add-mask::"));

    // Renamed per vault, both are exported.
    let run = f
        .fetch_from(
            f.github_env(),
            &[
                "--vault",
                &app,
                "--vault",
                &other,
                "--name",
                "app/db-password",
                "--name",
                "other/db-password=OTHER_DB",
            ],
        )
        .await;
    run.expect_code(0);
    let exported = f.github_exports();
    assert_eq!(exported["DB_PASSWORD"], DB);
    assert_eq!(exported["OTHER_DB"], OTHER_DB);
}

#[tokio::test]
async fn the_user_chooses_the_variable_on_both_systems_and_in_files() {
    let f = Fixture::start().await;
    let rename = ["--name", "api-key=SERVICE_TOKEN"];

    let run = f.fetch(f.github_env(), &rename).await;
    run.expect_code(0);
    assert_eq!(
        parse_file_commands(&f.read("github_env")),
        [("SERVICE_TOKEN".to_string(), API.to_string())]
    );

    let run = f.fetch(f.azure_env(), &rename).await;
    run.expect_code(0);
    assert_eq!(
        azure_variables(&run.stdout),
        [("SERVICE_TOKEN".to_string(), API.to_string())]
    );

    let (env_file, json) = (f.path("renamed.env"), f.path("renamed.json"));
    let run = f
        .fetch(
            f.env(&[]),
            &[
                rename[0],
                rename[1],
                "--env-file",
                &env_file,
                "--output",
                &json,
                "--format",
                "json",
            ],
        )
        .await;
    run.expect_code(0);
    assert_eq!(f.read("renamed.env"), format!("SERVICE_TOKEN='{API}'\n"));
    let doc: serde_json::Value = serde_json::from_str(&f.read("renamed.json")).unwrap();
    assert_eq!(doc["secrets"][0]["variable"], "SERVICE_TOKEN");
    assert_eq!(doc["secrets"][0]["name"], "api-key");
}

#[tokio::test]
async fn json_uses_the_field_style_of_check_and_lists_what_was_skipped() {
    let f = Fixture::start().await;
    let out = f.path("values.json");
    let run = f
        .fetch(
            f.env(&[]),
            &[
                "--name", "api-key", "--name", "*-token", "--format", "json", "--output", &out,
            ],
        )
        .await;
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&f.read("values.json")).unwrap();
    assert_eq!(doc["version"], 1);
    assert!(doc["fetched_at"].as_str().unwrap().ends_with('Z'));
    let secret = &doc["secrets"][0];
    let keys: Vec<&str> = secret
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "vault",
        "name",
        "variable",
        "version",
        "id",
        "content_type",
        "not_before",
        "expires",
        "tags",
        "value",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(secret["vault"], f.harness.vault("app"));
    assert_eq!(secret["variable"], "API_KEY");
    assert_eq!(secret["value"], API);
    assert_eq!(secret["tags"]["owner"], "team-a");
    assert!(secret["expires"].as_str().unwrap().ends_with('Z'));
    assert!(secret["version"].as_str().is_some_and(|v| !v.is_empty()));
    let skipped: Vec<(&str, &str)> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        skipped,
        [("next-token", "not_yet_valid"), ("old-token", "expired")]
    );
    f.assert_no_values(&[&run.stdout, &run.stderr]);
}

// --- variable names that would reach the shell of later steps ----------------------------------

#[tokio::test]
async fn names_that_change_how_later_steps_run_are_refused_with_the_rename() {
    let f = Fixture::start().await;
    let hostile = f.harness.vault("hostile");

    // Listed: refused after the listing, before any value is read.
    let run = f.fetch_from(f.github_env(), &["--vault", &hostile]).await;
    run.expect_code(2);
    assert!(
        run.stderr.contains("secret bash-env")
            && run.stderr.contains("BASH_ENV")
            && run.stderr.contains("--name bash-env=MY_BASH_ENV")
            && run.stderr.contains("--exclude bash-env"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--name path=MY_PATH"), "{}", run.stderr);
    assert!(f.gets().is_empty(), "a value was read: {:?}", f.gets());
    assert!(f.read("github_env").is_empty());

    // Named exactly: refused before any request at all; the same in an env file.
    let f = Fixture::start().await;
    let hostile = f.harness.vault("hostile");
    let env_file = f.path("x.env");
    for env in [f.github_env(), f.env(&[])] {
        let run = f
            .fetch_from(
                env,
                &[
                    "--vault",
                    &hostile,
                    "--name",
                    "bash-env",
                    "--env-file",
                    &env_file,
                ],
            )
            .await;
        run.expect_code(2);
        assert!(
            run.stderr.contains("--name bash-env=MY_BASH_ENV"),
            "{}",
            run.stderr
        );
    }
    assert!(f.harness.emulator.requests().is_empty());
    assert!(!Path::new(&env_file).exists());

    // Renamed, it goes through.
    let run = f
        .fetch_from(
            f.github_env(),
            &["--vault", &hostile, "--name", "bash-env=MY_BASH_ENV"],
        )
        .await;
    run.expect_code(0);
    assert_eq!(
        parse_file_commands(&f.read("github_env")),
        [("MY_BASH_ENV".to_string(), BASH_ENV.to_string())]
    );

    // Azure: the agent turns `path` into PATH; `bash-env` stays BASH-ENV, harmless.
    let run = f.fetch_from(f.azure_env(), &["--vault", &hostile]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("secret path"), "{}", run.stderr);
    assert!(!run.stderr.contains("secret bash-env"), "{}", run.stderr);
    let run = f
        .fetch_from(f.azure_env(), &["--vault", &hostile, "--name", "bash-env"])
        .await;
    run.expect_code(0);
    assert_eq!(
        azure_variables(&run.stdout),
        [("bash-env".to_string(), BASH_ENV.to_string())]
    );
    // A chosen name is held to the same rule.
    let run = f
        .fetch_from(
            f.github_env(),
            &["--vault", &hostile, "--name", "bash-env=LD_PRELOAD"],
        )
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("LD_*"), "{}", run.stderr);
}

// --- files -------------------------------------------------------------------------------------

#[tokio::test]
async fn env_file_is_private_and_a_value_it_cannot_carry_is_refused_by_name() {
    let f = Fixture::start().await;
    let path = f.path("app.env");
    std::fs::write(&path, "stale").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let run = f
        .fetch(
            f.env(&[]),
            &[
                "--name",
                "tls-bundle",
                "--name",
                "api-key",
                "--env-file",
                &path,
            ],
        )
        .await;
    run.expect_code(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        f.read("app.env"),
        format!("API_KEY='{API}'\nTLS_BUNDLE='{LINE1}\n{LINE2}'\n")
    );
    f.assert_no_values(&[&run.stdout, &run.stderr]);

    // db-password holds ' and $ together; cr-token a carriage return. Neither is written.
    let other = f.harness.vault("other");
    for (vault, name, why) in [
        (
            f.harness.vault("app"),
            "db-password",
            "' or a backslash together with a $",
        ),
        (other, "cr-token", "carriage return"),
    ] {
        let fresh = f.path(&format!("{name}.env"));
        let run = f
            .fetch_from(
                f.github_env(),
                &["--vault", &vault, "--name", name, "--env-file", &fresh],
            )
            .await;
        run.expect_code(2);
        assert!(
            run.stderr.contains(&format!("cannot write secret {name}")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(why), "{}", run.stderr);
        assert!(run.stderr.contains("--format json"), "{}", run.stderr);
        assert!(
            !Path::new(&fresh).exists(),
            "a refused value's file was written"
        );
        // Refused before anything was delivered: no mask printed, nothing in $GITHUB_ENV.
        assert!(!run.stdout.contains("::add-mask::"));
        f.assert_no_values(&[&run.stdout, &run.stderr]);
    }
    assert!(f.read("github_env").is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn env_file_and_output_are_never_written_through_a_symbolic_link() {
    let f = Fixture::start().await;
    let target = f.path("target");
    std::fs::write(&target, "keep").unwrap();
    for flag in ["--env-file", "--output"] {
        let link = f.path(&format!("link{flag}"));
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let run = f
            .fetch(f.env(&[]), &["--name", "api-key", flag, &link])
            .await;
        run.expect_code(2);
        assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
        assert!(
            f.harness.emulator.requests().is_empty(),
            "refused before any request"
        );
    }
    assert_eq!(f.read("target"), "keep");
}

// --- failures ----------------------------------------------------------------------------------

/// Failures before any secret was looked at exit 3, whether the vault is listed or a name is
/// read directly.
#[tokio::test(flavor = "multi_thread")]
async fn authentication_tls_dns_and_missing_vault_failures_exit_3() {
    let f = Fixture::start().await;
    let modes: [&[&str]; 2] = [&["--name", "api-key"], &["--name", "api-*"]];
    for mode in modes {
        let with = |vault: String, env: Vec<(String, String)>| {
            let mut args = vec![
                "fetch".to_string(),
                "--vault".into(),
                vault,
                "--stdout".into(),
            ];
            args.extend(mode.iter().map(|s| s.to_string()));
            args.extend(["--timeout".to_string(), "20s".into()]);
            (args, env)
        };
        let mut wrong_secret = f.env(&[]);
        wrong_secret.retain(|(k, _)| k != "AZURE_CLIENT_SECRET");
        wrong_secret.push(("AZURE_CLIENT_SECRET".into(), "wrong-secret-value-77".into()));
        let mut untrusted = f.env(&[]);
        untrusted.retain(|(k, _)| k != "KEYROT_CA_CERT");
        let cases = [
            (
                "authentication",
                with(f.harness.vault("app"), wrong_secret),
                "AADSTS7000215",
            ),
            (
                "TLS",
                with(f.harness.vault("app"), untrusted),
                "certificate not trusted",
            ),
            (
                "DNS",
                with("https://no-such-vault.invalid".into(), f.env(&[])),
                "cannot resolve host no-such-vault.invalid",
            ),
            (
                "vault not found",
                with(f.harness.vault("missing"), f.env(&[])),
                "VaultNotFound",
            ),
        ];
        for (what, (args, env), expected) in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = f.harness.run(env, &args).await;
            assert_eq!(run.code, 3, "{what} {mode:?}: {}", run.stderr);
            assert!(
                run.stderr.contains(expected),
                "{what} {mode:?}: {}",
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"));
            assert!(run.stdout.is_empty());
            assert!(!run.stderr.contains("wrong-secret-value-77"));
        }
    }
}

#[tokio::test]
async fn a_denied_read_is_a_runtime_error_without_values() {
    let seed = format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]
[[vault]]
name = "app"
access = {{ "{CLIENT_ID}" = ["secrets/list"] }}
[[vault.secret]]
name = "api-key"
value = "{API}"
"#
    );
    let h = Harness::start(&seed).await;
    let vault = h.vault("app");
    for name in ["api-key", "api-*"] {
        let run = h
            .run(
                h.client_secret_env(),
                &["fetch", "--vault", &vault, "--name", name, "--stdout"],
            )
            .await;
        run.expect_code(3);
        assert!(
            run.stderr.contains("Key Vault Secrets User"),
            "{}",
            run.stderr
        );
        assert!(!run.stdout.contains(API) && !run.stderr.contains(API));
    }
}

/// A server whose GET answer names another secret must not rename the export: keyrot stops
/// (exit 3) and exports nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_about_another_secret_exports_nothing() {
    let f = Fixture::start().await;
    let hostile = HostileVault::start(&f.harness, "path").await;
    let mut env = f.github_env();
    env.push((
        "SSL_CERT_FILE".into(),
        hostile.ca_file.display().to_string(),
    ));
    let run = f
        .fetch_from(env, &["--vault", &hostile.url, "--name", "api-key"])
        .await;
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("answered the request for secret \"api-key\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\"path\""), "{}", run.stderr);
    assert!(f.read("github_env").is_empty());
    assert!(!run.stdout.contains(HOSTILE_VALUE) && !run.stderr.contains(HOSTILE_VALUE));
    assert!(
        hostile.answered_with_a_token(),
        "the hostile answer was never requested"
    );
}

/// While fetch holds values its core dumps are off: watched through /proc during a slow read.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn core_dumps_are_off_while_values_are_held() {
    let f = Fixture::start().await;
    f.harness.emulator.add_fault(FaultRule {
        latency_ms: Some(1500),
        ..FaultRule::new("secrets.get")
    });
    let vault = f.harness.vault("app");
    let mut child = common::keyrot_command(&f.env(&[]))
        .args(["fetch", "--vault", &vault, "--name", "api-key", "--stdout"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let core_off = common::core_dumps_turn_off(&mut child, Duration::from_secs(10));
    let status = child.wait().unwrap();
    assert!(
        core_off,
        "core dumps were not turned off while the value was being read"
    );
    assert!(status.success());
}

// --- a hostile Key Vault ------------------------------------------------------------------------

const HOSTILE_VALUE: &str = "FETCH-hostile-value-1a2b";

/// A TLS server at `https://hostile.vault.localhost:PORT` that challenges like Key Vault (so
/// keyrot fetches a real token from the emulator) and then answers every GET with a secret
/// whose id names `claimed`.
struct HostileVault {
    url: String,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    served: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HostileVault {
    async fn start(harness: &Harness, claimed: &str) -> HostileVault {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["hostile.vault.localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("hostile-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("https://hostile.vault.localhost:{port}");
        let challenge = format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.localhost\"",
            harness.emulator.authority_host(),
            harness.emulator.tenant_id()
        );
        let body = serde_json::json!({
            "value": HOSTILE_VALUE,
            "id": format!("{url}/secrets/{claimed}/0123456789abcdef0123456789abcdef"),
            "attributes": {"enabled": true},
        })
        .to_string();
        let served = Arc::new(AtomicBool::new(false));
        let flag = served.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, challenge, body, flag) = (
                    acceptor.clone(),
                    challenge.clone(),
                    body.clone(),
                    flag.clone(),
                );
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buffer = Vec::new();
                    loop {
                        // One request: headers up to the blank line (GETs have no body).
                        let head_end = loop {
                            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                break end + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
                        buffer.drain(..head_end);
                        let response = if head.contains("\r\nauthorization: bearer ") {
                            flag.store(true, Ordering::SeqCst);
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            )
                        } else {
                            let text = r#"{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}"#;
                            format!(
                                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                                text.len()
                            )
                        };
                        if tls.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        HostileVault {
            url,
            ca_file,
            _dir: dir,
            served,
        }
    }

    fn answered_with_a_token(&self) -> bool {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

// --- the env-file writer against bash, dash and python-dotenv ----------------------------------

/// The repo's Python with python-dotenv (`scripts/ensure_venv` creates it on first use).
fn venv_python() -> PathBuf {
    static READY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let status = Command::new("bash")
                .arg(root.join("scripts/ensure_venv"))
                .status()
                .map_err(|e| format!("cannot run scripts/ensure_venv: {e}"))?;
            if !status.success() {
                return Err(format!("scripts/ensure_venv failed: {status}"));
            }
            Ok(root.join(".venv/bin/python"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `shell` on `set -a; . FILE` and returns each variable's bytes (NUL-separated printf).
fn source_with(shell: &str, file: &Path, names: &[String], dir: &Path) -> Vec<Vec<u8>> {
    let reads: String = names.iter().map(|n| format!(" \"${n}\"")).collect();
    let script = format!("set -a; . \"$1\"; printf '%s\\0'{reads}");
    let output = Command::new(shell)
        .args(["-c", &script, shell])
        .arg(file)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {shell} ({e}); install it (apt-get install {shell}; .ci/run does)")
        });
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{shell} failed on the env file: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut values: Vec<Vec<u8>> = output
        .stdout
        .split(|&b| b == 0)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(
        values.pop(),
        Some(Vec::new()),
        "{shell}: output ends with a NUL"
    );
    values
}

/// What python-dotenv (interpolation off) reads from `file`.
fn dotenv_read(file: &Path) -> BTreeMap<String, String> {
    let output = Command::new(venv_python())
        .args([
            "-c",
            "import json, sys\nfrom dotenv import dotenv_values\n\
             sys.stdout.write(json.dumps(dotenv_values(sys.argv[1], interpolate=False)))",
        ])
        .arg(file)
        .output()
        .expect("the venv's python runs");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "python-dotenv: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}

/// Writes `values` as V0…Vn with keyrot's writer (refused ones are checked and left out) and
/// asserts that bash, dash and python-dotenv each read every written value byte for byte.
fn round_trip(values: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    let mut written = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match dotenv::check(value) {
            Ok(()) => {
                names.push(format!("V{i}"));
                written.push(value.clone());
            }
            Err(why) => {
                // Refused only for the documented reasons.
                let expansion = value.contains(['$', '`']);
                let quote = value.contains('\'') || value.contains("\\\\") || value.ends_with('\\');
                let documented = match why {
                    dotenv::Unrepresentable::CarriageReturn => value.contains('\r'),
                    dotenv::Unrepresentable::Nul => value.contains('\0'),
                    dotenv::Unrepresentable::QuoteOrBackslashWithExpansion => expansion && quote,
                };
                assert!(documented, "{value:?} refused for {why:?}");
            }
        }
    }
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(&written)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let text = dotenv::document(&pairs).expect("checked values are written");
    let file = dir.path().join("values.env");
    std::fs::write(&file, text.as_bytes()).unwrap();

    for shell in ["bash", "dash"] {
        let read = source_with(shell, &file, &names, dir.path());
        for ((name, value), got) in names.iter().zip(&written).zip(&read) {
            assert_eq!(
                got,
                value.as_bytes(),
                "{shell} read {name} differently; file:\n{}",
                *text
            );
        }
    }
    let read = dotenv_read(&file);
    for (name, value) in names.iter().zip(&written) {
        assert_eq!(
            read.get(name),
            Some(value),
            "python-dotenv read {name} differently; file:\n{}",
            *text
        );
    }
    assert_eq!(
        read.len(),
        names.len(),
        "python-dotenv read other variables"
    );
}

#[test]
fn sourcing_an_env_file_executes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("executed");
    let m = marker.display();
    let values: Vec<String> = [
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("${{IFS}}$(touch {m})"),
        format!("\\$(touch {m})"),
        format!("'$(touch {m})'"),
        format!("\"$(touch {m})\""),
        format!("x'; touch {m}; echo '"),
        format!("x\"; touch {m}; echo \""),
        format!("x\\\"; touch {m}; echo \\\""),
        format!("it's \"quoted\"\\\nV99=$(touch {m})"),
        format!("\nV98=`touch {m}`\n"),
        "it's a \"quoted\" value\\with\\backslashes".into(),
        "pa$$word ${HOME} $HOME #not-a-comment".into(),
        "tab\there, unicode é € 😀, DEL \u{7f}, SOH \u{1}".into(),
        "ends with a backslash\\".into(),
        "\\\\double\\\\".into(),
        String::new(),
    ]
    .into();
    round_trip(&values);
    assert!(
        !marker.exists(),
        "a value ran a command when the file was sourced"
    );
}

mod env_file_properties {
    use super::round_trip;
    use proptest::prelude::*;

    /// Characters weighted towards the ones that matter to quoting.
    fn character() -> impl Strategy<Value = char> {
        let special = prop::sample::select(vec![
            '\'', '"', '\\', '$', '`', '\n', '\r', '\t', ' ', '#', '(', ')', '{', '}', '!', '*',
            ';', '&', '|', '<', '>', '~', '=', 'é', '€', '😀', '\u{7f}', '\u{1}', '\u{85}',
            '\u{2028}',
        ]);
        prop_oneof![
            4 => (0x20u8..=0x7e).prop_map(char::from),
            4 => special,
            1 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop::collection::vec(character(), 0..32).prop_map(String::from_iter)
    }

    proptest! {
        // Each case starts bash, dash and python once for 48 values: a few seconds in all.
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn bash_dash_and_python_dotenv_read_every_written_value_byte_for_byte(
            values in prop::collection::vec(value(), 48)
        ) {
            round_trip(&values);
        }
    }
}
