//! Pure decisions of a rotation run: is a credential due, and what may be retired.
//!
//! Nothing here reads a clock or does I/O: the served version, the listed versions, the
//! application's passwords and `now` are parameters, so every rule is tested exactly.
//!
//! The retirement rule (a contract with `check`): never disable the served version, nor a
//! version created after it; disable every other enabled version once `now` reaches the grace
//! end, which is the served version's `keyrot-grace-ends` tag, else its `created` + `grace`.

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::model::{CredentialRecord, TAG_GRACE_ENDS};

/// Tags keyrot sets on a version it wrote (besides the user's own, which it keeps).
pub const TAG_ROTATION_ID: &str = "keyrot-rotation-id";
pub const TAG_ROTATED_AT: &str = "keyrot-rotated-at";
/// The Entra keyId the version holds, and its application: the contract with `check`.
pub use crate::graph::{TAG_APP, TAG_KEY_ID};

/// Why a credential is due for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The secret does not exist yet.
    Missing,
    /// Its current version is disabled: consumers get an error today.
    Disabled,
    /// Its current version has no expiry date.
    NoExpiry,
    /// It expired at this instant.
    Expired(OffsetDateTime),
    /// It expires inside `rotate_within`.
    ExpiresSoon(OffsetDateTime),
    /// `--force`.
    Forced,
    /// `keyrot serve`: Key Vault's `SecretNearExpiry` or `SecretExpired` event named the
    /// served version.
    Announced,
    /// The storage account key it holds passes (or passed) the account's key expiration
    /// policy at this instant, within `rotate_within`, whatever the secret's own `exp` says.
    KeyPolicy(OffsetDateTime),
}

impl Reason {
    pub fn describe(&self) -> String {
        let date = crate::check::dates::rfc3339_utc;
        match self {
            Reason::Missing => "the secret does not exist yet".into(),
            Reason::Disabled => "its current version is disabled".into(),
            Reason::NoExpiry => "its current version has no expiry".into(),
            Reason::Expired(at) => format!("it expired at {}", date(*at)),
            Reason::ExpiresSoon(at) => format!("it expires at {}", date(*at)),
            Reason::Forced => "--force".into(),
            Reason::Announced => {
                "Key Vault announced that its served version expires (event)".into()
            }
            Reason::KeyPolicy(at) => format!(
                "its storage key passes the account's key expiration policy at {}",
                date(*at)
            ),
        }
    }
}

/// The version Key Vault serves for a secret: what `GET /secrets/{name}` (no version) answers.
///
/// This, and never an order of the listed versions, is "current": Key Vault stamps `created` in
/// whole seconds and version ids are random, so within one second no order of the listing says
/// which version was written last, while the service always serves the last one written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// The secret does not exist (404).
    Missing,
    /// The served version is disabled (403 `SecretDisabled`): every reader gets an error, and
    /// which version it is cannot be read.
    Disabled,
    /// The served version's metadata (its value stays with the caller).
    Served(Box<CredentialRecord>),
}

impl Current {
    pub fn served(&self) -> Option<&CredentialRecord> {
        match self {
            Current::Served(record) => Some(record),
            Current::Missing | Current::Disabled => None,
        }
    }

    /// The served version's id.
    pub fn version(&self) -> Option<&str> {
        self.served().and_then(|c| c.version.as_deref())
    }
}

/// Whether the credential must be rotated now, and why.
pub fn due(
    current: &Current,
    rotate_within: Duration,
    now: OffsetDateTime,
    force: bool,
) -> Option<Reason> {
    if force {
        return Some(Reason::Forced);
    }
    let current = match current {
        Current::Missing => return Some(Reason::Missing),
        Current::Disabled => return Some(Reason::Disabled),
        Current::Served(current) => current,
    };
    if !current.enabled {
        return Some(Reason::Disabled);
    }
    match current.expires {
        None => Some(Reason::NoExpiry),
        Some(exp) if exp <= now => Some(Reason::Expired(exp)),
        Some(exp) if exp - now <= rotate_within => Some(Reason::ExpiresSoon(exp)),
        Some(_) => None,
    }
}

/// When the versions the current one superseded may be retired: its `keyrot-grace-ends` tag
/// (written by the rotation that committed it), else its `created` + `grace` (a version keyrot
/// did not write, or a tag that does not parse). `None` if neither is known.
pub fn grace_end(current: &CredentialRecord, grace: Duration) -> Option<OffsetDateTime> {
    let tag = current.tags.get(TAG_GRACE_ENDS).map(|t| t.trim());
    if tag == Some(GRACE_AFTER_PROPAGATION) {
        // Some copy may still hold the previous value: nothing it supersedes goes yet.
        return None;
    }
    tag.and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        .or_else(|| current.created.map(|created| created + grace))
}

