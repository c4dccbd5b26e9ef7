//! The seed: the TOML document that describes the tenant, its clients and the vaults' contents.
//!
//! Every table denies unknown fields so that a typo in a seed fails loudly (with the line, which
//! the `toml` crate puts in its error) instead of silently producing an empty vault.
//! Times are kept unresolved ([`TimeSpec`]) until the emulator starts, so that a seed written as
//! `"+3d"` means "three days after this emulator started" on whatever date it is run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::faults::FaultRule;

/// The tenant used when a seed does not name one.
pub const DEFAULT_TENANT_ID: &str = "72f988bf-0000-4000-8000-00000000e001";

/// A string that never appears in `Debug` output or logs (client secrets, secret values,
/// request tokens).
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl Redacted {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Redacted {
    fn from(s: &str) -> Self {
        Redacted(s.to_owned())
    }
}

/// A point in time as written in a seed: Unix seconds, RFC 3339, a TOML datetime, or an offset
/// from the emulator's start time such as `"+30d"`, `"-2d"`, `"+12h"`, `"+90m"`, `"+10s"`.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeSpec {
    Unix(i64),
    Relative(i64),
}

impl TimeSpec {
    /// Resolves against the emulator's start time (Unix seconds).
    pub fn resolve(&self, now: i64) -> i64 {
        match self {
            TimeSpec::Unix(t) => *t,
            TimeSpec::Relative(d) => now + d,
        }
    }

    fn parse_str(s: &str) -> Result<TimeSpec, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix('+').or_else(|| s.strip_prefix('-')) {
            let sign = if s.starts_with('-') { -1 } else { 1 };
            let (num, unit) = rest.split_at(rest.len().saturating_sub(1));
            let n: i64 = num
                .parse()
                .map_err(|_| format!("invalid relative time {s:?}: expected e.g. \"+30d\""))?;
            let mult = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                "w" => 7 * 86_400,
                _ => {
                    return Err(format!(
                        "invalid relative time {s:?}: unit must be s, m, h, d or w"
                    ))
                }
            };
            return Ok(TimeSpec::Relative(sign * n * mult));
        }
        if let Ok(n) = s.parse::<i64>() {
            return Ok(TimeSpec::Unix(n));
        }
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| TimeSpec::Unix(t.unix_timestamp()))
            .map_err(|e| format!("invalid time {s:?}: {e}; use RFC 3339, Unix seconds or \"+30d\""))
    }
}

impl<'de> Deserialize<'de> for TimeSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // TOML native datetimes arrive as `toml::value::Datetime`; strings and integers as such.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
            Dt(toml::value::Datetime),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(TimeSpec::Unix(n)),
            Raw::Str(s) => TimeSpec::parse_str(&s).map_err(serde::de::Error::custom),
            Raw::Dt(dt) => TimeSpec::parse_str(&dt.to_string()).map_err(serde::de::Error::custom),
        }
    }
}

/// The whole seed document.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Directory (tenant) id; also the only tenant the token endpoint knows.
    #[serde(default = "default_tenant")]
    pub tenant_id: String,
    /// App registrations (service principals) that may request tokens.
    #[serde(default, rename = "client")]
    pub clients: Vec<ClientSeed>,
    /// The GitHub Actions OIDC token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    #[serde(default)]
    pub github_oidc: Option<GithubOidcSeed>,
    /// The Azure Pipelines OIDC endpoint (`SYSTEM_OIDCREQUESTURI`).
    #[serde(default)]
    pub azure_pipelines: Option<AzurePipelinesSeed>,
    /// The App Service managed identity endpoint (`IDENTITY_ENDPOINT`).
    #[serde(default)]
    pub managed_identity: Option<ManagedIdentitySeed>,
    #[serde(default, rename = "vault")]
    pub vaults: Vec<VaultSeed>,
    /// Faults active from start.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultRule>,
    /// Microsoft Graph behaviour (`graph.localhost`).
    #[serde(default)]
    pub graph: GraphSeed,
    /// Key Vault behaviour (every vault).
    #[serde(default)]
    pub keyvault: KeyVaultSeed,
    /// The notification sink (`hooks.localhost`).
    #[serde(default)]
    pub hooks: crate::hooks::HooksSeed,
    /// Azure DevOps (`devops.localhost`).
    #[serde(default)]
    pub devops: crate::devops::DevopsSeed,
    /// The emulated GitHub API (`api.github.localhost`; see the `github` module).
    #[serde(default)]
    pub github: crate::github::GithubSeed,
    /// Azure Resource Manager and the resources behind it (`management.localhost`; see the
    /// `arm` module).
    #[serde(default)]
    pub arm: crate::arm::ArmSeed,
}

