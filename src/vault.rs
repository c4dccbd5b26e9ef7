//! The only code that talks to Key Vault, through Microsoft's official SDK crates.
//!
//! It turns list results into [`CredentialRecord`]s (metadata only: a check never reads a
//! value) and turns the SDK's errors into messages that say what is wrong and how to fix it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::pager::Page;
use azure_core::http::{ClientOptions, ItemIterator};
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientGetSecretOptions, SecretClientUpdateSecretPropertiesOptions,
    SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::{Stream, StreamExt, TryStreamExt};
use time::OffsetDateTime;
use url::Url;

use crate::model::{CredentialRecord, FetchedSecret, Kind, SecretValue, Source, Superseded};
use crate::paging::{guarded_pages, PageError, PageGuard};
use crate::transport::{cause_chain, client_options, KeyrotTransport};

/// A vault's base URL, validated. Built from a name (`myvault`) or a full URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaultUrl(String);

impl VaultUrl {
    /// Accepts a vault name (3–24 letters, digits and single hyphens, starting with a letter)
    /// for the public cloud, or an `https://` URL with no path, query or credentials.
    pub fn parse(input: &str) -> Result<VaultUrl, String> {
        let input = input.trim();
        if input.is_empty() {
            return Err(
                "empty vault: pass a vault name (myvault) or URL (https://myvault.vault.azure.net)"
                    .into(),
            );
        }
        if input.contains("://") {
            let url = Url::parse(input).map_err(|e| format!("invalid vault URL {input:?}: {e}"))?;
            if url.scheme() != "https" {
                return Err(format!(
                    "invalid vault URL {input:?}: Key Vault is only reachable over https"
                ));
            }
            let Some(host) = url.host_str() else {
                return Err(format!("invalid vault URL {input:?}: it has no host"));
            };
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!(
                    "invalid vault URL {input:?}: credentials do not belong in the URL"
                ));
            }
            if (url.path() != "/" && !url.path().is_empty())
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(format!(
                    "invalid vault URL {input:?}: give only the vault's base URL, like https://{host}"
                ));
            }
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            return Ok(VaultUrl(format!("https://{host}{port}")));
        }
        validate_vault_name(input)?;
        Ok(VaultUrl(format!(
            "https://{}.vault.azure.net",
            input.to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same, as a [`Url`] (its origin is where the vault's clients may send tokens).
    fn to_url(&self) -> Result<Url, VaultError> {
        Url::parse(&self.0)
            .map_err(|e| VaultError(format!("cannot set up a client for {self}: {e}")))
    }

    /// The vault's name: the first label of its host.
    pub fn name(&self) -> &str {
        let host = self.0.trim_start_matches("https://");
        host.split(['.', ':']).next().unwrap_or(host)
    }
}

impl fmt::Display for VaultUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_vault_name(name: &str) -> Result<(), String> {
    let rule = "a vault name has 3-24 letters, digits and hyphens, starts with a letter, ends with a letter or digit, and has no consecutive hyphens";
    let ok_len = (3..=24).contains(&name.len());
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let ok_start = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let ok_end = name
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start && ok_end && !name.contains("--") {
        Ok(())
    } else {
        Err(format!(
            "invalid vault name {name:?}: {rule}; or pass a full https:// URL"
        ))
    }
}

/// A new secret version as `set_secret` writes it.
pub struct NewVersion<'a> {
    pub value: &'a SecretValue,
    pub content_type: Option<&'a str>,
    pub not_before: Option<OffsetDateTime>,
    pub expires: Option<OffsetDateTime>,
    pub tags: &'a std::collections::BTreeMap<String, String>,
}

/// A failure to read a vault, with the message a user needs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VaultError(String);

/// The SDK clients for one vault.
pub struct Vault {
    url: VaultUrl,
    /// `url` parsed: every page of a listing must stay at its origin.
    origin: Url,
    secrets: SecretClient,
    certificates: CertificateClient,
    keys: KeyClient,
    /// How long one listing (all its pages) may take.
    listing_budget: Duration,
}

/// A listing's budget when the command sets none ([`Vault::with_listing_budget`]).
const DEFAULT_LISTING_BUDGET: Duration = Duration::from_secs(30);

impl Vault {
    /// The clients of one vault over keyrot's transport: they send their token to this vault
    /// only, and each listing ends within the transport's `--timeout`.
    pub fn with_transport(
        url: VaultUrl,
        credential: Arc<dyn TokenCredential>,
        transport: &KeyrotTransport,
    ) -> Result<Vault, VaultError> {
        let options = client_options(transport, &url.to_url()?);
        Ok(Vault::new(url, credential, options)?.with_listing_budget(transport.budget()))
    }

    /// `options` carries the transport: [`Vault::with_transport`] passes keyrot's, contract
    /// tests a replay of recorded traffic.
    pub fn new(
        url: VaultUrl,
        credential: Arc<dyn TokenCredential>,
        options: ClientOptions,
    ) -> Result<Vault, VaultError> {
        let setup =
            |e: azure_core::Error| VaultError(format!("cannot set up a client for {url}: {e}"));
        let origin = url.to_url()?;
        let secrets = SecretClient::new(
            url.as_str(),
            credential.clone(),
            Some(SecretClientOptions {
                client_options: options.clone(),
                ..Default::default()
            }),
        )
        .map_err(setup)?;
        let certificates = CertificateClient::new(
            url.as_str(),
            credential.clone(),
            Some(CertificateClientOptions {
                client_options: options.clone(),
                ..Default::default()
            }),
        )
        .map_err(setup)?;
        let keys = KeyClient::new(
            url.as_str(),
            credential,
            Some(KeyClientOptions {
                client_options: options.clone(),
                ..Default::default()
            }),
        )
        .map_err(setup)?;
        Ok(Vault {
            url,
            origin,
            secrets,
            certificates,
            keys,
            listing_budget: DEFAULT_LISTING_BUDGET,
        })
    }

    /// Every listing of this vault must end within `budget` from its first request
    /// (`--timeout`; for `rotate`, whose calls each get `--timeout`, this bounds a listing too).
    pub fn with_listing_budget(mut self, budget: Duration) -> Vault {
        self.listing_budget = budget;
        self
    }

    pub fn url(&self) -> &VaultUrl {
        &self.url
    }

    /// Every credential of one kind, as the list API reports its current version.
    pub async fn list(&self, kind: Kind) -> Result<Vec<CredentialRecord>, VaultError> {
        match kind {
            Kind::Secret => {
                self.records(kind, self.secrets.list_secret_properties(None))
                    .await
            }
            Kind::Certificate => {
                self.records(kind, self.certificates.list_certificate_properties(None))
                    .await
            }
            Kind::Key => {
                self.records(kind, self.keys.list_key_properties(None))
                    .await
            }
            // Entra credentials live in an application, not a vault (graph.rs).
            Kind::AppPassword | Kind::AppCertificate => Ok(Vec::new()),
        }
    }

    /// The superseded versions of each named secret (all but the newest by creation time),
    /// listed with at most `concurrency` requests in flight.
    pub async fn superseded_secret_versions(
        &self,
        names: Vec<String>,
        concurrency: usize,
    ) -> Result<Vec<CredentialRecord>, VaultError> {
        let per_secret = futures::stream::iter(names)
            .map(|name| async move { self.secret_versions(&name).await })
            .buffer_unordered(concurrency.max(1));
        let lists: Vec<Vec<CredentialRecord>> = per_secret.try_collect().await?;
        Ok(lists.into_iter().flat_map(mark_superseded).collect())
    }

    /// The current version of one secret, value included. Only `fetch` calls this.
    pub async fn get_secret(&self, name: &str) -> Result<FetchedSecret, VaultError> {
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "get");
        let secret = self
            .secrets
            .get_secret(name, None)
            .await
            .map_err(explain)?
            .into_model()
            .map_err(explain)?;
        self.fetched(name, secret)
    }

    fn fetched(
        &self,
        name: &str,
        secret: azure_security_keyvault_secrets::models::Secret,
    ) -> Result<FetchedSecret, VaultError> {
        let value = SecretValue::new(secret.value.unwrap_or_default());
        let a = secret.attributes.unwrap_or_default();
        let facts = Facts {
            id: secret.id.unwrap_or_default(),
            enabled: a.enabled,
            not_before: a.not_before,
            expires: a.expires,
            created: a.created,
            tags: secret.tags,
        };
        let record = self.record(Kind::Secret, facts).ok_or_else(|| {
            VaultError(format!(
                "{} answered secret {name:?} without a usable id",
                self.url
            ))
        })?;
        Ok(FetchedSecret {
            record,
            content_type: secret.content_type,
            value,
        })
    }

    /// The current version of a secret, or `None` if there is no such secret (404).
    pub async fn get_secret_if_exists(
        &self,
        name: &str,
    ) -> Result<Option<FetchedSecret>, VaultError> {
        match self.secrets.get_secret(name, None).await {
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(explain(&e, &self.url, Kind::Secret, "get")),
            Ok(response) => {
                let secret = response
                    .into_model()
                    .map_err(|e| explain(&e, &self.url, Kind::Secret, "get"))?;
                self.fetched(name, secret).map(Some)
            }
        }
    }

    /// One version of a secret, value included (rotation reads back what it wrote).
    pub async fn get_secret_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<FetchedSecret, VaultError> {
        let options = SecretClientGetSecretOptions {
            secret_version: Some(version.to_string()),
            ..Default::default()
        };
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "get");
        let secret = self
            .secrets
            .get_secret(name, Some(options))
            .await
            .map_err(explain)?
            .into_model()
            .map_err(explain)?;
        self.fetched(name, secret)
    }

    /// Writes a new version; it is what every consumer gets from this moment on.
    pub async fn set_secret(
        &self,
        name: &str,
        new: NewVersion<'_>,
    ) -> Result<CredentialRecord, VaultError> {
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "set");
        let parameters = SetSecretParameters {
            value: Some(new.value.expose().to_string()),
            content_type: new.content_type.map(str::to_string),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                not_before: new.not_before,
                expires: new.expires,
                ..Default::default()
            }),
            tags: Some(
                new.tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        };
        let secret = self
            .secrets
            .set_secret(name, parameters.try_into().map_err(explain)?, None)
            .await
            .map_err(explain)?
            .into_model()
            .map_err(explain)?;
        Ok(self.fetched(name, secret)?.record)
    }

    /// Enables or disables one version (disabling a superseded one retires it).
    pub async fn set_version_enabled(
        &self,
        name: &str,
        version: &str,
        enabled: bool,
    ) -> Result<(), VaultError> {
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "update");
        let parameters = UpdateSecretPropertiesParameters {
            secret_attributes: Some(SecretAttributes {
                enabled: Some(enabled),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = SecretClientUpdateSecretPropertiesOptions {
            secret_version: Some(version.to_string()),
            ..Default::default()
        };
        self.secrets
            .update_secret_properties(name, parameters.try_into().map_err(explain)?, Some(options))
            .await
            .map_err(explain)?;
        Ok(())
    }

    /// Every version of one secret (metadata and tags; no values). A secret that does not
    /// exist has none.
    pub async fn secret_versions(&self, name: &str) -> Result<Vec<CredentialRecord>, VaultError> {
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "list");
        let pager = self
            .secrets
            .list_secret_properties_versions(name, None)
            .map_err(explain)?;
        let pages: Vec<Vec<_>> = match self.guarded(pager).try_collect().await {
            Err(PageError::Service(e)) if is_not_found(&e) => return Ok(Vec::new()),
            other => other.map_err(|e| {
                self.listing_failed(e, Kind::Secret, &format!("the versions of secret {name:?}"))
            })?,
        };
        Ok(pages
            .into_iter()
            .flatten()
            .filter_map(|item| self.record(Kind::Secret, item.into_facts()?))
            .collect())
    }

    /// Drains a pager of any kind's properties into records.
    async fn records<R>(
        &self,
        kind: Kind,
        pager: azure_core::Result<ItemIterator<R>>,
    ) -> Result<Vec<CredentialRecord>, VaultError>
    where
        R: Page + Send + 'static,
        R::Item: Listed + Send,
    {
        let pager = pager.map_err(|e| explain(&e, &self.url, kind, "list"))?;
        let pages: Vec<Vec<R::Item>> = self
            .guarded(pager)
            .try_collect()
            .await
            .map_err(|e| self.listing_failed(e, kind, kind.plural()))?;
        Ok(pages
            .into_iter()
            .flatten()
            .filter_map(|item| self.record(kind, item.into_facts()?))
            .collect())
    }

    /// The items of a listing of this vault, page by page as they arrive, every next link
    /// checked before it is followed (it must stay in this vault, not repeat, and the listing
    /// must end within its budget). Every listing goes through here.
    fn guarded<R>(
        &self,
        pager: ItemIterator<R>,
    ) -> impl Stream<Item = Result<Vec<R::Item>, PageError>> + Send
    where
        R: Page + Send + 'static,
        R::Item: Send,
    {
        guarded_pages(
            pager.into_pages(),
            PageGuard::new(&self.origin, self.listing_budget),
        )
    }

    /// The message for a listing (of `kind`: `listing` says what exactly) that
    /// [`Vault::guarded`] ended with an error.
    fn listing_failed(&self, error: PageError, kind: Kind, listing: &str) -> VaultError {
        match error {
            PageError::Service(e) => explain(&e, &self.url, kind, "list"),
            PageError::Refused(refusal) => {
                VaultError(format!("listing {listing} in {}: {refusal}", self.url))
            }
        }
    }

    fn record(&self, kind: Kind, facts: Facts) -> Option<CredentialRecord> {
        let Facts {
            id,
            enabled,
            not_before,
            expires,
            created,
            tags,
        } = facts;
        let (name, version) = split_id(&id, kind)?;
        Some(CredentialRecord {
            source: Source::KeyVault,
            vault: self.url.to_string(),
            kind,
            name,
            version,
            id,
            // Key Vault treats a missing `enabled` as enabled.
            enabled: enabled.unwrap_or(true),
            not_before,
            expires,
            created,
            tags: tags.unwrap_or_default().into_iter().collect(),
            superseded: None,
            entra: None,
        })
    }
}

