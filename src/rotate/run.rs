//! Carrying out the protocol of [`super`]: the only part of rotation with side effects.
//! Decisions are made by the pure functions of [`super::plan`] and [`super::lock`]; this module
//! reads, writes, and journals in the documented order.
//!
//! A run goes through its credentials in phases, so the lock's settle wait is paid once per run
//! rather than once per credential: plan every credential (reads only), bid for the lock of
//! every one that has work, wait one settle, read every bid, then work through the held ones at
//! `--concurrency` while one renewal loop keeps every held lease (queued ones included) alive.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use futures::StreamExt;
use time::{Duration, OffsetDateTime};
use tokio::sync::{watch, Semaphore};

use super::config::{CredentialSpec, Generator, TriggerTarget};
use super::consumers::{self, Services};
use super::journal::{self, Entry, Step, TriggerMark};
use super::lock::{self, Bid, Decision, LockTiming, TAG_INTERNAL, TAG_RUN_ID};
use super::plan::{self, Current, Password, Reason, Recovery, Removal};
use super::report::{
    CopyStatus, CredentialOutcome, FailedDuring, LockHolder, Notified, RotationStatus, RunOutcome,
    RunStatus,
};
use crate::auth::AuthEnv;
use crate::graph::{Application, GraphClient};
use crate::model::{CredentialRecord, SecretValue};
use crate::transport::KeyrotTransport;
use crate::vault::{NewVersion, Served, Vault};

/// How long a journal version stays valid (its `exp`, which Azure Policy's "secrets should
/// have an expiration date" asks for). Far beyond any rotation in flight; and Key Vault still
/// serves an expired secret (expiry is informational for secrets), so an old journal is read.
pub const JOURNAL_LIFETIME: Duration = Duration::days(90);

/// How often a run waiting for another run's lock (`--wait-lock`) lists the bids.
pub const WAIT_POLL: StdDuration = StdDuration::from_secs(2);

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
    /// `--wait-lock`: how long a locked-out credential waits for the other run.
    pub wait_lock: Option<StdDuration>,
    /// How often a waiting credential lists the bids ([`WAIT_POLL`] for `rotate`; `serve`
    /// polls faster, since an event's answer waits on it).
    pub wait_poll: StdDuration,
    /// `--concurrency`: credentials read, bid for and worked on at once.
    pub concurrency: usize,
    /// Empty at the start of a run; see [`Context::application`].
    pub app_object_ids: AppObjectIds,
    /// The copies' and runs' services.
    pub services: Services,
    pub mode: Mode,
    /// Sends the run's notification (`[[notify]]`), if any channel is configured.
    pub notifier: Option<Box<dyn Notifier>>,
    /// The webhook-id of this run's notification (with a notifier).
    pub notify_id: Option<String>,
}

/// Sends one run's notification. The protocol journals its webhook-id on every credential the
/// run rotated before calling it, holds their locks meanwhile, and clears the mark after, so a
/// run killed in between is followed by one that sends it (once more, at worst).
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(
        &self,
        services: &Services,
        outcomes: &[CredentialOutcome],
        message_id: &str,
    ) -> Vec<Notified>;
}

/// What a run does to each credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `keyrot rotate`: rotate what is due, then update its copies and start its runs.
    Rotate,
    /// `keyrot sync`: push the served value to every copy, rotating nothing; start the runs
    /// only with `--trigger`. An interrupted rotation's propagation is finished (with its runs).
    Sync { trigger: bool },
}

/// A credential whose copies hold the new value and whose runs are still to be started; its
/// lock is kept until they are. `fresh`: marked by this run (nothing was started yet), else
/// found in the journal of a run that died (its runs may exist: look before starting).
struct Awaiting {
    entry: Entry,
    fresh: bool,
}

/// The object id of each application a credential names, learnt at its first lookup. Graph
/// finds an appId only after a 404 by object id, and a credential's application is read three
/// to five times in a run: every read after the first goes straight to the object id.
#[derive(Default)]
pub struct AppObjectIds(Mutex<HashMap<String, String>>);

impl Context {
    /// The application keyrot.toml names by `id` (its object id or appId), read afresh.
    async fn application(&self, id: &str) -> Result<Application, Failed> {
        let graph = self
            .graph
            .as_ref()
            .ok_or_else(|| Failed("no Graph client".into()))?;
        let object_id = self.app_object_ids.with(|ids| ids.get(id).cloned());
        let app = graph
            .application(object_id.as_deref().unwrap_or(id))
            .await?;
        self.app_object_ids
            .with(|ids| ids.insert(id.to_string(), app.object_id.clone()));
        Ok(app)
    }
}

impl AppObjectIds {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, String>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One credential of the run and the vault it lives in.
pub struct Job<'a> {
    pub vault: &'a Vault,
    pub spec: &'a CredentialSpec,
    /// `keyrot serve`: the version a `SecretNearExpiry`/`SecretExpired` event named. While it is
    /// the served one, the credential is due (Key Vault said so); once another version is
    /// served, the event was already answered and nothing is written for it.
    pub event_version: Option<&'a str>,
}

impl Job<'_> {
    /// What is due, with an event's announcement counted.
    fn work(&self, ctx: &Context, state: &State, now: OffsetDateTime) -> Work {
        let mut work = state.work(self.spec, now, ctx.force, None);
        if work.reason.is_none() && self.announced(state) {
            work.reason = Some(Reason::Announced);
        }
        if let (None, Some(end)) = (&work.reason, state.key_policy_end) {
            if end - now <= self.spec.rotate_within {
                work.reason = Some(Reason::KeyPolicy(end));
            }
        }
        work
    }

    /// Whether the event's version is the served one.
    fn announced(&self, state: &State) -> bool {
        self.event_version.is_some_and(|v| {
            state
                .current
                .version()
                .is_some_and(|c| c.eq_ignore_ascii_case(v))
        })
    }
}

/// A failure of one credential's rotation, already worded for the report.
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed(e.to_string())
    }
}

