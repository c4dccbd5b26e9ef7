//! Carrying out the protocol of [`super`] for one credential: the only part of rotation with
//! side effects. Decisions are made by the pure functions of [`super::plan`] and
//! [`super::lock`]; this module reads, writes, and journals in the documented order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use super::config::{CredentialSpec, Generator};
use super::journal::{self, Entry, Step};
use super::lock::{self, Bid, Decision, LockTiming, TAG_INTERNAL, TAG_RUN_ID};
use super::plan::{self, Password, Reason, Removal};
use super::report::{CredentialOutcome, RotationStatus};
use crate::auth::AuthEnv;
use crate::graph::{Application, GraphClient};
use crate::model::{CredentialRecord, SecretValue};
use crate::transport::KeyrotTransport;
use crate::vault::{NewVersion, Vault};

/// What every credential's rotation shares.
pub struct Context {
    pub run_id: String,
    pub graph: Option<GraphClient>,
    /// The scope a new Entra password's verification token is asked for.
    pub verify_scope: String,
    pub auth_env: AuthEnv,
    pub transport: Arc<KeyrotTransport>,
    pub timing: LockTiming,
    pub dry_run: bool,
    pub force: bool,
}

/// A failure of one credential's rotation, already worded for the report.
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed(e.to_string())
    }
}

/// Rotates (or plans, or retires) one credential and says how it ended. Never panics on
/// service errors: they become a `failed` outcome, and the journal lets the next run recover.
pub async fn rotate_one(ctx: &Context, vault: &Vault, spec: &CredentialSpec) -> CredentialOutcome {
    let mut outcome = CredentialOutcome::new(spec, vault.url().as_str());
    match run(ctx, vault, spec, &mut outcome).await {
        Ok(()) => {}
        Err(Failed(message)) => {
            outcome.status = RotationStatus::Failed;
            outcome.message = Some(message);
        }
    }
    outcome
}

async fn run(
    ctx: &Context,
    vault: &Vault,
    spec: &CredentialSpec,
    outcome: &mut CredentialOutcome,
) -> Result<(), Failed> {
    let state = State::read(ctx, vault, spec).await?;
    let now = OffsetDateTime::now_utc();
    let work = state.work(spec, now, ctx.force, None);
    outcome.old_version = state.current().and_then(|c| c.version.clone());
    outcome.reason = work.reason.as_ref().map(Reason::describe);
    outcome.to_disable = work.disable.clone();
    outcome.to_remove = work.remove.iter().map(|(k, _)| k.clone()).collect();
    if work.is_empty() && state.pending().is_none() {
        outcome.status = RotationStatus::UpToDate;
        return Ok(());
    }
    if ctx.dry_run {
        // Something is to be done (a rotation, a retirement or a recovery): that is the plan.
        outcome.status = RotationStatus::Planned;
        if let Some(pending) = state.pending() {
            outcome.message = Some(format!(
                "rotation {} was interrupted at step {}; the next run finishes or undoes it",
                pending.rotation_id,
                pending.step.as_str()
            ));
        }
        return Ok(());
    }

    wait_for_start_signal(&spec.name).await;
    let held = match acquire(ctx, vault, &spec.name).await? {
        Acquired::Held(lease) => lease,
        Acquired::Busy(holder) => {
            outcome.status = RotationStatus::Locked;
            outcome.message = Some(format!(
                "another run ({}) is rotating it; nothing was changed",
                holder.as_deref().unwrap_or("unknown run")
            ));
            return Ok(());
        }
    };
    pause_at("locked");
    let result = locked(ctx, vault, spec, &held, outcome).await;
    // Released whatever happened: a held lock only blocks others until its lease ends anyway,
    // and the journal, not the lock, is what the next run recovers from.
    withdraw(vault, &spec.name, &held.bids).await;
    result
}

/// Everything done while holding the lock.
async fn locked(
    ctx: &Context,
    vault: &Vault,
    spec: &CredentialSpec,
    held: &Held,
    outcome: &mut CredentialOutcome,
) -> Result<(), Failed> {
    // Re-read: another run may have rotated between our plan and our lock.
    let mut state = State::read(ctx, vault, spec).await?;
    if let Some(pending) = state.pending().cloned() {
        recover(ctx, vault, spec, &state, &pending).await?;
        outcome.recovered = Some(pending.rotation_id.clone());
        state = State::read(ctx, vault, spec).await?;
    }
    let now = OffsetDateTime::now_utc();
    let work = state.work(spec, now, ctx.force, None);
    outcome.old_version = state.current().and_then(|c| c.version.clone());
    outcome.reason = work.reason.as_ref().map(Reason::describe);

    if work.reason.is_some() {
        rotate(ctx, vault, spec, &state, held, outcome).await?;
        state = State::read(ctx, vault, spec).await?;
    }
    retire(ctx, vault, spec, &state, outcome).await?;
    if outcome.status != RotationStatus::Rotated {
        outcome.status = RotationStatus::UpToDate;
    }
    Ok(())
}

