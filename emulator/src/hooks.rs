//! `hooks.localhost`: a sink for the notifications keyrot sends, judging each delivery as the
//! real receiver would.
//!
//! | route | path | answer |
//! |---|---|---|
//! | `hooks.teams` | `POST /teams/{name}` | 202 always (a Teams Workflows trigger runs its flow afterwards); the delivery is `accepted` when the body is the Adaptive Card envelope, else `flow_failed` with the flow's own error text |
//! | `hooks.slack` | `POST /slack/{name}` | 200 `ok`, or 400 `invalid_payload` (not JSON) / `no_text` (neither `text` nor `blocks`) |
//! | `hooks.webhook` | `POST /webhook/{name}` | Standard Webhooks: 204 when the `webhook-signature` matches the seeded `whsec_` secret and `webhook-timestamp` is within 5 minutes, else 401; 404 for a name not seeded |
//!
//! Seed: `[[hooks.webhook]] name = "ops", secret = "whsec_…"`. Every delivery is recorded
//! ([`Emulator::hook_deliveries`], `GET /_admin/hooks`); signing secrets never leave the
//! emulator.

use std::collections::HashMap;

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::{Req, Resp};
use crate::seed::Redacted;
use crate::state::Shared;
use crate::Emulator;

/// How far `webhook-timestamp` may be from the emulator's clock (the reference libraries'
/// tolerance).
const TOLERANCE_SECONDS: i64 = 5 * 60;

/// The error a Teams Workflows flow run records when the body has no `attachments` array
/// (MicrosoftDocs/msteams-docs#11302).
pub const FLOW_NO_ATTACHMENTS: &str = "The execution of template action 'Send_each_adaptive_card' failed: the result of the evaluation of 'foreach' expression '@triggerOutputs()?['body']?['attachments']' is of type 'Null'. The result must be a valid array.";
/// The error when an attachment's content is not an Adaptive Card.
pub const FLOW_NOT_A_CARD: &str = "Property 'type' must be 'AdaptiveCard'.";
const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// `[hooks]` in a seed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSeed {
    /// Generic Standard Webhooks receivers, `POST /webhook/{name}`.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookSeed>,
}

/// `[[hooks.webhook]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSeed {
    pub name: String,
    /// The signing secret, `whsec_` + base64.
    pub secret: Redacted,
}

/// Which receiver a delivery went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    Teams,
    Slack,
    Webhook,
}

/// What the receiver made of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "detail")]
pub enum HookVerdict {
    /// Teams: the flow ran and posted the card.
    Accepted,
    /// Teams: the trigger answered 202, then the flow run failed with this error.
    FlowFailed(String),
    /// Slack: `ok`.
    Ok,
    /// Slack: 400 with this error (`invalid_payload`, `no_text`).
    Refused(String),
    /// Webhook: the signature matched.
    Valid,
    /// Webhook: 401, for this reason.
    Invalid(String),
    /// A fault rule answered instead of the receiver.
    Fault(u16),
}

/// One recorded delivery.
#[derive(Clone, Debug, Serialize)]
pub struct HookDelivery {
    pub name: String,
    pub kind: HookKind,
    pub headers: Vec<(String, String)>,
    /// The body as sent (lossy UTF-8; every receiver here takes JSON).
    pub body: String,
    #[serde(flatten)]
    pub verdict: HookVerdict,
    /// The status answered.
    pub status: u16,
}

/// The sink's state: seeded secrets and the deliveries so far.
#[derive(Debug, Default)]
pub struct HooksState {
    secrets: HashMap<String, Redacted>,
    deliveries: Vec<HookDelivery>,
}

impl HooksState {
    pub fn from_seed(seed: &HooksSeed) -> HooksState {
        HooksState {
            secrets: seed
                .webhooks
                .iter()
                .map(|w| (w.name.clone(), w.secret.clone()))
                .collect(),
            deliveries: Vec::new(),
        }
    }
}

/// The route name of a request to `hooks.localhost` (faults and the log use it).
pub fn route_of(method: &str, path: &str) -> &'static str {
    let kind = parse(path).map(|(kind, _)| kind);
    match (method, kind) {
        ("POST", Some(HookKind::Teams)) => "hooks.teams",
        ("POST", Some(HookKind::Slack)) => "hooks.slack",
        ("POST", Some(HookKind::Webhook)) => "hooks.webhook",
        _ => "hooks.unknown",
    }
}

fn parse(path: &str) -> Option<(HookKind, &str)> {
    let rest = path.strip_prefix('/')?;
    let (kind, name) = rest.split_once('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let kind = match kind {
        "teams" => HookKind::Teams,
        "slack" => HookKind::Slack,
        "webhook" => HookKind::Webhook,
        _ => return None,
    };
    Some((kind, name))
}

