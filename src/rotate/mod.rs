//! `keyrot rotate`: staged, crash-safe rotation of Key Vault secrets and Entra app passwords.
//!
//! # The protocol
//!
//! Key Vault has no labels and no conditional writes, and the version it serves (the one
//! `GET /secrets/{name}` without a version returns, always the last one written) is what every
//! consumer gets, so a new version is live the moment it is written. "Current" always means
//! that served version, never an order of the listing: Key Vault stamps `created` in whole
//! seconds and version ids are random, so within one second no order says which came last.
//! Every run, for the credentials of `keyrot.toml`:
//!
//! 1. **Plan** (reads only, every credential at once up to `--concurrency`): list the versions,
//!    then read the served one. Due if it is missing, disabled (403 `SecretDisabled`: the
//!    outage case), has no expiry, expires within `rotate_within`, or `--force`. Versions and
//!    Entra passwords to retire are planned too, and an interrupted rotation in the journal is
//!    noticed. Nothing to do → `up_to_date`, no write at all. `--dry-run` stops here.
//! 2. **Lock** ([`lock`]): bid on `keyrot-lock-{name}` for every credential with work, all at
//!    once; wait one `--lock-settle`; read every bid; the earliest live bid holds each lock.
//!    The holder renews its lease (`--lock-lease`, 60 s) every third of it while it works,
//!    held-but-queued credentials included. Locked out: `locked` (exit 4), naming the holder's
//!    run, since when and its lease end; with `--wait-lock`, wait for the holder, then re-read:
//!    `rotated_elsewhere` if it rotated, else bid again.
//! 3. **Recover** ([`journal`]): if the journal `keyrot-journal-{name}` says a rotation was in
//!    flight, the new version either exists (a version carries its rotation id: mark it done)
//!    or does not (remove the Entra passwords whose display name carries the rotation id and
//!    that no version holds; mark it aborted).
//! 4. **Journal** `started` with a fresh rotation id before creating anything outside Key Vault.
//! 5. **Create**: Entra `addPassword` with start, end and display name `keyrot:{rotation id}`
//!    (its text lives only in memory); random values from the OS CSPRNG. Journal `created`.
//! 6. **Verify** before anyone can see it: Entra, a token with the new secret, retried through
//!    replication delay up to `verify_timeout`; random, the optional `verify_command` with the
//!    value on stdin, a scrubbed environment, its own process group and timeout. Journal
//!    `verified`.
//! 7. **Commit**, only while the (renewed) lease has a margin and no renewal failed: write the
//!    new version with `nbf`, `exp` (Entra: the password's real end), the content type, the
//!    served version's tags plus the credential's tags and keyrot's (rotation id, Entra keyId
//!    and app, time, and `keyrot-grace-ends` = commit time + `grace`); then read the served
//!    version back: it must be the version written, value and tags, or the run fails loudly.
//!    Journal `committed`.
//! 8. **Retire**, while the lease holds, from a fresh read: never the served version, never a
//!    version created after it; every other enabled version is disabled once the served
//!    version's grace end has come (its `keyrot-grace-ends` tag, else its `created` + `grace`).
//!    Entra passwords keyrot created that another version holds go at the same grace end,
//!    orphans (held by no version, not in flight) at once; the served version's never; others
//!    only with `remove_foreign = true`, after the grace end. Journal `done`; release the lock.
//!
//! Invariant, whatever crashes where: the served version is enabled and holds a credential that
//! works (nothing reaches Key Vault before it was verified, and nothing served is ever
//! retired), and a credential keyrot created is never orphaned past the next run.
//! `model_tests.rs` checks it over random interleavings of concurrent runs against a vault
//! whose version ids and same-second `created` stamps are adversarial.

pub mod config;
pub mod consumers;
pub mod generate;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod report;
pub mod resource_key;
pub mod run;
pub mod verify;

#[cfg(test)]
mod model_tests;

/// Whether a record is one of keyrot's own lock or journal secrets (tagged `keyrot-internal`),
/// which `check` and `fetch` leave out.
pub fn is_internal(record: &crate::model::CredentialRecord) -> bool {
    record.tags.contains_key(lock::TAG_INTERNAL)
}
