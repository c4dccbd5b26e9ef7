//! What the other records of a run say about one record.
//!
//! A record is judged on its own facts, except where another record of the same run decides:
//! - a disabled current secret whose older version (listed by `--versions`) is still enabled
//!   is an outage, not a retired secret;
//! - a superseded version stays enabled until the instant its current version's
//!   `keyrot-grace-ends` tag names (the contract with `keyrot rotate`);
//! - a superseded Entra password that keyrot created is kept until the grace end written on
//!   the Key Vault secret that holds its replacement (`keyrot-key-id`), when the check reads
//!   that vault too.
//!
//! Also here: a superseded Key Vault version is selected (`--name`, `--tag`) with its secret,
//! by the current version's name and tags, so a filter never splits a secret from its versions.

use std::collections::{HashMap, HashSet};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::graph::{TAG_APP, TAG_KEY_ID};
use crate::model::{CredentialRecord, Kind, Source, TAG_GRACE_ENDS};

/// Whether a record is an older version of a Key Vault secret (listed by `--versions`), as
/// opposed to a credential of its own.
pub fn is_secret_version(record: &CredentialRecord) -> bool {
    record.source == Source::KeyVault && record.superseded.is_some()
}

/// What the run knows about one record beyond its own facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// A current secret: an older version of it is still enabled.
    pub older_enabled: bool,
    /// A superseded version or password: until when keyrot keeps it.
    pub grace: Grace,
}

/// Until when keyrot keeps a superseded version or password enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grace {
    /// No grace: its current version carries no (readable) `keyrot-grace-ends` tag.
    #[default]
    None,
    /// keyrot disables (or removes) it at or after this instant.
    Until(OffsetDateTime),
    /// keyrot created it, but the grace end is on a Key Vault secret this check did not read.
    Unknown,
}

type SecretKey<'a> = (&'a str, Kind, &'a str);

fn key(record: &CredentialRecord) -> SecretKey<'_> {
    (&record.vault, record.kind, &record.name)
}

/// The relations between the records of one run.
pub struct Related<'a> {
    /// Current Key Vault records by vault, kind and name.
    current: HashMap<SecretKey<'a>, &'a CredentialRecord>,
    /// Secrets with an enabled superseded version.
    older_enabled: HashSet<SecretKey<'a>>,
    /// Current Key Vault secrets holding an Entra password, by its keyId in lower case.
    holders: HashMap<String, Vec<&'a CredentialRecord>>,
}

