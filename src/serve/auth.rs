//! Who may deliver events: Event Grid with an Entra token for the configured app (signature
//! against the tenant's published keys, issuer, audience, the
//! `AzureEventGridSecureWebhookSubscriber` role), or anyone holding `KEYROT_SERVE_KEY` as
//! `?key=`. Under the Functions host keyrot listens on loopback and the host authenticates.
//! Every refusal is a 401 that says what was missing, never what was sent.

use std::collections::HashMap;
use std::sync::Arc;

use azure_core::http::{HttpClient as _, Method, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;
use url::Url;

use crate::model::SecretValue;
use crate::transport::KeyrotTransport;

/// The app role Event Grid's first-party app is given on the webhook's app registration.
pub const EVENT_GRID_ROLE: &str = "AzureEventGridSecureWebhookSubscriber";

/// Clock skew allowed on `exp` and `nbf`.
const SKEW: Duration = Duration::minutes(5);

/// How often unknown signing keys may send keyrot back to the tenant's key list.
const REFRESH_AT_MOST_EVERY: Duration = Duration::minutes(5);

/// How `/events` callers are authenticated.
pub enum Gate {
    /// `KEYROT_SERVE_KEY`: `?key=` must equal it (constant-time).
    Key(SecretValue),
    Entra(Box<EntraGate>),
    /// The Functions host in front (loopback only), or `--insecure-local`.
    Open,
}

impl Gate {
    /// `Ok` when the request may be served; else the 401's reason.
    pub async fn admit(
        &self,
        query: Option<&str>,
        authorization: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        match self {
            Gate::Open => Ok(()),
            Gate::Key(expected) => {
                let given = query.and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "key")
                        .map(|(_, v)| v.into_owned())
                });
                let Some(given) = given else {
                    return Err("this endpoint needs ?key= (KEYROT_SERVE_KEY)".into());
                };
                let given = SecretValue::new(given);
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    given.expose().as_bytes(),
                    expected.expose().as_bytes(),
                )
                .map_err(|_| "the key does not match".to_string())
            }
            Gate::Entra(gate) => {
                let token = authorization
                    .and_then(|h| {
                        let (scheme, token) = h.trim().split_once(' ')?;
                        scheme
                            .eq_ignore_ascii_case("bearer")
                            .then_some(token.trim())
                    })
                    .ok_or("this endpoint needs an Entra bearer token (Authorization: Bearer)")?;
                gate.verify(token, now).await
            }
        }
    }
}

/// Entra-protected delivery: the tenant's signing keys, fetched from its OpenID configuration
/// and cached.
pub struct EntraGate {
    tenant: String,
    audience: String,
    authority: Url,
    transport: Arc<KeyrotTransport>,
    keys: Mutex<Option<Published>>,
}

/// What the tenant's OpenID configuration and key list said.
struct Published {
    issuer: String,
    keys: HashMap<String, (Vec<u8>, Vec<u8>)>,
    fetched_at: OffsetDateTime,
}

impl EntraGate {
    pub fn new(
        tenant: String,
        audience: String,
        authority: Url,
        transport: Arc<KeyrotTransport>,
    ) -> EntraGate {
        EntraGate {
            tenant,
            audience,
            authority,
            transport,
            keys: Mutex::new(None),
        }
    }

