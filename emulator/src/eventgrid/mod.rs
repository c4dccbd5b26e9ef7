//! An Event Grid publisher for the emulated Key Vaults: it raises Key Vault's secret events
//! and pushes them to webhook subscriptions exactly as Azure Event Grid does (handshakes,
//! headers, schemas, retry schedule, dead-letter), so `keyrot serve` can be tested and
//! benchmarked against it. Sources are sections of `notes/pipeline-apis.md` (§5.x) and the
//! fixtures in `fixtures/eventgrid/`.
//!
//! # Events raised (Key Vault secrets only)
//!
//! | event | when |
//! |---|---|
//! | `Microsoft.KeyVault.SecretNewVersionCreated` | after every successful `PUT /secrets/{name}` (after the write is committed) |
//! | `Microsoft.KeyVault.SecretNearExpiry` | once per (subscription, secret, current version) when the current version's `exp` is within 30 days of the publisher's clock (§5.1: "triggered 30 days before the expiration date") |
//! | `Microsoft.KeyVault.SecretExpired` | once per (subscription, secret, current version) when `exp` has passed |
//!
//! Event Grid schema (§5.2, fixture `event-grid-schema/secret_new_version_created.json`):
//! `id` (uuid v4), `topic` = `/subscriptions/{AZURE_SUBSCRIPTION_ID}/resourceGroups/
//! {RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/{vault}` ([`AZURE_SUBSCRIPTION_ID`],
//! [`RESOURCE_GROUP`]), `subject` = secret name, `eventType`, `eventTime` (7 fractional
//! digits, then `Z`), `dataVersion` `"1"`, `metadataVersion` `"1"`, and `data` with PascalCase keys
//! `Id` (`https://{vault}.vault.localhost:{port}/secrets/{name}/{version}`), `VaultName`,
//! `ObjectType` `"Secret"`, `ObjectName`, `Version`, `NBF`, `EXP`: epoch seconds as JSON
//! **numbers, or null** when unset, as captured in real deliveries (§5.2, azure-docs#75866; the
//! spec examples' strings are not what the service sends). Times in events (`eventTime`,
//! dead-letter times) come from the publisher's clock.
//!
//! Expiry events fire for disabled secrets too (§5.1, azure-docs#63553) and only for the
//! *current* (last written) version (§5.1). Deleted secrets raise nothing.
//!
//! **The publisher's clock** is the system time plus an offset that tests move
//! (`PUT /_admin/eventgrid/clock`, [`Emulator::advance_event_clock`]); Key Vault's own time is
//! not affected. Moving it runs a scan at once; a scan also runs every second and right after a
//! subscription becomes active.
//!
//! # Subscriptions (`/_admin/eventgrid/…` on `localhost:{port}`)
//!
//! | method | path | body / answer |
//! |---|---|---|
//! | POST | `/_admin/eventgrid/subscriptions` | [`SubscriptionSpec`] as JSON → 201 with the subscription (`provisioningState` `Succeeded` or `AwaitingManualAction`); 400 ARM error when the handshake fails or the spec is invalid. A name that exists is replaced (ARM PUT semantics) |
//! | GET | `/_admin/eventgrid/subscriptions[/{name}]` | every subscription (or one) |
//! | DELETE | `/_admin/eventgrid/subscriptions/{name}` | 204, or 404; deliveries in flight for it stop (counted `dropped`) |
//! | GET, PUT | `/_admin/eventgrid/clock` | PUT `{"advance_seconds": N}` or `{"now": "RFC 3339"}` → `{"now", "offset_seconds"}` after the scan it triggers |
//! | POST | `/_admin/eventgrid/events` | an array of arbitrary JSON values, published as-is (the emulator fills nothing in) → `{"published": n}` |
//! | GET, DELETE | `/_admin/eventgrid/deliveries` | every delivery attempt ([`EventDeliveryAttempt`]), or forget them |
//! | GET | `/_admin/eventgrid/status` | `{"pending", "delivered", "dead_lettered", "dropped"}` ([`EventStatus`]; counts are per event per subscription) |
//! | GET | `/_eventgrid/validate?id=…` | the `validationUrl` of the manual handshake (not under `/_admin`: it stands for Event Grid's own host) |
//!
//! ## Handshakes (§5.3)
//!
//! - **EventGridSchema**: a `POST` of a one-element array holding a
//!   `Microsoft.EventGrid.SubscriptionValidationEvent` (`data.validationCode`,
//!   `data.validationUrl`) with `aeg-event-type: SubscriptionValidation`, to every endpoint.
//!   `200` with `{"validationResponse": code}` validates; `200` without it starts the manual
//!   form: the endpoint has 5 minutes to `GET` the `validationUrl`
//!   (`https://localhost:{port}/_eventgrid/validate?id=…&t=…&apiVersion=2018-05-01-preview&token=…`;
//!   Azure's uses port 553 on its own host); the subscription is `AwaitingManualAction` until
//!   every endpoint has done so, then `Succeeded` (after 5 minutes, `Failed`). Any other status
//!   (202 included: "HTTP 202 Accepted is not recognized"), a wrong code or no answer within
//!   30 s fails.
//! - **CloudEventSchemaV1_0**: an `OPTIONS` with `WebHook-Request-Origin: eventgrid.azure.net`;
//!   a 2xx with `WebHook-Allowed-Origin` `eventgrid.azure.net` or `*` validates.
//! - Failure → 400 `{"error": {"code": "URL validation", "message": "Webhook validation
//!   handshake failed for {endpoint}. Http POST request failed with response code {code}. …"}}`
//!   (the message is modelled on Azure's; the exact text is not in a primary source).
//!
//! ## Delivery (§5.2, §5.4, §5.5)
//!
//! Headers: `aeg-event-type: Notification`, `aeg-subscription-name` (the name in upper case, as
//! Event Grid upper-cases subscription names), `aeg-delivery-count` (0 on the first attempt),
//! `aeg-data-version`, `aeg-metadata-version: 1`; EventGridSchema bodies are a JSON array with
//! `Content-Type: application/json`. CloudEvents 1.0 (`id`, `source` = topic, `subject`, `type`,
//! `time`, `specversion` `"1.0"`, `data`, fixture `cloud-events-schema/…`) go as one
//! `application/cloudevents+json; charset=utf-8` object when `max_events_per_batch` is 1, else
//! as an `application/cloudevents-batch+json; charset=utf-8` array, with `Origin` and
//! `WebHook-Request-Origin: eventgrid.azure.net`. Attempts go round robin over the endpoints.
//! With `entra`, every request (handshake included) carries `Authorization: Bearer` with a
//! token shaped like the emulator's Entra tokens (`jwt.rs`): `aud` = audience,
//! `iss` = `https://login.localhost:{port}/{tenant}/v2.0` (the emulator's v2.0 issuer, as its
//! OIDC discovery document names it), `tid`, `appid` = `azp` = [`EVENT_GRID_APP_ID`],
//! `roles: ["AzureEventGridSecureWebhookSubscriber"]`, `iat`/`nbf`/`exp` (1 hour). The claim
//! names are inferred in §5.5 (UNVERIFIED there).
//!
//! Success is 200–204 only (§5.4). 400, 401, 403 and 413 are never retried: dead-lettered at
//! once when `dead_letter_dir` is set, else dropped (§5.4, webhook endpoints). Any other status,
//! a connection error or no answer within `response_timeout_ms` (Azure: 30 s) is retried after
//! 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h, each × the
//! subscription's `retry_time_scale`; after `max_delivery_attempts` (default 30) attempts, or
//! when the next attempt would fall after the TTL (`event_ttl_minutes`, default 1440, also
//! scaled), the event is dead-lettered (or dropped). A dead-lettered event is one JSON file in
//! `dead_letter_dir` (written whole: temp file + rename) holding the event as delivered plus
//! `deadLetterReason` (`MaxDeliveryAttemptsExceeded`, `TimeToLiveExceeded`,
//! `NonRetryableHttpStatusCode`), `deliveryAttempts`, `lastDeliveryOutcome`,
//! `lastHttpStatusCode` (null when the last attempt got no HTTP answer), `publishTime`,
//! `lastDeliveryAttemptTime` (§5.4).
//!
//! Deliveries run concurrently: every batch is its own task, one connection per attempt.
//!
//! # Approximations
//!
//! - No jitter, no "endpoint unhealthy" delays of new deliveries, no 5-minute delay before a
//!   dead-letter is written (§5.4 describes all three); `Retry-After` is ignored (Event Grid does
//!   not document honouring it). Azure writes dead-letters as blobs holding an array, named
//!   `{SUBSCRIPTION}/{y}/{m}/{d}/{h}/{id}.json`; here one object per file,
//!   `{SUBSCRIPTION}-{seq}-{event id}.json`. The older observed reason for a 400 was
//!   `UndeliverableDueToHttpBadRequest`; `lastDeliveryOutcome` names are approximate.
//! - Expiry events are tracked per subscription: a subscription created while a version is
//!   already within 30 days of expiry (or expired) receives its `SecretNearExpiry` (or
//!   `SecretExpired`) right away. Azure raises each once to the topic, so a later subscription
//!   misses it; the emulator's behaviour matches Azure when subscriptions exist before the
//!   window opens. When the clock jumps over the whole window between two scans both events
//!   fire, near-expiry first (as a continuously running clock would have produced them).
//! - Subscriptions receive the events of every emulated vault (Azure scopes a subscription to
//!   one vault's system topic; filter on `subject` or the topic instead).
//! - `included_event_types` absent delivers every type (as Azure does); the emulator itself
//!   raises only the three secret types, so for its own events that is "all three".
//! - Batches are formed from events raised together (one scan, one `POST /events`), never by
//!   waiting. `deliver_twice` redelivers each successfully delivered batch once more at once,
//!   with the next `aeg-delivery-count` (Event Grid is at-least-once, §5.4).
//! - Bearer tokens have a random signature like every emulator token (`jwt.rs`): a
//!   handler can check claims, not the signature against the JWKS.
//! - Endpoints are `http://` only.

