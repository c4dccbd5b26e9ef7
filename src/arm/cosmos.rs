//! Cosmos DB account keys (rest-api-specs `Microsoft.DocumentDB/stable/2024-11-15`, notes
//! §7.3):
//! - `POST {account}/listKeys` → `{"primaryMasterKey","secondaryMasterKey",
//!   "primaryReadonlyMasterKey","secondaryReadonlyMasterKey"}`;
//! - `POST {account}/regenerateKey` `{"keyKind":"primary"|"secondary"|"primaryReadonly"|
//!   "secondaryReadonly"}` → **202**, long-running ([`super::lro`]); the final answer has no
//!   body, so the new key is read with `listKeys` once the operation succeeded. Not idempotent:
//!   sent with the no-replay header.

use std::time::Instant;

use azure_core::http::Method;
use serde::{Deserialize, Serialize};

use super::lro::{operation_from_answer, Operation, PollInterval, PollOutcome, Waited};
use super::resource_id::{Resource, ResourceId};
use super::{expect_success, malformed, wrong_kind, ArmClient, ArmError, ArmErrorKind, Call};
use crate::keys::alternation::Slot;
use crate::model::SecretValue;

pub const API_VERSION: &str = "2024-11-15";

pub(crate) const KEYS_ROLE: &str = "the identity needs DocumentDB Account Contributor on the Cosmos DB account (Microsoft.DocumentDB/databaseAccounts/listKeys/action and regenerateKey/action); Cosmos DB Operator and the Cosmos DB data-plane roles cannot list or regenerate keys";

/// The Cosmos DB calls (see [`ArmClient::cosmos`]).
pub struct Cosmos<'a>(pub(crate) &'a ArmClient);

/// Which key `regenerateKey` regenerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CosmosKeyKind {
    Primary,
    Secondary,
    PrimaryReadonly,
    SecondaryReadonly,
}

impl CosmosKeyKind {
    /// The `keyKind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CosmosKeyKind::Primary => "primary",
            CosmosKeyKind::Secondary => "secondary",
            CosmosKeyKind::PrimaryReadonly => "primaryReadonly",
            CosmosKeyKind::SecondaryReadonly => "secondaryReadonly",
        }
    }
}

impl From<Slot> for CosmosKeyKind {
    fn from(slot: Slot) -> Self {
        match slot {
            Slot::First => CosmosKeyKind::Primary,
            Slot::Second => CosmosKeyKind::Secondary,
        }
    }
}

/// An account's keys. `Debug` shows none of them.
#[derive(Debug, Clone)]
pub struct CosmosKeys {
    pub primary: SecretValue,
    pub secondary: SecretValue,
    pub primary_readonly: Option<SecretValue>,
    pub secondary_readonly: Option<SecretValue>,
}

impl CosmosKeys {
    /// The read-write key in `slot`.
    pub fn key(&self, slot: Slot) -> &SecretValue {
        match slot {
            Slot::First => &self.primary,
            Slot::Second => &self.secondary,
        }
    }

    pub fn get(&self, kind: CosmosKeyKind) -> Option<&SecretValue> {
        match kind {
            CosmosKeyKind::Primary => Some(&self.primary),
            CosmosKeyKind::Secondary => Some(&self.secondary),
            CosmosKeyKind::PrimaryReadonly => self.primary_readonly.as_ref(),
            CosmosKeyKind::SecondaryReadonly => self.secondary_readonly.as_ref(),
        }
    }
}

fn check(call: &str, id: &ResourceId) -> Result<(), ArmError> {
    match id.resource {
        Resource::CosmosAccount { .. } => Ok(()),
        _ => Err(wrong_kind(call, id, "a Cosmos DB account")),
    }
}

