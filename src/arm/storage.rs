//! Storage account keys (rest-api-specs `Microsoft.Storage/stable/2025-06-01`, notes §7.1):
//! - `GET {account}`: `properties.keyCreationTime.{key1,key2}`,
//!   `properties.keyPolicy.keyExpirationPeriodInDays`, `properties.allowSharedKeyAccess`;
//! - `POST {account}/listKeys` → `{"keys":[{"keyName","value","permissions","creationTime"}]}`;
//! - `POST {account}/regenerateKey` `{"keyName":"key1"|"key2"}` → the same, both keys (the
//!   example `StorageAccountRegenerateKey.json`). Not idempotent: sent with the no-replay
//!   header.
//!
//! Kerberos keys (`kerb1`/`kerb2`, listed with `$expand=kerb` only) are not keyrot's business.

use azure_core::http::Method;
use serde::Deserialize;
use time::OffsetDateTime;

use super::resource_id::{Resource, ResourceId};
use super::{expect_success, malformed, wrong_kind, ArmClient, ArmError, Call};
use crate::keys::alternation::{Service, Slot};
use crate::model::SecretValue;

pub const API_VERSION: &str = "2025-06-01";

/// What a 403 on reading the account means.
pub(crate) const READ_ROLE: &str = "the identity needs Reader (Microsoft.Storage/storageAccounts/read) on the storage account, or a role that includes it (Storage Account Key Operator Service Role does not)";
/// What a 403 on listing or regenerating keys means.
pub(crate) const KEYS_ROLE: &str = "the identity needs the Storage Account Key Operator Service Role (81a9662b-bebf-436f-a333-f67b29880f12) on the storage account: it allows Microsoft.Storage/storageAccounts/listkeys/action and regeneratekey/action (Contributor has them too, and much more)";

/// The storage calls (see [`ArmClient::storage`]).
pub struct Storage<'a>(pub(crate) &'a ArmClient);

/// A storage account's key facts (no key values).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageAccount {
    pub key1_created: Option<OffsetDateTime>,
    pub key2_created: Option<OffsetDateTime>,
    /// The account's key expiration policy (a reminder only: Azure does not expire keys).
    pub key_expiration_days: Option<u32>,
    /// `false` when the account refuses Shared Key authorization (keys then authorize nothing
    /// on the data plane).
    pub allow_shared_key_access: Option<bool>,
}

impl StorageAccount {
    /// When the key in `slot` was last (re)generated, as the account reports it.
    pub fn key_created(&self, slot: Slot) -> Option<OffsetDateTime> {
        match slot {
            Slot::First => self.key1_created,
            Slot::Second => self.key2_created,
        }
    }
}

/// One storage account key. `Debug` shows no value ([`SecretValue`]).
#[derive(Debug, Clone)]
pub struct StorageKey {
    /// `key1` or `key2`.
    pub name: String,
    pub value: SecretValue,
    /// `Full` or `Read`.
    pub permissions: Option<String>,
    pub created: Option<OffsetDateTime>,
}

/// The keys `listKeys` or `regenerateKey` answered.
#[derive(Debug, Clone)]
pub struct StorageKeys {
    pub keys: Vec<StorageKey>,
}

impl StorageKeys {
    /// The key named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&StorageKey> {
        self.keys.iter().find(|k| k.name.eq_ignore_ascii_case(name))
    }

    /// `key1` (first) or `key2` (second).
    pub fn slot(&self, slot: Slot) -> Option<&StorageKey> {
        self.get(slot.key_name(Service::Storage))
    }
}

fn account<'a>(call: &str, id: &'a ResourceId) -> Result<&'a str, ArmError> {
    match &id.resource {
        Resource::StorageAccount { account } => Ok(account),
        _ => Err(wrong_kind(call, id, "a storage account")),
    }
}