/// The `keyrot-grace-ends` tag of a version whose copies are not all updated yet: the versions
/// and Entra passwords it supersedes stay until propagation succeeds and sets the real end.
pub const GRACE_AFTER_PROPAGATION: &str = "after-propagation";

/// The `keyrot-grace-ends` tag for a version committed at `committed_at`: that instant, in
/// whole seconds like Key Vault's own dates, plus `grace` (so `grace = "0d"` retires what the
/// commit superseded in the same run).
pub fn grace_end_tag(committed_at: OffsetDateTime, grace: Duration) -> String {
    let second = committed_at.replace_nanosecond(0).unwrap_or(committed_at);
    crate::check::dates::rfc3339_utc(second + grace)
}

/// Whether `version` is the served one or may have been written after it: it is never retired.
/// (`versions` must be listed *before* the served version is read, so every listed version was
/// written no later than the served one; a later `created` would mean a clock gone wrong, and
/// then keeping it is the safe side.)
fn protected(version: &CredentialRecord, current: &CredentialRecord) -> bool {
    version.version == current.version
        || matches!((version.created, current.created), (Some(v), Some(c)) if v > c)
}

/// The enabled versions to disable now: every one but the served version and any created after
/// it, once `now` has reached the served version's grace end. Nothing while the served version
/// is unknown (missing or disabled): the rotation that replaces it retires them later.
pub fn versions_to_disable(
    versions: &[CredentialRecord],
    current: &Current,
    grace: Duration,
    now: OffsetDateTime,
) -> Vec<String> {
    let Some(current) = current.served() else {
        return Vec::new();
    };
    if grace_end(current, grace).is_none_or(|end| now < end) {
        return Vec::new();
    }
    versions
        .iter()
        .filter(|v| v.enabled && !protected(v, current))
        .filter_map(|v| v.version.clone())
        .collect()
}

/// An Entra password as the retirement rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Password {
    pub key_id: String,
    pub display_name: Option<String>,
}

/// Why a password is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// keyrot created it, a version other than the served one holds it, and the served
    /// version's grace has ended.
    Superseded,
    /// keyrot created it but no Key Vault version holds it (its run died before committing);
    /// nobody can be using it, since its text existed only in that run's memory.
    Orphaned,
    /// Not keyrot's, the served version holds a keyrot password, its grace has ended, and
    /// `remove_foreign = true`.
    Foreign,
}

/// The passwords of an application to remove. Never the one the served version holds, never
/// one held by a version written after it, never one of the rotation in flight; keyrot's own
/// once the served version's grace has ended, or at once if no version holds them (orphans);
/// others only with `remove_foreign`, after the grace end of a served version that holds a
/// keyrot password (otherwise the served version may hold one of them).
pub fn passwords_to_remove(
    passwords: &[Password],
    versions: &[CredentialRecord],
    current: &Current,
    in_flight_rotation: Option<&str>,
    grace: Duration,
    remove_foreign: bool,
    now: OffsetDateTime,
) -> Vec<(String, Removal)> {
    let served = current.served();
    let current_key = served.and_then(|c| c.tags.get(TAG_KEY_ID));
    let past_grace = served
        .and_then(|c| grace_end(c, grace))
        .is_some_and(|end| now >= end);
    // keyId → whether some version that may be retired holds it (false: a protected one does).
    let mut holders: BTreeMap<&str, bool> = BTreeMap::new();
    for version in versions {
        if let Some(key) = version.tags.get(TAG_KEY_ID) {
            let retirable = served.is_some_and(|c| !protected(version, c));
            let entry = holders.entry(key.as_str()).or_insert(true);
            *entry &= retirable;
        }
    }

    passwords
        .iter()
        .filter(|p| Some(&p.key_id) != current_key)
        .filter_map(|p| {
            let rotation = p
                .display_name
                .as_deref()
                .and_then(super::journal::rotation_id_of);
            let removal = match rotation {
                Some(id) if Some(id) == in_flight_rotation => None,
                Some(_) => match holders.get(p.key_id.as_str()) {
                    Some(true) => past_grace.then_some(Removal::Superseded),
                    Some(false) => None,
                    None => Some(Removal::Orphaned),
                },
                None => (remove_foreign && past_grace && current_key.is_some())
                    .then_some(Removal::Foreign),
            };
            removal.map(|r| (p.key_id.clone(), r))
        })
        .collect()
}

