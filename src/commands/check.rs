//! `keyrot check`: read every credential's expiry and pass, warn or fail the gate.
//!
//! Key Vault objects (`--vault`) and Entra application credentials (`--app`, and the
//! applications of `--config keyrot.toml`) are read at the same time and judged by one policy.
//! A Key Vault secret tagged `keyrot-app` + `keyrot-key-id` (written by rotation) holds an Entra
//! password: it is judged by the earlier of its own `exp` and the password's end date.
//!
//! A vault listing or an application that cannot be read does not discard the rest: the report,
//! the CI outputs, the step summary and the annotations come out for everything readable, with
//! an error entry for each unreadable source, and the command exits 3 (the gate could not see
//! everything, which outranks what it saw failing).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;

use azure_core::credentials::TokenCredential;
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::{is_secret_version, CheckReport, Filter, Policy, Status};
use crate::ci::{self, publish::Publisher};
use crate::cli::{CheckArgs, GateArgs, GlobalArgs};
use crate::graph::{self, Application, GraphClient, GraphError, GraphErrorKind};
use crate::model::{
    CredentialRecord, EntraLink, HeldPassword, Kind, ReadError, ReadFailure, Source,
};
use crate::outcome::{Failure, Outcome};
use crate::report::{self, Format};
use crate::transport::KeyrotTransport;
use crate::vault::{Vault, VaultError, VaultUrl};

pub async fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<Outcome, Failure> {
    // Validate everything the user typed before any network call.
    let policy = policy(&args.gate, args.versions)?;
    let mut vaults = if args.vaults.iter().any(|v| !v.trim().is_empty()) {
        vault_urls(&args.vaults)?
    } else {
        Vec::new()
    };
    let apps = app_ids(args)?;
    // keyrot.toml's resource keys: their vaults are read, and their keys' ages linked.
    let resource_keys = match &args.config {
        Some(path) => {
            let config = crate::rotate::config::Config::load(path).map_err(Failure::Usage)?;
            super::key_ages::of_config(&config).map_err(Failure::Usage)?
        }
        None => Vec::new(),
    };
    for key in &resource_keys {
        if !vaults.contains(&key.vault) {
            vaults.push(key.vault.clone());
        }
    }
    if vaults.is_empty() && apps.is_empty() {
        return Err(Failure::Usage(
            "nothing to check: pass --vault NAME|URL (KEYROT_VAULTS), --app APPID (KEYROT_APPS), or --config FILE naming Entra applications or resource keys".into(),
        ));
    }
    graph::parse_graph_url(&global.graph_url).map_err(Failure::Usage)?;
    let filter = Filter::new(&args.names, &args.tags).map_err(Failure::Usage)?;
    let kinds: BTreeSet<Kind> = args.kinds.iter().map(|&k| k.into()).collect();
    let transport = super::transport(global, None, crate::transport::BudgetScope::Command)?;
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
    let graph = GraphClient::new(&global.graph_url, credential.clone(), transport.clone())
        .map_err(graph_failure)?;
    // Built (no I/O) before anything is read, so a bad --arm-url is a usage error at once.
    let arm = (!resource_keys.is_empty())
        .then(|| crate::arm::ArmClient::new(&global.arm_url, credential.clone(), transport.clone()))
        .transpose()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let credential_for_notify = credential.clone();
    let (collected, applications) = futures::future::join(
        collect(&scope, credential, &transport),
        applications(&graph, &apps),
    )
    .await;
    let Collected {
        mut records,
        mut errors,
    } = collected?;
    let (applications, unreadable_apps) = applications?;
    errors.extend(unreadable_apps);
    // No token at all: every source failed for the one reason that is the credential's, not
    // theirs. That is one runtime failure (exit 3) said once, not a report of unreadable vaults.
    if records.is_empty()
        && applications.is_empty()
        && !errors.is_empty()
        && errors
            .iter()
            .all(|e| e.reason == ReadFailure::Authentication)
    {
        return Err(Failure::Runtime(errors.swap_remove(0).message));
    }
    link_entra_passwords(&mut records, &applications, &graph).await;
    if let Some(arm) = &arm {
        super::key_ages::link(&mut records, &resource_keys, arm).await;
    }
    records.extend(applications.iter().flat_map(Application::records));
    // A filter that selects nothing is a typo until proven otherwise; when a source could not
    // be read, it may have held the match, and that error (exit 3) is the one to report.
    if errors.is_empty() {
        filters_select_something(&filter, args, &records)?;
    }
    // keyrot's own lock and journal secrets are bookkeeping, not credentials.
    let report = CheckReport::evaluate_selected(
        records,
        |r| filter.matches(r) && !crate::rotate::is_internal(r),
        &policy,
        OffsetDateTime::now_utc(),
    )
    .with_errors(errors);
    if args.notify {
        notify_expiring(args, &report, &transport, credential_for_notify).await?;
    }
    let publisher = Publisher {
        system: global.ci.resolve(&ci::process_env),
        env: &ci::process_env,
        report_path: args.report.as_deref(),
        temp_dir: std::env::temp_dir(),
    };
    gate_in_ci(&report, &args.gate, Some(&publisher))
}

