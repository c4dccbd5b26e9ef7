//! One batch's delivery: attempts, the retry schedule and dead-lettering (§5.4).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::client::{self, Failure};
use super::{
    bearer_header, format_time, Publisher, Schema, Subscription, SubscriptionSpec, ORIGIN,
};

/// Event Grid's retry delays in seconds (§5.4); after the last, every 12 hours.
const SCHEDULE: [u64; 9] = [10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600];
const EVERY_12_HOURS: u64 = 12 * 3600;

/// Statuses a webhook delivery never retries (§5.4).
const NON_RETRYABLE: [u16; 4] = [400, 401, 403, 413];

/// Counts per event per subscription.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EventStatus {
    /// Events still to be delivered, retried or dead-lettered.
    pub pending: u64,
    pub delivered: u64,
    pub dead_lettered: u64,
    /// Given up without a dead-letter location, or its subscription deleted.
    pub dropped: u64,
}

/// One attempt to deliver one event (a batch of n events gives n rows per attempt).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct EventDeliveryAttempt {
    pub subscription: String,
    /// The event's `id` (empty when the published value had none).
    pub event_id: String,
    pub event_type: String,
    pub subject: String,
    pub endpoint: String,
    /// `aeg-delivery-count`: 0 on the first attempt.
    pub attempt: u32,
    /// The HTTP status answered, or `None` with `error`.
    pub status: Option<u16>,
    /// `timed out` or the connection error.
    pub error: Option<String>,
    /// The `deliver_twice` redelivery.
    pub duplicate: bool,
    pub batch_size: usize,
    /// Publisher clock when the attempt started / ended.
    pub started_at: String,
    pub finished_at: String,
    /// Real milliseconds from publishing to the start of this attempt.
    pub elapsed_ms: u64,
}

pub struct Job {
    key: String,
    generation: u64,
    spec: Arc<SubscriptionSpec>,
    rr: Arc<AtomicUsize>,
    pub events: Vec<Value>,
}

/// The subscription's batches for these events.
pub fn jobs(sub: &Subscription, events: Vec<Value>) -> Vec<Job> {
    events
        .chunks(sub.spec.max_events_per_batch)
        .map(|chunk| Job {
            key: sub.spec.name.to_ascii_lowercase(),
            generation: sub.generation,
            spec: sub.spec.clone(),
            rr: sub.rr.clone(),
            events: chunk.to_vec(),
        })
        .collect()
}

/// The CloudEvents 1.0 form of an Event Grid schema event; anything else unchanged.
fn cloud_event(e: &Value) -> Value {
    let Some(o) = e.as_object() else {
        return e.clone();
    };
    let mut ce = Map::new();
    for (from, to) in [
        ("topic", "source"),
        ("subject", "subject"),
        ("eventType", "type"),
        ("eventTime", "time"),
        ("id", "id"),
        ("data", "data"),
    ] {
        if let Some(v) = o.get(from) {
            ce.insert(to.to_owned(), v.clone());
        }
    }
    ce.insert("specversion".into(), json!("1.0"));
    Value::Object(ce)
}

fn field(e: &Value, k: &str) -> String {
    e.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

enum Outcome {
    Success,
    NonRetryable,
    Retryable,
}

fn judge(r: &Result<client::Answer, Failure>) -> Outcome {
    match r {
        Ok(a) if (200..=204).contains(&a.status) => Outcome::Success,
        Ok(a) if NON_RETRYABLE.contains(&a.status) => Outcome::NonRetryable,
        _ => Outcome::Retryable,
    }
}

/// `lastDeliveryOutcome`, approximately as Event Grid names them.
fn outcome_name(r: &Result<client::Answer, Failure>) -> &'static str {
    match r {
        Err(Failure::Timeout) => "TimedOut",
        Err(Failure::Connection(_)) => "Unavailable",
        Ok(a) => match a.status {
            200..=204 => "Delivered",
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            408 => "TimedOut",
            413 => "RequestEntityTooLarge",
            503 => "Busy",
            _ => "GenericError",
        },
    }
}

