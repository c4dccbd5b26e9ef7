//! Dual-key alternation and the Azure-Samples tag convention (notes §5.6;
//! Azure-Samples/keyvault-rotation-storageaccountkey-powershell and the Cosmos DB sample of the
//! same series).
//!
//! A resource with two keys is rotated without downtime by regenerating the key the secret does
//! **not** hold, then writing that key as the secret's new version: consumers still on the old
//! version keep working until the next rotation regenerates *their* key. The samples keep the
//! state in the secret's tags:
//! - `CredentialId`: which key the current version holds. The samples write `key1`/`key2`
//!   (storage) and `Primary`/`Secondary` (Cosmos DB, which passes `$credentialId.ToLower()` as
//!   `-KeyKind`); Service Bus and Event Hubs call them `PrimaryKey`/`SecondaryKey`. Read in any
//!   case, with or without `-`, `_` or spaces, and with a `MasterKey` suffix (Cosmos DB's
//!   `listKeys` field names);
//! - `ProviderAddress`: the resource id of the key's owner;
//! - `ValidityPeriodDays`: the new version's lifetime (`Expires = now + days`).
//!
//! Tag names are matched case-insensitively; when keyrot writes `CredentialId` back it keeps
//! the spelling of the tag it found and writes the value in the service's own key name
//! ([`Slot::key_name`]): `key1`/`key2`, `PrimaryKey`/`SecondaryKey`, `primary`/`secondary`.
//!
//! **Which key the secret holds** ([`plan`]), in order:
//! 1. the secret's value compared with the listed keys ([`infer_held`]), when the caller has
//!    both: the value is the truth, and regenerating the key a secret actually holds would cut
//!    its consumers off. If it contradicts the tag, [`Alternation::tag_disagreed`] says so;
//! 2. the `CredentialId` tag;
//! 3. neither (no tag, and the value is none of the keys, e.g. a freshly created secret):
//!    keyrot *assumes* the first key (`key1` / `PrimaryKey` / `primary`), so the first rotation
//!    regenerates the second one. This is the samples' own starting point (their setup stores
//!    key1 with `CredentialId=key1`), and it never touches key1, which is the key applications
//!    configured by hand most often use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::connection_string::ConnectionString;
use crate::model::SecretValue;

pub const TAG_CREDENTIAL_ID: &str = "CredentialId";
pub const TAG_PROVIDER_ADDRESS: &str = "ProviderAddress";
pub const TAG_VALIDITY_PERIOD_DAYS: &str = "ValidityPeriodDays";

/// The longest `ValidityPeriodDays` accepted (a hundred years).
const MAX_VALIDITY_DAYS: u32 = 36_500;

/// A service whose keys alternate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Storage,
    ServiceBus,
    EventHubs,
    Cosmos,
}

/// One of a resource's two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    /// `key1`, `PrimaryKey`, `primary`.
    First,
    /// `key2`, `SecondaryKey`, `secondary`.
    Second,
}

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::First => Slot::Second,
            Slot::Second => Slot::First,
        }
    }

    /// The key's name in the service's own API (what `regenerateKey`/`regenerateKeys` take).
    pub fn key_name(self, service: Service) -> &'static str {
        match (service, self) {
            (Service::Storage, Slot::First) => "key1",
            (Service::Storage, Slot::Second) => "key2",
            (Service::ServiceBus | Service::EventHubs, Slot::First) => "PrimaryKey",
            (Service::ServiceBus | Service::EventHubs, Slot::Second) => "SecondaryKey",
            (Service::Cosmos, Slot::First) => "primary",
            (Service::Cosmos, Slot::Second) => "secondary",
        }
    }
}

/// A `CredentialId` value → the key it names, whatever the service's spelling.
pub fn parse_credential_id(value: &str) -> Option<Slot> {
    let normalized: String = value
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '-' || *c == '_'))
        .collect::<String>()
        .to_ascii_lowercase();
    match normalized.as_str() {
        "key1" | "primary" | "primarykey" | "primarymasterkey" => Some(Slot::First),
        "key2" | "secondary" | "secondarykey" | "secondarymasterkey" => Some(Slot::Second),
        _ => None,
    }
}

