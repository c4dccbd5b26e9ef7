//! `keyrot rotate`: load keyrot.toml, rotate what is due, report. The protocol itself is in
//! `src/rotate/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use futures::StreamExt;
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::NameGlobs;
use crate::ci::{self, CiSystem};
use crate::cli::{GlobalArgs, RotateArgs, RotateFormat};
use crate::graph::GraphClient;
use crate::outcome::{Failure, Outcome};
use crate::rotate::config::{Config, CredentialSpec, Generator};
use crate::rotate::lock::LockTiming;
use crate::rotate::report::{RotationReport, RotationStatus};
use crate::rotate::run::{self, Context};
use crate::vault::{Vault, VaultUrl};

pub async fn run(global: &GlobalArgs, args: &RotateArgs) -> Result<Outcome, Failure> {
    let started_at = OffsetDateTime::now_utc();
    let config = Config::load(&args.config).map_err(Failure::Usage)?;
    let specs = select(&config.credentials, &args.names)?;
    let timing = timing(args, &specs)?;
    let vault_urls = specs
        .iter()
        .map(|spec| {
            VaultUrl::parse(&spec.vault)
                .map_err(|e| Failure::Usage(format!("credential {:?}: {e}", spec.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let transport = super::transport(global, None, crate::transport::BudgetScope::EachCall)?;
    let auth_env = AuthEnv::from_process();
    let credential: Arc<dyn TokenCredential> = Arc::new(KeyrotCredential::from_env(
        &auth_env,
        global.auth,
        &transport,
    ));
    let needs_graph = specs
        .iter()
        .any(|s| matches!(s.generator, Generator::EntraAppPassword { .. }));
    let graph = needs_graph
        .then(|| GraphClient::new(&global.graph_url, credential.clone(), transport.clone()))
        .transpose()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut vaults: BTreeMap<VaultUrl, Vault> = BTreeMap::new();
    for url in &vault_urls {
        if !vaults.contains_key(url) {
            let vault = Vault::with_transport(url.clone(), credential.clone(), &transport)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            vaults.insert(url.clone(), vault);
        }
    }
    let run_id = run::new_id().map_err(Failure::Runtime)?;
    // Any app can get a Graph token with no roles: proof enough that the password works.
    let verify_scope = graph
        .as_ref()
        .map(|g| g.scope().to_string())
        .unwrap_or_default();
    let context = Context {
        run_id: run_id.clone(),
        graph,
        verify_scope,
        auth_env,
        transport,
        timing,
        dry_run: args.dry_run,
        force: args.force,
    };

    let (context, vaults) = (&context, &vaults);
    let outcomes: Vec<_> = futures::stream::iter(specs.iter().zip(&vault_urls))
        .map(|(spec, url)| async move { run::rotate_one(context, &vaults[url], spec).await })
        .buffer_unordered(usize::from(args.concurrency))
        .collect()
        .await;
    let report = RotationReport::new(run_id, args.dry_run, started_at, outcomes);
    publish(global, args, &report)?;
    Ok(match report.exit_code() {
        0 => Outcome::Ok,
        4 => Outcome::RotationInProgress,
        _ => Outcome::GateFailed,
    })
}

/// The credentials `--name` selects (all without it); a pattern that selects none is an error.
fn select<'c>(
    all: &'c [CredentialSpec],
    names: &[String],
) -> Result<Vec<&'c CredentialSpec>, Failure> {
    let Some(globs) = NameGlobs::new(names).map_err(Failure::Usage)? else {
        return Ok(all.iter().collect());
    };
    if let Some(pattern) = globs.unmatched(all.iter().map(|s| s.name.as_str())).first() {
        return Err(Failure::Usage(format!(
            "--name {pattern} matches no credential of the config"
        )));
    }
    Ok(all.iter().filter(|s| globs.is_match(&s.name)).collect())
}

fn timing(args: &RotateArgs, specs: &[&CredentialSpec]) -> Result<LockTiming, Failure> {
    let lease = crate::check::parse_duration(&args.lock_lease)
        .map_err(|e| Failure::Usage(format!("--lock-lease: {e}")))?;
    let settle = super::parse_timeout(&args.lock_settle).map_err(|_| {
        Failure::Usage(format!(
            "invalid --lock-settle {:?}: use a duration like 2s",
            args.lock_settle
        ))
    })?;
    let longest_verify = specs
        .iter()
        .map(|s| s.verify_timeout)
        .max()
        .unwrap_or_default();
    let needed = longest_verify + settle + std::time::Duration::from_secs(1);
    if lease.whole_milliseconds() <= needed.as_millis() as i128 {
        return Err(Failure::Usage(format!(
            "--lock-lease {} is too short: it must exceed the longest verify_timeout ({}s) plus the settle time, or a slow verification would outlive its own lock",
            args.lock_lease,
            longest_verify.as_secs()
        )));
    }
    Ok(LockTiming { lease, settle })
}

/// The report to stdout or `--output`, the audit log, and under CI the step summary and an
/// annotation per failed or locked credential.
fn publish(global: &GlobalArgs, args: &RotateArgs, report: &RotationReport) -> Result<(), Failure> {
    let system = global.ci.resolve(&ci::process_env);
    let mut stdout = std::io::stdout().lock();
    for c in &report.credentials {
        let message = format!(
            "{} in {}: {}",
            c.name,
            c.vault,
            c.message.as_deref().unwrap_or(c.status.as_str())
        );
        let level = match c.status {
            RotationStatus::Failed => ci::Level::Error,
            RotationStatus::Locked => ci::Level::Warning,
            _ => continue,
        };
        let title = format!("keyrot rotate: {} {}", c.name, c.status.as_str());
        ci::annotate(system, &mut stdout, level, &title, &message)
            .map_err(|e| Failure::Runtime(format!("cannot write to stdout: {e}")))?;
    }
    let text = match args.format {
        RotateFormat::Table => report.table(),
        RotateFormat::Json => report.json(),
        RotateFormat::Markdown => report.markdown(),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?,
        None => stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| Failure::Runtime(format!("cannot write the report: {e}")))?,
    }
    if let Some(path) = &args.audit_log {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(report.audit_lines().as_bytes()).map(|_| f))
            .map_err(|e| {
                Failure::Runtime(format!(
                    "cannot append to the audit log {}: {e}",
                    path.display()
                ))
            })?;
        file.flush().ok();
    }
    if system == CiSystem::GitHub {
        if let Some(path) = ci::process_env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            ci::github::append_step_summary(std::path::Path::new(&path), &report.markdown())
                .map_err(|e| {
                    Failure::Runtime(format!(
                        "cannot append to GITHUB_STEP_SUMMARY ({path}): {e}"
                    ))
                })?;
        }
    }
    Ok(())
}