/// `[keyvault]`: how the emulated Key Vault behaves.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVaultSeed {
    /// How new version ids are chosen when a secret is written.
    #[serde(default)]
    pub version_ids: VersionIds,
}

/// `[keyvault] version_ids`: how the ids of newly written versions relate to each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionIds {
    /// 32 random hex digits, like the service: within one second (Key Vault stamps `created`
    /// in whole seconds) the order of two versions by `(created, id)` is a coin toss.
    #[default]
    Random,
    /// Adversarial: each new version's id sorts before every existing id of that object, so a
    /// client that takes the largest `(created, id)` as "latest" is wrong for every version
    /// written in the same second as its predecessor. The version served is still the last
    /// one written, as in Key Vault.
    Descending,
}

/// `[graph]`: how the emulated directory behaves.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSeed {
    /// Seconds after `addPassword` before the token endpoint accepts the new secret, like
    /// Entra's replication to every STS replica (AADSTS7000215 until then). Default 0.
    #[serde(default)]
    pub replication_delay_seconds: u64,
}

fn default_tenant() -> String {
    DEFAULT_TENANT_ID.to_owned()
}

impl Default for Seed {
    fn default() -> Self {
        Seed {
            tenant_id: default_tenant(),
            clients: Vec::new(),
            github_oidc: None,
            azure_pipelines: None,
            managed_identity: None,
            vaults: Vec::new(),
            faults: Vec::new(),
            graph: GraphSeed::default(),
            keyvault: KeyVaultSeed::default(),
            hooks: crate::hooks::HooksSeed::default(),
            devops: Default::default(),
            github: crate::github::GithubSeed::default(),
            arm: crate::arm::ArmSeed::default(),
        }
    }
}

/// One app registration: its client id (`appId`), the Graph application object it is, the
/// client secrets the token endpoint accepts (its `passwordCredentials`) and its certificates
/// (`keyCredentials`, metadata only).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSeed {
    pub client_id: String,
    /// Object id of the application (a GUID); also the `oid` of its tokens and the object id
    /// shown in Key Vault 403 messages. Derived deterministically from `client_id` when absent.
    #[serde(default)]
    pub object_id: Option<String>,
    /// The application's `displayName` (default: the client id).
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub secrets: Vec<ClientSecretSeed>,
    /// `keyCredentials` of the application (reported by Graph; the token endpoint does not
    /// accept certificate assertions).
    #[serde(default)]
    pub certificates: Vec<ClientCertificateSeed>,
    /// `sub` claims of federated OIDC tokens this client accepts as client_assertion.
    #[serde(default)]
    pub federated_subjects: Vec<String>,
    /// Client ids of the service principals that own this application
    /// (`Application.ReadWrite.OwnedBy` lets them write it).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Microsoft Graph application permissions granted to this client; they appear as the
    /// `roles` claim of its Graph tokens.
    #[serde(default)]
    pub graph_permissions: Vec<GraphPermission>,
}

