//! The facts keyrot reads about credentials, before any judgement is made.
//!
//! `vault.rs` produces [`CredentialRecord`]s from the Key Vault list APIs; `check/` turns them
//! into findings; `report/` renders the findings. Keeping the record free of policy means the
//! same facts can be judged by `check`, planned by `rotate` and shown by every report format.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Tag keyrot writes on each secret version it commits: the instant (RFC 3339, UTC) until
/// which the versions it superseded stay enabled. `rotate` disables them from then on; `check`
/// reports them as `in_grace` until then. The contract between rotation and the gate, which
/// often runs without keyrot.toml.
pub const TAG_GRACE_ENDS: &str = "keyrot-grace-ends";

/// Where a credential lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[serde(rename = "keyvault")]
    KeyVault,
    /// An Entra ID app registration's credentials, read through Microsoft Graph (`graph.rs`).
    #[serde(rename = "entra")]
    Entra,
}

/// What kind of object a credential is: a Key Vault object, or an Entra application's
/// password (`passwordCredentials`) or certificate (`keyCredentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Secret,
    Certificate,
    Key,
    #[serde(rename = "app-password")]
    AppPassword,
    #[serde(rename = "app-certificate")]
    AppCertificate,
}

impl Kind {
    /// Every Key Vault kind (what `--kinds` can name). The Entra kinds are in [`Kind::ENTRA`].
    pub const ALL: [Kind; 3] = [Kind::Secret, Kind::Certificate, Kind::Key];

    /// The kinds of an Entra application's credentials.
    pub const ENTRA: [Kind; 2] = [Kind::AppPassword, Kind::AppCertificate];

    /// The singular name used in reports and JSON (`secret`, `certificate`, `key`,
    /// `app-password`, `app-certificate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Certificate => "certificate",
            Kind::Key => "key",
            Kind::AppPassword => "app-password",
            Kind::AppCertificate => "app-certificate",
        }
    }

    /// The plural name: the command line's for Key Vault kinds (`--kinds
    /// secrets,certificates,keys`, also Key Vault's collection in URLs), and `app-passwords`,
    /// `app-certificates` for the Entra kinds.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Certificate => "certificates",
            Kind::Key => "keys",
            Kind::AppPassword => "app-passwords",
            Kind::AppCertificate => "app-certificates",
        }
    }

    /// Whether this kind lives in an Entra application rather than in Key Vault.
    pub fn is_entra(self) -> bool {
        matches!(self, Kind::AppPassword | Kind::AppCertificate)
    }

    /// Whether this kind is a certificate (renewed rather than rotated).
    pub fn is_certificate(self) -> bool {
        matches!(self, Kind::Certificate | Kind::AppCertificate)
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
    /// The Entra application behind the credential: always set on `entra` records; set on a
    /// Key Vault secret whose `keyrot-app` / `keyrot-key-id` tags say it holds an application's
    /// password (see `check --app` and `graph::TAG_APP`).
    pub entra: Option<EntraLink>,
    /// A Key Vault secret that keyrot.toml says holds a resource key (`check --config`): the
    /// key's age as the resource reports it.
    pub resource_key: Option<ResourceKeyLink>,
}

/// An Entra application, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppRef {
    /// The application object's id (Graph's `id`).
    pub object_id: String,
    /// The application (client) id (`appId`).
    pub app_id: String,
    pub display_name: Option<String>,
}

impl AppRef {
    /// The display name, or the appId when the application has none.
    pub fn label(&self) -> &str {
        self.display_name
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or(&self.app_id)
    }
}

/// What ties a credential to an Entra application password or certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraLink {
    /// The application; `None` only on a Key Vault secret whose application could not be read.
    pub app: Option<AppRef>,
    /// The password's or certificate's `keyId` (on a Key Vault secret: its `keyrot-key-id`).
    pub key_id: String,
    /// Key Vault secrets only: how the password the secret holds compares in Graph.
    pub held: Option<HeldPassword>,
}

/// The resource key a Key Vault secret holds, as the resource reports it (storage accounts
/// expose each key's creation time and the account's key expiration policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKeyLink {
    /// `key2 of storage account orders` (or `key1 or key2 of …` when the secret does not say).
    pub key: String,
    /// When the key was last (re)generated.
    pub created: Option<OffsetDateTime>,
    /// The account's key expiration policy, in days.
    pub policy_days: Option<u32>,
    /// The key passes its policy before the secret's own `exp` (or the secret has none): the
    /// record's `expires` is `created + policy`, and this is the Key Vault `exp` it replaced.
    pub replaced_vault_expires: Option<Option<OffsetDateTime>>,
    /// The resource could not be read: why, in one sentence.
    pub unchecked: Option<String>,
}

