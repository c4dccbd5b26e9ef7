//! Service Bus and Event Hubs SAS rules (the same API under `Microsoft.ServiceBus` and
//! `Microsoft.EventHub`; rest-api-specs `stable/2024-01-01`, notes §7.2), of a namespace or of
//! one of its entities (queue, topic, event hub):
//! - `POST {rule}/listKeys` → `AccessKeys`;
//! - `POST {rule}/regenerateKeys` `{"keyType":"PrimaryKey"|"SecondaryKey"}` → `AccessKeys`
//!   with the new key. Not idempotent: sent with the no-replay header.
//!
//! `AccessKeys`: `keyName`, `primaryKey`, `secondaryKey`, `primaryConnectionString`,
//! `secondaryConnectionString`, and `aliasPrimaryConnectionString` /
//! `aliasSecondaryConnectionString` on Geo-DR aliases.

use azure_core::http::Method;
use serde::Deserialize;

use super::resource_id::{Resource, ResourceId};
use super::{expect_success, malformed, wrong_kind, ArmClient, ArmError, ArmErrorKind, Call};
use crate::keys::alternation::{Service, Slot};
use crate::model::SecretValue;

pub const API_VERSION: &str = "2024-01-01";

pub(crate) const SERVICE_BUS_ROLE: &str = "the identity needs Azure Service Bus Data Owner (or Contributor) on the namespace: its Microsoft.ServiceBus/* actions include the authorizationRules' listkeys and regenerateKeys actions (Azure Service Bus Data Sender/Receiver do not)";
pub(crate) const EVENT_HUBS_ROLE: &str = "the identity needs Azure Event Hubs Data Owner (or Contributor) on the namespace: its Microsoft.EventHub/* actions include the authorizationRules' listkeys and regenerateKeys actions (Azure Event Hubs Data Sender/Receiver do not)";

/// The SAS rule calls (see [`ArmClient::service_bus`]).
pub struct ServiceBus<'a>(pub(crate) &'a ArmClient);

/// A rule's keys and connection strings. `Debug` shows the rule name only.
#[derive(Debug, Clone)]
pub struct AccessKeys {
    pub key_name: Option<String>,
    pub primary_key: SecretValue,
    pub secondary_key: SecretValue,
    pub primary_connection_string: Option<SecretValue>,
    pub secondary_connection_string: Option<SecretValue>,
    pub alias_primary_connection_string: Option<SecretValue>,
    pub alias_secondary_connection_string: Option<SecretValue>,
}

impl AccessKeys {
    pub fn key(&self, slot: Slot) -> &SecretValue {
        match slot {
            Slot::First => &self.primary_key,
            Slot::Second => &self.secondary_key,
        }
    }

    pub fn connection_string(&self, slot: Slot) -> Option<&SecretValue> {
        match slot {
            Slot::First => self.primary_connection_string.as_ref(),
            Slot::Second => self.secondary_connection_string.as_ref(),
        }
    }
}

fn role(call: &str, id: &ResourceId) -> Result<&'static str, ArmError> {
    match id.resource {
        Resource::ServiceBusRule { .. } => Ok(SERVICE_BUS_ROLE),
        Resource::EventHubRule { .. } => Ok(EVENT_HUBS_ROLE),
        _ => Err(wrong_kind(call, id, "a Service Bus or Event Hubs SAS rule")),
    }
}

