//! Event Grid deliveries as they arrive: the Event Grid schema (an array, or one object) and
//! CloudEvents 1.0 (one event, or a batch), read leniently where real deliveries differ from the
//! documentation and strictly where a wrong guess would act on the wrong secret.
//!
//! Key Vault's event data is read as real deliveries are, not as the docs show them: PascalCase
//! keys (`Id`, `VaultName`, `ObjectType`, `ObjectName`, `Version`, `NBF`, `EXP`), compared
//! case-insensitively and trimmed (the docs' own copy has `"ObjectName "`); `NBF`/`EXP` as
//! numbers, numeric strings or null (the TypeSpec says float32, a captured delivery has null,
//! the examples strings). A whole delivery is judged before anything is done for any of its
//! events: one malformed event makes the delivery malformed (400, no side effect).

use serde_json::{Map, Value};

/// The event types keyrot acts on.
pub const NEAR_EXPIRY: &str = "Microsoft.KeyVault.SecretNearExpiry";
pub const EXPIRED: &str = "Microsoft.KeyVault.SecretExpired";
pub const NEW_VERSION: &str = "Microsoft.KeyVault.SecretNewVersionCreated";
pub const VALIDATION: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";

/// The most events one delivery may carry (Event Grid's own batch limit).
pub const MAX_EVENTS: usize = 5_000;

/// Which schema a delivery was written in (the answer's form differs for validation only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    EventGrid,
    CloudEvents,
}

/// One parsed delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The Event Grid schema's subscription validation handshake.
    Validation {
        code: String,
        url: Option<String>,
    },
    Events(Vec<Event>),
}

/// One event, any type.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub subject: String,
    /// `topic` (Event Grid) or `source` (CloudEvents).
    pub topic: String,
    pub schema: Schema,
    /// What keyrot reads of it; `None` for a type keyrot does not act on.
    pub secret: Option<SecretEvent>,
}

/// What a Key Vault secret event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEvent {
    pub kind: SecretEventKind,
    pub vault: String,
    pub name: String,
    pub version: String,
    /// Epoch seconds, when the event carries them.
    pub not_before: Option<i64>,
    pub expires: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretEventKind {
    NearExpiry,
    Expired,
    NewVersion,
}

impl SecretEventKind {
    fn of(event_type: &str) -> Option<SecretEventKind> {
        match event_type {
            NEAR_EXPIRY => Some(SecretEventKind::NearExpiry),
            EXPIRED => Some(SecretEventKind::Expired),
            NEW_VERSION => Some(SecretEventKind::NewVersion),
            _ => None,
        }
    }
}

/// Why a delivery is refused with 400: said to the sender, so it names the field, never echoes
/// a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn malformed(text: impl Into<String>) -> Malformed {
    Malformed(text.into())
}

/// Reads a delivery's body. `content_type` decides CloudEvents' single (`application/cloudevents+json`)
/// from batch form; otherwise the body's shape does (an event with `specversion` is a CloudEvent).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Delivery, Malformed> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("the body is not JSON ({})", e.classify_name())))?;
    let items: Vec<Value> = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        _ => {
            return Err(malformed(
                "the body is neither an event nor an array of events",
            ))
        }
    };
    if items.is_empty() {
        return Err(malformed("the delivery holds no event"));
    }
    if items.len() > MAX_EVENTS {
        return Err(malformed(format!(
            "the delivery holds {} events; at most {MAX_EVENTS} are accepted",
            items.len()
        )));
    }
    let cloud = content_type.is_some_and(|t| {
        t.trim()
            .to_ascii_lowercase()
            .starts_with("application/cloudevents")
    });
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(malformed(format!("event #{} is not an object", i + 1)));
        };
        let schema = if cloud || object.contains_key("specversion") {
            Schema::CloudEvents
        } else {
            Schema::EventGrid
        };
        let event =
            read_event(&object, schema).map_err(|e| malformed(format!("event #{}: {e}", i + 1)))?;
        if event.event_type == VALIDATION {
            if i != 0 || !events.is_empty() {
                return Err(malformed("a validation event must come alone"));
            }
            let data = object.get("data").and_then(Value::as_object);
            let code = data
                .and_then(|d| d.get("validationCode"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| malformed("the validation event has no data.validationCode"))?;
            let url = data
                .and_then(|d| d.get("validationUrl"))
                .and_then(Value::as_str)
                .map(str::to_string);
            return Ok(Delivery::Validation {
                code: code.to_string(),
                url,
            });
        }
        events.push(event);
    }
    Ok(Delivery::Events(events))
}

