//! A property test of the protocol's safety claim: whatever the interleaving of concurrent
//! runs' steps, crashes and lost leases, and however adversarial the vault's version ids and
//! same-second `created` stamps, after every step the version Key Vault serves is enabled and
//! holds an Entra password that exists.
//!
//! The vault, the application and the lock are a small in-memory model; the runs are state
//! machines that take the steps `run.rs` takes, one service call per step, and decide with the
//! same pure functions ([`plan`]). The lock is modelled by what it guarantees: at most one run
//! holds it; a holder that dies, or whose lease is lost (a stalled renewal, whose late answer
//! must not bring the lease back), loses it, and a holder whose lease is lost makes no further
//! change (the commit and retirement checks).

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use super::journal::{self, Step};
use super::lock;
use super::plan::{self, Current, Password, Recovery};
use crate::model::{CredentialRecord, Kind, Source, TAG_GRACE_ENDS};

const GRACE: Duration = Duration::SECOND;
const ROTATE_WITHIN: Duration = Duration::days(30);
const VALIDITY: i64 = 90 * 86_400;

#[derive(Debug, Clone)]
struct Version {
    id: String,
    created: i64,
    enabled: bool,
    expires: i64,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct JournalEntry {
    rotation_id: String,
    step: Step,
}

/// The vault (one secret, its journal), the application's passwords and the lock.
struct World {
    now: i64,
    descending_ids: bool,
    seed: u64,
    versions: Vec<Version>,
    journal: Option<JournalEntry>,
    passwords: Vec<Password>,
    lock: Option<usize>,
    counter: u64,
}

impl World {
    fn new(descending_ids: bool, seed: u64) -> World {
        let start = 1_800_000_000;
        let mut world = World {
            now: start,
            descending_ids,
            seed,
            versions: Vec::new(),
            journal: None,
            passwords: vec![Password {
                key_id: "k-seed".into(),
                display_name: Some("set up by hand".into()),
            }],
            lock: None,
            counter: 0,
        };
        // Due: it expires tomorrow.
        world.write(
            BTreeMap::from([(plan::TAG_KEY_ID.to_string(), "k-seed".to_string())]),
            start + 86_400,
        );
        world
    }

    fn fresh(&mut self) -> u64 {
        self.counter += 1;
        // splitmix64 of (seed, counter): any order of ids, reproducible from the seed.
        let mut z = self
            .seed
            .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `PUT /secrets/{name}`: a new version, served from now on.
    fn write(&mut self, tags: BTreeMap<String, String>, expires: i64) -> String {
        let id = if self.descending_ids {
            let smallest = self
                .versions
                .iter()
                .map(|v| u128::from_str_radix(&v.id, 16).unwrap())
                .min()
                .unwrap_or(u128::MAX);
            format!("{:032x}", smallest - 1 - u128::from(self.fresh() % 1000))
        } else {
            format!("{:016x}{:016x}", self.fresh(), self.fresh())
        };
        self.versions.push(Version {
            id: id.clone(),
            created: self.now,
            enabled: true,
            expires,
            tags,
        });
        id
    }

    fn record(&self, v: &Version) -> CredentialRecord {
        CredentialRecord {
            source: Source::KeyVault,
            vault: "https://model.vault.azure.net".into(),
            kind: Kind::Secret,
            name: "cred".into(),
            version: Some(v.id.clone()),
            id: format!("https://model.vault.azure.net/secrets/cred/{}", v.id),
            enabled: v.enabled,
            not_before: None,
            expires: Some(utc(v.expires)),
            created: Some(utc(v.created)),
            tags: v.tags.clone(),
            superseded: None,
            entra: None,
            resource_key: None,
        }
    }

    /// `GET /secrets/{name}`: the last version written, or 403 if it is disabled.
    fn served(&self) -> Current {
        match self.versions.last() {
            None => Current::Missing,
            Some(v) if !v.enabled => Current::Disabled,
            Some(v) => Current::Served(Box::new(self.record(v))),
        }
    }

    fn listed(&self) -> Vec<CredentialRecord> {
        let mut listed: Vec<CredentialRecord> =
            self.versions.iter().map(|v| self.record(v)).collect();
        // The list API's order: by id.
        listed.sort_by(|a, b| a.version.cmp(&b.version));
        listed
    }

    /// The invariant.
    fn check(&self, when: &str) -> Result<(), TestCaseError> {
        let served = self
            .versions
            .last()
            .ok_or_else(|| TestCaseError::fail(format!("{when}: no version")))?;
        prop_assert!(
            served.enabled,
            "{when}: the served version {} is disabled",
            served.id
        );
        let key = served
            .tags
            .get(plan::TAG_KEY_ID)
            .cloned()
            .unwrap_or_default();
        prop_assert!(
            self.passwords.iter().any(|p| p.key_id == key),
            "{when}: the served version's password {key} was removed"
        );
        Ok(())
    }
}

fn utc(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap()
}

/// A snapshot as `State::read` takes it: each part read by its own call, in this order.
#[derive(Default, Clone)]
struct Snapshot {
    versions: Option<Vec<CredentialRecord>>,
    current: Option<Current>,
    journal: Option<Option<JournalEntry>>,
    passwords: Option<Vec<Password>>,
}

impl Snapshot {
    /// Takes the next read; true once complete.
    fn read_next(&mut self, world: &World) -> bool {
        if self.versions.is_none() {
            self.versions = Some(world.listed());
        } else if self.current.is_none() {
            self.current = Some(world.served());
        } else if self.journal.is_none() {
            self.journal = Some(world.journal.clone());
        } else if self.passwords.is_none() {
            self.passwords = Some(world.passwords.clone());
            return true;
        }
        false
    }

