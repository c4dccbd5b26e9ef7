//! The rotation journal: what a run is doing, written before it does it.
//!
//! Each credential has a journal secret, `keyrot-journal-{credential}`, whose latest version is
//! the state of the last rotation. An entry holds ids, steps and dates, never a value. A run
//! writes `started` before it creates anything outside Key Vault, so if it dies, the next run
//! (once it holds the lock) knows which rotation was in flight and can finish it (the new
//! version was committed: keyrot's tags on it say so) or undo it (remove the Entra password
//! whose display name carries the rotation id, since its text died with the process).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The journal secret's name for a credential.
pub fn journal_secret_name(credential: &str) -> String {
    format!("keyrot-journal-{credential}")
}

/// Steps in the order a rotation passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The lock is held and nothing outside Key Vault exists yet.
    Started,
    /// The new credential exists (Entra: its keyId is known) but nobody can see it.
    Created,
    /// The new credential was proven to work.
    Verified,
    /// The new Key Vault version is written and read back.
    Committed,
    /// Every copy (`[[credential.propagate]]`) holds the new value and was verified; the
    /// entry's `triggers` say which runs are to be started (and, once known, which were).
    Propagated,
    /// The rotation finished.
    Done,
    /// A later run undid a rotation that died before committing.
    Aborted,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Started => "started",
            Step::Created => "created",
            Step::Verified => "verified",
            Step::Committed => "committed",
            Step::Propagated => "propagated",
            Step::Done => "done",
            Step::Aborted => "aborted",
        }
    }

    /// Whether a rotation in this step was interrupted and needs a later run's attention.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            Step::Started | Step::Created | Step::Verified | Step::Committed | Step::Propagated
        )
    }
}

/// One journal entry. Every field is an identifier or a date: no value is ever journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub version: u32,
    pub rotation_id: String,
    pub credential: String,
    pub step: Step,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub generator: String,
    /// The Key Vault version that was current when the rotation started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    /// Entra: the application's object id and the new password's display name and keyId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Resource keys: the key this rotation regenerates, a fingerprint of its value before
    /// (so a rerun can tell whether the regeneration happened), and Cosmos DB's long-running
    /// operation once started (a rerun polls it rather than regenerating again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_slot: Option<crate::keys::alternation::Slot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<crate::arm::lro::Operation>,
    /// The Key Vault version this rotation wrote, once committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_version: Option<String>,
    /// When every copy held the new value (grace counts from here).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub propagated_at: Option<OffsetDateTime>,
    /// The runs this rotation is to start, marked before any is started, so a run that dies
    /// between starting one and recording it adopts it instead of starting it twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerMark>,
    /// On a `done` entry: the run's notification (its webhook-id) is still to be sent; the run
    /// that finds it sends one (reusing the id, so a webhook receiver can drop a duplicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
}

/// One run a rotation is to start: its target and, once known, what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerMark {
    /// The target as [`crate::rotate::config::TriggerTarget::identity`] names it.
    pub target: String,
    /// Written before the run was started: a run of the target by keyrot's identity created
    /// at or after this instant is the one this mark started.
    #[serde(with = "time::serde::rfc3339")]
    pub marked_at: OffsetDateTime,
}

impl Entry {
    /// 2 added `propagated` and the propagation fields; format 1 entries read as before.
    pub const FORMAT: u32 = 2;

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Entry, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable journal entry: {e}"))
    }

    /// The same entry at a later step.
    pub fn at_step(&self, step: Step, at: OffsetDateTime) -> Entry {
        Entry {
            step,
            at,
            ..self.clone()
        }
    }
}

/// The display name of an Entra password keyrot creates: it carries the rotation id, so an
/// orphan can be found from the journal even when the keyId was never recorded.
pub fn password_display_name(rotation_id: &str) -> String {
    format!("keyrot:{rotation_id}")
}

/// The rotation id in a password display name keyrot wrote, if it is one.
pub fn rotation_id_of(display_name: &str) -> Option<&str> {
    display_name
        .strip_prefix("keyrot:")
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn entries_round_trip_and_hold_no_value_fields() {
        let entry = Entry {
            version: Entry::FORMAT,
            rotation_id: "r-1".into(),
            credential: "db".into(),
            step: Step::Created,
            at: datetime!(2026-11-26 12:00 UTC),
            generator: "entra-app-password".into(),
            previous_version: Some("v0".into()),
            application: Some("app".into()),
            display_name: Some(password_display_name("r-1")),
            key_id: Some("k".into()),
            key_slot: Some(crate::keys::alternation::Slot::Second),
            key_before: Some("00112233445566778899aabbccddeeff".into()),
            operation: None,
            new_version: None,
            propagated_at: None,
            triggers: vec![TriggerMark {
                target: "github-workflow o/r/deploy.yml@main".into(),
                marked_at: datetime!(2026-11-26 12:02 UTC),
            }],
            notify: None,
        };
        let json = entry.to_json();
        assert!(json.contains(r#""step":"created""#), "{json}");
        assert_eq!(Entry::from_json(&json).unwrap(), entry);
        let later = entry.at_step(Step::Committed, datetime!(2026-11-26 12:01 UTC));
        assert_eq!(later.rotation_id, "r-1");
        assert!(Step::Committed.in_flight() && !Step::Done.in_flight());
        assert!(Step::Propagated.in_flight() && Step::Propagated > Step::Committed);
        assert!(Entry::from_json("{").is_err());
        // A format 1 entry, as keyrot before propagation wrote it, still reads.
        let old = r#"{"version":1,"rotation_id":"r","credential":"db","step":"committed","at":"2026-11-26T12:00:00Z","generator":"random","new_version":"v1"}"#;
        let old = Entry::from_json(old).unwrap();
        assert!(old.triggers.is_empty() && old.propagated_at.is_none());
    }

    #[test]
    fn display_names_carry_the_rotation_id() {
        assert_eq!(rotation_id_of(&password_display_name("abc")), Some("abc"));
        assert_eq!(rotation_id_of("ci secret"), None);
        assert_eq!(rotation_id_of("keyrot:"), None);
    }
}