/// The convention's tags as read from a secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlternationTags {
    /// `CredentialId`, read.
    pub credential_id: Option<Slot>,
    /// `ProviderAddress` as written (a resource id; `arm::resource_id` parses it).
    pub provider_address: Option<String>,
    pub validity_period_days: Option<u32>,
}

/// A tag's value, its name matched case-insensitively.
fn tag<'a>(tags: &'a BTreeMap<String, String>, name: &str) -> Option<(&'a str, &'a str)> {
    tags.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

impl AlternationTags {
    /// Reads the tags. Errors name the tag and say what values are expected (tag values are
    /// not secret); an empty tag counts as absent.
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Result<AlternationTags, String> {
        let present = |name| tag(tags, name).filter(|(_, v)| !v.trim().is_empty());
        let credential_id = match present(TAG_CREDENTIAL_ID) {
            None => None,
            Some((name, value)) => Some(parse_credential_id(value).ok_or_else(|| {
                format!(
                    "tag {name} = {value:?} names no key keyrot alternates: expected key1/key2 (storage), PrimaryKey/SecondaryKey (Service Bus, Event Hubs) or Primary/Secondary (Cosmos DB)"
                )
            })?),
        };
        let validity_period_days = match present(TAG_VALIDITY_PERIOD_DAYS) {
            None => None,
            Some((name, value)) => match value.trim().parse::<u32>() {
                Ok(days) if (1..=MAX_VALIDITY_DAYS).contains(&days) => Some(days),
                _ => {
                    return Err(format!(
                    "tag {name} = {value:?} is not a number of days from 1 to {MAX_VALIDITY_DAYS}"
                ))
                }
            },
        };
        Ok(AlternationTags {
            credential_id,
            provider_address: present(TAG_PROVIDER_ADDRESS).map(|(_, v)| v.trim().to_owned()),
            validity_period_days,
        })
    }

    /// `now + ValidityPeriodDays`, when the tag is set.
    pub fn expires(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.validity_period_days
            .map(|days| now + time::Duration::days(i64::from(days)))
    }
}

/// How the held key was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeldBy {
    /// The secret's value is this key.
    Value,
    /// The `CredentialId` tag says so.
    Tag,
    /// Neither told: the first key is assumed.
    Assumed,
}

/// Which key the secret holds, and which to regenerate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternation {
    pub held: Slot,
    pub regenerate: Slot,
    pub by: HeldBy,
    /// The tag named the other key than the value holds (the value won).
    pub tag_disagreed: bool,
}

/// Decides the alternation from the tags and, if the caller compared values, the key the
/// secret's value was found to be (see the module docs for the order).
pub fn plan(tags: &AlternationTags, inferred: Option<Slot>) -> Alternation {
    let (held, by) = match (inferred, tags.credential_id) {
        (Some(slot), _) => (slot, HeldBy::Value),
        (None, Some(slot)) => (slot, HeldBy::Tag),
        (None, None) => (Slot::First, HeldBy::Assumed),
    };
    Alternation {
        held,
        regenerate: held.other(),
        by,
        tag_disagreed: matches!((inferred, tags.credential_id), (Some(v), Some(t)) if v != t),
    }
}

/// Which of the two keys the secret's value is (the value itself, or the key inside a
/// connection string), compared in constant time. `None` when it is neither.
pub fn infer_held(secret: &SecretValue, first: &SecretValue, second: &SecretValue) -> Option<Slot> {
    let text = secret.expose().trim();
    let parsed;
    let candidate = if ConnectionString::looks_like(text) {
        parsed = ConnectionString::parse(text).ok()?;
        parsed.key()?.to_owned()
    } else {
        text.to_owned()
    };
    let candidate = zeroize::Zeroizing::new(candidate);
    let same = |key: &SecretValue| {
        !key.expose().is_empty()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                candidate.as_bytes(),
                key.expose().trim().as_bytes(),
            )
            .is_ok()
    };
    match (same(first), same(second)) {
        (true, false) => Some(Slot::First),
        (false, true) => Some(Slot::Second),
        _ => None,
    }
}