impl ServiceBus<'_> {
    /// The rule's keys and connection strings.
    pub async fn list_keys(&self, rule: &ResourceId) -> Result<AccessKeys, ArmError> {
        let describe = format!("listing the keys of {}", rule.describe());
        let call = Call {
            role: role(&describe, rule)?,
            describe,
            resource: Some(rule),
        };
        let url = self.0.resource_url(rule, &["listKeys"], API_VERSION);
        let answer = self.0.send(&call, Method::Post, url, None, false).await?;
        parse_access_keys(&call.describe, &expect_success(&call, answer)?.body)
    }

    /// Regenerates `PrimaryKey` or `SecondaryKey` (the service generates the value).
    pub async fn regenerate_keys(
        &self,
        rule: &ResourceId,
        slot: Slot,
    ) -> Result<AccessKeys, ArmError> {
        let key_type = slot.key_name(Service::ServiceBus);
        let describe = format!("regenerating the {key_type} of {}", rule.describe());
        let call = Call {
            role: role(&describe, rule)?,
            describe,
            resource: Some(rule),
        };
        let url = self.0.resource_url(rule, &["regenerateKeys"], API_VERSION);
        let body = serde_json::json!({ "keyType": key_type })
            .to_string()
            .into_bytes();
        let answer = self
            .0
            .send(&call, Method::Post, url, Some(body), true)
            .await?;
        parse_access_keys(&call.describe, &expect_success(&call, answer)?.body)
    }
}

/// `AccessKeys` as the answer holds it. No `Debug`: it holds the keys.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessKeysWire {
    key_name: Option<String>,
    primary_key: Option<String>,
    secondary_key: Option<String>,
    primary_connection_string: Option<String>,
    secondary_connection_string: Option<String>,
    alias_primary_connection_string: Option<String>,
    alias_secondary_connection_string: Option<String>,
}