/// What every list item says, whatever its kind.
struct Facts {
    id: String,
    enabled: Option<bool>,
    not_before: Option<OffsetDateTime>,
    expires: Option<OffsetDateTime>,
    created: Option<OffsetDateTime>,
    tags: Option<HashMap<String, String>>,
}

/// The SDK's three property types, seen through what a check needs. `None` when the service
/// sent an item without an identifier.
trait Listed {
    fn into_facts(self) -> Option<Facts>;
}

macro_rules! listed {
    ($type:ty, $id:ident) => {
        impl Listed for $type {
            fn into_facts(self) -> Option<Facts> {
                let a = self.attributes.unwrap_or_default();
                Some(Facts {
                    id: self.$id?,
                    enabled: a.enabled,
                    not_before: a.not_before,
                    expires: a.expires,
                    created: a.created,
                    tags: self.tags,
                })
            }
        }
    };
}

listed!(
    azure_security_keyvault_secrets::models::SecretProperties,
    id
);
listed!(
    azure_security_keyvault_certificates::models::CertificateProperties,
    id
);
listed!(azure_security_keyvault_keys::models::KeyProperties, kid);

/// `https://v.vault.azure.net/secrets/name[/version]` → (name, version).
fn split_id(id: &str, kind: Kind) -> Option<(String, Option<String>)> {
    let url = Url::parse(id).ok()?;
    let mut segments = url.path_segments()?.filter(|s| !s.is_empty());
    let collection = segments.next()?;
    if collection != kind.plural() {
        return None;
    }
    let name = segments.next()?.to_string();
    let version = segments.next().map(str::to_string);
    Some((name, version))
}

