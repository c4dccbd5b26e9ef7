//! Connection strings: `name=value` pairs separated by `;`, as the portal and the services'
//! `listKeys` answers write them.
//!
//! - Storage: `DefaultEndpointsProtocol=https;AccountName={a};AccountKey={k};EndpointSuffix=core.windows.net`
//!   (Azure Storage docs, "Configure a connection string": "Create a connection string for an
//!   explicit storage endpoint" / "endpoint suffix");
//! - Service Bus / Event Hubs: `Endpoint=sb://{ns}.servicebus.windows.net/;SharedAccessKeyName={rule};SharedAccessKey={k}[;EntityPath={entity}]`
//!   (the shape `listKeys` answers with, notes §7.2);
//! - Cosmos DB: `AccountEndpoint=https://{a}.documents.azure.com:443/;AccountKey={k};` (the
//!   portal's and `listConnectionStrings`' shape, trailing `;` included).
//!
//! Host names come from [`Cloud`] (the ARM URL's cloud). Account, namespace and rule names are
//! expected to come from a validated `arm::resource_id::ResourceId`.

use std::fmt;

use zeroize::Zeroizing;

use super::{Cloud, KeyError};
use crate::model::SecretValue;

/// The storage connection string for `account` with `key` (`key1` or `key2`'s value).
pub fn storage(cloud: Cloud, account: &str, key: &SecretValue) -> SecretValue {
    SecretValue::new(format!(
        "DefaultEndpointsProtocol=https;AccountName={account};AccountKey={};EndpointSuffix={}",
        key.expose(),
        cloud.storage_suffix()
    ))
}

/// A Service Bus or Event Hubs connection string for the SAS rule `key_name`; `entity_path`
/// (a queue, topic or event hub) when the rule belongs to an entity rather than the namespace.
pub fn service_bus(
    cloud: Cloud,
    namespace: &str,
    key_name: &str,
    key: &SecretValue,
    entity_path: Option<&str>,
) -> SecretValue {
    let mut text = format!(
        "Endpoint=sb://{}/;SharedAccessKeyName={key_name};SharedAccessKey={}",
        cloud.service_bus_host(namespace),
        key.expose()
    );
    if let Some(entity) = entity_path {
        text.push_str(";EntityPath=");
        text.push_str(entity);
    }
    SecretValue::new(text)
}

/// The Cosmos DB connection string for `account` with `key`.
pub fn cosmos(cloud: Cloud, account: &str, key: &SecretValue) -> SecretValue {
    SecretValue::new(format!(
        "AccountEndpoint={};AccountKey={};",
        cloud.cosmos_endpoint(account),
        key.expose()
    ))
}

/// A parsed connection string. Names compare case-insensitively (as the SDKs' parsers do); the
/// order, the spelling and a trailing `;` are kept, so [`ConnectionString::with_key`] changes
/// nothing but the key. `Debug` shows names and non-secret values only.
#[derive(Clone)]
pub struct ConnectionString {
    pairs: Vec<(String, Zeroizing<String>)>,
    trailing_semicolon: bool,
}

/// The names whose value is the key itself.
const KEY_NAMES: [&str; 2] = ["AccountKey", "SharedAccessKey"];

/// Whether a field's value is secret (shown as `<redacted>` by `Debug`).
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("key")
        || ["signature", "password", "secret", "token"]
            .iter()
            .any(|w| lower.contains(w))
}