/// A `listKeys` / `regenerateKeys` answer. Errors never quote it.
pub(crate) fn parse_access_keys(call: &str, body: &[u8]) -> Result<AccessKeys, ArmError> {
    let wire: AccessKeysWire =
        serde_json::from_slice(body).map_err(|e| malformed(call, "AccessKeys", &e))?;
    let required = |value: Option<String>, field: &str| {
        value
            .filter(|v| !v.is_empty())
            .map(SecretValue::new)
            .ok_or_else(|| {
                ArmError::new(
                    call,
                    ArmErrorKind::Malformed,
                    format!("the answer has no {field}"),
                )
            })
    };
    let optional = |value: Option<String>| value.filter(|v| !v.is_empty()).map(SecretValue::new);
    Ok(AccessKeys {
        key_name: wire.key_name,
        primary_key: required(wire.primary_key, "primaryKey")?,
        secondary_key: required(wire.secondary_key, "secondaryKey")?,
        primary_connection_string: optional(wire.primary_connection_string),
        secondary_connection_string: optional(wire.secondary_connection_string),
        alias_primary_connection_string: optional(wire.alias_primary_connection_string),
        alias_secondary_connection_string: optional(wire.alias_secondary_connection_string),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::keys::connection_string::ConnectionString;

    /// Verbatim from `stable/2024-01-01/examples/NameSpaces/SBNameSpaceAuthorizationRuleListKey.json`
    /// (notes §7.2).
    const DOCUMENTED_SHAPE: &str = r#"{
  "keyName": "sdk-AuthRules-1788",
  "primaryConnectionString": "Endpoint=sb://sdk-namespace-6914.servicebus.windows-int.net/;SharedAccessKeyName=sdk-AuthRules-1788;SharedAccessKey=HASHES",
  "primaryKey": "HASHES",
  "secondaryConnectionString": "Endpoint=sb://sdk-namespace-6914.servicebus.windows-int.net/;SharedAccessKeyName=sdk-AuthRules-1788;SharedAccessKey=HASHES",
  "secondaryKey": "HASHES"
}"#;

    /// The example with its 44 `#` placeholders (which a raw string cannot hold after a quote).
    fn documented() -> String {
        DOCUMENTED_SHAPE.replace("HASHES", &"#".repeat(44))
    }

    #[test]
    fn the_documented_answer_parses() {
        let keys = parse_access_keys("listing", documented().as_bytes()).unwrap();
        assert_eq!(keys.key_name.as_deref(), Some("sdk-AuthRules-1788"));
        assert_eq!(keys.key(Slot::First).expose(), "#".repeat(44));
        let cs = ConnectionString::parse(keys.connection_string(Slot::Second).unwrap().expose())
            .unwrap();
        assert_eq!(cs.get("SharedAccessKeyName"), Some("sdk-AuthRules-1788"));
        assert_eq!(cs.key(), Some(keys.secondary_key.expose()));
        assert!(keys.alias_primary_connection_string.is_none());
        assert!(!format!("{keys:?}").contains("####"));
    }

    #[test]
    fn missing_or_broken_keys_are_malformed_without_values() {
        let error =
            parse_access_keys("l", br#"{"keyName":"r","primaryKey":"c2VjcmV0"}"#).unwrap_err();
        assert!(
            error.to_string().contains("the answer has no secondaryKey"),
            "{error}"
        );
        assert!(!error.to_string().contains("c2VjcmV0"));
        let error =
            parse_access_keys("l", br#"{"primaryKey":"c2VjcmV0","secondaryKey":5}"#).unwrap_err();
        assert!(!error.to_string().contains("c2VjcmV0"), "{error}");
    }

    #[tokio::test]
    async fn service_bus_and_event_hubs_rules_share_the_calls() {
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(200, &[], &documented()),
                reply(200, &[], &documented()),
                reply(200, &[], &documented()),
            ],
        );
        let queue_rule =
            id("Microsoft.ServiceBus/namespaces/ns-orders/queues/orders/authorizationRules/send");
        let hub_rule = id("Microsoft.EventHub/namespaces/ns-telemetry/authorizationRules/RootManageSharedAccessKey");
        client.service_bus().list_keys(&queue_rule).await.unwrap();
        client
            .service_bus()
            .regenerate_keys(&queue_rule, Slot::Second)
            .await
            .unwrap();
        client
            .service_bus()
            .regenerate_keys(&hub_rule, Slot::First)
            .await
            .unwrap();
        let sent = log.take();
        assert_eq!(
            sent[0].url,
            format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns-orders/queues/orders/authorizationRules/send/listKeys?api-version=2024-01-01")
        );
        assert_eq!(sent[0].method, "POST");
        assert!(sent[0].header(crate::transport::NO_REPLAY_HEADER).is_none());
        assert!(sent[1]
            .url
            .contains("/authorizationRules/send/regenerateKeys?api-version=2024-01-01"));
        assert_eq!(
            sent[1].json(),
            serde_json::json!({"keyType": "SecondaryKey"})
        );
        assert_eq!(
            sent[1].header(crate::transport::NO_REPLAY_HEADER),
            Some("1")
        );
        assert!(sent[2].url.contains("/providers/Microsoft.EventHub/namespaces/ns-telemetry/authorizationRules/RootManageSharedAccessKey/regenerateKeys?api-version=2024-01-01"));
        assert_eq!(sent[2].json(), serde_json::json!({"keyType": "PrimaryKey"}));
    }

    #[tokio::test]
    async fn a_403_names_the_data_owner_role_of_the_right_service() {
        let denied = r#"{"error":{"code":"AuthorizationFailed","message":"denied"}}"#;
        let (client, _) = scripted(
            PUBLIC,
            vec![reply(403, &[], denied), reply(403, &[], denied)],
        );
        let sb = id("Microsoft.ServiceBus/namespaces/ns-orders/authorizationRules/r");
        let eh = id("Microsoft.EventHub/namespaces/ns-orders/eventhubs/e1/authorizationRules/r");
        let error = client
            .service_bus()
            .list_keys(&sb)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("Azure Service Bus Data Owner"), "{error}");
        let error = client
            .service_bus()
            .regenerate_keys(&eh, Slot::First)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("Azure Event Hubs Data Owner"), "{error}");
        assert!(
            error.contains("regenerating the PrimaryKey of Event Hubs rule r of event hub e1"),
            "{error}"
        );
        let wrong = client
            .service_bus()
            .list_keys(&storage_id())
            .await
            .unwrap_err();
        assert!(
            wrong
                .to_string()
                .contains("not a Service Bus or Event Hubs SAS rule"),
            "{wrong}"
        );
    }
}