/// `--name` patterns that select no credential, or `--name`/`--tag` filters that together
/// select none, are a usage error (exit 2) naming the filters, as in `fetch`: otherwise a
/// typo would pass the gate with nothing checked.
fn filters_select_something(
    filter: &Filter,
    args: &CheckArgs,
    records: &[CredentialRecord],
) -> Result<(), Failure> {
    if args.names.is_empty() && args.tags.is_empty() {
        return Ok(());
    }
    // Older versions are selected with their secret, and keyrot's bookkeeping never is.
    let candidates: Vec<&CredentialRecord> = records
        .iter()
        .filter(|r| !is_secret_version(r) && !crate::rotate::is_internal(r))
        .collect();
    let tags = args
        .tags
        .iter()
        .map(|tag| format!("--tag {tag:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    let with_tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" with {tags}")
    };
    let unmatched = filter.unmatched_patterns(candidates.iter().copied());
    if !unmatched.is_empty() {
        let patterns = unmatched
            .iter()
            .map(|p| format!("--name {p:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Failure::Usage(format!(
            "{patterns} selects no credential{with_tags} in what keyrot read; check the spelling (globs use * and ?, and ignore case), or remove the filter"
        )));
    }
    if !candidates.iter().any(|r| filter.matches(r)) {
        return Err(Failure::Usage(format!(
            "{tags} selects no credential in what keyrot read; check the tag's key and value (both exact), or remove the filter"
        )));
    }
    Ok(())
}

/// What to read: which vaults, which kinds, and whether to look at versions.
pub struct Scope {
    pub vaults: Vec<VaultUrl>,
    pub kinds: BTreeSet<Kind>,
    pub versions: bool,
    pub concurrency: usize,
}