/// The Microsoft Graph application permissions the emulator understands.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum GraphPermission {
    /// Read every application, write only the applications the caller owns.
    #[serde(rename = "Application.ReadWrite.OwnedBy")]
    ApplicationReadWriteOwnedBy,
    /// Read and write every application.
    #[serde(rename = "Application.ReadWrite.All")]
    ApplicationReadWriteAll,
    /// Read every application.
    #[serde(rename = "Application.Read.All")]
    ApplicationReadAll,
}

impl GraphPermission {
    /// The permission's value, as in the `roles` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphPermission::ApplicationReadWriteOwnedBy => "Application.ReadWrite.OwnedBy",
            GraphPermission::ApplicationReadWriteAll => "Application.ReadWrite.All",
            GraphPermission::ApplicationReadAll => "Application.Read.All",
        }
    }
}

/// One client secret (a `passwordCredential` of the application).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecretSeed {
    pub value: Redacted,
    /// The credential's `keyId` (a GUID); derived from the client id and position when absent.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The credential's `displayName`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `startDateTime`: before it the token endpoint answers AADSTS7000215. Default: `created`,
    /// else the emulator's start.
    #[serde(default)]
    pub start: Option<TimeSpec>,
    /// `endDateTime`: from then on the token endpoint answers AADSTS7000222. Same as `expires`
    /// (give one of them); absent = never expires (Graph shows 2299-12-31).
    #[serde(default)]
    pub end: Option<TimeSpec>,
    /// Older name of `end`.
    #[serde(default)]
    pub expires: Option<TimeSpec>,
    /// When the secret was created (default: start time).
    #[serde(default)]
    pub created: Option<TimeSpec>,
    /// Entra replication delay: the secret is rejected (AADSTS7000215) until this many seconds
    /// after `created`, like a freshly added secret that has not reached every STS replica.
    #[serde(default)]
    pub valid_after_seconds: Option<u64>,
}

impl ClientSecretSeed {
    /// `end`, or its older name `expires`.
    pub fn end(&self) -> Option<&TimeSpec> {
        self.end.as_ref().or(self.expires.as_ref())
    }
}

