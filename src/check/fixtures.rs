//! Records and instants shared by the unit tests of `check` and `report`.

use std::collections::BTreeMap;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::model::{CredentialRecord, Kind, Source, Superseded};

/// The fixed "now" every test judges against.
pub const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

pub const VAULT: &str = "https://prod-vault.vault.azure.net";

/// An enabled, current secret in [`VAULT`] with no dates set.
pub fn record(name: &str) -> CredentialRecord {
    CredentialRecord {
        source: Source::KeyVault,
        vault: VAULT.to_owned(),
        kind: Kind::Secret,
        name: name.to_owned(),
        version: None,
        id: format!("{VAULT}/secrets/{name}"),
        enabled: true,
        not_before: None,
        expires: None,
        created: None,
        tags: BTreeMap::new(),
        superseded: None,
        entra: None,
        resource_key: None,
    }
}

/// A current secret expiring `from_now` after [`NOW`].
pub fn expiring(name: &str, from_now: Duration) -> CredentialRecord {
    CredentialRecord {
        expires: Some(NOW + from_now),
        ..record(name)
    }
}

/// An older version `version` of `name`, replaced by `by_version` at `at`.
pub fn superseded(
    name: &str,
    version: &str,
    by_version: &str,
    at: Option<OffsetDateTime>,
) -> CredentialRecord {
    CredentialRecord {
        version: Some(version.to_owned()),
        id: format!("{VAULT}/secrets/{name}/{version}"),
        superseded: Some(Superseded {
            by_version: by_version.to_owned(),
            at,
        }),
        ..record(name)
    }
}
