//! In-memory state: clients, issued tokens, vault contents, faults and the request log.
//!
//! Everything sits behind one mutex. Requests are short and the emulator serves tests, so a
//! single lock keeps every multi-object operation (delete → deleted list, set → version list)
//! atomic without any lock ordering to get wrong.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use rand::Rng as _;
use time::OffsetDateTime;

use crate::faults::Faults;
use crate::seed::{
    AzurePipelinesSeed, ClientSeed, GithubOidcSeed, GraphPermission, ManagedIdentitySeed,
    ObjectKind, ObjectSeed, Redacted, SecretSeed, Seed, TimeSpec, VaultSeed, VersionIds,
};
use crate::RecordedRequest;

/// Immutable facts plus the mutable state.
pub struct Shared {
    pub port: u16,
    pub tenant_id: String,
    /// Unix seconds at start; relative seed times resolve against it.
    pub start: i64,
    pub state: Mutex<State>,
    /// The Event Grid publisher (its own lock, taken after the state lock, never before).
    pub eventgrid: std::sync::Arc<crate::eventgrid::Publisher>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock must not turn every later request into a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn vault_base(&self, vault: &str) -> String {
        format!("https://{vault}.vault.localhost:{}", self.port)
    }

    pub fn login_base(&self) -> String {
        format!("https://login.localhost:{}", self.port)
    }

    pub fn graph_base(&self) -> String {
        format!("https://graph.localhost:{}", self.port)
    }
}

pub struct State {
    pub clients: HashMap<String, Client>,
    pub github: Option<GithubOidcSeed>,
    pub pipelines: Option<AzurePipelinesSeed>,
    pub msi: Option<ManagedIdentitySeed>,
    /// Keyed by lower-case vault name.
    pub vaults: HashMap<String, Vault>,
    /// Issued access tokens.
    pub tokens: HashMap<String, TokenInfo>,
    /// OIDC tokens minted by the GitHub/ADO endpoints or `mint_federated_token`.
    pub oidc_tokens: HashMap<String, OidcInfo>,
    pub faults: Faults,
    pub requests: Vec<RecordedRequest>,
    pub hooks: crate::hooks::HooksState,
    /// Seconds before a secret added through Graph's `addPassword` works at the token endpoint.
    pub graph_replication_delay: u64,
    /// `[keyvault] version_ids`: how new version ids are chosen.
    pub version_ids: VersionIds,
    pub devops: crate::devops::DevopsState,
    /// The emulated GitHub API.
    pub github_api: crate::github::GithubState,
    /// The emulated Azure Resource Manager subscription.
    pub arm: crate::arm::ArmState,
}

impl State {
    /// A client by its client id (`appId`) or application object id.
    pub fn client_by_any_id(&self, id: &str) -> Option<&Client> {
        self.clients.get(&id.to_ascii_lowercase()).or_else(|| {
            self.clients
                .values()
                .find(|c| c.object_id.eq_ignore_ascii_case(id))
        })
    }
}

/// An app registration: the Entra application, its service principal and the client the token
/// endpoint knows, all in one (real Entra keeps the application and its service principal as
/// two objects with two object ids).
pub struct Client {
    pub client_id: String,
    pub object_id: String,
    pub display_name: String,
    pub created: OffsetDateTime,
    /// `passwordCredentials`, oldest first.
    pub secrets: Vec<ClientSecret>,
    /// `keyCredentials` (metadata only).
    pub certificates: Vec<KeyCredential>,
    pub federated_subjects: Vec<String>,
    /// Lower-case client ids of the owning service principals.
    pub owners: Vec<String>,
    pub graph_permissions: Vec<GraphPermission>,
}