/// Rotates (or plans, or retires) every job and says how each ended, in job order. Never
/// panics on service errors: they become `failed` outcomes, and the journal lets the next run
/// recover.
pub async fn rotate_all(
    ctx: &Context,
    jobs: &[Job<'_>],
) -> (Vec<CredentialOutcome>, Vec<Notified>) {
    let concurrency = ctx.concurrency.max(1);
    // 1. Plan, reads only.
    let mut planned: Vec<(usize, CredentialOutcome, bool)> = futures::stream::iter(jobs.iter())
        .enumerate()
        .map(|(i, job)| async move {
            let (outcome, needs_lock) = plan_one(ctx, job).await;
            (i, outcome, needs_lock)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    planned.sort_by_key(|(i, _, _)| *i);
    let mut outcomes: Vec<CredentialOutcome> = Vec::with_capacity(jobs.len());
    let mut to_lock = Vec::new();
    for (i, outcome, needs_lock) in planned {
        if needs_lock {
            to_lock.push(i);
        }
        outcomes.push(outcome);
    }
    if to_lock.is_empty() {
        // Failures to start are worth telling too.
        let notified = match (&ctx.notifier, &ctx.notify_id, ctx.dry_run) {
            (Some(notifier), Some(id), false) => {
                notifier.notify(&ctx.services, &outcomes, id).await
            }
            _ => Vec::new(),
        };
        return (outcomes, notified);
    }

    // 2.-8., with the renewal loop alongside.
    let leases = Leases::default();
    let (stop, stopped) = watch::channel(false);
    let outcomes = Mutex::new(outcomes);
    let work = async {
        let notified = lock_and_work(ctx, jobs, &to_lock, &leases, &outcomes).await;
        let _ = stop.send(true);
        notified
    };
    let (notified, ()) = futures::join!(work, renew_leases(ctx, jobs, &leases, stopped));
    (
        outcomes.into_inner().unwrap_or_else(|e| e.into_inner()),
        notified,
    )
}

/// Whether this run sends a notification after its work (and so journals it first).
fn notifying(ctx: &Context) -> bool {
    ctx.notifier.is_some() && ctx.notify_id.is_some() && !ctx.dry_run
}

/// The webhook-id a `done` entry carries while the run that wrote it has yet to notify: set
/// when this run notifies and the credential rotated.
fn notify_mark(ctx: &Context, outcome: &CredentialOutcome) -> Option<String> {
    (notifying(ctx) && outcome.status == RotationStatus::Rotated)
        .then(|| ctx.notify_id.clone())
        .flatten()
}

/// A `done` entry whose run was stopped before it notified.
fn unsent_notification(state: &State) -> Option<&Entry> {
    state
        .journal
        .as_ref()
        .filter(|e| e.step == Step::Done && e.notify.is_some())
}

/// Step 1 for one credential: what is due, and whether the lock is needed.
async fn plan_one(ctx: &Context, job: &Job<'_>) -> (CredentialOutcome, bool) {
    let mut outcome = CredentialOutcome::new(job.spec, job.vault.url().as_str());
    let state = match State::read(ctx, job.vault, job.spec).await {
        Ok(state) => state,
        Err(Failed(message)) => {
            fail(&mut outcome, FailedDuring::Planning, message);
            return (outcome, false);
        }
    };
    let spec = job.spec;
    outcome.old_version = state.current.version().map(str::to_string);
    let consumers_due = match ctx.mode {
        Mode::Rotate => {
            if job.event_version.is_some()
                && !job.announced(&state)
                && state.pending().is_none()
                && unsent_notification(&state).is_none()
            {
                // An event for a version no longer served: already rotated; no write at all.
                outcome.status = RotationStatus::UpToDate;
                outcome.message = Some(format!(
                    "already rotated: the event's version {} is no longer the served one",
                    job.event_version.unwrap_or_default()
                ));
                return (outcome, false);
            }
            let work = job.work(ctx, &state, OffsetDateTime::now_utc());
            outcome.reason = work.reason.as_ref().map(Reason::describe);
            outcome.to_disable = work.disable.clone();
            outcome.to_remove = work.remove.iter().map(|(k, _)| k.clone()).collect();
            if work.is_empty() && state.pending().is_none() && unsent_notification(&state).is_none()
            {
                outcome.status = RotationStatus::UpToDate;
                return (outcome, false);
            }
            work.reason.is_some() || state.pending().is_some()
        }
        Mode::Sync { trigger } => {
            let nothing = spec.propagate.is_empty() && (!trigger || spec.triggers.is_empty());
            if nothing && state.pending().is_none() && unsent_notification(&state).is_none() {
                outcome.status = RotationStatus::UpToDate;
                outcome.message = Some("no copies to sync".into());
                return (outcome, false);
            }
            if matches!(state.current, Current::Missing | Current::Disabled) {
                fail(
                    &mut outcome,
                    FailedDuring::Planning,
                    "Key Vault serves no enabled version to copy; rotate it first".into(),
                );
                return (outcome, false);
            }
            true
        }
    };
    // Every copy and run is resolved before anything changes: a group, pipeline or key keyrot
    // cannot see stops this credential here, never halfway.
    if consumers_due && has_consumers(spec) {
        match plan_consumers(ctx, spec).await {
            Ok((copies, runs)) if ctx.dry_run => {
                outcome.copies = copies;
                outcome.runs = runs;
            }
            Ok(_) => {}
            Err(message) => {
                fail(&mut outcome, FailedDuring::Planning, message);
                return (outcome, false);
            }
        }
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
        return (outcome, false);
    }
    (outcome, true)
}

fn has_consumers(spec: &CredentialSpec) -> bool {
    !spec.propagate.is_empty() || !spec.triggers.is_empty()
}

/// Whether this run starts a credential's runs after propagating it.
fn starts_runs(ctx: &Context) -> bool {
    matches!(ctx.mode, Mode::Rotate | Mode::Sync { trigger: true })
}

/// Reads only: every copy resolved, and every run this mode would start.
async fn plan_consumers(
    ctx: &Context,
    spec: &CredentialSpec,
) -> Result<(Vec<super::report::CopyOutcome>, Vec<RunOutcome>), String> {
    let copies = consumers::copies::plan(&ctx.services, spec).await?;
    let mut runs = Vec::new();
    if starts_runs(ctx) {
        for target in &spec.triggers {
            consumers::runs::plan(&ctx.services, target)
                .await
                .map_err(|e| format!("{target}: {e}"))?;
            runs.push(run_outcome(
                target,
                RunStatus::Planned,
                vec![spec.name.clone()],
            ));
        }
    }
    Ok((copies, runs))
}

fn run_outcome(target: &TriggerTarget, status: RunStatus, credentials: Vec<String>) -> RunOutcome {
    RunOutcome {
        kind: target.kind(),
        target: target.to_string(),
        status,
        id: None,
        url: None,
        message: None,
        credentials,
    }
}

fn fail(outcome: &mut CredentialOutcome, during: FailedDuring, message: String) {
    outcome.status = RotationStatus::Failed;
    outcome.failed_during = Some(during);
    outcome.message = Some(message);
}

/// Steps 2 to 8 for every credential that needs its lock: bid for all at once, one settle,
/// read all bids, then work through the held ones; locked-out ones wait with `--wait-lock`.
async fn lock_and_work(
    ctx: &Context,
    jobs: &[Job<'_>],
    to_lock: &[usize],
    leases: &Leases,
    outcomes: &Mutex<Vec<CredentialOutcome>>,
) -> Vec<Notified> {
    let set = |i: usize, f: &dyn Fn(&mut CredentialOutcome)| {
        let mut all = outcomes.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut all[i]);
    };
    let concurrency = ctx.concurrency.max(1);
    wait_for_start_signal(to_lock.iter().map(|&i| jobs[i].spec.name.as_str())).await;

    // 2. Bid for every lock, then one settle for all.
    let bid_results: Vec<(usize, Result<(), Failed>)> = futures::stream::iter(to_lock.iter())
        .map(|&i| async move { (i, bid(ctx, &jobs[i], i, leases).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut bidders = Vec::new();
    for (i, result) in bid_results {
        match result {
            Ok(()) => bidders.push(i),
            Err(Failed(message)) => {
                set(i, &|o| fail(o, FailedDuring::Locking, message.clone()));
            }
        }
    }
    tokio::time::sleep(ctx.timing.settle).await;
    let decisions: Vec<(usize, Result<Decision, Failed>)> = futures::stream::iter(bidders)
        .map(|i| async move { (i, read_decision(ctx, &jobs[i], i, leases).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;

    // 3.-8. for the held ones at --concurrency; the others wait or report the holder.
    let permits = Semaphore::new(concurrency);
    let mut held = Vec::new();
    let mut waiting = Vec::new();
    for (i, decision) in decisions {
        match decision {
            Ok(Decision::Held) => held.push(i),
            Ok(other) => {
                let holder = holder_of(&other);
                match ctx.wait_lock {
                    Some(_) => waiting.push((i, holder)),
                    None => set(i, &|o| report_locked(o, holder.clone())),
                }
            }
            Err(Failed(message)) => {
                set(i, &|o| fail(o, FailedDuring::Locking, message.clone()));
            }
        }
    }
    held.sort_unstable();
    let awaiting = Mutex::new(Vec::new());
    let work_held = futures::future::join_all(held.into_iter().map(|i| {
        let (permits, awaiting) = (&permits, &awaiting);
        async move {
            let _permit = permits.acquire().await;
            let mut outcome = outcomes.lock().unwrap_or_else(|e| e.into_inner())[i].clone();
            let runs_due = work_one(ctx, &jobs[i], i, leases, &mut outcome).await;
            set(i, &|o| *o = outcome.clone());
            if let Some(runs_due) = runs_due {
                awaiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, runs_due));
            }
        }
    }));
    let wait_others = futures::future::join_all(waiting.into_iter().map(|(i, holder)| {
        let (permits, awaiting) = (&permits, &awaiting);
        async move {
            let mut outcome = outcomes.lock().unwrap_or_else(|e| e.into_inner())[i].clone();
            let runs_due =
                wait_then_work(ctx, &jobs[i], i, leases, permits, holder, &mut outcome).await;
            set(i, &|o| *o = outcome.clone());
            if let Some(runs_due) = runs_due {
                awaiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, runs_due));
            }
        }
    }));
    futures::join!(work_held, wait_others);
    // Every credential of the run is propagated (or failed): start each run once, then tell.
    let mut awaiting = awaiting.into_inner().unwrap_or_else(|e| e.into_inner());
    awaiting.sort_by_key(|(i, _)| *i);
    let held = start_runs(ctx, jobs, awaiting, leases, outcomes).await;
    notify_and_release(ctx, jobs, held, leases, outcomes).await
}

/// Steps 3 to 8 for a credential whose lock this run holds; releases the lock afterwards,
/// unless runs are still to be started for it (then [`start_runs`] releases it).
async fn work_one(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    outcome: &mut CredentialOutcome,
) -> Option<Awaiting> {
    pause_at("locked");
    // Re-read: another run may have rotated between our plan and our lock. Nothing of the
    // credential has changed yet, so a failure here is one to start (exit 3), like locking.
    let awaiting = match State::read(ctx, job.vault, job.spec).await {
        Err(Failed(message)) => {
            fail(outcome, FailedDuring::Locking, message);
            None
        }
        Ok(state) => match locked(ctx, job, i, leases, state, outcome).await {
            Ok(awaiting) => awaiting,
            Err(Failed(message)) => {
                fail(outcome, FailedDuring::Rotation, message);
                None
            }
        },
    };
    // Released whatever happened: a held lock only blocks others until its lease ends anyway,
    // and the journal, not the lock, is what the next run recovers from.
    if awaiting.is_none() {
        release(job, i, leases).await;
    }
    awaiting
}

/// `--wait-lock`: waits until no other run's bid is live, then re-reads. Nothing left to do:
/// the other run did it (`rotated_elsewhere`, or `up_to_date` if it only retired). Still due
/// (it crashed or failed): bid again and, once held, do the work. Locked until the deadline:
/// `locked`.
async fn wait_then_work(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    permits: &Semaphore,
    mut holder: Option<LockHolder>,
    outcome: &mut CredentialOutcome,
) -> Option<Awaiting> {
    let deadline = tokio::time::Instant::now() + ctx.wait_lock.unwrap_or_default();
    let lock_name = lock::lock_secret_name(&job.spec.name);
    let planned_version = outcome.old_version.clone();
    let planned_due = outcome.reason.is_some();
    loop {
        // Wait for every rival bid to end (released, or its lease over).
        loop {
            let bids = match read_bids(job.vault, &lock_name).await {
                Ok(bids) => bids,
                Err(Failed(message)) => {
                    fail(outcome, FailedDuring::Locking, message);
                    return None;
                }
            };
            match lock::live_rival(&bids, &ctx.run_id, OffsetDateTime::now_utc()) {
                None => break,
                Some(rival) => holder = Some(LockHolder::from_bid(rival)),
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                report_locked(outcome, holder);
                return None;
            }
            tokio::time::sleep(ctx.wait_poll.min(deadline - now)).await;
        }
        let state = match State::read(ctx, job.vault, job.spec).await {
            Ok(state) => state,
            Err(Failed(message)) => {
                fail(outcome, FailedDuring::Locking, message);
                return None;
            }
        };
        let work = job.work(ctx, &state, OffsetDateTime::now_utc());
        let changed = state.current.version() != planned_version.as_deref();
        // With --force it stays due, so a new served version is what says the other run did it.
        let rotated_elsewhere = planned_due && changed && (ctx.force || work.reason.is_none());
        let unsent = unsent_notification(&state).is_some();
        if rotated_elsewhere || (work.is_empty() && state.pending().is_none() && !unsent) {
            outcome.status = if rotated_elsewhere {
                RotationStatus::RotatedElsewhere
            } else {
                RotationStatus::UpToDate
            };
            outcome.new_version = state.current.version().map(str::to_string);
            outcome.message = Some(match &holder {
                Some(h) if outcome.status == RotationStatus::RotatedElsewhere => {
                    format!(
                        "rotated by another run while this one waited: {}",
                        h.describe()
                    )
                }
                Some(h) => format!(
                    "another run did the work while this one waited: {}",
                    h.describe()
                ),
                None => "another run did the work while this one waited".into(),
            });
            outcome.lock_holder = holder;
            return None;
        }
        // Still due: the holder crashed or failed. Bid like any run.
        if let Err(Failed(message)) = bid(ctx, job, i, leases).await {
            fail(outcome, FailedDuring::Locking, message);
            return None;
        }
        tokio::time::sleep(ctx.timing.settle).await;
        match read_decision(ctx, job, i, leases).await {
            Ok(Decision::Held) => {
                let _permit = permits.acquire().await;
                return work_one(ctx, job, i, leases, outcome).await;
            }
            Ok(other) => {
                holder = holder_of(&other).or(holder);
                if tokio::time::Instant::now() >= deadline {
                    report_locked(outcome, holder);
                    return None;
                }
            }
            Err(Failed(message)) => {
                fail(outcome, FailedDuring::Locking, message);
                return None;
            }
        }
    }
}

fn holder_of(decision: &Decision) -> Option<LockHolder> {
    match decision {
        Decision::HeldBy(bid) => Some(LockHolder::from_bid(bid)),
        Decision::Held | Decision::Lost => None,
    }
}

fn report_locked(outcome: &mut CredentialOutcome, holder: Option<LockHolder>) {
    outcome.status = RotationStatus::Locked;
    outcome.message = Some(match &holder {
        Some(h) => format!(
            "another run is rotating it ({}; it renews the lease while it works); nothing was \
             changed. Wait for it with --wait-lock, or if that run is stuck, break its lock with \
             `keyrot unlock {}`",
            h.describe(),
            outcome.name
        ),
        None => "this run's lock bid was withdrawn or expired before the bids were read (is \
                 --lock-settle close to --lock-lease, or did someone run keyrot unlock?); nothing \
                 was changed"
            .into(),
    });
    outcome.lock_holder = holder;
}

/// Everything done while holding the lock, from `state` as read once it was held. Answers
/// the credential whose runs are still to be started, if any.
async fn locked(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    mut state: State,
    outcome: &mut CredentialOutcome,
) -> Result<Option<Awaiting>, Failed> {
    let (vault, spec) = (job.vault, job.spec);
    // A run stopped before it notified: this run tells instead (its rotation is done).
    if let Some(done) = unsent_notification(&state).cloned() {
        outcome.status = RotationStatus::Rotated;
        outcome.recovered = Some(done.rotation_id.clone());
        outcome.new_version = done.new_version.clone();
        outcome.message = Some(format!(
            "rotated by an earlier run (rotation {}), which was stopped before it notified",
            done.rotation_id
        ));
        return Ok(Some(Awaiting {
            entry: done,
            fresh: false,
        }));
    }
    // An earlier rotation first: its copies and runs before anything new.
    let mut finishing = None;
    let mut resume = None;
    if let Some(pending) = state.pending().cloned() {
        outcome.recovered = Some(pending.rotation_id.clone());
        match pending.step {
            Step::Propagated => {
                outcome.status = RotationStatus::Rotated;
                outcome.new_version = pending.new_version.clone();
                outcome.message = Some(format!(
                    "starting the runs of rotation {}, which was interrupted after its copies were updated",
                    pending.rotation_id
                ));
                finishing = Some(Awaiting {
                    entry: pending,
                    fresh: false,
                });
            }
            // Committed (or died between writing the version and journaling it): its copies.
            _ if has_consumers(spec)
                && (pending.step == Step::Committed
                    || plan::recovery(&pending.rotation_id, &state.versions)
                        == Recovery::Finish) =>
            {
                outcome.status = RotationStatus::Rotated;
                outcome.new_version = pending.new_version.clone();
                outcome.message = Some(format!(
                    "finished rotation {}, which was interrupted before its copies were updated",
                    pending.rotation_id
                ));
                let committed = Committed::served(vault, spec).await?;
                outcome.new_version = Some(committed.version.clone());
                outcome.new_expires = committed.expires;
                finishing = propagate(
                    ctx,
                    job,
                    i,
                    leases,
                    Some(&pending),
                    committed,
                    true,
                    outcome,
                )
                .await?;
                if outcome.status == RotationStatus::PropagationFailed {
                    return Ok(None);
                }
            }
            _ => resume = recover(ctx, job, i, leases, &state, &pending).await?,
        }
        state = State::read(ctx, vault, spec).await?;
    }
    if let Mode::Sync { trigger } = ctx.mode {
        if finishing.is_none() {
            return sync(ctx, job, i, leases, trigger, outcome).await;
        }
        return Ok(finishing);
    }
    let now = OffsetDateTime::now_utc();
    let work = job.work(ctx, &state, now);
    let planned_version = outcome.old_version.clone();
    let planned_due = outcome.reason.is_some();
    outcome.old_version = state.current.version().map(str::to_string);

    if work.reason.is_some() && finishing.is_some() {
        // Its journal holds the interrupted rotation's runs: a new rotation would overwrite it.
        outcome.message = Some(format!(
            "{}; it is due again ({}): the next run rotates it",
            outcome.message.clone().unwrap_or_default(),
            work.reason
                .as_ref()
                .map(Reason::describe)
                .unwrap_or_default()
        ));
    } else if work.reason.is_some() {
        outcome.reason = work.reason.as_ref().map(Reason::describe);
        let (entry, committed) =
            rotate(ctx, job, i, leases, &state, outcome, resume.as_ref()).await?;
        if has_consumers(spec) {
            finishing =
                propagate(ctx, job, i, leases, Some(&entry), committed, false, outcome).await?;
            if outcome.status == RotationStatus::PropagationFailed {
                return Ok(None);
            }
        }
        state = State::read(ctx, vault, spec).await?;
    } else if let Some(stale) = &resume {
        // No longer due (it was forced, or rotated since): its regenerated key is unused.
        leases
            .may_change(i, OffsetDateTime::now_utc(), ctx.timing)
            .map_err(|why| Failed(format!("the lock was lost during recovery ({why})")))?;
        write_journal(vault, &spec.name, &stale.at_step(Step::Aborted, now)).await?;
    } else if planned_due && state.current.version() != planned_version.as_deref() {
        // Due when planned, rotated by another run by the time the lock was ours.
        outcome.status = RotationStatus::RotatedElsewhere;
        outcome.new_version = outcome.old_version.clone();
        outcome.old_version = planned_version;
        outcome.message = Some("rotated by another run before this one held the lock".into());
    }
    let done = retire(ctx, job, i, leases, &state, outcome).await?;
    if !matches!(
        outcome.status,
        RotationStatus::Rotated | RotationStatus::RotatedElsewhere
    ) {
        outcome.status = RotationStatus::UpToDate;
    }
    // A `done` that carries the notification mark keeps the lock until the run has notified.
    Ok(finishing.or(done.map(|entry| Awaiting { entry, fresh: true })))
}

/// A committed version, as Key Vault serves it and its copies get it.
struct Committed {
    version: String,
    not_before: Option<OffsetDateTime>,
    expires: Option<OffsetDateTime>,
    content_type: Option<String>,
    value: SecretValue,
    tags: BTreeMap<String, String>,
}

impl Committed {
    fn of(served: crate::model::FetchedSecret) -> Committed {
        Committed {
            version: served.record.version.unwrap_or_default(),
            not_before: served.record.not_before,
            expires: served.record.expires,
            content_type: served.content_type,
            value: served.value,
            tags: served.record.tags,
        }
    }

    /// What Key Vault serves now (an interrupted rotation's version, or the one to sync).
    async fn served(vault: &Vault, spec: &CredentialSpec) -> Result<Committed, Failed> {
        match vault.served_secret(&spec.name).await? {
            Served::Version(served) => Ok(Committed::of(*served)),
            Served::Disabled => Err(Failed(
                "Key Vault answers that the served version is disabled: nothing to copy".into(),
            )),
            Served::Missing => Err(Failed(
                "Key Vault answers that the secret does not exist: nothing to copy".into(),
            )),
        }
    }
}

/// After a commit (or for `keyrot sync`): writes the value to every copy and verifies each;
/// then sets the version's grace end from now, and journals what is left (its runs) or that
/// the rotation is done. A copy that fails leaves the journal at `committed` (the next run
/// finishes it) and the outcome `propagation_failed`. `with_runs`: mark the credential's
/// runs even in a sync without `--trigger` (an interrupted rotation's runs are its own).
/// `entry`: the rotation's journal entry; `None` for a sync that journals nothing.
#[allow(clippy::too_many_arguments)]
async fn propagate(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    entry: Option<&Entry>,
    committed: Committed,
    with_runs: bool,
    outcome: &mut CredentialOutcome,
) -> Result<Option<Awaiting>, Failed> {
    let (vault, spec) = (job.vault, job.spec);
    // A lost lock may mean a successor holds a newer value: never write an older one over it.
    leases
        .may_change(i, OffsetDateTime::now_utc(), ctx.timing)
        .map_err(|why| {
            Failed(format!(
                "the lock was lost before updating the copies ({why})"
            ))
        })?;
    let input = consumers::copies::CopyInput {
        value: &committed.value,
        version: &committed.version,
        not_before: committed.not_before,
        expires: committed.expires,
        content_type: committed.content_type.as_deref(),
    };
    outcome.copies = consumers::copies::propagate(&ctx.services, spec, &input).await;
    let failed = outcome
        .copies
        .iter()
        .filter(|c| c.status == CopyStatus::Failed)
        .count();
    if failed > 0 {
        outcome.status = RotationStatus::PropagationFailed;
        outcome.message = Some(format!(
            "{failed} of {} copies could not be updated, so the previous value stays enabled and \
             no run was started; the next keyrot rotate (or keyrot sync) finishes it",
            outcome.copies.len()
        ));
        return Ok(None);
    }
    pause_at("copied");
    let propagated_at = OffsetDateTime::now_utc();
    if committed
        .tags
        .get(crate::model::TAG_GRACE_ENDS)
        .map(|t| t.trim())
        == Some(plan::GRACE_AFTER_PROPAGATION)
    {
        let mut tags = committed.tags.clone();
        tags.insert(
            crate::model::TAG_GRACE_ENDS.into(),
            plan::grace_end_tag(propagated_at, spec.grace),
        );
        vault
            .set_version_tags(&spec.name, &committed.version, &tags)
            .await?;
    }
    let Some(entry) = entry else {
        return Ok(None);
    };
    let marks: Vec<TriggerMark> = if with_runs || starts_runs(ctx) {
        spec.triggers
            .iter()
            .map(|t| TriggerMark {
                target: t.identity(),
                marked_at: propagated_at,
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut entry = entry.at_step(Step::Done, propagated_at);
    entry.propagated_at = Some(propagated_at);
    leases
        .may_change(i, OffsetDateTime::now_utc(), ctx.timing)
        .map_err(|why| {
            Failed(format!(
                "the lock was lost after updating the copies ({why})"
            ))
        })?;
    if marks.is_empty() {
        entry.notify = notify_mark(ctx, outcome);
        write_journal(vault, &spec.name, &entry).await?;
        // With the notification mark, the lock is kept until the run has notified.
        return Ok(entry
            .notify
            .is_some()
            .then_some(Awaiting { entry, fresh: true }));
    }
    entry.step = Step::Propagated;
    entry.triggers = marks;
    write_journal(vault, &spec.name, &entry).await?;
    pause_at("propagated");
    Ok(Some(Awaiting { entry, fresh: true }))
}

/// `keyrot sync` for a credential with nothing interrupted: the served value to every copy.
async fn sync(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    trigger: bool,
    outcome: &mut CredentialOutcome,
) -> Result<Option<Awaiting>, Failed> {
    let committed = Committed::served(job.vault, job.spec).await?;
    outcome.old_version = Some(committed.version.clone());
    outcome.new_version = Some(committed.version.clone());
    // Runs to start are journaled like a rotation's, under an id of their own.
    let entry = if trigger && !job.spec.triggers.is_empty() {
        let mut entry = new_entry(
            job.spec,
            new_id().map_err(Failed)?,
            OffsetDateTime::now_utc(),
        );
        entry.previous_version = Some(committed.version.clone());
        entry.new_version = Some(committed.version.clone());
        Some(entry)
    } else {
        None
    };
    let awaiting = propagate(
        ctx,
        job,
        i,
        leases,
        entry.as_ref(),
        committed,
        false,
        outcome,
    )
    .await?;
    if outcome.status != RotationStatus::PropagationFailed {
        outcome.status = RotationStatus::Synced;
    }
    Ok(awaiting)
}

/// After every credential of the run is propagated: starts each run its credentials marked,
/// once however many name it (an interrupted run's marks first look for the run it may have
/// started), holds back a run that deploys a credential whose copies failed, then journals
/// each credential done (a run that could not start stays marked for the next run) and
/// releases its lock.
async fn start_runs(
    ctx: &Context,
    jobs: &[Job<'_>],
    awaiting: Vec<(usize, Awaiting)>,
    leases: &Leases,
    outcomes: &Mutex<Vec<CredentialOutcome>>,
) -> Vec<(usize, Awaiting)> {
    if awaiting.is_empty() {
        return Vec::new();
    }
    let held_back: std::collections::BTreeSet<String> = {
        let all = outcomes.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .zip(jobs)
            .filter(|(o, _)| o.status == RotationStatus::PropagationFailed)
            .flat_map(|(_, job)| job.spec.triggers.iter().map(TriggerTarget::identity))
            .collect()
    };
    struct Group<'a> {
        target: &'a TriggerTarget,
        credentials: Vec<usize>,
        adopt_since: Option<OffsetDateTime>,
    }
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for (i, waiting) in &awaiting {
        for mark in &waiting.entry.triggers {
            let Some(target) = jobs[*i]
                .spec
                .triggers
                .iter()
                .find(|t| t.identity() == mark.target)
            else {
                tracing::warn!(
                    "{}: keyrot.toml no longer names the run {} that rotation {} was to start; it is not started",
                    jobs[*i].spec.name,
                    crate::ci::inert::one_line(&mark.target),
                    waiting.entry.rotation_id
                );
                continue;
            };
            let group = groups.entry(mark.target.clone()).or_insert(Group {
                target,
                credentials: Vec::new(),
                adopt_since: None,
            });
            group.credentials.push(*i);
            if !waiting.fresh {
                let since = group
                    .adopt_since
                    .map_or(mark.marked_at, |s| s.min(mark.marked_at));
                group.adopt_since = Some(since);
            }
        }
    }
    let started: Vec<(String, Vec<usize>, RunOutcome)> = futures::stream::iter(groups)
        .map(|(identity, group)| {
            let held_back = held_back.contains(&identity);
            async move {
                let names = group
                    .credentials
                    .iter()
                    .map(|&i| jobs[i].spec.name.clone())
                    .collect();
                let mut run = run_outcome(group.target, RunStatus::Withheld, names);
                if held_back {
                    run.message = Some(
                        "a credential it deploys could not be propagated; the run that finishes \
                         that propagation starts it"
                            .into(),
                    );
                } else {
                    match consumers::runs::start(&ctx.services, group.target, group.adopt_since)
                        .await
                    {
                        Ok(start) => {
                            run.status = start.status;
                            run.id = start.id;
                            run.url = start.url;
                        }
                        Err(message) => {
                            run.status = RunStatus::Failed;
                            run.message = Some(message);
                        }
                    }
                }
                (identity, group.credentials, run)
            }
        })
        .buffer_unordered(ctx.concurrency.max(1))
        .collect()
        .await;
    let mut failed_targets = std::collections::BTreeSet::new();
    {
        let mut all = outcomes.lock().unwrap_or_else(|e| e.into_inner());
        for (identity, credentials, run) in &started {
            if run.status == RunStatus::Failed {
                failed_targets.insert(identity.clone());
            }
            for &i in credentials {
                all[i].runs.push(run.clone());
            }
        }
    }
    pause_at("triggered");
    // Done (or still marked for what could not start), then the lock goes, unless the entry
    // carries the notification mark: those stay locked until the run has notified.
    let held = Mutex::new(Vec::new());
    futures::stream::iter(awaiting)
        .for_each_concurrent(ctx.concurrency.max(1), |(i, waiting)| {
            let (failed_targets, held) = (&failed_targets, &held);
            async move {
                let job = &jobs[i];
                let mut entry = waiting.entry;
                if entry.step != Step::Done {
                    entry
                        .triggers
                        .retain(|m| failed_targets.contains(&m.target));
                    entry.step = if entry.triggers.is_empty() {
                        Step::Done
                    } else {
                        Step::Propagated
                    };
                    entry.at = OffsetDateTime::now_utc();
                    if entry.step == Step::Done {
                        let all = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                        entry.notify = notify_mark(ctx, &all[i]);
                    }
                    let journaled = match leases.may_change(i, entry.at, ctx.timing) {
                        Ok(()) => write_journal(job.vault, &job.spec.name, &entry)
                            .await
                            .map_err(|Failed(e)| e),
                        Err(why) => Err(format!("the lock was lost ({why})")),
                    };
                    if let Err(why) = journaled {
                        // The runs are started; the next run finds them by their marks and adopts.
                        tracing::warn!(
                            "{}: could not journal the started runs: {why}; the next run adopts them",
                            job.spec.name
                        );
                        entry.notify = None;
                    }
                }
                if entry.notify.is_some() {
                    let fresh = waiting.fresh;
                    held.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, Awaiting { entry, fresh }));
                } else {
                    release(job, i, leases).await;
                }
            }
        })
        .await;
    let mut held = held.into_inner().unwrap_or_else(|e| e.into_inner());
    held.sort_by_key(|(i, _)| *i);
    held
}

/// The run's notification, journaled on every credential it rotated (their `done` entries
/// carry its webhook-id, and their locks are still held): send it, then clear each mark and
/// release the lock. A run killed before the marks are cleared leaves them to the next run,
/// which sends the notification (with the same webhook-id when it only tells of those).
async fn notify_and_release(
    ctx: &Context,
    jobs: &[Job<'_>],
    held: Vec<(usize, Awaiting)>,
    leases: &Leases,
    outcomes: &Mutex<Vec<CredentialOutcome>>,
) -> Vec<Notified> {
    let notified = match (&ctx.notifier, notifying(ctx)) {
        (Some(notifier), true) => {
            // Only earlier runs' marks, all of one notification: send it again under its id.
            let ids: std::collections::BTreeSet<&str> = held
                .iter()
                .filter_map(|(_, h)| h.entry.notify.as_deref())
                .collect();
            let resend = !held.is_empty() && held.iter().all(|(_, h)| !h.fresh) && ids.len() == 1;
            let id = match (resend, ids.first(), &ctx.notify_id) {
                (true, Some(id), _) => (*id).to_string(),
                (_, _, Some(id)) => id.clone(),
                _ => String::new(),
            };
            pause_at("notifying");
            let snapshot = outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let notified = notifier.notify(&ctx.services, &snapshot, &id).await;
            pause_at("notified");
            notified
        }
        _ => Vec::new(),
    };
    futures::stream::iter(held)
        .for_each_concurrent(ctx.concurrency.max(1), |(i, waiting)| async move {
            let job = &jobs[i];
            let mut entry = waiting.entry;
            entry.notify = None;
            let cleared = match leases.may_change(i, OffsetDateTime::now_utc(), ctx.timing) {
                Ok(()) => write_journal(job.vault, &job.spec.name, &entry)
                    .await
                    .map_err(|Failed(e)| e),
                Err(why) => Err(format!("the lock was lost ({why})")),
            };
            if let Err(why) = cleared {
                tracing::warn!(
                    "{}: could not clear the notification mark: {why}; the next run notifies again",
                    job.spec.name
                );
            }
            release(job, i, leases).await;
        })
        .await;
    notified
}

/// Steps 4 to 7: journal, create, verify, commit. `resume`: a resource key rotation that an
/// earlier run journaled but did not commit, carried on under its own rotation id (its key may
/// already be regenerated: it is not regenerated twice).
async fn rotate(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    state: &State,
    outcome: &mut CredentialOutcome,
    resume: Option<&Entry>,
) -> Result<(Entry, Committed), Failed> {
    let (vault, spec) = (job.vault, job.spec);
    let now = OffsetDateTime::now_utc();
    let mut entry = match resume {
        Some(pending) => pending.at_step(pending.step, now),
        None => {
            let mut entry = new_entry(spec, new_id().map_err(Failed)?, now);
            entry.previous_version = state.current.version().map(str::to_string);
            entry.application = state.app.as_ref().map(|a| a.object_id.clone());
            entry
        }
    };
    let rotation_id = entry.rotation_id.clone();
    outcome.rotation_id = Some(rotation_id.clone());
    // Resource keys: which key, decided (and a key still in use refused) before the journal.
    let (served_tags, listed) = match &spec.generator {
        Generator::ResourceKey(key) => {
            let (tags, listed) =
                prepare_key(ctx, job, i, leases, state, key, &mut entry, outcome).await?;
            (tags, Some(listed))
        }
        _ => (None, None),
    };
    write_journal(vault, &spec.name, &entry).await?;
    pause_at("started");

    // Create. `proof` is what verification uses: the value, or a resource's raw key.
    let (value, proof, not_before, expires, key_id) = match &spec.generator {
        Generator::Random(random) => {
            let value = super::generate::random_value(random).map_err(Failed)?;
            (value.clone(), value, now, now + spec.validity, None)
        }
        Generator::ResourceKey(key) => {
            let listed = listed.ok_or_else(|| Failed("the keys were not listed".into()))?;
            let new_key = create_key(ctx, vault, spec, key, &mut entry, listed).await?;
            let cloud = ctx
                .services
                .arm()
                .map_err(Failed)?
                .cloud()
                .map_err(Failed)?;
            let value = super::resource_key::secret_value(cloud, key, &new_key);
            let expires =
                super::resource_key::expires(key, spec.validity, served_tags.as_ref(), now);
            (value, new_key, now, expires, None)
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
            (
                created.secret.clone(),
                created.secret,
                start,
                end,
                Some(created.credential.key_id),
            )
        }
    };
    pause_at("created");

    // Verify, before anyone can see it.
    if let Err(why) = verify(ctx, spec, state, &proof).await {
        undo(ctx, vault, spec, state, &entry).await;
        let undone = match spec.generator {
            // A regenerated key cannot be taken back; no version holds it, so nobody uses it.
            Generator::ResourceKey(_) => "not stored (no version holds the regenerated key)",
            _ => "not stored and was removed",
        };
        return Err(Failed(format!(
            "the new credential did not verify, so it was {undone}: {why}"
        )));
    }
    entry = entry.at_step(Step::Verified, OffsetDateTime::now_utc());
    write_journal(vault, &spec.name, &entry).await?;
    pause_at("verified");

    // Commit, only after a renewal that counts and with lease to spare: a successor may take
    // over once the lease ends, and `keyrot unlock --force` disables the bid, which only a
    // renewal (a write to the bid) learns of.
    let held = match renew(ctx, job, i, leases).await {
        Ok(()) => leases.may_change(i, OffsetDateTime::now_utc(), ctx.timing),
        Err(why) => Err(why),
    };
    if let Err(why) = held {
        undo(ctx, vault, spec, state, &entry).await;
        return Err(Failed(format!(
            "the lock was lost before the commit ({why}); nothing was stored and the new \
             credential was removed"
        )));
    }
    let committed_at = OffsetDateTime::now_utc();
    let mut tags = commit_tags(spec, state, &rotation_id, key_id.as_deref(), committed_at);
    if let (Generator::ResourceKey(key), Some(slot)) = (&spec.generator, entry.key_slot) {
        tags = super::resource_key::tags(&tags, key, slot);
    }
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
    // Read back what readers get: the served version must be the one written.
    let served_ok = match vault.served_secret(&spec.name).await? {
        Served::Version(served) => {
            if served.record.version.as_deref() != Some(version.as_str()) {
                Err(format!(
                    "Key Vault serves version {} instead: something else wrote the secret at \
                     the same moment",
                    served.record.version.as_deref().unwrap_or("(unknown)")
                ))
            } else if served.value != value || served.record.tags != tags {
                Err(
                    "the served version does not read back as written (value or tags differ)"
                        .to_string(),
                )
            } else {
                Ok(Committed::of(*served))
            }
        }
        Served::Disabled => Err("Key Vault answers that the served version is disabled".into()),
        Served::Missing => Err("Key Vault answers that the secret does not exist".into()),
    };
    let committed = served_ok.map_err(|why| {
        Failed(format!(
            "wrote version {version} of {}, but {why}; check the secret by hand (the next run \
             finishes this rotation from its journal)",
            spec.name
        ))
    })?;
    pause_at("committed");
    entry.new_version = Some(version.clone());
    entry = entry.at_step(Step::Committed, OffsetDateTime::now_utc());
    write_journal(vault, &spec.name, &entry).await?;
    outcome.status = RotationStatus::Rotated;
    outcome.new_version = Some(version.clone());
    outcome.credential_id = key_id;
    outcome.new_expires = Some(expires);
    Ok((entry, committed))
}

/// Resource keys, before the journal: lists the keys, decides which one to regenerate (the
/// journal's choice when resuming), and makes sure no other enabled version holds it: one
/// whose grace has ended is disabled now, one within its grace stops the rotation. Answers the
/// served version's tags (the new version's expiry may come from them) and the keys as listed.
#[allow(clippy::too_many_arguments)]
async fn prepare_key(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    state: &State,
    key: &super::config::ResourceKeySpec,
    entry: &mut Entry,
    outcome: &mut CredentialOutcome,
) -> Result<
    (
        Option<BTreeMap<String, String>>,
        super::resource_key::KeyPair,
    ),
    Failed,
> {
    use super::resource_key::{decide, fingerprint, held_by_tag, list};
    let (vault, spec) = (job.vault, job.spec);
    let arm = ctx.services.arm().map_err(Failed)?;
    let keys = list(arm, key).await.map_err(Failed)?;
    let served = match vault.served_secret(&spec.name).await? {
        Served::Version(served) => Some(served),
        Served::Disabled | Served::Missing => None,
    };
    let served_tags = served.as_ref().map(|s| s.record.tags.clone());
    if entry.key_slot.is_some() {
        return Ok((served_tags, keys));
    }
    let alternation = decide(served.as_ref().map(|s| (&s.value, &s.record.tags)), &keys)
        .map_err(|e| Failed(format!("the secret's tags cannot be read: {e}")))?;
    let slot = alternation.regenerate;
    let key_name = slot.key_name(key.service);
    if alternation.tag_disagreed {
        tracing::warn!(
            "{}: the CredentialId tag names the other key than the one the secret holds; the value wins, so {key_name} is regenerated",
            spec.name
        );
    }
    let served_version = served.as_ref().and_then(|s| s.record.version.clone());
    let now = OffsetDateTime::now_utc();
    let retirable = plan::versions_to_disable(&state.versions, &state.current, spec.grace, now);
    for version in state
        .versions
        .iter()
        .filter(|v| v.enabled && v.version != served_version && held_by_tag(&v.tags) == Some(slot))
    {
        let id = version.version.clone().unwrap_or_default();
        if retirable.contains(&id) {
            leases
                .may_change(i, OffsetDateTime::now_utc(), ctx.timing)
                .map_err(|why| Failed(format!("the lock was lost ({why})")))?;
            vault.set_version_enabled(&spec.name, &id, false).await?;
            outcome.disabled.push(id);
            continue;
        }
        let until = state
            .current
            .served()
            .and_then(|c| plan::grace_end(c, spec.grace))
            .map_or_else(
                || "its copies are all updated".to_string(),
                crate::check::dates::rfc3339_utc,
            );
        return Err(Failed(format!(
            "version {id} still holds {key_name} and stays enabled until the grace ends \
             ({until}): regenerating {key_name} now would cut off whoever still uses it; rotate \
             after that (or shorten grace)"
        )));
    }
    entry.key_slot = Some(slot);
    entry.key_before = Some(fingerprint(keys.get(slot)));
    Ok((served_tags, keys))
}

/// Resource keys, step 5: regenerates the chosen key unless `listed` (the keys as
/// [`prepare_key`] listed them) shows it already was (a resumed rotation), Cosmos DB's through
/// its journaled operation; journals `created`; answers the new key.
async fn create_key(
    ctx: &Context,
    vault: &Vault,
    spec: &CredentialSpec,
    key: &super::config::ResourceKeySpec,
    entry: &mut Entry,
    listed: super::resource_key::KeyPair,
) -> Result<SecretValue, Failed> {
    use super::resource_key::{fingerprint, list, regenerate};
    use crate::arm::lro::Waited;
    use crate::keys::alternation::Service;
    let arm = ctx.services.arm().map_err(Failed)?;
    let slot = entry
        .key_slot
        .ok_or_else(|| Failed("no key chosen".into()))?;
    let before = entry.key_before.clone();
    let key_name = slot.key_name(key.service);
    let what = format!("{key_name} of {}", key.resource.describe());
    let done_before = before.as_deref() != Some(fingerprint(listed.get(slot)).as_str());
    if done_before {
        tracing::info!(
            "{}: {what} was already regenerated by rotation {}",
            spec.name,
            entry.rotation_id
        );
    } else if key.service == Service::Cosmos {
        let operation = match &entry.operation {
            Some(operation) => operation.clone(),
            None => {
                let operation = arm
                    .cosmos()
                    .begin_regenerate_key(&key.resource, slot.into())
                    .await
                    .map_err(|e| Failed(e.to_string()))?;
                entry.operation = Some(operation.clone());
                write_journal(vault, &spec.name, entry).await?;
                pause_at("operation");
                operation
            }
        };
        let deadline = std::time::Instant::now() + key.lro_timeout;
        match arm
            .cosmos()
            .wait(&operation, deadline)
            .await
            .map_err(|e| Failed(e.to_string()))?
        {
            Waited::Succeeded => {}
            Waited::Failed(why) => {
                // Ended: the next run starts a new one.
                entry.operation = None;
                write_journal(vault, &spec.name, entry).await?;
                return Err(Failed(format!(
                    "Cosmos DB could not regenerate {what}: {why}; the next run tries again"
                )));
            }
            Waited::TimedOut => {
                return Err(Failed(format!(
                    "regenerating {what} was still running after lro_timeout ({}s); the next \
                     run goes on waiting for the same operation rather than starting another",
                    key.lro_timeout.as_secs()
                )))
            }
        }
    } else {
        regenerate(arm, key, slot).await.map_err(Failed)?;
    }
    let new_key = if done_before {
        listed.get(slot).clone()
    } else {
        list(arm, key).await.map_err(Failed)?.get(slot).clone()
    };
    if before.as_deref() == Some(fingerprint(&new_key).as_str()) {
        return Err(Failed(format!(
            "the service said {what} was regenerated, but it lists the same key as before"
        )));
    }
    *entry = entry.at_step(Step::Created, OffsetDateTime::now_utc());
    entry.operation = None;
    write_journal(vault, &spec.name, entry).await?;
    Ok(new_key)
}

/// A journal entry for a new rotation (or a sync's runs) of `spec`, at `started`.
fn new_entry(spec: &CredentialSpec, rotation_id: String, at: OffsetDateTime) -> Entry {
    Entry {
        version: Entry::FORMAT,
        rotation_id,
        credential: spec.name.clone(),
        step: Step::Started,
        at,
        generator: spec.generator.name().to_string(),
        previous_version: None,
        application: None,
        display_name: None,
        key_id: None,
        key_slot: None,
        key_before: None,
        operation: None,
        new_version: None,
        propagated_at: None,
        triggers: Vec::new(),
        notify: None,
    }
}

/// Step 8: disable superseded versions and remove superseded or orphaned passwords, then mark
/// a rotation of this run done; answers that `done` entry when it carries the notification
/// mark (the lock is then kept until the run has notified).
async fn retire(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    state: &State,
    outcome: &mut CredentialOutcome,
) -> Result<Option<Entry>, Failed> {
    let (vault, spec) = (job.vault, job.spec);
    let now = OffsetDateTime::now_utc();
    let work = state.work(spec, now, false, None);
    // Each change only while the lease holds: a successor may be rotating once it is lost, and
    // its new password would look like an orphan to a stale view.
    let may_change = |outcome: &mut CredentialOutcome| match leases.may_change(
        i,
        OffsetDateTime::now_utc(),
        ctx.timing,
    ) {
        Ok(()) => true,
        Err(why) => {
            tracing::warn!("{}: retirement left to the next run: {why}", spec.name);
            outcome.message = Some(format!("retirement left to the next run: {why}"));
            false
        }
    };
    for version in &work.disable {
        if !may_change(outcome) {
            return Ok(None);
        }
        vault
            .set_version_enabled(&spec.name, version, false)
            .await?;
        outcome.disabled.push(version.clone());
    }
    if let (Some(graph), Some(app)) = (&ctx.graph, &state.app) {
        for (key_id, why) in &work.remove {
            if !may_change(outcome) {
                return Ok(None);
            }
            graph.remove_password(&app.object_id, key_id).await?;
            tracing::info!("{}: removed Entra password {key_id} ({why:?})", spec.name);
            outcome.removed.push(key_id.clone());
        }
    }
    pause_at("retired");
    if let Some(entry) = state.journal.as_ref().filter(|e| {
        Some(e.rotation_id.as_str()) == outcome.rotation_id.as_deref() && e.step == Step::Committed
    }) {
        let mut done = entry.at_step(Step::Done, now);
        done.notify = notify_mark(ctx, outcome);
        write_journal(vault, &spec.name, &done).await?;
        return Ok(done.notify.is_some().then_some(done));
    }
    Ok(None)
}

/// Finishes or undoes a rotation the journal says was interrupted. A resource key rotation
/// that had chosen its key is not undone (a regenerated key cannot be un-regenerated, and it
/// is one no version holds): it is answered, to be carried on by [`rotate`] if still due.
async fn recover(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
    state: &State,
    pending: &Entry,
) -> Result<Option<Entry>, Failed> {
    let (vault, spec) = (job.vault, job.spec);
    leases
        .may_change(i, OffsetDateTime::now_utc(), ctx.timing)
        .map_err(|why| Failed(format!("the lock was lost before recovery ({why})")))?;
    let now = OffsetDateTime::now_utc();
    match plan::recovery(&pending.rotation_id, &state.versions) {
        Recovery::Finish => {
            tracing::info!(
                "{}: rotation {} had committed before it was interrupted; finishing it",
                spec.name,
                pending.rotation_id
            );
            write_journal(vault, &spec.name, &pending.at_step(Step::Done, now)).await?;
        }
        Recovery::Undo
            if matches!(spec.generator, Generator::ResourceKey(_))
                && pending.key_slot.is_some() =>
        {
            tracing::info!(
                "{}: rotation {} stopped at step {} before committing; carrying it on",
                spec.name,
                pending.rotation_id,
                pending.step.as_str()
            );
            return Ok(Some(pending.clone()));
        }
        Recovery::Undo => {
            tracing::info!(
                "{}: rotation {} died at step {} before committing; undoing it",
                spec.name,
                pending.rotation_id,
                pending.step.as_str()
            );
            let still_held = || leases.may_change(i, OffsetDateTime::now_utc(), ctx.timing);
            remove_rotation_passwords(ctx, state, &pending.rotation_id, Some(&still_held)).await?;
            still_held()
                .map_err(|why| Failed(format!("the lock was lost during recovery ({why})")))?;
            write_journal(vault, &spec.name, &pending.at_step(Step::Aborted, now)).await?;
        }
    }
    Ok(None)
}

/// Best effort after a failure before commit: remove what was created, journal `aborted`.
async fn undo(ctx: &Context, vault: &Vault, spec: &CredentialSpec, state: &State, entry: &Entry) {
    let aborted = async {
        remove_rotation_passwords(ctx, state, &entry.rotation_id, None).await?;
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

/// Removes every password of the application whose display name carries the rotation id and
/// that no version holds (re-read, so a password whose creation answer was lost is found too).
/// `still_held`, when given, is asked before each removal (another run's rotation is undone
/// only while this run holds the lock).
async fn remove_rotation_passwords(
    ctx: &Context,
    state: &State,
    rotation_id: &str,
    still_held: Option<&(dyn Fn() -> Result<(), String> + Sync)>,
) -> Result<(), Failed> {
    let (Some(graph), Some(app)) = (&ctx.graph, &state.app) else {
        return Ok(());
    };
    let fresh = graph.application(&app.object_id).await?;
    for key_id in plan::passwords_of_rotation(&passwords(&fresh), &state.versions, rotation_id) {
        if let Some(still_held) = still_held {
            still_held()
                .map_err(|why| Failed(format!("the lock was lost during recovery ({why})")))?;
        }
        graph.remove_password(&app.object_id, &key_id).await?;
    }
    Ok(())
}

fn passwords(app: &Application) -> Vec<Password> {
    app.passwords
        .iter()
        .map(|p| Password {
            key_id: p.key_id.clone(),
            display_name: p.display_name.clone(),
        })
        .collect()
}

async fn verify(
    ctx: &Context,
    spec: &CredentialSpec,
    state: &State,
    value: &SecretValue,
) -> Result<(), String> {
    match &spec.generator {
        Generator::Random(random) => match &random.verify_command {
            Some(argv) => {
                super::verify::run_command(argv, &random.verify_env, value, spec.verify_timeout)
                    .await
            }
            None => Ok(()),
        },
        Generator::ResourceKey(key) => {
            let arm = ctx.services.arm()?;
            let target = super::resource_key::target(&key.resource)
                .ok_or("the resource has no keys to prove")?;
            crate::dataplane::prove(
                &ctx.transport,
                arm.cloud()?,
                &target,
                value,
                spec.verify_timeout,
            )
            .await
        }
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

/// The served version's tags (without keyrot's), the credential's, then keyrot's own,
/// including when the versions this one supersedes may be retired.
fn commit_tags(
    spec: &CredentialSpec,
    state: &State,
    rotation_id: &str,
    key_id: Option<&str>,
    committed_at: OffsetDateTime,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = state
        .current
        .served()
        .map(|c| c.tags.clone())
        .unwrap_or_default()
        .into_iter()
        // keyrot's own tags describe the previous rotation; they are written afresh below.
        .filter(|(k, _)| !super::config::is_reserved_tag(k))
        .collect();
    tags.extend(spec.tags.clone());
    tags.insert(plan::TAG_ROTATION_ID.into(), rotation_id.into());
    tags.insert(
        plan::TAG_ROTATED_AT.into(),
        crate::check::dates::rfc3339_utc(
            committed_at.replace_nanosecond(0).unwrap_or(committed_at),
        ),
    );
    // With copies, grace counts from when they all hold the new value (see `propagate`).
    let grace_end = if spec.propagate.is_empty() {
        plan::grace_end_tag(committed_at, spec.grace)
    } else {
        plan::GRACE_AFTER_PROPAGATION.to_string()
    };
    tags.insert(crate::model::TAG_GRACE_ENDS.into(), grace_end);
    if let (Some(key_id), Some(app)) = (key_id, &state.app) {
        tags.insert(plan::TAG_KEY_ID.into(), key_id.into());
        tags.insert(plan::TAG_APP.into(), app.app_id.clone());
    }
    tags
}

/// What is known about one credential at one moment.
struct State {
    /// Every version, listed *before* the served one was read (see [`plan::versions_to_disable`]).
    versions: Vec<CredentialRecord>,
    current: Current,
    journal: Option<Entry>,
    app: Option<Application>,
    /// Storage keys: when the key the served version holds passes the account's key
    /// expiration policy (`None` without a policy, or when the account cannot be read).
    key_policy_end: Option<OffsetDateTime>,
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
    /// Reads the versions, then the served version, the journal and (Entra) the application.
    async fn read(ctx: &Context, vault: &Vault, spec: &CredentialSpec) -> Result<State, Failed> {
        let versions = vault.secret_versions(&spec.name).await?;
        // The served version's value is not kept: only its metadata decides anything.
        let current = match vault.served_secret(&spec.name).await? {
            Served::Missing => Current::Missing,
            Served::Disabled => Current::Disabled,
            Served::Version(served) => Current::Served(Box::new(served.record)),
        };
        let journal = read_journal(vault, &spec.name).await?;
        let app = match &spec.generator {
            Generator::EntraAppPassword { application, .. } => {
                Some(ctx.application(application).await?)
            }
            Generator::Random(_) | Generator::ResourceKey(_) => None,
        };
        let key_policy_end = match &spec.generator {
            Generator::ResourceKey(key) => key_policy_end(ctx, spec, key, &current).await,
            _ => None,
        };
        Ok(State {
            versions,
            current,
            journal,
            app,
            key_policy_end,
        })
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
                plan::passwords_to_remove(
                    &passwords(app),
                    &self.versions,
                    &self.current,
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
            reason: plan::due(&self.current, spec.rotate_within, now, force),
            disable: plan::versions_to_disable(&self.versions, &self.current, spec.grace, now),
            remove,
        }
    }
}

/// When the storage key the served version holds passes its account's key expiration policy.
/// The account is read with Reader's rights, which the key operator role lacks: a failure is
/// said once and costs nothing but this date.
async fn key_policy_end(
    ctx: &Context,
    spec: &CredentialSpec,
    key: &super::config::ResourceKeySpec,
    current: &Current,
) -> Option<OffsetDateTime> {
    use crate::keys::alternation::{Service, Slot};
    if key.service != Service::Storage {
        return None;
    }
    let account = match ctx
        .services
        .arm()
        .ok()?
        .storage()
        .get_account(&key.resource)
        .await
    {
        Ok(account) => account,
        Err(e) => {
            tracing::debug!("{}: the key's age is not known: {}", spec.name, e.summary());
            return None;
        }
    };
    let days = account.key_expiration_days?;
    let held = current
        .served()
        .and_then(|c| super::resource_key::held_by_tag(&c.tags));
    let created = match held {
        Some(slot) => account.key_created(slot)?,
        None => [Slot::First, Slot::Second]
            .into_iter()
            .filter_map(|s| account.key_created(s))
            .min()?,
    };
    Some(created + Duration::days(i64::from(days)))
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
                expires: Some(OffsetDateTime::now_utc() + JOURNAL_LIFETIME),
                tags: &tags,
            },
        )
        .await?;
    Ok(())
}

/// This run's bids and lease for each credential it bid for, shared by the work and the
/// renewal loop, keyed by job index.
#[derive(Default)]
struct Leases(Mutex<HashMap<usize, Lease>>);

struct Lease {
    /// This run's bid versions (two if a lost answer made the write happen twice).
    bids: Vec<String>,
    lease_until: OffsetDateTime,
    /// Why the lease can no longer be trusted (a renewal failed, found the bid disabled, or
    /// answered only once the lease had ended). Never cleared.
    lost: Option<String>,
}

impl Leases {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<usize, Lease>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the run still holds the lock with lease to spare for one more change.
    fn may_change(&self, i: usize, now: OffsetDateTime, timing: LockTiming) -> Result<(), String> {
        self.with(|all| match all.get(&i) {
            None => Err("this run holds no lease".into()),
            Some(Lease {
                lost: Some(why), ..
            }) => Err(why.clone()),
            Some(lease) if !lock::lease_allows(lease.lease_until, now, timing.commit_margin()) => {
                Err(format!(
                    "its lease ends at {}, too soon to commit",
                    crate::check::dates::rfc3339_utc(lease.lease_until)
                ))
            }
            Some(_) => Ok(()),
        })
    }
}

/// Step 2 for one credential: writes this run's bid and registers it for renewal.
async fn bid(ctx: &Context, job: &Job<'_>, i: usize, leases: &Leases) -> Result<(), Failed> {
    let credential = &job.spec.name;
    let name = lock::lock_secret_name(credential);
    let lease_until = OffsetDateTime::now_utc() + ctx.timing.lease;
    let tags = BTreeMap::from([
        (TAG_INTERNAL.to_string(), "lock".to_string()),
        (TAG_RUN_ID.to_string(), ctx.run_id.clone()),
    ]);
    let body = serde_json::json!({
        "run_id": ctx.run_id,
        "credential": credential,
    })
    .to_string();
    let written = job
        .vault
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
    leases.with(|all| {
        all.insert(
            i,
            Lease {
                bids: written.version.into_iter().collect(),
                lease_until: written.expires.unwrap_or(lease_until),
                lost: None,
            },
        )
    });
    Ok(())
}

async fn read_bids(vault: &Vault, lock_name: &str) -> Result<Vec<Bid>, Failed> {
    Ok(vault
        .secret_versions(lock_name)
        .await?
        .iter()
        .filter_map(Bid::from_record)
        .collect())
}

/// Reads the bids after the settle and decides; a run that does not hold the lock withdraws
/// its bids at once.
async fn read_decision(
    ctx: &Context,
    job: &Job<'_>,
    i: usize,
    leases: &Leases,
) -> Result<Decision, Failed> {
    let lock_name = lock::lock_secret_name(&job.spec.name);
    let bids = match read_bids(job.vault, &lock_name).await {
        Ok(bids) => bids,
        Err(e) => {
            release(job, i, leases).await;
            return Err(e);
        }
    };
    let now = OffsetDateTime::now_utc();
    // Every live bid of this run (one, or two if a lost answer made the write happen twice).
    let ours: Vec<String> = bids
        .iter()
        .filter(|b| b.run_id.as_deref() == Some(ctx.run_id.as_str()) && b.enabled)
        .map(|b| b.version.clone())
        .collect();
    leases.with(|all| {
        if let Some(lease) = all.get_mut(&i) {
            for version in &ours {
                if !lease.bids.contains(version) {
                    lease.bids.push(version.clone());
                }
            }
        }
    });
    let decision = lock::decide(&bids, &ctx.run_id, now);
    if decision != Decision::Held {
        release(job, i, leases).await;
    }
    Ok(decision)
}

/// Disables this run's bids for a credential and stops renewing them. Best effort: a bid left
/// enabled only blocks until its lease ends.
async fn release(job: &Job<'_>, i: usize, leases: &Leases) {
    let Some(lease) = leases.with(|all| all.remove(&i)) else {
        return;
    };
    let name = lock::lock_secret_name(&job.spec.name);
    for version in &lease.bids {
        if let Err(e) = job.vault.set_version_enabled(&name, version, false).await {
            tracing::warn!("cannot withdraw the lock bid of {}: {e}", job.spec.name);
        }
    }
}

/// Every lease/3, renews every lease this run still holds, until `stopped`.
async fn renew_leases(
    ctx: &Context,
    jobs: &[Job<'_>],
    leases: &Leases,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(ctx.timing.renew_every()) => {}
        }
        let due: Vec<usize> = leases.with(|all| {
            all.iter()
                .filter(|(_, lease)| lease.lost.is_none())
                .map(|(i, _)| *i)
                .collect()
        });
        futures::stream::iter(due)
            .for_each_concurrent(ctx.concurrency.max(1), |i| async move {
                // Recorded in `leases`; the commit and retirement checks read it there.
                let _ = renew(ctx, &jobs[i], i, leases).await;
            })
            .await;
    }
}

/// Moves the `exp` of this run's bids for job `i` forward by a lease and records the outcome
/// in `leases`: the new lease end, or why the lease is lost for good. It is lost when the
/// renewal fails, finds a bid disabled, or answers only once the old lease has ended (a
/// successor may hold the lock by then: [`lock::renewal_counts`]); the calls are cut off
/// then, however long the transport would keep retrying.
async fn renew(ctx: &Context, job: &Job<'_>, i: usize, leases: &Leases) -> Result<(), String> {
    let (bids, old_until) = leases.with(|all| match all.get(&i) {
        None => Err("this run holds no lease".to_string()),
        Some(Lease {
            lost: Some(why), ..
        }) => Err(why.clone()),
        Some(lease) => Ok((lease.bids.clone(), lease.lease_until)),
    })?;
    let name = lock::lock_secret_name(&job.spec.name);
    let sent_at = OffsetDateTime::now_utc();
    let until = sent_at + ctx.timing.lease;
    let calls = async {
        let mut renewed = until;
        for version in &bids {
            let record = job
                .vault
                .set_version_expiry(&name, version, until)
                .await
                .map_err(|e| format!("renewing its lease failed: {e}"))?;
            if !record.enabled {
                return Err(format!(
                    "its lock bid {version} was disabled by someone else (keyrot unlock?)"
                ));
            }
            renewed = renewed.min(record.expires.unwrap_or(until));
        }
        Ok(renewed)
    };
    let too_late = || {
        format!(
            "renewing its lease took until the lease had ended ({})",
            crate::check::dates::rfc3339_utc(old_until)
        )
    };
    let result = match StdDuration::try_from(old_until - sent_at) {
        Ok(left) if !left.is_zero() => match tokio::time::timeout(left, calls).await {
            Ok(Ok(renewed)) if lock::renewal_counts(old_until, OffsetDateTime::now_utc()) => {
                Ok(renewed)
            }
            Ok(Ok(_)) | Err(_) => Err(too_late()),
            Ok(Err(why)) => Err(why),
        },
        _ => Err(too_late()),
    };
    // A lease no longer in the map was released meanwhile (this run disabled its bids, which
    // may be what the renewal found): nothing to record, and no warning.
    let newly_lost = leases.with(|all| match (all.get_mut(&i), &result) {
        (Some(lease), _) if lease.lost.is_some() => false,
        (Some(lease), Ok(renewed)) => {
            lease.lease_until = lease.lease_until.max(*renewed);
            false
        }
        (Some(lease), Err(why)) => {
            lease.lost = Some(why.clone());
            true
        }
        (None, _) => false,
    });
    if let (Err(why), true) = (&result, newly_lost) {
        tracing::warn!("{}: {why}; it will not be committed", job.spec.name);
    }
    result.map(|_| ())
}

/// A fresh random id for a run or a rotation (128 bits, hex).
pub fn new_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Test hook for the concurrency test: with `KEYROT_TEST_START_SIGNAL=<file>`, the run waits
/// here, just before bidding for its locks, until the file exists, so two processes bid at the
/// same moment however unevenly they started. Unset, it does nothing.
async fn wait_for_start_signal<'a>(credentials: impl Iterator<Item = &'a str>) {
    if let Ok(path) = std::env::var("KEYROT_TEST_START_SIGNAL") {
        for credential in credentials {
            eprintln!("keyrot: waiting for the start signal ({credential})");
        }
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