    fn pending(&self) -> Option<&JournalEntry> {
        self.journal
            .as_ref()
            .and_then(Option::as_ref)
            .filter(|e| e.step.in_flight())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Pc {
    Plan,
    Acquire,
    Read,
    /// Undo an interrupted rotation: remove these passwords, then journal aborted.
    RecoverUndo(Vec<String>, String),
    RecoverMark(String, Step),
    JournalStarted,
    AddPassword,
    Journal(Step),
    Commit,
    ReadBack(String),
    RetireRead,
    Retire(Vec<String>, Vec<String>),
    JournalDone,
    Release,
    Finished,
}

struct Run {
    index: usize,
    force: bool,
    pc: Pc,
    snapshot: Snapshot,
    rotation_id: Option<String>,
    key: Option<String>,
    rotated: bool,
    committed: bool,
    lease_lost: bool,
}

impl Run {
    fn new(index: usize, force: bool) -> Run {
        Run {
            index,
            force,
            pc: Pc::Plan,
            snapshot: Snapshot::default(),
            rotation_id: None,
            key: None,
            rotated: false,
            committed: false,
            lease_lost: false,
        }
    }

    fn work(&self, snapshot: &Snapshot, now: i64, force: bool) -> (bool, Vec<String>, Vec<String>) {
        let versions = snapshot.versions.as_deref().unwrap_or_default();
        let current = snapshot.current.clone().unwrap_or(Current::Missing);
        let now = utc(now);
        let due = plan::due(&current, ROTATE_WITHIN, now, force).is_some();
        let disable = plan::versions_to_disable(versions, &current, GRACE, now);
        let in_flight = snapshot
            .pending()
            .filter(|e| e.step < Step::Committed)
            .map(|e| e.rotation_id.as_str());
        let remove = plan::passwords_to_remove(
            snapshot.passwords.as_deref().unwrap_or_default(),
            versions,
            &current,
            in_flight,
            GRACE,
            false,
            now,
        )
        .into_iter()
        .map(|(k, _)| k)
        .collect();
        (due, disable, remove)
    }

    /// One service call (or one decision on what was read).
    fn step(&mut self, world: &mut World) {
        let me = self.index;
        match self.pc.clone() {
            Pc::Plan => {
                if self.snapshot.read_next(world) {
                    let (due, disable, remove) = self.work(&self.snapshot, world.now, self.force);
                    let idle = !due && disable.is_empty() && remove.is_empty();
                    self.pc = if idle && self.snapshot.pending().is_none() {
                        Pc::Finished
                    } else {
                        Pc::Acquire
                    };
                    self.snapshot = Snapshot::default();
                }
            }
            // Waits (--wait-lock) until the lock is free.
            Pc::Acquire => {
                if world.lock.is_none() {
                    world.lock = Some(me);
                    self.lease_lost = false;
                    self.pc = Pc::Read;
                }
            }
            Pc::Read => {
                if self.snapshot.read_next(world) {
                    let snapshot = std::mem::take(&mut self.snapshot);
                    if let Some(pending) = snapshot.pending() {
                        let id = pending.rotation_id.clone();
                        let versions = snapshot.versions.clone().unwrap_or_default();
                        self.pc = match plan::recovery(&id, &versions) {
                            Recovery::Finish => Pc::RecoverMark(id, Step::Done),
                            Recovery::Undo => Pc::RecoverUndo(
                                plan::passwords_of_rotation(
                                    snapshot.passwords.as_deref().unwrap_or_default(),
                                    &versions,
                                    &id,
                                ),
                                id,
                            ),
                        };
                    } else {
                        let (due, _, _) = self.work(&snapshot, world.now, self.force);
                        self.pc = if due && !self.rotated {
                            Pc::JournalStarted
                        } else {
                            Pc::RetireRead
                        };
                    }
                }
            }
            Pc::RecoverUndo(mut keys, id) => match keys.pop() {
                Some(key) => {
                    if self.lease_lost {
                        self.pc = Pc::Release;
                        return;
                    }
                    world.passwords.retain(|p| p.key_id != key);
                    self.pc = Pc::RecoverUndo(keys, id);
                }
                None => self.pc = Pc::RecoverMark(id, Step::Aborted),
            },
            Pc::RecoverMark(id, step) => {
                if self.lease_lost {
                    self.pc = Pc::Release;
                    return;
                }
                world.journal = Some(JournalEntry {
                    rotation_id: id,
                    step,
                });
                self.pc = Pc::Read;
            }
            Pc::JournalStarted => {
                let id = format!("r{}-{}", me, world.fresh() % 10_000);
                world.journal = Some(JournalEntry {
                    rotation_id: id.clone(),
                    step: Step::Started,
                });
                self.rotation_id = Some(id);
                self.rotated = true;
                self.pc = Pc::AddPassword;
            }
            Pc::AddPassword => {
                let key = format!("k{}", world.fresh() % 1_000_000);
                let id = self.rotation_id.clone().unwrap_or_default();
                world.passwords.push(Password {
                    key_id: key.clone(),
                    display_name: Some(journal::password_display_name(&id)),
                });
                self.key = Some(key);
                self.pc = Pc::Journal(Step::Created);
            }
            Pc::Journal(step) => {
                world.journal = Some(JournalEntry {
                    rotation_id: self.rotation_id.clone().unwrap_or_default(),
                    step,
                });
                self.pc = match step {
                    Step::Created => Pc::Journal(Step::Verified),
                    Step::Verified => Pc::Commit,
                    _ => Pc::RetireRead,
                };
            }
            Pc::Commit => {
                if self.lease_lost {
                    // The lease check refuses the commit; the next holder undoes the rest.
                    self.pc = Pc::Release;
                    return;
                }
                let id = self.rotation_id.clone().unwrap_or_default();
                let tags = BTreeMap::from([
                    (plan::TAG_ROTATION_ID.to_string(), id),
                    (
                        plan::TAG_KEY_ID.to_string(),
                        self.key.clone().unwrap_or_default(),
                    ),
                    (
                        TAG_GRACE_ENDS.to_string(),
                        plan::grace_end_tag(utc(world.now), GRACE),
                    ),
                ]);
                let version = world.write(tags, world.now + VALIDITY);
                self.pc = Pc::ReadBack(version);
            }
            Pc::ReadBack(version) => {
                // Served must be ours, else the run fails loudly (journal stays verified).
                self.pc = if world.versions.last().is_some_and(|v| v.id == version) {
                    self.committed = true;
                    Pc::Journal(Step::Committed)
                } else {
                    Pc::Release
                };
            }
            Pc::RetireRead => {
                if self.snapshot.read_next(world) {
                    let snapshot = std::mem::take(&mut self.snapshot);
                    let (_, disable, remove) = self.work(&snapshot, world.now, false);
                    self.pc = Pc::Retire(disable, remove);
                }
            }
            Pc::Retire(mut disable, mut remove) => {
                if self.lease_lost {
                    self.pc = Pc::Release;
                } else if let Some(version) = disable.pop() {
                    if let Some(v) = world.versions.iter_mut().find(|v| v.id == version) {
                        v.enabled = false;
                    }
                    self.pc = Pc::Retire(disable, remove);
                } else if let Some(key) = remove.pop() {
                    world.passwords.retain(|p| p.key_id != key);
                    self.pc = Pc::Retire(disable, remove);
                } else {
                    self.pc = Pc::JournalDone;
                }
            }
            Pc::JournalDone => {
                if self.committed && !self.lease_lost {
                    world.journal = Some(JournalEntry {
                        rotation_id: self.rotation_id.clone().unwrap_or_default(),
                        step: Step::Done,
                    });
                }
                self.pc = Pc::Release;
            }
            Pc::Release => {
                if world.lock == Some(me) {
                    world.lock = None;
                }
                self.pc = Pc::Finished;
            }
            Pc::Finished => {}
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Step(usize),
    /// SIGKILL: the run stops; its lock ends with its lease.
    Crash(usize),
    /// The holder's renewal stalls past its lease: another run may take the lock, and the
    /// holder's commit and retirement checks refuse from now on, as long as a renewal that
    /// answers late does not count ([`lock::renewal_counts`]).
    LoseLease,
    /// Time passes (Key Vault's clock: whole seconds).
    Tick(i64),
}

fn action(runs: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        12 => (0..runs).prop_map(Action::Step),
        1 => (0..runs).prop_map(Action::Crash),
        1 => Just(Action::LoseLease),
        3 => (0i64..3).prop_map(Action::Tick),
    ]
}

fn scenario() -> impl Strategy<Value = (bool, u64, Vec<bool>, Vec<Action>, usize)> {
    (2usize..=4).prop_flat_map(|runs| {
        (
            any::<bool>(),
            any::<u64>(),
            proptest::collection::vec(any::<bool>(), runs),
            proptest::collection::vec(action(runs), 20..160),
            // Later runs start after this many actions (a "plain rotate" after the others).
            0usize..40,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_served_version_is_always_enabled_and_works(
        (descending, seed, force, actions, late_start) in scenario()
    ) {
        let mut world = World::new(descending, seed);
        let mut runs: Vec<Run> = force
            .iter()
            .enumerate()
            .map(|(i, f)| Run::new(i, *f))
            .collect();
        let mut dead = vec![false; runs.len()];
        world.check("at the start")?;
        for (n, action) in actions.iter().enumerate() {
            match action {
                Action::Step(r) => {
                    // The last run is a plain rotate that starts late.
                    if dead[*r] || (*r == runs.len() - 1 && n < late_start) {
                        continue;
                    }
                    runs[*r].step(&mut world);
                }
                Action::Crash(r) => {
                    dead[*r] = true;
                    if world.lock == Some(*r) {
                        world.lock = None;
                    }
                }
                Action::LoseLease => {
                    // The holder's lease ends now and the lock is free for the others; its
                    // stalled renewal answers, or is cut off, no earlier than that.
                    if let Some(holder) = world.lock.take() {
                        let (lease_ended, answered) = (utc(world.now), utc(world.now));
                        if !lock::renewal_counts(lease_ended, answered) {
                            runs[holder].lease_lost = true;
                        }
                    }
                }
                Action::Tick(s) => world.now += s,
            }
            world.check(&format!("after action {n} ({action:?})"))?;
        }
        // Then every live run finishes, and a final plain run cleans up after the dead.
        world.lock = world.lock.filter(|holder| !dead[*holder]);
        for (r, run) in runs.iter_mut().enumerate() {
            for _ in 0..200 {
                if dead[r] || run.pc == Pc::Finished {
                    break;
                }
                run.step(&mut world);
                world.check("while finishing")?;
            }
        }
        world.now += 5;
        let mut last = Run::new(runs.len(), false);
        for _ in 0..200 {
            if last.pc == Pc::Finished {
                break;
            }
            last.step(&mut world);
            world.check("during the final run")?;
        }
        prop_assert_eq!(last.pc, Pc::Finished);
        // Nothing keyrot created is left that no version holds, and nothing is in flight.
        let held: Vec<String> = world
            .versions
            .iter()
            .filter_map(|v| v.tags.get(plan::TAG_KEY_ID).cloned())
            .collect();
        for p in &world.passwords {
            if p.display_name.as_deref().is_some_and(|d| d.starts_with("keyrot:")) {
                prop_assert!(held.contains(&p.key_id), "orphan {} left", p.key_id);
            }
        }
        prop_assert!(world.journal.as_ref().is_none_or(|e| !e.step.in_flight()));
    }
}

#[test]
fn the_model_catches_a_plan_that_takes_latest_from_the_listing() {
    // The same-second scenario of the issue, decided the old way: the largest (created, id) as
    // "current". With ids against the write order, that disables the served version.
    let mut world = World::new(true, 7);
    for _ in 0..2 {
        world.write(BTreeMap::new(), world.now + VALIDITY);
    }
    let listed = world.listed();
    let wrong = listed
        .iter()
        .max_by(|a, b| (a.created, &a.version).cmp(&(b.created, &b.version)))
        .unwrap();
    let served = world.served();
    assert_ne!(wrong.version.as_deref(), served.version());
    // The rule keyrot uses keeps the served one.
    let out = plan::versions_to_disable(&listed, &served, Duration::ZERO, utc(world.now));
    assert!(!out.iter().any(|v| Some(v.as_str()) == served.version()));
    assert_eq!(out.len(), 2);
}
