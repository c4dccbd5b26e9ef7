//! `Microsoft.Logic/workflows`: `GET` and `PUT` (api-version 2019-05-01), with the shapes of
//! rest-api-specs' `Workflows_Get.json` / `Workflows_CreateOrUpdate.json` (tests/fixtures/arm).
//!
//! A `PUT` replaces the workflow's `definition`, `parameters` (`{"name": {"value": …}}`),
//! `state`, `tags` when present in `properties` (or at the top level for `tags`), moves
//! `changedTime` and `version`, and answers 200 (201 when it created the workflow; `location`
//! is then required: 400 `LocationRequired`). Every PUT body is kept
//! ([`Emulator::logic_app_last_put`](crate::Emulator::logic_app_last_put)).

use serde_json::{json, Value};

use super::{arm_time, now_ms, rp_error, ArmState, Ctx};
use crate::http::Resp;

pub const API_VERSIONS: &[&str] = &["2019-05-01", "2018-07-01-preview", "2016-06-01"];

const TYPE: &str = "Microsoft.Logic/workflows";

pub struct LogicApp {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub state: String,
    pub definition: Value,
    pub parameters: Value,
    pub tags: Value,
    pub created_ms: i128,
    pub changed_ms: i128,
    pub version: u64,
    pub access_id: String,
    pub puts: Vec<Value>,
}

fn empty_definition() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {},
        "triggers": {},
        "actions": {},
        "outputs": {}
    })
}

/// Logic Apps' 20-digit version stamps grow with time.
fn version_at(ms: i128) -> u64 {
    8_586_000_000_000_000_000u64.saturating_add(u64::try_from(ms.max(0)).unwrap_or(0))
}

impl LogicApp {
    pub fn from_seed(s: &super::LogicAppSeed, start: i64) -> LogicApp {
        let parse = |t: &Option<String>, default: Value| {
            t.as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(default)
        };
        let created = i128::from(start) * 1000;
        LogicApp {
            resource_group: s.resource_group.clone(),
            name: s.name.clone(),
            location: s.location.clone(),
            state: s.state.clone().unwrap_or_else(|| "Enabled".into()),
            definition: parse(&s.definition, empty_definition()),
            parameters: parse(&s.parameters, json!({})),
            tags: json!({}),
            created_ms: created,
            changed_ms: created,
            version: version_at(created),
            access_id: crate::state::derived_guid(&s.name).replace('-', ""),
            puts: Vec::new(),
        }
    }

    pub fn to_json(&self, sub: &str, arm: &ArmState, _port: u16) -> Value {
        let rg = arm
            .resource_groups
            .get(&self.resource_group.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| self.resource_group.clone());
        let ip = |a: &str| json!({"address": a});
        json!({
            "properties": {
                "provisioningState": "Succeeded",
                "createdTime": arm_time(self.created_ms),
                "changedTime": arm_time(self.changed_ms),
                "state": self.state,
                "version": format!("{:020}", self.version),
                "accessEndpoint": format!("https://prod-00.{}.logic.azure.com:443/workflows/{}", self.location, self.access_id),
                "definition": self.definition,
                "parameters": self.parameters,
                "accessControl": {},
                "endpointsConfiguration": {
                    "workflow": {
                        "outgoingIpAddresses": [ip("127.0.0.1")],
                        "accessEndpointIpAddresses": [ip("127.0.0.1")]
                    },
                    "connector": {"outgoingIpAddresses": [ip("127.0.0.1")]}
                }
            },
            "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{TYPE}/{}", self.name),
            "name": self.name,
            "type": TYPE,
            "location": self.location,
            "tags": self.tags,
        })
    }

    pub fn admin(&self) -> Value {
        json!({
            "resource_group": self.resource_group,
            "name": self.name,
            "state": self.state,
            "definition": self.definition,
            "parameters": self.parameters,
            "puts": self.puts,
        })
    }
}

pub(crate) fn handle(ctx: &mut Ctx<'_>, rg: &str, name: &str, put: bool) -> Resp {
    let port = ctx.port;
    let sub = ctx.sub();
    let i = ctx.st.arm.logic_apps.iter().position(|l| {
        l.resource_group.eq_ignore_ascii_case(rg) && l.name.eq_ignore_ascii_case(name)
    });
    if !put {
        return match i {
            Some(i) => Resp::json(
                200,
                &ctx.st.arm.logic_apps[i].to_json(&sub, &ctx.st.arm, port),
            ),
            None => super::resource_not_found(TYPE, name, rg),
        };
    }
    let body = match ctx.body() {
        Ok(Value::Object(b)) => Value::Object(b),
        Ok(_) => return super::bad_body("The request content was invalid and could not be deserialized: the workflow must be a JSON object."),
        Err(r) => return r,
    };
    let props = body.get("properties").cloned().unwrap_or(json!({}));
    if !props.is_object() {
        return super::bad_body("The request content was invalid and could not be deserialized: 'properties' must be an object.");
    }
    let now = now_ms();
    let created = i.is_none();
    let i = match i {
        Some(i) => i,
        None => {
            let Some(location) = body.get("location").and_then(Value::as_str) else {
                return rp_error(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                );
            };
            ctx.st.arm.logic_apps.push(LogicApp {
                resource_group: rg.to_owned(),
                name: name.to_owned(),
                location: location.to_owned(),
                state: "Enabled".into(),
                definition: empty_definition(),
                parameters: json!({}),
                tags: json!({}),
                created_ms: now,
                changed_ms: now,
                version: version_at(now),
                access_id: crate::state::derived_guid(name).replace('-', ""),
                puts: Vec::new(),
            });
            ctx.st.arm.logic_apps.len() - 1
        }
    };
    let l = &mut ctx.st.arm.logic_apps[i];
    if let Some(d) = props.get("definition") {
        l.definition = d.clone();
    }
    if let Some(p) = props.get("parameters") {
        l.parameters = p.clone();
    }
    if let Some(s) = props.get("state").and_then(Value::as_str) {
        l.state = s.to_owned();
    }
    if let Some(t) = body.get("tags") {
        l.tags = t.clone();
    }
    l.changed_ms = now;
    l.version = version_at(now).max(l.version + 1);
    l.puts.push(body);
    let status = if created { 201 } else { 200 };
    Resp::json(
        status,
        &ctx.st.arm.logic_apps[i].to_json(&sub, &ctx.st.arm, port),
    )
}
