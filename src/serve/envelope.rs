//! The Azure Functions custom handler's invocation envelope: the host POSTs
//! `{"Data": {<binding>: value}, "Metadata": {...}}` to `/{functionName}` and expects
//! `{"Outputs": {...}, "Logs": [...], "ReturnValue": ...}` back; a non-2xx status fails the
//! invocation (and so makes Event Grid deliver again). The trigger's value arrives as a JSON
//! object or as a string holding JSON (the host serialises what it cannot turn into an object),
//! so both are read.

use serde_json::{json, Value};

/// The binding name of `keyrot-events`' Event Grid trigger (deploy/functions).
pub const EVENT_BINDING: &str = "event";

/// The event (or events) a `keyrot-events` invocation carries, as the bytes of a delivery.
pub fn event_body(body: &[u8]) -> Result<Vec<u8>, String> {
    let envelope: Value =
        serde_json::from_slice(body).map_err(|_| "the invocation is not JSON".to_string())?;
    let data = envelope
        .get("Data")
        .and_then(Value::as_object)
        .ok_or("the invocation has no Data object")?;
    let value = match data.get(EVENT_BINDING) {
        Some(value) => value,
        // A binding renamed in function.json: the trigger is Data's only entry.
        None if data.len() == 1 => data.values().next().expect("one entry"),
        None => {
            return Err(format!(
                "the invocation's Data has no {EVENT_BINDING:?} binding"
            ))
        }
    };
    match value {
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        Value::Object(_) | Value::Array(_) => Ok(value.to_string().into_bytes()),
        _ => Err("the invocation's event is neither an object nor a string".into()),
    }
}

/// The host's response envelope: the log lines for the invocation log and the outcome.
pub fn response(logs: &[String], value: Value) -> Value {
    json!({"Outputs": {}, "Logs": logs, "ReturnValue": value})
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"id":"1","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"s","data":{"VaultName":"kv1","ObjectName":"s","Version":"v1"}}"#;

    #[test]
    fn the_event_as_object_or_string() {
        let object = format!(
            r#"{{"Data":{{"event":{EVENT}}},"Metadata":{{"sys":{{"MethodName":"keyrot-events"}}}}}}"#
        );
        let string = json!({"Data": {"event": EVENT}, "Metadata": {}}).to_string();
        let a: Value = serde_json::from_slice(&event_body(object.as_bytes()).unwrap()).unwrap();
        let b: Value = serde_json::from_slice(&event_body(string.as_bytes()).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["id"], "1");
    }

    #[test]
    fn broken_envelopes() {
        for bad in [
            "",
            "{}",
            r#"{"Data": 1}"#,
            r#"{"Data": {"a": 1, "b": 2}}"#,
            r#"{"Data": {"event": 5}}"#,
        ] {
            assert!(event_body(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
