//! Response shapes. Field names and order follow the service (`recoveryLevel` after the
//! times, `value` first, `id` before `attributes`); times are Unix seconds.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use crate::state::{Jwk, Vault, Version};

#[derive(Serialize)]
pub struct Attributes {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
    #[serde(rename = "recoveryLevel")]
    pub recovery_level: String,
    #[serde(rename = "recoverableDays")]
    pub recoverable_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
}

pub fn attributes(vault: &Vault, v: &Version) -> Attributes {
    // Live vaults report the retention they were created with; 90 days is plain
    // "Recoverable+Purgeable", shorter is "CustomizedRecoverable+Purgeable".
    let level = if vault.recoverable_days >= 90 {
        "Recoverable+Purgeable"
    } else {
        "CustomizedRecoverable+Purgeable"
    };
    Attributes {
        enabled: v.enabled,
        nbf: v.nbf,
        exp: v.exp,
        created: v.created,
        updated: v.updated,
        recovery_level: level.to_owned(),
        recoverable_days: vault.recoverable_days,
        exportable: None,
    }
}

fn tags(v: &Version) -> Option<BTreeMap<String, String>> {
    (!v.tags.is_empty()).then(|| v.tags.clone())
}

/// SecretBundle / SecretItem / DeletedSecretBundle / DeletedSecretItem in one shape: the
/// optional parts are present only where the service sends them.
#[derive(Serialize)]
pub struct Secret {
    #[serde(rename = "recoveryId", skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(rename = "deletedDate", skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(rename = "scheduledPurgeDate", skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub id: String,
    pub attributes: Attributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

pub struct SecretView {
    pub with_value: bool,
    pub with_version: bool,
    pub deleted: Option<(i64, i64)>,
}

pub fn secret(base: &str, vault: &Vault, name: &str, v: &Version, view: SecretView) -> Secret {
    let id = if view.with_version {
        format!("{base}/secrets/{name}/{}", v.id)
    } else {
        format!("{base}/secrets/{name}")
    };
    Secret {
        recovery_id: view
            .deleted
            .map(|_| format!("{base}/deletedsecrets/{name}")),
        deleted_date: view.deleted.map(|d| d.0),
        scheduled_purge_date: view.deleted.map(|d| d.1),
        value: view.with_value.then(|| {
            v.value
                .as_ref()
                .map(|x| x.expose().to_owned())
                .unwrap_or_default()
        }),
        content_type: v.content_type.clone(),
        id,
        attributes: attributes(vault, v),
        tags: tags(v),
    }
}

#[derive(Serialize)]
pub struct Page<T: Serialize> {
    pub value: Vec<T>,
    #[serde(rename = "nextLink")]
    pub next_link: Option<String>,
}

#[derive(Serialize)]
pub struct Certificate {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cer: Option<String>,
    pub attributes: Attributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

pub fn certificate(
    base: &str,
    vault: &Vault,
    name: &str,
    v: &Version,
    full: bool,
    with_version: bool,
) -> Certificate {
    let versioned = |coll: &str| format!("{base}/{coll}/{name}/{}", v.id);
    let id = if with_version {
        versioned("certificates")
    } else {
        format!("{base}/certificates/{name}")
    };
    let attributes = attributes(vault, v);
    Certificate {
        id,
        kid: full.then(|| versioned("keys")),
        sid: full.then(|| versioned("secrets")),
        x5t: v.x5t.clone(),
        cer: v
            .cer
            .as_ref()
            .filter(|_| full)
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der)),
        attributes,
        policy: full.then(|| {
            let subject = v.subject.clone().unwrap_or_else(|| format!("CN={name}"));
            serde_json::json!({
                "id": format!("{base}/certificates/{name}/policy"),
                "key_props": {"exportable": true, "kty": "EC", "crv": "P-256", "reuse_key": false},
                "secret_props": {"contentType": "application/x-pkcs12"},
                "x509_props": {"subject": subject, "ekus": ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
                               "key_usage": ["digitalSignature", "keyEncipherment"], "validity_months": 12, "basic_constraints": {"ca": false}},
                "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}],
                "issuer": {"name": "Self"},
                "attributes": {"enabled": true, "created": v.created, "updated": v.updated}
            })
        }),
        tags: tags(v),
    }
}

#[derive(Serialize)]
pub struct Key {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    pub attributes: Attributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

pub fn key(
    base: &str,
    vault: &Vault,
    name: &str,
    v: &Version,
    full: bool,
    with_version: bool,
) -> Key {
    let kid = if with_version {
        format!("{base}/keys/{name}/{}", v.id)
    } else {
        format!("{base}/keys/{name}")
    };
    let mut attributes = attributes(vault, v);
    attributes.exportable = Some(false);
    let jwk = full.then(|| match &v.jwk {
        Some(Jwk::Ec { x, y }) => serde_json::json!({
            "kid": kid, "kty": "EC", "key_ops": ["sign", "verify"], "crv": "P-256", "x": x, "y": y
        }),
        Some(Jwk::Rsa { n }) => serde_json::json!({
            "kid": kid, "kty": "RSA",
            "key_ops": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
            "n": n, "e": "AQAB"
        }),
        None => serde_json::json!({"kid": kid, "kty": "RSA", "key_ops": [], "e": "AQAB"}),
    });
    Key {
        kid: (!full).then(|| kid.clone()),
        key: jwk,
        attributes,
        tags: tags(v),
    }
}
