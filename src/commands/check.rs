//! `keyrot check`: read every credential's expiry and pass, warn or fail the gate.

use std::collections::BTreeSet;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::{CheckReport, Filter, Policy, Status};
use crate::ci::{self, publish::Publisher};
use crate::cli::{CheckArgs, GateArgs, GlobalArgs};
use crate::model::{CredentialRecord, Kind};
use crate::outcome::{Failure, Outcome};
use crate::report::{self, Format};
use crate::transport::{client_options, KeyrotTransport};
use crate::vault::{Vault, VaultUrl};

pub async fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<Outcome, Failure> {
    // Validate everything the user typed before any network call.
    let policy = policy(&args.gate)?;
    let vaults = vault_urls(&args.vaults)?;
    let filter = Filter::new(&args.names, &args.tags).map_err(Failure::Usage)?;
    let kinds: BTreeSet<Kind> = args.kinds.iter().map(|&k| k.into()).collect();
    let transport = super::transport(global, None)?;
    let credential: Arc<dyn TokenCredential> = Arc::new(KeyrotCredential::from_env(
        &AuthEnv::from_process(),
        global.auth,
        &transport,
    ));
    let scope = Scope {
        vaults,
        kinds,
        versions: args.versions,
        concurrency: usize::from(args.concurrency),
    };
    let records = collect(&scope, credential, &transport).await?;
    let records = records.into_iter().filter(|r| filter.matches(r)).collect();
    let publisher = Publisher {
        system: ci::detect(global.ci, ci::process_env),
        env: &ci::process_env,
        report_path: args.report.as_deref(),
        temp_dir: std::env::temp_dir(),
    };
    gate_in_ci(
        records,
        &policy,
        &args.gate,
        OffsetDateTime::now_utc(),
        Some(&publisher),
    )
}

/// What to read: which vaults, which kinds, and whether to look at versions.
pub struct Scope {
    pub vaults: Vec<VaultUrl>,
    pub kinds: BTreeSet<Kind>,
    pub versions: bool,
    pub concurrency: usize,
}

pub fn policy(args: &GateArgs) -> Result<Policy, Failure> {
    let warn_within = crate::check::parse_duration(&args.warn_within)
        .map_err(|e| Failure::Usage(format!("--warn-within: {e}")))?;
    let fail_within = crate::check::parse_duration(&args.fail_within)
        .map_err(|e| Failure::Usage(format!("--fail-within: {e}")))?;
    Policy::new(warn_within, fail_within, args.no_expiry, args.strict).map_err(Failure::Usage)
}

pub fn vault_urls(inputs: &[String]) -> Result<Vec<VaultUrl>, Failure> {
    let mut urls = Vec::new();
    for input in inputs.iter().filter(|v| !v.trim().is_empty()) {
        let url = VaultUrl::parse(input).map_err(Failure::Usage)?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(Failure::Usage(
            "no vault given: pass --vault NAME|URL or set KEYROT_VAULTS".into(),
        ));
    }
    Ok(urls)
}

/// Lists every (vault, kind) at once: the wall time is the slowest listing, not their sum.
pub async fn collect(
    scope: &Scope,
    credential: Arc<dyn TokenCredential>,
    transport: &Arc<KeyrotTransport>,
) -> Result<Vec<CredentialRecord>, Failure> {
    let vaults = scope
        .vaults
        .iter()
        .map(|url| Vault::new(url.clone(), credential.clone(), client_options(transport)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let listings = vaults.iter().map(|vault| async move {
        let per_kind = scope.kinds.iter().map(|&kind| vault.list(kind));
        let mut records: Vec<CredentialRecord> = futures::future::try_join_all(per_kind)
            .await?
            .into_iter()
            .flatten()
            .collect();
        if scope.versions && scope.kinds.contains(&Kind::Secret) {
            let names = records
                .iter()
                .filter(|r| r.kind == Kind::Secret)
                .map(|r| r.name.clone())
                .collect();
            records.extend(
                vault
                    .superseded_secret_versions(names, scope.concurrency)
                    .await?,
            );
        }
        Ok::<_, crate::vault::VaultError>(records)
    });
    let all = futures::future::try_join_all(listings)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    Ok(all.into_iter().flatten().collect())
}

/// Judges the records, writes the report, and maps the status to the outcome.
pub fn gate(
    records: Vec<CredentialRecord>,
    policy: &Policy,
    args: &GateArgs,
    now: OffsetDateTime,
) -> Result<Outcome, Failure> {
    gate_in_ci(records, policy, args, now, None)
}

/// [`gate`], also telling the CI system (annotations, outputs, summary) when `publisher` is
/// given. The CI lines go to stdout before the report; the report is written even when a
/// runner file cannot be, and that failure is returned afterwards.
pub fn gate_in_ci(
    records: Vec<CredentialRecord>,
    policy: &Policy,
    args: &GateArgs,
    now: OffsetDateTime,
    publisher: Option<&Publisher<'_>>,
) -> Result<Outcome, Failure> {
    let report = CheckReport::evaluate(records, policy, now);
    let published = match publisher {
        Some(publisher) => {
            use std::io::Write;
            // The runners read logging commands from stdout and stderr alike; when stdout
            // carries a machine-readable report, the commands go to stderr so `| jq` works.
            let machine_stdout =
                args.output.is_none() && matches!(args.format, Format::Json | Format::Junit);
            let mut out: Box<dyn Write> = if machine_stdout {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            let published = publisher.publish(&report, &mut out);
            out.flush()
                .map_err(|e| Failure::Runtime(format!("cannot write CI commands: {e}")))?;
            published.map(|_| ())
        }
        None => Ok(()),
    };
    let color = args.output.is_none() && is_terminal::is_terminal(std::io::stdout());
    let text = report::render(&report, args.format, color);
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| Failure::Runtime(format!("cannot write the report: {e}")))?;
        }
    }
    published?;
    Ok(match report.status() {
        Status::Fail => Outcome::GateFailed,
        Status::Pass | Status::Warn => Outcome::Ok,
    })
}