/// Serde's name for what was wrong with the JSON (never the text itself).
trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

fn read_event(object: &Map<String, Value>, schema: Schema) -> Result<Event, String> {
    let (type_key, topic_key) = match schema {
        Schema::EventGrid => ("eventType", "topic"),
        Schema::CloudEvents => ("type", "source"),
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::trim);
    let id = text("id")
        .filter(|id| !id.is_empty())
        .ok_or("no id")?
        .to_string();
    let event_type = text(type_key)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("no {type_key}"))?
        .to_string();
    if schema == Schema::CloudEvents {
        match text("specversion") {
            Some("1.0") => {}
            _ => return Err("specversion is not 1.0".into()),
        }
    }
    let subject = text("subject").unwrap_or_default().to_string();
    let topic = text(topic_key).unwrap_or_default().to_string();
    let secret = match SecretEventKind::of(&event_type) {
        None => None,
        Some(kind) => Some(read_secret(kind, object.get("data"), &subject, &topic)?),
    };
    Ok(Event {
        id,
        event_type,
        subject,
        topic,
        schema,
        secret,
    })
}

/// `data` of a Key Vault secret event. Vault and name must be known and valid Key Vault names;
/// the version must be a version id. Anything else is malformed: acting on a guess could rotate
/// the wrong secret.
fn read_secret(
    kind: SecretEventKind,
    data: Option<&Value>,
    subject: &str,
    topic: &str,
) -> Result<SecretEvent, String> {
    let data = match data {
        Some(Value::Object(data)) => data.clone(),
        // The Functions host may hand the data on as a JSON string.
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(data)) => data,
            _ => return Err("data is a string that holds no JSON object".into()),
        },
        _ => return Err("data is not an object".into()),
    };
    let field = |name: &str| -> Option<&Value> {
        data.iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| -> Result<Option<String>, String> {
        match field(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Some(_) => Err(format!("data.{name} is not a string")),
        }
    };
    let object_type = text("ObjectType")?;
    if let Some(t) = &object_type {
        if !t.eq_ignore_ascii_case("Secret") {
            return Err("data.ObjectType is not Secret for a secret event".to_string());
        }
    }
    let vault = match text("VaultName")? {
        Some(v) => v,
        // `/subscriptions/…/providers/Microsoft.KeyVault/vaults/{name}`
        None => topic
            .rsplit_once("/vaults/")
            .map(|(_, name)| name.trim_matches('/').to_string())
            .filter(|n| !n.is_empty())
            .ok_or("no data.VaultName")?,
    };
    if !valid_vault_name(&vault) {
        return Err("data.VaultName is not a Key Vault name".into());
    }
    let name = match text("ObjectName")? {
        Some(n) => n,
        None if !subject.is_empty() => subject.to_string(),
        None => return Err("no data.ObjectName".into()),
    };
    if !valid_secret_name(&name) {
        return Err("data.ObjectName is not a Key Vault secret name".into());
    }
    let version = text("Version")?.ok_or("no data.Version")?;
    if !version.bytes().all(|b| b.is_ascii_alphanumeric()) || version.len() > 64 {
        return Err("data.Version is not a version id".into());
    }
    Ok(SecretEvent {
        kind,
        vault,
        name,
        version,
        not_before: epoch(field("NBF")).map_err(|e| format!("data.NBF {e}"))?,
        expires: epoch(field("EXP")).map_err(|e| format!("data.EXP {e}"))?,
    })
}

/// A number, a numeric string or null, as whole epoch seconds.
fn epoch(value: Option<&Value>) -> Result<Option<i64>, String> {
    let number = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match number {
        // Up to year 9999; float32 values arrive rounded, which a log line can live with.
        Some(n) if n.is_finite() && (0.0..=253_402_300_799.0).contains(&n) => {
            Ok(Some(n.round() as i64))
        }
        _ => Err("is not epoch seconds".into()),
    }
}

