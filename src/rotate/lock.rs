//! One rotation of a credential at a time, without conditional writes.
//!
//! Key Vault has no compare-and-swap, but it has two things a lock can be built from: every
//! write of a secret creates a new *version*, and the service stamps each version with its own
//! `created` time. A run that wants to rotate credential `c` **bids** by writing a version of
//! the secret `keyrot-lock-c` (tags name the run; `exp` is the bid's lease), waits a settle
//! time, lists every version, and applies one rule:
//!
//! > Among the bids that are still live (enabled and their lease not expired), the one with the
//! > smallest `(created, version id)` holds the lock.
//!
//! Why exactly one run proceeds. Let `W` be the smallest live bid of a contention. `W`'s run
//! sees no smaller bid (by definition), so it proceeds. Any other run `R` bid at or after `W`'s
//! `created` second and lists at least `settle` later; `W` was written in the same second or
//! before, so with `settle` longer than a second plus the time a completed write takes to be
//! listed, `R` sees `W` and yields. A bid written after `R` listed has a later `created` than
//! `R`'s and cannot beat it. The argument needs two properties of the service, documented in the
//! README: `created` comes from the service's clock (never the client's), and a version is
//! listed once its write has returned. Ties within a second are broken by the version id, which
//! every run reads identically.
//!
//! Why a crash cannot block for long: a bid's `exp` is its lease, short (60 s by default), and
//! the holder renews it while it works, every lease/3, by moving its bid's `exp` forward (an
//! update of the bid version's attributes: its `created`, and so its place in the order, stays).
//! A run that dies stops renewing, so its lock ends at most one lease later; then any run may
//! take over (and finish or undo the crashed rotation from its journal). A run that loses, or
//! finishes, disables its own bid. A renewal that fails, finds the bid disabled (`keyrot unlock
//! --force`), or answers only once the lease it renews has ended ([`renewal_counts`]: a
//! successor may hold the lock by then) loses the lease for good, and each renewal is cut off
//! when that lease ends. The holder renews once more just before it commits and commits only
//! if that renewal counts and leaves lease to spare, so a run that lost its lease stops rather
//! than race its successor.

use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use crate::model::CredentialRecord;

/// Tags on lock, journal and rotated versions: the contract with later runs and with `check`.
pub const TAG_INTERNAL: &str = "keyrot-internal";
pub const TAG_RUN_ID: &str = "keyrot-run-id";

/// The lock secret's name for a credential.
pub fn lock_secret_name(credential: &str) -> String {
    format!("keyrot-lock-{credential}")
}

/// How long a bid lasts and how long to wait before reading the bids.
#[derive(Debug, Clone, Copy)]
pub struct LockTiming {
    pub lease: Duration,
    pub settle: StdDuration,
}

/// The shortest lease accepted: renewals every lease/3 must fit several calls with retries.
pub const MIN_LEASE: Duration = Duration::seconds(10);
/// The longest lease accepted: a dead run must not block rotation for longer than a day.
pub const MAX_LEASE: Duration = Duration::hours(24);

impl LockTiming {
    /// Checks the bounds of a lease and that the settle wait fits well inside it (a bid must
    /// still be live when the bids are read).
    pub fn new(lease: Duration, settle: StdDuration) -> Result<LockTiming, String> {
        if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
            return Err(format!(
                "--lock-lease must be between 10s and 24h (got {}s): the holder renews it every \
                 third of it while it works, and a run that dies blocks the next one for at most \
                 that long",
                lease.whole_seconds()
            ));
        }
        if settle.as_millis() * 2 >= lease.whole_milliseconds().unsigned_abs() {
            return Err(format!(
                "--lock-settle ({}s) must be shorter than half of --lock-lease ({}s): a bid must \
                 still be live when the bids are read",
                settle.as_secs_f64(),
                lease.whole_seconds()
            ));
        }
        Ok(LockTiming { lease, settle })
    }

    /// How often the holder moves its bids' `exp` forward.
    pub fn renew_every(&self) -> StdDuration {
        StdDuration::from_millis((self.lease.whole_milliseconds() / 3).max(1) as u64)
    }

    /// How much lease must be left for a commit to start: a successor may take over once it
    /// ends, and the write itself takes time.
    pub fn commit_margin(&self) -> Duration {
        Duration::seconds(self.lease.whole_seconds().min(60) / 4)
    }
}

/// One run's bid: a version of the lock secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bid {
    pub version: String,
    pub run_id: Option<String>,
    pub created: OffsetDateTime,
    pub lease_until: Option<OffsetDateTime>,
    pub enabled: bool,
}

