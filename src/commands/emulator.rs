//! `keyrot emulator`: serve the local Key Vault, Entra ID and Graph emulator until interrupted,
//! and hand the user everything a client needs to reach it: one JSON line on stdout (a
//! contract: scripts and tests read it) and, with `--env-file`, the same variables as a file a
//! shell sources.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use keyrot_emulator::{ClientLogin, Emulator, EmulatorConfig, Seed};

use crate::cli::EmulatorArgs;
use crate::outcome::{Failure, Outcome};

pub async fn run(args: &EmulatorArgs) -> Result<Outcome, Failure> {
    let seed = match &args.seed {
        Some(path) => Seed::from_file(path).map_err(|e| Failure::Usage(format!("{e:#}")))?,
        None => Seed::demo(),
    };
    let vault_names: Vec<String> = seed.vaults.iter().map(|v| v.name.clone()).collect();
    let tokens = ServiceTokens::of(&seed);
    let shutdown = Shutdown::listen();
    let mut config = EmulatorConfig::new(seed);
    config.bind = args.bind;
    config.port = args.port;
    config.state_dir = args.state_dir.clone();
    let emulator = Emulator::start(config)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot start the emulator: {e:#}")))?;

    let login = emulator.client_login();
    warn_about_missing_login(login.as_ref());
    let env = client_env(&emulator, &vault_names, login.as_ref(), &tokens);
    let env_file = match &args.env_file {
        Some(path) => match write_env_file(path, &env) {
            Ok(written) => Some(written),
            Err(failure) => {
                emulator.shutdown().await;
                return Err(failure);
            }
        },
        None => None,
    };

    let vaults: serde_json::Map<String, serde_json::Value> = vault_names
        .iter()
        .map(|name| (name.clone(), emulator.vault_url(name).into()))
        .collect();
    let env_json: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone().into()))
        .collect();
    // One JSON line on stdout is the machine-readable handshake for scripts and tests; fields
    // are only ever added to it.
    let ready = serde_json::json!({
        "port": emulator.port(),
        "ca_path": emulator.ca_path(),
        "authority_host": emulator.authority_host(),
        "graph_url": emulator.graph_url(),
        "tenant_id": emulator.tenant_id(),
        "admin_url": emulator.admin_url(),
        "vaults": vaults,
        "client_id": login.as_ref().map(|l| l.client_id.clone()),
        "env": env_json,
        "github_oidc_request_url": emulator.github_oidc_request_url(),
        "azure_pipelines_oidc_url": emulator.azure_pipelines_oidc_url(),
        "msi_endpoint": emulator.msi_endpoint(),
        "azure_devops_url": emulator.devops_url(),
        "github_api_url": emulator.github_api_url(),
    });
    println!("{ready}");
    tracing::info!(
        "emulator listening on https://localhost:{}; trust {} (KEYROT_CA_CERT); AZURE_AUTHORITY_HOST={}",
        emulator.port(),
        emulator.ca_path().display(),
        emulator.authority_host()
    );
    match &env_file {
        Some(file) => tracing::info!(
            "client variables in {}: set -a; . {}; set +a",
            file.path.display(),
            shell_path(&file.path)
        ),
        None => tracing::info!(
            "client variables: the JSON line's \"env\" (or pass --env-file FILE for a file a shell sources)"
        ),
    }
    shutdown.wait().await;
    emulator.shutdown().await;
    if let Some(file) = env_file {
        file.remove();
    }
    Ok(Outcome::Ok)
}

/// The seed's first Azure DevOps PAT and first GitHub token that may write secrets, which a
/// client uses as `AZURE_DEVOPS_EXT_PAT` and `GITHUB_TOKEN`.
pub(super) struct ServiceTokens {
    pub devops_pat: Option<String>,
    pub github_token: Option<String>,
}

impl ServiceTokens {
    pub(super) fn of(seed: &Seed) -> ServiceTokens {
        ServiceTokens {
            devops_pat: seed
                .devops
                .pats
                .first()
                .map(|t| t.token.expose().to_string()),
            github_token: seed
                .github
                .tokens
                .iter()
                .find(|t| t.kind == keyrot_emulator::GithubTokenKind::Pat)
                .map(|t| t.token.expose().to_string()),
        }
    }
}

/// The variables a client of this emulator needs, in the order `--help` lists them.
fn client_env(
    emulator: &Emulator,
    vault_names: &[String],
    login: Option<&ClientLogin>,
    tokens: &ServiceTokens,
) -> Vec<(&'static str, String)> {
    let mut env = vec![("AZURE_TENANT_ID", emulator.tenant_id().to_string())];
    if let Some(login) = login {
        env.push(("AZURE_CLIENT_ID", login.client_id.clone()));
        if let Some(secret) = &login.secret {
            env.push(("AZURE_CLIENT_SECRET", secret.expose().to_string()));
        }
    }
    env.push(("AZURE_AUTHORITY_HOST", emulator.authority_host()));
    env.push((
        "KEYROT_CA_CERT",
        emulator.ca_path().to_string_lossy().into_owned(),
    ));
    env.push(("KEYROT_GRAPH_URL", emulator.graph_url()));
    env.push(("KEYROT_ARM_URL", emulator.arm_url()));
    if !vault_names.is_empty() {
        let urls: Vec<String> = vault_names.iter().map(|n| emulator.vault_url(n)).collect();
        env.push(("KEYROT_VAULTS", urls.join(",")));
    }
    // Azure DevOps and GitHub, for keyrot's copies and runs (and any client of those APIs).
    env.push(("KEYROT_AZURE_DEVOPS_URL", emulator.devops_url()));
    if let Some(pat) = &tokens.devops_pat {
        env.push(("AZURE_DEVOPS_EXT_PAT", pat.clone()));
    }
    env.push(("GITHUB_API_URL", emulator.github_api_url()));
    if let Some(token) = &tokens.github_token {
        env.push(("GITHUB_TOKEN", token.clone()));
    }
    env
}

