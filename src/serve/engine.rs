//! From a delivery's events to the answer Event Grid gets, under its rules: only 200-204 count
//! as delivered; 400, 401, 403 and 413 are never retried (the event is dead-lettered or lost),
//! so a delivery keyrot cannot finish now is answered 503 (locked by another instance, or still
//! working) or 500 (failed), and Event Grid delivers it again. Work outlives the request: a
//! rotation that does not finish within `answer_within` goes on in the background, journaled,
//! and the redelivery finds it running (here) or done (anywhere).
//!
//! Duplicates are harmless twice over: the rotation protocol itself (an event for a version no
//! longer served writes nothing), and a memory of the event ids this instance finished.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::{Notify, Semaphore};

use super::events::{Event, SecretEventKind};

/// How many finished event ids an instance remembers.
const MEMORY: usize = 100_000;

/// What a credential's work ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Durably done, or deliberately skipped: `status` as the rotation report says it.
    Finished { status: String, message: String },
    /// Another instance (or run) holds the credential's lock.
    Locked {
        retry_after: Duration,
        message: String,
    },
    /// Failed; the journal lets the next delivery finish or undo it.
    Failed { message: String },
}

/// A credential keyrot.toml manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    /// Its name in keyrot.toml.
    pub credential: String,
    /// `on_new_version = "sync"`.
    pub sync_on_new_version: bool,
}

/// The work an event asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Work {
    /// Rotate if `version` is still the served one.
    Rotate { credential: String, version: String },
    /// Push `version` to the copies and start the runs, if it was written outside keyrot.
    Sync { credential: String, version: String },
}

impl Work {
    pub fn credential(&self) -> &str {
        match self {
            Work::Rotate { credential, .. } | Work::Sync { credential, .. } => credential,
        }
    }
}

/// What keyrot does for a credential; implemented over the rotation protocol by the `serve`
/// command, and by fakes in tests.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// The credential of keyrot.toml with this vault and secret name (compared as Azure does,
    /// case-insensitively), if any.
    fn managed(&self, vault: &str, name: &str) -> Option<Managed>;
    async fn work(self: Arc<Self>, work: Work) -> Done;
}

/// One event's fate, for the log and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    pub id: String,
    pub event_type: String,
    /// `vault/name` of a secret event.
    pub secret: Option<String>,
    pub credential: Option<String>,
    /// `ignored`, `duplicate`, or the work's status (`rotated`, `up_to_date`, `locked`,
    /// `failed`, `working`, …).
    pub outcome: String,
    pub message: String,
    pub duration: Duration,
}

/// The HTTP answer for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub events: Vec<EventOutcome>,
}

type Running = Shared<BoxFuture<'static, Done>>;

pub struct Engine<W: Worker> {
    worker: Arc<W>,
    answer_within: Duration,
    permits: Arc<Semaphore>,
    running: Mutex<HashMap<Work, Running>>,
    finished: Mutex<Memory>,
    tasks: Arc<Tasks>,
}

/// Background work in flight, for graceful shutdown.
#[derive(Default)]
pub struct Tasks {
    count: AtomicUsize,
    idle: Notify,
}

impl Tasks {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Counts as work in flight until the guard is dropped (a sweep).
    pub fn hold(self: &Arc<Self>) -> TaskGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        TaskGuard(self.clone())
    }

    /// Until no work is in flight, or `limit`; whether it got there.
    pub async fn drained(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.idle.notified();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return self.count() == 0;
            }
        }
    }
}

