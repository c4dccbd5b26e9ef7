//! `keyrot fetch`: deliver the current value of matching secrets into the pipeline.
//!
//! The order matters and is the point of this module:
//! 1. everything the user typed is validated, including that the values have somewhere to go,
//!    before any network call;
//! 2. the secrets are listed (metadata only) and judged: if any matching secret is expired,
//!    disabled or not yet valid, nothing is read and nothing is exported (exit 1);
//! 3. the values are read, and judged again on what was actually read (a rotation may have
//!    written a new version in between);
//! 4. under GitHub Actions every value is masked before anything else is printed, then the
//!    values are delivered. A value goes only where it was asked to go.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::Filter;
use crate::ci::{self, CiSystem};
use crate::cli::{FetchArgs, FetchFormat, FetchTarget, GlobalArgs};
use crate::model::{CredentialRecord, FetchedSecret, Kind};
use crate::outcome::{Failure, Outcome};
use crate::vault::{Vault, VaultUrl};

pub async fn run(global: &GlobalArgs, args: &FetchArgs) -> Result<Outcome, Failure> {
    let vault_url = VaultUrl::parse(&args.vault).map_err(Failure::Usage)?;
    let filter = Filter::new(&args.names, &args.tags).map_err(Failure::Usage)?;
    let system = global.ci.resolve(&ci::process_env);
    let plan = Delivery::plan(args, system, &ci::process_env)?;

    let transport = super::transport(global, None, crate::transport::BudgetScope::Command)?;
    let credential: Arc<dyn TokenCredential> = Arc::new(KeyrotCredential::from_env(
        &AuthEnv::from_process(),
        global.auth,
        &transport,
    ));
    let vault = Vault::with_transport(vault_url.clone(), credential, &transport)
        .map_err(|e| Failure::Runtime(e.to_string()))?;

    // keyrot's own lock and journal secrets are bookkeeping, never exported.
    let listed: Vec<CredentialRecord> = vault
        .list(Kind::Secret)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?
        .into_iter()
        .filter(|r| !crate::rotate::is_internal(r))
        .collect();
    let unmatched = filter.unmatched_patterns(&listed);
    if !unmatched.is_empty() {
        return Err(Failure::Usage(format!(
            "no secret in {vault_url} matches {}{}; the vault has {} secrets (names are listed by `keyrot check --vault {}`)",
            unmatched.iter().map(|p| format!("--name {p}")).collect::<Vec<_>>().join(", "),
            if args.tags.is_empty() { String::new() } else { format!(" with the tags {}", args.tags.join(", ")) },
            listed.len(),
            vault_url,
        )));
    }
    let selected: Vec<CredentialRecord> =
        listed.into_iter().filter(|r| filter.matches(r)).collect();
    if selected.is_empty() {
        return Err(Failure::Usage(format!(
            "no secret in {vault_url} has the tags {}",
            args.tags.join(", ")
        )));
    }

    let now = OffsetDateTime::now_utc();
    let refused = refusals(selected.iter(), now, args.allow_expired);
    if !refused.is_empty() {
        return Ok(refuse(&vault_url, &refused, system));
    }

    let vault = &vault;
    let mut fetched: Vec<FetchedSecret> = futures::stream::iter(selected)
        .map(|record| async move { vault.get_secret(&record.name).await })
        .buffer_unordered(usize::from(args.concurrency))
        .try_collect()
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    fetched.sort_by(|a, b| a.record.name.cmp(&b.record.name));

    let refused = refusals(fetched.iter().map(|s| &s.record), now, args.allow_expired);
    if !refused.is_empty() {
        return Ok(refuse(&vault_url, &refused, system));
    }

    plan.deliver(&vault_url, &fetched)?;
    tracing::info!(
        "fetch: exported {} secret(s) from {vault_url}: {}",
        fetched.len(),
        fetched
            .iter()
            .map(|s| format!(
                "{} (version {})",
                s.record.name,
                s.record.version.as_deref().unwrap_or("?")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Outcome::Ok)
}

/// Why a secret must not be exported, if it must not: `(name, reason)`.
fn refusals<'r>(
    records: impl Iterator<Item = &'r CredentialRecord>,
    now: OffsetDateTime,
    allow_expired: bool,
) -> Vec<(String, String)> {
    records
        .filter_map(|r| refusal(r, now, allow_expired).map(|why| (r.name.clone(), why)))
        .collect()
}

fn refusal(record: &CredentialRecord, now: OffsetDateTime, allow_expired: bool) -> Option<String> {
    let date = crate::check::dates::rfc3339_utc;
    if !record.enabled {
        return Some("its current version is disabled (Key Vault refuses to read it); enable it or write a new version".into());
    }
    if allow_expired {
        return None;
    }
    if let Some(exp) = record.expires.filter(|&exp| exp <= now) {
        return Some(format!(
            "expired at {}; rotate it, or pass --allow-expired to export it anyway",
            date(exp)
        ));
    }
    if let Some(nbf) = record.not_before.filter(|&nbf| nbf > now) {
        return Some(format!(
            "not valid until {}; pass --allow-expired to export it anyway",
            date(nbf)
        ));
    }
    None
}

/// Says what was refused (on stderr, and as CI error lines) and ends with exit 1.
fn refuse(vault: &VaultUrl, refused: &[(String, String)], system: CiSystem) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    for (name, why) in refused {
        let message = format!("{name} in {vault}: {why}");
        let title = format!("keyrot fetch refused {name}");
        let _ = ci::annotate(system, &mut stdout, ci::Level::Error, &title, &message);
    }
    let _ = stdout.flush();
    let lines: Vec<String> = refused
        .iter()
        .map(|(n, why)| format!("  {n}: {why}"))
        .collect();
    eprintln!(
        "error: refusing to export {} secret(s) from {vault}; nothing was exported:\n{}",
        refused.len(),
        lines.join("\n")
    );
    Outcome::GateFailed
}

