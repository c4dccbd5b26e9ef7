//! The resource key generators' part of the protocol (`storage-account-key`,
//! `service-bus-key`, `event-hubs-key`, `cosmos-db-key`): which of the two keys to regenerate,
//! regenerating it, the value the secret holds, the proof that the service accepts it, and the
//! tags and expiry of the version that holds it. [`super::run`] journals around each step.
//!
//! Alternation: the served version holds one key (its value is compared with both, else its
//! `CredentialId` tag says, else the first is assumed); the rotation regenerates the *other*
//! one, so the key in use is never touched and stays valid until the rotation after. A key
//! that another enabled version still holds (an older version within its grace) is not
//! regenerated: the run waits for that grace to end rather than break its consumers.
//!
//! Exactly once: the journal records the key and a fingerprint of its value before the
//! regeneration (SHA-256, truncated: it identifies a value, it cannot give it back), and, for
//! Cosmos DB, the long-running operation. A rerun whose listing shows a different value knows
//! the regeneration happened and goes on with that key; one with the operation polls it again.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::config::{KeyForm, ResourceKeySpec};
use crate::arm::resource_id::{Resource, ResourceId, ServiceBusEntity};
use crate::arm::ArmClient;
use crate::dataplane::Target;
use crate::keys::alternation::{self, Alternation, AlternationTags, Service, Slot};
use crate::keys::{connection_string, Cloud};
use crate::model::SecretValue;

/// A resource's two keys as listed. No `Debug`: it holds them.
pub struct KeyPair {
    first: SecretValue,
    second: SecretValue,
}

impl KeyPair {
    pub fn get(&self, slot: Slot) -> &SecretValue {
        match slot {
            Slot::First => &self.first,
            Slot::Second => &self.second,
        }
    }
}

/// Lists the resource's two keys.
pub async fn list(arm: &ArmClient, spec: &ResourceKeySpec) -> Result<KeyPair, String> {
    let id = &spec.resource;
    let pair = match spec.service {
        Service::Storage => {
            let keys = arm
                .storage()
                .list_keys(id)
                .await
                .map_err(|e| e.to_string())?;
            let get = |slot: Slot| {
                keys.slot(slot).map(|k| k.value.clone()).ok_or_else(|| {
                    format!(
                        "listing the keys of {} answered no {}",
                        id.describe(),
                        slot.key_name(Service::Storage)
                    )
                })
            };
            KeyPair {
                first: get(Slot::First)?,
                second: get(Slot::Second)?,
            }
        }
        Service::ServiceBus | Service::EventHubs => {
            let keys = arm
                .service_bus()
                .list_keys(id)
                .await
                .map_err(|e| e.to_string())?;
            KeyPair {
                first: keys.key(Slot::First).clone(),
                second: keys.key(Slot::Second).clone(),
            }
        }
        Service::Cosmos => {
            let keys = arm
                .cosmos()
                .list_keys(id)
                .await
                .map_err(|e| e.to_string())?;
            KeyPair {
                first: keys.key(Slot::First).clone(),
                second: keys.key(Slot::Second).clone(),
            }
        }
    };
    Ok(pair)
}

/// A fingerprint of a key's value: the first 16 bytes of its SHA-256, in hex.
pub fn fingerprint(key: &SecretValue) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.expose().as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which key the served version holds and which one to regenerate. `served`: the served
/// version's value and tags, if there is one.
pub fn decide(
    served: Option<(&SecretValue, &BTreeMap<String, String>)>,
    keys: &KeyPair,
) -> Result<Alternation, String> {
    let Some((value, tags)) = served else {
        return Ok(alternation::plan(&AlternationTags::default(), None));
    };
    let tags = AlternationTags::from_tags(tags)?;
    let inferred = alternation::infer_held(value, keys.get(Slot::First), keys.get(Slot::Second));
    Ok(alternation::plan(&tags, inferred))
}