impl Cosmos<'_> {
    /// All four keys.
    pub async fn list_keys(&self, id: &ResourceId) -> Result<CosmosKeys, ArmError> {
        let call = Call {
            describe: format!("listing the keys of {}", id.describe()),
            resource: Some(id),
            role: KEYS_ROLE,
        };
        check(&call.describe, id)?;
        let url = self.0.resource_url(id, &["listKeys"], API_VERSION);
        let answer = self.0.send(&call, Method::Post, url, None, false).await?;
        parse_keys(&call.describe, &expect_success(&call, answer)?.body)
    }

    /// Starts regenerating a key; poll the [`Operation`] (it can be journaled) until it
    /// succeeds, then [`Cosmos::list_keys`] for the new value.
    pub async fn begin_regenerate_key(
        &self,
        id: &ResourceId,
        kind: CosmosKeyKind,
    ) -> Result<Operation, ArmError> {
        let call = Call {
            describe: format!(
                "regenerating the {} key of {}",
                kind.as_str(),
                id.describe()
            ),
            resource: Some(id),
            role: KEYS_ROLE,
        };
        check(&call.describe, id)?;
        let url = self.0.resource_url(id, &["regenerateKey"], API_VERSION);
        let body = serde_json::json!({ "keyKind": kind.as_str() })
            .to_string()
            .into_bytes();
        let answer = self
            .0
            .send(&call, Method::Post, url, Some(body), true)
            .await?;
        let answer = expect_success(&call, answer)?;
        operation_from_answer(&id.to_string(), &call.describe, &answer, &self.0.origin).map_err(
            |e| {
                let kind = if e.starts_with("refused") {
                    ArmErrorKind::Refused
                } else {
                    ArmErrorKind::Malformed
                };
                ArmError::new(&call.describe, kind, e)
            },
        )
    }

    /// Polls a regeneration once.
    pub async fn poll(&self, operation: &Operation) -> Result<PollOutcome, ArmError> {
        self.0.poll(operation).await
    }

    /// Polls a regeneration until it ends or `deadline` passes.
    pub async fn wait(&self, operation: &Operation, deadline: Instant) -> Result<Waited, ArmError> {
        self.0
            .wait(operation, deadline, PollInterval::default())
            .await
    }
}

/// The keys as the answer holds them. No `Debug`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysWire {
    primary_master_key: Option<String>,
    secondary_master_key: Option<String>,
    primary_readonly_master_key: Option<String>,
    secondary_readonly_master_key: Option<String>,
}

/// A `listKeys` answer. Errors never quote it.
pub(crate) fn parse_keys(call: &str, body: &[u8]) -> Result<CosmosKeys, ArmError> {
    let wire: KeysWire = serde_json::from_slice(body)
        .map_err(|e| malformed(call, "a list of Cosmos DB keys", &e))?;
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
    Ok(CosmosKeys {
        primary: required(wire.primary_master_key, "primaryMasterKey")?,
        secondary: required(wire.secondary_master_key, "secondaryMasterKey")?,
        primary_readonly: wire
            .primary_readonly_master_key
            .filter(|v| !v.is_empty())
            .map(SecretValue::new),
        secondary_readonly: wire
            .secondary_readonly_master_key
            .filter(|v| !v.is_empty())
            .map(SecretValue::new),
    })
}

#[cfg(test)]
mod tests {
    use super::super::lro::OperationKind;
    use super::super::test_support::*;
    use super::*;
    use std::time::Duration;

    const KEYS: &str = r#"{"primaryMasterKey":"cHJpbWFyeQ==","secondaryMasterKey":"c2Vjb25kYXJ5","primaryReadonlyMasterKey":"cHJv","secondaryReadonlyMasterKey":"c3Jv"}"#;
    /// The example's `Azure-AsyncOperation` (notes §7.3).
    const STATUS_URL: &str = "https://centraluseuap.management.azure.com/subscriptions/d1eb41bc-1b7f-4404-bd2a-8568c222852d/providers/Microsoft.DocumentDB/locations/centraluseuap/operationsStatus/fdd04b7b-86d5-460f-b19e-386230348bcc?api-version=2024-11-15";

    fn account() -> ResourceId {
        id("Microsoft.DocumentDB/databaseAccounts/ddb1")
    }