/// Orders one secret's versions newest first and marks every older one as superseded by the
/// next newer one. Key Vault's "latest" is the most recently created version.
fn mark_superseded(mut versions: Vec<CredentialRecord>) -> Vec<CredentialRecord> {
    versions.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    let mut out = Vec::new();
    for pair in versions.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        let mut record = older.clone();
        record.superseded = Some(Superseded {
            by_version: newer.version.clone().unwrap_or_default(),
            at: newer.created,
        });
        out.push(record);
    }
    out
}

fn is_not_found(error: &azure_core::Error) -> bool {
    matches!(error.kind(), ErrorKind::HttpResponse { status, .. } if u16::from(*status) == 404)
}

/// Turns an SDK error into a message that names the vault, the operation and the fix.
/// `operation` is the permission's name: `list` or `get`.
fn explain(error: &azure_core::Error, vault: &VaultUrl, kind: Kind, operation: &str) -> VaultError {
    let detail = crate::transport::one_line(600, &cause_chain(error));
    let plural = kind.plural();
    let doing = match operation {
        "get" => format!("reading a {kind}"),
        "set" => format!("writing a new {kind} version"),
        "update" => format!("updating a {kind} version's attributes"),
        _ => format!("listing {plural}"),
    };
    let message = match error.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let code = error_code.as_deref().unwrap_or("");
            match (u16::from(*status), code) {
                (403, "SecretDisabled") => format!(
                    "{vault} refused {doing}: the {kind} is disabled. Key Vault said: {code}: {detail}"
                ),
                (403, _) => format!(
                    "permission denied: cannot {operation} {plural} in {vault}. The identity needs the RBAC role '{role}' (or the '{operation}' {kind} permission in the vault's access policy). Key Vault said: {code}: {detail}",
                    role = rbac_role(kind)
                ),
                (401, _) => format!("{vault} rejected the token while {doing}: {code}: {detail}"),
                (404, _) if operation == "get" => format!("{vault} answered 404 Not Found when {doing}; was it deleted meanwhile? Key Vault said: {code}: {detail}"),
                (404, _) => format!("{vault} answered 404 Not Found when {doing}; is the vault URL right? Key Vault said: {code}: {detail}"),
                (status, _) => format!("{vault} answered {status} when {doing}: {code}: {detail}"),
            }
        }
        ErrorKind::DataConversion => {
            format!("{vault} answered something that is not Key Vault JSON when {doing}: {detail}")
        }
        // Never cut: it lists every credential tried, a line each, with its fix.
        ErrorKind::Credential => format!("cannot get a token for {vault}: {}", cause_chain(error)),
        _ => format!("cannot {operation} {plural} in {vault}: {detail}"),
    };
    VaultError(message)
}