fn warn_about_missing_login(login: Option<&ClientLogin>) {
    match login {
        None => tracing::warn!(
            "the seed has no [[client]], so AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set: add a [[client]] with client_id and secrets = [{{ value = \"…\" }}]"
        ),
        Some(ClientLogin {
            client_id,
            secret: None,
        }) => tracing::warn!(
            "client {client_id} (the seed's first [[client]]) has no client secret the token endpoint accepts now, so AZURE_CLIENT_SECRET is not set: give it secrets = [{{ value = \"…\" }}] (started, not expired), or sign in another way (federated token, managed identity)"
        ),
        Some(_) => {}
    }
}

/// `NAME='value'` lines, which POSIX shells (`set -a; . FILE`, `eval`) take literally, `$` and
/// backticks included. A value that cannot be written so (a quote, a backslash, a control
/// character) is refused rather than escaped: readers disagree on every escape.
fn env_file_text(path: &Path, env: &[(&'static str, String)]) -> Result<String, Failure> {
    let mut text = String::new();
    for (name, value) in env {
        if value.contains(['\'', '\\']) || value.chars().any(char::is_control) {
            return Err(Failure::Usage(format!(
                "--env-file {}: the value of {name} holds a quote, backslash or control character, which a shell would not read back literally; nothing was written (change the seed or --state-dir, or read the JSON line's \"env\" instead)",
                path.display()
            )));
        }
        text.push_str(&format!("{name}='{value}'\n"));
    }
    Ok(text)
}

/// An env file this run wrote, removed again when the emulator stops (its values die with it).
struct WrittenEnvFile {
    path: PathBuf,
    identity: Option<FileIdentity>,
}

impl WrittenEnvFile {
    /// Removes the file unless something else has taken its place meanwhile.
    fn remove(self) {
        let still_ours = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) => self.identity.is_none() || FileIdentity::of(&meta) == self.identity,
            Err(_) => false,
        };
        if still_ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<FileIdentity> {
        use std::os::unix::fs::MetadataExt as _;
        Some(FileIdentity {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }

    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Option<FileIdentity> {
        None
    }
}

/// Writes the env file whole: a new private file (0600) beside it, renamed over the path, so
/// a script that waits for the file never reads half of it, and a symbolic link at the path is
/// refused (a rename would replace it, never follow it, either way).
fn write_env_file(path: &Path, env: &[(&'static str, String)]) -> Result<WrittenEnvFile, Failure> {
    let text = env_file_text(path, env)?;
    crate::fetch::private_file::check_destination(path, "--env-file").map_err(Failure::Usage)?;
    let usage = |why: String| Failure::Usage(format!("--env-file {}: {why}", path.display()));
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".keyrot-emulator-env-")
        .tempfile_in(dir)
        .map_err(|e| usage(format!("cannot create a file in {}: {e}", dir.display())))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| usage(format!("cannot write it: {e}")))?;
    let file = temp
        .persist(path)
        .map_err(|e| usage(format!("cannot put it in place: {}", e.error)))?;
    let identity = file
        .metadata()
        .ok()
        .and_then(|meta| FileIdentity::of(&meta));
    Ok(WrittenEnvFile {
        path: path.to_path_buf(),
        identity,
    })
}

/// The path as the log line's `. FILE` needs it: a bare name would be looked up on `PATH`.
fn shell_path(path: &Path) -> String {
    if path.is_absolute() || path.starts_with(".") {
        path.display().to_string()
    } else {
        format!("./{}", path.display())
    }
}

/// SIGINT and SIGTERM, listened for from the start: a script that stops the emulator as soon as
/// it has read the JSON line still gets a clean stop (exit 0, the env file removed), not the
/// default action of a signal that arrived before anyone listened.
struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    fn listen() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
                .ok();
            Shutdown { signals }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_are_single_quoted() {
        let env = vec![
            ("AZURE_CLIENT_SECRET", "a$b`c d#e\"f".to_string()),
            (
                "KEYROT_VAULTS",
                "https://a.vault.localhost:1,https://b".to_string(),
            ),
        ];
        assert_eq!(
            env_file_text(Path::new("e.env"), &env).unwrap(),
            "AZURE_CLIENT_SECRET='a$b`c d#e\"f'\nKEYROT_VAULTS='https://a.vault.localhost:1,https://b'\n"
        );
    }

    #[test]
    fn values_a_shell_would_not_read_literally_are_refused_without_showing_them() {
        for bad in ["it's", "back\\slash", "two\nlines", "cr\r", "nul\0"] {
            let env = vec![("AZURE_CLIENT_SECRET", bad.to_string())];
            match env_file_text(Path::new("e.env"), &env) {
                Err(Failure::Usage(msg)) => {
                    assert!(msg.contains("AZURE_CLIENT_SECRET"), "{msg}");
                    assert!(!msg.contains(bad), "the value leaked: {msg}");
                }
                other => panic!("{bad:?}: expected a usage error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_sourcing_hint_never_relies_on_path_lookup() {
        assert_eq!(shell_path(Path::new("emu.env")), "./emu.env");
        assert_eq!(shell_path(Path::new("./emu.env")), "./emu.env");
        assert_eq!(shell_path(Path::new("/tmp/emu.env")), "/tmp/emu.env");
    }
}