/// The key a version's `CredentialId` tag names.
pub fn held_by_tag(tags: &BTreeMap<String, String>) -> Option<Slot> {
    AlternationTags::from_tags(tags).ok()?.credential_id
}

/// Regenerates a storage, Service Bus or Event Hubs key (the service answers when it is done).
pub async fn regenerate(arm: &ArmClient, spec: &ResourceKeySpec, slot: Slot) -> Result<(), String> {
    let id = &spec.resource;
    match spec.service {
        Service::Storage => arm
            .storage()
            .regenerate_key(id, slot)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Service::ServiceBus | Service::EventHubs => arm
            .service_bus()
            .regenerate_keys(id, slot)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Service::Cosmos => Err("a Cosmos DB key is regenerated by a long-running operation".into()),
    }
}

/// The secret's value for `key` (the key itself or its connection string).
pub fn secret_value(cloud: Cloud, spec: &ResourceKeySpec, key: &SecretValue) -> SecretValue {
    if spec.value == KeyForm::Key {
        return key.clone();
    }
    match &spec.resource.resource {
        Resource::StorageAccount { account } => connection_string::storage(cloud, account, key),
        Resource::CosmosAccount { account } => connection_string::cosmos(cloud, account, key),
        Resource::ServiceBusRule {
            namespace, rule, ..
        }
        | Resource::EventHubRule {
            namespace, rule, ..
        } => {
            connection_string::service_bus(cloud, namespace, rule, key, spec.resource.entity_path())
        }
        // The config accepts only the four key-bearing kinds.
        Resource::WebSite { .. } | Resource::LogicWorkflow { .. } => key.clone(),
    }
}

/// What the data plane proof is sent to.
pub fn target(id: &ResourceId) -> Option<Target<'_>> {
    Some(match &id.resource {
        Resource::StorageAccount { account } => Target::StorageAccount { account },
        Resource::CosmosAccount { account } => Target::CosmosAccount { account },
        Resource::ServiceBusRule {
            namespace,
            entity,
            rule,
        } => Target::SasRule {
            namespace,
            entity: entity.as_ref().map(|e| match e {
                ServiceBusEntity::Queue(name) | ServiceBusEntity::Topic(name) => name.as_str(),
            }),
            rule,
            event_hubs: false,
        },
        Resource::EventHubRule {
            namespace,
            event_hub,
            rule,
        } => Target::SasRule {
            namespace,
            entity: event_hub.as_deref(),
            rule,
            event_hubs: true,
        },
        Resource::WebSite { .. } | Resource::LogicWorkflow { .. } => return None,
    })
}

/// The new version's expiry: keyrot.toml's `validity` where it is written, else the secret's
/// `ValidityPeriodDays` tag (the Azure samples' convention), else keyrot's default validity.
pub fn expires(
    spec: &ResourceKeySpec,
    validity: time::Duration,
    served_tags: Option<&BTreeMap<String, String>>,
    now: OffsetDateTime,
) -> OffsetDateTime {
    if spec.validity_configured {
        return now + validity;
    }
    served_tags
        .and_then(|tags| AlternationTags::from_tags(tags).ok())
        .and_then(|tags| tags.expires(now))
        .unwrap_or(now + validity)
}