/// A client secret (`passwordCredential`).
pub struct ClientSecret {
    pub key_id: String,
    pub display_name: Option<String>,
    pub value: Redacted,
    /// `startDateTime`: rejected (AADSTS7000215) before it.
    pub start: OffsetDateTime,
    /// `endDateTime`: AADSTS7000222 from it on; `None` never expires.
    pub end: Option<OffsetDateTime>,
    /// Replication: rejected (AADSTS7000215) before this instant.
    pub usable_from: OffsetDateTime,
}

impl ClientSecret {
    /// Graph's `hint`: the first three characters of the secret.
    pub fn hint(&self) -> String {
        self.value.expose().chars().take(3).collect()
    }
}

/// A certificate credential (`keyCredential`) without a key.
pub struct KeyCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// SHA-1-sized thumbprint, reported as `customKeyIdentifier`.
    pub thumbprint: [u8; 20],
}

#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub client_id: String,
    pub object_id: String,
    pub audience: String,
    pub expires: i64,
    /// The `roles` claim: application permissions on the token's resource.
    pub roles: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct OidcInfo {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
    pub expires: i64,
}

pub struct Vault {
    pub name: String,
    pub location: String,
    pub recoverable_days: u32,
    pub access: Option<BTreeMap<String, Vec<String>>>,
    /// Keyed by upper-case name: Key Vault names are case-insensitive and list in this order.
    pub secrets: BTreeMap<String, Item>,
    pub deleted_secrets: BTreeMap<String, Deleted>,
    pub certificates: BTreeMap<String, Item>,
    pub keys: BTreeMap<String, Item>,
}

/// A named object with its versions, oldest first; the last one is "latest".
#[derive(Clone, Debug)]
pub struct Item {
    pub name: String,
    pub versions: Vec<Version>,
}

impl Item {
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id.eq_ignore_ascii_case(id))
    }
}

#[derive(Clone, Debug)]
pub struct Version {
    /// 32 lower-case hex characters, like the service.
    pub id: String,
    pub value: Option<Redacted>,
    pub content_type: Option<String>,
    pub enabled: bool,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
    pub tags: BTreeMap<String, String>,
    /// Certificates: the version's own X.509 (DER), its thumbprint (base64url SHA-1 of the DER)
    /// and subject.
    pub cer: Option<Vec<u8>>,
    pub x5t: Option<String>,
    pub subject: Option<String>,
    /// Keys: the public JWK parts.
    pub jwk: Option<Jwk>,
}

#[derive(Clone, Debug)]
pub enum Jwk {
    Rsa { n: String },
    Ec { x: String, y: String },
}

#[derive(Clone, Debug)]
pub struct Deleted {
    pub item: Item,
    pub deleted_date: i64,
    pub scheduled_purge_date: i64,
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as a UTC date-time (clamped to the representable range).
pub fn utc(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(if t < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        time::macros::datetime!(9999-12-31 23:59:59 UTC)
    })
}

/// A version id (32 hex digits) that sorts before every id in `existing`, case-insensitively,
/// as `[keyvault] version_ids = "descending"` writes them: a random step below the smallest.
pub fn descending_version_id<'a>(existing: impl Iterator<Item = &'a str>) -> String {
    let smallest = existing
        .filter_map(|id| u128::from_str_radix(id, 16).ok())
        .min()
        .unwrap_or(u128::MAX);
    let step = 1 + u128::from(rand::rng().random::<u32>());
    // 2^32 steps fit below any id the emulator itself started from, which is random or
    // seeded; a seeded id near zero wraps to the largest, which the test seeds avoid.
    format!("{:032x}", smallest.wrapping_sub(step))
}

pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