fn rbac_role(kind: Kind) -> &'static str {
    match kind {
        Kind::Secret => "Key Vault Secrets User",
        Kind::Certificate => "Key Vault Certificate User",
        Kind::Key => "Key Vault Crypto User",
        Kind::AppPassword | Kind::AppCertificate => "(not a Key Vault object)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_become_public_cloud_urls() {
        assert_eq!(
            VaultUrl::parse("MyVault").unwrap().as_str(),
            "https://myvault.vault.azure.net"
        );
        assert_eq!(VaultUrl::parse("kv-prod-01").unwrap().name(), "kv-prod-01");
    }

    #[test]
    fn vault_urls_keep_host_and_port() {
        let url = VaultUrl::parse("https://demo.vault.localhost:8443/").unwrap();
        assert_eq!(url.as_str(), "https://demo.vault.localhost:8443");
        assert_eq!(url.name(), "demo");
    }

    #[test]
    fn bad_vaults_are_refused_with_the_rule() {
        for bad in [
            "",
            "ab",
            "1vault",
            "my_vault",
            "vault-",
            "my--vault",
            "a".repeat(25).as_str(),
        ] {
            let err = VaultUrl::parse(bad).unwrap_err();
            assert!(err.contains("vault"), "{bad}: {err}");
        }
        assert!(VaultUrl::parse("http://x.vault.azure.net")
            .unwrap_err()
            .contains("https"));
        assert!(VaultUrl::parse("https://x.vault.azure.net/secrets/a")
            .unwrap_err()
            .contains("base URL"));
        assert!(VaultUrl::parse("https://").is_err());
    }

    #[test]
    fn ids_split_into_name_and_version() {
        assert_eq!(
            split_id(
                "https://v.vault.azure.net/secrets/db-password",
                Kind::Secret
            ),
            Some(("db-password".into(), None))
        );
        assert_eq!(
            split_id("https://v.vault.azure.net/keys/k/abc123", Kind::Key),
            Some(("k".into(), Some("abc123".into())))
        );
        assert_eq!(
            split_id("https://v.vault.azure.net/keys/k", Kind::Secret),
            None
        );
    }

    fn version(v: &str, created: i64) -> CredentialRecord {
        CredentialRecord {
            source: Source::KeyVault,
            vault: "https://v".into(),
            kind: Kind::Secret,
            name: "s".into(),
            version: Some(v.into()),
            id: format!("https://v/secrets/s/{v}"),
            enabled: true,
            not_before: None,
            expires: None,
            created: Some(OffsetDateTime::from_unix_timestamp(created).unwrap()),
            tags: Default::default(),
            superseded: None,
            entra: None,
        }
    }

    #[test]
    fn all_but_the_newest_version_are_superseded_by_the_next_newer() {
        let out = mark_superseded(vec![
            version("a", 100),
            version("c", 300),
            version("b", 200),
        ]);
        let got: Vec<_> = out
            .iter()
            .map(|r| {
                (
                    r.version.clone().unwrap(),
                    r.superseded.clone().unwrap().by_version,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![("b".into(), "c".into()), ("a".into(), "b".into())]
        );
        assert!(mark_superseded(vec![version("only", 1)]).is_empty());
    }
}
