//! Sending a notification to a webhook over keyrot's transport (its CA, `*.localhost`,
//! retries with `Retry-After`, deadline; no `Authorization` header ever).
//!
//! A webhook URL is a secret (whoever has it can post to the channel): it is read from the
//! environment variable the config names, kept as a [`SecretValue`], and never appears in a
//! log, an error or a report. A channel is named by that variable instead: "the Teams webhook
//! in $KEYROT_TEAMS_WEBHOOK_URL". A failed delivery is a result, not an error: it never fails
//! a rotation that succeeded.

use azure_core::http::{HttpClient as _, Method, Request};
use time::OffsetDateTime;
use url::Url;

use super::message::Notification;
use super::render;
use super::sign::SigningKey;
use crate::ci::inert;
use crate::model::SecretValue;
use crate::rotate::config::{NotifySpec, NotifyTarget};
use crate::transport::KeyrotTransport;

/// The longest part of a receiver's answer quoted in a failure.
const MAX_ANSWER: usize = 200;

/// A webhook channel, ready to send to.
pub struct Channel {
    kind: Kind,
    url: SecretValue,
    url_env: String,
    signing: Option<(SigningKey, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Teams,
    Slack,
    Webhook,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The receiver confirmed it (Slack's `ok`, a webhook's 2xx other than 202).
    Delivered,
    /// The receiver took it without confirming: Teams answers 202 and runs its flow later,
    /// where a failure shows only in the flow's run history (and any 202 means the same).
    Sent,
    /// Not delivered, and why (never holding the URL).
    Failed(String),
}

/// One channel's delivery, for the run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// "the Teams webhook in $KEYROT_TEAMS_WEBHOOK_URL".
    pub channel: String,
    pub status: DeliveryStatus,
}