/// The job's environment variable for a secret: `db-password` → `DB_PASSWORD`.
pub fn variable_name(secret: &str) -> String {
    secret
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Where the values go, decided before anything is read.
struct Delivery {
    system: CiSystem,
    /// Under GitHub Actions: the runner file to append to.
    github_file: Option<(&'static str, std::path::PathBuf)>,
    env_file: Option<std::path::PathBuf>,
    output: Option<(std::path::PathBuf, FetchFormat)>,
    stdout: Option<FetchFormat>,
}

impl Delivery {
    fn plan(args: &FetchArgs, system: CiSystem, env: ci::Env<'_>) -> Result<Delivery, Failure> {
        let github_file = match system {
            CiSystem::GitHub => {
                let var = match args.to {
                    FetchTarget::Env => "GITHUB_ENV",
                    FetchTarget::Outputs => "GITHUB_OUTPUT",
                };
                let path = env(var).filter(|p| !p.is_empty()).ok_or_else(|| {
                    Failure::Usage(format!(
                        "{var} is not set, so there is nowhere to put the values; under GitHub Actions the runner sets it (or pass --ci none and --env-file)"
                    ))
                })?;
                Some((var, path.into()))
            }
            _ => None,
        };
        let plan = Delivery {
            system,
            github_file,
            env_file: args.env_file.clone(),
            output: args.output.clone().map(|p| (p, args.format)),
            stdout: args.stdout.then_some(args.format),
        };
        if plan.system == CiSystem::None
            && plan.env_file.is_none()
            && plan.output.is_none()
            && plan.stdout.is_none()
        {
            return Err(Failure::Usage(
                "nowhere to put the values: outside GitHub Actions and Azure Pipelines pass --env-file FILE, --output FILE (with --format json|env), or --stdout".into(),
            ));
        }
        Ok(plan)
    }

    fn deliver(&self, vault: &VaultUrl, secrets: &[FetchedSecret]) -> Result<(), Failure> {
        let mut stdout = std::io::stdout().lock();
        let wrote_stdout =
            |e: std::io::Error| Failure::Runtime(format!("cannot write to stdout: {e}"));
        // Masks first: from here on the runner hides every value, whatever gets printed.
        match self.system {
            CiSystem::GitHub => {
                for s in secrets {
                    for line in ci::github::add_mask(s.value.expose()) {
                        writeln!(stdout, "{line}").map_err(wrote_stdout)?;
                    }
                }
            }
            CiSystem::Azure => {
                for s in secrets {
                    for line in ci::azure::set_secret(s.value.expose()) {
                        writeln!(stdout, "{line}").map_err(wrote_stdout)?;
                    }
                }
            }
            CiSystem::None => {}
        }
        stdout.flush().map_err(wrote_stdout)?;

        if let Some((var, path)) = &self.github_file {
            let pairs: Vec<(String, &str)> = secrets
                .iter()
                .map(|s| (variable_name(&s.record.name), s.value.expose()))
                .collect();
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            ci::github::append_file_command(path, &pairs).map_err(|e| {
                Failure::Runtime(format!("cannot append to {var} ({}): {e}", path.display()))
            })?;
        }
        if self.system == CiSystem::Azure {
            for s in secrets {
                let line = ci::azure::set_variable(&s.record.name, s.value.expose(), true, false);
                writeln!(stdout, "{line}").map_err(wrote_stdout)?;
            }
        }
        if let Some(path) = &self.env_file {
            write_private(path, &render(FetchFormat::Env, vault, secrets))?;
        }
        if let Some((path, format)) = &self.output {
            write_private(path, &render(*format, vault, secrets))?;
        }
        if let Some(format) = self.stdout {
            stdout
                .write_all(render(format, vault, secrets).as_bytes())
                .map_err(wrote_stdout)?;
        }
        stdout.flush().map_err(wrote_stdout)
    }
}

fn render(format: FetchFormat, vault: &VaultUrl, secrets: &[FetchedSecret]) -> String {
    match format {
        FetchFormat::Env => secrets
            .iter()
            .map(|s| dotenv_line(&variable_name(&s.record.name), s.value.expose()))
            .collect(),
        FetchFormat::Json => json_document(vault, secrets),
    }
}

/// One dotenv line. A value without quotes, backslashes or line breaks is single-quoted, which
/// POSIX shells, docker compose and dotenvy take literally (`$`, `#` and spaces included). Any
/// other value is double-quoted with `\\`, `\"`, `\n` and `\r` escaped, the escapes dotenv
/// readers share. Readers that expand `${VAR}` (python-dotenv even in single quotes, docker
/// compose in double quotes) need expansion off for values holding `$`; `--format json`
/// avoids the question entirely.
pub fn dotenv_line(name: &str, value: &str) -> String {
    if !value.contains(['\'', '\\', '\n', '\r']) {
        return format!("{name}='{value}'\n");
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            c => quoted.push(c),
        }
    }
    format!("{name}=\"{quoted}\"\n")
}

fn json_document(vault: &VaultUrl, secrets: &[FetchedSecret]) -> String {
    let rfc3339 = |t: Option<OffsetDateTime>| t.map(crate::check::dates::rfc3339_utc);
    let items: Vec<serde_json::Value> = secrets
        .iter()
        .map(|s| {
            let tags: BTreeMap<&str, &str> = s
                .record
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            serde_json::json!({
                "name": s.record.name,
                "variable": variable_name(&s.record.name),
                "version": s.record.version,
                "id": s.record.id,
                "contentType": s.content_type,
                "notBefore": rfc3339(s.record.not_before),
                "expires": rfc3339(s.record.expires),
                "tags": tags,
                "value": s.value.expose(),
            })
        })
        .collect();
    let doc = serde_json::json!({ "version": 1, "vault": vault.as_str(), "secrets": items });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes a file only its owner can read (0600 on Unix), also when it already existed with
/// wider permissions.
fn write_private(path: &Path, contents: &str) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::Runtime(format!("cannot write {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path).map_err(fail)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        write_all(file, contents).map_err(fail)
    }
    #[cfg(not(unix))]
    {
        write_all(options.open(path).map_err(fail)?, contents).map_err(fail)
    }
}

fn write_all(mut file: std::fs::File, contents: &str) -> std::io::Result<()> {
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(
        enabled: bool,
        nbf: Option<OffsetDateTime>,
        exp: Option<OffsetDateTime>,
    ) -> CredentialRecord {
        CredentialRecord {
            source: crate::model::Source::KeyVault,
            vault: "https://v.vault.azure.net".into(),
            kind: Kind::Secret,
            name: "db-password".into(),
            version: None,
            id: "https://v.vault.azure.net/secrets/db-password".into(),
            enabled,
            not_before: nbf,
            expires: exp,
            created: None,
            tags: Default::default(),
            superseded: None,
            entra: None,
        }
    }

    #[test]
    fn variables_are_upper_case_with_underscores() {
        assert_eq!(variable_name("db-password"), "DB_PASSWORD");
        assert_eq!(variable_name("Api-Key-2"), "API_KEY_2");
    }

    #[test]
    fn expired_disabled_and_early_secrets_are_refused_at_the_exact_instant() {
        let now = datetime!(2026-11-26 12:00 UTC);
        assert_eq!(refusal(&record(true, None, None), now, false), None);
        assert!(refusal(&record(true, None, Some(now)), now, false)
            .unwrap()
            .starts_with("expired at 2026-11-26T12:00:00Z"));
        assert_eq!(
            refusal(
                &record(true, None, Some(now + time::Duration::SECOND)),
                now,
                false
            ),
            None
        );
        assert!(refusal(
            &record(true, Some(now + time::Duration::SECOND), None),
            now,
            false
        )
        .unwrap()
        .starts_with("not valid until"));
        assert_eq!(refusal(&record(true, Some(now), None), now, false), None);
        assert!(refusal(&record(false, None, None), now, false)
            .unwrap()
            .contains("disabled"));
        // --allow-expired lets expired and early ones through, never disabled ones.
        assert_eq!(refusal(&record(true, None, Some(now)), now, true), None);
        assert_eq!(
            refusal(
                &record(true, Some(now + time::Duration::DAY), None),
                now,
                true
            ),
            None
        );
        assert!(refusal(&record(false, None, None), now, true).is_some());
    }

    #[test]
    fn dotenv_quoting_keeps_values_literal() {
        assert_eq!(dotenv_line("A", "p@$$w0rd #1"), "A='p@$$w0rd #1'\n");
        assert_eq!(dotenv_line("B", "it's"), "B=\"it's\"\n");
        assert_eq!(
            dotenv_line("C", "line1\nline2 \"q\" $HOME \\"),
            "C=\"line1\\nline2 \\\"q\\\" $HOME \\\\\"\n"
        );
    }

    #[test]
    fn secret_values_do_not_show_in_debug() {
        let secret = FetchedSecret {
            record: record(true, None, None),
            content_type: None,
            value: crate::model::SecretValue::new("hunter2-planted".into()),
        };
        assert!(!format!("{secret:?}").contains("hunter2-planted"));
    }
}
