//! Logic App (Consumption) workflows (rest-api-specs `Microsoft.Logic/stable/2019-05-01`): a
//! workflow that holds a rotated credential in one of its parameters is updated by reading it,
//! replacing that parameter's value, and writing the whole workflow back:
//! - `GET {workflow}` → the workflow (`properties.definition`, `properties.parameters`
//!   as `{"<name>": {"value": …}}`, `properties.state`, …; `Workflows_Get.json`);
//! - `PUT {workflow}` with the same document (`Workflows_CreateOrUpdate.json`): PUT replaces
//!   the workflow, so everything read is sent back unchanged but the one value
//!   ([`set_parameter`]).
//!
//! The workflow may hold other secrets (its parameters); the document is returned as read and
//! never logged, and an error ARM returns for the PUT is scrubbed of every parameter value sent.

use azure_core::http::Method;
use serde_json::{Map, Value};

use super::resource_id::{Resource, ResourceId};
use super::{expect_success, wrong_kind, ArmClient, ArmError, ArmErrorKind, Call};
use crate::model::SecretValue;

pub const API_VERSION: &str = "2019-05-01";

const READ_ROLE: &str = "the identity needs Logic App Operator (or Reader) on the workflow";
const WRITE_ROLE: &str = "the identity needs Logic App Contributor on the workflow (Logic App Operator can read but not update it)";

/// The Logic Apps calls (see [`ArmClient::logic`]).
pub struct Logic<'a>(pub(crate) &'a ArmClient);

fn check(call: &str, id: &ResourceId) -> Result<(), ArmError> {
    match id.resource {
        Resource::LogicWorkflow { .. } => Ok(()),
        _ => Err(wrong_kind(call, id, "a Logic App workflow")),
    }
}

impl Logic<'_> {
    /// The workflow document as ARM returns it.
    pub async fn get_workflow(&self, id: &ResourceId) -> Result<Value, ArmError> {
        let call = Call {
            describe: format!("reading {}", id.describe()),
            resource: Some(id),
            role: READ_ROLE,
        };
        check(&call.describe, id)?;
        let url = self.0.resource_url(id, &[], API_VERSION);
        let answer = self.0.send(&call, Method::Get, url, None, false).await?;
        let body = expect_success(&call, answer)?.body;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| super::malformed(&call.describe, "a workflow", &e))?;
        if !value.get("properties").is_some_and(Value::is_object) {
            return Err(ArmError::new(
                &call.describe,
                ArmErrorKind::Malformed,
                "the answer has no properties object",
            ));
        }
        Ok(value)
    }

    /// Writes the workflow (a whole document, as [`set_parameter`] makes it).
    pub async fn put_workflow(&self, id: &ResourceId, body: &Value) -> Result<(), ArmError> {
        let call = Call {
            describe: format!("updating {}", id.describe()),
            resource: Some(id),
            role: WRITE_ROLE,
        };
        check(&call.describe, id)?;
        let url = self.0.resource_url(id, &[], API_VERSION);
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ArmError::new(&call.describe, ArmErrorKind::InvalidInput, e.to_string())
        })?;
        let secrets = parameter_strings(body);
        let answer = self
            .0
            .send(&call, Method::Put, url, Some(bytes), false)
            .await
            .map_err(|e| e.scrub(&secrets))?;
        expect_success(&call, answer).map_err(|e| e.scrub(&secrets))?;
        Ok(())
    }
}