/// Steps 4 to 7: journal, create, verify, commit.
async fn rotate(
    ctx: &Context,
    vault: &Vault,
    spec: &CredentialSpec,
    state: &State,
    held: &Held,
    outcome: &mut CredentialOutcome,
) -> Result<(), Failed> {
    let rotation_id = new_id().map_err(Failed)?;
    outcome.rotation_id = Some(rotation_id.clone());
    let now = OffsetDateTime::now_utc();
    let mut entry = Entry {
        version: Entry::FORMAT,
        rotation_id: rotation_id.clone(),
        credential: spec.name.clone(),
        step: Step::Started,
        at: now,
        generator: spec.generator.name().to_string(),
        previous_version: state.current().and_then(|c| c.version.clone()),
        application: state.app.as_ref().map(|a| a.object_id.clone()),
        display_name: None,
        key_id: None,
        new_version: None,
    };
    write_journal(vault, &spec.name, &entry).await?;
    pause_at("started");

    // Create.
    let (value, not_before, expires, key_id) = match &spec.generator {
        Generator::Random(random) => {
            let value = super::generate::random_value(random).map_err(Failed)?;
            (value, now, now + spec.validity, None)
        }
        Generator::EntraAppPassword { .. } => {
            let graph = ctx
                .graph
                .as_ref()
                .ok_or_else(|| Failed("no Graph client".into()))?;
            let app = state
                .app
                .as_ref()
                .ok_or_else(|| Failed("no application".into()))?;
            let display_name = journal::password_display_name(&rotation_id);
            entry.display_name = Some(display_name.clone());
            let created = graph
                .add_password(&app.object_id, &display_name, now, now + spec.validity)
                .await?;
            let start = created.credential.start.unwrap_or(now);
            let end = created.credential.end.unwrap_or(now + spec.validity);
            entry.key_id = Some(created.credential.key_id.clone());
            entry = entry.at_step(Step::Created, OffsetDateTime::now_utc());
            write_journal(vault, &spec.name, &entry).await?;
            (created.secret, start, end, Some(created.credential.key_id))
        }
    };
    pause_at("created");

    // Verify, before anyone can see it.
    if let Err(why) = verify(ctx, spec, state, &value).await {
        undo(ctx, vault, spec, state, &entry).await;
        return Err(Failed(format!(
            "the new credential did not verify, so it was not stored and was removed: {why}"
        )));
    }
    entry = entry.at_step(Step::Verified, OffsetDateTime::now_utc());
    write_journal(vault, &spec.name, &entry).await?;
    pause_at("verified");

    // Commit, only with lease to spare: a successor may take over once it ends.
    let margin = Duration::seconds(ctx.timing.lease.whole_seconds().min(60) / 4);
    if !lock::lease_allows(held.lease_until, OffsetDateTime::now_utc(), margin) {
        undo(ctx, vault, spec, state, &entry).await;
        return Err(Failed(
            "the lock's lease ran out before the commit (verification took too long); nothing was stored. Raise lock_lease or lower verify_timeout".into(),
        ));
    }
    let tags = commit_tags(spec, state, &rotation_id, key_id.as_deref());
    let written = vault
        .set_secret(
            &spec.name,
            NewVersion {
                value: &value,
                content_type: spec.content_type.as_deref(),
                not_before: Some(not_before),
                expires: Some(expires),
                tags: &tags,
            },
        )
        .await?;
    let version = written
        .version
        .clone()
        .ok_or_else(|| Failed("Key Vault answered the write without a version id".into()))?;
    let read_back = vault.get_secret_version(&spec.name, &version).await?;
    if read_back.value != value || read_back.record.tags != tags {
        return Err(Failed(format!(
            "version {version} of {} does not read back as written; it is live, check it by hand",
            spec.name
        )));
    }
    pause_at("committed");
    entry.new_version = Some(version.clone());
    entry = entry.at_step(Step::Committed, OffsetDateTime::now_utc());
    write_journal(vault, &spec.name, &entry).await?;
    outcome.status = RotationStatus::Rotated;
    outcome.new_version = Some(version);
    outcome.credential_id = key_id;
    outcome.new_expires = Some(expires);
    Ok(())
}