/// The gate's policy from its flags; `versions` says whether older secret versions are listed.
pub fn policy(args: &GateArgs, versions: bool) -> Result<Policy, Failure> {
    let warn_within = crate::check::parse_duration(&args.warn_within)
        .map_err(|e| Failure::Usage(format!("--warn-within: {e}")))?;
    let fail_within = crate::check::parse_duration(&args.fail_within)
        .map_err(|e| Failure::Usage(format!("--fail-within: {e}")))?;
    Policy::new(
        warn_within,
        fail_within,
        args.no_expiry,
        args.strict,
        versions,
    )
    .map_err(Failure::Usage)
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

/// The applications of `--app` and of `--config`'s Entra credentials, validated (GUIDs),
/// lower-cased and without repeats.
fn app_ids(args: &CheckArgs) -> Result<Vec<String>, Failure> {
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: String| {
        if !ids.contains(&id) {
            ids.push(id);
        }
    };
    for input in args.apps.iter().filter(|a| !a.trim().is_empty()) {
        add(graph::parse_guid(input, "--app").map_err(Failure::Usage)?);
    }
    if let Some(path) = &args.config {
        let config = crate::rotate::config::Config::load(path).map_err(Failure::Usage)?;
        for input in config.apps() {
            let what = format!("application in {}", path.display());
            add(graph::parse_guid(input, &what).map_err(Failure::Usage)?);
        }
    }
    Ok(ids)
}

/// A Graph failure as the command's failure: bad input is a usage error (exit 2), anything
/// else a runtime error (exit 3).
fn graph_failure(error: GraphError) -> Failure {
    match error.kind() {
        GraphErrorKind::InvalidInput => Failure::Usage(error.to_string()),
        _ => Failure::Runtime(error.to_string()),
    }
}

/// Reads the named applications, a few at a time, and says which could not be read. One an
/// id names twice (by appId and by object id) is kept once.
async fn applications(
    graph: &GraphClient,
    ids: &[String],
) -> Result<(Vec<Application>, Vec<ReadError>), Failure> {
    let fetched: Vec<(&String, Result<Application, GraphError>)> = futures::stream::iter(ids)
        .map(|id| async move { (id, graph.application(id).await) })
        .buffered(8)
        .collect()
        .await;
    let mut seen = BTreeSet::new();
    let mut read = Vec::new();
    let mut unreadable = Vec::new();
    for (id, result) in fetched {
        match result {
            Ok(app) => {
                if seen.insert(app.object_id.to_ascii_lowercase()) {
                    read.push(app);
                }
            }
            Err(error) if error.kind() == GraphErrorKind::InvalidInput => {
                return Err(graph_failure(error))
            }
            Err(error) => unreadable.push(ReadError {
                source: Source::Entra,
                location: id.clone(),
                kind: None,
                name: None,
                reason: error.reason(),
                message: error.to_string(),
            }),
        }
    }
    Ok((read, unreadable))
}

/// Ties each current Key Vault secret that carries keyrot's `keyrot-app` and `keyrot-key-id`
/// tags to the Entra password it holds, and judges it by the earlier end date. Applications
/// not already read are read here; one that cannot be read (permission, network) leaves its
/// secrets judged by their Key Vault `exp`, with a warning, rather than failing a vault check.
async fn link_entra_passwords(
    records: &mut [CredentialRecord],
    known: &[Application],
    graph: &GraphClient,
) {
    let holds = |r: &CredentialRecord| -> Option<(String, String)> {
        if r.source != Source::KeyVault || r.kind != Kind::Secret || r.superseded.is_some() {
            return None;
        }
        let app = r.tags.get(graph::TAG_APP)?.trim();
        let key = r.tags.get(graph::TAG_KEY_ID)?.trim();
        (!app.is_empty() && !key.is_empty()).then(|| (app.to_ascii_lowercase(), key.to_owned()))
    };
    let wanted: BTreeSet<String> = records
        .iter()
        .filter_map(|r| holds(r).map(|(app, _)| app))
        .filter(|app| !known.iter().any(|k| k.is(app)))
        .collect();
    let read: BTreeMap<String, Result<Application, GraphError>> = futures::stream::iter(wanted)
        .map(|app| async move {
            let result = graph.application(&app).await;
            (app, result)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (app, result) in &read {
        if let Err(error) = result {
            tracing::warn!(
                "cannot compare Key Vault secrets tagged {}={app} with their Entra password's end date; their Key Vault exp is used: {error}",
                graph::TAG_APP
            );
        }
    }
    for record in records.iter_mut() {
        let Some((app_id, key_id)) = holds(record) else {
            continue;
        };
        let application = known
            .iter()
            .find(|k| k.is(&app_id))
            .or_else(|| read.get(&app_id).and_then(|r| r.as_ref().ok()));
        let (app, held) = match application {
            Some(application) => {
                let held = match application.password(&key_id) {
                    None => HeldPassword::Missing,
                    Some(password) => match (password.end, record.expires) {
                        (Some(end), Some(exp)) if end >= exp => HeldPassword::EndsLater,
                        (Some(end), vault_expires) => {
                            record.expires = Some(end);
                            HeldPassword::EndsEarlier { vault_expires }
                        }
                        (None, _) => HeldPassword::EndsLater,
                    },
                };
                (Some(application.app_ref()), held)
            }
            None => {
                let why = match read.get(&app_id) {
                    Some(Err(error)) => error.summary(),
                    _ => "not read".to_owned(),
                };
                (
                    None,
                    HeldPassword::Unchecked(format!(
                        "application {app_id} could not be read ({why})"
                    )),
                )
            }
        };
        record.entra = Some(EntraLink {
            app,
            key_id,
            held: Some(held),
        });
    }
}

/// What was read, and what could not be.
#[derive(Debug, Default)]
pub struct Collected {
    pub records: Vec<CredentialRecord>,
    pub errors: Vec<ReadError>,
}

/// Lists every (vault, kind) at once: the wall time is the slowest listing, not their sum.
/// With `--versions`, each secret's versions are listed as the secrets' pages arrive. A
/// listing that fails is an error entry; the others are kept.
pub async fn collect(
    scope: &Scope,
    credential: Arc<dyn TokenCredential>,
    transport: &Arc<KeyrotTransport>,
) -> Result<Collected, Failure> {
    let vaults = scope
        .vaults
        .iter()
        .map(|url| Vault::with_transport(url.clone(), credential.clone(), transport))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let listings = vaults.iter().flat_map(|vault| {
        scope
            .kinds
            .iter()
            .map(move |&kind| async move { (vault, kind, list_kind(vault, kind, scope).await) })
    });
    let mut collected = Collected::default();
    for (vault, kind, result) in futures::future::join_all(listings).await {
        match result {
            Ok((records, failed)) => {
                collected.records.extend(records);
                collected.errors.extend(
                    failed
                        .into_iter()
                        .map(|(name, error)| unreadable(vault, kind, Some(name), &error)),
                );
            }
            Err(error) => collected.errors.push(unreadable(vault, kind, None, &error)),
        }
    }
    Ok(collected)
}

/// One vault's listing of one kind, with the secrets' versions when asked for: the records and
/// the secrets whose versions could not be listed.
async fn list_kind(
    vault: &Vault,
    kind: Kind,
    scope: &Scope,
) -> Result<(Vec<CredentialRecord>, Vec<(String, VaultError)>), VaultError> {
    if kind == Kind::Secret && scope.versions {
        let listing = vault.secrets_with_versions(scope.concurrency).await?;
        Ok((listing.records, listing.failed))
    } else {
        Ok((vault.list(kind).await?, Vec::new()))
    }
}

fn unreadable(vault: &Vault, kind: Kind, name: Option<String>, error: &VaultError) -> ReadError {
    ReadError {
        source: Source::KeyVault,
        location: vault.url().to_string(),
        kind: Some(kind),
        name,
        reason: error.reason(),
        message: error.to_string(),
    }
}

/// Writes the report, and maps its status to the outcome.
pub fn gate(report: &CheckReport, args: &GateArgs) -> Result<Outcome, Failure> {
    gate_in_ci(report, args, None)
}

/// [`gate`], also telling the CI system (annotations, outputs, summary) when `publisher` is
/// given. The CI lines go to stdout before the report; the report is written even when a
/// runner file cannot be, and that failure is returned afterwards. When something could not
/// be read, everything is still written and the command fails with exit 3.
pub fn gate_in_ci(
    report: &CheckReport,
    args: &GateArgs,
    publisher: Option<&Publisher<'_>>,
) -> Result<Outcome, Failure> {
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
            let published = publisher.publish(report, &mut out);
            out.flush()
                .map_err(|e| Failure::Runtime(format!("cannot write CI commands: {e}")))?;
            published.map(|_| ())
        }
        None => Ok(()),
    };
    let color = args.output.is_none() && is_terminal::is_terminal(std::io::stdout());
    let text = report::render(report, args.format, color);
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?,
        None => {
            use std::io::Write;
            let human = !matches!(args.format, Format::Json | Format::Junit);
            let fence = human && publisher.is_some_and(|p| ci::sink::fence_stdout(p.system));
            let mut out = std::io::stdout().lock();
            ci::sink::write_fenced(&mut out, &text, fence)
                .and_then(|_| out.flush())
                .map_err(|e| Failure::Runtime(format!("cannot write the report: {e}")))?;
        }
    }
    if !report.errors.is_empty() {
        let mut message = format!(
            "keyrot could not read everything it was asked to check, so the gate fails (exit 3); the report covers the rest ({}):",
            report::counts_line(report.counts())
        );
        for error in &report.errors {
            message.push_str(&format!(
                "\n  cannot read {} ({}): {}",
                report::unreadable_what(error, true),
                error.reason.as_str(),
                error.message
            ));
        }
        if let Err(also) = published {
            message.push_str(&format!("\nalso: {also}"));
        }
        return Err(Failure::Runtime(message));
    }
    published?;
    Ok(match report.status() {
        Status::Fail => Outcome::GateFailed,
        Status::Pass | Status::Warn => Outcome::Ok,
    })
}

