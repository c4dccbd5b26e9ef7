//! The only code that talks to Key Vault, through Microsoft's official SDK crates.
//!
//! It turns list results into [`CredentialRecord`]s (metadata only: a check never reads a
//! value) and turns the SDK's errors into messages that say what is wrong and how to fix it.

use std::collections::{BTreeMap, HashMap};
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
    SecretAttributes, SecretClientUpdateSecretPropertiesOptions, SetSecretParameters,
    UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::{Stream, StreamExt, TryStreamExt};
use time::OffsetDateTime;
use url::Url;

use crate::model::{
    CredentialRecord, FetchedSecret, Kind, ReadFailure, SecretValue, Source, Superseded,
};
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
        Url::parse(&self.0).map_err(|e| {
            VaultError::new(
                format!("cannot set up a client for {self}: {e}"),
                ReadFailure::Other,
            )
        })
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

/// What `GET /secrets/{name}` without a version answered.
#[derive(Debug)]
pub enum Served {
    /// 404: no such secret.
    Missing,
    /// 403 `SecretDisabled`: the served version is disabled.
    Disabled,
    Version(Box<FetchedSecret>),
}

/// A failure to read a vault, with the message a user needs.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct VaultError {
    message: String,
    reason: ReadFailure,
}

impl VaultError {
    fn new(message: String, reason: ReadFailure) -> VaultError {
        VaultError { message, reason }
    }

    /// Why the vault could not be read, for reports that tell cases apart.
    pub fn reason(&self) -> ReadFailure {
        self.reason
    }
}

