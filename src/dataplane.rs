//! The only code that sends key-signed requests to the services' data planes: the proof,
//! before a regenerated key is committed, that the service accepts it.
//!
//! - Storage: `GET https://{account}.blob.{suffix}/?comp=list&maxresults=1` with Shared Key.
//! - Service Bus / Event Hubs: `GET https://{namespace}.{host}/{entity}` (for a namespace's
//!   rule, `/$Resources/queues` or `/$Resources/eventhubs`) with a SAS token from the key.
//!   Only the rule's signature is being proven, not its rights: a rule with `Send` or
//!   `Listen` alone is refused this read with 401 "… claim(s) are required", which the service
//!   says only *after* the signature checked out, and so counts as accepted; so does 404 for
//!   an entity that is gone. Every other 401 (`InvalidSignature`, `ExpiredToken`, …) does not.
//!   Nothing is sent or received: the read has no side effect.
//! - Cosmos DB: `GET {endpoint}dbs` signed with the master key.
//!
//! The `authorization` header goes to the data plane's own origin only (the transport is bound
//! to it), and no key, signature or token is in any URL or message here: a failure names the
//! request, the status and the service's error code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::http::{HttpClient, Method, Request};
use time::OffsetDateTime;

use crate::keys::{cosmos_auth, sas, storage_shared_key, Cloud, SignedRequest};
use crate::model::SecretValue;
use crate::transport::{cause_chain, one_line, KeyrotTransport};

/// Whose key is being proven.
#[derive(Debug, Clone)]
pub enum Target<'a> {
    StorageAccount {
        account: &'a str,
    },
    /// A Service Bus or Event Hubs SAS rule (`event_hubs` picks the namespace-level listing).
    SasRule {
        namespace: &'a str,
        entity: Option<&'a str>,
        rule: &'a str,
        event_hubs: bool,
    },
    CosmosAccount {
        account: &'a str,
    },
}

/// How long a SAS token for the proof lives.
const SAS_TTL: time::Duration = time::Duration::minutes(5);

/// The signed request that proves `key` for `target` at `now`.
pub fn request(
    cloud: Cloud,
    target: &Target<'_>,
    key: &SecretValue,
    now: OffsetDateTime,
) -> Result<SignedRequest, String> {
    match target {
        Target::StorageAccount { account } => {
            storage_shared_key::verification_request(cloud, account, key, now)
                .map_err(|e| e.to_string())
        }
        Target::CosmosAccount { account } => {
            cosmos_auth::verification_request(cloud, account, key, now).map_err(|e| e.to_string())
        }
        Target::SasRule {
            namespace,
            entity,
            rule,
            event_hubs,
        } => {
            let path = match entity {
                Some(entity) => entity.to_string(),
                None if *event_hubs => "$Resources/eventhubs".to_string(),
                None => "$Resources/queues".to_string(),
            };
            let url = url::Url::parse(&format!(
                "https://{}/{path}",
                cloud.service_bus_host(namespace)
            ))
            .map_err(|e| format!("no URL for namespace {namespace:?}: {e}"))?;
            let audience = sas::resource_uri(cloud, namespace, *entity);
            let token = sas::token_valid_for(&audience, rule, key, now, SAS_TTL)
                .map_err(|e| e.to_string())?;
            Ok(SignedRequest::new(
                "GET",
                url,
                vec![("x-ms-version".into(), "2017-04".into())],
                token,
            ))
        }
    }
}

/// The service's verdict on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Refused (`401 InvalidSignature`, `403 AuthenticationFailed`, …): said in one line.
    Refused(String),
    /// Not an answer about the key (5xx, transport): worth asking again.
    Unsure(String),
}

/// Judges an answer (see the module docs).
pub fn judge(target: &Target<'_>, status: u16, body: &str) -> Verdict {
    let code = error_code(body);
    let said = || match &code {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    };
    match (target, status) {
        (_, 200..=299) => Verdict::Accepted,
        (Target::SasRule { .. }, 401) if body.contains("claim(s) are required") => {
            Verdict::Accepted
        }
        (Target::SasRule { .. }, 404) => Verdict::Accepted,
        (_, 408 | 429 | 500..=599) => Verdict::Unsure(format!("the service answered {}", said())),
        _ => Verdict::Refused(format!("the service refused it: {}", said())),
    }
}

/// The service's error code from an XML (`<Code>`) or JSON (`"code"`) error body, if it looks
/// like a code (letters and digits only: error bodies are outside text).
fn error_code(body: &str) -> Option<String> {
    let from_xml = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code);
    let from_json = || {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
    };
    let code = from_xml.map(str::to_owned).or_else(from_json)?;
    let code = code.trim();
    (!code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| code.to_owned())
}