impl<'a> Related<'a> {
    pub fn new(records: &'a [CredentialRecord]) -> Related<'a> {
        let mut related = Related {
            current: HashMap::new(),
            older_enabled: HashSet::new(),
            holders: HashMap::new(),
        };
        for record in records.iter().filter(|r| r.source == Source::KeyVault) {
            if record.superseded.is_some() {
                if record.enabled {
                    related.older_enabled.insert(key(record));
                }
                continue;
            }
            related.current.insert(key(record), record);
            if let Some(key_id) = record.tags.get(TAG_KEY_ID) {
                related
                    .holders
                    .entry(key_id.trim().to_ascii_lowercase())
                    .or_default()
                    .push(record);
            }
        }
        related
    }

    /// Whether `selected` picks this record; a superseded Key Vault version goes with its
    /// secret's current version when the run read it.
    pub fn is_selected(
        &self,
        record: &CredentialRecord,
        selected: &impl Fn(&CredentialRecord) -> bool,
    ) -> bool {
        match self.current.get(&key(record)) {
            Some(current) if is_secret_version(record) => selected(current),
            _ => selected(record),
        }
    }

    pub fn context(&self, record: &CredentialRecord) -> Context {
        let Some(superseded) = &record.superseded else {
            return Context {
                older_enabled: record.source == Source::KeyVault
                    && self.older_enabled.contains(&key(record)),
                grace: Grace::None,
            };
        };
        let grace = match record.source {
            Source::KeyVault => self
                .current
                .get(&key(record))
                .and_then(|current| grace_ends(current))
                .map_or(Grace::None, Grace::Until),
            Source::Entra => self.entra_grace(record, &superseded.by_version),
        };
        Context {
            older_enabled: false,
            grace,
        }
    }

    /// The grace end of a superseded Entra password: on the current version of the secret that
    /// holds the password that replaced it, tagged with the same application.
    fn entra_grace(&self, record: &CredentialRecord, by_key_id: &str) -> Grace {
        let app = record.entra.as_ref().and_then(|link| link.app.as_ref());
        self.holders
            .get(&by_key_id.trim().to_ascii_lowercase())
            .into_iter()
            .flatten()
            .filter(|holder| {
                let tagged = holder.tags.get(TAG_APP).map(|id| id.trim());
                match (app, tagged) {
                    (Some(app), Some(id)) => {
                        app.object_id.eq_ignore_ascii_case(id)
                            || app.app_id.eq_ignore_ascii_case(id)
                    }
                    _ => false,
                }
            })
            .find_map(|holder| grace_ends(holder))
            .map_or(Grace::Unknown, Grace::Until)
    }
}

/// The `keyrot-grace-ends` instant a current version carries, if it is a valid RFC 3339 one.
fn grace_ends(current: &CredentialRecord) -> Option<OffsetDateTime> {
    let text = current.tags.get(TAG_GRACE_ENDS)?;
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::check::fixtures::{record, superseded, NOW};
    use crate::model::{AppRef, EntraLink};

    fn with_tag(mut record: CredentialRecord, key: &str, value: &str) -> CredentialRecord {
        record.tags.insert(key.to_owned(), value.to_owned());
        record
    }

    #[test]
    fn a_superseded_version_takes_its_grace_from_the_current_version() {
        let records = vec![
            with_tag(record("db"), TAG_GRACE_ENDS, "2026-12-04T16:05:22Z"),
            superseded("db", "v1", "v2", Some(NOW)),
            superseded("other", "v1", "v2", Some(NOW)),
            record("other"),
            with_tag(record("bad"), TAG_GRACE_ENDS, "next tuesday"),
            superseded("bad", "v1", "v2", Some(NOW)),
        ];
        let related = Related::new(&records);
        assert_eq!(
            related.context(&records[1]).grace,
            Grace::Until(time::macros::datetime!(2026-12-04 16:05:22 UTC))
        );
        assert_eq!(related.context(&records[2]).grace, Grace::None);
        assert_eq!(related.context(&records[5]).grace, Grace::None);
        // The current version itself has no grace; it knows an older version is enabled.
        assert_eq!(
            related.context(&records[0]),
            Context {
                older_enabled: true,
                grace: Grace::None
            }
        );
    }

    #[test]
    fn a_current_secret_knows_whether_an_older_version_is_enabled() {
        let disabled_old = CredentialRecord {
            enabled: false,
            ..superseded("retired", "v1", "v2", None)
        };
        let records = vec![
            record("outage"),
            superseded("outage", "v1", "v2", None),
            record("retired"),
            disabled_old,
        ];
        let related = Related::new(&records);
        assert!(related.context(&records[0]).older_enabled);
        assert!(!related.context(&records[2]).older_enabled);
    }

    #[test]
    fn versions_are_selected_with_their_secret() {
        let records = vec![
            with_tag(record("db"), "owner", "team-a"),
            superseded("db", "v1", "v2", None),
            superseded("orphan", "v1", "v2", None),
        ];
        let related = Related::new(&records);
        let team_a = |r: &CredentialRecord| r.tags.get("owner").is_some_and(|o| o == "team-a");
        assert!(related.is_selected(&records[0], &team_a));
        // The old version has no owner tag, yet goes with its secret.
        assert!(related.is_selected(&records[1], &team_a));
        assert!(!related.is_selected(&records[2], &team_a));
    }

    #[test]
    fn a_superseded_entra_password_takes_its_grace_from_the_secret_holding_its_replacement() {
        let app = AppRef {
            object_id: "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            app_id: "dddddddd-0000-0000-0000-000000000001".to_owned(),
            display_name: Some("billing-api".to_owned()),
        };
        let password = |by: &str| CredentialRecord {
            source: Source::Entra,
            vault: String::new(),
            kind: Kind::AppPassword,
            entra: Some(EntraLink {
                app: Some(app.clone()),
                key_id: "old".to_owned(),
                held: None,
            }),
            ..superseded("keyrot:r1", "old", by, Some(NOW - Duration::days(1)))
        };
        let ends = "2026-11-28T00:00:00Z";
        let holder = with_tag(
            with_tag(
                with_tag(
                    record("billing-secret"),
                    TAG_APP,
                    "DDDDDDDD-0000-0000-0000-000000000001",
                ),
                TAG_KEY_ID,
                "NEW",
            ),
            TAG_GRACE_ENDS,
            ends,
        );
        let other_app = with_tag(
            with_tag(
                record("other-secret"),
                TAG_APP,
                "ffffffff-0000-0000-0000-000000000001",
            ),
            TAG_KEY_ID,
            "elsewhere",
        );
        let records = vec![
            holder,
            other_app,
            password("new"),
            password("elsewhere"),
            password("unheld"),
        ];
        let related = Related::new(&records);
        assert_eq!(
            related.context(&records[2]).grace,
            Grace::Until(time::macros::datetime!(2026-11-28 0:00 UTC))
        );
        // A secret of another application holding that keyId says nothing about this one.
        assert_eq!(related.context(&records[3]).grace, Grace::Unknown);
        assert_eq!(related.context(&records[4]).grace, Grace::Unknown);
    }
}