/// Key Vault's vault names: 3-24 of letters, digits and hyphens, starting with a letter.
fn valid_vault_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Key Vault's secret names: 1-127 of letters, digits and hyphens.
fn valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(body: &Value) -> Vec<Event> {
        match parse(None, body.to_string().as_bytes()) {
            Ok(Delivery::Events(events)) => events,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_published_event_grid_example() {
        let body = include_str!(
            "../../tests/fixtures/eventgrid/event-grid-schema/secret_new_version_created.json"
        );
        let parsed = match parse(Some("application/json"), body.as_bytes()).unwrap() {
            Delivery::Events(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(parsed.len(), 1);
        let secret = parsed[0].secret.clone().unwrap();
        assert_eq!(parsed[0].id, "00eccf70-95a7-4e7c-8299-2eb17ee9ad64");
        assert_eq!(parsed[0].schema, Schema::EventGrid);
        assert_eq!(
            secret,
            SecretEvent {
                kind: SecretEventKind::NewVersion,
                vault: "sample-kv".into(),
                name: "newsecret".into(),
                version: "ee059b2bb5bc48398a53b168c6cdcb10".into(),
                not_before: Some(1559081980),
                expires: Some(1559082102),
            }
        );
    }

    #[test]
    fn the_published_cloud_events_example() {
        let body = include_str!(
            "../../tests/fixtures/eventgrid/cloud-events-schema/secret_new_version_created.json"
        );
        let parsed = match parse(
            Some("application/cloudevents+json; charset=utf-8"),
            body.as_bytes(),
        )
        .unwrap()
        {
            Delivery::Events(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(parsed[0].schema, Schema::CloudEvents);
        assert_eq!(parsed[0].secret.as_ref().unwrap().name, "newsecret");
        assert!(parsed[0].topic.ends_with("/vaults/sample-kv"));
    }

    #[test]
    fn the_docs_typo_variant_reads_the_same() {
        let body = include_str!("../../tests/fixtures/eventgrid/docs-typo-variant-secret_new_version_created-array.json");
        let parsed = match parse(None, body.as_bytes()).unwrap() {
            Delivery::Events(e) => e,
            other => panic!("{other:?}"),
        };
        let secret = parsed[0].secret.clone().unwrap();
        assert_eq!(secret.name, "newsecret");
        assert_eq!(secret.version, "ee059b2bb5bc48398a53b168c6cdcb10");
    }

    #[test]
    fn the_validation_handshake() {
        let body =
            include_str!("../../tests/fixtures/eventgrid/subscription_validation_event.json");
        match parse(None, body.as_bytes()).unwrap() {
            Delivery::Validation { code, url } => {
                assert_eq!(code, "512d38b6-c7b8-40c8-89fe-f46f9e9622b6");
                assert!(url
                    .unwrap()
                    .starts_with("https://rp-eastus2.eventgrid.azure.net:553/"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn real_deliveries_numbers_and_nulls() {
        let event = |nbf: Value, exp: Value| {
            json!([{"id": "1", "eventType": NEAR_EXPIRY, "subject": "s", "topic": "t",
                "data": {"id": "x", "vaultname": " kv1 ", "OBJECTNAME": "db-password", "Version": "abc123",
                    "NBF": nbf, "EXP": exp}}])
        };
        let parsed = events(&event(Value::Null, json!(1_700_000_000)));
        let secret = parsed[0].secret.clone().unwrap();
        assert_eq!(secret.vault, "kv1");
        assert_eq!(secret.name, "db-password");
        assert_eq!(secret.kind, SecretEventKind::NearExpiry);
        assert_eq!(
            (secret.not_before, secret.expires),
            (None, Some(1_700_000_000))
        );
        let parsed = events(&event(json!(1.7e9), json!("1700000001")));
        let secret = parsed[0].secret.clone().unwrap();
        assert_eq!(
            (secret.not_before, secret.expires),
            (Some(1_700_000_000), Some(1_700_000_001))
        );
        for bad in [json!("soon"), json!(-5), json!(true), json!({})] {
            assert!(
                parse(None, event(bad.clone(), Value::Null).to_string().as_bytes()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_event_types_are_read_but_not_acted_on() {
        let parsed = events(
            &json!({"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "subject": "x", "data": 5}),
        );
        assert_eq!(parsed[0].secret, None);
    }

    #[test]
    fn malformed_deliveries() {
        let cases: &[&[u8]] = &[
            b"",
            b"not json",
            b"[]",
            b"42",
            b"[1]",
            br#"[{"eventType": "x"}]"#,
            br#"[{"id": "1"}]"#,
            br#"[{"id": "1", "eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": {"VaultName": "kv1", "ObjectName": "a", "Version": "../x"}}]"#,
            br#"[{"id": "1", "eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": {"VaultName": "k", "ObjectName": "a", "Version": "v1"}}]"#,
            br#"[{"id": "1", "eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": {"VaultName": "kv1", "ObjectName": "a/b", "Version": "v1"}}]"#,
            br#"[{"id": "1", "eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": {"VaultName": "kv1", "ObjectType": "Key", "ObjectName": "a", "Version": "v1"}}]"#,
            br#"{"id": "1", "type": "Microsoft.KeyVault.SecretNearExpiry", "specversion": "0.3", "data": {}}"#,
        ];
        for body in cases {
            assert!(
                parse(None, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn valid_event() -> Value {
        json!({"id": "p1", "eventType": NEAR_EXPIRY, "subject": "",
            "data": {"VaultName": "kv1", "ObjectName": "db", "Version": "abc", "NBF": 1, "EXP": 2}})
    }

    /// A valid delivery with one thing broken, each break one the parser must refuse: a required
    /// field not a string, a name or version that is not one, a date that is not epoch seconds.
    /// (No subject or topic: they would stand in for a missing name or vault; no spaces in a
    /// bad name: surrounding ones are trimmed, as Event Grid's own may carry them.)
    fn broken_delivery() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let not_text = prop_oneof![
            Just(json!(true)),
            Just(json!([])),
            Just(json!({})),
            any::<i64>().prop_map(|n| json!(n)),
        ];
        let bad_name = "[a-z]{0,3}[/?#.%]{1,3}[a-z]{0,3}".prop_map(Value::String);
        let required_text = (
            prop::sample::select(vec!["id", "eventType"]),
            prop_oneof![not_text.clone(), Just(Value::Null), Just(json!(""))],
        );
        let data_text = (
            prop::sample::select(vec!["VaultName", "ObjectName", "Version"]),
            prop_oneof![
                not_text.clone(),
                Just(Value::Null),
                Just(json!("")),
                bad_name
            ],
        );
        let dates = (
            prop::sample::select(vec!["NBF", "EXP"]),
            prop_oneof![
                Just(json!(true)),
                Just(json!([])),
                Just(json!(-1)),
                "[a-z]{1,5}".prop_map(Value::String)
            ],
        );
        let data = prop_oneof![not_text, Just(Value::Null)];
        prop_oneof![
            required_text.prop_map(|(f, v)| (f, v, false)),
            data_text.prop_map(|(f, v)| (f, v, true)),
            dates.prop_map(|(f, v)| (f, v, true)),
            data.prop_map(|v| ("data", v, false)),
        ]
        .prop_map(|(field, value, in_data)| {
            let mut event = valid_event();
            let target = if in_data {
                event["data"].as_object_mut().unwrap()
            } else {
                event.as_object_mut().unwrap()
            };
            target.insert(field.to_string(), value);
            json!([valid_event(), event])
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 512, ..Default::default() })]

        #[test]
        fn any_bytes_are_read_or_refused_never_acted_on_wrongly(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(Delivery::Events(events)) = parse(None, &body) {
                for secret in events.iter().filter_map(|e| e.secret.as_ref()) {
                    proptest::prop_assert!(valid_vault_name(&secret.vault));
                    proptest::prop_assert!(valid_secret_name(&secret.name));
                }
            }
        }

        #[test]
        fn a_broken_field_refuses_the_whole_delivery(delivery in broken_delivery()) {
            let refused = parse(None, delivery.to_string().as_bytes()).is_err();
            proptest::prop_assert!(refused, "accepted: {}", delivery);
        }
    }

    #[test]
    fn a_missing_required_field_refuses_the_delivery() {
        for field in ["id", "eventType", "data"] {
            let mut event = valid_event();
            event.as_object_mut().unwrap().remove(field);
            assert!(
                parse(None, json!([event]).to_string().as_bytes()).is_err(),
                "{field}"
            );
        }
        for field in ["VaultName", "ObjectName", "Version"] {
            let mut event = valid_event();
            event["data"].as_object_mut().unwrap().remove(field);
            assert!(
                parse(None, json!([event]).to_string().as_bytes()).is_err(),
                "{field}"
            );
        }
        assert!(parse(None, json!([valid_event()]).to_string().as_bytes()).is_ok());
    }
}