impl ConnectionString {
    /// Parses `name=value;…`. The value may contain `=` (base64 padding). Fails on a segment
    /// without `=`, an empty name or a name given twice; errors name the segment's position and
    /// name, never a value.
    pub fn parse(text: &str) -> Result<ConnectionString, KeyError> {
        let trimmed = text.trim();
        let mut pairs: Vec<(String, Zeroizing<String>)> = Vec::new();
        for (i, segment) in trimmed.split(';').enumerate() {
            if segment.trim().is_empty() {
                continue;
            }
            let Some((name, value)) = segment.split_once('=') else {
                return Err(KeyError(format!(
                    "not a connection string: part {} has no `=` (expected name=value pairs separated by `;`)",
                    i + 1
                )));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(KeyError(format!(
                    "not a connection string: part {} has no name before `=`",
                    i + 1
                )));
            }
            if pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(KeyError(format!(
                    "the connection string names {name} twice"
                )));
            }
            pairs.push((name.to_owned(), Zeroizing::new(value.trim().to_owned())));
        }
        if pairs.is_empty() {
            return Err(KeyError("the connection string is empty".to_owned()));
        }
        Ok(ConnectionString {
            pairs,
            trailing_semicolon: trimmed.ends_with(';'),
        })
    }

    /// Whether `text` looks like a connection string (as opposed to a bare key): it parses and
    /// has a key field and an account or endpoint field.
    pub fn looks_like(text: &str) -> bool {
        ConnectionString::parse(text).is_ok_and(|c| {
            c.key().is_some()
                && ["AccountName", "Endpoint", "AccountEndpoint"]
                    .iter()
                    .any(|n| c.get(n).is_some())
        })
    }

    /// A field's value (name case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The key: `AccountKey` (storage, Cosmos DB) or `SharedAccessKey` (Service Bus, Event
    /// Hubs).
    pub fn key(&self) -> Option<&str> {
        KEY_NAMES.iter().find_map(|n| self.get(n))
    }

    /// The same connection string with another key, everything else unchanged.
    pub fn with_key(&self, key: &SecretValue) -> Result<SecretValue, KeyError> {
        let mut copy = self.clone();
        let slot = copy
            .pairs
            .iter_mut()
            .find(|(n, _)| KEY_NAMES.iter().any(|k| n.eq_ignore_ascii_case(k)))
            .ok_or_else(|| {
                KeyError(
                    "the connection string has no AccountKey or SharedAccessKey to replace"
                        .to_owned(),
                )
            })?;
        slot.1 = Zeroizing::new(key.expose().to_owned());
        Ok(copy.to_secret())
    }

    /// The connection string as text.
    pub fn to_secret(&self) -> SecretValue {
        let mut text = String::new();
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                text.push(';');
            }
            text.push_str(name);
            text.push('=');
            text.push_str(value);
        }
        if self.trailing_semicolon {
            text.push(';');
        }
        SecretValue::new(text)
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        for (name, value) in &self.pairs {
            if is_secret_name(name) {
                list.entry(name, &"<redacted>");
            } else {
                list.entry(name, &value.as_str());
            }
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS12YWx1ZS1mb3ItdGVzdHMtb25seQ==";

    fn key() -> SecretValue {
        SecretValue::new(KEY.to_owned())
    }

    #[test]
    fn storage_connection_strings_per_cloud() {
        assert_eq!(
            storage(Cloud::Public, "sto2220", &key()).expose(),
            format!("DefaultEndpointsProtocol=https;AccountName=sto2220;AccountKey={KEY};EndpointSuffix=core.windows.net")
        );
        assert!(storage(Cloud::China, "s", &key())
            .expose()
            .ends_with(";EndpointSuffix=core.chinacloudapi.cn"));
        assert!(storage(Cloud::UsGovernment, "s", &key())
            .expose()
            .ends_with(";EndpointSuffix=core.usgovcloudapi.net"));
        assert!(storage(Cloud::Emulator { port: 8443 }, "s", &key())
            .expose()
            .ends_with(";EndpointSuffix=localhost:8443"));
    }

    #[test]
    fn service_bus_connection_strings_match_what_list_keys_answers() {
        // The shape of SBNameSpaceAuthorizationRuleListKey.json (notes §7.2), our cloud's host.
        assert_eq!(
            service_bus(Cloud::Public, "sdk-namespace-6914", "sdk-AuthRules-1788", &key(), None).expose(),
            format!("Endpoint=sb://sdk-namespace-6914.servicebus.windows.net/;SharedAccessKeyName=sdk-AuthRules-1788;SharedAccessKey={KEY}")
        );
        assert_eq!(
            service_bus(Cloud::Emulator { port: 8443 }, "ns1", "send", &key(), Some("orders")).expose(),
            format!("Endpoint=sb://ns1.servicebus.localhost:8443/;SharedAccessKeyName=send;SharedAccessKey={KEY};EntityPath=orders")
        );
        assert!(service_bus(Cloud::China, "ns", "r", &key(), None)
            .expose()
            .starts_with("Endpoint=sb://ns.servicebus.chinacloudapi.cn/;"));
        assert!(service_bus(Cloud::UsGovernment, "ns", "r", &key(), None)
            .expose()
            .starts_with("Endpoint=sb://ns.servicebus.usgovcloudapi.net/;"));
    }

    #[test]
    fn cosmos_connection_strings_per_cloud() {
        assert_eq!(
            cosmos(Cloud::Public, "db1", &key()).expose(),
            format!("AccountEndpoint=https://db1.documents.azure.com:443/;AccountKey={KEY};")
        );
        assert!(cosmos(Cloud::UsGovernment, "db1", &key())
            .expose()
            .starts_with("AccountEndpoint=https://db1.documents.azure.us:443/;"));
        assert!(cosmos(Cloud::China, "db1", &key())
            .expose()
            .starts_with("AccountEndpoint=https://db1.documents.azure.cn:443/;"));
        assert!(cosmos(Cloud::Emulator { port: 9443 }, "db1", &key())
            .expose()
            .starts_with("AccountEndpoint=https://db1.documents.localhost:9443/;"));
    }

    #[test]
    fn parse_reads_keys_with_padding_and_round_trips() {
        for text in [
            storage(Cloud::Public, "sto", &key()),
            service_bus(Cloud::Public, "ns", "rule", &key(), Some("q")),
            cosmos(Cloud::Public, "db", &key()),
        ] {
            let parsed = ConnectionString::parse(text.expose()).unwrap();
            assert_eq!(parsed.key(), Some(KEY));
            assert_eq!(parsed.to_secret().expose(), text.expose());
            assert!(ConnectionString::looks_like(text.expose()));
        }
        let parsed = ConnectionString::parse(
            "endpoint=sb://ns.servicebus.windows.net/;sharedaccesskeyname=r;sharedaccesskey=abc=",
        )
        .unwrap();
        assert_eq!(parsed.key(), Some("abc="));
        assert_eq!(parsed.get("SharedAccessKeyName"), Some("r"));
        assert!(!ConnectionString::looks_like(KEY));
    }

    #[test]
    fn with_key_changes_only_the_key() {
        let old = cosmos(Cloud::Public, "db", &key());
        let parsed = ConnectionString::parse(old.expose()).unwrap();
        let new = parsed
            .with_key(&SecretValue::new("bmV3LWtleQ==".to_owned()))
            .unwrap();
        assert_eq!(
            new.expose(),
            "AccountEndpoint=https://db.documents.azure.com:443/;AccountKey=bmV3LWtleQ==;"
        );
        let no_key = ConnectionString::parse("AccountName=a;EndpointSuffix=x").unwrap();
        assert!(no_key.with_key(&key()).is_err());
    }

    #[test]
    fn bad_connection_strings_are_explained_without_their_values() {
        for (text, expected) in [
            ("AccountName=a;secretpart-no-equals", "part 2 has no `=`"),
            ("=secret-value", "part 1 has no name"),
            (
                "AccountKey=secret1;accountkey=secret2",
                "names accountkey twice",
            ),
            ("  ;; ", "empty"),
        ] {
            let error = ConnectionString::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("secret"), "{text}: {error}");
        }
    }

    #[test]
    fn debug_redacts_every_key_and_signature() {
        let text = format!(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=rule;SharedAccessKey={KEY};SharedAccessSignature=SharedAccessSignature sr=x&sig=SIGVALUE"
        );
        let parsed = ConnectionString::parse(&text).unwrap();
        let debug = format!("{parsed:?}");
        assert!(
            !debug.contains(KEY) && !debug.contains("SIGVALUE"),
            "{debug}"
        );
        assert!(
            debug.contains("\"SharedAccessKeyName\": \"rule\""),
            "{debug}"
        );
        assert!(debug.contains("sb://ns.servicebus.windows.net/"), "{debug}");
        let cosmos = ConnectionString::parse(cosmos(Cloud::Public, "db", &key()).expose()).unwrap();
        assert!(!format!("{cosmos:?}").contains(KEY));
    }
}