pub fn random_b64url(bytes: usize) -> String {
    let mut rng = rand::rng();
    let buf: Vec<u8> = (0..bytes).map(|_| rng.random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn new_uuid() -> String {
    let h = random_hex(16);
    // Version 4 / RFC 4122 variant bits, so the id looks like the service's request ids.
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A stable GUID derived from a string (object ids for clients that do not name one).
pub fn derived_guid(seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut parts = [0u64; 2];
    for (i, p) in parts.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (i, seed, "keyrot-emulator-oid").hash(&mut h);
        *p = h.finish();
    }
    let h = format!("{:016x}{:016x}", parts[0], parts[1]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl State {
    pub fn from_seed(seed: &Seed, start: i64) -> State {
        let clients = seed
            .clients
            .iter()
            .map(|c| (c.client_id.to_ascii_lowercase(), build_client(c, start)))
            .collect();
        let mut faults = Faults::default();
        for f in &seed.faults {
            faults.add(f.clone());
        }
        let mut st = State {
            clients,
            github: seed.github_oidc.clone(),
            pipelines: seed.azure_pipelines.clone(),
            msi: seed.managed_identity.clone(),
            vaults: seed
                .vaults
                .iter()
                .map(|v| (v.name.to_ascii_lowercase(), build_vault(v, start)))
                .collect(),
            tokens: HashMap::new(),
            oidc_tokens: HashMap::new(),
            faults,
            requests: Vec::new(),
            hooks: crate::hooks::HooksState::from_seed(&seed.hooks),
            graph_replication_delay: seed.graph.replication_delay_seconds,
            version_ids: seed.keyvault.version_ids,
            devops: crate::devops::DevopsState::from_seed(&seed.devops, start),
            github_api: crate::github::GithubState::from_seed(&seed.github, start),
            arm: crate::arm::ArmState::from_seed(&seed.arm, start),
        };
        crate::arm::after_seed(&mut st);
        st
    }
}

fn build_client(c: &ClientSeed, start: i64) -> Client {
    let derived_key = |kind: &str, i: usize| derived_guid(&format!("{}/{kind}/{i}", c.client_id));
    let secrets = c
        .secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let created = s.created.as_ref().map_or(start, |t| t.resolve(start));
            ClientSecret {
                key_id: s
                    .key_id
                    .as_ref()
                    .map_or_else(|| derived_key("password", i), |k| k.to_ascii_lowercase()),
                display_name: s.display_name.clone(),
                value: s.value.clone(),
                start: utc(s.start.as_ref().map_or(created, |t| t.resolve(start))),
                end: s.end().map(|t| utc(t.resolve(start))),
                usable_from: utc(created + s.valid_after_seconds.unwrap_or(0) as i64),
            }
        })
        .collect();
    let certificates = c
        .certificates
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let key_id = k
                .key_id
                .as_ref()
                .map_or_else(|| derived_key("certificate", i), |k| k.to_ascii_lowercase());
            let from = k.start.as_ref().map_or(start, |t| t.resolve(start));
            let hex = format!(
                "{}{}",
                key_id.replace('-', ""),
                derived_guid(&key_id).replace('-', "")
            );
            let mut thumbprint = [0u8; 20];
            for (j, b) in thumbprint.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * j..2 * j + 2], 16).unwrap_or(0);
            }
            KeyCredential {
                key_id,
                display_name: k.display_name.clone(),
                start: utc(from),
                end: utc(k
                    .end
                    .as_ref()
                    .map_or(from + 365 * 86_400, |t| t.resolve(start))),
                thumbprint,
            }
        })
        .collect();
    Client {
        client_id: c.client_id.clone(),
        object_id: c
            .object_id
            .as_ref()
            .map_or_else(|| derived_guid(&c.client_id), |o| o.to_ascii_lowercase()),
        display_name: c
            .display_name
            .clone()
            .unwrap_or_else(|| c.client_id.clone()),
        created: utc(start),
        secrets,
        certificates,
        federated_subjects: c.federated_subjects.clone(),
        owners: c.owners.iter().map(|o| o.to_ascii_lowercase()).collect(),
        graph_permissions: c.graph_permissions.clone(),
    }
}

