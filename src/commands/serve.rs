//! `keyrot serve`: flags to a listening server whose events and sweeps run the rotation
//! protocol of `src/rotate/` (see `src/serve/` for the HTTP and Event Grid side).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::rotate::{Runtime, Settings};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::outcome::{Failure, Outcome};
use crate::rotate::config::{Config, CredentialSpec};
use crate::rotate::lock::LockTiming;
use crate::rotate::report::{CredentialOutcome, RotationStatus};
use crate::rotate::run::{self, Mode};
use crate::serve::auth::{EntraGate, Gate};
use crate::serve::engine::{Done, Engine, Managed, Work, Worker};
use crate::serve::http::{self, Server, Sweeper};
use crate::serve::log;
use crate::vault::{Served, VaultUrl};

/// Set by the Functions host for a custom handler: the loopback port to listen on.
const FUNCTIONS_PORT: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";

/// How often an event waiting for another instance's lock lists the bids: its answer waits.
const LOCK_POLL: Duration = Duration::from_millis(250);

/// How long start-up may spend meeting each vault before it listens anyway.
const WARM_UP: Duration = Duration::from_secs(10);

/// Tag a synced version carries, so a second delivery of its event syncs nothing.
const TAG_SYNCED: &str = "keyrot-synced";

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<Outcome, Failure> {
    let config = Config::load(&args.config).map_err(Failure::Usage)?;
    let duration = |flag: &str, text: &str| super::parse_duration_flag(flag, text);
    let sweep_every = match args.sweep_every.trim() {
        "0" | "off" => None,
        text => Some(duration("--sweep-every", text)?),
    };
    let answer_within = duration("--answer-within", &args.answer_within)?;
    let wait_lock = match args.wait_lock.trim() {
        "0" | "0s" => None,
        text => Some(duration("--wait-lock", text)?.min(answer_within)),
    };
    let shutdown_grace = duration("--shutdown-grace", &args.shutdown_grace)?;
    let lease = duration("--lock-lease", &args.lock_lease)?;
    let settle = duration("--lock-settle", &args.lock_settle)?;
    let lease = time::Duration::try_from(lease)
        .map_err(|_| Failure::Usage(format!("--lock-lease {:?} is too long", args.lock_lease)))?;
    let timing = LockTiming::new(lease, settle).map_err(Failure::Usage)?;

    let functions_port = std::env::var(FUNCTIONS_PORT)
        .ok()
        .filter(|p| !p.trim().is_empty());
    let listen: SocketAddr = match &functions_port {
        Some(port) => format!("127.0.0.1:{}", port.trim()).parse().map_err(|_| {
            Failure::Usage(format!("{FUNCTIONS_PORT}={port:?} is not a port number"))
        })?,
        None => args.listen.parse().map_err(|_| {
            Failure::Usage(format!(
                "--listen {:?}: give an address and port, like 0.0.0.0:8080",
                args.listen
            ))
        })?,
    };

    if let Err(why) = crate::hardening::disable_core_dumps() {
        tracing::warn!("serve: could not turn core dumps off: {why}");
    }
    let specs: Vec<&CredentialSpec> = config.credentials.iter().collect();
    let runtime = Runtime::new(global, &specs, &config)?;
    let gate = gate(args, functions_port.is_some(), &listen, &runtime)?;

    warm_up(&runtime, &config).await;
    let worker = Arc::new(RotationWorker::new(runtime, config, timing, wait_lock));
    let engine = Arc::new(Engine::new(
        worker.clone(),
        answer_within,
        usize::from(args.concurrency),
    ));
    let sweeper = Arc::new(TimedSweeper {
        worker: worker.clone(),
        running: tokio::sync::Mutex::new(()),
    });
    let server = Arc::new(Server {
        engine: engine.clone(),
        gate,
        sweeper: sweeper.clone(),
    });

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(format!("cannot listen on {listen}: {e}")))?;
    log::lifecycle(
        "listening",
        json!({
            "address": bound.to_string(),
            "functions": functions_port.is_some(),
            "credentials": worker.config.credentials.len(),
            "sweep_every_s": sweep_every.map(|d| d.as_secs()),
        }),
    );

    let (stop, stopped) = watch::channel(false);
    let serving = tokio::spawn(http::serve(server, listener, stopped.clone()));
    if let Some(every) = sweep_every {
        let tasks = engine.tasks();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                {
                    let _working = tasks.hold();
                    sweeper.sweep().await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
    }

    shutdown_signal().await;
    let _ = stop.send(true);
    let _ = serving.await;
    let working = engine.tasks().count();
    log::lifecycle(
        "stopping",
        json!({"working": working, "grace_s": shutdown_grace.as_secs()}),
    );
    let drained = engine.tasks().drained(shutdown_grace).await;
    log::lifecycle(
        "stopped",
        json!({"drained": drained, "working": engine.tasks().count()}),
    );
    Ok(Outcome::Ok)
}