impl Storage<'_> {
    /// The account's key creation times and key policy.
    pub async fn get_account(&self, id: &ResourceId) -> Result<StorageAccount, ArmError> {
        let call = Call {
            describe: format!("reading {}", id.describe()),
            resource: Some(id),
            role: READ_ROLE,
        };
        account(&call.describe, id)?;
        let url = self.0.resource_url(id, &[], API_VERSION);
        let answer = self.0.send(&call, Method::Get, url, None, false).await?;
        parse_account(&call.describe, &expect_success(&call, answer)?.body)
    }

    /// Both keys.
    pub async fn list_keys(&self, id: &ResourceId) -> Result<StorageKeys, ArmError> {
        let call = Call {
            describe: format!("listing the keys of {}", id.describe()),
            resource: Some(id),
            role: KEYS_ROLE,
        };
        account(&call.describe, id)?;
        let url = self.0.resource_url(id, &["listKeys"], API_VERSION);
        let answer = self.0.send(&call, Method::Post, url, None, false).await?;
        parse_keys(&call.describe, &expect_success(&call, answer)?.body)
    }

    /// Regenerates `key1` or `key2`; the answer holds both keys, the new one included.
    pub async fn regenerate_key(
        &self,
        id: &ResourceId,
        slot: Slot,
    ) -> Result<StorageKeys, ArmError> {
        let name = slot.key_name(Service::Storage);
        let call = Call {
            describe: format!("regenerating {name} of {}", id.describe()),
            resource: Some(id),
            role: KEYS_ROLE,
        };
        account(&call.describe, id)?;
        let url = self.0.resource_url(id, &["regenerateKey"], API_VERSION);
        let body = serde_json::json!({ "keyName": name })
            .to_string()
            .into_bytes();
        let answer = self
            .0
            .send(&call, Method::Post, url, Some(body), true)
            .await?;
        let keys = parse_keys(&call.describe, &expect_success(&call, answer)?.body)?;
        if keys.get(name).is_none() {
            return Err(ArmError::new(
                &call.describe,
                super::ArmErrorKind::Malformed,
                format!("the answer lists no {name}"),
            ));
        }
        Ok(keys)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountWire {
    #[serde(default)]
    properties: Option<AccountProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountProperties {
    key_creation_time: Option<KeyCreationTime>,
    key_policy: Option<KeyPolicy>,
    allow_shared_key_access: Option<bool>,
}

#[derive(Deserialize)]
struct KeyCreationTime {
    key1: Option<String>,
    key2: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyPolicy {
    key_expiration_period_in_days: Option<u32>,
}

/// A `GET` answer.
pub(crate) fn parse_account(call: &str, body: &[u8]) -> Result<StorageAccount, ArmError> {
    let wire: AccountWire =
        serde_json::from_slice(body).map_err(|e| malformed(call, "a storage account", &e))?;
    let Some(p) = wire.properties else {
        return Ok(StorageAccount::default());
    };
    let (key1, key2) = p
        .key_creation_time
        .map(|k| (k.key1, k.key2))
        .unwrap_or_default();
    Ok(StorageAccount {
        key1_created: arm_time(call, "keyCreationTime.key1", key1)?,
        key2_created: arm_time(call, "keyCreationTime.key2", key2)?,
        key_expiration_days: p.key_policy.and_then(|k| k.key_expiration_period_in_days),
        allow_shared_key_access: p.allow_shared_key_access,
    })
}

/// A key as the answer holds it. No `Debug`: it holds the value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyWire {
    key_name: String,
    value: String,
    permissions: Option<String>,
    creation_time: Option<String>,
}

#[derive(Deserialize)]
struct KeysWire {
    keys: Vec<KeyWire>,
}

/// A `listKeys` / `regenerateKey` answer. Errors never quote it.
pub(crate) fn parse_keys(call: &str, body: &[u8]) -> Result<StorageKeys, ArmError> {
    let wire: KeysWire =
        serde_json::from_slice(body).map_err(|e| malformed(call, "a list of storage keys", &e))?;
    let keys = wire
        .keys
        .into_iter()
        .filter(|k| !k.key_name.to_ascii_lowercase().starts_with("kerb"))
        .map(|k| {
            Ok(StorageKey {
                created: arm_time(call, "keys.creationTime", k.creation_time)?,
                name: k.key_name,
                value: SecretValue::new(k.value),
                permissions: k.permissions,
            })
        })
        .collect::<Result<Vec<_>, ArmError>>()?;
    Ok(StorageKeys { keys })
}

/// ARM's date-time (RFC 3339, up to seven fractional digits; a missing offset is UTC).
pub(crate) fn arm_time(
    call: &str,
    field: &str,
    value: Option<String>,
) -> Result<Option<OffsetDateTime>, ArmError> {
    use time::format_description::well_known::Rfc3339;
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let value = value.trim();
    OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{value}Z"), &Rfc3339))
        .map(Some)
        .map_err(|_| {
            ArmError::new(
                call,
                super::ArmErrorKind::Malformed,
                format!("{field} {value:?} is not a date and time"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ArmErrorKind;
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_documented_answers_parse() {
        for name in [
            "StorageAccountListKeys.json",
            "StorageAccountRegenerateKey.json",
        ] {
            let doc = fixture(&format!("arm/{name}"));
            let body = serde_json::to_vec(&doc["responses"]["200"]["body"]).unwrap();
            let keys = parse_keys("listing", &body).unwrap();
            assert_eq!(keys.keys.len(), 2, "{name}");
            assert_eq!(keys.slot(Slot::First).unwrap().name, "key1");
            assert_eq!(keys.slot(Slot::Second).unwrap().value.expose(), "<value>");
            assert_eq!(
                keys.get("KEY1").unwrap().permissions.as_deref(),
                Some("Full")
            );
            assert!(!format!("{keys:?}").contains("<value>"));
        }
        // The example's request body is what keyrot sends.
        let doc = fixture("arm/StorageAccountRegenerateKey.json");
        assert_eq!(
            doc["parameters"]["regenerateKey"],
            serde_json::json!({"keyName": "key2"})
        );
    }

    #[test]
    fn account_facts_parse() {
        let body = br#"{"id":"x","properties":{"keyCreationTime":{"key1":"2021-04-09T19:35:37.6251958Z","key2":"2021-04-10T00:00:00Z"},"keyPolicy":{"keyExpirationPeriodInDays":90},"allowSharedKeyAccess":false}}"#;
        let account = parse_account("reading", body).unwrap();
        assert_eq!(
            account.key1_created,
            Some(datetime!(2021-04-09 19:35:37.6251958 UTC))
        );
        assert_eq!(
            account.key_created(Slot::Second),
            Some(datetime!(2021-04-10 0:00 UTC))
        );
        assert_eq!(account.key_expiration_days, Some(90));
        assert_eq!(account.allow_shared_key_access, Some(false));
        assert_eq!(
            parse_account("r", br#"{"id":"x"}"#).unwrap(),
            StorageAccount::default()
        );
        let bad = parse_account(
            "r",
            br#"{"properties":{"keyCreationTime":{"key1":"yesterday"}}}"#,
        )
        .unwrap_err();
        assert!(
            bad.to_string()
                .contains("keyCreationTime.key1 \"yesterday\""),
            "{bad}"
        );
    }

    #[test]
    fn kerberos_keys_and_creation_times() {
        let body = br#"{"keys":[{"keyName":"key1","value":"v1","permissions":"FULL","creationTime":"2025-01-01T00:00:00Z"},{"keyName":"kerb1","value":"k","permissions":"FULL"}]}"#;
        let keys = parse_keys("listing", body).unwrap();
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(keys.keys[0].created, Some(datetime!(2025-01-01 0:00 UTC)));
    }

    #[test]
    fn a_broken_answer_never_shows_a_key() {
        let body = br#"{"keys":[{"keyName":"key1","value":"c2VjcmV0LWtleQ==","permissions":7}]}"#;
        let error = parse_keys("listing the keys of storage account sto1", body).unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::Malformed);
        let text = error.to_string();
        assert!(!text.contains("c2VjcmV0LWtleQ=="), "{text}");
        assert!(text.contains("parsing stopped at line 1"), "{text}");
        let truncated = parse_keys("l", &body[..40]).unwrap_err();
        assert!(!truncated.to_string().contains("c2Vj"), "{truncated}");
    }

    #[tokio::test]
    async fn list_get_and_regenerate_send_the_documented_requests() {
        let keys = r#"{"keys":[{"keyName":"key1","value":"a2V5MQ==","permissions":"Full"},{"keyName":"key2","value":"bmV3","permissions":"Full"}]}"#;
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(
                    200,
                    &[],
                    r#"{"properties":{"keyPolicy":{"keyExpirationPeriodInDays":30}}}"#,
                ),
                reply(200, &[], keys),
                reply(200, &[], keys),
            ],
        );
        let id = storage_id();
        let storage = client.storage();
        assert_eq!(
            storage.get_account(&id).await.unwrap().key_expiration_days,
            Some(30)
        );
        assert_eq!(storage.list_keys(&id).await.unwrap().keys.len(), 2);
        let after = storage.regenerate_key(&id, Slot::Second).await.unwrap();
        assert_eq!(after.slot(Slot::Second).unwrap().value.expose(), "bmV3");
        let sent = log.take();
        let base = format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sto1");
        assert_eq!(
            (sent[0].method.as_str(), sent[0].url.clone()),
            ("GET", format!("{base}?api-version=2025-06-01"))
        );
        assert_eq!(
            (sent[1].method.as_str(), sent[1].url.clone()),
            ("POST", format!("{base}/listKeys?api-version=2025-06-01"))
        );
        assert_eq!(
            (sent[2].method.as_str(), sent[2].url.clone()),
            (
                "POST",
                format!("{base}/regenerateKey?api-version=2025-06-01")
            )
        );
        assert_eq!(sent[2].json(), serde_json::json!({"keyName": "key2"}));
        assert_eq!(sent[2].header("content-type"), Some("application/json"));
        // Only the regeneration must not be replayed blindly.
        assert_eq!(
            sent[2].header(crate::transport::NO_REPLAY_HEADER),
            Some("1")
        );
        assert!(sent[1].header(crate::transport::NO_REPLAY_HEADER).is_none());
        assert!(sent[0].header(crate::transport::NO_REPLAY_HEADER).is_none());
    }

    #[tokio::test]
    async fn errors_and_wrong_ids() {
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(
                    403,
                    &[("x-ms-request-id", "r1")],
                    r#"{"error":{"code":"AuthorizationFailed","message":"no listKeys"}}"#,
                ),
                reply(
                    200,
                    &[],
                    r#"{"keys":[{"keyName":"key1","value":"a","permissions":"Full"}]}"#,
                ),
            ],
        );
        let id = storage_id();
        let error = client.storage().list_keys(&id).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("Storage Account Key Operator Service Role"),
            "{error}"
        );
        let error = client
            .storage()
            .regenerate_key(&id, Slot::Second)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("the answer lists no key2"),
            "{error}"
        );
        let cosmos = id_of("Microsoft.DocumentDB/databaseAccounts/ddb1");
        let error = client.storage().list_keys(&cosmos).await.unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::InvalidInput);
        assert!(
            error
                .to_string()
                .contains("is a Cosmos DB account ddb1, not a storage account"),
            "{error}"
        );
        assert_eq!(log.take().len(), 2);
    }

    fn id_of(rest: &str) -> ResourceId {
        super::super::test_support::id(rest)
    }
}
