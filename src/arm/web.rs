//! App Service / Functions Key Vault references (api-version 2022-03-01): a site's app settings
//! that read `@Microsoft.KeyVault(...)` keep the value they resolved for up to 24 hours (notes
//! §7.4), so after a rotation keyrot asks the site to resolve them again:
//! - `POST {site}/config/configreferences/appsettings/refresh` (found via the portal; proposed
//!   for the docs in MicrosoftDocs/azure-docs PR #126435);
//! - `GET {site}/config/configreferences/appsettings` → `{"value":[{"name", "properties":
//!   {"reference","status","vaultName","secretName","secretVersion","identityType","details",
//!   "source","activeVersion"}}], "nextLink"}` (`ApiKVReference`): which setting references
//!   which secret, and whether it resolved.

use azure_core::http::{Method, Url};
use serde::Deserialize;

use super::lro::check_operation_url;
use super::resource_id::{Resource, ResourceId};
use super::{expect_success, malformed, wrong_kind, ArmClient, ArmError, ArmErrorKind, Call};

pub const API_VERSION: &str = "2022-03-01";

const READ_ROLE: &str = "the identity needs Reader (Microsoft.Web/sites/config/read) on the site, or Website Contributor";
const REFRESH_ROLE: &str = "the identity needs Website Contributor (or Contributor) on the site to refresh its Key Vault references";

/// The most `nextLink` pages followed.
const MAX_PAGES: usize = 50;

/// The App Service calls (see [`ArmClient::web`]).
pub struct Web<'a>(pub(crate) &'a ArmClient);

/// One app setting's Key Vault reference (no value: the site never returns one here).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyVaultReference {
    /// The app setting's name.
    pub setting: String,
    /// `Resolved`, `SecretNotFound`, `AccessToKeyVaultDenied`, … (`ResolveStatus`).
    pub status: Option<String>,
    /// `@Microsoft.KeyVault(SecretUri=…)` as written in the setting.
    pub reference: Option<String>,
    pub vault_name: Option<String>,
    pub secret_name: Option<String>,
    /// Empty or absent when the reference follows the latest version.
    pub secret_version: Option<String>,
    pub active_version: Option<String>,
    pub identity_type: Option<String>,
    pub details: Option<String>,
}

fn check(call: &str, id: &ResourceId) -> Result<(), ArmError> {
    match id.resource {
        Resource::WebSite { .. } => Ok(()),
        _ => Err(wrong_kind(call, id, "an App Service site")),
    }
}

