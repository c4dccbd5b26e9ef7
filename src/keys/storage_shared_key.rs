//! Azure Storage Shared Key authorization (Blob, Queue and File services, version 2009-09-19
//! and later), from the Azure Storage REST docs, "Authorize with Shared Key":
//!
//! ```text
//! StringToSign = VERB + "\n" + Content-Encoding + "\n" + Content-Language + "\n" +
//!                Content-Length + "\n" + Content-MD5 + "\n" + Content-Type + "\n" +
//!                Date + "\n" + If-Modified-Since + "\n" + If-Match + "\n" +
//!                If-None-Match + "\n" + If-Unmodified-Since + "\n" + Range + "\n" +
//!                CanonicalizedHeaders + CanonicalizedResource
//! Authorization = "SharedKey " + account + ":" + Base64(HMAC-SHA256(Base64Decode(key), UTF-8(StringToSign)))
//! ```
//!
//! - Content-Length is empty when it is 0 (version 2015-02-21 and later).
//! - CanonicalizedHeaders: every `x-ms-` header, name lower-cased, sorted by name, value with
//!   leading and trailing whitespace removed and runs of whitespace (outside quotes) folded to
//!   one space, each as `name:value\n`.
//! - CanonicalizedResource: `/{account}{encoded URI path}`, then for each query parameter,
//!   sorted by lower-cased name, `\n{name}:{decoded values sorted and joined by ','}`.
//!
//! The verification request keyrot signs is the cheapest call a key alone authorizes: list the
//! account's containers, one at most: `GET https://{account}.blob.{suffix}/?comp=list&maxresults=1`
//! with `x-ms-date` and `x-ms-version` (so the `Date` line stays empty, as the docs allow).

use std::collections::BTreeMap;

use time::OffsetDateTime;
use url::Url;

use super::{decode_base64_key, hmac_sha256_base64, http_date, Cloud, KeyError, SignedRequest};
use crate::model::SecretValue;

/// The Blob service version keyrot's verification request asks for.
pub const VERIFY_API_VERSION: &str = "2024-11-04";

/// The standard headers of the string-to-sign, in order (after the verb).
const STANDARD_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// The string-to-sign of a request to `account`'s Blob, Queue or File service. `headers` are
/// the request's headers (names in any case).
pub fn string_to_sign(method: &str, url: &Url, headers: &[(&str, &str)], account: &str) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let mut out = method.to_ascii_uppercase();
    out.push('\n');
    for name in STANDARD_HEADERS {
        let value = header(name);
        if !(name == "content-length" && value == "0") {
            out.push_str(value);
        }
        out.push('\n');
    }
    out.push_str(&canonicalized_headers(headers));
    out.push_str(&canonicalized_resource(url, account));
    out
}

/// `name:value\n` for each `x-ms-` header, sorted by lower-cased name.
pub fn canonicalized_headers(headers: &[(&str, &str)]) -> String {
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(n, v)| (n.to_ascii_lowercase(), fold_whitespace(v.trim())))
        .collect();
    ms.sort_by(|a, b| a.0.cmp(&b.0));
    ms.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
}