/// The new version's tags: the commit's, with `CredentialId` naming the key it now holds (in
/// the service's spelling, under the tag name the secret already used) and `ProviderAddress`.
pub fn tags(
    commit: &BTreeMap<String, String>,
    spec: &ResourceKeySpec,
    now_held: Slot,
) -> BTreeMap<String, String> {
    alternation::written_tags(
        commit,
        spec.service,
        now_held,
        Some(&spec.resource.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, value: KeyForm) -> ResourceKeySpec {
        let resource = ResourceId::parse(id).unwrap();
        ResourceKeySpec {
            service: resource.service().unwrap(),
            resource,
            value,
            lro_timeout: std::time::Duration::from_secs(60),
            validity_configured: false,
        }
    }

    const STORAGE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/orders";
    const QUEUE_RULE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/orders-bus/queues/orders/authorizationRules/send";

    fn pair(first: &str, second: &str) -> KeyPair {
        KeyPair {
            first: SecretValue::new(first.into()),
            second: SecretValue::new(second.into()),
        }
    }

    #[test]
    fn the_value_decides_then_the_tag_then_the_first_key() {
        let keys = pair("a2V5MQ==", "a2V5Mg==");
        let tags: BTreeMap<String, String> = [("CredentialId".to_string(), "key1".to_string())]
            .into_iter()
            .collect();
        // The value is key2 (a connection string holding it): the tag is outvoted.
        let cs = SecretValue::new(
            "DefaultEndpointsProtocol=https;AccountName=orders;AccountKey=a2V5Mg==;EndpointSuffix=core.windows.net".into(),
        );
        let by_value = decide(Some((&cs, &tags)), &keys).unwrap();
        assert_eq!(
            (by_value.held, by_value.regenerate, by_value.tag_disagreed),
            (Slot::Second, Slot::First, true)
        );
        // A value that is neither key: the tag says.
        let stale = SecretValue::new("old".into());
        let by_tag = decide(Some((&stale, &tags)), &keys).unwrap();
        assert_eq!(
            (by_tag.held, by_tag.regenerate),
            (Slot::First, Slot::Second)
        );
        // Nothing served: the first is assumed held, the second regenerated.
        let none = decide(None, &keys).unwrap();
        assert_eq!(none.regenerate, Slot::Second);
    }

    #[test]
    fn fingerprints_tell_values_apart_without_holding_them() {
        let a = SecretValue::new("a2V5MQ==".into());
        let b = SecretValue::new("a2V5Mg==".into());
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 32);
        assert!(!fingerprint(&a).contains("a2V5"));
    }

    #[test]
    fn connection_strings_follow_the_service() {
        let key = SecretValue::new("a2V5Mg==".into());
        let st = spec(STORAGE, KeyForm::ConnectionString);
        assert_eq!(
            secret_value(Cloud::Public, &st, &key).expose(),
            "DefaultEndpointsProtocol=https;AccountName=orders;AccountKey=a2V5Mg==;EndpointSuffix=core.windows.net"
        );
        let sb = spec(QUEUE_RULE, KeyForm::ConnectionString);
        assert_eq!(
            secret_value(Cloud::Public, &sb, &key).expose(),
            "Endpoint=sb://orders-bus.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=a2V5Mg==;EntityPath=orders"
        );
        let raw = spec(QUEUE_RULE, KeyForm::Key);
        assert_eq!(secret_value(Cloud::Public, &raw, &key).expose(), "a2V5Mg==");
    }

    #[test]
    fn expiry_prefers_the_config_then_the_samples_tag() {
        let now = time::macros::datetime!(2026-12-05 00:00 UTC);
        let validity = time::Duration::days(90);
        let tags: BTreeMap<String, String> = [("ValidityPeriodDays".to_string(), "60".to_string())]
            .into_iter()
            .collect();
        let mut st = spec(STORAGE, KeyForm::Key);
        assert_eq!(
            expires(&st, validity, Some(&tags), now),
            now + time::Duration::days(60)
        );
        assert_eq!(expires(&st, validity, None, now), now + validity);
        st.validity_configured = true;
        assert_eq!(expires(&st, validity, Some(&tags), now), now + validity);
    }

    #[test]
    fn written_tags_name_the_key_in_the_services_spelling() {
        let commit: BTreeMap<String, String> = [("credentialid".to_string(), "key1".to_string())]
            .into_iter()
            .collect();
        let st = spec(STORAGE, KeyForm::Key);
        let out = tags(&commit, &st, Slot::Second);
        assert_eq!(out["credentialid"], "key2");
        assert_eq!(out["ProviderAddress"], STORAGE);
        let sb = spec(QUEUE_RULE, KeyForm::Key);
        assert_eq!(
            tags(&BTreeMap::new(), &sb, Slot::First)["CredentialId"],
            "PrimaryKey"
        );
    }
}