mod client;
mod delivery;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::http::{Req, Resp};
use crate::state::{new_uuid, random_hex, Shared};
use crate::Emulator;

pub use delivery::{EventDeliveryAttempt, EventStatus};

/// The Azure subscription id in every emulated vault's topic.
pub const AZURE_SUBSCRIPTION_ID: &str = "72f988bf-0000-4000-8000-0000000e0001";
/// The resource group in every emulated vault's topic.
pub const RESOURCE_GROUP: &str = "keyrot-emulator";
/// Event Grid's first-party application id in the public cloud (§5.5).
pub const EVENT_GRID_APP_ID: &str = "4962773b-9cdb-44cf-a8bf-237846a00ab7";
/// The app role Event Grid holds on a protected webhook (§5.5).
pub const EVENT_GRID_ROLE: &str = "AzureEventGridSecureWebhookSubscriber";

pub const NEW_VERSION: &str = "Microsoft.KeyVault.SecretNewVersionCreated";
pub const NEAR_EXPIRY: &str = "Microsoft.KeyVault.SecretNearExpiry";
pub const EXPIRED: &str = "Microsoft.KeyVault.SecretExpired";
const VALIDATION_EVENT: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";
/// NearExpiry fires this long before `exp` (§5.1).
const NEAR_EXPIRY_WINDOW: i64 = 30 * 86_400;
/// How long the manual validation URL stays valid (§5.3).
const MANUAL_VALIDATION_SECONDS: u64 = 5 * 60;
/// Event Grid waits 30 s for a validation answer (§5.3).
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(30);
const ORIGIN: &str = "eventgrid.azure.net";

