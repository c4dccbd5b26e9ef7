//! `keyrot rotate`: staged, crash-safe rotation of Key Vault secrets and Entra app passwords.
//!
//! # The protocol
//!
//! Key Vault has no labels and no conditional writes, and the latest enabled version of a
//! secret is what every consumer gets, so a new version is live the moment it is written.
//! Every run, for every credential of `keyrot.toml`:
//!
//! 1. **Plan** (read only): the credential is due if its current version is missing, disabled,
//!    has no expiry, expires within `rotate_within`, or `--force`. Superseded versions past
//!    their grace and Entra passwords to retire are planned too, and an interrupted rotation
//!    in the journal is noticed. Nothing to do → `up_to_date`, no write at all. `--dry-run`
//!    stops here and reports the plan.
//! 2. **Lock** ([`lock`]): bid on `keyrot-lock-{name}`; the earliest live bid holds it. A run
//!    that does not hold it changes nothing and reports `locked` (exit 4).
//! 3. **Recover** ([`journal`]): if the journal says a rotation was in flight, the new version
//!    either exists (keyrot's rotation-id tag is on a version: mark it committed) or does not
//!    (remove the Entra password whose display name carries the rotation id; mark aborted).
//! 4. **Journal** `started` with a fresh rotation id before creating anything outside Key Vault.
//! 5. **Create**: Entra `addPassword` with start, end and display name `keyrot:{rotation id}`
//!    (its text lives only in memory); random values from the OS CSPRNG. Journal `created`.
//! 6. **Verify** before anyone can see it: Entra, a token with the new secret, retried through
//!    replication delay up to `verify_timeout`; random, the optional `verify_command` with the
//!    value on stdin. Journal `verified`.
//! 7. **Commit**, if the lease still has a margin: write the new version with `nbf`, `exp`
//!    (Entra: the password's real end), the content type, the previous version's tags plus the
//!    credential's tags and keyrot's (rotation id, Entra keyId and app, time); read it back and
//!    compare. Journal `committed`.
//! 8. **Retire**: superseded versions whose grace has run out are disabled; Entra passwords
//!    keyrot created are removed once superseded for `grace`, or at once if no version ever
//!    held them (orphans). Passwords keyrot did not create are never touched unless
//!    `remove_foreign = true`. Journal `done`; release the lock.
//!
//! Invariant, whatever crashes where: the latest enabled version holds a credential that
//! works (nothing reaches Key Vault before it was verified, and nothing is retired before it
//! was superseded), and a credential keyrot created is never orphaned past the next run.

pub mod config;
pub mod generate;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod report;
pub mod run;
pub mod verify;

/// Whether a record is one of keyrot's own lock or journal secrets (tagged `keyrot-internal`),
/// which `check` and `fetch` leave out.
pub fn is_internal(record: &crate::model::CredentialRecord) -> bool {
    record.tags.contains_key(lock::TAG_INTERNAL)
}