/// The tags of the secret version that holds the regenerated key: the current tags with
/// `CredentialId` set to the key's service name (in the spelling of the tag found, else
/// `CredentialId`), and `ProviderAddress` added when it was missing and is known.
pub fn written_tags(
    current: &BTreeMap<String, String>,
    service: Service,
    now_held: Slot,
    provider_address: Option<&str>,
) -> BTreeMap<String, String> {
    let mut out = current.clone();
    let id_name = tag(current, TAG_CREDENTIAL_ID)
        .map(|(k, _)| k.to_owned())
        .unwrap_or_else(|| TAG_CREDENTIAL_ID.to_owned());
    out.insert(id_name, now_held.key_name(service).to_owned());
    let has_address = tag(current, TAG_PROVIDER_ADDRESS).is_some_and(|(_, v)| !v.trim().is_empty());
    if let (false, Some(address)) = (has_address, provider_address) {
        let name = tag(current, TAG_PROVIDER_ADDRESS)
            .map(|(k, _)| k.to_owned())
            .unwrap_or_else(|| TAG_PROVIDER_ADDRESS.to_owned());
        out.insert(name, address.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn secret(s: &str) -> SecretValue {
        SecretValue::new(s.to_owned())
    }

    #[test]
    fn every_spelling_of_the_samples_is_read() {
        for first in [
            "key1",
            "Key1",
            "KEY1",
            "Primary",
            "primary",
            "PrimaryKey",
            "primaryKey",
            "primary-key",
            "Primary_Key",
            "primary key",
            "primaryMasterKey",
            " key1 ",
        ] {
            assert_eq!(parse_credential_id(first), Some(Slot::First), "{first}");
        }
        for second in [
            "key2",
            "Key2",
            "Secondary",
            "secondary",
            "SecondaryKey",
            "SECONDARY_KEY",
            "secondaryMasterKey",
        ] {
            assert_eq!(parse_credential_id(second), Some(Slot::Second), "{second}");
        }
        for neither in ["", "key3", "kerb1", "primaryReadonly", "1", "tertiary"] {
            assert_eq!(parse_credential_id(neither), None, "{neither}");
        }
    }

    #[test]
    fn key_names_are_each_services_own() {
        let names = |s| (Slot::First.key_name(s), Slot::Second.key_name(s));
        assert_eq!(names(Service::Storage), ("key1", "key2"));
        assert_eq!(names(Service::ServiceBus), ("PrimaryKey", "SecondaryKey"));
        assert_eq!(names(Service::EventHubs), ("PrimaryKey", "SecondaryKey"));
        assert_eq!(names(Service::Cosmos), ("primary", "secondary"));
        // A name read back is the same slot.
        for service in [Service::Storage, Service::ServiceBus, Service::Cosmos] {
            for slot in [Slot::First, Slot::Second] {
                assert_eq!(parse_credential_id(slot.key_name(service)), Some(slot));
            }
        }
    }

    #[test]
    fn the_samples_tags_are_read_case_insensitively() {
        let read = AlternationTags::from_tags(&tags(&[
            ("credentialid", "key2"),
            ("PROVIDERADDRESS", " /subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sto "),
            ("ValidityPeriodDays", "60"),
            ("other", "kept"),
        ]))
        .unwrap();
        assert_eq!(read.credential_id, Some(Slot::Second));
        assert_eq!(
            read.provider_address.as_deref(),
            Some("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sto")
        );
        assert_eq!(read.validity_period_days, Some(60));
        assert_eq!(
            read.expires(datetime!(2026-01-01 0:00 UTC)),
            Some(datetime!(2026-03-02 0:00 UTC))
        );
        let none = AlternationTags::from_tags(&tags(&[("CredentialId", " ")])).unwrap();
        assert_eq!(none, AlternationTags::default());
        assert_eq!(none.expires(datetime!(2026-01-01 0:00 UTC)), None);
    }

    #[test]
    fn bad_tags_are_explained() {
        let error = AlternationTags::from_tags(&tags(&[("CredentialId", "key3")])).unwrap_err();
        assert!(error.contains("tag CredentialId = \"key3\""), "{error}");
        assert!(error.contains("key1/key2"), "{error}");
        for days in ["0", "-1", "sixty", "99999999"] {
            let error =
                AlternationTags::from_tags(&tags(&[("validityperioddays", days)])).unwrap_err();
            assert!(error.contains("validityperioddays"), "{days}: {error}");
        }
    }

    #[test]
    fn the_plan_regenerates_the_key_the_secret_does_not_hold() {
        let tagged = |slot| AlternationTags {
            credential_id: Some(slot),
            ..Default::default()
        };
        let by_tag = plan(&tagged(Slot::First), None);
        assert_eq!(
            (by_tag.held, by_tag.regenerate, by_tag.by),
            (Slot::First, Slot::Second, HeldBy::Tag)
        );
        let by_tag = plan(&tagged(Slot::Second), None);
        assert_eq!(by_tag.regenerate, Slot::First);
        // No tag, value unknown: key1 assumed, key2 regenerated.
        let assumed = plan(&AlternationTags::default(), None);
        assert_eq!(
            (
                assumed.held,
                assumed.regenerate,
                assumed.by,
                assumed.tag_disagreed
            ),
            (Slot::First, Slot::Second, HeldBy::Assumed, false)
        );
        // The value wins over a stale tag, and says so.
        let stale = plan(&tagged(Slot::First), Some(Slot::Second));
        assert_eq!(
            (stale.held, stale.regenerate, stale.by, stale.tag_disagreed),
            (Slot::Second, Slot::First, HeldBy::Value, true)
        );
        let agreed = plan(&tagged(Slot::Second), Some(Slot::Second));
        assert!(!agreed.tag_disagreed);
        let untagged = plan(&AlternationTags::default(), Some(Slot::Second));
        assert_eq!(
            (untagged.regenerate, untagged.by),
            (Slot::First, HeldBy::Value)
        );
    }

    #[test]
    fn the_held_key_is_inferred_from_a_key_or_a_connection_string() {
        let k1 = secret("a2V5MQ==");
        let k2 = secret("a2V5Mg==");
        assert_eq!(infer_held(&secret("a2V5MQ=="), &k1, &k2), Some(Slot::First));
        assert_eq!(
            infer_held(&secret(" a2V5Mg==\n"), &k1, &k2),
            Some(Slot::Second)
        );
        assert_eq!(
            infer_held(
                &secret("DefaultEndpointsProtocol=https;AccountName=s;AccountKey=a2V5Mg==;EndpointSuffix=core.windows.net"),
                &k1,
                &k2
            ),
            Some(Slot::Second)
        );
        assert_eq!(
            infer_held(
                &secret("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=a2V5MQ=="),
                &k1,
                &k2
            ),
            Some(Slot::First)
        );
        assert_eq!(infer_held(&secret("other"), &k1, &k2), None);
        assert_eq!(infer_held(&secret(""), &secret(""), &k2), None);
        // Both keys equal (never, but): undecidable.
        assert_eq!(infer_held(&k1, &k1, &k1), None);
    }

    #[test]
    fn written_tags_keep_everything_and_the_spelling_found() {
        let current = tags(&[
            ("credentialId", "key1"),
            ("ValidityPeriodDays", "60"),
            ("keyrot-grace-ends", "2026-01-01T00:00:00Z"),
        ]);
        let out = written_tags(
            &current,
            Service::Storage,
            Slot::Second,
            Some("/subscriptions/s/x"),
        );
        assert_eq!(
            out,
            tags(&[
                ("credentialId", "key2"),
                ("ValidityPeriodDays", "60"),
                ("keyrot-grace-ends", "2026-01-01T00:00:00Z"),
                ("ProviderAddress", "/subscriptions/s/x"),
            ])
        );
        let fresh = written_tags(&BTreeMap::new(), Service::ServiceBus, Slot::Second, None);
        assert_eq!(fresh, tags(&[("CredentialId", "SecondaryKey")]));
        let cosmos = written_tags(
            &tags(&[("CredentialId", "Primary"), ("providerAddress", "/keep")]),
            Service::Cosmos,
            Slot::Second,
            Some("/other"),
        );
        assert_eq!(
            cosmos,
            tags(&[("CredentialId", "secondary"), ("providerAddress", "/keep")])
        );
    }
}
