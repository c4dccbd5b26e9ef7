//! `[arm]`: the subscription, its resources and ARM's request budget.
//!
//! ```toml
//! [arm]
//! subscription_id = "5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f"   # default DEFAULT_SUBSCRIPTION_ID
//! reads_per_hour = 12000     # ARM's per-subscription token buckets (refill linearly)
//! writes_per_hour = 1200
//! resource_groups = ["empty-rg"]   # extra groups; every group a resource names exists anyway
//!
//! [[arm.storage_account]]
//! resource_group = "rg"
//! name = "orders"
//! key1 = "…"                 # optional: base64 of 64 random bytes otherwise
//! key1_created = "-40d"      # optional: relative, RFC 3339 or Unix seconds (default: start)
//! key_expiration_period_days = 90   # optional: the account's keyPolicy
//!
//! [[arm.servicebus_namespace]]      # [[arm.eventhubs_namespace]] takes `eventhubs` instead
//! resource_group = "rg"
//! name = "orders-bus"
//! rules = [{ name = "RootManageSharedAccessKey", rights = ["Listen", "Manage", "Send"] }]
//! queues = [{ name = "q1", rules = [{ name = "sender", rights = ["Send"], primary_key = "…" }] }]
//! topics = [{ name = "t1" }]
//!
//! [[arm.cosmos_account]]
//! resource_group = "rg"
//! name = "orders-db"
//! regenerate_seconds = 2            # how long a regenerateKey operation runs
//!
//! [[arm.site]]
//! resource_group = "rg"
//! name = "orders-api"
//! app_settings = { DB_KEY = "@Microsoft.KeyVault(SecretUri=https://v.vault.localhost:8443/secrets/x/)" }
//!
//! [[arm.logic_app]]
//! resource_group = "rg"
//! name = "orders-flow"
//! definition = '{"$schema": "…", "contentVersion": "1.0.0.0", "triggers": {}, "actions": {}}'
//! parameters = '{"apiKey": {"value": "…"}}'
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::seed::{Redacted, TimeSpec};

/// The subscription id used when the seed names none.
pub const DEFAULT_SUBSCRIPTION_ID: &str = "5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f";

fn default_subscription() -> String {
    DEFAULT_SUBSCRIPTION_ID.to_owned()
}

fn default_reads() -> u32 {
    12_000
}

fn default_writes() -> u32 {
    1_200
}

fn default_location() -> String {
    "westeurope".to_owned()
}

