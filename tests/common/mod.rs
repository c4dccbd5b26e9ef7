//! Shared harness: an in-process emulator and a way to run the real `keyrot` binary against it
//! with a clean environment (nothing from the developer's or CI's Azure login leaks in).

#![allow(dead_code)]

pub mod runners;

use std::path::PathBuf;
use std::process::{Command, Output};

use keyrot_emulator::{Emulator, EmulatorConfig, Seed};

pub const CLIENT_ID: &str = "keyrot-ci";
pub const CLIENT_SECRET: &str = "ci-login-Zq8Kx1";

/// Planted secret values: tests search every output and request for them.
pub const PLANTED: &[&str] = &[
    "PLANTED-db-password-9f3a77c1",
    "PLANTED-old-version-5be21d0a",
    "PLANTED-api-key-c4e8a2f6",
];

/// A seed with one credential in each state, relative to the emulator's start.
pub fn standard_seed() -> String {
    format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]
federated_subjects = ["repo:keyrot/app:ref:refs/heads/main", "sc://keyrot/keyrot/conn-1"]

[[client]]
client_id = "lister-only"
secrets = [{{ value = "lister-secret" }}]

[github_oidc]
request_token = "gh-request-token"
subject = "repo:keyrot/app:ref:refs/heads/main"

[azure_pipelines]
access_token = "ado-system-access-token"

[managed_identity]
client_id = "{CLIENT_ID}"
header = "msi-header-value"

[[vault]]
name = "gate"

[[vault.secret]]
name = "expired-secret"
value = "{p0}"
exp = "-3d"
tags = {{ owner = "team-a" }}

[[vault.secret]]
name = "expiring-soon"
value = "v"
exp = "+3d"
tags = {{ owner = "team-b" }}

[[vault.secret]]
name = "expiring-later"
value = "v"
exp = "+20d"

[[vault.secret]]
name = "healthy"
value = "{p2}"
exp = "+200d"
tags = {{ owner = "team-a" }}

[[vault.secret]]
name = "forever"
value = "v"

[[vault.secret]]
name = "future"
value = "v"
nbf = "+5d"
exp = "+300d"

[[vault.secret]]
name = "switched-off"
value = "v"
enabled = false
exp = "-10d"

[[vault.secret]]
name = "rotated"
[[vault.secret.version]]
value = "{p1}"
exp = "+100d"
created = "-40d"
[[vault.secret.version]]
value = "new-version"
exp = "+150d"
created = "-10d"

[[vault.certificate]]
name = "tls-cert"
exp = "+2d"

[[vault.key]]
name = "signing-key"
exp = "+400d"

[[vault]]
name = "clean"

[[vault.secret]]
name = "fine"
value = "v"
exp = "+365d"

[[vault]]
name = "soon"

[[vault.secret]]
name = "in-warn-window"
value = "v"
exp = "+20d"

[[vault]]
name = "locked"
access = {{ "{CLIENT_ID}" = ["secrets/get"] }}

[[vault.secret]]
name = "hidden"
value = "v"
exp = "+20d"
"#,
        p0 = PLANTED[0],
        p1 = PLANTED[1],
        p2 = PLANTED[2],
    )
}

pub struct Harness {
    pub emulator: Emulator,
}

impl Harness {
    pub async fn start(seed: &str) -> Harness {
        let seed = Seed::from_toml_str(seed).expect("test seed is valid");
        let emulator = Emulator::start(EmulatorConfig::new(seed))
            .await
            .expect("emulator starts");
        Harness { emulator }
    }

    pub fn vault(&self, name: &str) -> String {
        self.emulator.vault_url(name)
    }