impl Bid {
    /// A lock secret version as listed. `None` for one without a version id or creation time,
    /// which no bid of keyrot's lacks.
    pub fn from_record(record: &CredentialRecord) -> Option<Bid> {
        Some(Bid {
            version: record.version.clone()?,
            run_id: record.tags.get(TAG_RUN_ID).cloned(),
            created: record.created?,
            lease_until: record.expires,
            enabled: record.enabled,
        })
    }

    /// Enabled and its lease not over.
    pub fn live(&self, now: OffsetDateTime) -> bool {
        self.enabled && self.lease_until.is_some_and(|until| until > now)
    }
}

/// The outcome of reading the bids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Our bid is the smallest live one.
    Held,
    /// Another live bid is smaller: its run holds the lock.
    HeldBy(Bid),
    /// Our own bid is not live (listed as disabled or already expired): the lease was too
    /// short for the settle time, or someone disabled it. Treat as not holding.
    Lost,
}

/// The live bid that holds the lock: the smallest `(created, version id)` among live bids.
pub fn holder(bids: &[Bid], now: OffsetDateTime) -> Option<&Bid> {
    earliest_live(bids.iter(), now)
}

/// The earliest live bid of a run other than `my_run`, if any: whom a waiting run waits for.
pub fn live_rival<'b>(bids: &'b [Bid], my_run: &str, now: OffsetDateTime) -> Option<&'b Bid> {
    earliest_live(
        bids.iter().filter(|b| b.run_id.as_deref() != Some(my_run)),
        now,
    )
}

/// The lock's order, the one rule every run reads identically: among live bids, the smallest
/// `(created, version id)`.
fn earliest_live<'b>(bids: impl Iterator<Item = &'b Bid>, now: OffsetDateTime) -> Option<&'b Bid> {
    bids.filter(|b| b.live(now))
        .min_by(|a, b| (a.created, &a.version).cmp(&(b.created, &b.version)))
}

/// Pure: who holds the lock, given every bid, our run's id and the time. Bids are ours by run
/// id, not by version: a bid whose write was retried after a lost answer exists twice, and
/// both are ours.
pub fn decide(bids: &[Bid], my_run: &str, now: OffsetDateTime) -> Decision {
    let ours = |b: &Bid| b.run_id.as_deref() == Some(my_run);
    match holder(bids, now) {
        Some(bid) if ours(bid) => Decision::Held,
        Some(bid) if bids.iter().any(|b| ours(b) && b.live(now)) => Decision::HeldBy(bid.clone()),
        _ => Decision::Lost,
    }
}

/// Whether a renewal of a lease that ended at `old_until` counts, given when its answer
/// arrived. Once the old lease has ended a successor may have taken the lock, and a late
/// renewal that moved the bid's `exp` forward would bring back a lease the successor already
/// saw end: so an answer at or after `old_until` loses the lease, whatever it says.
/// `answered_at` must be read after the answer arrived.
pub fn renewal_counts(old_until: OffsetDateTime, answered_at: OffsetDateTime) -> bool {
    answered_at < old_until
}