struct VersionDraft<'a> {
    id: Option<&'a String>,
    value: Option<&'a Redacted>,
    enabled: Option<bool>,
    nbf: Option<&'a TimeSpec>,
    exp: Option<&'a TimeSpec>,
    created: Option<&'a TimeSpec>,
    content_type: Option<&'a String>,
    tags: &'a BTreeMap<String, String>,
}

/// Turns drafts (oldest first) into versions. Versions without `created` are spaced 30 days
/// apart ending at start, so "latest" (the last) is also the most recently created.
fn build_versions(
    drafts: Vec<VersionDraft<'_>>,
    start: i64,
    kind: ObjectKind,
    name: &str,
    subject: Option<&str>,
    kty: Option<&str>,
) -> Vec<Version> {
    let n = drafts.len() as i64;
    let mut out: Vec<Version> = drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let created = d
                .created
                .map_or(start - (n - 1 - i as i64) * 30 * 86_400, |t| {
                    t.resolve(start)
                });
            let mut version = new_version(
                kind,
                name,
                d.value.cloned(),
                d.content_type.cloned(),
                d.enabled.unwrap_or(true),
                d.nbf.map(|t| t.resolve(start)),
                d.exp.map(|t| t.resolve(start)),
                created,
                d.tags.clone(),
                subject,
                kty,
            );
            if let Some(id) = d.id {
                version.id = id.clone();
            }
            version
        })
        .collect();
    out.sort_by_key(|v| v.created);
    out
}

#[allow(clippy::too_many_arguments)]
pub fn new_version(
    kind: ObjectKind,
    name: &str,
    value: Option<Redacted>,
    content_type: Option<String>,
    enabled: bool,
    nbf: Option<i64>,
    exp: Option<i64>,
    created: i64,
    tags: BTreeMap<String, String>,
    subject: Option<&str>,
    kty: Option<&str>,
) -> Version {
    let jwk = (kind == ObjectKind::Key).then(|| {
        if kty.is_some_and(|k| k.eq_ignore_ascii_case("EC")) {
            Jwk::Ec {
                x: random_b64url(32),
                y: random_b64url(32),
            }
        } else {
            Jwk::Rsa {
                n: random_b64url(256),
            }
        }
    });
    let subject = (kind == ObjectKind::Certificate)
        .then(|| subject.map_or_else(|| format!("CN={name}"), str::to_owned));
    // Key Vault always reports a certificate's nbf: the start of its X.509 validity.
    let nbf = if kind == ObjectKind::Certificate {
        nbf.or(Some(created))
    } else {
        nbf
    };
    let (cer, x5t) = match &subject {
        Some(subject) => {
            let not_before = nbf.unwrap_or(created);
            let not_after = exp.unwrap_or(not_before + 365 * 86_400);
            match crate::tls::vault_certificate(subject, not_before, not_after) {
                Some((der, x5t)) => (Some(der), Some(x5t)),
                None => (None, None),
            }
        }
        None => (None, None),
    };
    Version {
        id: random_hex(16),
        value,
        content_type,
        enabled,
        nbf,
        exp,
        created,
        updated: created,
        tags,
        cer,
        x5t,
        subject,
        jwk,
    }
}

fn secret_item(s: &SecretSeed, start: i64) -> Item {
    let drafts = if s.versions.is_empty() {
        vec![VersionDraft {
            id: None,
            value: s.value.as_ref(),
            enabled: s.enabled,
            nbf: s.nbf.as_ref(),
            exp: s.exp.as_ref(),
            created: s.created.as_ref(),
            content_type: s.content_type.as_ref(),
            tags: &s.tags,
        }]
    } else {
        s.versions
            .iter()
            .map(|v| VersionDraft {
                id: v.id.as_ref(),
                value: v.value.as_ref(),
                enabled: v.enabled,
                nbf: v.nbf.as_ref(),
                exp: v.exp.as_ref(),
                created: v.created.as_ref(),
                content_type: v.content_type.as_ref(),
                tags: &v.tags,
            })
            .collect()
    };
    let mut versions = build_versions(drafts, start, ObjectKind::Secret, &s.name, None, None);
    // A secret always has a value; seeds may omit it when only the dates matter.
    for v in &mut versions {
        if v.value.is_none() {
            v.value = Some(Redacted(format!("seeded-{}", &v.id[..8])));
        }
    }
    Item {
        name: s.name.clone(),
        versions,
    }
}