/// The delivery schema of a subscription.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schema {
    #[default]
    EventGridSchema,
    CloudEventSchemaV1_0,
}

/// Entra-protected delivery (§5.5).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraDelivery {
    pub tenant_id: String,
    /// The webhook's application id or App ID URI: the token's `aud`.
    pub audience: String,
}

/// The body of `POST /_admin/eventgrid/subscriptions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// 3–64 letters, digits and hyphens (Event Grid's rule).
    pub name: String,
    /// `http://…` endpoints; attempts go round robin over them.
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub schema: Schema,
    /// `None`: every event type.
    #[serde(default)]
    pub included_event_types: Option<Vec<String>>,
    #[serde(default)]
    pub subject_begins_with: Option<String>,
    #[serde(default)]
    pub subject_ends_with: Option<String>,
    /// Event Grid's `isSubjectCaseSensitive` (default false).
    #[serde(default)]
    pub is_subject_case_sensitive: bool,
    #[serde(default = "one")]
    pub max_events_per_batch: usize,
    /// Multiplies every retry delay and the TTL (tests use e.g. 0.001).
    #[serde(default = "unit_scale")]
    pub retry_time_scale: f64,
    #[serde(default = "thirty")]
    pub max_delivery_attempts: u32,
    #[serde(default = "day_minutes")]
    pub event_ttl_minutes: u32,
    #[serde(default)]
    pub dead_letter_dir: Option<PathBuf>,
    /// Deliver every successfully delivered batch once more (duplicate tests).
    #[serde(default)]
    pub deliver_twice: bool,
    #[serde(default = "thirty_seconds_ms")]
    pub response_timeout_ms: u64,
    #[serde(default)]
    pub entra: Option<EntraDelivery>,
}

fn one() -> usize {
    1
}
fn unit_scale() -> f64 {
    1.0
}
fn thirty() -> u32 {
    30
}
fn day_minutes() -> u32 {
    1440
}
fn thirty_seconds_ms() -> u64 {
    30_000
}

impl SubscriptionSpec {
    fn check(&self) -> Result<(), String> {
        let n = &self.name;
        if n.len() < 3 || n.len() > 64 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!("Event subscription name {n:?} must be 3 to 64 characters of letters, digits and '-'."));
        }
        if self.endpoints.is_empty() {
            return Err("endpoints: at least one endpoint is required".into());
        }
        for e in &self.endpoints {
            client::check_url(e)?;
        }
        if !(1..=5000).contains(&self.max_events_per_batch) {
            return Err("max_events_per_batch must be between 1 and 5000".into());
        }
        if !(1..=30).contains(&self.max_delivery_attempts) {
            return Err("max_delivery_attempts must be between 1 and 30".into());
        }
        if !(1..=1440).contains(&self.event_ttl_minutes) {
            return Err("event_ttl_minutes must be between 1 and 1440".into());
        }
        if !(self.retry_time_scale.is_finite() && self.retry_time_scale > 0.0) {
            return Err("retry_time_scale must be a positive number".into());
        }
        if self.response_timeout_ms == 0 {
            return Err("response_timeout_ms must be positive".into());
        }
        Ok(())
    }

    /// Whether the subscription's filter lets this event through.
    fn accepts(&self, event: &Value) -> bool {
        let field = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
        if let Some(types) = &self.included_event_types {
            let t = field("eventType");
            if !types.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                return false;
            }
        }
        let fold = |s: &str| {
            if self.is_subject_case_sensitive {
                s.to_owned()
            } else {
                s.to_lowercase()
            }
        };
        let subject = fold(field("subject"));
        if let Some(p) = &self.subject_begins_with {
            if !subject.starts_with(&fold(p)) {
                return false;
            }
        }
        if let Some(s) = &self.subject_ends_with {
            if !subject.ends_with(&fold(s)) {
                return false;
            }
        }
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ProvisioningState {
    Succeeded,
    AwaitingManualAction,
    Failed,
}

