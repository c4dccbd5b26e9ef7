//! Service Bus and Event Hubs shared access signatures (the same scheme for both), from the
//! Service Bus docs "Service Bus access control with Shared Access Signatures" / "Generate a
//! SAS token" and the .NET SDK's `SharedAccessSignature.BuildSignature`
//! (Azure.Messaging.ServiceBus / EventHubs):
//!
//! ```text
//! sr  = UrlEncode(lower-case(resource URI))        e.g. https%3A%2F%2Fns.servicebus.windows.net%2Forders
//! se  = expiry, seconds since 1970-01-01T00:00:00Z
//! sig = Base64(HMAC-SHA256(UTF-8(key), UTF-8(sr + "\n" + se)))
//! token = "SharedAccessSignature sr={sr}&sig={UrlEncode(sig)}&se={se}&skn={UrlEncode(rule)}"
//! ```
//!
//! Exactly, as the service checks it:
//! - the HMAC key is the key *string*'s UTF-8 bytes, not its base64 decoding (unlike storage
//!   and Cosmos DB keys);
//! - the signed `sr` is the URL-encoded form, byte for byte the one in the token; the SDK
//!   lower-cases the URI first (`BuildAudience(...).ToLowerInvariant()`), and so does keyrot;
//! - encoding keeps ASCII letters, digits and `-_.~` and percent-encodes everything else with
//!   upper-case hex (what `encodeURIComponent`, `WebUtility.UrlEncode` and Python's
//!   `quote_plus` in the docs' samples produce for a URI: they differ only on characters an
//!   Azure resource URI does not contain).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::OffsetDateTime;

use super::{hmac_sha256_base64, Cloud, KeyError};
use crate::model::SecretValue;

/// Everything but ASCII letters, digits and `-_.~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// The resource URI a token for a namespace (or one of its entities) is signed for:
/// `https://{namespace host}/` or `https://{namespace host}/{entity}`.
pub fn resource_uri(cloud: Cloud, namespace: &str, entity: Option<&str>) -> String {
    format!(
        "https://{}/{}",
        cloud.service_bus_host(namespace),
        entity.unwrap_or("")
    )
}

/// The string the signature is computed over: `{encoded sr}\n{se}`.
pub fn string_to_sign(resource_uri: &str, expires: OffsetDateTime) -> String {
    format!(
        "{}\n{}",
        encode(&resource_uri.to_lowercase()),
        expires.unix_timestamp()
    )
}

/// A SAS token for `resource_uri`, signed with the rule `key_name`'s `key`, valid until
/// `expires`.
pub fn token(
    resource_uri: &str,
    key_name: &str,
    key: &SecretValue,
    expires: OffsetDateTime,
) -> Result<SecretValue, KeyError> {
    if key.expose().is_empty() {
        return Err(KeyError("the SAS key is empty".to_owned()));
    }
    if key_name.is_empty() {
        return Err(KeyError("the SAS rule name is empty".to_owned()));
    }
    if expires.unix_timestamp() <= 0 {
        return Err(KeyError("the SAS expiry is before 1970".to_owned()));
    }
    let sr = encode(&resource_uri.to_lowercase());
    let se = expires.unix_timestamp();
    let signature = hmac_sha256_base64(key.expose().as_bytes(), format!("{sr}\n{se}").as_bytes());
    Ok(SecretValue::new(format!(
        "SharedAccessSignature sr={sr}&sig={}&se={se}&skn={}",
        encode(&signature),
        encode(key_name)
    )))
}

/// A token valid from `now` for `ttl`.
pub fn token_valid_for(
    resource_uri: &str,
    key_name: &str,
    key: &SecretValue,
    now: OffsetDateTime,
    ttl: time::Duration,
) -> Result<SecretValue, KeyError> {
    token(resource_uri, key_name, key, now + ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const KEY: &str = "c2VjcmV0LWtleS12YWx1ZS1mb3ItdGVzdHMtb25seQ==";

    #[test]
    fn token_matches_the_documented_python_sample() {
        // Expected values from the Service Bus docs' Python sample (`get_auth_token`:
        // quote_plus(uri), HMAC keyed by the key's UTF-8 bytes, base64), run with this URI,
        // key and se = 1767225600 (2026-01-01T00:00:00Z); the signature then fully encoded.
        let key = SecretValue::new(KEY.to_owned());
        let uri = resource_uri(Cloud::Public, "ns1", Some("orders"));
        assert_eq!(uri, "https://ns1.servicebus.windows.net/orders");
        let expires = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(
            string_to_sign(&uri, expires),
            "https%3A%2F%2Fns1.servicebus.windows.net%2Forders\n1767225600"
        );
        assert_eq!(
            token(&uri, "RootManageSharedAccessKey", &key, expires)
                .unwrap()
                .expose(),
            "SharedAccessSignature sr=https%3A%2F%2Fns1.servicebus.windows.net%2Forders\
             &sig=9t1%2FCBcHI%2BbGp8%2FmyvDYCuMSOGpKVpcs5I6sEQqr%2FG0%3D\
             &se=1767225600&skn=RootManageSharedAccessKey"
        );
        // The SDK lower-cases the audience: the same token for a mixed-case URI.
        assert_eq!(
            token(
                "https://NS1.servicebus.windows.net/Orders",
                "RootManageSharedAccessKey",
                &key,
                expires
            )
            .unwrap()
            .expose(),
            token(&uri, "RootManageSharedAccessKey", &key, expires)
                .unwrap()
                .expose()
        );
        assert_eq!(
            token_valid_for(
                &uri,
                "r",
                &key,
                datetime!(2025-12-31 23:00 UTC),
                time::Duration::hours(1)
            )
            .unwrap()
            .expose(),
            token(&uri, "r", &key, expires).unwrap().expose()
        );
    }

    #[test]
    fn namespace_uri_and_emulator_host() {
        assert_eq!(
            resource_uri(Cloud::Emulator { port: 8443 }, "ns1", None),
            "https://ns1.servicebus.localhost:8443/"
        );
        assert_eq!(
            string_to_sign(
                "https://ns1.servicebus.localhost:8443/",
                datetime!(1970-01-01 0:01 UTC)
            ),
            "https%3A%2F%2Fns1.servicebus.localhost%3A8443%2F\n60"
        );
    }

    #[test]
    fn bad_inputs_are_refused_without_the_key() {
        let key = SecretValue::new(KEY.to_owned());
        let empty = SecretValue::new(String::new());
        let when = datetime!(2026-01-01 0:00 UTC);
        assert!(token("https://a/", "r", &empty, when).is_err());
        assert!(token("https://a/", "", &key, when).is_err());
        let error = token("https://a/", "r", &key, datetime!(1969-01-01 0:00 UTC)).unwrap_err();
        assert!(!error.to_string().contains(KEY));
        // The token's Debug is redacted: it is a credential.
        let t = token("https://a/", "r", &key, when).unwrap();
        assert!(!format!("{t:?}").contains("sig="));
    }
}