/// Answers a delivery and records it.
pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let Some((kind, name)) = parse(&req.path).filter(|_| req.method == "POST") else {
        return Resp::text(
            404,
            "text/plain",
            "keyrot emulator: hooks.localhost takes POST /teams/{name}, /slack/{name} or /webhook/{name}\n",
        );
    };
    let (verdict, resp) = match kind {
        HookKind::Teams => teams(&req.body),
        HookKind::Slack => slack(&req.body),
        HookKind::Webhook => {
            let secret = shared.lock().hooks.secrets.get(name).cloned();
            match secret {
                None => {
                    return Resp::text(404, "text/plain", "no such webhook\n");
                }
                Some(secret) => webhook(req, &secret, crate::state::now()),
            }
        }
    };
    record(shared, req, kind, name, verdict, resp.status);
    resp
}

/// The body a fault `status` answers with, as each receiver words it.
pub fn fault_body(shared: &Shared, req: &Req, status: u16) -> Resp {
    let resp = match parse(&req.path).map(|(kind, _)| kind) {
        Some(HookKind::Slack) => {
            let code = if status == 429 {
                "rate_limited"
            } else {
                "rollup_error"
            };
            Resp::text(status, "text/plain", code)
        }
        Some(HookKind::Teams) => Resp::json(
            status,
            &json!({"error": {
                "code": if status == 429 { "TooManyRequests" } else { "ServiceUnavailable" },
                "message": "The request failed. Please retry later."
            }}),
        ),
        _ => Resp::text(status, "text/plain", format!("{status}\n")),
    };
    if let Some((kind, name)) = parse(&req.path) {
        record(shared, req, kind, name, HookVerdict::Fault(status), status);
    }
    resp
}

fn record(
    shared: &Shared,
    req: &Req,
    kind: HookKind,
    name: &str,
    verdict: HookVerdict,
    status: u16,
) {
    shared.lock().hooks.deliveries.push(HookDelivery {
        name: name.to_owned(),
        kind,
        headers: req.headers.clone(),
        body: String::from_utf8_lossy(&req.body).into_owned(),
        verdict,
        status,
    });
}

fn teams(body: &[u8]) -> (HookVerdict, Resp) {
    let verdict = match serde_json::from_slice::<Value>(body) {
        Err(_) => HookVerdict::FlowFailed(FLOW_NO_ATTACHMENTS.into()),
        Ok(doc) => match doc.get("attachments").and_then(Value::as_array) {
            None => HookVerdict::FlowFailed(FLOW_NO_ATTACHMENTS.into()),
            Some(attachments) => {
                let cards = !attachments.is_empty()
                    && doc.get("type").and_then(Value::as_str) == Some("message")
                    && attachments.iter().all(|a| {
                        a.get("contentType").and_then(Value::as_str) == Some(CARD_CONTENT_TYPE)
                            && a.pointer("/content/type").and_then(Value::as_str)
                                == Some("AdaptiveCard")
                    });
                if cards {
                    HookVerdict::Accepted
                } else {
                    HookVerdict::FlowFailed(FLOW_NOT_A_CARD.into())
                }
            }
        },
    };
    (verdict, Resp::empty(202))
}

fn slack(body: &[u8]) -> (HookVerdict, Resp) {
    let refuse = |code: &str| {
        (
            HookVerdict::Refused(code.to_owned()),
            Resp::text(400, "text/plain", code),
        )
    };
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return refuse("invalid_payload");
    };
    let text = doc
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    let blocks = match doc.get("blocks") {
        None => false,
        Some(Value::Array(blocks)) => !blocks.is_empty(),
        Some(_) => return refuse("invalid_blocks"),
    };
    if !text && !blocks {
        return refuse("no_text");
    }
    (HookVerdict::Ok, Resp::text(200, "text/html", "ok"))
}

fn webhook(req: &Req, secret: &Redacted, now: i64) -> (HookVerdict, Resp) {
    let refuse = |why: &str| {
        (
            HookVerdict::Invalid(why.to_owned()),
            Resp::text(401, "text/plain", format!("{why}\n")),
        )
    };
    let (Some(id), Some(timestamp), Some(signatures)) = (
        req.header("webhook-id"),
        req.header("webhook-timestamp"),
        req.header("webhook-signature"),
    ) else {
        return refuse("missing webhook-id, webhook-timestamp or webhook-signature");
    };
    let Ok(sent_at) = timestamp.trim().parse::<i64>() else {
        return refuse("webhook-timestamp is not an integer");
    };
    if (now - sent_at).abs() > TOLERANCE_SECONDS {
        return refuse("webhook-timestamp is more than 5 minutes away");
    }
    let Some(key) = signing_key(secret) else {
        return refuse("the seeded secret is not whsec_ + base64");
    };
    let mut signed = Vec::with_capacity(id.len() + timestamp.len() + req.body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(&req.body);
    let matches = signatures.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .is_some_and(|tag| hmac::verify(&key, &signed, &tag).is_ok())
    });
    if matches {
        (HookVerdict::Valid, Resp::empty(204))
    } else {
        refuse("no signature matches")
    }
}