struct Subscription {
    spec: Arc<SubscriptionSpec>,
    state: ProvisioningState,
    /// Tells deliveries of a replaced or deleted subscription to stop.
    generation: u64,
    rr: Arc<AtomicUsize>,
    /// Manual validations still awaited: validation code → endpoint.
    awaiting: BTreeMap<String, String>,
    validation_urls: Vec<String>,
    created: Instant,
    /// Expiry events already raised: (event type, vault, secret name upper-case, version).
    fired: HashSet<(&'static str, String, String, String)>,
    /// The publisher's time at this subscription's last scan.
    last_scan: Option<i64>,
}

impl Subscription {
    fn view(&self) -> Value {
        let mut v = serde_json::to_value(&*self.spec).unwrap_or_default();
        v["provisioningState"] = json!(self.state);
        if self.state == ProvisioningState::AwaitingManualAction {
            v["validation_urls"] = json!(self.validation_urls);
        }
        v
    }
}

#[derive(Default)]
struct Inner {
    /// Publisher clock = system time + offset.
    offset: time::Duration,
    /// Keyed by lower-case name.
    subs: BTreeMap<String, Subscription>,
    next_generation: u64,
    /// Manual validation code → subscription key.
    validations: HashMap<String, String>,
    deliveries: Vec<EventDeliveryAttempt>,
    status: EventStatus,
    dead_letter_seq: u64,
}

/// The publisher; lives in `Shared`. Lock order: the state lock may be held when this one is
/// taken, never the other way round.
pub struct Publisher {
    port: u16,
    inner: Mutex<Inner>,
    shutdown: watch::Receiver<bool>,
}

impl Publisher {
    pub(crate) fn new(port: u16, shutdown: watch::Receiver<bool>) -> Arc<Publisher> {
        Arc::new(Publisher {
            port,
            inner: Mutex::new(Inner::default()),
            shutdown,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The publisher's clock.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.lock().offset
    }

    fn login_base(&self) -> String {
        format!("https://login.localhost:{}", self.port)
    }

    /// Hands events to every active subscription whose filter accepts them.
    fn publish(self: &Arc<Self>, events: &[Value]) {
        let jobs = {
            let mut inner = self.lock();
            let mut jobs = Vec::new();
            for sub in inner.subs.values() {
                if sub.state != ProvisioningState::Succeeded {
                    continue;
                }
                let chosen: Vec<Value> = events
                    .iter()
                    .filter(|e| sub.spec.accepts(e))
                    .cloned()
                    .collect();
                jobs.extend(delivery::jobs(sub, chosen));
            }
            let n: u64 = jobs.iter().map(|j| j.events.len() as u64).sum();
            inner.status.pending += n;
            jobs
        };
        for job in jobs {
            tokio::spawn(job.run(self.clone()));
        }
    }

    fn topic(vault: &str) -> String {
        format!(
            "/subscriptions/{AZURE_SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/{vault}"
        )
    }

    fn secret_event(&self, event_type: &str, s: &SecretFacts, at: OffsetDateTime) -> Value {
        json!({
            "id": new_uuid(),
            "topic": Self::topic(&s.vault),
            "subject": s.name,
            "eventType": event_type,
            "eventTime": format_time(at),
            "data": {
                "Id": format!("https://{}.vault.localhost:{}/secrets/{}/{}", s.vault, self.port, s.name, s.version),
                "VaultName": s.vault,
                "ObjectType": "Secret",
                "ObjectName": s.name,
                "Version": s.version,
                "NBF": s.nbf,
                "EXP": s.exp,
            },
            "dataVersion": "1",
            "metadataVersion": "1",
        })
    }

    /// Raises NearExpiry/Expired for the candidates (current versions with an `exp` within the
    /// window) to each active subscription that has not had them.
    fn raise_expiry(self: &Arc<Self>, candidates: &[SecretFacts]) {
        let mut inner = self.lock();
        let now_dt = OffsetDateTime::now_utc() + inner.offset;
        let now = now_dt.unix_timestamp();
        // (type, candidate index) → subscription keys, in raising order.
        let mut wanted: Vec<((&'static str, usize), Vec<String>)> = Vec::new();
        let mut index: HashMap<(&'static str, usize), usize> = HashMap::new();
        for (key, sub) in inner.subs.iter_mut() {
            if sub.state != ProvisioningState::Succeeded {
                continue;
            }
            for (i, c) in candidates.iter().enumerate() {
                let Some(exp) = c.exp else { continue };
                let id = |t: &'static str| {
                    (
                        t,
                        c.vault.to_ascii_lowercase(),
                        c.name.to_ascii_uppercase(),
                        c.version.clone(),
                    )
                };
                let crossed = sub.last_scan.is_some_and(|t| t < exp);
                let mut kinds = Vec::new();
                if exp - NEAR_EXPIRY_WINDOW <= now
                    && (now < exp || crossed)
                    && !sub.fired.contains(&id(NEAR_EXPIRY))
                {
                    kinds.push(NEAR_EXPIRY);
                }
                if exp <= now && !sub.fired.contains(&id(EXPIRED)) {
                    kinds.push(EXPIRED);
                }
                for t in kinds {
                    sub.fired.insert(id(t));
                    let slot = *index.entry((t, i)).or_insert_with(|| {
                        wanted.push(((t, i), Vec::new()));
                        wanted.len() - 1
                    });
                    wanted[slot].1.push(key.clone());
                }
            }
            sub.last_scan = Some(now);
        }
        if wanted.is_empty() {
            return;
        }
        // One event (one id) per raise, shared by every subscription that gets it.
        let mut per_sub: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for ((t, i), keys) in wanted {
            let event = self.secret_event(t, &candidates[i], now_dt);
            for k in keys {
                per_sub.entry(k).or_default().push(event.clone());
            }
        }
        let mut jobs = Vec::new();
        for (k, events) in per_sub {
            if let Some(sub) = inner.subs.get(&k) {
                let chosen = events.into_iter().filter(|e| sub.spec.accepts(e)).collect();
                jobs.extend(delivery::jobs(sub, chosen));
            }
        }
        inner.status.pending += jobs.iter().map(|j| j.events.len() as u64).sum::<u64>();
        drop(inner);
        for job in jobs {
            tokio::spawn(job.run(self.clone()));
        }
    }

    fn has_active(&self) -> bool {
        self.lock()
            .subs
            .values()
            .any(|s| s.state == ProvisioningState::Succeeded)
    }

    /// Marks manual validations older than 5 minutes failed.
    fn expire_validations(&self) {
        let mut inner = self.lock();
        let limit = Duration::from_secs(MANUAL_VALIDATION_SECONDS);
        let mut gone = Vec::new();
        for sub in inner.subs.values_mut() {
            if sub.state == ProvisioningState::AwaitingManualAction && sub.created.elapsed() > limit
            {
                sub.state = ProvisioningState::Failed;
                gone.extend(sub.awaiting.keys().cloned());
                sub.awaiting.clear();
            }
        }
        for code in gone {
            inner.validations.remove(&code);
        }
    }
}

/// What an event says about one secret version.
#[derive(Clone, Debug)]
struct SecretFacts {
    vault: String,
    name: String,
    version: String,
    nbf: Option<i64>,
    exp: Option<i64>,
}

/// `2019-07-25T01:08:33.1036736Z`: seven fractional digits, like Event Grid.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Called by Key Vault after a secret version is written (the state lock released).
pub(crate) fn secret_version_written(
    shared: &Shared,
    vault: &str,
    name: &str,
    version: &str,
    nbf: Option<i64>,
    exp: Option<i64>,
) {
    let publisher = &shared.eventgrid;
    if !publisher.has_active() {
        return;
    }
    let facts = SecretFacts {
        vault: vault.to_owned(),
        name: name.to_owned(),
        version: version.to_owned(),
        nbf,
        exp,
    };
    let event = publisher.secret_event(NEW_VERSION, &facts, publisher.now());
    publisher.publish(&[event]);
}

/// Looks for current versions that entered the expiry window or expired, and raises their
/// events.
pub(crate) fn scan(shared: &Shared) {
    let publisher = &shared.eventgrid;
    publisher.expire_validations();
    if !publisher.has_active() {
        return;
    }
    let horizon = publisher.now().unix_timestamp() + NEAR_EXPIRY_WINDOW;
    let candidates: Vec<SecretFacts> = {
        let st = shared.lock();
        let mut out = Vec::new();
        for vault in st.vaults.values() {
            for item in vault.secrets.values() {
                let Some(v) = item.latest() else { continue };
                if v.exp.is_some_and(|exp| exp <= horizon) {
                    out.push(SecretFacts {
                        vault: vault.name.clone(),
                        name: item.name.clone(),
                        version: v.id.clone(),
                        nbf: v.nbf,
                        exp: v.exp,
                    });
                }
            }
        }
        out
    };
    publisher.raise_expiry(&candidates);
}

/// The periodic scan, until shutdown.
pub(crate) async fn run_scans(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => scan(&shared),
        }
    }
}

/// An ARM error body.
fn arm_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn handshake_failed(endpoint: &str, method: &str, code: &str) -> String {
    format!(
        "Webhook validation handshake failed for {endpoint}. Http {method} request failed with response code {code}. For troubleshooting, visit https://aka.ms/esvalidation. Activity id:{}, timestamp: {} (UTC).",
        new_uuid(),
        format_time(OffsetDateTime::now_utc())
    )
}

/// The outcome of one endpoint's handshake.
enum Handshake {
    Validated,
    /// Waiting for a GET of this validation URL (code, url).
    Manual(String, String),
}

fn bearer_header(publisher: &Publisher, spec: &SubscriptionSpec) -> Option<(&'static str, String)> {
    let entra = spec.entra.as_ref()?;
    let iat = OffsetDateTime::now_utc().unix_timestamp();
    let oid = crate::state::derived_guid("event-grid-service-principal");
    let claims = json!({
        "aud": entra.audience,
        "iss": format!("{}/{}/v2.0", publisher.login_base(), entra.tenant_id),
        "iat": iat, "nbf": iat, "exp": iat + 3600,
        "aio": new_uuid(),
        "appid": EVENT_GRID_APP_ID,
        "azp": EVENT_GRID_APP_ID,
        "appidacr": "2",
        "azpacr": "2",
        "idtyp": "app",
        "oid": oid,
        "sub": oid,
        "roles": [EVENT_GRID_ROLE],
        "tid": entra.tenant_id,
        "uti": new_uuid(),
        "ver": "2.0",
    });
    Some((
        "Authorization",
        format!("Bearer {}", crate::jwt::mint_signed(&claims)),
    ))
}

async fn handshake(
    publisher: &Publisher,
    spec: &SubscriptionSpec,
    endpoint: &str,
) -> Result<Handshake, String> {
    let timeout = VALIDATION_TIMEOUT.min(Duration::from_millis(spec.response_timeout_ms));
    let auth = bearer_header(publisher, spec);
    match spec.schema {
        Schema::CloudEventSchemaV1_0 => {
            let mut headers = vec![("WebHook-Request-Origin", ORIGIN.to_owned())];
            headers.extend(auth);
            let code = match client::send(
                Method::OPTIONS,
                endpoint,
                &headers,
                Bytes::new(),
                timeout,
            )
            .await
            {
                Err(_) => "Unknown".to_owned(),
                Ok(a) => {
                    let allowed = a
                        .headers
                        .get_all("webhook-allowed-origin")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(|v| v.split(','))
                        .any(|o| {
                            let o = o.trim();
                            o == "*" || o.eq_ignore_ascii_case(ORIGIN)
                        });
                    if (200..300).contains(&a.status) && allowed {
                        return Ok(Handshake::Validated);
                    }
                    a.status.to_string()
                }
            };
            Err(handshake_failed(endpoint, "OPTIONS", &code))
        }
        Schema::EventGridSchema => {
            let code = new_uuid();
            let url = format!(
                "https://localhost:{}/_eventgrid/validate?id={code}&t={}&apiVersion=2018-05-01-preview&token={}",
                publisher.port,
                format_time(OffsetDateTime::now_utc()),
                random_hex(8)
            );
            let body = json!([{
                "id": new_uuid(),
                "topic": format!("/subscriptions/{AZURE_SUBSCRIPTION_ID}"),
                "subject": "",
                "data": {"validationCode": code, "validationUrl": url},
                "eventType": VALIDATION_EVENT,
                "eventTime": format_time(OffsetDateTime::now_utc()),
                "metadataVersion": "1",
                "dataVersion": "1",
            }]);
            let mut headers = vec![
                ("Content-Type", "application/json".to_owned()),
                ("aeg-event-type", "SubscriptionValidation".to_owned()),
                ("aeg-subscription-name", spec.name.to_ascii_uppercase()),
                ("aeg-delivery-count", "0".to_owned()),
                ("aeg-data-version", "1".to_owned()),
                ("aeg-metadata-version", "1".to_owned()),
            ];
            headers.extend(auth);
            let body = Bytes::from(body.to_string());
            match client::send(Method::POST, endpoint, &headers, body, timeout).await {
                Err(_) => Err(handshake_failed(endpoint, "POST", "Unknown")),
                Ok(a) if a.status != 200 => {
                    Err(handshake_failed(endpoint, "POST", &a.status.to_string()))
                }
                Ok(a) => {
                    let answer = serde_json::from_slice::<Value>(&a.body).ok();
                    let response = answer.as_ref().and_then(|v| {
                        v.as_object()?
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("validationResponse"))
                            .map(|(_, v)| v.clone())
                    });
                    match response {
                        None => Ok(Handshake::Manual(code, url)),
                        Some(Value::String(s)) if s == code => Ok(Handshake::Validated),
                        Some(_) => Err(format!(
                            "Webhook validation handshake failed for {endpoint}. Http POST request retuned 2XX response with invalid content. For troubleshooting, visit https://aka.ms/esvalidation. Activity id:{}, timestamp: {} (UTC).",
                            new_uuid(),
                            format_time(OffsetDateTime::now_utc())
                        )),
                    }
                }
            }
        }
    }
}

/// Creates (or replaces) a subscription after the handshakes; the subscription's JSON, or an
/// ARM error (status, code, message).
pub(crate) async fn create_subscription(
    shared: &Shared,
    spec: Value,
) -> Result<Value, (u16, &'static str, String)> {
    let spec: SubscriptionSpec = serde_json::from_value(spec).map_err(|e| {
        (
            400,
            "InvalidRequestContent",
            format!("invalid event subscription: {e}"),
        )
    })?;
    spec.check()
        .map_err(|m| (400, "InvalidRequestContent", m))?;
    let publisher = shared.eventgrid.clone();
    let results = futures::future::join_all(
        spec.endpoints
            .iter()
            .map(|e| handshake(&publisher, &spec, e)),
    )
    .await;
    let mut awaiting = BTreeMap::new();
    let mut urls = Vec::new();
    for (endpoint, r) in spec.endpoints.iter().zip(results) {
        match r.map_err(|m| (400, "URL validation", m))? {
            Handshake::Validated => {}
            Handshake::Manual(code, url) => {
                awaiting.insert(code, endpoint.clone());
                urls.push(url);
            }
        }
    }
    let view = {
        let mut inner = publisher.lock();
        let key = spec.name.to_ascii_lowercase();
        inner.next_generation += 1;
        let generation = inner.next_generation;
        let state = if awaiting.is_empty() {
            ProvisioningState::Succeeded
        } else {
            ProvisioningState::AwaitingManualAction
        };
        for code in awaiting.keys() {
            inner.validations.insert(code.clone(), key.clone());
        }
        let sub = Subscription {
            spec: Arc::new(spec),
            state,
            generation,
            rr: Arc::new(AtomicUsize::new(0)),
            awaiting,
            validation_urls: urls,
            created: Instant::now(),
            fired: HashSet::new(),
            last_scan: None,
        };
        let view = sub.view();
        inner.subs.insert(key, sub);
        view
    };
    scan(shared);
    Ok(view)
}

/// `GET /_eventgrid/validate?id=…`: the manual handshake.
fn validate(shared: &Shared, req: &Req) -> Resp {
    let code = req.query("id").unwrap_or("");
    let activated = {
        let mut inner = shared.eventgrid.lock();
        let Some(key) = inner.validations.remove(code) else {
            return arm_error(
                400,
                "InvalidRequest",
                "The validation request is invalid or has expired.",
            );
        };
        match inner.subs.get_mut(&key) {
            Some(sub) => {
                sub.awaiting.remove(code);
                if sub.awaiting.is_empty() && sub.state == ProvisioningState::AwaitingManualAction {
                    sub.state = ProvisioningState::Succeeded;
                    sub.validation_urls.clear();
                    true
                } else {
                    false
                }
            }
            None => false,
        }
    };
    if activated {
        scan(shared);
    }
    Resp::text(
        200,
        "text/plain; charset=utf-8",
        "Webhook successfully validated as a part of the event subscription.",
    )
}

/// Sets the publisher's clock; answers its new time after the scan that follows.
fn move_clock(shared: &Shared, advance: Option<i64>, to: Option<OffsetDateTime>) -> OffsetDateTime {
    {
        let mut inner = shared.eventgrid.lock();
        if let Some(s) = advance {
            inner.offset += time::Duration::seconds(s);
        }
        if let Some(t) = to {
            inner.offset = t - OffsetDateTime::now_utc();
        }
    }
    scan(shared);
    shared.eventgrid.now()
}

fn clock_json(shared: &Shared) -> Value {
    let now = shared.eventgrid.now();
    let offset = shared.eventgrid.lock().offset.whole_seconds();
    json!({"now": format_time(now), "offset_seconds": offset})
}

/// Publishes arbitrary values as-is; the number published.
fn publish_raw(shared: &Shared, events: Value) -> Result<usize, String> {
    let Value::Array(events) = events else {
        return Err("the body must be a JSON array of events".into());
    };
    shared.eventgrid.publish(&events);
    Ok(events.len())
}

fn delete_subscription(shared: &Shared, name: &str) -> bool {
    let mut inner = shared.eventgrid.lock();
    let removed = inner.subs.remove(&name.to_ascii_lowercase());
    if let Some(sub) = &removed {
        for code in sub.awaiting.keys() {
            inner.validations.remove(code);
        }
    }
    removed.is_some()
}

fn subscriptions(shared: &Shared) -> Vec<Value> {
    shared
        .eventgrid
        .lock()
        .subs
        .values()
        .map(Subscription::view)
        .collect()
}

/// Whether the admin host's request is Event Grid's (then [`handle`] answers it).
pub(crate) fn is_eventgrid_path(path: &str) -> bool {
    path == "/_admin/eventgrid"
        || path.starts_with("/_admin/eventgrid/")
        || path.starts_with("/_eventgrid/")
}

/// The admin API and the validation URL.
pub(crate) async fn handle(shared: &Shared, req: &Req) -> Resp {
    let path = req.path.trim_end_matches('/');
    let m = req.method.as_str();
    if path == "/_eventgrid/validate" {
        return match m {
            "GET" | "POST" => validate(shared, req),
            _ => Resp::empty(405),
        };
    }
    let rest = path.strip_prefix("/_admin/eventgrid").unwrap_or("");
    let body = || serde_json::from_slice::<Value>(&req.body);
    let bad = |e: String| Resp::json(400, &json!({"error": e}));
    match (m, rest) {
        ("POST", "/subscriptions") => {
            let spec = match body() {
                Ok(v) => v,
                Err(e) => {
                    return arm_error(400, "InvalidRequestContent", &format!("invalid JSON: {e}"))
                }
            };
            match create_subscription(shared, spec).await {
                Ok(view) => Resp::json(201, &view),
                Err((status, code, message)) => arm_error(status, code, &message),
            }
        }
        ("GET", "/subscriptions") => Resp::json(200, &subscriptions(shared)),
        ("GET", r) if r.starts_with("/subscriptions/") => {
            let name = &r["/subscriptions/".len()..];
            let inner = shared.eventgrid.lock();
            match inner.subs.get(&name.to_ascii_lowercase()) {
                Some(s) => Resp::json(200, &s.view()),
                None => arm_error(
                    404,
                    "ResourceNotFound",
                    &format!("Event subscription {name} not found."),
                ),
            }
        }
        ("DELETE", r) if r.starts_with("/subscriptions/") => {
            let name = &r["/subscriptions/".len()..];
            if delete_subscription(shared, name) {
                Resp::empty(204)
            } else {
                arm_error(
                    404,
                    "ResourceNotFound",
                    &format!("Event subscription {name} not found."),
                )
            }
        }
        ("GET", "/clock") => Resp::json(200, &clock_json(shared)),
        ("PUT", "/clock") => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Clock {
                advance_seconds: Option<i64>,
                #[serde(default, with = "time::serde::rfc3339::option")]
                now: Option<OffsetDateTime>,
            }
            match serde_json::from_slice::<Clock>(&req.body) {
                Ok(c) if c.advance_seconds.is_some() != c.now.is_some() => {
                    move_clock(shared, c.advance_seconds, c.now);
                    Resp::json(200, &clock_json(shared))
                }
                Ok(_) => bad("give exactly one of advance_seconds and now".into()),
                Err(e) => bad(format!("invalid clock body: {e}")),
            }
        }
        ("POST", "/events") => match body()
            .map_err(|e| e.to_string())
            .and_then(|v| publish_raw(shared, v))
        {
            Ok(n) => Resp::json(200, &json!({"published": n})),
            Err(e) => bad(e),
        },
        ("GET", "/deliveries") => Resp::json(200, &shared.eventgrid.lock().deliveries),
        ("DELETE", "/deliveries") => {
            shared.eventgrid.lock().deliveries.clear();
            Resp::empty(204)
        }
        ("GET", "/status") => Resp::json(200, &shared.eventgrid.lock().status),
        _ => Resp::json(
            404,
            &json!({"error": format!("no admin endpoint {} {}", req.method, req.path)}),
        ),
    }
}

impl Emulator {
    /// Creates (or replaces) an event subscription: the body of
    /// `POST /_admin/eventgrid/subscriptions` ([`SubscriptionSpec`]). Runs the handshake against
    /// every endpoint first; a failure is an error carrying Event Grid's message.
    pub async fn add_event_subscription(&self, spec: Value) -> anyhow::Result<Value> {
        create_subscription(&self.shared, spec)
            .await
            .map_err(|(status, code, message)| anyhow::anyhow!("{status} {code}: {message}"))
    }