/// Sends the proof until the service accepts `key` or `timeout` passes (a regenerated key can
/// take a moment to reach every front end), once a second.
pub async fn prove(
    transport: &KeyrotTransport,
    cloud: Cloud,
    target: &Target<'_>,
    key: &SecretValue,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match once(transport, cloud, target, key).await {
            Ok(Verdict::Accepted) => return Ok(()),
            Ok(Verdict::Refused(why) | Verdict::Unsure(why)) | Err(why) => why,
        };
        if Instant::now() + Duration::from_secs(1) > deadline {
            return Err(format!(
                "the service did not accept the new key within {}s: {last}",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn once(
    transport: &KeyrotTransport,
    cloud: Cloud,
    target: &Target<'_>,
    key: &SecretValue,
) -> Result<Verdict, String> {
    let signed = request(cloud, target, key, OffsetDateTime::now_utc())?;
    let what = format!("GET {}", signed.url.path());
    let http: Arc<dyn HttpClient> = transport.for_origins([signed.url.origin()]);
    let mut request = Request::new(signed.url.clone(), Method::Get);
    for (name, value) in &signed.headers {
        request.insert_header(name.to_ascii_lowercase(), value.clone());
    }
    request.insert_header("authorization", signed.authorization().expose().to_owned());
    let response = http
        .execute_request(&request)
        .await
        .map_err(|e| format!("{what}: {}", cause_chain(&e)))?;
    let status = u16::from(response.status());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{what}: {}", cause_chain(&e)))?;
    let body = String::from_utf8_lossy(&body);
    Ok(match judge(target, status, &body) {
        Verdict::Accepted => Verdict::Accepted,
        Verdict::Refused(why) => Verdict::Refused(format!("{what}: {}", one_line(200, &why))),
        Verdict::Unsure(why) => Verdict::Unsure(format!("{what}: {}", one_line(200, &why))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SB: Target<'static> = Target::SasRule {
        namespace: "orders-bus",
        entity: Some("orders"),
        rule: "send",
        event_hubs: false,
    };

    #[test]
    fn a_missing_right_proves_the_signature_but_a_bad_signature_does_not() {
        let claims = "<Error><Code>401</Code><Detail>Unauthorized access. 'Manage' claim(s) are required to perform this operation.</Detail></Error>";
        assert_eq!(judge(&SB, 401, claims), Verdict::Accepted);
        let bad = "<Error><Code>401</Code><Detail>InvalidSignature: The token has an invalid signature</Detail></Error>";
        assert!(matches!(judge(&SB, 401, bad), Verdict::Refused(_)));
        assert_eq!(judge(&SB, 404, "gone"), Verdict::Accepted);
        assert_eq!(judge(&SB, 200, ""), Verdict::Accepted);
    }

    #[test]
    fn storage_and_cosmos_accept_only_success() {
        let st = Target::StorageAccount { account: "sto1" };
        let body = "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>x</Message></Error>";
        assert_eq!(
            judge(&st, 403, body),
            Verdict::Refused("the service refused it: 403 AuthenticationFailed".into())
        );
        // A 401 that mentions claims proves nothing for storage.
        assert!(matches!(
            judge(&st, 401, "claim(s) are required"),
            Verdict::Refused(_)
        ));
        let cosmos = Target::CosmosAccount { account: "ddb1" };
        assert!(matches!(
            judge(&cosmos, 401, r#"{"code":"Unauthorized","message":"m"}"#),
            Verdict::Refused(m) if m.ends_with("401 Unauthorized")
        ));
        assert!(matches!(judge(&cosmos, 503, ""), Verdict::Unsure(_)));
    }

    #[test]
    fn a_hostile_error_code_is_not_repeated() {
        let st = Target::StorageAccount { account: "sto1" };
        let body = "<Error><Code>##vso[task.setvariable variable=x]1</Code></Error>";
        assert_eq!(
            judge(&st, 403, body),
            Verdict::Refused("the service refused it: 403".into())
        );
    }

    #[test]
    fn the_sas_proof_reads_the_entity_or_the_namespace_listing() {
        let key = SecretValue::new("c2VjcmV0LWtleQ==".into());
        let now = time::macros::datetime!(2026-12-05 10:00 UTC);
        let cloud = Cloud::Public;
        let entity = request(cloud, &SB, &key, now).unwrap();
        assert_eq!(
            entity.url.as_str(),
            "https://orders-bus.servicebus.windows.net/orders"
        );
        let namespace = Target::SasRule {
            namespace: "orders-bus",
            entity: None,
            rule: "RootManageSharedAccessKey",
            event_hubs: true,
        };
        let listing = request(cloud, &namespace, &key, now).unwrap();
        assert_eq!(listing.url.path(), "/$Resources/eventhubs");
        // The token is in the header only, and no URL carries the key.
        assert!(listing
            .authorization()
            .expose()
            .starts_with("SharedAccessSignature sr="));
        assert!(!listing.url.as_str().contains("c2VjcmV0"));
        assert!(!format!("{listing:?}").contains("SharedAccessSignature"));
    }
}