/// What a run that holds the lock does with a rotation the journal says was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// A version carries its rotation id: it was committed; mark it done.
    Finish,
    /// No version carries it: it died before committing; remove its Entra passwords that no
    /// version holds (these keyIds), and mark it aborted.
    Undo,
}

/// Pure: finish or undo an interrupted rotation, from the versions as listed.
pub fn recovery(rotation_id: &str, versions: &[CredentialRecord]) -> Recovery {
    if versions
        .iter()
        .any(|v| v.tags.get(TAG_ROTATION_ID).map(String::as_str) == Some(rotation_id))
    {
        Recovery::Finish
    } else {
        Recovery::Undo
    }
}

/// The passwords of a rotation to undo: those whose display name carries its id, except any a
/// version holds (a version holding one means it was committed after all: never break it).
pub fn passwords_of_rotation(
    passwords: &[Password],
    versions: &[CredentialRecord],
    rotation_id: &str,
) -> Vec<String> {
    let name = super::journal::password_display_name(rotation_id);
    passwords
        .iter()
        .filter(|p| p.display_name.as_deref() == Some(name.as_str()))
        .filter(|p| {
            !versions
                .iter()
                .any(|v| v.tags.get(TAG_KEY_ID) == Some(&p.key_id))
        })
        .map(|p| p.key_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Source};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

    fn version(v: &str, created_days: i64, enabled: bool, key: Option<&str>) -> CredentialRecord {
        at(v, NOW + Duration::days(created_days), enabled, key)
    }

    fn at(v: &str, created: OffsetDateTime, enabled: bool, key: Option<&str>) -> CredentialRecord {
        let mut tags = BTreeMap::new();
        if let Some(key) = key {
            tags.insert(TAG_KEY_ID.to_string(), key.to_string());
        }
        CredentialRecord {
            source: Source::KeyVault,
            vault: "https://v.vault.azure.net".into(),
            kind: Kind::Secret,
            name: "s".into(),
            version: Some(v.into()),
            id: format!("https://v.vault.azure.net/secrets/s/{v}"),
            enabled,
            not_before: None,
            expires: None,
            created: Some(created),
            tags,
            superseded: None,
            entra: None,
            resource_key: None,
        }
    }

    fn with_exp(mut r: CredentialRecord, exp: Option<OffsetDateTime>) -> CredentialRecord {
        r.expires = exp;
        r
    }

    fn with_grace_end(mut r: CredentialRecord, end: &str) -> CredentialRecord {
        r.tags.insert(TAG_GRACE_ENDS.into(), end.into());
        r
    }

    fn served(r: &CredentialRecord) -> Current {
        Current::Served(Box::new(r.clone()))
    }

    #[test]
    fn due_when_missing_disabled_unbounded_expired_or_inside_the_window() {
        let d30 = Duration::days(30);
        assert_eq!(
            due(&Current::Missing, d30, NOW, false),
            Some(Reason::Missing)
        );
        // The outage case: Key Vault answers 403 SecretDisabled for the served version.
        assert_eq!(
            due(&Current::Disabled, d30, NOW, false),
            Some(Reason::Disabled)
        );
        let v = version("a", -1, false, None);
        assert_eq!(due(&served(&v), d30, NOW, false), Some(Reason::Disabled));
        let v = version("a", -1, true, None);
        assert_eq!(due(&served(&v), d30, NOW, false), Some(Reason::NoExpiry));
        let v = with_exp(version("a", -1, true, None), Some(NOW));
        assert_eq!(
            due(&served(&v), d30, NOW, false),
            Some(Reason::Expired(NOW))
        );
        let edge = NOW + d30;
        let v = with_exp(version("a", -1, true, None), Some(edge));
        assert_eq!(
            due(&served(&v), d30, NOW, false),
            Some(Reason::ExpiresSoon(edge))
        );
        let v = with_exp(version("a", -1, true, None), Some(edge + Duration::SECOND));
        assert_eq!(due(&served(&v), d30, NOW, false), None);
        assert_eq!(due(&served(&v), d30, NOW, true), Some(Reason::Forced));
    }

    #[test]
    fn the_grace_end_is_the_tag_else_created_plus_grace() {
        let grace = Duration::days(7);
        let v = version("a", -1, true, None);
        assert_eq!(grace_end(&v, grace), Some(NOW + Duration::days(6)));
        let tagged = with_grace_end(v.clone(), "2026-12-04T16:05:22Z");
        assert_eq!(
            grace_end(&tagged, grace),
            Some(datetime!(2026-12-04 16:05:22 UTC))
        );
        // A tag that does not parse is as good as none.
        let garbage = with_grace_end(v.clone(), "next tuesday");
        assert_eq!(grace_end(&garbage, grace), Some(NOW + Duration::days(6)));
        let waiting = with_grace_end(v, GRACE_AFTER_PROPAGATION);
        assert_eq!(grace_end(&waiting, Duration::ZERO), None);
        assert_eq!(
            grace_end_tag(datetime!(2026-11-27 16:05:22.7 UTC), Duration::days(7)),
            "2026-12-04T16:05:22Z"
        );
        assert_eq!(
            grace_end_tag(datetime!(2026-11-27 16:05:21 UTC), Duration::ZERO),
            "2026-11-27T16:05:21Z"
        );
    }

    #[test]
    fn superseded_versions_are_disabled_only_after_the_grace_end_and_never_the_served_one() {
        let grace = Duration::days(7);
        let vs = [
            version("v1", -30, true, None),
            version("v2", -20, true, None),
            version("v3", -8, true, None), // served: created 8 days ago, grace over
            version("v0", -40, false, None), // already disabled
        ];
        assert_eq!(
            versions_to_disable(&vs, &served(&vs[2]), grace, NOW),
            ["v1", "v2"]
        );
        // Inside the served version's grace: nothing.
        let recent = version("v3", -3, true, None);
        assert!(versions_to_disable(&vs, &served(&recent), grace, NOW).is_empty());
        // Exactly at the grace end counts as over.
        let edge = version("v3", -7, true, None);
        assert_eq!(
            versions_to_disable(&vs, &served(&edge), grace, NOW),
            ["v1", "v2"]
        );
        // Unknown served version (missing, disabled): nothing is retired.
        assert!(versions_to_disable(&vs, &Current::Disabled, grace, NOW).is_empty());
        assert!(versions_to_disable(&vs, &Current::Missing, grace, NOW).is_empty());
    }

    #[test]
    fn the_grace_end_tag_decides_over_created() {
        let vs = [
            version("old", -30, true, None),
            with_grace_end(version("cur", -30, true, None), "2026-11-26T12:00:01Z"),
        ];
        // created + grace passed long ago, but the tag says one more second.
        assert!(versions_to_disable(&vs, &served(&vs[1]), Duration::ZERO, NOW).is_empty());
        assert_eq!(
            versions_to_disable(&vs, &served(&vs[1]), Duration::ZERO, NOW + Duration::SECOND),
            ["old"]
        );
    }

    #[test]
    fn same_second_versions_with_adversarial_ids_never_retire_the_served_one() {
        // Three versions in one second; ids sort against the write order (the served one,
        // written last, has the smallest id), as the issue saw it.
        let second = NOW - Duration::minutes(5);
        let vs = [
            at("ccc", second, true, None),
            at("bbb", second, true, None),
            at("aaa", second, true, None),
        ];
        let current = with_grace_end(vs[2].clone(), "2026-11-26T11:55:01Z");
        let out = versions_to_disable(&vs, &served(&current), Duration::SECOND, NOW);
        assert_eq!(out, ["ccc", "bbb"]);
        // Whichever of them is served, it is the one kept.
        for keep in &vs {
            let out = versions_to_disable(&vs, &served(keep), Duration::SECOND, NOW);
            assert!(!out.contains(keep.version.as_ref().unwrap()));
            assert_eq!(out.len(), 2);
        }
    }

    #[test]
    fn a_version_created_after_the_served_one_is_never_disabled() {
        let vs = [
            version("old", -30, true, None),
            version("cur", -20, true, None),
            version("newer", -1, true, None),
        ];
        assert_eq!(
            versions_to_disable(&vs, &served(&vs[1]), Duration::days(7), NOW),
            ["old"]
        );
    }

    fn pw(key: &str, name: Option<&str>) -> Password {
        Password {
            key_id: key.into(),
            display_name: name.map(str::to_string),
        }
    }

    #[test]
    fn passwords_keyrot_created_are_removed_after_the_grace_end_or_when_orphaned() {
        let grace = Duration::days(7);
        let versions = [
            version("v1", -30, false, Some("k1")),
            version("v2", -20, true, Some("k2")),
            version("v3", -8, true, Some("k3")), // served, its grace over
        ];
        let passwords = [
            pw("k1", Some("keyrot:r1")),
            pw("k2", Some("keyrot:r2")),
            pw("k3", Some("keyrot:r3")),
            pw("k4", Some("keyrot:r4")),   // never committed: orphan
            pw("k5", Some("keyrot:live")), // the rotation in flight
            pw("k6", Some("release-pipeline")),
            pw("k7", None),
        ];
        let current = served(&versions[2]);
        let out = passwords_to_remove(
            &passwords,
            &versions,
            &current,
            Some("live"),
            grace,
            false,
            NOW,
        );
        assert_eq!(
            out,
            [
                ("k1".to_string(), Removal::Superseded),
                ("k2".to_string(), Removal::Superseded),
                ("k4".to_string(), Removal::Orphaned)
            ]
        );
        // remove_foreign also takes the app's own passwords after the grace end.
        let out = passwords_to_remove(
            &passwords,
            &versions,
            &current,
            Some("live"),
            grace,
            true,
            NOW,
        );
        assert!(out.contains(&("k6".to_string(), Removal::Foreign)));
        assert!(out.contains(&("k7".to_string(), Removal::Foreign)));
        assert!(!out.iter().any(|(k, _)| k == "k3" || k == "k5"));
        // Inside the grace: only the orphan.
        let fresh = served(&version("v3", -1, true, Some("k3")));
        let out = passwords_to_remove(
            &passwords,
            &versions,
            &fresh,
            Some("live"),
            grace,
            true,
            NOW,
        );
        assert_eq!(out, [("k4".to_string(), Removal::Orphaned)]);
    }

    #[test]
    fn the_password_of_the_served_version_stays_whatever_the_listing_order() {
        // Same second, ids against the write order: the served version holds k-new.
        let second = NOW - Duration::minutes(1);
        let versions = [
            at("fff", second, true, Some("k-old")),
            at("000", second, true, Some("k-new")),
        ];
        let passwords = [pw("k-old", Some("keyrot:a")), pw("k-new", Some("keyrot:b"))];
        for current in &versions {
            let out = passwords_to_remove(
                &passwords,
                &versions,
                &served(current),
                None,
                Duration::ZERO,
                false,
                NOW,
            );
            let kept = current.tags[TAG_KEY_ID].clone();
            assert!(!out.iter().any(|(k, _)| *k == kept), "{out:?}");
            assert_eq!(out.len(), 1);
        }
        // With the served version unknown (disabled), nothing held by a version goes.
        let out = passwords_to_remove(
            &passwords,
            &versions,
            &Current::Disabled,
            None,
            Duration::ZERO,
            true,
            NOW,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn foreign_passwords_stay_inside_the_grace_or_when_the_served_version_is_not_keyrots() {
        let versions = [
            version("v0", -100, true, None),
            version("v1", -1, true, Some("k1")),
        ];
        let passwords = [pw("k1", Some("keyrot:r1")), pw("old", Some("manual"))];
        let out = passwords_to_remove(
            &passwords,
            &versions,
            &served(&versions[1]),
            None,
            Duration::days(7),
            true,
            NOW,
        );
        assert!(out.is_empty(), "{out:?}");
        // The served version holds no keyrot password: it may hold a foreign one.
        let out = passwords_to_remove(
            &passwords,
            &versions,
            &served(&versions[0]),
            None,
            Duration::days(7),
            true,
            NOW,
        );
        assert!(!out.iter().any(|(k, _)| k == "old"), "{out:?}");
    }

    #[test]
    fn an_interrupted_rotation_is_finished_if_a_version_carries_it_else_undone() {
        let mut committed = version("v2", -1, true, Some("k2"));
        committed.tags.insert(TAG_ROTATION_ID.into(), "r2".into());
        let versions = [version("v1", -10, true, None), committed];
        assert_eq!(recovery("r2", &versions), Recovery::Finish);
        assert_eq!(recovery("r3", &versions), Recovery::Undo);
        let passwords = [
            pw("k2", Some("keyrot:r2")),
            pw("k3", Some("keyrot:r3")),
            pw("k3b", Some("keyrot:r3")),
            pw("k4", Some("keyrot:r4")),
        ];
        assert_eq!(
            passwords_of_rotation(&passwords, &versions, "r3"),
            ["k3", "k3b"]
        );
        // A password a version holds is never undone.
        assert!(passwords_of_rotation(&passwords, &versions, "r2").is_empty());
    }
}
