//! Structured logs: one JSON line per event (its id, type, credential, outcome, duration) and
//! per handshake, refusal or sweep, on stdout, which Functions and Container Apps collect.
//! Every string from outside (ids, names, messages) is a JSON string value, escaped and made
//! inert, so it can never be read as a log-collector or pipeline command.

use std::io::Write as _;

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::engine::Answer;
use crate::ci::inert;

fn line(mut fields: Value) {
    if let Value::Object(map) = &mut fields {
        let time = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        map.insert("time".into(), Value::String(time));
    }
    let text = fields.to_string();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", inert::json(&text));
    let _ = out.flush();
}

/// One line per event of a delivery.
pub fn answered(answer: &Answer) {
    for event in &answer.events {
        line(json!({
            "msg": "event",
            "event_id": event.id,
            "event_type": event.event_type,
            "secret": event.secret,
            "credential": event.credential,
            "outcome": event.outcome,
            "message": event.message,
            "status": answer.status,
            "duration_ms": event.duration.as_millis() as u64,
        }));
    }
}

pub fn handshake(schema: &str, origin: &str) {
    line(json!({"msg": "handshake", "schema": schema, "origin": origin}));
}

pub fn refused(path: &str, why: &str) {
    line(json!({"msg": "refused", "path": path, "status": 401, "reason": why}));
}

pub fn malformed(path: &str, why: &str) {
    line(json!({"msg": "malformed", "path": path, "status": 400, "reason": why}));
}

pub fn sweep(summary: &Value, duration_ms: u64) {
    line(json!({"msg": "sweep", "summary": summary, "duration_ms": duration_ms}));
}

pub fn lifecycle(what: &str, detail: Value) {
    line(json!({"msg": what, "detail": detail}));
}