/// Step 8: disable superseded versions and remove superseded or orphaned passwords, then mark
/// a rotation of this run done.
async fn retire(
    ctx: &Context,
    vault: &Vault,
    spec: &CredentialSpec,
    state: &State,
    outcome: &mut CredentialOutcome,
) -> Result<(), Failed> {
    let now = OffsetDateTime::now_utc();
    let work = state.work(spec, now, false, None);
    for version in &work.disable {
        vault
            .set_version_enabled(&spec.name, version, false)
            .await?;
        outcome.disabled.push(version.clone());
    }
    if let (Some(graph), Some(app)) = (&ctx.graph, &state.app) {
        for (key_id, why) in &work.remove {
            graph.remove_password(&app.object_id, key_id).await?;
            tracing::info!("{}: removed Entra password {key_id} ({why:?})", spec.name);
            outcome.removed.push(key_id.clone());
        }
    }
    pause_at("retired");
    if let Some(entry) = state.journal.as_ref().filter(|e| {
        Some(e.rotation_id.as_str()) == outcome.rotation_id.as_deref() && e.step == Step::Committed
    }) {
        write_journal(vault, &spec.name, &entry.at_step(Step::Done, now)).await?;
    }
    Ok(())
}

/// Finishes or undoes a rotation the journal says was interrupted.
async fn recover(
    ctx: &Context,
    vault: &Vault,
    spec: &CredentialSpec,
    state: &State,
    pending: &Entry,
) -> Result<(), Failed> {
    let committed = state
        .versions
        .iter()
        .any(|v| v.tags.get(plan::TAG_ROTATION_ID) == Some(&pending.rotation_id));
    let now = OffsetDateTime::now_utc();
    if committed {
        tracing::info!(
            "{}: rotation {} had committed before it was interrupted; finishing it",
            spec.name,
            pending.rotation_id
        );
        write_journal(vault, &spec.name, &pending.at_step(Step::Done, now)).await?;
    } else {
        tracing::info!(
            "{}: rotation {} died at step {} before committing; undoing it",
            spec.name,
            pending.rotation_id,
            pending.step.as_str()
        );
        remove_rotation_passwords(ctx, state, &pending.rotation_id).await?;
        write_journal(vault, &spec.name, &pending.at_step(Step::Aborted, now)).await?;
    }
    Ok(())
}

/// Best effort after a failure before commit: remove what was created, journal `aborted`.
async fn undo(ctx: &Context, vault: &Vault, spec: &CredentialSpec, state: &State, entry: &Entry) {
    let aborted = async {
        remove_rotation_passwords(ctx, state, &entry.rotation_id).await?;
        write_journal(
            vault,
            &spec.name,
            &entry.at_step(Step::Aborted, OffsetDateTime::now_utc()),
        )
        .await
    };
    if let Err(Failed(e)) = aborted.await {
        tracing::warn!(
            "{}: could not undo rotation {} ({e}); the next run will",
            spec.name,
            entry.rotation_id
        );
    }
}

/// Removes every password of the application whose display name carries the rotation id
/// (re-read, so a password whose creation answer was lost is found too).
async fn remove_rotation_passwords(
    ctx: &Context,
    state: &State,
    rotation_id: &str,
) -> Result<(), Failed> {
    let (Some(graph), Some(app)) = (&ctx.graph, &state.app) else {
        return Ok(());
    };
    let fresh = graph.application(&app.object_id).await?;
    let name = journal::password_display_name(rotation_id);
    for password in fresh
        .passwords
        .iter()
        .filter(|p| p.display_name.as_deref() == Some(name.as_str()))
    {
        graph
            .remove_password(&app.object_id, &password.key_id)
            .await?;
    }
    Ok(())
}