impl Web<'_> {
    /// Asks the site to resolve its app settings' Key Vault references again.
    pub async fn refresh_key_vault_references(&self, site: &ResourceId) -> Result<(), ArmError> {
        let call = Call {
            describe: format!("refreshing the Key Vault references of {}", site.describe()),
            resource: Some(site),
            role: REFRESH_ROLE,
        };
        check(&call.describe, site)?;
        let url = self.0.resource_url(
            site,
            &["config", "configreferences", "appsettings", "refresh"],
            API_VERSION,
        );
        let answer = self.0.send(&call, Method::Post, url, None, false).await?;
        expect_success(&call, answer)?;
        Ok(())
    }

    /// The site's app settings that reference Key Vault, and their status.
    pub async fn key_vault_references(
        &self,
        site: &ResourceId,
    ) -> Result<Vec<KeyVaultReference>, ArmError> {
        let call = Call {
            describe: format!("listing the Key Vault references of {}", site.describe()),
            resource: Some(site),
            role: READ_ROLE,
        };
        check(&call.describe, site)?;
        let mut url = self.0.resource_url(
            site,
            &["config", "configreferences", "appsettings"],
            API_VERSION,
        );
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.0.send(&call, Method::Get, url, None, false).await?;
            let (page, next) =
                parse_references(&call.describe, &expect_success(&call, answer)?.body)?;
            out.extend(page);
            match next {
                None => return Ok(out),
                // The next page is polled with ARM's token: same rule as operation URLs.
                Some(next) => {
                    url = check_operation_url(&next, &self.0.origin)
                        .map_err(|e| ArmError::new(&call.describe, ArmErrorKind::Refused, e))?;
                }
            }
        }
        Err(ArmError::new(
            &call.describe,
            ArmErrorKind::Malformed,
            format!("more than {MAX_PAGES} pages of references"),
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageWire {
    #[serde(default)]
    value: Vec<ReferenceWire>,
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct ReferenceWire {
    name: Option<String>,
    #[serde(default)]
    properties: Option<PropertiesWire>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PropertiesWire {
    reference: Option<String>,
    status: Option<String>,
    vault_name: Option<String>,
    secret_name: Option<String>,
    secret_version: Option<String>,
    active_version: Option<String>,
    identity_type: Option<serde_json::Value>,
    details: Option<String>,
}

/// One page of references, and the next page's URL.
pub(crate) fn parse_references(
    call: &str,
    body: &[u8],
) -> Result<(Vec<KeyVaultReference>, Option<String>), ArmError> {
    let page: PageWire = serde_json::from_slice(body)
        .map_err(|e| malformed(call, "a list of Key Vault references", &e))?;
    let references = page
        .value
        .into_iter()
        .map(|r| {
            let p = r.properties.unwrap_or_default();
            // `name` is the setting's name, or `{site}/{setting}` on some versions.
            let name = r.name.unwrap_or_default();
            let setting = name.rsplit('/').next().unwrap_or_default().to_owned();
            KeyVaultReference {
                setting,
                status: p.status,
                reference: p.reference,
                vault_name: p.vault_name,
                secret_name: p.secret_name,
                secret_version: p.secret_version.filter(|v| !v.is_empty()),
                active_version: p.active_version,
                identity_type: p.identity_type.map(|t| match t {
                    serde_json::Value::String(s) => s,
                    // `ManagedServiceIdentity` as an object in some versions: its `type`.
                    other => other
                        .get("type")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                }),
                details: p.details,
            }
        })
        .collect();
    Ok((references, page.next_link.filter(|n| !n.is_empty())))
}

/// The refresh URL of a site, for tests and logs.
#[doc(hidden)]
pub fn refresh_url(client: &ArmClient, site: &ResourceId) -> Url {
    client.resource_url(
        site,
        &["config", "configreferences", "appsettings", "refresh"],
        API_VERSION,
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const PAGE: &str = r#"{"value":[
        {"id":"/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Web/sites/app1/config/configreferences/appsettings/StorageConnection",
         "name":"StorageConnection","type":"Microsoft.Web/sites/config/configreferences",
         "properties":{"reference":"@Microsoft.KeyVault(SecretUri=https://v1.vault.azure.net/secrets/storage-conn/)","status":"Resolved","vaultName":"v1","secretName":"storage-conn","secretVersion":"","identityType":"SystemAssigned","details":"Reference has been successfully resolved.","source":"KeyVault","activeVersion":"abc123"}},
        {"name":"app1/Other","properties":{"status":"AccessToKeyVaultDenied","vaultName":"v2","secretName":"other","secretVersion":"0f3a","identityType":{"type":"UserAssigned"},"details":"Key Vault reference was not able to be resolved because site was denied access to Key Vault reference's vault."}}
    ]}"#;

    #[test]
    fn references_parse() {
        let (refs, next) = parse_references("l", PAGE.as_bytes()).unwrap();
        assert_eq!(next, None);
        assert_eq!(refs[0].setting, "StorageConnection");
        assert_eq!(refs[0].status.as_deref(), Some("Resolved"));
        assert_eq!(refs[0].secret_name.as_deref(), Some("storage-conn"));
        assert_eq!(refs[0].secret_version, None);
        assert_eq!(refs[0].active_version.as_deref(), Some("abc123"));
        assert_eq!(refs[0].identity_type.as_deref(), Some("SystemAssigned"));
        assert_eq!(refs[1].setting, "Other");
        assert_eq!(refs[1].secret_version.as_deref(), Some("0f3a"));
        assert_eq!(refs[1].identity_type.as_deref(), Some("UserAssigned"));
        assert!(parse_references("l", b"{\"value\":7}").is_err());
    }

    #[tokio::test]
    async fn refresh_and_list_send_the_documented_requests() {
        let site = id("Microsoft.Web/sites/app1");
        let next = format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Web/sites/app1/config/configreferences/appsettings?api-version=2022-03-01&$skipToken=2");
        let first = PAGE.replacen("]}", &format!("], \"nextLink\": \"{next}\"}}"), 1);
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(200, &[], ""),
                reply(200, &[], &first),
                reply(
                    200,
                    &[],
                    r#"{"value":[{"name":"Third","properties":{"status":"Resolved"}}]}"#,
                ),
            ],
        );
        client
            .web()
            .refresh_key_vault_references(&site)
            .await
            .unwrap();
        let refs = client.web().key_vault_references(&site).await.unwrap();
        assert_eq!(
            refs.iter().map(|r| r.setting.as_str()).collect::<Vec<_>>(),
            ["StorageConnection", "Other", "Third"]
        );
        let sent = log.take();
        let base = format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Web/sites/app1/config/configreferences/appsettings");
        assert_eq!(
            (sent[0].method.as_str(), sent[0].url.clone()),
            ("POST", format!("{base}/refresh?api-version=2022-03-01"))
        );
        assert_eq!(sent[0].url, refresh_url(&client, &site).as_str());
        assert_eq!(
            (sent[1].method.as_str(), sent[1].url.clone()),
            ("GET", format!("{base}?api-version=2022-03-01"))
        );
        assert_eq!(sent[2].url, next);
    }

    #[tokio::test]
    async fn a_next_link_off_arm_is_refused() {
        let site = id("Microsoft.Web/sites/app1");
        let (client, log) = scripted(
            PUBLIC,
            vec![reply(
                200,
                &[],
                r#"{"value":[],"nextLink":"https://evil.example/next"}"#,
            )],
        );
        let error = client.web().key_vault_references(&site).await.unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::Refused);
        assert_eq!(log.take().len(), 1);
        let (client, _) = scripted(
            PUBLIC,
            vec![reply(
                403,
                &[],
                r#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#,
            )],
        );
        let error = client
            .web()
            .refresh_key_vault_references(&site)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("Website Contributor"), "{error}");
        let error = client
            .web()
            .refresh_key_vault_references(&storage_id())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not an App Service site"),
            "{error}"
        );
    }
}