/// Meets every vault once before listening: the Key Vault client learns its challenge and
/// the token is cached, so a burst of first deliveries does not race for it. A vault that
/// does not answer is logged; events for it fail (500) and are delivered again.
async fn warm_up(runtime: &Runtime, config: &Config) {
    let firsts = runtime.vaults.iter().filter_map(|(url, vault)| {
        let spec = config
            .credentials
            .iter()
            .find(|s| VaultUrl::parse(&s.vault).ok().as_ref() == Some(url))?;
        Some(async move {
            match vault.secret_versions(&spec.name).await {
                Ok(_) => None,
                Err(e) => Some(json!({"vault": url.as_str(), "error": e.to_string()})),
            }
        })
    });
    let met = tokio::time::timeout(WARM_UP, futures::future::join_all(firsts)).await;
    let failed: Vec<Value> = match met {
        Ok(results) => results.into_iter().flatten().collect(),
        Err(_) => vec![json!({"error": format!("no answer within {}s", WARM_UP.as_secs())})],
    };
    if !failed.is_empty() {
        log::lifecycle("warm-up", json!({"failed": failed}));
    }
}

/// Who may deliver: see `SERVE_HELP`.
fn gate(
    args: &ServeArgs,
    functions: bool,
    listen: &SocketAddr,
    runtime: &Runtime,
) -> Result<Gate, Failure> {
    let key = std::env::var("KEYROT_SERVE_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    if functions {
        // The host listens for the world and authenticates; keyrot is on its loopback.
        return Ok(Gate::Open);
    }
    match (key, &args.entra_audience, args.insecure_local) {
        (Some(_), Some(_), _) => Err(Failure::Usage(
            "KEYROT_SERVE_KEY and --entra-audience are both set: choose one way to authenticate \
             Event Grid"
                .into(),
        )),
        (Some(key), None, _) => {
            if key.len() < 16 {
                return Err(Failure::Usage(
                    "KEYROT_SERVE_KEY is shorter than 16 characters: use a long random key".into(),
                ));
            }
            Ok(Gate::Key(crate::model::SecretValue::new(key)))
        }
        (None, Some(audience), _) => {
            let tenant = args
                .entra_tenant
                .clone()
                .or_else(|| runtime.auth_env.get("AZURE_TENANT_ID").map(str::to_string))
                .ok_or_else(|| {
                    Failure::Usage(
                        "--entra-audience needs the tenant: set --entra-tenant or AZURE_TENANT_ID"
                            .into(),
                    )
                })?;
            let authority = runtime
                .auth_env
                .get("AZURE_AUTHORITY_HOST")
                .unwrap_or("https://login.microsoftonline.com");
            let authority = url::Url::parse(&format!("{}/", authority.trim_end_matches('/')))
                .map_err(|e| Failure::Usage(format!("AZURE_AUTHORITY_HOST: {e}")))?;
            Ok(Gate::Entra(Box::new(EntraGate::new(
                tenant,
                audience.clone(),
                authority,
                runtime.transport.clone(),
            ))))
        }
        (None, None, true) if listen.ip().is_loopback() => Ok(Gate::Open),
        (None, None, true) => Err(Failure::Usage(format!(
            "--insecure-local serves without authentication, so only on a loopback address, \
             not {listen}"
        ))),
        (None, None, false) => Err(Failure::Usage(
            "keyrot serve needs authentication for Event Grid: set KEYROT_SERVE_KEY (deliveries \
             carry ?key=) or --entra-audience (Entra-protected delivery); under Azure Functions \
             the host sets FUNCTIONS_CUSTOMHANDLER_PORT; --insecure-local for a loopback test"
                .into(),
        )),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The rotation protocol, one run per piece of work.
struct RotationWorker {
    runtime: Runtime,
    config: Config,
    timing: LockTiming,
    wait_lock: Option<Duration>,
    /// (vault name, secret name), lower-cased → index into `config.credentials`.
    index: HashMap<(String, String), usize>,
}

impl RotationWorker {
    fn new(
        runtime: Runtime,
        config: Config,
        timing: LockTiming,
        wait_lock: Option<Duration>,
    ) -> RotationWorker {
        let index = config
            .credentials
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| {
                let url = VaultUrl::parse(&spec.vault).ok()?;
                Some((
                    (
                        url.name().to_ascii_lowercase(),
                        spec.name.to_ascii_lowercase(),
                    ),
                    i,
                ))
            })
            .collect();
        RotationWorker {
            runtime,
            config,
            timing,
            wait_lock,
            index,
        }
    }

    fn spec(&self, credential: &str) -> Option<&CredentialSpec> {
        self.config
            .credentials
            .iter()
            .find(|s| s.name == credential)
    }

    fn context(&self, mode: Mode, concurrency: usize) -> Result<run::Context, String> {
        let run_id = run::new_id()?;
        self.runtime
            .context(
                run_id,
                mode,
                Settings {
                    timing: self.timing,
                    dry_run: false,
                    force: false,
                    wait_lock: self.wait_lock,
                    wait_poll: LOCK_POLL,
                    concurrency,
                },
            )
            .map_err(|e| e.to_string())
    }

    async fn rotate(&self, spec: &CredentialSpec, version: &str) -> Done {
        let ctx = match self.context(Mode::Rotate, 1) {
            Ok(ctx) => ctx,
            Err(message) => return Done::Failed { message },
        };
        let mut job = self.runtime.job(spec);
        job.event_version = Some(version);
        let (outcomes, _) = run::rotate_all(&ctx, &[job]).await;
        done_of(&outcomes[0])
    }

    /// A version written outside keyrot: its copies and runs, once.
    async fn sync(&self, spec: &CredentialSpec, version: &str) -> Done {
        let job = self.runtime.job(spec);
        let served = match job.vault.served_secret(&spec.name).await {
            Ok(Served::Version(served)) => served,
            Ok(_) => {
                return Done::Finished {
                    status: "up_to_date".into(),
                    message: "Key Vault serves no enabled version: nothing to copy".into(),
                }
            }
            Err(e) => {
                return Done::Failed {
                    message: e.to_string(),
                }
            }
        };
        let tags = served.record.tags.clone();
        let served_version = served.record.version.clone().unwrap_or_default();
        let skip = if !served_version.eq_ignore_ascii_case(version) {
            Some("a newer version is served; its own event syncs it")
        } else if tags.contains_key(crate::rotate::plan::TAG_ROTATION_ID) {
            Some("written by a keyrot rotation, which updates the copies itself")
        } else if tags.contains_key(TAG_SYNCED) {
            Some("already synced by keyrot")
        } else {
            None
        };
        drop(served);
        if let Some(why) = skip {
            return Done::Finished {
                status: "up_to_date".into(),
                message: why.into(),
            };
        }
        let ctx = match self.context(Mode::Sync { trigger: true }, 1) {
            Ok(ctx) => ctx,
            Err(message) => return Done::Failed { message },
        };
        let (outcomes, _) = run::rotate_all(&ctx, &[self.runtime.job(spec)]).await;
        let done = done_of(&outcomes[0]);
        if matches!(done, Done::Finished { .. }) {
            let mut marked: BTreeMap<String, String> = tags;
            marked.insert(TAG_SYNCED.into(), ctx.run_id.clone());
            if let Err(e) = job
                .vault
                .set_version_tags(&spec.name, version, &marked)
                .await
            {
                tracing::warn!("serve: could not mark {} as synced: {e}", spec.name);
            }
        }
        done
    }
}

#[async_trait::async_trait]
impl Worker for RotationWorker {
    fn managed(&self, vault: &str, name: &str) -> Option<Managed> {
        let i = self
            .index
            .get(&(vault.to_ascii_lowercase(), name.to_ascii_lowercase()))?;
        let spec = &self.config.credentials[*i];
        Some(Managed {
            credential: spec.name.clone(),
            sync_on_new_version: spec.sync_on_new_version,
        })
    }

    async fn work(self: Arc<Self>, work: Work) -> Done {
        off_runtime_workers(move || async move { self.work_here(work).await })
            .await
            .unwrap_or_else(|message| Done::Failed { message })
    }
}

/// Runs a rotation on a blocking thread of the runtime. The protocol's futures borrow the run's
/// context across `buffer_unordered` closures, which today's compiler cannot prove `Send`
/// (rust-lang/rust#102211); on its own thread nothing needs to be.
async fn off_runtime_workers<F, Fut, T>(work: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(work()))
        .await
        .map_err(|_| {
            "the work stopped unexpectedly; the journal lets the next delivery finish it"
                .to_string()
        })
}