impl Channel {
    /// The channel a `[[notify]]` names, reading its URL (and signing secret) through `env`.
    /// `Ok(None)` for a channel that is not a webhook (`github-issue` goes through the GitHub
    /// client). Errors name the variable, never its value.
    pub fn from_spec(
        spec: &NotifySpec,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Channel>, String> {
        let (kind, url_env, secret_env) = match &spec.target {
            NotifyTarget::Teams { url_env } => (Kind::Teams, url_env, None),
            NotifyTarget::Slack { url_env } => (Kind::Slack, url_env, None),
            NotifyTarget::Webhook {
                url_env,
                secret_env,
            } => (Kind::Webhook, url_env, Some(secret_env)),
            NotifyTarget::GithubIssue { .. } => return Ok(None),
        };
        let name = describe(kind, url_env);
        let url = SecretValue::new(env(url_env).filter(|u| !u.trim().is_empty()).ok_or_else(
            || format!("{name}: ${url_env} is not set: set it to the webhook's URL (a pipeline secret)"),
        )?);
        let parsed = Url::parse(url.expose().trim()).map_err(|_| {
            format!("{name}: ${url_env} does not hold a URL: set it to the webhook's https URL")
        })?;
        if parsed.scheme() != "https" || parsed.host_str().is_none() {
            return Err(format!(
                "{name}: ${url_env} is not an https URL: webhooks carry their secret in the URL, \
                 which must not travel in clear text"
            ));
        }
        let signing = match secret_env {
            None => None,
            Some(secret_env) => {
                let secret = SecretValue::new(env(secret_env).ok_or_else(|| {
                    format!(
                        "{name}: ${secret_env} is not set: set it to the webhook's signing \
                         secret (whsec_...)"
                    )
                })?);
                let key = SigningKey::from_secret(&secret)
                    .map_err(|why| format!("{name}: the signing secret in ${secret_env} {why}"))?;
                Some((key, secret_env.clone()))
            }
        };
        Ok(Some(Channel {
            kind,
            url,
            url_env: url_env.clone(),
            signing,
        }))
    }

    /// "the Teams webhook in $KEYROT_TEAMS_WEBHOOK_URL".
    pub fn describe(&self) -> String {
        describe(self.kind, &self.url_env)
    }
}

fn describe(kind: Kind, url_env: &str) -> String {
    let what = match kind {
        Kind::Teams => "Teams webhook",
        Kind::Slack => "Slack webhook",
        Kind::Webhook => "webhook",
    };
    format!("the {what} in ${url_env}")
}

/// Sends `notification` to `channel`. `message_id` ([`new_message_id`]) is the signed
/// `webhook-id`: a caller that journals it before sending and reuses it when a crashed run
/// sends again lets the receiver drop the duplicate. `now` is the signature's timestamp.
///
/// [`new_message_id`]: super::sign::new_message_id
pub async fn deliver(
    transport: &KeyrotTransport,
    channel: &Channel,
    notification: &Notification,
    message_id: &str,
    now: OffsetDateTime,
) -> Delivery {
    let status = match send(transport, channel, notification, message_id, now).await {
        Ok(status) => status,
        Err(why) => DeliveryStatus::Failed(why),
    };
    let channel = channel.describe();
    match &status {
        DeliveryStatus::Failed(why) => tracing::warn!("{channel}: not delivered: {why}"),
        _ => tracing::info!("{channel}: {status:?}"),
    }
    Delivery { channel, status }
}

async fn send(
    transport: &KeyrotTransport,
    channel: &Channel,
    notification: &Notification,
    message_id: &str,
    now: OffsetDateTime,
) -> Result<DeliveryStatus, String> {
    let url = Url::parse(channel.url.expose().trim())
        .map_err(|_| "the URL no longer parses".to_owned())?;
    let body = match channel.kind {
        Kind::Teams => render::teams(notification),
        Kind::Slack => render::slack(notification),
        Kind::Webhook => render::webhook(notification, now)?,
    };
    let mut request = Request::new(url.clone(), Method::Post);
    request.insert_header("content-type", "application/json");
    if let Some((key, _)) = &channel.signing {
        let timestamp = now.unix_timestamp();
        request.insert_header("webhook-signature", key.sign(message_id, timestamp, &body));
        request.insert_header("webhook-id", message_id.to_owned());
        request.insert_header("webhook-timestamp", timestamp.to_string());
    }
    request.set_body(body);
    let response = transport
        .execute_request(&request)
        .await
        .map_err(|e| inert::one_line(&redact(&e.to_string(), &url)).into_owned())?;
    let status = u16::from(response.status());
    let answer = response.into_body().collect().await.unwrap_or_default();
    let answer = String::from_utf8_lossy(&answer);
    let quoted = || {
        let text = redact(answer.trim(), &url);
        let text = inert::one_line(&text);
        let text = super::lines::cut(&text, MAX_ANSWER);
        if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        }
    };
    match (channel.kind, status) {
        // 202 Accepted: taken for later processing, which nobody reports back (a Teams flow,
        // or any receiver that queues).
        (Kind::Teams, 200..=299) | (_, 202) => Ok(DeliveryStatus::Sent),
        (Kind::Slack, 200) if answer.trim() == "ok" => Ok(DeliveryStatus::Delivered),
        (Kind::Slack, 200) => Err(format!("Slack answered 200 without ok{}", quoted())),
        (Kind::Webhook, 200..=299) => Ok(DeliveryStatus::Delivered),
        (Kind::Webhook, 401 | 403) => Err(format!(
            "the receiver refused the signature ({status}{}); check that ${} holds the \
             receiver's current signing secret",
            quoted(),
            channel.signing.as_ref().map_or("", |(_, env)| env.as_str())
        )),
        (_, 429) => Err(format!(
            "throttled (429) until keyrot's --timeout ran out{}",
            quoted()
        )),
        (_, 404 | 410) => Err(format!(
            "the receiver answered {status}: the webhook no longer exists; create a new one \
             and update ${}{}",
            channel.url_env,
            quoted()
        )),
        (_, status) => Err(format!("the receiver answered {status}{}", quoted())),
    }
}

/// `text` without the URL or any part of it that could carry its secret: the path, the
/// query, and each longer path segment or query value on its own (an answer may quote one).
fn redact(text: &str, url: &Url) -> String {
    let mut out = text.replace(url.as_str(), "<webhook URL>");
    let path = url.path();
    if path.len() > 1 {
        out = out.replace(path, "/<redacted>");
    }
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        out = out.replace(query, "<redacted>");
    }
    let segments = url.path_segments().into_iter().flatten().map(str::to_owned);
    let values = url.query_pairs().map(|(_, value)| value.into_owned());
    for part in segments.chain(values).filter(|part| part.len() >= 8) {
        out = out.replace(&part, "<redacted>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_the_url_and_its_secret_parts() {
        let url = Url::parse("https://hooks.example/services/T1/B2/s3cr3t?sig=abc").unwrap();
        let text =
            format!("error sending request for url ({url}); path /services/T1/B2/s3cr3t; sig=abc");
        let out = redact(&text, &url);
        assert!(!out.contains("s3cr3t") && !out.contains("sig=abc"), "{out}");
        let url =
            Url::parse("https://x.example/workflows/0123456789abcdef/run?sig=ZmFrZXNpZ25hdHVyZQ")
                .unwrap();
        let out = redact("flow 0123456789abcdef refused sig ZmFrZXNpZ25hdHVyZQ", &url);
        assert_eq!(out, "flow <redacted> refused sig <redacted>");
    }
}