pub struct TaskGuard(Arc<Tasks>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[derive(Default)]
struct Memory {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Memory {
    fn remember(&mut self, id: &str) {
        if self.ids.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            if self.order.len() > MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

impl<W: Worker> Engine<W> {
    pub fn new(worker: Arc<W>, answer_within: Duration, concurrency: usize) -> Engine<W> {
        Engine {
            worker,
            answer_within,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            running: Mutex::default(),
            finished: Mutex::default(),
            tasks: Arc::default(),
        }
    }

    pub fn tasks(&self) -> Arc<Tasks> {
        self.tasks.clone()
    }

    /// Answers one delivery (already parsed and authenticated).
    pub async fn deliver(self: &Arc<Self>, events: Vec<Event>) -> Answer {
        let started = Instant::now();
        let mut outcomes = Vec::with_capacity(events.len());
        let mut waiting: Vec<(usize, Running)> = Vec::new();
        for event in events {
            let secret = event
                .secret
                .as_ref()
                .map(|s| format!("{}/{}", s.vault, s.name));
            let mut outcome = EventOutcome {
                id: event.id.clone(),
                event_type: event.event_type.clone(),
                secret,
                credential: None,
                outcome: "ignored".into(),
                message: String::new(),
                duration: Duration::ZERO,
            };
            match self.work_for(&event) {
                Err(why) => outcome.message = why,
                Ok((credential, work)) => {
                    outcome.credential = Some(credential);
                    if self.seen(&event.id) {
                        outcome.outcome = "duplicate".into();
                        outcome.message = "this instance finished this event before".into();
                    } else {
                        waiting.push((outcomes.len(), self.start(work)));
                    }
                }
            }
            outcomes.push(outcome);
        }
        let remaining = self.answer_within.saturating_sub(started.elapsed());
        let all = futures::future::join_all(waiting.iter().map(|(_, r)| r.clone()));
        let results = tokio::time::timeout(remaining, all).await.ok();
        let mut status = 200;
        let mut retry_after: Option<Duration> = None;
        for (n, (i, running)) in waiting.iter().enumerate() {
            let done = match &results {
                Some(results) => Some(results[n].clone()),
                // Some may have finished: each is asked on its own.
                None => running.peek().cloned(),
            };
            let outcome = &mut outcomes[*i];
            match done {
                Some(Done::Finished { status: s, message }) => {
                    outcome.outcome = s;
                    outcome.message = message;
                }
                Some(Done::Locked {
                    retry_after: after,
                    message,
                }) => {
                    outcome.outcome = "locked".into();
                    outcome.message = message;
                    status = status.max(503);
                    retry_after = Some(retry_after.map_or(after, |r| r.max(after)));
                }
                Some(Done::Failed { message }) => {
                    outcome.outcome = "failed".into();
                    outcome.message = message;
                    status = if status == 503 { 503 } else { 500 };
                }
                None => {
                    outcome.outcome = "working".into();
                    outcome.message = format!(
                        "still working after {}s; the work goes on, journaled, and the \
                         redelivery finds it",
                        self.answer_within.as_secs()
                    );
                    status = 503;
                    retry_after = Some(
                        retry_after
                            .map_or(Duration::from_secs(10), |r| r.max(Duration::from_secs(10))),
                    );
                }
            }
        }
        // Only what is done is remembered: the rest must be worked on when it comes back.
        for outcome in &outcomes {
            if !matches!(outcome.outcome.as_str(), "locked" | "failed" | "working") {
                self.finished
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remember(&outcome.id);
            }
        }
        let elapsed = started.elapsed();
        for outcome in &mut outcomes {
            outcome.duration = elapsed;
        }
        Answer {
            status,
            retry_after: (status == 503).then(|| retry_after.unwrap_or(Duration::from_secs(10))),
            events: outcomes,
        }
    }

    /// The credential and work an event asks for, or why it is only acknowledged.
    fn work_for(&self, event: &Event) -> Result<(String, Work), String> {
        let secret = event
            .secret
            .as_ref()
            .ok_or("not a Key Vault secret event keyrot acts on")?;
        let managed = self
            .worker
            .managed(&secret.vault, &secret.name)
            .ok_or("no credential of keyrot.toml is this vault's secret")?;
        let credential = managed.credential.clone();
        let work = match secret.kind {
            SecretEventKind::NearExpiry | SecretEventKind::Expired => Work::Rotate {
                credential: credential.clone(),
                version: secret.version.clone(),
            },
            SecretEventKind::NewVersion if managed.sync_on_new_version => Work::Sync {
                credential: credential.clone(),
                version: secret.version.clone(),
            },
            SecretEventKind::NewVersion => {
                return Err(format!(
                    "credential {credential}: a new version is only acted on with \
                     on_new_version = \"sync\""
                ))
            }
        };
        Ok((credential, work))
    }

    fn seen(&self, id: &str) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .contains(id)
    }

    /// The work's running task here, started if none is.
    fn start(self: &Arc<Self>, work: Work) -> Running {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = running.get(&work) {
            return task.clone();
        }
        let guard = self.tasks.hold();
        let engine = self.clone();
        let key = work.clone();
        let entry = work.clone();
        let handle = tokio::spawn(async move {
            let _guard = guard;
            let done = match engine.permits.clone().acquire_owned().await {
                Ok(_permit) => engine.worker.clone().work(work).await,
                Err(_) => Done::Failed {
                    message: "keyrot is shutting down".into(),
                },
            };
            engine
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            done
        });
        let task = handle
            .map(|joined| {
                joined.unwrap_or_else(|_| Done::Failed {
                    message: "the work stopped unexpectedly; the journal lets the next \
                              delivery finish it"
                        .into(),
                })
            })
            .boxed()
            .shared();
        // The task removes its entry when done; it waits for this lock, so after this insert.
        running.insert(entry, task.clone());
        task
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::events::{Schema, SecretEvent};

    /// Answers by the credential's name: `slow-*` takes 300 ms, `locked-*`, `failed-*`.
    struct Fake {
        calls: Mutex<Vec<Work>>,
    }

    #[async_trait::async_trait]
    impl Worker for Fake {
        fn managed(&self, vault: &str, name: &str) -> Option<Managed> {
            (vault == "kv1").then(|| Managed {
                credential: name.to_string(),
                sync_on_new_version: name.starts_with("sync"),
            })
        }
        async fn work(self: Arc<Self>, work: Work) -> Done {
            self.calls.lock().unwrap().push(work.clone());
            let name = work.credential().to_string();
            if name.starts_with("slow") {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            match name.split('-').next() {
                Some("locked") => Done::Locked {
                    retry_after: Duration::from_secs(7),
                    message: "held".into(),
                },
                Some("failed") => Done::Failed {
                    message: "boom".into(),
                },
                _ => Done::Finished {
                    status: "rotated".into(),
                    message: String::new(),
                },
            }
        }
    }

    fn event(id: &str, kind: SecretEventKind, vault: &str, name: &str) -> Event {
        Event {
            id: id.into(),
            event_type: "t".into(),
            subject: name.into(),
            topic: String::new(),
            schema: Schema::EventGrid,
            secret: Some(SecretEvent {
                kind,
                vault: vault.into(),
                name: name.into(),
                version: "v1".into(),
                not_before: None,
                expires: None,
            }),
        }
    }

    fn engine(within: Duration) -> (Arc<Engine<Fake>>, Arc<Fake>) {
        let fake = Arc::new(Fake {
            calls: Mutex::default(),
        });
        (Arc::new(Engine::new(fake.clone(), within, 4)), fake)
    }

    use SecretEventKind::*;

    #[tokio::test]
    async fn done_work_is_200_and_a_duplicate_is_not_worked_again() {
        let (engine, fake) = engine(Duration::from_secs(5));
        let a = engine
            .deliver(vec![event("e1", NearExpiry, "kv1", "db")])
            .await;
        assert_eq!((a.status, a.retry_after), (200, None));
        assert_eq!(a.events[0].outcome, "rotated");
        let b = engine
            .deliver(vec![event("e1", NearExpiry, "kv1", "db")])
            .await;
        assert_eq!(b.status, 200);
        assert_eq!(b.events[0].outcome, "duplicate");
        assert_eq!(fake.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn unmanaged_and_unopted_events_are_acknowledged_without_work() {
        let (engine, fake) = engine(Duration::from_secs(5));
        let mut other = event("e0", NearExpiry, "kv1", "x");
        other.secret = None;
        let a = engine
            .deliver(vec![
                other,
                event("e1", NearExpiry, "kv2", "db"),
                event("e2", NewVersion, "kv1", "db"),
            ])
            .await;
        assert_eq!(a.status, 200);
        assert!(a.events.iter().all(|e| e.outcome == "ignored"), "{a:?}");
        assert!(fake.calls.lock().unwrap().is_empty());
        let b = engine
            .deliver(vec![event("e3", NewVersion, "kv1", "sync-db")])
            .await;
        assert_eq!(b.status, 200);
        assert!(matches!(fake.calls.lock().unwrap()[0], Work::Sync { .. }));
    }

    #[tokio::test]
    async fn locked_is_503_with_retry_after_and_failed_is_500_and_neither_is_remembered() {
        let (engine, fake) = engine(Duration::from_secs(5));
        let a = engine
            .deliver(vec![event("e1", Expired, "kv1", "locked-db")])
            .await;
        assert_eq!(
            (a.status, a.retry_after),
            (503, Some(Duration::from_secs(7)))
        );
        let b = engine
            .deliver(vec![event("e2", NearExpiry, "kv1", "failed-db")])
            .await;
        assert_eq!((b.status, b.retry_after), (500, None));
        // Both come back and are worked on again.
        engine
            .deliver(vec![event("e1", Expired, "kv1", "locked-db")])
            .await;
        engine
            .deliver(vec![event("e2", NearExpiry, "kv1", "failed-db")])
            .await;
        assert_eq!(fake.calls.lock().unwrap().len(), 4);
        // A batch: the worst answer wins.
        let c = engine
            .deliver(vec![
                event("e3", NearExpiry, "kv1", "db"),
                event("e4", NearExpiry, "kv1", "failed-x"),
            ])
            .await;
        assert_eq!(c.status, 500);
        assert_eq!(c.events[0].outcome, "rotated");
    }

    #[tokio::test]
    async fn slow_work_goes_on_after_a_503_and_the_redelivery_joins_it() {
        let (engine, fake) = engine(Duration::from_millis(50));
        let a = engine
            .deliver(vec![event("e1", NearExpiry, "kv1", "slow-db")])
            .await;
        assert_eq!(a.status, 503);
        assert_eq!(a.events[0].outcome, "working");
        assert_eq!(engine.tasks().count(), 1);
        // Redelivered while running: joins the same task, no second call.
        let b = engine
            .deliver(vec![event("e1", NearExpiry, "kv1", "slow-db")])
            .await;
        assert_eq!(b.status, 503);
        assert!(engine.tasks().drained(Duration::from_secs(2)).await);
        assert_eq!(fake.calls.lock().unwrap().len(), 1);
    }
}