/// What Graph says about the Entra password a Key Vault secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldPassword {
    /// The application has the password and it ends no earlier than the secret's `exp`.
    EndsLater,
    /// The password ends before the secret's own `exp` (or the secret has none): the record's
    /// `expires` is the password's end, and this is the Key Vault `exp` it replaced.
    EndsEarlier {
        vault_expires: Option<OffsetDateTime>,
    },
    /// The application has no password with this keyId (removed): the secret no longer works.
    Missing,
    /// The application could not be read (permission, network): why, in one sentence.
    Unchecked(String),
}

/// A marker that this record is an older version that a newer one replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    /// The version that replaced it (the next newer one).
    pub by_version: String,
    /// When that newer version was created, if the service said.
    pub at: Option<OffsetDateTime>,
}

/// Something a command was asked to read and could not: a vault's listing of one kind, one
/// secret's versions, or an Entra application. `check` reports it beside the credentials it
/// could read instead of discarding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub source: Source,
    /// The vault's URL (Key Vault), or the application id as given (Entra).
    pub location: String,
    /// Key Vault only: the kind of object whose listing failed.
    pub kind: Option<Kind>,
    /// Set when one secret's versions could not be listed or told apart.
    pub name: Option<String>,
    pub reason: ReadFailure,
    /// What happened and how to fix it, in the reader's words (names the vault or application).
    pub message: String,
}

/// Why something could not be read, as scripts may want to tell cases apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFailure {
    /// 404: the vault, or the application, does not exist (or the URL is wrong).
    NotFound,
    /// 403: the identity lacks a role or permission.
    Forbidden,
    /// 401: the service refused the token.
    Unauthorized,
    /// No token could be obtained.
    Authentication,
    /// 429 after the transport's retries.
    Throttled,
    /// 5xx after the transport's retries.
    ServiceError,
    /// Any other HTTP status.
    Http,
    /// DNS, TLS, a refused or dropped connection, a timeout.
    Connection,
    /// The answer was not what the API defines.
    Malformed,
    /// A secret changed while keyrot read it, so its current version could not be told apart.
    Changed,
    /// The answer led where keyrot does not follow (a next-page link to another origin, a
    /// repeated one, a listing past its page bound or deadline).
    Refused,
    /// Anything else (a client that could not be set up, say).
    Other,
}

impl ReadFailure {
    /// The reason an HTTP error status stands for.
    pub fn from_status(status: u16) -> ReadFailure {
        match status {
            401 => ReadFailure::Unauthorized,
            403 => ReadFailure::Forbidden,
            404 => ReadFailure::NotFound,
            429 => ReadFailure::Throttled,
            500..=599 => ReadFailure::ServiceError,
            _ => ReadFailure::Http,
        }
    }

    /// The name used in JSON (`not_found`, `forbidden`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ReadFailure::NotFound => "not_found",
            ReadFailure::Forbidden => "forbidden",
            ReadFailure::Unauthorized => "unauthorized",
            ReadFailure::Authentication => "authentication",
            ReadFailure::Throttled => "throttled",
            ReadFailure::ServiceError => "service_error",
            ReadFailure::Http => "http",
            ReadFailure::Connection => "connection",
            ReadFailure::Malformed => "malformed",
            ReadFailure::Changed => "changed",
            ReadFailure::Refused => "refused",
            ReadFailure::Other => "other",
        }
    }
}

/// A secret's value. It has no `Debug` or `Display` that shows it, so it cannot reach a log,
/// an error or a panic message by accident; code that must write it calls [`expose`].
///
/// Its buffer is overwritten with zeros when the value is dropped ([`Zeroizing`]), so a value
/// does not linger in freed memory for a later allocation, a core dump or a swap file to find.
/// `new` takes the `String` by value and keeps that very buffer: moving a `String` in copies no
/// bytes. Copies made before it arrives here (the HTTP response body, the JSON parser's
/// buffers) are outside its reach.
///
/// [`expose`]: SecretValue::expose
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    pub fn new(value: String) -> SecretValue {
        SecretValue(Zeroizing::new(value))
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
