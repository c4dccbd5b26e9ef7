//! `check --config`: the resource keys that keyrot.toml's secrets hold, judged by what the
//! resource says about them as well as by the secret's dates.
//!
//! Azure does not expire resource keys, but a storage account reports when each key was last
//! generated (`keyCreationTime`) and may carry a key expiration policy
//! (`keyPolicy.keyExpirationPeriodInDays`, which Azure Policy and Defender audit). A secret
//! whose `exp` is far off may still hold a key past that policy: its date for the gate is then
//! the key's (`created + policy`). Service Bus, Event Hubs and Cosmos DB report no key ages, so
//! their secrets are judged by their own dates.
//!
//! Which key a secret holds comes from its `CredentialId` tag (written by keyrot and by the
//! Azure samples); without one, the older key is the one judged. No key value is read.

use std::collections::BTreeMap;

use crate::arm::storage::StorageAccount;
use crate::arm::ArmClient;
use crate::keys::alternation::{Service, Slot};
use crate::model::{CredentialRecord, Kind, ResourceKeyLink, Source};
use crate::rotate::config::{Config, Generator, ResourceKeySpec};
use crate::rotate::resource_key::held_by_tag;
use crate::vault::VaultUrl;

/// A credential of keyrot.toml that holds a resource key.
pub struct KeyCredential {
    pub vault: VaultUrl,
    pub name: String,
    pub spec: ResourceKeySpec,
}

/// The resource key credentials of `config`.
pub fn of_config(config: &Config) -> Result<Vec<KeyCredential>, String> {
    config
        .credentials
        .iter()
        .filter_map(|c| match &c.generator {
            Generator::ResourceKey(spec) => Some((c, spec)),
            _ => None,
        })
        .map(|(c, spec)| {
            Ok(KeyCredential {
                vault: VaultUrl::parse(&c.vault)
                    .map_err(|e| format!("credential {:?}: {e}", c.name))?,
                name: c.name.clone(),
                spec: spec.clone(),
            })
        })
        .collect()
}

/// Reads each storage account once and links what it says to the secrets that hold its keys.
pub async fn link(records: &mut [CredentialRecord], keys: &[KeyCredential], arm: &ArmClient) {
    let mut accounts: BTreeMap<String, Result<StorageAccount, String>> = BTreeMap::new();
    for key in keys.iter().filter(|k| k.spec.service == Service::Storage) {
        let id = key.spec.resource.to_string();
        if !accounts.contains_key(&id) {
            let read = arm
                .storage()
                .get_account(&key.spec.resource)
                .await
                .map_err(|e| e.summary());
            if let Err(why) = &read {
                tracing::warn!(
                    "cannot read the key ages of {}: {why}",
                    key.spec.resource.describe()
                );
            }
            accounts.insert(id.clone(), read);
        }
        let Some(record) = records.iter_mut().find(|r| holds(r, key)) else {
            continue;
        };
        let link = match &accounts[&id] {
            Ok(account) => judge(record, account, &key.spec),
            Err(why) => ResourceKeyLink {
                key: format!("the key of {}", key.spec.resource.describe()),
                created: None,
                policy_days: None,
                replaced_vault_expires: None,
                unchecked: Some(why.clone()),
            },
        };
        record.resource_key = Some(link);
    }
}

/// Whether `record` is the served version of `key`'s secret.
fn holds(record: &CredentialRecord, key: &KeyCredential) -> bool {
    record.source == Source::KeyVault
        && record.kind == Kind::Secret
        && record.superseded.is_none()
        && record.name.eq_ignore_ascii_case(&key.name)
        && VaultUrl::parse(&record.vault).is_ok_and(|v| v == key.vault)
}

