//! The facts keyrot reads about credentials, before any judgement is made.
//!
//! `vault.rs` produces [`CredentialRecord`]s from the Key Vault list APIs; `check/` turns them
//! into findings; `report/` renders the findings. Keeping the record free of policy means the
//! same facts can be judged by `check`, planned by `rotate` and shown by every report format.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

/// Where a credential lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[serde(rename = "keyvault")]
    KeyVault,
}

/// What kind of Key Vault object a credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Secret,
    Certificate,
    Key,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Secret, Kind::Certificate, Kind::Key];

    /// The singular name used in reports and JSON (`secret`, `certificate`, `key`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Certificate => "certificate",
            Kind::Key => "key",
        }
    }

    /// The plural name used on the command line (`--kinds secrets,certificates,keys`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Certificate => "certificates",
            Kind::Key => "keys",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One credential (or one superseded version of it) as read from its store.
///
/// Holds metadata only: the list APIs never return values, and a check never asks for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub source: Source,
    /// The vault's URL, without a trailing slash (`https://myvault.vault.azure.net`).
    pub vault: String,
    pub kind: Kind,
    pub name: String,
    /// `None` for the current version as the list API reports it (its id carries no version).
    pub version: Option<String>,
    /// The identifier the service gave (`id` for secrets and certificates, `kid` for keys).
    pub id: String,
    pub enabled: bool,
    pub not_before: Option<OffsetDateTime>,
    pub expires: Option<OffsetDateTime>,
    pub created: Option<OffsetDateTime>,
    pub tags: BTreeMap<String, String>,
    /// Set only on a non-current version listed by `--versions`: when a newer version replaced
    /// it (the newer version's creation time), if known.
    pub superseded: Option<Superseded>,
}

/// A marker that this record is an older version that a newer one replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    /// The version that replaced it (the next newer one).
    pub by_version: String,
    /// When that newer version was created, if the service said.
    pub at: Option<OffsetDateTime>,
}

/// A secret's value. It has no `Debug` or `Display` that shows it, so it cannot reach a log,
/// an error or a panic message by accident; code that must write it calls [`expose`].
///
/// [`expose`]: SecretValue::expose
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> SecretValue {
        SecretValue(value)
    }

    /// The value itself, for the few places whose job is to deliver it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// One secret's current version as read for `fetch`: its facts and its value.
#[derive(Debug, Clone)]
pub struct FetchedSecret {
    pub record: CredentialRecord,
    pub content_type: Option<String>,
    pub value: SecretValue,
}