    async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<(), String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the bearer token is not a JWT".into());
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('='));
        let header: Value = decode(header)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the bearer token's header does not decode")?;
        let claims: Value = decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the bearer token's claims do not decode")?;
        let signature =
            decode(signature).map_err(|_| "the bearer token's signature does not decode")?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("the bearer token is not signed with RS256".into());
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or("the bearer token names no signing key (kid)")?;
        let (key, issuer) = self.key(kid, now).await?;
        let signed = &token[..token.rfind('.').unwrap_or(0)];
        aws_lc_rs::signature::RsaPublicKeyComponents {
            n: key.0.as_slice(),
            e: key.1.as_slice(),
        }
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        )
        .map_err(|_| "the bearer token's signature does not verify against the tenant's keys")?;
        self.judge(&claims, &issuer, now)
    }

    /// The claims, once the signature holds.
    fn judge(&self, claims: &Value, issuer: &str, now: OffsetDateTime) -> Result<(), String> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let time = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_i64)
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        };
        let exp = time("exp").ok_or("the bearer token has no exp")?;
        if exp + SKEW < now {
            return Err("the bearer token has expired".into());
        }
        if time("nbf").is_some_and(|nbf| nbf - SKEW > now) {
            return Err("the bearer token is not valid yet".into());
        }
        let v1_issuer = format!("https://sts.windows.net/{}/", self.tenant);
        match text("iss") {
            Some(iss) if iss == issuer || iss == v1_issuer => {}
            _ => {
                return Err(format!(
                    "the bearer token was not issued by tenant {}",
                    self.tenant
                ))
            }
        }
        if text("tid").is_some_and(|tid| !tid.eq_ignore_ascii_case(&self.tenant)) {
            return Err(format!(
                "the bearer token belongs to another tenant than {}",
                self.tenant
            ));
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == &self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(format!(
                "the bearer token is not for this webhook's app ({})",
                self.audience
            ));
        }
        let has_role = claims
            .get("roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(EVENT_GRID_ROLE)));
        if !has_role {
            return Err(format!("the bearer token lacks the {EVENT_GRID_ROLE} role"));
        }
        Ok(())
    }

    /// The key `kid` and the tenant's issuer; refetched when the key is unknown (a rollover),
    /// at most every few minutes.
    async fn key(
        &self,
        kid: &str,
        now: OffsetDateTime,
    ) -> Result<((Vec<u8>, Vec<u8>), String), String> {
        let mut cached = self.keys.lock().await;
        let stale = cached.as_ref().is_none_or(|p| {
            !p.keys.contains_key(kid) && now - p.fetched_at >= REFRESH_AT_MOST_EVERY
                || now - p.fetched_at >= Duration::hours(24)
        });
        if stale {
            match self.fetch(now).await {
                Ok(published) => *cached = Some(published),
                Err(e) if cached.is_none() => return Err(e),
                Err(e) => tracing::warn!("serve: could not refresh the tenant's signing keys: {e}"),
            }
        }
        let published = cached
            .as_ref()
            .ok_or("the tenant's signing keys are unknown")?;
        let key = published
            .keys
            .get(kid)
            .ok_or("the bearer token's signing key is not one of the tenant's")?;
        Ok((key.clone(), published.issuer.clone()))
    }

    async fn fetch(&self, now: OffsetDateTime) -> Result<Published, String> {
        let discovery = self
            .authority
            .join(&format!(
                "{}/v2.0/.well-known/openid-configuration",
                self.tenant
            ))
            .map_err(|e| format!("bad authority host: {e}"))?;
        let config = self.get_json(&discovery).await?;
        let issuer = config
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or("the OpenID configuration names no issuer")?
            .replace("{tenantid}", &self.tenant);
        let jwks = config
            .get("jwks_uri")
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok())
            .ok_or("the OpenID configuration names no jwks_uri")?;
        // Keys come from the authority itself, never from wherever a document points.
        if jwks.origin() != self.authority.origin() {
            return Err("the OpenID configuration's jwks_uri is on another origin".into());
        }
        let list = self.get_json(&jwks).await?;
        let mut keys = HashMap::new();
        for key in list
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |name: &str| {
                key.get(name)
                    .and_then(Value::as_str)
                    .and_then(|v| URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok())
            };
            let (Some(kid), Some("RSA"), Some(n), Some(e)) = (
                key.get("kid").and_then(Value::as_str),
                key.get("kty").and_then(Value::as_str),
                field("n"),
                field("e"),
            ) else {
                continue;
            };
            keys.insert(kid.to_string(), (n, e));
        }
        Ok(Published {
            issuer,
            keys,
            fetched_at: now,
        })
    }

    async fn get_json(&self, url: &Url) -> Result<Value, String> {
        let request = Request::new(url.clone(), Method::Get);
        let response = self
            .transport
            .execute_request(&request)
            .await
            .map_err(|e| format!("cannot read {url}: {e}"))?;
        let status = u16::from(response.status());
        let body = response.into_body().collect().await.unwrap_or_default();
        if status != 200 {
            return Err(format!("{url} answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not answer JSON"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gate() -> EntraGate {
        let transport = Arc::new(
            KeyrotTransport::new(&crate::transport::TransportConfig {
                extra_roots: Vec::new(),
                budget: std::time::Duration::from_secs(5),
                scope: crate::transport::BudgetScope::EachCall,
            })
            .unwrap(),
        );
        EntraGate::new(
            "72f988bf-0000-4000-8000-00000000e001".into(),
            "api://keyrot-events".into(),
            Url::parse("https://login.microsoftonline.com/").unwrap(),
            transport,
        )
    }

    const ISSUER: &str =
        "https://login.microsoftonline.com/72f988bf-0000-4000-8000-00000000e001/v2.0";

    fn claims(now: i64) -> Value {
        json!({"aud": "api://keyrot-events", "iss": ISSUER, "tid": "72f988bf-0000-4000-8000-00000000e001",
            "exp": now + 3600, "nbf": now - 10, "roles": [EVENT_GRID_ROLE],
            "appid": "4962773b-9cdb-44cf-a8bf-237846a00ab7"})
    }

    #[test]
    fn the_claims_event_grid_sends_pass() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let t = now.unix_timestamp();
        let g = gate();
        assert_eq!(g.judge(&claims(t), ISSUER, now), Ok(()));
        let v1 = json!({"iss": "https://sts.windows.net/72f988bf-0000-4000-8000-00000000e001/"});
        let mut c = claims(t);
        c.as_object_mut()
            .unwrap()
            .extend(v1.as_object().unwrap().clone());
        assert_eq!(g.judge(&c, ISSUER, now), Ok(()));
    }

    #[test]
    fn each_wrong_claim_is_refused() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let t = now.unix_timestamp();
        let g = gate();
        let cases = [
            ("aud", json!("api://other")),
            ("iss", json!("https://login.microsoftonline.com/other/v2.0")),
            ("tid", json!("other")),
            ("exp", json!(t - 3600)),
            ("nbf", json!(t + 3600)),
            ("roles", json!(["Something.Else"])),
            ("roles", Value::Null),
        ];
        for (key, value) in cases {
            let mut c = claims(t);
            c[key] = value.clone();
            assert!(g.judge(&c, ISSUER, now).is_err(), "{key} = {value}");
        }
    }

    #[tokio::test]
    async fn the_key_is_compared_whole() {
        let gate = Gate::Key(SecretValue::new("s3cret-key".to_string()));
        let now = OffsetDateTime::now_utc();
        assert!(gate.admit(Some("key=s3cret-key"), None, now).await.is_ok());
        assert!(gate
            .admit(Some("a=1&key=s3cret-key"), None, now)
            .await
            .is_ok());
        for q in [
            None,
            Some(""),
            Some("key="),
            Some("key=s3cret"),
            Some("key=s3cret-key2"),
            Some("kee=s3cret-key"),
        ] {
            let refused = gate.admit(q, None, now).await.unwrap_err();
            assert!(!refused.contains("s3cret"), "{refused}");
        }
        let entra = Gate::Entra(Box::new(gate_for_header()));
        for h in [None, Some("Basic abc"), Some("Bearer not-a-jwt")] {
            assert!(entra.admit(None, h, now).await.is_err(), "{h:?}");
        }
    }

    fn gate_for_header() -> EntraGate {
        gate()
    }
}