    /// The environment of a pipeline logged in with the test client's secret.
    pub fn client_secret_env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_TENANT_ID".into(), self.emulator.tenant_id().into()),
            ("AZURE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            (
                "AZURE_AUTHORITY_HOST".into(),
                self.emulator.authority_host(),
            ),
            (
                "KEYROT_CA_CERT".into(),
                self.emulator.ca_path().display().to_string(),
            ),
        ]
    }

    /// The environment of a pipeline logged in as `client_id` with `secret`, with
    /// `KEYROT_GRAPH_URL` pointing at the emulator's Microsoft Graph.
    pub fn graph_env(&self, client_id: &str, secret: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .client_secret_env()
            .into_iter()
            .filter(|(k, _)| k != "AZURE_CLIENT_ID" && k != "AZURE_CLIENT_SECRET")
            .collect();
        env.push(("AZURE_CLIENT_ID".into(), client_id.into()));
        env.push(("AZURE_CLIENT_SECRET".into(), secret.into()));
        env.push(("KEYROT_GRAPH_URL".into(), self.emulator.graph_url()));
        env
    }

    /// Runs keyrot with exactly `env` (plus PATH and HOME) and `args`, off the async runtime.
    pub async fn run(&self, env: Vec<(String, String)>, args: &[&str]) -> Run {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let output = tokio::task::spawn_blocking(move || keyrot(&env, &args))
            .await
            .expect("keyrot ran");
        Run::from(output)
    }

    /// Fails the test if any planted value appears in any recorded request (URL, headers or
    /// body) or in the given outputs.
    pub fn assert_no_planted_values(&self, outputs: &[&str]) {
        for value in PLANTED {
            for (i, out) in outputs.iter().enumerate() {
                assert!(
                    !out.contains(value),
                    "planted value leaked into output #{i}"
                );
            }
            for request in self.emulator.requests() {
                assert!(
                    !request.path_and_query.contains(value),
                    "planted value in a URL"
                );
                assert!(
                    !String::from_utf8_lossy(&request.body).contains(value),
                    "planted value in a request body"
                );
                for (_, header) in &request.headers {
                    assert!(!header.contains(value), "planted value in a header");
                }
            }
        }
    }
}

pub fn keyrot_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyrot"))
}

/// The keyrot binary with exactly `env` (plus PATH, HOME and TMPDIR): nothing from the
/// developer's or CI's Azure login leaks in.
pub fn keyrot_command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(keyrot_bin());
    command.env_clear();
    for key in ["PATH", "HOME", "TMPDIR"] {
        if let Ok(value) = std::env::var(key) {
            command.env(key, value);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

/// Starts keyrot with `KEYROT_TEST_PAUSE_AT=step`, waits (up to a minute) until it announces
/// that it paused there, and SIGKILLs it: no cleanup of any kind runs.
pub async fn kill_when_paused(mut command: Command, step: &str) {
    let mut child = command
        .env("KEYROT_TEST_PAUSE_AT", step)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("keyrot binary runs");
    let stderr = child.stderr.take().expect("piped stderr");
    let announced = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("paused at") {
                return (true, seen);
            }
            seen.push(line);
        }
        (false, seen)
    });
    let announced = tokio::time::timeout(std::time::Duration::from_secs(60), announced)
        .await
        .expect("the run reached the step")
        .expect("stderr reader");
    let (announced, stderr) = announced;
    assert!(
        announced,
        "{step}: never paused; stderr:\n{}",
        stderr.join("\n")
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

pub fn keyrot(env: &[(String, String)], args: &[String]) -> Output {
    keyrot_command(env)
        .args(args)
        .output()
        .expect("keyrot binary runs")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); stdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Finds a credential in a JSON report by name (and version, for superseded ones).
pub fn credential<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["credentials"]
        .as_array()
        .expect("credentials array")
        .iter()
        .find(|c| c["name"] == name && c["state"] != "stale_enabled_version")
        .unwrap_or_else(|| panic!("{name} not in report: {report:#}"))
}

/// Polls `/proc/PID/limits` of a running keyrot until its core file size limit is 0 (soft and
/// hard), for at most `within`; false if the process ended first or the limit never dropped.
pub fn core_dumps_turn_off(child: &mut std::process::Child, within: std::time::Duration) -> bool {
    let limits = format!("/proc/{}/limits", child.id());
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        let text = std::fs::read_to_string(&limits).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with("Max core file size")) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "Max core file size  0  0  bytes"
            if fields.get(4) == Some(&"0") && fields.get(5) == Some(&"0") {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
