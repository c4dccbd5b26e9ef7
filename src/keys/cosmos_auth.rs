//! Cosmos DB master-key authorization, from the Cosmos DB REST docs, "Access control in the
//! Azure Cosmos DB SQL API" (constructing the hash token signature for a master token):
//!
//! ```text
//! payload = lower(verb) + "\n" + lower(resourceType) + "\n" + resourceLink + "\n" +
//!           lower(date) + "\n" + "" + "\n"
//! sig     = Base64(HMAC-SHA256(Base64Decode(masterKey), UTF-8(payload)))
//! header  = encodeURIComponent("type=master&ver=1.0&sig=" + sig)
//! ```
//!
//! `date` is the request's `x-ms-date` (RFC 1123), lower-cased only inside the payload;
//! `resourceLink` keeps its case. The verification request keyrot signs reads the account:
//! `GET {endpoint}` (empty resource type and link), which any of the four keys may do and which
//! changes nothing.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::OffsetDateTime;
use url::Url;

use super::{decode_base64_key, hmac_sha256_base64, http_date, Cloud, KeyError, SignedRequest};
use crate::model::SecretValue;

/// The Cosmos DB REST API version of keyrot's verification request.
pub const VERIFY_API_VERSION: &str = "2018-12-31";

/// What `encodeURIComponent` leaves alone: ASCII letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The payload the signature is computed over.
pub fn string_to_sign(verb: &str, resource_type: &str, resource_link: &str, date: &str) -> String {
    format!(
        "{}\n{}\n{resource_link}\n{}\n\n",
        verb.to_lowercase(),
        resource_type.to_lowercase(),
        date.to_lowercase()
    )
}

/// The `authorization` header for a request signed with a master key.
pub fn authorization(
    verb: &str,
    resource_type: &str,
    resource_link: &str,
    date: &str,
    key: &SecretValue,
) -> Result<SecretValue, KeyError> {
    let key = decode_base64_key(key, "Cosmos DB key")?;
    let payload = string_to_sign(verb, resource_type, resource_link, date);
    let signature = hmac_sha256_base64(&key, payload.as_bytes());
    Ok(SecretValue::new(
        utf8_percent_encode(
            &format!("type=master&ver=1.0&sig={signature}"),
            URI_COMPONENT,
        )
        .to_string(),
    ))
}

/// The signed request that proves `key` works for `account`: read the account.
pub fn verification_request(
    cloud: Cloud,
    account: &str,
    key: &SecretValue,
    now: OffsetDateTime,
) -> Result<SignedRequest, KeyError> {
    let url = Url::parse(&cloud.cosmos_endpoint(account))
        .map_err(|e| KeyError(format!("no Cosmos DB URL for account {account:?}: {e}")))?;
    let date = http_date(now);
    let authorization = authorization("GET", "", "", &date, key)?;
    Ok(SignedRequest {
        method: "GET",
        url,
        headers: vec![
            ("x-ms-date".to_owned(), date),
            ("x-ms-version".to_owned(), VERIFY_API_VERSION.to_owned()),
        ],
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// The docs' example key ("Example Encoding"; not a real key).
    const DOC_KEY: &str =
        "dsZQi3KtZmCv1ljt3VNWNm7sQUF1y5rJfC6kv5JiwvW0EndXdDku/dkKBp8/ufDToSxLzR4y+O/0H/t4bQtVNw==";

    #[test]
    fn documented_example_encoding() {
        // Cosmos DB REST docs, "Access control…", Example Encoding: GET, "dbs", "dbs/ToDoList",
        // "Thu, 27 Apr 2017 00:51:12 GMT" → type%3dmaster%26ver%3d1.0%26sig%3dc09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2bc%2bc%3d
        // (the docs print the escapes in lower case; encodeURIComponent, which their sample
        // calls, writes them in upper case, and so does keyrot).
        let key = SecretValue::new(DOC_KEY.to_owned());
        let header = authorization(
            "GET",
            "dbs",
            "dbs/ToDoList",
            "Thu, 27 Apr 2017 00:51:12 GMT",
            &key,
        )
        .unwrap();
        assert_eq!(
            header.expose(),
            "type%3Dmaster%26ver%3D1.0%26sig%3Dc09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2Bc%2Bc%3D"
        );
        assert!(header.expose().eq_ignore_ascii_case(
            "type%3dmaster%26ver%3d1.0%26sig%3dc09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2bc%2bc%3d"
        ));
        assert_eq!(
            string_to_sign(
                "GET",
                "DBS",
                "dbs/ToDoList",
                "Thu, 27 Apr 2017 00:51:12 GMT"
            ),
            "get\ndbs\ndbs/ToDoList\nthu, 27 apr 2017 00:51:12 gmt\n\n"
        );
    }

    #[test]
    fn verification_request_reads_the_account() {
        // The signature computed with Python's hmac over "get\n\n\nthu, 27 apr 2017
        // 00:51:12 gmt\n\n" with the docs' key, then urllib.parse.quote(…, safe="-_.!~*'()").
        let key = SecretValue::new(DOC_KEY.to_owned());
        let request = verification_request(
            Cloud::Public,
            "db1",
            &key,
            datetime!(2017-04-27 0:51:12 UTC),
        )
        .unwrap();
        assert_eq!(request.url.as_str(), "https://db1.documents.azure.com/");
        assert_eq!(
            request.headers[0],
            (
                "x-ms-date".to_owned(),
                "Thu, 27 Apr 2017 00:51:12 GMT".to_owned()
            )
        );
        assert_eq!(
            request.authorization().expose(),
            "type%3Dmaster%26ver%3D1.0%26sig%3Drp533%2Fe%2BAfAi87cI2Vg1QmCqQY1Ki3ryYkABWMvF9xw%3D"
        );
        let emulator = verification_request(
            Cloud::Emulator { port: 8443 },
            "db1",
            &key,
            datetime!(2017-04-27 0:51:12 UTC),
        )
        .unwrap();
        assert_eq!(
            emulator.url.as_str(),
            "https://db1.documents.localhost:8443/"
        );
        assert!(!format!("{emulator:?}").contains("rp533"));
    }

    #[test]
    fn a_bad_key_is_refused_without_being_quoted() {
        let key = SecretValue::new("AccountEndpoint=x;AccountKey=zzz".to_owned());
        let error = authorization("GET", "dbs", "", "d", &key)
            .unwrap_err()
            .to_string();
        assert!(error.contains("Cosmos DB key is not base64"), "{error}");
        assert!(!error.contains("zzz"));
    }
}
