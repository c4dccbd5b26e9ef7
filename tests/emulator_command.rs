//! `keyrot emulator` as a user runs it: the JSON line and `--env-file` carry every variable a
//! client needs, a shell reads them back byte for byte, the login they name works, and the env
//! file is private, whole, never written through a symbolic link and gone when the emulator stops.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{keyrot_command, Run};

/// Every variable the emulator hands out, in its order.
const ALL_VARIABLES: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "KEYROT_CA_CERT",
    "KEYROT_GRAPH_URL",
    "KEYROT_ARM_URL",
    "KEYROT_VAULTS",
    "KEYROT_AZURE_DEVOPS_URL",
    "GITHUB_API_URL",
];

/// A client secret no shell may expand: `$`, a backtick, `$(…)`, a double quote, `#`, spaces.
const ODD_SECRET: &str = "odd $HOME `id` $(touch pwned) \"q\" #not-a-comment ~x";

/// A running `keyrot emulator`; killed when dropped.
struct Running {
    child: Child,
    info: serde_json::Value,
    stderr_path: PathBuf,
}

impl Running {
    fn start(dir: &Path, args: &[&str]) -> Running {
        let stderr_path = dir.join("emulator.stderr");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = keyrot_command(&[])
            .arg("emulator")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("keyrot emulator starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        // Generous: the machine may be busy with builds.
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let info = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!(
                "no JSON line ({e}): {line:?}\nstderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        });
        Running {
            child,
            info,
            stderr_path,
        }
    }

    fn env(&self) -> &serde_json::Map<String, serde_json::Value> {
        self.info["env"].as_object().expect("the JSON line has env")
    }

    fn var(&self, name: &str) -> &str {
        self.env()[name].as_str().unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the emulator did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One-shot `keyrot emulator` that is expected to refuse its arguments.
fn emulator_refuses(dir: &Path, args: &[&str]) -> Run {
    let output = keyrot_command(&[])
        .arg("emulator")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::from(output)
}

/// What `set -a; . FILE; set +a` in `shell` puts in the environment: the named variables,
/// printed NUL-separated so that every byte survives.
fn sourced(shell: &str, file: &Path, names: &[&str]) -> Vec<String> {
    let script = format!(
        r#"set -a; . "$1"; set +a; for n in {}; do eval "v=\${{$n-<unset>}}"; printf '%s\0' "$v"; done"#,
        names.join(" ")
    );
    let work = file.parent().unwrap();
    let output = Command::new(shell)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", work)
        .current_dir(work)
        .args(["-c", &script, "sh"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{shell} could not source {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !work.join("pwned").exists(),
        "{shell} ran a command from the env file"
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_terminator('\0').map(str::to_owned).collect()
}

fn write_seed(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("seed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_demo_emulator_hands_out_every_variable_and_a_login_that_reads_graph() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("emulator.env");
    let emulator = Running::start(dir.path(), &["--env-file", "emulator.env"]);

    // The JSON line keeps every field it had, and gains client_id and env.
    for key in [
        "port",
        "ca_path",
        "authority_host",
        "graph_url",
        "tenant_id",
        "admin_url",
        "vaults",
        "github_oidc_request_url",
        "azure_pipelines_oidc_url",
        "msi_endpoint",
    ] {
        assert!(emulator.info.get(key).is_some(), "{key} missing");
    }
    let names: Vec<&str> = emulator.env().keys().map(String::as_str).collect();
    // The demo seed has an Azure DevOps PAT and a GitHub token (the demo's loop uses them).
    let mut expected = ALL_VARIABLES.to_vec();
    expected.extend(["AZURE_DEVOPS_EXT_PAT", "GITHUB_TOKEN"]);
    expected.sort_unstable();
    assert_eq!(names, expected, "env holds exactly the client variables");
    assert_eq!(
        emulator.var("AZURE_CLIENT_ID"),
        keyrot_emulator::DEMO_CLIENT_ID
    );
    assert_eq!(emulator.info["client_id"], keyrot_emulator::DEMO_CLIENT_ID);
    assert_eq!(
        emulator.var("AZURE_CLIENT_SECRET"),
        keyrot_emulator::DEMO_CLIENT_SECRET
    );
    assert_eq!(
        emulator.var("AZURE_AUTHORITY_HOST"),
        emulator.info["authority_host"]
    );
    assert_eq!(emulator.var("KEYROT_CA_CERT"), emulator.info["ca_path"]);
    assert_eq!(emulator.var("KEYROT_GRAPH_URL"), emulator.info["graph_url"]);
    assert_eq!(
        emulator.var("KEYROT_AZURE_DEVOPS_URL"),
        emulator.info["azure_devops_url"]
    );
    assert_eq!(
        emulator.var("GITHUB_API_URL"),
        emulator.info["github_api_url"]
    );
    assert_eq!(emulator.var("AZURE_TENANT_ID"), emulator.info["tenant_id"]);
    let vaults = &emulator.info["vaults"];
    assert_eq!(
        emulator.var("KEYROT_VAULTS"),
        format!(
            "{},{}",
            vaults["demo"].as_str().unwrap(),
            vaults["payments"].as_str().unwrap()
        )
    );

    // The file: private, and the same values for bash and dash.
    #[cfg(unix)]
    assert_eq!(mode(&env_file), 0o600);
    for shell in ["bash", "dash"] {
        let values = sourced(shell, &env_file, ALL_VARIABLES);
        let want: Vec<&str> = ALL_VARIABLES.iter().map(|n| emulator.var(n)).collect();
        assert_eq!(values, want, "{shell}");
    }

    // The variables alone are enough: Key Vault through the challenge and token path, and
    // Graph (Application.Read.All) for the demo app's passwords and certificate.
    let env: Vec<(String, String)> = emulator
        .env()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let check = Run::from(
        keyrot_command(&env)
            .args(["check", "--app", keyrot_emulator::DEMO_CLIENT_ID])
            .args(["--kinds", "secrets,certificates", "--format", "json"])
            .output()
            .unwrap(),
    );
    check.expect_code(1); // the demo vaults hold expired credentials on purpose
    let report = check.json();
    let entra: Vec<(&str, &str)> = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "entra")
        .map(|c| (c["kind"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    for want in [
        ("app-password", "expired"),
        ("app-password", "expiring"),
        ("app-password", "valid"),
        ("app-certificate", "expiring"),
    ] {
        assert!(entra.contains(&want), "{want:?} not in {entra:?}");
    }
    let vault_names: Vec<&str> = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["vault"].as_str())
        .collect();
    assert!(vault_names.iter().any(|v| v.contains("//demo.")));
    assert!(vault_names.iter().any(|v| v.contains("//payments.")));
    // The login is printed where asked, never logged.
    assert!(!emulator
        .stderr()
        .contains(keyrot_emulator::DEMO_CLIENT_SECRET));

    assert_eq!(emulator.stop(), 0);
    assert!(
        !env_file.exists(),
        "the env file outlived the emulator it describes"
    );
}

#[test]
fn the_first_clients_first_working_secret_is_handed_out_and_read_back_literally() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(
        dir.path(),
        &format!(
            r#"
[[client]]
client_id = "first-client"
secrets = [
  {{ value = "expired-one", end = "-1d" }},
  {{ value = "not-started", start = "+1d" }},
  {{ value = "not-replicated", valid_after_seconds = 3600 }},
  {{ value = '{ODD_SECRET}' }},
  {{ value = "later-one" }},
]

[[client]]
client_id = "second-client"
secrets = [{{ value = "second-secret" }}]

[[vault]]
name = "only"
"#
        ),
    );
    let env_file = dir.path().join("sub.env");
    let emulator = Running::start(
        dir.path(),
        &["--seed", seed.to_str().unwrap(), "--env-file", "sub.env"],
    );
    assert_eq!(emulator.var("AZURE_CLIENT_ID"), "first-client");
    assert_eq!(emulator.var("AZURE_CLIENT_SECRET"), ODD_SECRET);
    assert_eq!(
        emulator.var("KEYROT_VAULTS"),
        emulator.info["vaults"]["only"].as_str().unwrap()
    );
    for shell in ["bash", "dash"] {
        assert_eq!(
            sourced(
                shell,
                &env_file,
                &["AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID"]
            ),
            [ODD_SECRET, "first-client"],
            "{shell}"
        );
    }
    // eval of the file's text, the other way the env form is meant to be used.
    let evaluated = Command::new("bash")
        .env_clear()
        .current_dir(dir.path())
        .args([
            "-c",
            "set -a; eval \"$(cat sub.env)\"; set +a; printf %s \"$AZURE_CLIENT_SECRET\"",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(evaluated.stdout).unwrap(), ODD_SECRET);
    assert!(!dir.path().join("pwned").exists());
    assert_eq!(emulator.stop(), 0);
}

/// A seed with Azure DevOps and GitHub tokens hands out the first PAT and the first GitHub
/// token that may write secrets (a workflow's own token cannot), beside the two API bases.
#[test]
fn the_first_devops_pat_and_github_token_that_can_write_are_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(
        dir.path(),
        r#"
[[client]]
client_id = "c"
secrets = [{ value = "s" }]

[[devops.identity]]
display_name = "keyrot"
unique_name = "keyrot@contoso.com"

[[devops.pat]]
token = "first-pat-value"
identity = "keyrot@contoso.com"

[[devops.pat]]
token = "second-pat-value"
identity = "keyrot@contoso.com"

[[github.token]]
token = "workflow-token-value"
login = "github-actions[bot]"
kind = "workflow"

[[github.token]]
token = "pat-token-value"
login = "octocat"
"#,
    );
    let emulator = Running::start(
        dir.path(),
        &["--seed", seed.to_str().unwrap(), "--env-file", "sub.env"],
    );
    assert_eq!(emulator.var("AZURE_DEVOPS_EXT_PAT"), "first-pat-value");
    assert_eq!(emulator.var("GITHUB_TOKEN"), "pat-token-value");
    let port = emulator.info["port"].as_u64().unwrap();
    assert_eq!(
        emulator.var("KEYROT_AZURE_DEVOPS_URL"),
        format!("https://devops.localhost:{port}")
    );
    assert_eq!(
        emulator.var("GITHUB_API_URL"),
        format!("https://api.github.localhost:{port}")
    );
    let file = dir.path().join("sub.env");
    assert_eq!(
        sourced("bash", &file, &["AZURE_DEVOPS_EXT_PAT", "GITHUB_TOKEN"]),
        ["first-pat-value", "pat-token-value"]
    );
    assert_eq!(emulator.stop(), 0);
}

#[test]
fn a_seed_without_a_usable_client_secret_says_so_and_leaves_the_variable_out() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(
        dir.path(),
        r#"
[[client]]
client_id = "federated-only"
federated_subjects = ["repo:acme/app:ref:refs/heads/main"]
secrets = [{ value = "long-gone", end = "-30d" }]

[[client]]
client_id = "has-a-secret"
secrets = [{ value = "not-the-first-client" }]
"#,
    );
    let emulator = Running::start(
        dir.path(),
        &["--seed", seed.to_str().unwrap(), "--env-file", "e.env"],
    );
    assert_eq!(emulator.var("AZURE_CLIENT_ID"), "federated-only");
    assert!(emulator.env().get("AZURE_CLIENT_SECRET").is_none());
    assert!(
        emulator.env().get("KEYROT_VAULTS").is_none(),
        "no vaults, no variable"
    );
    let file = std::fs::read_to_string(dir.path().join("e.env")).unwrap();
    assert!(!file.contains("AZURE_CLIENT_SECRET"), "{file}");
    assert!(!file.contains("not-the-first-client"), "{file}");
    let stderr = emulator.stderr();
    assert!(
        stderr.contains("federated-only") && stderr.contains("AZURE_CLIENT_SECRET is not set"),
        "{stderr}"
    );
    assert_eq!(emulator.stop(), 0);

    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "[[vault]]\nname = \"lonely\"\n");
    let emulator = Running::start(dir.path(), &["--seed", seed.to_str().unwrap()]);
    assert!(emulator.env().get("AZURE_CLIENT_ID").is_none());
    assert!(emulator.info["client_id"].is_null());
    assert!(
        emulator.stderr().contains("the seed has no [[client]]"),
        "{}",
        emulator.stderr()
    );
    assert_eq!(emulator.stop(), 0);
}

#[cfg(unix)]
#[test]
fn the_env_file_is_never_written_through_a_symbolic_link_nor_with_an_unsafe_value() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("link.env")).unwrap();
    let run = emulator_refuses(dir.path(), &["--env-file", "link.env"]);
    run.expect_code(2);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(run.stdout.is_empty(), "no JSON line for a refused start");

    // A folder at the path, or a path in a folder that does not exist: said plainly.
    std::fs::create_dir(dir.path().join("folder.env")).unwrap();
    for (path, why) in [
        ("folder.env", "is not a regular file"),
        ("missing/e.env", "does not exist"),
    ] {
        let run = emulator_refuses(dir.path(), &["--env-file", path]);
        run.expect_code(2);
        assert!(run.stderr.contains(why), "{path}: {}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "{path}: no JSON line for a refused start"
        );
    }

    // A secret a shell would not read back literally: refused, unwritten, unshown.
    let seed = write_seed(
        dir.path(),
        "[[client]]\nclient_id = \"c\"\nsecrets = [{ value = \"it's-a-SECRET-7c1\" }]\n",
    );
    let run = emulator_refuses(
        dir.path(),
        &["--seed", seed.to_str().unwrap(), "--env-file", "q.env"],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("AZURE_CLIENT_SECRET"), "{}", run.stderr);
    assert!(!run.stderr.contains("SECRET-7c1"), "{}", run.stderr);
    assert!(!dir.path().join("q.env").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".keyrot-emulator-env-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // An existing regular file is replaced whole, with private permissions.
    std::fs::write(dir.path().join("old.env"), "STALE=1\n").unwrap();
    let emulator = Running::start(dir.path(), &["--env-file", "old.env"]);
    let text = std::fs::read_to_string(dir.path().join("old.env")).unwrap();
    assert!(!text.contains("STALE"), "{text}");
    assert_eq!(mode(&dir.path().join("old.env")), 0o600);
    assert_eq!(emulator.stop(), 0);
}