async fn verify(
    ctx: &Context,
    spec: &CredentialSpec,
    state: &State,
    value: &SecretValue,
) -> Result<(), String> {
    match &spec.generator {
        Generator::Random(random) => match &random.verify_command {
            Some(argv) => super::verify::run_command(argv, value, spec.verify_timeout).await,
            None => Ok(()),
        },
        Generator::EntraAppPassword { .. } => {
            let app = state.app.as_ref().ok_or("no application")?;
            let deadline = std::time::Instant::now() + spec.verify_timeout;
            let mut last;
            loop {
                match crate::auth::client_secret_works(
                    &ctx.auth_env,
                    &app.app_id,
                    value,
                    &ctx.verify_scope,
                    &ctx.transport,
                )
                .await
                {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
                if std::time::Instant::now() + StdDuration::from_secs(1) > deadline {
                    return Err(format!(
                        "no token with the new password within verify_timeout ({}s): {last}",
                        spec.verify_timeout.as_secs()
                    ));
                }
                // Entra replicates a new password within seconds to minutes.
                tokio::time::sleep(StdDuration::from_secs(1)).await;
            }
        }
    }
}

/// The previous version's tags (without keyrot's), the credential's, then keyrot's own.
fn commit_tags(
    spec: &CredentialSpec,
    state: &State,
    rotation_id: &str,
    key_id: Option<&str>,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = state
        .current()
        .map(|c| c.tags.clone())
        .unwrap_or_default()
        .into_iter()
        // keyrot's own tags describe the previous rotation; they are written afresh below.
        .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("keyrot"))
        .collect();
    tags.extend(spec.tags.clone());
    tags.insert(plan::TAG_ROTATION_ID.into(), rotation_id.into());
    tags.insert(
        plan::TAG_ROTATED_AT.into(),
        crate::check::dates::rfc3339_utc(OffsetDateTime::now_utc()),
    );
    if let (Some(key_id), Some(app)) = (key_id, &state.app) {
        tags.insert(plan::TAG_KEY_ID.into(), key_id.into());
        tags.insert(plan::TAG_APP.into(), app.app_id.clone());
    }
    tags
}

/// What is known about one credential at one moment.
struct State {
    versions: Vec<CredentialRecord>,
    journal: Option<Entry>,
    app: Option<Application>,
}

/// What a run would do to a credential.
struct Work {
    reason: Option<Reason>,
    disable: Vec<String>,
    remove: Vec<(String, Removal)>,
}

impl Work {
    fn is_empty(&self) -> bool {
        self.reason.is_none() && self.disable.is_empty() && self.remove.is_empty()
    }
}

impl State {
    /// Reads the versions, the journal and (Entra) the application afresh.
    async fn read(ctx: &Context, vault: &Vault, spec: &CredentialSpec) -> Result<State, Failed> {
        let versions = vault.secret_versions(&spec.name).await?;
        let journal = read_journal(vault, &spec.name).await?;
        let app = match &spec.generator {
            Generator::EntraAppPassword { application, .. } => Some(
                ctx.graph
                    .as_ref()
                    .ok_or_else(|| Failed("no Graph client".into()))?
                    .application(application)
                    .await?,
            ),
            Generator::Random(_) => None,
        };
        Ok(State {
            versions,
            journal,
            app,
        })
    }

    fn current(&self) -> Option<&CredentialRecord> {
        plan::latest(&self.versions)
    }

    fn pending(&self) -> Option<&Entry> {
        self.journal.as_ref().filter(|e| e.step.in_flight())
    }

    fn work(
        &self,
        spec: &CredentialSpec,
        now: OffsetDateTime,
        force: bool,
        in_flight: Option<&str>,
    ) -> Work {
        let remove = match (&self.app, &spec.generator) {
            (Some(app), Generator::EntraAppPassword { remove_foreign, .. }) => {
                let passwords: Vec<Password> = app
                    .passwords
                    .iter()
                    .map(|p| Password {
                        key_id: p.key_id.clone(),
                        display_name: p.display_name.clone(),
                    })
                    .collect();
                plan::passwords_to_remove(
                    &passwords,
                    &self.versions,
                    // Only a rotation that has not committed can have a password no version
                    // holds yet; once committed, its extra passwords (a retried addPassword
                    // whose first answer was lost) are orphans like any other.
                    in_flight.or(self
                        .pending()
                        .filter(|e| e.step < Step::Committed)
                        .map(|e| e.rotation_id.as_str())),
                    spec.grace,
                    *remove_foreign,
                    now,
                )
            }
            _ => Vec::new(),
        };
        Work {
            reason: plan::due(self.current(), spec.rotate_within, now, force),
            disable: plan::versions_to_disable(&self.versions, spec.grace, now),
            remove,
        }
    }
}

async fn read_journal(vault: &Vault, credential: &str) -> Result<Option<Entry>, Failed> {
    let name = journal::journal_secret_name(credential);
    match vault.get_secret_if_exists(&name).await? {
        None => Ok(None),
        Some(secret) => Entry::from_json(secret.value.expose())
            .map(Some)
            .map_err(|e| {
                Failed(format!(
                    "{name}: {e}; delete the journal secret only if no rotation is in flight"
                ))
            }),
    }
}