    /// Every event subscription as `GET /_admin/eventgrid/subscriptions` shows it.
    pub fn event_subscriptions(&self) -> Vec<Value> {
        subscriptions(&self.shared)
    }

    /// Deletes an event subscription; false when there was none of that name.
    pub fn delete_event_subscription(&self, name: &str) -> bool {
        delete_subscription(&self.shared, name)
    }

    /// The Event Grid publisher's clock (system time + the offset tests set).
    pub fn event_clock(&self) -> OffsetDateTime {
        self.shared.eventgrid.now()
    }

    /// Moves the publisher's clock forward (or back, negative) and scans for expiry events at
    /// once; answers the publisher's new time. Key Vault's own clock does not move.
    pub fn advance_event_clock(&self, seconds: i64) -> OffsetDateTime {
        move_clock(&self.shared, Some(seconds), None)
    }

    /// Sets the publisher's clock and scans at once.
    pub fn set_event_clock(&self, now: OffsetDateTime) -> OffsetDateTime {
        move_clock(&self.shared, None, Some(now))
    }

    /// Publishes a JSON array of arbitrary events as-is through the subscriptions; the number
    /// of events in the array.
    pub fn publish_events(&self, events: Value) -> anyhow::Result<usize> {
        publish_raw(&self.shared, events).map_err(anyhow::Error::msg)
    }

    /// Every delivery attempt so far, oldest first.
    pub fn event_deliveries(&self) -> Vec<EventDeliveryAttempt> {
        self.shared.eventgrid.lock().deliveries.clone()
    }

    /// Forgets the delivery log (the status counters stay).
    pub fn clear_event_deliveries(&self) {
        self.shared.eventgrid.lock().deliveries.clear();
    }

    pub fn event_status(&self) -> EventStatus {
        self.shared.eventgrid.lock().status.clone()
    }

    /// Polls [`Emulator::event_status`] until nothing is pending; an error after `timeout`.
    pub async fn wait_for_event_deliveries(
        &self,
        timeout: Duration,
    ) -> anyhow::Result<EventStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.event_status();
            if status.pending == 0 {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                anyhow::bail!("Event Grid deliveries still pending after {timeout:?}: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