/// Every string inside `properties.parameters` (what an error must not echo).
fn parameter_strings(body: &Value) -> Vec<String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            Value::Object(o) => o.values().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(parameters) = body.pointer("/properties/parameters") {
        collect(parameters, &mut out);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// The workflow `workflow` (as `GET` returned it) with the parameter `name`'s value set to
/// `value`: `properties.parameters.<name>.value`, every other field of the parameter, the
/// other parameters, the definition, the state and everything else kept. The parameter must be
/// declared by the definition (`properties.definition.parameters.<name>`) or already have a
/// value; the error lists the parameters there are. The result holds the secret: never log it.
pub fn set_parameter(workflow: &Value, name: &str, value: &SecretValue) -> Result<Value, String> {
    let properties = workflow
        .get("properties")
        .and_then(Value::as_object)
        .ok_or("the workflow has no properties object")?;
    let declared: Vec<String> = properties
        .get("definition")
        .and_then(|d| d.get("parameters"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let valued: Vec<String> = properties
        .get("parameters")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if !declared.iter().chain(&valued).any(|n| n == name) {
        let mut known: Vec<&String> = declared.iter().chain(&valued).collect();
        known.sort();
        known.dedup();
        let known: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
        return Err(if known.is_empty() {
            format!("the workflow has no parameter {name:?}: its definition declares no parameters")
        } else {
            format!(
                "the workflow has no parameter {name:?}; it has {}",
                known.join(", ")
            )
        });
    }
    let mut out = workflow.clone();
    let properties = out
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("checked above");
    let parameters = properties
        .entry("parameters")
        .or_insert_with(|| Value::Object(Map::new()));
    if !parameters.is_object() {
        *parameters = Value::Object(Map::new());
    }
    let parameters = parameters.as_object_mut().expect("an object");
    let entry = parameters
        .entry(name.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        return Err(format!(
            "the workflow's parameter {name:?} is not an object like {{\"value\": …}}"
        ));
    }
    entry
        .as_object_mut()
        .expect("an object")
        .insert("value".to_owned(), Value::String(value.expose().to_owned()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use serde_json::json;

    fn get_body() -> Value {
        fixture("arm/Workflows_Get.json")["responses"]["200"]["body"].clone()
    }

    fn put_body() -> Value {
        fixture("arm/Workflows_CreateOrUpdate.json")["parameters"]["workflow"].clone()
    }

    fn secret() -> SecretValue {
        SecretValue::new("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=bmV3LWtleQ==".into())
    }

    #[test]
    fn a_declared_parameter_gets_its_value_and_nothing_else_changes() {
        // The documented GET answer, with a parameter declared as a workflow would declare a
        // connection string.
        let mut workflow = get_body();
        workflow["properties"]["definition"]["parameters"]["storageConnection"] =
            json!({"type": "SecureString", "defaultValue": ""});
        let out = set_parameter(&workflow, "storageConnection", &secret()).unwrap();
        assert_eq!(
            out["properties"]["parameters"]["storageConnection"],
            json!({"value": secret().expose()})
        );
        // Everything else as read: definition, state, access control, endpoints, id, tags.
        let mut expected = workflow.clone();
        expected["properties"]["parameters"] =
            json!({"storageConnection": {"value": secret().expose()}});
        assert_eq!(out, expected);
        assert_eq!(out["properties"]["state"], "Enabled");
        assert_eq!(
            out["properties"]["definition"],
            workflow["properties"]["definition"]
        );
    }

    #[test]
    fn an_existing_parameter_keeps_its_other_fields() {
        let mut workflow = put_body();
        workflow["properties"]["parameters"]["apiKey"] = json!({"value": "old", "type": "String"});
        let out = set_parameter(&workflow, "apiKey", &SecretValue::new("new".into())).unwrap();
        assert_eq!(
            out["properties"]["parameters"]["apiKey"],
            json!({"value": "new", "type": "String"})
        );
        // The documented $connections parameter is untouched.
        assert_eq!(
            out["properties"]["parameters"]["$connections"],
            workflow["properties"]["parameters"]["$connections"]
        );
        assert_eq!(out["location"], "brazilsouth");
        // `$connections` itself can be replaced (a declared Object parameter).
        let out = set_parameter(&workflow, "$connections", &SecretValue::new("x".into())).unwrap();
        assert_eq!(
            out["properties"]["parameters"]["$connections"]["value"],
            "x"
        );
    }

    #[test]
    fn unknown_parameters_are_explained() {
        let error = set_parameter(&get_body(), "storageConnection", &secret()).unwrap_err();
        assert_eq!(error, "the workflow has no parameter \"storageConnection\": its definition declares no parameters");
        let error = set_parameter(&put_body(), "apiKey", &secret()).unwrap_err();
        assert_eq!(
            error,
            "the workflow has no parameter \"apiKey\"; it has $connections"
        );
        assert!(!error.contains("bmV3"));
        assert!(set_parameter(&json!({"id": "x"}), "a", &secret()).is_err());
        let mut odd = put_body();
        odd["properties"]["parameters"]["apiKey"] = json!("bare");
        assert!(set_parameter(&odd, "apiKey", &secret())
            .unwrap_err()
            .contains("not an object"));
    }

    #[tokio::test]
    async fn get_then_put_sends_the_document_back() {
        let body = get_body();
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(200, &[], &body.to_string()),
                reply(
                    200,
                    &[],
                    &fixture("arm/Workflows_CreateOrUpdate.json")["responses"]["200"]["body"]
                        .to_string(),
                ),
            ],
        );
        let wf = id("Microsoft.Logic/workflows/test-workflow");
        let mut read = client.logic().get_workflow(&wf).await.unwrap();
        assert_eq!(read, body);
        read["properties"]["definition"]["parameters"]["k"] = json!({"type": "SecureString"});
        let updated = set_parameter(&read, "k", &secret()).unwrap();
        client.logic().put_workflow(&wf, &updated).await.unwrap();
        let sent = log.take();
        let url = format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Logic/workflows/test-workflow?api-version=2019-05-01");
        assert_eq!(
            (sent[0].method.as_str(), sent[0].url.clone()),
            ("GET", url.clone())
        );
        assert_eq!((sent[1].method.as_str(), sent[1].url.clone()), ("PUT", url));
        assert_eq!(sent[1].json(), updated);
        assert!(sent[1].header(crate::transport::NO_REPLAY_HEADER).is_none());
    }

    #[tokio::test]
    async fn a_put_error_never_echoes_the_value() {
        let value = secret();
        let echoed = format!(
            r#"{{"error":{{"code":"InvalidTemplate","message":"The value '{}' of parameter 'k' is invalid."}}}}"#,
            value.expose()
        );
        let (client, _) = scripted(PUBLIC, vec![reply(400, &[], &echoed)]);
        let mut wf = get_body();
        wf["properties"]["definition"]["parameters"]["k"] = json!({"type": "SecureString"});
        let body = set_parameter(&wf, "k", &value).unwrap();
        let error = client
            .logic()
            .put_workflow(&id("Microsoft.Logic/workflows/test-workflow"), &body)
            .await
            .unwrap_err()
            .to_string();
        assert!(!error.contains("bmV3LWtleQ=="), "{error}");
        assert!(
            error.contains("The value '<redacted>' of parameter 'k'"),
            "{error}"
        );
        assert!(
            error.contains("Logic App Contributor") || error.contains("400 Bad Request"),
            "{error}"
        );
    }
}