/// The key's age and policy; moves the record's date to the policy's end when that comes
/// first.
pub fn judge(
    record: &mut CredentialRecord,
    account: &StorageAccount,
    spec: &ResourceKeySpec,
) -> ResourceKeyLink {
    let what = spec.resource.describe();
    let (key, created) = match held_by_tag(&record.tags) {
        Some(slot) => (
            format!("{} of {what}", slot.key_name(Service::Storage)),
            account.key_created(slot),
        ),
        None => (
            format!("the older key of {what}"),
            [Slot::First, Slot::Second]
                .into_iter()
                .filter_map(|s| account.key_created(s))
                .min(),
        ),
    };
    let policy_days = account.key_expiration_days;
    let policy_end = created
        .zip(policy_days)
        .map(|(created, days)| created + time::Duration::days(i64::from(days)));
    let replaced_vault_expires = match (policy_end, record.expires) {
        (Some(end), Some(exp)) if end >= exp => None,
        (Some(end), vault) => {
            record.expires = Some(end);
            Some(vault)
        }
        (None, _) => None,
    };
    ResourceKeyLink {
        key,
        created,
        policy_days,
        replaced_vault_expires,
        unchecked: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::resource_id::ResourceId;
    use crate::check::{CheckReport, Policy, Status};
    use crate::rotate::config::KeyForm;
    use time::macros::datetime;

    fn spec() -> ResourceKeySpec {
        let resource = ResourceId::parse("/subscriptions/5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/orders").unwrap();
        ResourceKeySpec {
            service: Service::Storage,
            resource,
            value: KeyForm::ConnectionString,
            lro_timeout: std::time::Duration::from_secs(60),
            validity_configured: false,
        }
    }

    fn record(tag: Option<&str>, expires: time::OffsetDateTime) -> CredentialRecord {
        let mut r = crate::check::fixtures::record("orders-storage");
        r.expires = Some(expires);
        if let Some(tag) = tag {
            r.tags.insert("CredentialId".into(), tag.into());
        }
        r
    }

    const NOW: time::OffsetDateTime = datetime!(2026-12-05 12:00 UTC);

    #[test]
    fn a_key_past_its_policy_fails_the_gate_though_the_secret_looks_fine() {
        let account = StorageAccount {
            key1_created: Some(datetime!(2026-08-01 0:00 UTC)),
            key2_created: Some(datetime!(2026-11-20 0:00 UTC)),
            key_expiration_days: Some(90),
            allow_shared_key_access: Some(true),
        };
        // key1 is 126 days old, past the 90-day policy; the secret's exp is 60 days away.
        let mut held_key1 = record(Some("key1"), NOW + time::Duration::days(60));
        let link = judge(&mut held_key1, &account, &spec());
        assert_eq!(held_key1.expires, Some(datetime!(2026-10-30 0:00 UTC)));
        assert!(link.replaced_vault_expires.is_some());
        held_key1.resource_key = Some(link);
        let report = CheckReport::evaluate(vec![held_key1], &Policy::default(), NOW);
        assert_eq!(report.status(), Status::Fail);
        let message = &report.findings[0].message;
        assert!(
            message.contains("key1 of storage account orders was generated")
                && message.contains("key expiration policy (90 days)"),
            "{message}"
        );

        // key2 is fresh: the secret's own date stands.
        let mut held_key2 = record(Some("key2"), NOW + time::Duration::days(60));
        let link = judge(&mut held_key2, &account, &spec());
        assert_eq!(held_key2.expires, Some(NOW + time::Duration::days(60)));
        assert_eq!(link.replaced_vault_expires, None);
        held_key2.resource_key = Some(link);
        let report = CheckReport::evaluate(vec![held_key2], &Policy::default(), NOW);
        assert_eq!(report.status(), Status::Pass);
    }

    #[test]
    fn without_a_tag_the_older_key_is_judged_and_without_a_policy_nothing_moves() {
        let mut account = StorageAccount {
            key1_created: Some(datetime!(2026-11-01 0:00 UTC)),
            key2_created: Some(datetime!(2026-06-01 0:00 UTC)),
            key_expiration_days: Some(180),
            allow_shared_key_access: None,
        };
        let mut untagged = record(None, NOW + time::Duration::days(60));
        let link = judge(&mut untagged, &account, &spec());
        assert_eq!(link.created, Some(datetime!(2026-06-01 0:00 UTC)));
        assert_eq!(untagged.expires, Some(datetime!(2026-11-28 0:00 UTC)));
        account.key_expiration_days = None;
        let mut no_policy = record(None, NOW + time::Duration::days(60));
        let link = judge(&mut no_policy, &account, &spec());
        assert_eq!(link.replaced_vault_expires, None);
        assert_eq!(no_policy.expires, Some(NOW + time::Duration::days(60)));
    }
}