fn object_item(o: &ObjectSeed, kind: ObjectKind, start: i64) -> Item {
    let drafts = if o.versions.is_empty() {
        vec![VersionDraft {
            id: None,
            value: None,
            enabled: o.enabled,
            nbf: o.nbf.as_ref(),
            exp: o.exp.as_ref(),
            created: o.created.as_ref(),
            content_type: None,
            tags: &o.tags,
        }]
    } else {
        o.versions
            .iter()
            .map(|v| VersionDraft {
                id: None,
                value: None,
                enabled: v.enabled,
                nbf: v.nbf.as_ref(),
                exp: v.exp.as_ref(),
                created: v.created.as_ref(),
                content_type: None,
                tags: if v.tags.is_empty() { &o.tags } else { &v.tags },
            })
            .collect()
    };
    Item {
        name: o.name.clone(),
        versions: build_versions(
            drafts,
            start,
            kind,
            &o.name,
            o.subject.as_deref(),
            o.kty.as_deref(),
        ),
    }
}

fn build_vault(v: &VaultSeed, start: i64) -> Vault {
    let mut vault = Vault {
        name: v.name.clone(),
        location: v.location.clone(),
        recoverable_days: v.recoverable_days,
        access: v.access.as_ref().map(|a| {
            a.iter()
                .map(|(k, p)| (k.to_ascii_lowercase(), p.clone()))
                .collect()
        }),
        secrets: BTreeMap::new(),
        deleted_secrets: BTreeMap::new(),
        certificates: BTreeMap::new(),
        keys: BTreeMap::new(),
    };
    for s in &v.secrets {
        vault
            .secrets
            .insert(s.name.to_ascii_uppercase(), secret_item(s, start));
    }
    for c in &v.certificates {
        vault.certificates.insert(
            c.name.to_ascii_uppercase(),
            object_item(c, ObjectKind::Certificate, start),
        );
    }
    for k in &v.keys {
        vault.keys.insert(
            k.name.to_ascii_uppercase(),
            object_item(k, ObjectKind::Key, start),
        );
    }
    for g in &v.generate {
        for i in 0..g.count {
            let name = format!("{}{:05}", g.prefix, i);
            let spread = g.exp_spread_days.unwrap_or(0);
            let exp = g.exp.as_ref().map(|t| {
                t.resolve(start)
                    + if spread > 0 {
                        i64::from(i % spread) * 86_400
                    } else {
                        0
                    }
            });
            let nversions = g.versions.unwrap_or(1).max(1);
            let versions: Vec<Version> = (0..nversions)
                .map(|j| {
                    let created = start - i64::from(nversions - 1 - j) * 30 * 86_400;
                    let value = (g.kind == ObjectKind::Secret)
                        .then(|| Redacted(format!("generated-{}-{}", i, random_hex(8))));
                    new_version(
                        g.kind,
                        &name,
                        value,
                        g.content_type.clone(),
                        g.enabled.unwrap_or(true),
                        g.nbf.as_ref().map(|t| t.resolve(start)),
                        exp,
                        created,
                        g.tags.clone(),
                        None,
                        None,
                    )
                })
                .collect();
            let item = Item {
                name: name.clone(),
                versions,
            };
            let map = match g.kind {
                ObjectKind::Secret => &mut vault.secrets,
                ObjectKind::Certificate => &mut vault.certificates,
                ObjectKind::Key => &mut vault.keys,
            };
            map.insert(name.to_ascii_uppercase(), item);
        }
    }
    vault
}
