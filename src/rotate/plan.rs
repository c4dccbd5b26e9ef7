//! Pure decisions of a rotation run: is a credential due, and what may be retired.
//!
//! Nothing here reads a clock or does I/O: the versions, the application's passwords and `now`
//! are parameters, so every rule is tested exactly.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::model::CredentialRecord;

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
        }
    }
}

/// The current (latest) version: the newest by creation time, as Key Vault serves it.
pub fn latest(versions: &[CredentialRecord]) -> Option<&CredentialRecord> {
    versions
        .iter()
        .max_by(|a, b| (a.created, a.version.as_deref()).cmp(&(b.created, b.version.as_deref())))
}

/// Whether the credential must be rotated now, and why.
pub fn due(
    current: Option<&CredentialRecord>,
    rotate_within: Duration,
    now: OffsetDateTime,
    force: bool,
) -> Option<Reason> {
    if force {
        return Some(Reason::Forced);
    }
    let Some(current) = current else {
        return Some(Reason::Missing);
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

/// The superseded versions still enabled whose grace has run out: each was replaced by the
/// next newer version, and consumers had `grace` to move over since that one was created.
/// The latest version is never among them.
pub fn versions_to_disable(
    versions: &[CredentialRecord],
    grace: Duration,
    now: OffsetDateTime,
) -> Vec<String> {
    let mut ordered: Vec<&CredentialRecord> = versions.iter().collect();
    ordered
        .sort_by(|a, b| (a.created, a.version.as_deref()).cmp(&(b.created, b.version.as_deref())));
    ordered
        .windows(2)
        .filter_map(|pair| {
            let (older, newer) = (pair[0], pair[1]);
            let superseded_at = newer.created?;
            (older.enabled && superseded_at + grace <= now)
                .then(|| older.version.clone())
                .flatten()
        })
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
    /// keyrot created it, a newer version replaced it, and `grace` has passed.
    Superseded,
    /// keyrot created it but no Key Vault version ever held it (its run died before
    /// committing); nobody can be using it, since its text existed only in that run's memory.
    Orphaned,
    /// Not keyrot's, superseded by keyrot's rotation, and `remove_foreign = true`.
    Foreign,
}

/// The passwords of an application to remove: never the one the latest version holds, never
/// one of the rotation in flight, and never one keyrot did not create unless `remove_foreign`.
pub fn passwords_to_remove(
    passwords: &[Password],
    versions: &[CredentialRecord],
    in_flight_rotation: Option<&str>,
    grace: Duration,
    remove_foreign: bool,
    now: OffsetDateTime,
) -> Vec<(String, Removal)> {
    let mut ordered: Vec<&CredentialRecord> = versions.iter().collect();
    ordered
        .sort_by(|a, b| (a.created, a.version.as_deref()).cmp(&(b.created, b.version.as_deref())));
    let current_key = ordered.last().and_then(|v| v.tags.get(TAG_KEY_ID));
    // keyId → when the version holding it was superseded (None: it is the latest).
    let mut superseded_at: BTreeMap<&str, Option<OffsetDateTime>> = BTreeMap::new();
    for (i, version) in ordered.iter().enumerate() {
        if let Some(key) = version.tags.get(TAG_KEY_ID) {
            let next = ordered.get(i + 1).and_then(|n| n.created);
            superseded_at.insert(key.as_str(), next);
        }
    }
    // The first version keyrot wrote superseded whatever the app had before.
    let first_rotation = ordered
        .iter()
        .find(|v| v.tags.contains_key(TAG_KEY_ID))
        .and_then(|v| v.created);
    let past_grace = |at: Option<OffsetDateTime>| at.is_some_and(|at| at + grace <= now);

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
                Some(_) => match superseded_at.get(p.key_id.as_str()) {
                    Some(at) => past_grace(*at).then_some(Removal::Superseded),
                    None => Some(Removal::Orphaned),
                },
                None => (remove_foreign && past_grace(first_rotation)).then_some(Removal::Foreign),
            };
            removal.map(|r| (p.key_id.clone(), r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Source};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

    fn version(v: &str, created_days: i64, enabled: bool, key: Option<&str>) -> CredentialRecord {
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
            created: Some(NOW + Duration::days(created_days)),
            tags,
            superseded: None,
            entra: None,
        }
    }

    fn with_exp(mut r: CredentialRecord, exp: Option<OffsetDateTime>) -> CredentialRecord {
        r.expires = exp;
        r
    }

    #[test]
    fn due_when_missing_disabled_unbounded_expired_or_inside_the_window() {
        let d30 = Duration::days(30);
        assert_eq!(due(None, d30, NOW, false), Some(Reason::Missing));
        let v = version("a", -1, false, None);
        assert_eq!(due(Some(&v), d30, NOW, false), Some(Reason::Disabled));
        let v = version("a", -1, true, None);
        assert_eq!(due(Some(&v), d30, NOW, false), Some(Reason::NoExpiry));
        let v = with_exp(version("a", -1, true, None), Some(NOW));
        assert_eq!(due(Some(&v), d30, NOW, false), Some(Reason::Expired(NOW)));
        let edge = NOW + d30;
        let v = with_exp(version("a", -1, true, None), Some(edge));
        assert_eq!(
            due(Some(&v), d30, NOW, false),
            Some(Reason::ExpiresSoon(edge))
        );
        let v = with_exp(version("a", -1, true, None), Some(edge + Duration::SECOND));
        assert_eq!(due(Some(&v), d30, NOW, false), None);
        assert_eq!(due(Some(&v), d30, NOW, true), Some(Reason::Forced));
    }

    #[test]
    fn the_latest_version_is_the_newest_created() {
        let vs = [version("b", -5, true, None), version("a", -1, true, None)];
        assert_eq!(latest(&vs).unwrap().version.as_deref(), Some("a"));
        assert!(latest(&[]).is_none());
    }

    #[test]
    fn superseded_versions_are_disabled_only_after_grace_and_never_the_latest() {
        let grace = Duration::days(7);
        let vs = [
            version("v1", -30, true, None),  // superseded at -20: past grace
            version("v2", -20, true, None),  // superseded at -3: inside grace
            version("v3", -3, true, None),   // latest
            version("v0", -40, false, None), // already disabled
        ];
        assert_eq!(versions_to_disable(&vs, grace, NOW), ["v1"]);
        // Exactly at the end of grace counts as over.
        let vs = [
            version("v1", -10, true, None),
            version("v2", -7, true, None),
        ];
        assert_eq!(versions_to_disable(&vs, grace, NOW), ["v1"]);
        assert!(versions_to_disable(&vs[1..], grace, NOW).is_empty());
    }

    fn pw(key: &str, name: Option<&str>) -> Password {
        Password {
            key_id: key.into(),
            display_name: name.map(str::to_string),
        }
    }

    #[test]
    fn passwords_keyrot_created_are_removed_after_grace_or_when_orphaned() {
        let grace = Duration::days(7);
        let versions = [
            version("v1", -30, false, Some("k1")), // superseded at -20
            version("v2", -20, true, Some("k2")),  // superseded at -2
            version("v3", -2, true, Some("k3")),   // latest
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
        let out = passwords_to_remove(&passwords, &versions, Some("live"), grace, false, NOW);
        assert_eq!(
            out,
            [
                ("k1".to_string(), Removal::Superseded),
                ("k4".to_string(), Removal::Orphaned)
            ]
        );
        // remove_foreign also takes the app's own passwords once keyrot's first rotation is
        // older than grace.
        let out = passwords_to_remove(&passwords, &versions, Some("live"), grace, true, NOW);
        assert!(out.contains(&("k6".to_string(), Removal::Foreign)));
        assert!(out.contains(&("k7".to_string(), Removal::Foreign)));
        assert!(!out.iter().any(|(k, _)| k == "k3" || k == "k5" || k == "k2"));
    }

    #[test]
    fn foreign_passwords_stay_while_the_first_rotation_is_inside_grace() {
        let versions = [
            version("v0", -100, true, None),
            version("v1", -1, true, Some("k1")),
        ];
        let passwords = [pw("k1", Some("keyrot:r1")), pw("old", Some("manual"))];
        let out = passwords_to_remove(&passwords, &versions, None, Duration::days(7), true, NOW);
        assert!(out.is_empty(), "{out:?}");
    }
}
