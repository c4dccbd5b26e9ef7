//! `keyrot rotate` and `keyrot sync`: load keyrot.toml, rotate what is due (or push the
//! served values to their copies), start the runs, notify, report. The protocol itself is in
//! `src/rotate/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::NameGlobs;
use crate::ci::{self, CiSystem};
use crate::cli::{GlobalArgs, RotateArgs, RotateFormat, RunArgs, SyncArgs};
use crate::graph::GraphClient;
use crate::outcome::{Failure, Outcome};
use crate::rotate::config::{Config, CredentialSpec, Generator};
use crate::rotate::consumers::Services;
use crate::rotate::lock::LockTiming;
use crate::rotate::report::{RotationReport, RotationStatus};
use crate::rotate::run::{self, AppObjectIds, Context, Job, Mode};
use crate::vault::{Vault, VaultUrl};

pub async fn run(global: &GlobalArgs, args: &RotateArgs) -> Result<Outcome, Failure> {
    execute(global, &args.run, Mode::Rotate, args.force).await
}

pub async fn sync(global: &GlobalArgs, args: &SyncArgs) -> Result<Outcome, Failure> {
    let mode = Mode::Sync {
        trigger: args.trigger,
    };
    execute(global, &args.run, mode, false).await
}

async fn execute(
    global: &GlobalArgs,
    args: &RunArgs,
    mode: Mode,
    force: bool,
) -> Result<Outcome, Failure> {
    let started_at = OffsetDateTime::now_utc();
    let config = Config::load(&args.config).map_err(Failure::Usage)?;
    let specs = select(&config.credentials, &args.names)?;
    let timing = timing(args)?;
    let wait_lock = args
        .wait_lock
        .as_deref()
        .map(|text| super::parse_duration_flag("--wait-lock", text))
        .transpose()?;
    // This process is about to hold secret values (the served version's, new credentials):
    // no core dump may copy them to disk.
    if let Err(why) = crate::hardening::disable_core_dumps() {
        tracing::warn!("rotate: could not turn core dumps off: {why}");
    }
    let runtime = Runtime::new(global, &specs, &config)?;
    let run_id = run::new_id().map_err(Failure::Runtime)?;
    let context = runtime.context(
        run_id.clone(),
        mode,
        Settings {
            timing,
            dry_run: args.dry_run,
            force,
            wait_lock,
            wait_poll: run::WAIT_POLL,
            concurrency: usize::from(args.concurrency),
        },
    )?;
    let jobs = runtime.jobs(&specs);
    let (outcomes, notified) = run::rotate_all(&context, &jobs).await;
    let mut report = RotationReport::new(run_id, args.dry_run, started_at, outcomes);
    report.notified = notified;
    publish(global, args, &report)?;
    match report.exit_code() {
        0 => Ok(Outcome::Ok),
        4 => Ok(Outcome::RotationInProgress),
        3 => {
            let failed: Vec<String> = report
                .credentials
                .iter()
                .filter(|c| c.status == RotationStatus::Failed)
                .map(|c| format!("{}: {}", c.name, c.message.as_deref().unwrap_or("failed")))
                .collect();
            Err(Failure::Runtime(format!(
                "{} credential(s) failed before any work on them began, nothing of them was \
                 changed: {}",
                failed.len(),
                failed.join("; ")
            )))
        }
        _ => Ok(Outcome::GateFailed),
    }
}

/// What every run of one process shares: the transport, the Azure credential, the Graph
/// client and one client per vault. `keyrot rotate` builds one run's context from it;
/// `keyrot serve` one per event.
pub(super) struct Runtime {
    pub transport: Arc<crate::transport::KeyrotTransport>,
    pub auth_env: AuthEnv,
    pub credential: Arc<dyn TokenCredential>,
    pub graph: Option<GraphClient>,
    /// `--arm-url`: built always (no I/O until used), used by resource keys and ARM copies.
    pub arm: crate::arm::ArmClient,
    pub vaults: BTreeMap<VaultUrl, Vault>,
    pub notify: Vec<crate::rotate::config::NotifySpec>,
}

/// A run's own settings (flags).
pub(super) struct Settings {
    pub timing: LockTiming,
    pub dry_run: bool,
    pub force: bool,
    pub wait_lock: Option<std::time::Duration>,
    pub wait_poll: std::time::Duration,
    pub concurrency: usize,
}

impl Runtime {
    pub fn new(
        global: &GlobalArgs,
        specs: &[&CredentialSpec],
        config: &Config,
    ) -> Result<Runtime, Failure> {
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
        let arm =
            crate::arm::ArmClient::new(&global.arm_url, credential.clone(), transport.clone())
                .map_err(|e| Failure::Usage(e.to_string()))?;
        let mut vaults: BTreeMap<VaultUrl, Vault> = BTreeMap::new();
        for url in vault_urls {
            if let std::collections::btree_map::Entry::Vacant(slot) = vaults.entry(url) {
                let vault =
                    Vault::with_transport(slot.key().clone(), credential.clone(), &transport)
                        .map_err(|e| Failure::Runtime(e.to_string()))?;
                slot.insert(vault);
            }
        }
        Ok(Runtime {
            transport,
            auth_env,
            credential,
            graph,
            arm,
            vaults,
            notify: config.notify.clone(),
        })
    }