/// The secrets of a vault with every version of each (`check --versions`).
#[derive(Debug, Default)]
pub struct SecretsWithVersions {
    /// Each secret's current version as the list API reports it, then every other version,
    /// marked as superseded by the current one.
    pub records: Vec<CredentialRecord>,
    /// The secrets whose versions could not be listed, or whose current version could not be
    /// told apart among them: the name and why. Their list records are still in `records`.
    pub failed: Vec<(String, VaultError)>,
}

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
        let setup = |e: azure_core::Error| {
            VaultError::new(
                format!("cannot set up a client for {url}: {e}"),
                ReadFailure::Other,
            )
        };
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

    /// Every secret, and every version of each. A secret's versions are listed as soon as the
    /// list page naming it arrives, with at most `concurrency` listings in flight, while the
    /// next pages are read: the wall time is the longer of the two, not their sum.
    ///
    /// The current version (the one Key Vault serves) is the version whose metadata the list
    /// answer reports, since the list item *is* the current version's properties: a check needs
    /// only the list permission and never reads a value. Every other version is marked as
    /// superseded by it. A listing of the secrets that fails is an error; one secret's versions
    /// that cannot be listed (or told apart) are reported in [`SecretsWithVersions::failed`].
    pub async fn secrets_with_versions(
        &self,
        concurrency: usize,
    ) -> Result<SecretsWithVersions, VaultError> {
        let explain_list = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "list");
        let pager = self
            .secrets
            .list_secret_properties(None)
            .map_err(explain_list)?;
        let (arrived, names) = futures::channel::mpsc::unbounded::<(CredentialRecord, Facts)>();
        let walk = async move {
            let mut current = Vec::new();
            let mut pages = std::pin::pin!(self.guarded(pager));
            while let Some(page) = pages
                .try_next()
                .await
                .map_err(|e| self.listing_failed(e, Kind::Secret, "secrets"))?
            {
                for facts in page.into_iter().filter_map(Listed::into_facts) {
                    if let Some(record) = self.record(Kind::Secret, &facts) {
                        current.push(record.clone());
                        // The receiver lives as long as this future: sending cannot fail.
                        let _ = arrived.unbounded_send((record, facts));
                    }
                }
            }
            Ok::<_, VaultError>(current)
        };
        let versions = names
            .map(|(record, facts)| async move {
                let outcome = match self.secret_versions_with_facts(&record.name).await {
                    Ok(versions) => superseded_by_current(&facts, versions).ok_or_else(|| {
                        VaultError::new(
                            format!(
                                "cannot tell which version of secret {:?} in {} Key Vault serves: none of its versions has the metadata the list answer reports (did it change while keyrot read it?); run the check again",
                                record.name, self.url
                            ),
                            ReadFailure::Changed,
                        )
                    }),
                    Err(error) => Err(error),
                };
                (record.name, outcome)
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>();
        let (current, versions) = futures::join!(walk, versions);
        let mut out = SecretsWithVersions {
            records: current?,
            failed: Vec::new(),
        };
        for (name, outcome) in versions {
            match outcome {
                Ok(superseded) => out.records.extend(superseded),
                Err(error) => out.failed.push((name, error)),
            }
        }
        Ok(out)
    }

    fn fetched(
        &self,
        name: &str,
        secret: azure_security_keyvault_secrets::models::Secret,
    ) -> Result<FetchedSecret, VaultError> {
        fetched_from(&self.url, name, secret)
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

    /// The version Key Vault serves for a secret (`GET` without a version): what every reader
    /// gets. Unlike [`Vault::get_secret_if_exists`], a served version that is disabled (403
    /// `SecretDisabled`) is an answer, not an error: it is exactly the outage a rotation must
    /// repair.
    ///
    /// Any 404 but `VaultNotFound` is `Missing`, where [`Vault::read_current_secret`] demands
    /// the code `SecretNotFound`: `rotate` reads a secret's versions first, and that listing
    /// already failed for a wrong vault (Azure fails DNS; the emulator answers
    /// `VaultNotFound`), so a 404 here is about the secret. And `Missing` only makes a rotation
    /// due: the worst a mislabelled 404 can do is an early rotation, never a value exported
    /// from the wrong answer, which is what `fetch`'s stricter reading guards against.
    pub async fn served_secret(&self, name: &str) -> Result<Served, VaultError> {
        match self.secrets.get_secret(name, None).await {
            Err(e) if is_not_found(&e) => Ok(Served::Missing),
            Err(e) if is_disabled(&e) => Ok(Served::Disabled),
            Err(e) => Err(explain(&e, &self.url, Kind::Secret, "get")),
            Ok(response) => {
                let secret = response
                    .into_model()
                    .map_err(|e| explain(&e, &self.url, Kind::Secret, "get"))?;
                self.fetched(name, secret)
                    .map(|served| Served::Version(Box::new(served)))
            }
        }
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

    /// Replaces one version's tags (Key Vault replaces the whole set), leaving its value and
    /// dates as they are: keyrot moves `keyrot-grace-ends` this way once every copy of a new
    /// version holds it.
    pub async fn set_version_tags(
        &self,
        name: &str,
        version: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), VaultError> {
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "update");
        let parameters = UpdateSecretPropertiesParameters {
            tags: Some(tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
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

    /// Moves one version's expiry (`exp`), leaving everything else as it is, and answers the
    /// version's attributes as they are now (a rotation's lock renews its lease this way, and
    /// learns from `enabled` whether its bid was withdrawn by someone else).
    pub async fn set_version_expiry(
        &self,
        name: &str,
        version: &str,
        expires: OffsetDateTime,
    ) -> Result<CredentialRecord, VaultError> {
        let explain = |e: azure_core::Error| explain(&e, &self.url, Kind::Secret, "update");
        let parameters = UpdateSecretPropertiesParameters {
            secret_attributes: Some(SecretAttributes {
                expires: Some(expires),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = SecretClientUpdateSecretPropertiesOptions {
            secret_version: Some(version.to_string()),
            ..Default::default()
        };
        let secret = self
            .secrets
            .update_secret_properties(name, parameters.try_into().map_err(explain)?, Some(options))
            .await
            .map_err(explain)?
            .into_model()
            .map_err(explain)?;
        // An update answers without the value.
        Ok(self.fetched(name, secret)?.record)
    }

    /// Every version of one secret (metadata and tags; no values). A secret that does not
    /// exist has none.
    pub async fn secret_versions(&self, name: &str) -> Result<Vec<CredentialRecord>, VaultError> {
        let versions = self.secret_versions_with_facts(name).await?;
        Ok(versions.into_iter().map(|(_, record)| record).collect())
    }

    /// [`Vault::secret_versions`], each with the metadata it was read from.
    async fn secret_versions_with_facts(
        &self,
        name: &str,
    ) -> Result<Vec<(Facts, CredentialRecord)>, VaultError> {
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
            .filter_map(Listed::into_facts)
            .filter_map(|facts| {
                let record = self.record(Kind::Secret, &facts)?;
                Some((facts, record))
            })
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
            .filter_map(Listed::into_facts)
            .filter_map(|facts| self.record(kind, &facts))
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
            PageError::Refused(refusal) => VaultError::new(
                format!("listing {listing} in {}: {refusal}", self.url),
                ReadFailure::Refused,
            ),
        }
    }

    fn record(&self, kind: Kind, facts: &Facts) -> Option<CredentialRecord> {
        record_of(&self.url, kind, facts)
    }
}

/// What `GET /secrets/{name}` answered about the version Key Vault serves (see
/// [`Vault::read_current_secret`]).
pub enum CurrentSecret {
    Found(Box<FetchedSecret>),
    /// 404 `SecretNotFound`: the vault has no secret of that name.
    NotFound,
    /// 403 with the inner code `SecretDisabled`: the current version is disabled.
    Disabled,
}

impl Vault {
    /// The current version of one secret, value included, read by name with a single GET (no
    /// listing), for `fetch`. A missing secret and a disabled one are answers, not errors; any
    /// other failure (vault not found, permission, network) is an error.
    ///
    /// The answer must be about the secret asked for: an `id` naming another secret is an error,
    /// so a broken or hostile server cannot rename what gets exported.
    pub async fn read_current_secret(&self, name: &str) -> Result<CurrentSecret, VaultError> {
        let explain_get = |e: &azure_core::Error| explain(e, &self.url, Kind::Secret, "get");
        let response = match self.secrets.get_secret(name, None).await {
            Ok(response) => response,
            Err(e) => {
                let codes = service_error_codes(&e);
                let has = |code: &str| codes.iter().any(|c| c == code);
                return match e.http_status().map(u16::from) {
                    Some(404) if has("SecretNotFound") => Ok(CurrentSecret::NotFound),
                    Some(403) if has("SecretDisabled") => Ok(CurrentSecret::Disabled),
                    Some(404) => Err(answer_error(format!(
                        "{} answered 404 Not Found when reading a secret, without saying the secret does not exist; is the vault URL right? Key Vault said: {}: {}",
                        self.url,
                        codes.first().map(String::as_str).unwrap_or(""),
                        crate::transport::one_line(600, &cause_chain(&e))
                    ))),
                    _ => Err(explain_get(&e)),
                };
            }
        };
        let secret = response.into_model().map_err(|e| explain_get(&e))?;
        let fetched = self.fetched(name, secret)?;
        if fetched.record.name.eq_ignore_ascii_case(name) {
            Ok(CurrentSecret::Found(Box::new(fetched)))
        } else {
            Err(answer_error(format!(
                "{} answered the request for secret {name:?} with secret {:?} (id {:?}); keyrot exports nothing from an answer about another secret",
                self.url, fetched.record.name, fetched.record.id
            )))
        }
    }
}

/// A secret bundle (`GET /secrets/{name}`) as `fetch` keeps it: its record, content type and
/// value. `name` is the name asked for, for the message of an answer without a usable id.
fn fetched_from(
    url: &VaultUrl,
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
        updated: a.updated,
        content_type: secret.content_type.clone(),
        tags: secret.tags,
    };
    let record = record_of(url, Kind::Secret, &facts).ok_or_else(|| {
        VaultError::new(
            format!("{url} answered secret {name:?} without a usable id"),
            ReadFailure::Malformed,
        )
    })?;
    Ok(FetchedSecret {
        record,
        content_type: secret.content_type,
        value,
    })
}

/// The record of one item or bundle of `vault`; `None` when its id is not a URL of this kind.
fn record_of(url: &VaultUrl, kind: Kind, facts: &Facts) -> Option<CredentialRecord> {
    let (name, version) = split_id(&facts.id, kind)?;
    Some(CredentialRecord {
        source: Source::KeyVault,
        vault: url.to_string(),
        kind,
        name,
        version,
        id: facts.id.clone(),
        // Key Vault treats a missing `enabled` as enabled.
        enabled: facts.enabled.unwrap_or(true),
        not_before: facts.not_before,
        expires: facts.expires,
        created: facts.created,
        tags: facts
            .tags
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        superseded: None,
        entra: None,
        resource_key: None,
    })
}

/// An error about an answer that no SDK error describes (a 404 without `SecretNotFound`, an
/// answer about another secret).
fn answer_error(message: String) -> VaultError {
    VaultError::new(message, ReadFailure::Malformed)
}

/// The service's error codes in an error answer: the top-level `error.code` and every nested
/// `innererror.code` (Key Vault says `Forbidden` outside and `SecretDisabled` inside).
fn service_error_codes(error: &azure_core::Error) -> Vec<String> {
    let ErrorKind::HttpResponse {
        error_code,
        raw_response,
        ..
    } = error.kind()
    else {
        return Vec::new();
    };
    let mut codes: Vec<String> = error_code.iter().cloned().collect();
    let body: Option<serde_json::Value> = raw_response
        .as_ref()
        .and_then(|r| serde_json::from_slice(r.body()).ok());
    let mut level = body.as_ref().and_then(|b| b.get("error"));
    while let Some(detail) = level {
        if let Some(code) = detail.get("code").and_then(|c| c.as_str()) {
            codes.push(code.to_string());
        }
        level = detail.get("innererror");
    }
    codes
}

/// What every list item says, whatever its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Facts {
    id: String,
    enabled: Option<bool>,
    not_before: Option<OffsetDateTime>,
    expires: Option<OffsetDateTime>,
    created: Option<OffsetDateTime>,
    updated: Option<OffsetDateTime>,
    /// Secrets only (certificates and keys have none).
    content_type: Option<String>,
    tags: Option<HashMap<String, String>>,
}

impl Facts {
    /// Whether two answers describe versions that agree in every attribute both report (all
    /// but the id): the list answer's item and the current version in the versions listing do.
    fn same_metadata(&self, other: &Facts) -> bool {
        let empty = HashMap::new();
        self.enabled.unwrap_or(true) == other.enabled.unwrap_or(true)
            && self.not_before == other.not_before
            && self.expires == other.expires
            && self.created == other.created
            && self.updated == other.updated
            && self.content_type == other.content_type
            && self.tags.as_ref().unwrap_or(&empty) == other.tags.as_ref().unwrap_or(&empty)
    }
}

/// The SDK's three property types, seen through what a check needs. `None` when the service
/// sent an item without an identifier.
trait Listed {
    fn into_facts(self) -> Option<Facts>;
}

macro_rules! listed {
    ($type:ty, $id:ident, $content_type:expr) => {
        impl Listed for $type {
            fn into_facts(self) -> Option<Facts> {
                let content_type: fn(&Self) -> Option<String> = $content_type;
                let content_type = content_type(&self);
                let a = self.attributes.unwrap_or_default();
                Some(Facts {
                    id: self.$id?,
                    enabled: a.enabled,
                    not_before: a.not_before,
                    expires: a.expires,
                    created: a.created,
                    updated: a.updated,
                    content_type,
                    tags: self.tags,
                })
            }
        }
    };
}

listed!(
    azure_security_keyvault_secrets::models::SecretProperties,
    id,
    |item| item.content_type.clone()
);
listed!(
    azure_security_keyvault_certificates::models::CertificateProperties,
    id,
    |_| None
);
listed!(
    azure_security_keyvault_keys::models::KeyProperties,
    kid,
    |_| None
);

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

/// Every version of a secret but the current one, marked as superseded by it; `None` when no
/// version has the current version's metadata (the secret changed between the two answers),
/// and nothing when there are no versions (it was deleted meanwhile).
///
/// The current version is found by metadata, never by `(created, version id)` order: Key Vault
/// stamps `created` in whole seconds and version ids are random, so within one second that
/// order is noise. Several versions can agree with the list answer only if they agree in every
/// attribute it reports (dates, enabled, content type, tags); then whichever is taken as
/// current, every version gets the same judgement, so the smallest version id is taken, to make
/// the report the same on every run.
fn superseded_by_current(
    current: &Facts,
    versions: Vec<(Facts, CredentialRecord)>,
) -> Option<Vec<CredentialRecord>> {
    if versions.is_empty() {
        // Deleted since the listing (its versions answered 404): nothing is superseded.
        return Some(Vec::new());
    }
    let current_id = versions
        .iter()
        .filter(|(facts, _)| facts.same_metadata(current))
        .map(|(_, record)| record.version.clone().unwrap_or_default())
        .min()?;
    Some(
        versions
            .into_iter()
            .map(|(_, record)| record)
            .filter(|record| record.version.as_deref() != Some(current_id.as_str()))
            .map(|mut record| {
                record.superseded = Some(Superseded {
                    by_version: current_id.clone(),
                    at: current.created,
                });
                record
            })
            .collect(),
    )
}

/// 403 for a disabled secret: Key Vault answers `{"error":{"code":"Forbidden","message":
/// "Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}`.
fn is_disabled(error: &azure_core::Error) -> bool {
    error.http_status().map(u16::from) == Some(403)
        && service_error_codes(error)
            .iter()
            .any(|code| code == "SecretDisabled")
}

/// 404 for an object that does not exist. Not a 404 `VaultNotFound` (the emulator's answer for
/// a vault it does not serve; Azure fails DNS instead): that is the vault, not the object.
fn is_not_found(error: &azure_core::Error) -> bool {
    matches!(error.kind(), ErrorKind::HttpResponse { status, error_code, .. }
        if u16::from(*status) == 404 && error_code.as_deref() != Some("VaultNotFound"))
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
    VaultError::new(message, reason_of(error))
}

/// The reason behind an SDK error, as reports name it.
fn reason_of(error: &azure_core::Error) -> ReadFailure {
    match error.kind() {
        ErrorKind::HttpResponse { status, .. } => ReadFailure::from_status(u16::from(*status)),
        ErrorKind::DataConversion => ReadFailure::Malformed,
        ErrorKind::Credential => ReadFailure::Authentication,
        // The transport reports DNS, TLS, refused and dropped connections and timeouts as I/O.
        ErrorKind::Io => ReadFailure::Connection,
        _ => ReadFailure::Other,
    }
}

fn rbac_role(kind: Kind) -> &'static str {
    match kind {
        Kind::Secret => "Key Vault Secrets User",
        Kind::Certificate => "Key Vault Certificate User",
        Kind::Key => "Key Vault Crypto User",
        Kind::AppPassword | Kind::AppCertificate => "(not a Key Vault object)",
    }
}

/// Key Vault's answers read by the code a live command reads them with, from bytes: the fuzz
/// targets (`fuzz/`) and `tests/properties.rs` feed it arbitrary and hostile JSON. Not an API.
#[doc(hidden)]
pub mod decode {
    use azure_core::http::headers::Headers;
    use azure_core::http::{RawResponse, Response, StatusCode};
    use azure_security_keyvault_certificates::models::ListCertificatePropertiesResult;
    use azure_security_keyvault_keys::models::ListKeyPropertiesResult;
    use azure_security_keyvault_secrets::models::{ListSecretPropertiesResult, Secret};

    use super::*;

    /// One page of a listing of `kind` (the versions listing of a secret has the secrets'
    /// page type): the records keyrot makes of its items, and its next link as written.
    pub fn list_page(
        vault: &VaultUrl,
        kind: Kind,
        body: &[u8],
    ) -> azure_core::Result<(Vec<CredentialRecord>, Option<String>)> {
        fn records<I: Listed>(
            vault: &VaultUrl,
            kind: Kind,
            items: Vec<I>,
        ) -> Vec<CredentialRecord> {
            items
                .into_iter()
                .filter_map(Listed::into_facts)
                .filter_map(|facts| record_of(vault, kind, &facts))
                .collect()
        }
        // What the SDK's pagers parse a page with (`json::from_json`).
        Ok(match kind {
            Kind::Certificate => {
                let page: ListCertificatePropertiesResult = azure_core::json::from_json(body)?;
                (records(vault, kind, page.value), page.next_link)
            }
            Kind::Key => {
                let page: ListKeyPropertiesResult = azure_core::json::from_json(body)?;
                (records(vault, kind, page.value), page.next_link)
            }
            _ => {
                let page: ListSecretPropertiesResult = azure_core::json::from_json(body)?;
                (records(vault, Kind::Secret, page.value), page.next_link)
            }
        })
    }

    /// A `GET /secrets/{name}` answer (200) as `fetch` reads it, or the error it would report.
    pub fn secret(vault: &VaultUrl, name: &str, body: &[u8]) -> Result<FetchedSecret, VaultError> {
        let response: Response<Secret> =
            RawResponse::from_bytes(StatusCode::Ok, Headers::new(), body.to_vec()).into();
        let secret = response
            .into_model()
            .map_err(|e| explain(&e, vault, Kind::Secret, "get"))?;
        fetched_from(vault, name, secret)
    }

    /// What keyrot makes of an error answer: the SDK's error (as its pipeline builds it from
    /// the status and body), the service's codes, whether it means a disabled secret or a
    /// missing object, and the message a user sees.
    pub struct ErrorAnswer {
        pub codes: Vec<String>,
        pub disabled: bool,
        pub not_found: bool,
        pub message: String,
        pub reason: ReadFailure,
    }

    pub fn error(
        vault: &VaultUrl,
        kind: Kind,
        operation: &str,
        status: u16,
        body: &[u8],
    ) -> ErrorAnswer {
        let response =
            RawResponse::from_bytes(StatusCode::from(status), Headers::new(), body.to_vec());
        let error =
            match futures::executor::block_on(azure_core::http::check_success(response, None)) {
                Err(error) => error,
                // A success status is not an error answer: judge it as the SDK's own error for it.
                Ok(_) => azure_core::Error::with_message(ErrorKind::DataConversion, "not an error"),
            };
        let failure = explain(&error, vault, kind, operation);
        ErrorAnswer {
            codes: service_error_codes(&error),
            disabled: is_disabled(&error),
            not_found: is_not_found(&error),
            reason: failure.reason(),
            message: failure.to_string(),
        }
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

    /// One version of secret `s` as the versions listing reports it, created at `created`.
    fn version(v: &str, created: i64) -> (Facts, CredentialRecord) {
        let facts = Facts {
            id: format!("https://v.vault.azure.net/secrets/s/{v}"),
            enabled: Some(true),
            not_before: None,
            expires: None,
            created: Some(OffsetDateTime::from_unix_timestamp(created).unwrap()),
            updated: Some(OffsetDateTime::from_unix_timestamp(created).unwrap()),
            content_type: None,
            tags: None,
        };
        let vault = Vault::new(
            VaultUrl::parse("https://v.vault.azure.net").unwrap(),
            Arc::new(NoToken),
            ClientOptions::default(),
        )
        .unwrap();
        let record = vault.record(Kind::Secret, &facts).unwrap();
        (facts, record)
    }

    /// The list answer's item for the current version `of`: the same metadata, no version.
    fn listed(of: &(Facts, CredentialRecord)) -> Facts {
        Facts {
            id: "https://v.vault.azure.net/secrets/s".to_owned(),
            ..of.0.clone()
        }
    }

    #[derive(Debug)]
    struct NoToken;

    #[async_trait::async_trait]
    impl TokenCredential for NoToken {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                "unit tests send no request",
            ))
        }
    }

    fn superseded_pairs(out: &[CredentialRecord]) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = out
            .iter()
            .map(|r| {
                (
                    r.version.clone().unwrap(),
                    r.superseded.clone().unwrap().by_version,
                )
            })
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn the_current_version_is_the_one_the_list_answer_describes_not_the_newest_id() {
        // Three versions written in the same second, ids sorting against the write order:
        // "c" was written first, "a" last, and Key Vault serves "a". Only `updated` and the
        // tags tell them apart, as they would on the wire.
        let (mut c, mut b, mut a) = (version("c", 100), version("b", 100), version("a", 100));
        c.0.tags = Some(HashMap::from([("run".to_owned(), "1".to_owned())]));
        b.0.tags = Some(HashMap::from([("run".to_owned(), "2".to_owned())]));
        a.0.tags = Some(HashMap::from([("run".to_owned(), "3".to_owned())]));
        let current = listed(&b);
        let out = superseded_by_current(&current, vec![c.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(
            superseded_pairs(&out),
            [("a".into(), "b".into()), ("c".into(), "b".into())]
        );
        let current = listed(&a);
        let out = superseded_by_current(&current, vec![c, b, a]).unwrap();
        assert_eq!(
            superseded_pairs(&out),
            [("b".into(), "a".into()), ("c".into(), "a".into())]
        );
        assert!(out.iter().all(|r| r.superseded.as_ref().unwrap().at
            == Some(OffsetDateTime::from_unix_timestamp(100).unwrap())));
    }

    #[test]
    fn every_reported_attribute_takes_part_in_the_match() {
        let base = version("a", 100);
        let current = listed(&base);
        let variants: [fn(&mut Facts); 7] = [
            |f| f.enabled = Some(false),
            |f| f.not_before = Some(OffsetDateTime::UNIX_EPOCH),
            |f| f.expires = Some(OffsetDateTime::UNIX_EPOCH),
            |f| f.created = Some(OffsetDateTime::UNIX_EPOCH),
            |f| f.updated = Some(OffsetDateTime::UNIX_EPOCH),
            |f| f.content_type = Some("text/plain".to_owned()),
            |f| f.tags = Some(HashMap::from([("k".to_owned(), "v".to_owned())])),
        ];
        for change in variants {
            let mut other = base.clone();
            change(&mut other.0);
            assert!(!other.0.same_metadata(&current), "{:?}", other.0);
        }
        // Absent and default values agree: `enabled` absent is enabled, no tags is empty tags.
        let mut defaults = base.clone();
        defaults.0.enabled = None;
        defaults.0.tags = Some(HashMap::new());
        assert!(defaults.0.same_metadata(&current));
    }

    #[test]
    fn indistinguishable_versions_give_the_smallest_id_and_no_match_gives_none() {
        let (x, y) = (version("f00d2", 100), version("f00d1", 100));
        let out = superseded_by_current(&listed(&x), vec![x.clone(), y.clone()]).unwrap();
        assert_eq!(superseded_pairs(&out), [("f00d2".into(), "f00d1".into())]);

        let mut changed = listed(&x);
        changed.updated = Some(OffsetDateTime::from_unix_timestamp(101).unwrap());
        assert_eq!(superseded_by_current(&changed, vec![x.clone(), y]), None);
        // A secret with one version has nothing superseded; nor has one deleted meanwhile.
        assert_eq!(
            superseded_by_current(&listed(&x), vec![x.clone()]),
            Some(Vec::new())
        );
        assert_eq!(
            superseded_by_current(&listed(&x), Vec::new()),
            Some(Vec::new())
        );
    }
}