fn default_regenerate_seconds() -> u64 {
    2
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmSeed {
    #[serde(default = "default_subscription")]
    pub subscription_id: String,
    #[serde(default = "default_reads")]
    pub reads_per_hour: u32,
    #[serde(default = "default_writes")]
    pub writes_per_hour: u32,
    #[serde(default)]
    pub resource_groups: Vec<String>,
    #[serde(default, rename = "storage_account")]
    pub storage_accounts: Vec<StorageAccountSeed>,
    #[serde(default, rename = "servicebus_namespace")]
    pub servicebus_namespaces: Vec<NamespaceSeed>,
    #[serde(default, rename = "eventhubs_namespace")]
    pub eventhubs_namespaces: Vec<NamespaceSeed>,
    #[serde(default, rename = "cosmos_account")]
    pub cosmos_accounts: Vec<CosmosAccountSeed>,
    #[serde(default, rename = "site")]
    pub sites: Vec<SiteSeed>,
    #[serde(default, rename = "logic_app")]
    pub logic_apps: Vec<LogicAppSeed>,
}

impl Default for ArmSeed {
    fn default() -> Self {
        ArmSeed {
            subscription_id: default_subscription(),
            reads_per_hour: default_reads(),
            writes_per_hour: default_writes(),
            resource_groups: Vec::new(),
            storage_accounts: Vec::new(),
            servicebus_namespaces: Vec::new(),
            eventhubs_namespaces: Vec::new(),
            cosmos_accounts: Vec::new(),
            sites: Vec::new(),
            logic_apps: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageAccountSeed {
    pub resource_group: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    #[serde(default)]
    pub key1: Option<Redacted>,
    #[serde(default)]
    pub key2: Option<Redacted>,
    #[serde(default)]
    pub key1_created: Option<TimeSpec>,
    #[serde(default)]
    pub key2_created: Option<TimeSpec>,
    #[serde(default)]
    pub key_expiration_period_days: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSeed {
    pub name: String,
    /// `Listen`, `Send`, `Manage`.
    #[serde(default)]
    pub rights: Vec<String>,
    #[serde(default)]
    pub primary_key: Option<Redacted>,
    #[serde(default)]
    pub secondary_key: Option<Redacted>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySeed {
    pub name: String,
    #[serde(default)]
    pub rules: Vec<RuleSeed>,
}

/// A Service Bus namespace (`queues`, `topics`) or an Event Hubs namespace (`eventhubs`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSeed {
    pub resource_group: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// Namespace-level rules; default one `RootManageSharedAccessKey` with every right.
    #[serde(default)]
    pub rules: Option<Vec<RuleSeed>>,
    #[serde(default)]
    pub queues: Vec<EntitySeed>,
    #[serde(default)]
    pub topics: Vec<EntitySeed>,
    #[serde(default)]
    pub eventhubs: Vec<EntitySeed>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosmosAccountSeed {
    pub resource_group: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// Seconds a `regenerateKey` operation runs before the new key is in force.
    #[serde(default = "default_regenerate_seconds")]
    pub regenerate_seconds: u64,
    #[serde(default)]
    pub primary_key: Option<Redacted>,
    #[serde(default)]
    pub secondary_key: Option<Redacted>,
    #[serde(default)]
    pub primary_readonly_key: Option<Redacted>,
    #[serde(default)]
    pub secondary_readonly_key: Option<Redacted>,
    /// When all four keys were generated (default: start).
    #[serde(default)]
    pub keys_created: Option<TimeSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSeed {
    pub resource_group: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    #[serde(default)]
    pub app_settings: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicAppSeed {
    pub resource_group: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// The workflow definition, as JSON text.
    #[serde(default)]
    pub definition: Option<String>,
    /// The workflow parameters (`{"name": {"value": …}}`), as JSON text.
    #[serde(default)]
    pub parameters: Option<String>,
    /// `Enabled` (default) or `Disabled`.
    #[serde(default)]
    pub state: Option<String>,
}

impl ArmSeed {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            crate::seed::is_guid(&self.subscription_id),
            "[arm] subscription_id {:?} must be a GUID",
            self.subscription_id
        );
        for a in &self.storage_accounts {
            let ok = (3..=24).contains(&a.name.len())
                && a.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            anyhow::ensure!(
                ok,
                "storage account name {:?} is invalid: 3-24 lower-case letters and digits",
                a.name
            );
        }
        for l in &self.logic_apps {
            for (what, text) in [("definition", &l.definition), ("parameters", &l.parameters)] {
                if let Some(t) = text {
                    serde_json::from_str::<serde_json::Value>(t).map_err(|e| {
                        anyhow::anyhow!("logic app {:?}: {what} is not JSON: {e}", l.name)
                    })?;
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        let all = self
            .storage_accounts
            .iter()
            .map(|a| ("storage account", &a.name))
            .chain(
                self.servicebus_namespaces
                    .iter()
                    .chain(&self.eventhubs_namespaces)
                    .map(|n| ("namespace", &n.name)),
            )
            .chain(
                self.cosmos_accounts
                    .iter()
                    .map(|a| ("cosmos account", &a.name)),
            );
        for (kind, name) in all {
            anyhow::ensure!(
                seen.insert((kind, name.to_ascii_lowercase())),
                "{kind} {name:?} is defined twice (its host name must be unique)"
            );
        }
        Ok(())
    }
}