/// `--notify`: the pre-expiry summary to the channels of `--config` that listen to
/// `expiring`. A channel that cannot be reached is said on stderr and does not change the
/// gate's result.
async fn notify_expiring(
    args: &CheckArgs,
    report: &CheckReport,
    transport: &Arc<KeyrotTransport>,
    credential: Arc<dyn TokenCredential>,
) -> Result<(), Failure> {
    let Some(path) = &args.config else {
        return Ok(());
    };
    let config = crate::rotate::config::Config::load(path).map_err(Failure::Usage)?;
    if config.notify.is_empty() {
        return Err(Failure::Usage(format!(
            "--notify: {} has no [[notify]] section to send to",
            path.display()
        )));
    }
    let now = report.checked_at;
    let items = report
        .findings
        .iter()
        .filter(|f| f.severity > crate::check::Severity::Ok && f.record.superseded.is_none())
        .filter_map(|f| {
            let expires = f.record.expires?;
            Some(crate::notify::Expiring {
                name: f.record.name.clone(),
                location: crate::report::vault_short(&f.record.vault),
                expires,
                action: planned_action(&config, &f.record, expires, now),
            })
        })
        .collect();
    let notification =
        crate::notify::Notification::Expiring(crate::notify::ExpiryReport::new(now, items));
    let services = crate::rotate::consumers::Services::new(
        AuthEnv::from_process(),
        credential,
        transport.clone(),
    );
    let env = |name: &str| std::env::var(name).ok();
    let message_id = crate::notify::new_message_id().map_err(Failure::Runtime)?;
    let notified = super::notify::send(
        &config.notify,
        &notification,
        &message_id,
        &env,
        transport,
        &services,
    )
    .await;
    for n in &notified {
        let line = format!(
            "keyrot: notification to {}: {}: {}",
            n.channel, n.status, n.message
        );
        eprintln!("{}", crate::ci::inert::one_line(&line));
    }
    Ok(())
}

/// What keyrot.toml will do about an expiring record: rotate it (now or once its window
/// opens) when a credential of the config is that secret, else someone must.
fn planned_action(
    config: &crate::rotate::config::Config,
    record: &CredentialRecord,
    expires: OffsetDateTime,
    now: OffsetDateTime,
) -> crate::notify::PlannedAction {
    let same_vault =
        |spec_vault: &str| match (VaultUrl::parse(spec_vault), VaultUrl::parse(&record.vault)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
    let spec = config
        .credentials
        .iter()
        .find(|s| record.kind == Kind::Secret && s.name == record.name && same_vault(&s.vault));
    match spec {
        None => crate::notify::PlannedAction::Manual,
        Some(spec) if expires - spec.rotate_within <= now => {
            crate::notify::PlannedAction::RotateNextRun
        }
        Some(spec) => crate::notify::PlannedAction::RotateFrom {
            on: expires - spec.rotate_within,
        },
    }
}