    #[test]
    fn keys_parse_and_stay_out_of_debug() {
        let keys = parse_keys("l", KEYS.as_bytes()).unwrap();
        assert_eq!(keys.key(Slot::First).expose(), "cHJpbWFyeQ==");
        assert_eq!(keys.key(Slot::Second).expose(), "c2Vjb25kYXJ5");
        assert_eq!(
            keys.get(CosmosKeyKind::SecondaryReadonly).unwrap().expose(),
            "c3Jv"
        );
        let debug = format!("{keys:?}");
        assert!(
            !debug.contains("cHJpbWFyeQ==") && !debug.contains("c3Jv"),
            "{debug}"
        );
        let error = parse_keys("l", br#"{"primaryMasterKey":"cHJpbWFyeQ=="}"#).unwrap_err();
        assert!(
            error.to_string().contains("no secondaryMasterKey"),
            "{error}"
        );
        assert!(!error.to_string().contains("cHJpbWFyeQ=="));
    }

    #[test]
    fn key_kinds() {
        assert_eq!(CosmosKeyKind::from(Slot::First).as_str(), "primary");
        assert_eq!(CosmosKeyKind::from(Slot::Second).as_str(), "secondary");
        assert_eq!(CosmosKeyKind::PrimaryReadonly.as_str(), "primaryReadonly");
        assert_eq!(
            serde_json::to_string(&CosmosKeyKind::SecondaryReadonly).unwrap(),
            "\"secondaryReadonly\""
        );
    }

    #[tokio::test]
    async fn regenerate_polls_then_lists() {
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(
                    202,
                    &[
                        ("azure-asyncoperation", STATUS_URL),
                        ("location", STATUS_URL),
                    ],
                    "",
                ),
                reply(200, &[], r#"{"status":"Dequeued"}"#),
                reply(200, &[], r#"{"status":"Succeeded"}"#),
                reply(200, &[], KEYS),
            ],
        );
        let cosmos = client.cosmos();
        let op = cosmos
            .begin_regenerate_key(&account(), CosmosKeyKind::Secondary)
            .await
            .unwrap();
        assert_eq!(op.kind, OperationKind::AsyncOperation);
        assert_eq!(op.url.as_deref(), Some(STATUS_URL));
        assert_eq!(op.resource, format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1"));
        assert_eq!(
            cosmos.poll(&op).await.unwrap(),
            PollOutcome::Pending { retry_after: None }
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            client
                .wait(
                    &op,
                    deadline,
                    PollInterval {
                        first: Duration::from_millis(1),
                        max: Duration::from_millis(2)
                    }
                )
                .await
                .unwrap(),
            Waited::Succeeded
        );
        assert_eq!(
            cosmos
                .list_keys(&account())
                .await
                .unwrap()
                .secondary
                .expose(),
            "c2Vjb25kYXJ5"
        );
        let sent = log.take();
        let base = format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1");
        assert_eq!(
            sent[0].url,
            format!("{base}/regenerateKey?api-version=2024-11-15")
        );
        assert_eq!(sent[0].method, "POST");
        assert_eq!(sent[0].json(), serde_json::json!({"keyKind": "secondary"}));
        assert_eq!(
            sent[0].header(crate::transport::NO_REPLAY_HEADER),
            Some("1")
        );
        assert_eq!(sent[1].url, STATUS_URL);
        assert_eq!(
            sent[3].url,
            format!("{base}/listKeys?api-version=2024-11-15")
        );
        assert!(sent[3].header(crate::transport::NO_REPLAY_HEADER).is_none());
    }

    #[tokio::test]
    async fn an_operation_off_arm_is_refused_and_errors_are_explained() {
        let (client, _) = scripted(
            PUBLIC,
            vec![
                reply(
                    202,
                    &[("azure-asyncoperation", "https://collector.example/ops/1")],
                    "",
                ),
                reply(
                    409,
                    &[],
                    r#"{"code":"Conflict","message":"Another key regeneration is in progress."}"#,
                ),
                reply(202, &[], ""),
            ],
        );
        let error = client
            .cosmos()
            .begin_regenerate_key(&account(), CosmosKeyKind::Primary)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::Refused);
        assert!(
            error
                .to_string()
                .contains("refused to poll the operation at \"https://collector.example/ops/1\""),
            "{error}"
        );
        let error = client
            .cosmos()
            .begin_regenerate_key(&account(), CosmosKeyKind::Primary)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(409));
        assert!(
            error
                .to_string()
                .contains("Another key regeneration is in progress"),
            "{error}"
        );
        let error = client
            .cosmos()
            .begin_regenerate_key(&account(), CosmosKeyKind::Primary)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::Malformed);
        let error = client.cosmos().list_keys(&storage_id()).await.unwrap_err();
        assert!(
            error.to_string().contains("not a Cosmos DB account"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_403_names_documentdb_account_contributor() {
        let (client, _) = scripted(
            PUBLIC,
            vec![reply(
                403,
                &[],
                r#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#,
            )],
        );
        let error = client
            .cosmos()
            .list_keys(&account())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("DocumentDB Account Contributor")
                && error.contains("Cosmos DB Operator"),
            "{error}"
        );
    }
}
