//! Pure helpers for the keys of Azure resources that rotate by alternation (issue 12): storage
//! account keys, Service Bus / Event Hubs SAS keys, Cosmos DB keys.
//!
//! Nothing here does I/O or reads the clock: every function that needs the time takes `now`
//! (or an expiry) as a parameter, so each is a deterministic function tested against the
//! documented vectors. Nothing here knows the rotation protocol either (no `crate::rotate`).
//!
//! - [`cloud`]: the service host names of a cloud, derived from the ARM URL (`--arm-url`);
//! - [`connection_string`]: parse and build connection strings (values are [`SecretValue`]s,
//!   `Debug` redacts the keys);
//! - [`storage_shared_key`]: the Shared Key signature of a Blob request, and the verification
//!   request `GET https://{account}.blob.{suffix}/?comp=list&maxresults=1`;
//! - [`sas`]: Service Bus / Event Hubs SAS tokens;
//! - [`cosmos_auth`]: Cosmos DB master-key `authorization` headers;
//! - [`alternation`]: the Azure-Samples tag convention (`CredentialId`, `ProviderAddress`,
//!   `ValidityPeriodDays`): which key a secret holds, which one to regenerate.
//!
//! Secrets: keys come in and go out as [`SecretValue`]; errors ([`KeyError`]) say what is wrong
//! with a value, never what it is.

pub mod alternation;
pub mod cloud;
pub mod connection_string;
pub mod cosmos_auth;
pub mod sas;
pub mod storage_shared_key;

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use time::OffsetDateTime;
use url::Url;
use zeroize::Zeroizing;

use crate::model::SecretValue;

pub use cloud::Cloud;

/// A key or value that cannot be used. The message names the problem, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub(crate) String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// A request signed with a key, ready to send: the `authorization` header value is kept apart
/// as a [`SecretValue`] (it is a credential for as long as the service accepts its date), so
/// `Debug` never shows it.
#[derive(Clone)]
pub struct SignedRequest {
    pub method: &'static str,
    pub url: Url,
    /// Every header but `authorization`, in the order they were signed.
    pub headers: Vec<(String, String)>,
    authorization: SecretValue,
}

impl SignedRequest {
    pub fn new(
        method: &'static str,
        url: Url,
        headers: Vec<(String, String)>,
        authorization: SecretValue,
    ) -> SignedRequest {
        SignedRequest {
            method,
            url,
            headers,
            authorization,
        }
    }

    /// The `authorization` header's value.
    pub fn authorization(&self) -> &SecretValue {
        &self.authorization
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("authorization", &"<redacted>")
            .finish()
    }
}

/// Base64 (standard alphabet, padded) of HMAC-SHA256(`key`, `message`).
pub(crate) fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, message);
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// A key that is base64 (storage and Cosmos DB keys are), decoded; `what` names it in the
/// error. The bytes are wiped when dropped.
pub(crate) fn decode_base64_key(
    key: &SecretValue,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = key.expose().trim();
    if text.is_empty() {
        return Err(KeyError(format!("the {what} is empty")));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| {
            KeyError(format!(
                "the {what} is not base64 (the service's keys are; was a connection string or a SAS token given instead?)"
            ))
        })
}

/// RFC 1123 in GMT, as `x-ms-date` wants it: `Sun, 11 Oct 2009 21:49:13 GMT`.
pub fn http_date(now: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("an RFC 1123 date always formats")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn http_dates_are_rfc_1123_in_gmt() {
        assert_eq!(
            http_date(datetime!(2009-10-11 21:49:13 UTC)),
            "Sun, 11 Oct 2009 21:49:13 GMT"
        );
        // Another offset is converted, not relabelled.
        assert_eq!(
            http_date(datetime!(2017-04-27 02:51:12 +02:00)),
            "Thu, 27 Apr 2017 00:51:12 GMT"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let b64 = hmac_sha256_base64(b"Jefe", b"what do ya want for nothing?");
        let hex: String = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_bad_key_error_never_quotes_the_key() {
        let key = SecretValue::new("not-base64-but-secret!".to_owned());
        let error = decode_base64_key(&key, "storage account key").unwrap_err();
        assert!(!error.to_string().contains("secret!"), "{error}");
        assert!(error.to_string().contains("not base64"), "{error}");
        let empty = decode_base64_key(&SecretValue::new(" ".into()), "k").unwrap_err();
        assert_eq!(empty.to_string(), "the k is empty");
    }

    #[test]
    fn signed_request_debug_hides_the_authorization() {
        let request = SignedRequest {
            method: "GET",
            url: Url::parse("https://a.blob.core.windows.net/?comp=list").unwrap(),
            headers: vec![("x-ms-version".into(), "2024-11-04".into())],
            authorization: SecretValue::new("SharedKey a:c2lnbmF0dXJl".into()),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("c2lnbmF0dXJl"), "{debug}");
        assert!(debug.contains("<redacted>") && debug.contains("x-ms-version"));
    }
}
