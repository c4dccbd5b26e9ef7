//! `keyrot fetch` end to end: the real binary against the in-process emulator, under each CI
//! system and outside CI. Every test searches every output, file and request for the values.

mod common;

use common::{Harness, Run, CLIENT_ID, CLIENT_SECRET};

const DB: &str = "FETCH-db-9c1e $'\"#\\ end";
const LINE1: &str = "FETCH-multi-line1-77aa";
const LINE2: &str = "FETCH-multi-line2-88bb";
const API: &str = "FETCH-api-3b7d";
const EXPIRED: &str = "FETCH-expired-1d2e";
const EARLY: &str = "FETCH-early-5f6a";
const OFF: &str = "FETCH-off-0a0b";

fn multi() -> String {
    format!("{LINE1}\n{LINE2}")
}

fn values() -> Vec<String> {
    vec![
        DB.into(),
        multi(),
        LINE1.into(),
        LINE2.into(),
        API.into(),
        EXPIRED.into(),
        EARLY.into(),
        OFF.into(),
    ]
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
"#,
        db = toml(DB),
        multi = toml(&multi()),
        api = toml(API),
        expired = toml(EXPIRED),
        early = toml(EARLY),
        off = toml(OFF),
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

    async fn fetch(&self, env: Vec<(String, String)>, args: &[&str]) -> Run {
        let vault = self.harness.vault("app");
        let mut all = vec!["fetch", "--vault", vault.as_str()];
        all.extend_from_slice(args);
        self.harness.run(env, &all).await
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

    fn gets(&self) -> usize {
        self.harness
            .emulator
            .requests()
            .iter()
            .filter(|r| r.route == "secrets.get")
            .count()
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

#[tokio::test]
async fn github_masks_every_value_and_line_first_then_fills_the_job_environment() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.github_env(),
            &[
                "--name",
                "db-password",
                "--name",
                "tls-*",
                "--name",
                "api-key",
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
    for value in [
        DB.to_string(),
        multi(),
        LINE1.into(),
        LINE2.into(),
        API.into(),
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
    assert_eq!(exported.len(), 3);
    assert!(f.read("github_output").is_empty());
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
    let env = f.env(&[("TF_BUILD", "True".into())]);
    let run = f
        .fetch(env, &["--name", "db-password", "--name", "tls-bundle"])
        .await;
    run.expect_code(0);
    let mut variables = Vec::new();
    let mut secrets_marked = Vec::new();
    for line in run.stdout.lines() {
        if let Some(rest) = line.strip_prefix("##vso[task.setvariable ") {
            let (props, data) = rest.split_once(']').unwrap();
            assert!(props.contains("issecret=true"), "{props}");
            let name = props
                .split(';')
                .find_map(|p| p.strip_prefix("variable="))
                .unwrap();
            // A secret must be marked before its variable line can echo anywhere.
            variables.push((name.to_string(), azure_unescape(data)));
        } else if let Some(data) = line.strip_prefix("##vso[task.setsecret]") {
            assert!(variables.is_empty(), "setsecret after a variable was set");
            secrets_marked.push(azure_unescape(data));
        } else {
            f.assert_no_values(&[line]);
        }
    }
    variables.sort();
    assert_eq!(
        variables,
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
async fn expired_disabled_and_not_yet_valid_secrets_stop_the_export_before_any_read() {
    let f = Fixture::start().await;
    let run = f.fetch(f.github_env(), &["--name", "*"]).await;
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
    assert_eq!(
        f.gets(),
        0,
        "a value was read although the export was refused"
    );
    assert!(f.read("github_env").is_empty());
    f.assert_no_values(&[&run.stdout, &run.stderr]);
}

#[tokio::test]
async fn allow_expired_exports_expired_and_early_secrets_but_never_disabled_ones() {
    let f = Fixture::start().await;
    let out = f.path("values.json");
    let env = f.env(&[]);
    let run = f
        .fetch(
            env.clone(),
            &[
                "--name",
                "old-token",
                "--name",
                "next-token",
                "--allow-expired",
                "--format",
                "json",
                "--output",
                &out,
            ],
        )
        .await;
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&f.read("values.json")).unwrap();
    assert_eq!(doc["version"], 1);
    let secrets = doc["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0]["name"], "next-token");
    assert_eq!(secrets[0]["value"], EARLY);
    assert_eq!(secrets[1]["variable"], "OLD_TOKEN");
    assert_eq!(secrets[1]["value"], EXPIRED);
    assert!(secrets[1]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    f.assert_no_values(&[&run.stdout, &run.stderr]);

    let run = f
        .fetch(
            env,
            &["--name", "switched-off", "--allow-expired", "--stdout"],
        )
        .await;
    run.expect_code(1);
    assert!(run.stderr.contains("disabled"));
    f.assert_no_values(&[&run.stdout, &run.stderr]);
}

#[tokio::test]
async fn env_file_is_private_and_reads_back() {
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
                "db-password",
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
    let text = f.read("app.env");
    assert_eq!(
        text,
        format!("API_KEY='{API}'\nDB_PASSWORD=\"FETCH-db-9c1e $'\\\"#\\\\ end\"\n")
    );
    f.assert_no_values(&[&run.stdout, &run.stderr]);
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

#[tokio::test]
async fn a_name_that_selects_nothing_is_reported() {
    let f = Fixture::start().await;
    let run = f
        .fetch(
            f.env(&[]),
            &["--name", "api-key", "--name", "db-pasword", "--stdout"],
        )
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("--name db-pasword"), "{}", run.stderr);
    assert!(!run.stderr.contains("--name api-key"));
    assert_eq!(f.gets(), 0);
    assert!(run.stdout.is_empty());
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
    let run = h
        .run(
            h.client_secret_env(),
            &["fetch", "--vault", &vault, "--name", "api-key", "--stdout"],
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