impl RotationWorker {
    async fn work_here(&self, work: Work) -> Done {
        let Some(spec) = self.spec(work.credential()) else {
            return Done::Failed {
                message: "no such credential".into(),
            };
        };
        match &work {
            Work::Rotate { version, .. } => self.rotate(spec, version).await,
            Work::Sync { version, .. } => self.sync(spec, version).await,
        }
    }
}

/// What a credential's outcome means for the delivery.
fn done_of(outcome: &CredentialOutcome) -> Done {
    let message = outcome
        .message
        .clone()
        .or_else(|| outcome.reason.clone())
        .unwrap_or_default();
    match outcome.status {
        RotationStatus::Locked => {
            let now = OffsetDateTime::now_utc();
            let left = outcome
                .lock_holder
                .as_ref()
                .and_then(|h| h.lease_until)
                .map(|until| (until - now).whole_seconds())
                .unwrap_or(10);
            Done::Locked {
                retry_after: Duration::from_secs(left.clamp(1, 60) as u64),
                message,
            }
        }
        RotationStatus::Failed | RotationStatus::PropagationFailed => Done::Failed { message },
        status => Done::Finished {
            status: status.as_str().into(),
            message,
        },
    }
}

/// The whole config, checked and rotated; one sweep at a time per instance.
struct TimedSweeper {
    worker: Arc<RotationWorker>,
    running: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl Sweeper for TimedSweeper {
    async fn sweep(&self) -> (bool, Value) {
        let _one = self.running.lock().await;
        let worker = self.worker.clone();
        off_runtime_workers(move || async move { worker.sweep().await })
            .await
            .unwrap_or_else(|message| (false, json!({"error": message})))
    }
}

impl RotationWorker {
    async fn sweep(&self) -> (bool, Value) {
        let started = Instant::now();
        let worker = self;
        let ctx = match worker.context(Mode::Rotate, 4) {
            Ok(ctx) => ctx,
            Err(message) => return (false, json!({"error": message})),
        };
        let specs: Vec<&CredentialSpec> = worker.config.credentials.iter().collect();
        let jobs = worker.runtime.jobs(&specs);
        let (outcomes, _) = run::rotate_all(&ctx, &jobs).await;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for outcome in &outcomes {
            *counts.entry(outcome.status.as_str()).or_default() += 1;
        }
        let failed: Vec<Value> = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o.status,
                    RotationStatus::Failed | RotationStatus::PropagationFailed
                )
            })
            .map(|o| json!({"credential": o.name, "message": o.message}))
            .collect();
        let summary = json!({"run_id": ctx.run_id, "counts": counts, "failed": failed});
        log::sweep(&summary, started.elapsed().as_millis() as u64);
        (failed.is_empty(), summary)
    }
}