/// The HMAC key of a `whsec_` secret: the base64-decoded bytes after the prefix.
fn signing_key(secret: &Redacted) -> Option<hmac::Key> {
    let encoded = secret.expose().strip_prefix("whsec_")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// `GET /_admin/hooks`: every delivery; `DELETE`: forget them.
pub fn admin(shared: &Shared, req: &Req) -> Resp {
    match req.method.as_str() {
        "GET" => Resp::json(200, &shared.lock().hooks.deliveries),
        "DELETE" => {
            shared.lock().hooks.deliveries.clear();
            Resp::empty(204)
        }
        _ => Resp::json(405, &json!({"error": "use GET or DELETE on /_admin/hooks"})),
    }
}

impl Emulator {
    /// `https://hooks.localhost:{port}/{kind}/{name}`: where a notifier of that kind posts.
    pub fn hook_url(&self, kind: HookKind, name: &str) -> String {
        let kind = match kind {
            HookKind::Teams => "teams",
            HookKind::Slack => "slack",
            HookKind::Webhook => "webhook",
        };
        format!("https://hooks.localhost:{}/{kind}/{name}", self.port())
    }

    /// Every delivery to the sink so far, oldest first.
    pub fn hook_deliveries(&self) -> Vec<HookDelivery> {
        self.shared.lock().hooks.deliveries.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], body: &str) -> Req {
        Req {
            method: "POST".into(),
            path: "/webhook/ops".into(),
            query: Vec::new(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: bytes::Bytes::from(body.to_owned()),
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    /// The Standard Webhooks reference library's test vector (notes §4.3).
    #[test]
    fn the_standard_webhooks_test_vector_is_valid() {
        let secret = Redacted("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into());
        let body = r#"{"email":"test@example.com","username":"test_user"}"#;
        let headers = [
            ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
            ("webhook-timestamp", "1649367553"),
            (
                "webhook-signature",
                "v1,bogus v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ];
        let (verdict, resp) = webhook(&request(&headers, body), &secret, 1_649_367_553 + 299);
        assert_eq!((verdict, resp.status), (HookVerdict::Valid, 204));

        let (verdict, _) = webhook(&request(&headers, body), &secret, 1_649_367_553 + 301);
        assert!(matches!(verdict, HookVerdict::Invalid(why) if why.contains("5 minutes")));
        let tampered = body.replace("test_user", "admin");
        let (verdict, resp) = webhook(&request(&headers, &tampered), &secret, 1_649_367_553);
        assert_eq!(resp.status, 401);
        assert_eq!(verdict, HookVerdict::Invalid("no signature matches".into()));
    }

    #[test]
    fn teams_accepts_only_the_adaptive_card_envelope() {
        let card = json!({"type": "message", "attachments": [{
            "contentType": CARD_CONTENT_TYPE, "contentUrl": null,
            "content": {"type": "AdaptiveCard", "version": "1.2", "body": []}}]});
        let (verdict, resp) = teams(card.to_string().as_bytes());
        assert_eq!((verdict, resp.status), (HookVerdict::Accepted, 202));
        let (verdict, resp) = teams(br#"{"text":"hello"}"#);
        assert_eq!(
            (verdict, resp.status),
            (HookVerdict::FlowFailed(FLOW_NO_ATTACHMENTS.into()), 202)
        );
        let message_card = json!({"type": "message", "attachments": [{
            "contentType": CARD_CONTENT_TYPE, "content": {"type": "MessageCard"}}]});
        let (verdict, _) = teams(message_card.to_string().as_bytes());
        assert_eq!(verdict, HookVerdict::FlowFailed(FLOW_NOT_A_CARD.into()));
    }

    #[test]
    fn the_hooks_seed_refuses_unknown_keys() {
        let seed = crate::Seed::from_toml_str(
            "[[hooks.webhook]]\nname = \"ops\"\nsecret = \"whsec_C2FV\"\n",
        )
        .unwrap();
        assert_eq!(seed.hooks.webhooks[0].name, "ops");
        assert!(!format!("{seed:?}").contains("whsec_C2FV"));
        for bad in [
            "[hooks]\nteams = []\n",
            "[[hooks.webhook]]\nname = \"ops\"\nsecret = \"s\"\nurl = \"u\"\n",
        ] {
            assert!(crate::Seed::from_toml_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slack_wants_json_with_text_or_blocks() {
        assert_eq!(slack(br#"{"text":"hi"}"#).0, HookVerdict::Ok);
        assert_eq!(slack(br#"{"text":"hi"}"#).1.body.as_ref(), b"ok");
        assert_eq!(
            slack(b"text=hi").0,
            HookVerdict::Refused("invalid_payload".into())
        );
        assert_eq!(slack(b"{}").0, HookVerdict::Refused("no_text".into()));
        assert_eq!(slack(b"{}").1.status, 400);
    }
}