/// A certificate credential (`keyCredential`): dates and names only, there is no key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateSeed {
    /// The credential's `keyId`; derived when absent.
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `startDateTime` (default: the emulator's start).
    #[serde(default)]
    pub start: Option<TimeSpec>,
    /// `endDateTime` (default: a year after `start`).
    #[serde(default)]
    pub end: Option<TimeSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOidcSeed {
    /// The `ACTIONS_ID_TOKEN_REQUEST_TOKEN` the runner would hold.
    pub request_token: Redacted,
    #[serde(default = "default_github_subject")]
    pub subject: String,
}

fn default_github_subject() -> String {
    "repo:keyrot/keyrot:ref:refs/heads/main".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzurePipelinesSeed {
    /// The `SYSTEM_ACCESSTOKEN` of the running build.
    pub access_token: Redacted,
    /// Fixed `sub`; default `sc://{organization}/{project}/{serviceConnectionId}`.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default = "default_org")]
    pub organization: String,
    #[serde(default = "default_org")]
    pub project: String,
}

fn default_org() -> String {
    "keyrot".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentitySeed {
    pub client_id: String,
    #[serde(default)]
    pub object_id: Option<String>,
    /// The `IDENTITY_HEADER` value App Service injects.
    pub header: Redacted,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSeed {
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    #[serde(default = "default_recoverable_days")]
    pub recoverable_days: u32,
    /// client id → permissions such as `secrets/list`; absent = every client may do everything.
    #[serde(default)]
    pub access: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, rename = "secret")]
    pub secrets: Vec<SecretSeed>,
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<ObjectSeed>,
    #[serde(default, rename = "key")]
    pub keys: Vec<ObjectSeed>,
    #[serde(default)]
    pub generate: Vec<GenerateSeed>,
}

fn default_location() -> String {
    "westeurope".to_owned()
}

fn default_recoverable_days() -> u32 {
    7
}

/// One secret: either inline fields (one version) or `[[vault.secret.version]]` oldest→newest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSeed {
    pub name: String,
    #[serde(default)]
    pub value: Option<Redacted>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub nbf: Option<TimeSpec>,
    #[serde(default)]
    pub exp: Option<TimeSpec>,
    #[serde(default)]
    pub created: Option<TimeSpec>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, rename = "version")]
    pub versions: Vec<VersionSeed>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSeed {
    /// The version id (32 hex digits in Azure); random when absent. Lets a seed hold versions
    /// written in the same second whose ids sort against their write order.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub value: Option<Redacted>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub nbf: Option<TimeSpec>,
    #[serde(default)]
    pub exp: Option<TimeSpec>,
    #[serde(default)]
    pub created: Option<TimeSpec>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A certificate or key (no value), inline or with `[[vault.certificate.version]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSeed {
    pub name: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub nbf: Option<TimeSpec>,
    #[serde(default)]
    pub exp: Option<TimeSpec>,
    #[serde(default)]
    pub created: Option<TimeSpec>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Certificates: the subject shown in the policy (default `CN={name}`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Keys: `RSA` (default) or `EC`.
    #[serde(default)]
    pub kty: Option<String>,
    #[serde(default, rename = "version")]
    pub versions: Vec<ObjectVersionSeed>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectVersionSeed {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub nbf: Option<TimeSpec>,
    #[serde(default)]
    pub exp: Option<TimeSpec>,
    #[serde(default)]
    pub created: Option<TimeSpec>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Secret,
    Certificate,
    Key,
}

/// Bulk generation for benchmarks: `count` objects named `{prefix}{index:05}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSeed {
    pub kind: ObjectKind,
    pub prefix: String,
    pub count: u32,
    /// Expiry of item 0; item i expires `i % exp_spread_days` days later.
    #[serde(default)]
    pub exp: Option<TimeSpec>,
    #[serde(default)]
    pub exp_spread_days: Option<u32>,
    #[serde(default)]
    pub nbf: Option<TimeSpec>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Versions per object (default 1).
    #[serde(default)]
    pub versions: Option<u32>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Seed {
    /// Parses a seed; errors carry the line and column of the offending TOML.
    pub fn from_toml_str(s: &str) -> anyhow::Result<Seed> {
        let seed: Seed = toml::from_str(s).map_err(|e| anyhow::anyhow!("invalid seed: {e}"))?;
        seed.validate()?;
        Ok(seed)
    }

    pub fn from_file(p: &Path) -> anyhow::Result<Seed> {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading seed file {}", p.display()))?;
        Seed::from_toml_str(&text).with_context(|| format!("in seed file {}", p.display()))
    }

    /// The embedded demo seed used by `keyrot demo`.
    pub fn demo() -> Seed {
        Seed::from_toml_str(include_str!("demo.toml")).expect("embedded demo seed is valid")
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.validate_clients()?;
        self.devops.validate()?;
        self.arm.validate()?;
        let mut names = std::collections::HashSet::new();
        for v in &self.vaults {
            let ok = (3..=24).contains(&v.name.len())
                && v.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && v.name.starts_with(|c: char| c.is_ascii_alphabetic());
            anyhow::ensure!(
                ok,
                "vault name {:?} is invalid: 3-24 letters, digits and dashes, starting with a letter",
                v.name
            );
            anyhow::ensure!(
                names.insert(v.name.to_ascii_lowercase()),
                "vault {:?} is defined twice",
                v.name
            );
            for s in &v.secrets {
                anyhow::ensure!(
                    crate::keyvault::valid_object_name(&s.name),
                    "secret name {:?} in vault {:?} must match ^[0-9a-zA-Z-]+$",
                    s.name,
                    v.name
                );
                anyhow::ensure!(
                    s.versions.is_empty() || s.value.is_none(),
                    "secret {:?}: give either `value` or [[vault.secret.version]] tables, not both",
                    s.name
                );
            }
            for o in v.certificates.iter().chain(&v.keys) {
                anyhow::ensure!(
                    crate::keyvault::valid_object_name(&o.name),
                    "object name {:?} in vault {:?} must match ^[0-9a-zA-Z-]+$",
                    o.name,
                    v.name
                );
            }
        }
        Ok(())
    }

    fn validate_clients(&self) -> anyhow::Result<()> {
        let mut ids = std::collections::HashSet::new();
        let mut object_ids = std::collections::HashSet::new();
        for c in &self.clients {
            anyhow::ensure!(
                ids.insert(c.client_id.to_ascii_lowercase()),
                "client {:?} is defined twice",
                c.client_id
            );
            if let Some(oid) = &c.object_id {
                anyhow::ensure!(
                    is_guid(oid),
                    "client {:?}: object_id {oid:?} must be a GUID",
                    c.client_id
                );
                anyhow::ensure!(
                    object_ids.insert(oid.to_ascii_lowercase()),
                    "object_id {oid:?} is used by two clients"
                );
            }
            let mut key_ids = std::collections::HashSet::new();
            let key_ids_given = c
                .secrets
                .iter()
                .filter_map(|s| s.key_id.as_ref())
                .chain(c.certificates.iter().filter_map(|k| k.key_id.as_ref()));
            for k in key_ids_given {
                anyhow::ensure!(
                    is_guid(k),
                    "client {:?}: key_id {k:?} must be a GUID",
                    c.client_id
                );
                anyhow::ensure!(
                    key_ids.insert(k.to_ascii_lowercase()),
                    "client {:?}: key_id {k:?} is used twice",
                    c.client_id
                );
            }
            for s in &c.secrets {
                anyhow::ensure!(
                    s.end.is_none() || s.expires.is_none(),
                    "client {:?}: a secret gives both `end` and `expires`; they are the same field",
                    c.client_id
                );
            }
            let known = |o: &str| {
                self.clients
                    .iter()
                    .any(|x| x.client_id.eq_ignore_ascii_case(o))
                    || self
                        .managed_identity
                        .as_ref()
                        .is_some_and(|m| m.client_id.eq_ignore_ascii_case(o))
            };
            for o in &c.owners {
                anyhow::ensure!(
                    known(o),
                    "client {:?}: owner {o:?} is not the client_id of a [[client]] or of [managed_identity]",
                    c.client_id
                );
            }
        }
        Ok(())
    }
}

/// `8-4-4-4-12` hexadecimal digits.
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        assert_eq!(
            TimeSpec::parse_str("+3d").unwrap(),
            TimeSpec::Relative(3 * 86400)
        );
        assert_eq!(
            TimeSpec::parse_str("-12h").unwrap(),
            TimeSpec::Relative(-12 * 3600)
        );
        assert_eq!(
            TimeSpec::parse_str("1700000000").unwrap(),
            TimeSpec::Unix(1_700_000_000)
        );
        assert_eq!(
            TimeSpec::parse_str("2030-01-01T00:00:00Z").unwrap(),
            TimeSpec::Unix(1_893_456_000)
        );
        assert!(TimeSpec::parse_str("+3y").is_err());
    }

    #[test]
    fn toml_datetime_and_unknown_field_line() {
        let s = Seed::from_toml_str(
            "[[vault]]\nname = \"abc\"\n[[vault.secret]]\nname = \"x\"\nvalue = \"v\"\nexp = 2030-01-01T00:00:00Z\n",
        )
        .unwrap();
        assert_eq!(
            s.vaults[0].secrets[0].exp,
            Some(TimeSpec::Unix(1_893_456_000))
        );
        let err = Seed::from_toml_str("[[vault]]\nname = \"abc\"\nbogus = 1\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Seed::demo();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(crate::DEMO_CLIENT_SECRET));
        assert!(dbg.contains("<redacted>"));
    }
}