async fn write_journal(vault: &Vault, credential: &str, entry: &Entry) -> Result<(), Failed> {
    let tags = BTreeMap::from([
        (TAG_INTERNAL.to_string(), "journal".to_string()),
        (plan::TAG_ROTATION_ID.to_string(), entry.rotation_id.clone()),
    ]);
    vault
        .set_secret(
            &journal::journal_secret_name(credential),
            NewVersion {
                value: &SecretValue::new(entry.to_json()),
                content_type: Some("application/json"),
                not_before: None,
                expires: None,
                tags: &tags,
            },
        )
        .await?;
    Ok(())
}

/// A lock this run holds: its bid's version and lease.
struct Held {
    /// This run's bid versions, all disabled on release.
    bids: Vec<String>,
    lease_until: OffsetDateTime,
}

enum Acquired {
    Held(Held),
    /// Another run holds it (its run id, if it said).
    Busy(Option<String>),
}

async fn acquire(ctx: &Context, vault: &Vault, credential: &str) -> Result<Acquired, Failed> {
    let name = lock::lock_secret_name(credential);
    let lease_until = OffsetDateTime::now_utc() + ctx.timing.lease;
    let tags = BTreeMap::from([
        (TAG_INTERNAL.to_string(), "lock".to_string()),
        (TAG_RUN_ID.to_string(), ctx.run_id.clone()),
    ]);
    let body = serde_json::json!({
        "run_id": ctx.run_id,
        "credential": credential,
        "lease_until": crate::check::dates::rfc3339_utc(lease_until),
    })
    .to_string();
    let bid = vault
        .set_secret(
            &name,
            NewVersion {
                value: &SecretValue::new(body),
                content_type: Some("application/json"),
                not_before: None,
                expires: Some(lease_until),
                tags: &tags,
            },
        )
        .await?;
    tokio::time::sleep(ctx.timing.settle).await;
    let bids: Vec<Bid> = vault
        .secret_versions(&name)
        .await?
        .iter()
        .filter_map(Bid::from_record)
        .collect();
    // Every live bid of this run (one, or two if a lost answer made the write happen twice).
    let ours: Vec<String> = bids
        .iter()
        .filter(|b| b.run_id.as_deref() == Some(ctx.run_id.as_str()) && b.enabled)
        .map(|b| b.version.clone())
        .collect();
    match lock::decide(&bids, &ctx.run_id, OffsetDateTime::now_utc()) {
        Decision::Held => Ok(Acquired::Held(Held {
            bids: ours,
            lease_until: bid.expires.unwrap_or(lease_until),
        })),
        decision => {
            withdraw(vault, credential, &ours).await;
            Ok(Acquired::Busy(match decision {
                Decision::HeldBy(holder) => holder.run_id,
                _ => None,
            }))
        }
    }
}

/// Disables this run's bids. Best effort: a bid left enabled only blocks until its lease ends.
async fn withdraw(vault: &Vault, credential: &str, bids: &[String]) {
    let name = lock::lock_secret_name(credential);
    for version in bids {
        if let Err(e) = vault.set_version_enabled(&name, version, false).await {
            tracing::warn!("cannot withdraw the lock bid of {credential}: {e}");
        }
    }
}

/// A fresh random id for a run or a rotation (128 bits, hex).
pub fn new_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Test hook for the concurrency test: with `KEYROT_TEST_START_SIGNAL=<file>`, every
/// credential waits here, just before bidding for its lock, until the file exists, so two
/// processes bid at the same moment however unevenly they started. Unset, it does nothing.
async fn wait_for_start_signal(credential: &str) {
    if let Ok(path) = std::env::var("KEYROT_TEST_START_SIGNAL") {
        eprintln!("keyrot: waiting for the start signal ({credential})");
        while !std::path::Path::new(&path).exists() {
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }
}

/// Test hook for the crash tests: with `KEYROT_TEST_PAUSE_AT=<step>` the process announces the
/// step boundary on stderr and waits there forever, so a test can SIGKILL it at exactly that
/// point. Unset (always, outside keyrot's own tests), it does nothing.
fn pause_at(step: &str) {
    if std::env::var("KEYROT_TEST_PAUSE_AT").is_ok_and(|at| at == step) {
        eprintln!("keyrot: paused at {step}");
        loop {
            std::thread::sleep(StdDuration::from_secs(3600));
        }
    }
}