    /// One run's context.
    pub fn context(
        &self,
        run_id: String,
        mode: Mode,
        settings: Settings,
    ) -> Result<Context, Failure> {
        // Any app can get a Graph token with no roles: proof enough that the password works.
        let verify_scope = self
            .graph
            .as_ref()
            .map(|g| g.scope().to_string())
            .unwrap_or_default();
        let services = Services::new(
            self.auth_env.clone(),
            self.credential.clone(),
            self.transport.clone(),
        )
        .with_arm(self.arm.clone());
        Ok(Context {
            run_id,
            graph: self.graph.clone(),
            verify_scope,
            auth_env: self.auth_env.clone(),
            transport: self.transport.clone(),
            timing: settings.timing,
            dry_run: settings.dry_run,
            force: settings.force,
            wait_lock: settings.wait_lock,
            wait_poll: settings.wait_poll,
            concurrency: settings.concurrency,
            app_object_ids: AppObjectIds::default(),
            services,
            mode,
            notifier: (!self.notify.is_empty()).then(|| {
                Box::new(super::notify::ChannelNotifier {
                    specs: self.notify.clone(),
                    env: Box::new(|name: &str| std::env::var(name).ok()),
                    transport: self.transport.clone(),
                }) as Box<dyn run::Notifier>
            }),
            notify_id: match self.notify.is_empty() {
                true => None,
                false => Some(crate::notify::new_message_id().map_err(Failure::Runtime)?),
            },
        })
    }

    /// Each credential with its vault's client.
    pub fn jobs<'a>(&'a self, specs: &[&'a CredentialSpec]) -> Vec<Job<'a>> {
        specs.iter().map(|spec| self.job(spec)).collect()
    }

    pub fn job<'a>(&'a self, spec: &'a CredentialSpec) -> Job<'a> {
        let url = VaultUrl::parse(&spec.vault).expect("Runtime::new parsed every vault");
        Job {
            vault: &self.vaults[&url],
            spec,
            event_version: None,
        }
    }
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

fn timing(args: &RunArgs) -> Result<LockTiming, Failure> {
    let lease = super::parse_duration_flag("--lock-lease", &args.lock_lease)?;
    let settle = super::parse_duration_flag("--lock-settle", &args.lock_settle)?;
    let lease = time::Duration::try_from(lease)
        .map_err(|_| Failure::Usage(format!("--lock-lease {:?} is too long", args.lock_lease)))?;
    LockTiming::new(lease, settle).map_err(Failure::Usage)
}

/// The report to stdout or `--output`, the audit log, and under CI the step summary and an
/// annotation per failed or locked credential.
fn publish(global: &GlobalArgs, args: &RunArgs, report: &RotationReport) -> Result<(), Failure> {
    let system = global.ci.resolve(&ci::process_env);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    // As in check: the runners read both streams, and a JSON report on stdout stays parsable.
    let annotations: &mut dyn Write = match (&args.output, args.format) {
        (None, RotateFormat::Json) => &mut stderr,
        _ => &mut stdout,
    };
    for c in &report.credentials {
        let message = format!(
            "{} in {}: {}",
            c.name,
            c.vault,
            c.message.as_deref().unwrap_or(c.status.as_str())
        );
        let level = match c.status {
            RotationStatus::Failed | RotationStatus::PropagationFailed => ci::Level::Error,
            RotationStatus::Locked => ci::Level::Warning,
            _ => continue,
        };
        let title = format!("keyrot rotate: {} {}", c.name, c.status.as_str());
        ci::annotate(system, annotations, level, &title, &message)
            .map_err(|e| Failure::Runtime(format!("cannot write CI commands: {e}")))?;
    }
    for delivery in report.notified.iter().filter(|d| d.failed) {
        let title = "keyrot: a notification was not delivered";
        ci::annotate(
            system,
            annotations,
            ci::Level::Warning,
            title,
            &delivery.message,
        )
        .map_err(|e| Failure::Runtime(format!("cannot write CI commands: {e}")))?;
    }
    step_outputs(system, annotations, report)?;
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
        None => {
            let fence = args.format != RotateFormat::Json && ci::sink::fence_stdout(system);
            ci::sink::write_fenced(&mut stdout, &text, fence).and_then(|_| stdout.flush())
        }
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

/// The step outputs the action and the task map: `rotated`, `failed` and `runs` (a JSON array
/// of the runs started or adopted, each once) on GitHub; `KEYROT_ROTATED`, `KEYROT_FAILED`,
/// `KEYROT_RUNS` output variables on Azure Pipelines.
fn step_outputs(
    system: CiSystem,
    out: &mut dyn Write,
    report: &RotationReport,
) -> Result<(), Failure> {
    let rotated = report.counts.rotated.to_string();
    let failed = report.failed_count().to_string();
    let runs = report.runs_json();
    match system {
        CiSystem::GitHub => {
            let Some(path) = ci::process_env("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
                return Ok(());
            };
            let pairs = [
                ("rotated", rotated.as_str()),
                ("failed", failed.as_str()),
                ("runs", runs.as_str()),
            ];
            ci::github::append_file_command(std::path::Path::new(&path), &pairs).map_err(|e| {
                Failure::Runtime(format!("cannot append to GITHUB_OUTPUT ({path}): {e}"))
            })
        }
        CiSystem::Azure => {
            for (name, value) in [
                ("KEYROT_ROTATED", &rotated),
                ("KEYROT_FAILED", &failed),
                ("KEYROT_RUNS", &runs),
            ] {
                writeln!(out, "{}", ci::azure::set_variable(name, value, false, true))
                    .map_err(|e| Failure::Runtime(format!("cannot write CI commands: {e}")))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