/// Whether a holder whose lease ends at `lease_until` may still make a change visible to
/// consumers: only with `margin` to spare, so a successor cannot take over mid-commit.
pub fn lease_allows(lease_until: OffsetDateTime, now: OffsetDateTime, margin: Duration) -> bool {
    now + margin < lease_until
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00:00 UTC);

    fn bid(version: &str, created_s: i64, lease_s: i64, enabled: bool) -> Bid {
        let created = NOW + Duration::seconds(created_s);
        Bid {
            version: version.into(),
            run_id: Some(format!("run-{version}")),
            created,
            lease_until: Some(created + Duration::seconds(lease_s)),
            enabled,
        }
    }

    #[test]
    fn the_earliest_live_bid_holds_the_lock() {
        let bids = [bid("b", -5, 600, true), bid("a", -3, 600, true)];
        assert_eq!(decide(&bids, "run-b", NOW), Decision::Held);
        assert_eq!(
            decide(&bids, "run-a", NOW),
            Decision::HeldBy(bids[0].clone())
        );
    }

    #[test]
    fn a_tie_in_the_same_second_is_broken_by_version_and_both_runs_agree() {
        let bids = [bid("f00", -1, 600, true), bid("0ab", -1, 600, true)];
        assert_eq!(decide(&bids, "run-0ab", NOW), Decision::Held);
        assert!(matches!(decide(&bids, "run-f00", NOW), Decision::HeldBy(b) if b.version == "0ab"));
    }

    #[test]
    fn released_and_expired_bids_do_not_count() {
        // A finished run disabled its bid; a crashed run's lease ran out.
        let bids = [
            bid("done", -100, 600, false),
            bid("crashed", -90, 60, true),
            bid("me", -1, 600, true),
        ];
        assert_eq!(decide(&bids, "run-me", NOW), Decision::Held);
    }

    #[test]
    fn a_lease_ending_exactly_now_is_over() {
        let bids = [bid("old", -60, 60, true), bid("me", -1, 600, true)];
        assert_eq!(decide(&bids, "run-me", NOW), Decision::Held);
    }

    #[test]
    fn our_own_dead_bid_never_holds() {
        let bids = [bid("me", -10, 5, true)];
        assert_eq!(decide(&bids, "run-me", NOW), Decision::Lost);
        let bids = [bid("me", -1, 600, false)];
        assert_eq!(decide(&bids, "run-me", NOW), Decision::Lost);
        assert_eq!(decide(&[], "run-me", NOW), Decision::Lost);
    }

    #[test]
    fn every_run_in_a_contention_agrees_on_one_holder() {
        // Whatever subset of later bids a run can see, exactly one run concludes Held.
        let bids: Vec<Bid> = (0..6)
            .map(|i| bid(&format!("{:x}", 15 - i), i / 2, 600, true))
            .collect();
        let held: Vec<&str> = bids
            .iter()
            .filter(|me| {
                // A run sees every bid created no later than its own (the settle argument).
                let seen: Vec<Bid> = bids
                    .iter()
                    .filter(|b| b.created <= me.created)
                    .cloned()
                    .collect();
                decide(
                    &seen,
                    me.run_id.as_deref().unwrap(),
                    NOW + Duration::seconds(10),
                ) == Decision::Held
            })
            .map(|b| b.version.as_str())
            .collect();
        assert_eq!(held, ["e"]);
    }

    #[test]
    fn a_bid_written_twice_by_one_run_is_still_that_runs() {
        // The answer to the first write was lost, the transport wrote again: two bids, one run.
        let mut first = bid("a1", -2, 600, true);
        let mut again = bid("a2", -1, 600, true);
        first.run_id = Some("run-a".into());
        again.run_id = Some("run-a".into());
        let rival = bid("b", -1, 600, true);
        let bids = [first, again, rival];
        assert_eq!(decide(&bids, "run-a", NOW), Decision::Held);
        assert!(matches!(decide(&bids, "run-b", NOW), Decision::HeldBy(h) if h.version == "a1"));
    }

    #[test]
    fn leases_are_bounded_and_the_settle_fits_inside() {
        let lease = |s| LockTiming::new(Duration::seconds(s), StdDuration::from_secs(2));
        assert!(lease(9).unwrap_err().contains("between 10s and 24h"));
        assert!(lease(86_401).unwrap_err().contains("between 10s and 24h"));
        let ok = lease(60).unwrap();
        assert_eq!(ok.renew_every(), StdDuration::from_secs(20));
        assert_eq!(ok.commit_margin(), Duration::seconds(15));
        assert!(lease(10).is_ok() && lease(86_400).is_ok());
        let err = LockTiming::new(Duration::seconds(10), StdDuration::from_secs(5)).unwrap_err();
        assert!(err.contains("--lock-settle"), "{err}");
    }

    #[test]
    fn a_renewed_lease_keeps_its_place_and_a_waiter_sees_its_rival() {
        // The holder moved its exp forward; created is unchanged, so the order is too.
        let mut holder = bid("h", -100, 60, true);
        holder.lease_until = Some(NOW + Duration::seconds(40));
        let later = bid("l", -1, 60, true);
        let bids = [holder.clone(), later];
        assert_eq!(decide(&bids, "run-h", NOW), Decision::Held);
        assert_eq!(live_rival(&bids, "run-l", NOW), Some(&holder));
        assert_eq!(live_rival(&bids[..1], "run-h", NOW), None);
        // Once its lease is over (it died and stopped renewing) there is no rival.
        assert_eq!(
            live_rival(&bids[..1], "run-l", NOW + Duration::seconds(40)),
            None
        );
    }

    #[test]
    fn a_renewal_answered_once_the_lease_has_ended_does_not_count() {
        let until = NOW + Duration::seconds(20);
        assert!(renewal_counts(until, NOW));
        assert!(renewal_counts(until, until - Duration::milliseconds(1)));
        // A successor may hold the lock from `until` on: the late renewal must not revive ours.
        assert!(!renewal_counts(until, until));
        assert!(!renewal_counts(until, until + Duration::seconds(5)));
    }

    #[test]
    fn the_holder_stops_short_of_its_lease() {
        let until = NOW + Duration::minutes(10);
        assert!(lease_allows(until, NOW, Duration::minutes(1)));
        assert!(!lease_allows(
            until,
            NOW + Duration::minutes(9),
            Duration::minutes(1)
        ));
    }
}