enum Finish {
    Delivered,
    DeadLetter(&'static str),
    Dropped,
}

impl Job {
    /// The events in the delivered form.
    fn delivered_form(&self) -> Vec<Value> {
        match self.spec.schema {
            Schema::EventGridSchema => self.events.clone(),
            Schema::CloudEventSchemaV1_0 => self.events.iter().map(cloud_event).collect(),
        }
    }

    fn body_and_type(&self) -> (Bytes, &'static str) {
        let events = self.delivered_form();
        match self.spec.schema {
            Schema::EventGridSchema => (
                Bytes::from(Value::Array(events).to_string()),
                "application/json",
            ),
            Schema::CloudEventSchemaV1_0 if self.spec.max_events_per_batch == 1 => (
                Bytes::from(events.into_iter().next().unwrap_or(Value::Null).to_string()),
                "application/cloudevents+json; charset=utf-8",
            ),
            Schema::CloudEventSchemaV1_0 => (
                Bytes::from(Value::Array(events).to_string()),
                "application/cloudevents-batch+json; charset=utf-8",
            ),
        }
    }

    fn alive(&self, publisher: &Publisher) -> bool {
        publisher
            .lock()
            .subs
            .get(&self.key)
            .is_some_and(|s| s.generation == self.generation)
    }