/// Runs of whitespace folded to one space, except inside double quotes.
fn fold_whitespace(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut quoted = false;
    let mut last_space = false;
    for c in value.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// `/{account}{path}` and the sorted, decoded query parameters.
pub fn canonicalized_resource(url: &Url, account: &str) -> String {
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    let mut out = format!("/{account}{path}");
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        params
            .entry(name.to_lowercase())
            .or_default()
            .push(value.into_owned());
    }
    for (name, mut values) in params {
        values.sort();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

/// `SharedKey {account}:{signature}` for a string-to-sign.
pub fn authorization(
    account: &str,
    key: &SecretValue,
    string_to_sign: &str,
) -> Result<SecretValue, KeyError> {
    let key = decode_base64_key(key, "storage account key")?;
    let signature = hmac_sha256_base64(&key, string_to_sign.as_bytes());
    Ok(SecretValue::new(format!("SharedKey {account}:{signature}")))
}

/// The signed request that proves `key` works for `account`: list one container.
pub fn verification_request(
    cloud: Cloud,
    account: &str,
    key: &SecretValue,
    now: OffsetDateTime,
) -> Result<SignedRequest, KeyError> {
    let url = Url::parse(&format!(
        "https://{}/?comp=list&maxresults=1",
        cloud.blob_host(account)
    ))
    .map_err(|e| KeyError(format!("no blob URL for account {account:?}: {e}")))?;
    let date = http_date(now);
    let headers = [
        ("x-ms-date", date.as_str()),
        ("x-ms-version", VERIFY_API_VERSION),
    ];
    let authorization = authorization(
        account,
        key,
        &string_to_sign("GET", &url, &headers, account),
    )?;
    Ok(SignedRequest {
        method: "GET",
        url,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Azurite's published development account key (not a secret; Azure Storage docs, "Use the
    /// Azurite emulator", well-known storage account and key).
    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn documented_canonicalized_resource_examples() {
        // "Shared Key format for 2009-09-19 and later", the docs' own examples.
        let url = Url::parse(
            "https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata",
        )
        .unwrap();
        assert_eq!(
            canonicalized_resource(&url, "myaccount"),
            "/myaccount/mycontainer\ncomp:metadata\nrestype:container"
        );
        let url = Url::parse(
            "https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=list&include=snapshots&include=metadata&include=uncommittedblobs",
        )
        .unwrap();
        assert_eq!(
            canonicalized_resource(&url, "myaccount"),
            "/myaccount/mycontainer\ncomp:list\ninclude:metadata,snapshots,uncommittedblobs\nrestype:container"
        );
        // Names are lower-cased, values decoded.
        let url = Url::parse("https://a.blob.core.windows.net/c?Prefix=a%2Fb+c&COMP=list").unwrap();
        assert_eq!(
            canonicalized_resource(&url, "a"),
            "/a/c\ncomp:list\nprefix:a/b c"
        );
    }

    #[test]
    fn canonicalized_headers_sort_lowercase_and_fold() {
        let headers = [
            ("X-MS-Version", "2024-11-04"),
            ("x-ms-date", "  Sun, 11 Oct 2009   21:49:13 GMT "),
            ("x-ms-meta-q", "\"a   b\"  c"),
            ("Content-Type", "text/plain"),
        ];
        assert_eq!(
            canonicalized_headers(&headers),
            "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-meta-q:\"a   b\" c\nx-ms-version:2024-11-04\n"
        );
    }

    #[test]
    fn the_string_to_sign_has_twelve_lines_before_the_headers() {
        let url = Url::parse("https://a.blob.core.windows.net/?comp=list&maxresults=1").unwrap();
        let sts = string_to_sign(
            "get",
            &url,
            &[
                ("x-ms-date", "Sun, 11 Oct 2009 21:49:13 GMT"),
                ("x-ms-version", "2024-11-04"),
                ("Content-Length", "0"),
            ],
            "a",
        );
        assert_eq!(
            sts,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2024-11-04\n/a/\ncomp:list\nmaxresults:1"
        );
        // A non-zero Content-Length and other standard headers land on their own lines.
        let sts = string_to_sign(
            "PUT",
            &url,
            &[
                ("content-length", "11"),
                ("Content-Type", "text/plain"),
                ("Range", "bytes=0-9"),
            ],
            "a",
        );
        let lines: Vec<&str> = sts.split('\n').collect();
        assert_eq!(lines[3], "11");
        assert_eq!(lines[5], "text/plain");
        assert_eq!(lines[11], "bytes=0-9");
    }

    #[test]
    fn verification_request_matches_an_independent_signer() {
        // Expected value: Python's hmac/hashlib/base64 over the documented string-to-sign
        // (printed in the comment below), keyed by the base64-decoded Azurite key.
        //   GET\n x11 \nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2024-11-04\n/devstoreaccount1/\ncomp:list\nmaxresults:1
        let key = SecretValue::new(DEV_KEY.to_owned());
        let request = verification_request(
            Cloud::Public,
            "devstoreaccount1",
            &key,
            datetime!(2009-10-11 21:49:13 UTC),
        )
        .unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.url.as_str(),
            "https://devstoreaccount1.blob.core.windows.net/?comp=list&maxresults=1"
        );
        assert_eq!(
            request.headers,
            vec![
                (
                    "x-ms-date".to_owned(),
                    "Sun, 11 Oct 2009 21:49:13 GMT".to_owned()
                ),
                ("x-ms-version".to_owned(), VERIFY_API_VERSION.to_owned()),
            ]
        );
        assert_eq!(
            request.authorization().expose(),
            "SharedKey devstoreaccount1:5qx24qm3i7F7GCu+aCvUG6VTgSU89RuNz3OdgMbN9ZM="
        );
        let emulator = verification_request(
            Cloud::Emulator { port: 8443 },
            "sto1",
            &key,
            datetime!(2009-10-11 21:49:13 UTC),
        )
        .unwrap();
        assert_eq!(
            emulator.url.as_str(),
            "https://sto1.blob.localhost:8443/?comp=list&maxresults=1"
        );
    }

    #[test]
    fn a_key_that_is_not_base64_is_refused_without_being_quoted() {
        let key = SecretValue::new("DefaultEndpointsProtocol=https;AccountKey=abc".to_owned());
        let error = verification_request(Cloud::Public, "a", &key, datetime!(2020-01-01 0:00 UTC))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not base64"), "{error}");
        assert!(!error.contains("AccountKey=abc"), "{error}");
    }
}