    async fn attempt(
        &self,
        publisher: &Publisher,
        delivery_count: u32,
        duplicate: bool,
        published: Instant,
    ) -> Result<client::Answer, Failure> {
        let endpoints = &self.spec.endpoints;
        let endpoint = &endpoints[self.rr.fetch_add(1, Ordering::Relaxed) % endpoints.len()];
        let (body, content_type) = self.body_and_type();
        let data_version = self
            .events
            .first()
            .and_then(|e| e.get("dataVersion"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let mut headers = vec![
            ("Content-Type", content_type.to_owned()),
            ("aeg-event-type", "Notification".to_owned()),
            ("aeg-subscription-name", self.spec.name.to_ascii_uppercase()),
            ("aeg-delivery-count", delivery_count.to_string()),
            ("aeg-data-version", data_version),
            ("aeg-metadata-version", "1".to_owned()),
        ];
        if self.spec.schema == Schema::CloudEventSchemaV1_0 {
            headers.push(("Origin", ORIGIN.to_owned()));
            headers.push(("WebHook-Request-Origin", ORIGIN.to_owned()));
        }
        headers.extend(bearer_header(publisher, &self.spec));
        let elapsed_ms = published.elapsed().as_millis() as u64;
        let started_at = format_time(publisher.now());
        let timeout = Duration::from_millis(self.spec.response_timeout_ms);
        let r = client::send(Method::POST, endpoint, &headers, body, timeout).await;
        let finished_at = format_time(publisher.now());
        let (status, error) = match &r {
            Ok(a) => (Some(a.status), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let rows = self.events.iter().map(|e| EventDeliveryAttempt {
            subscription: self.spec.name.clone(),
            event_id: field(e, "id"),
            event_type: field(e, "eventType"),
            subject: field(e, "subject"),
            endpoint: endpoint.clone(),
            attempt: delivery_count,
            status,
            error: error.clone(),
            duplicate,
            batch_size: self.events.len(),
            started_at: started_at.clone(),
            finished_at: finished_at.clone(),
            elapsed_ms,
        });
        publisher.lock().deliveries.extend(rows);
        r
    }

    pub async fn run(self, publisher: Arc<Publisher>) {
        let mut shutdown = publisher.shutdown.clone();
        let published = Instant::now();
        let publish_time = format_time(publisher.now());
        let scale = self.spec.retry_time_scale;
        let ttl = Duration::from_secs_f64(f64::from(self.spec.event_ttl_minutes) * 60.0 * scale);
        let deadline = published + ttl;
        let mut attempts: u32 = 0;
        let finish = loop {
            if !self.alive(&publisher) {
                break (Finish::Dropped, None);
            }
            let r = self.attempt(&publisher, attempts, false, published).await;
            attempts += 1;
            let last = Some((outcome_name(&r), r.as_ref().ok().map(|a| a.status)));
            match judge(&r) {
                Outcome::Success => {
                    if self.spec.deliver_twice && self.alive(&publisher) {
                        let _ = self.attempt(&publisher, attempts, true, published).await;
                    }
                    break (Finish::Delivered, last);
                }
                Outcome::NonRetryable => {
                    break (Finish::DeadLetter("NonRetryableHttpStatusCode"), last);
                }
                Outcome::Retryable => {
                    if attempts >= self.spec.max_delivery_attempts {
                        break (Finish::DeadLetter("MaxDeliveryAttemptsExceeded"), last);
                    }
                    let base = SCHEDULE
                        .get(attempts as usize - 1)
                        .copied()
                        .unwrap_or(EVERY_12_HOURS);
                    let delay = Duration::from_secs_f64(base as f64 * scale);
                    let (wake, expired) = if Instant::now() + delay > deadline {
                        (deadline, true)
                    } else {
                        (Instant::now() + delay, false)
                    };
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep_until(wake.into()) => {}
                    }
                    if expired {
                        break (Finish::DeadLetter("TimeToLiveExceeded"), last);
                    }
                }
            }
        };
        let n = self.events.len() as u64;
        let (finish, last) = finish;
        let finish = match finish {
            Finish::DeadLetter(reason) => match &self.spec.dead_letter_dir {
                Some(dir) => {
                    let (outcome, status) = last.unwrap_or(("GenericError", None));
                    let written = self.dead_letter(
                        &publisher,
                        dir,
                        reason,
                        attempts,
                        outcome,
                        status,
                        &publish_time,
                    );
                    if let Err(e) = written {
                        tracing::warn!(dir = %dir.display(), error = %e, "Event Grid dead-letter not written");
                        Finish::Dropped
                    } else {
                        Finish::DeadLetter(reason)
                    }
                }
                None => Finish::Dropped,
            },
            other => other,
        };
        let mut inner = publisher.lock();
        inner.status.pending = inner.status.pending.saturating_sub(n);
        match finish {
            Finish::Delivered => inner.status.delivered += n,
            Finish::DeadLetter(_) => inner.status.dead_lettered += n,
            Finish::Dropped => inner.status.dropped += n,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dead_letter(
        &self,
        publisher: &Publisher,
        dir: &std::path::Path,
        reason: &str,
        attempts: u32,
        outcome: &str,
        status: Option<u16>,
        publish_time: &str,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let last_attempt = format_time(publisher.now());
        for event in self.delivered_form() {
            let mut record = match event {
                Value::Object(o) => o,
                other => {
                    let mut o = Map::new();
                    o.insert("event".into(), other);
                    o
                }
            };
            record.insert("deadLetterReason".into(), json!(reason));
            record.insert("deliveryAttempts".into(), json!(attempts));
            record.insert("lastDeliveryOutcome".into(), json!(outcome));
            // null when the last attempt had no HTTP answer (timeout, connection error).
            record.insert("lastHttpStatusCode".into(), json!(status));
            record.insert("publishTime".into(), json!(publish_time));
            record.insert("lastDeliveryAttemptTime".into(), json!(last_attempt));
            let seq = {
                let mut inner = publisher.lock();
                inner.dead_letter_seq += 1;
                inner.dead_letter_seq
            };
            let id: String = record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(64)
                .collect();
            let name = format!("{}-{seq:06}-{id}.json", self.spec.name.to_ascii_uppercase());
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, serde_json::to_vec_pretty(&Value::Object(record))?)?;
            std::fs::rename(&tmp, dir.join(&name))?;
        }
        Ok(())
    }
}
