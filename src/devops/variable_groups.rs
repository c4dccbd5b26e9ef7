//! Variable groups: resolve by name or id, set one secret variable (GET → change one → PUT
//! everything back), verify by re-reading.
//!
//! A PUT replaces the whole group: a variable it does not carry is deleted, a secret carried
//! as `{"isSecret": true}` without a value keeps its value, and there is no ETag. So keyrot
//! re-sends every other variable (secrets without value, so it never needs or sees them),
//! echoes the project references (without them the PUT fails), and after the write waits a
//! moment (twice the PUT's own round trip: another writer's PUT already in flight lands
//! meanwhile) and re-reads: when another run's PUT, made from an older read, removed the
//! variable, the update is made again; otherwise that re-read is the verification (the
//! variable is there and secret, every other variable as keyrot re-sent it).

use serde_json::{json, Map, Value};

use super::{DevopsClient, DevopsError, DevopsErrorKind};
use crate::model::SecretValue;
use azure_core::http::Method;

/// Writes of one group give up after this many lost updates in a row.
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKind {
    /// Values held by Azure DevOps itself.
    Vsts,
    /// Values read from this Key Vault when a pipeline runs.
    AzureKeyVault {
        vault: Option<String>,
    },
    Other(String),
}

/// A variable group as keyrot needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableGroup {
    pub id: u32,
    pub name: String,
    pub kind: GroupKind,
    pub project: String,
}

/// What [`DevopsClient::set_variable`] did.
#[derive(Debug, Clone)]
pub enum SetOutcome {
    /// The variable holds the new value (as a secret).
    Written(Written),
    /// A Key Vault-linked group reads the vault when a pipeline runs: no write needed.
    KeyVaultLinked(VariableGroup),
}

/// A completed write: the group, the variable's name as the group spells it, and the other
/// variables as keyrot re-sent them (what [`DevopsClient::verify`] expects to find).
#[derive(Debug, Clone)]
pub struct Written {
    pub group: VariableGroup,
    pub variable: String,
    /// `modifiedOn` of the group after the write.
    pub modified_on: Option<String>,
    /// PUTs it took (more than one when another writer's older PUT removed the variable).
    pub attempts: u32,
    others: Vec<Other>,
}

/// Another variable as re-sent: secrets by name and flag only.
#[derive(Debug, Clone)]
struct Other {
    name: String,
    secret: bool,
    /// Non-secret variables only.
    value: Option<String>,
}

fn selector(group: &str) -> Result<Result<u32, &str>, String> {
    let group = group.trim();
    if group.is_empty() {
        return Err("the variable group is empty; give its name or numeric id".into());
    }
    if group.bytes().all(|b| b.is_ascii_digit()) {
        return group
            .parse::<u32>()
            .map(Ok)
            .map_err(|_| format!("variable group id {group} is out of range"));
    }
    if group.contains('*') {
        return Err(format!(
            "variable group name {:?} contains '*'; name one group exactly",
            crate::ci::inert::one_line(group)
        ));
    }
    Ok(Err(group))
}

fn parse_group(project: &str, raw: &Value) -> Option<VariableGroup> {
    let id = u32::try_from(raw.get("id")?.as_u64()?).ok()?;
    let name = raw.get("name")?.as_str()?.to_owned();
    let kind = match raw.get("type").and_then(Value::as_str).unwrap_or("Vsts") {
        "Vsts" => GroupKind::Vsts,
        "AzureKeyVault" => GroupKind::AzureKeyVault {
            vault: raw
                .pointer("/providerData/vault")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        other => GroupKind::Other(other.to_owned()),
    };
    Some(VariableGroup {
        id,
        name,
        kind,
        project: project.to_owned(),
    })
}

fn variables(raw: &Value) -> impl Iterator<Item = (&String, &Value)> {
    raw.get("variables")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn is_secret(v: &Value) -> bool {
    v.get("isSecret").and_then(Value::as_bool).unwrap_or(false)
}

impl DevopsClient {
    /// The group with this name (case-insensitive) or numeric id in `project`. By name, the
    /// listing's copy is enough to know the group (its id, its kind).
    pub async fn resolve_group(
        &self,
        project: &str,
        group: &str,
    ) -> Result<VariableGroup, DevopsError> {
        Ok(self.read_group(project, group, false).await?.0)
    }

    /// The group and its JSON; by name, `exact` reads it again by id, since the listing's copy
    /// may lag behind the group itself and a write must start from the group.
    async fn read_group(
        &self,
        project: &str,
        group: &str,
        exact: bool,
    ) -> Result<(VariableGroup, Value), DevopsError> {
        let call = format!(
            "reading variable group {} in project {} of {}",
            crate::ci::inert::one_line(group),
            crate::ci::inert::one_line(project),
            self.org.name
        );
        let invalid = |e: String| DevopsError::new(DevopsErrorKind::InvalidInput, &call, e);
        if project.trim().is_empty() {
            return Err(invalid("the project is empty".into()));
        }
        match selector(group).map_err(invalid)? {
            Ok(id) => self.read_group_by_id(&call, project, id).await,
            Err(name) => {
                let mut token: Option<String> = None;
                loop {
                    let mut query = vec![("groupName", name)];
                    if let Some(t) = &token {
                        query.push(("continuationToken", t.as_str()));
                    }
                    let url = self.url(
                        &[project, "_apis", "distributedtask", "variablegroups"],
                        &query,
                    );
                    let answer = self.send(&call, Method::Get, url, None).await?;
                    let (answer, page) = self.expect_json(&call, answer)?;
                    let found = page
                        .get("value")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .find(|g| {
                            g.get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                        });
                    if let Some(raw) = found {
                        let group = parse_group(project, raw).ok_or_else(|| {
                            DevopsError::new(
                                DevopsErrorKind::Malformed,
                                &call,
                                "the group in the answer has no numeric id or name",
                            )
                        })?;
                        if !exact {
                            return Ok((group, raw.clone()));
                        }
                        return self.read_group_by_id(&call, project, group.id).await;
                    }
                    match answer.header("x-ms-continuationtoken") {
                        Some(next) if Some(next) != token.as_deref() => {
                            token = Some(next.to_owned())
                        }
                        _ => break,
                    }
                }
                Err(DevopsError::new(
                    DevopsErrorKind::NotFound,
                    &call,
                    format!(
                        "no variable group named {} in project {}",
                        crate::ci::inert::one_line(name),
                        crate::ci::inert::one_line(project)
                    ),
                )
                .with_fix(format!(
                    "check the name (Pipelines > Library), or give the group's numeric id; {} must be able to see it",
                    self.credential.describe()
                )))
            }
        }
    }

    async fn read_group_by_id(
        &self,
        call: &str,
        project: &str,
        id: u32,
    ) -> Result<(VariableGroup, Value), DevopsError> {
        let id_text = id.to_string();
        let url = self.url(
            &[
                project,
                "_apis",
                "distributedtask",
                "variablegroups",
                &id_text,
            ],
            &[],
        );
        let answer = self.send(call, Method::Get, url, None).await?;
        let (_, raw) = self.expect_json(call, answer)?;
        // Some versions of the service answer a missing group with 200 and `null`.
        if raw.is_null() {
            return Err(DevopsError::new(
                DevopsErrorKind::NotFound,
                call,
                format!(
                    "variable group {id} does not exist in project {}",
                    crate::ci::inert::one_line(project)
                ),
            ));
        }
        let group = parse_group(project, &raw).ok_or_else(|| {
            DevopsError::new(
                DevopsErrorKind::Malformed,
                call,
                "the answer is not a variable group (no numeric id or name)",
            )
        })?;
        Ok((group, raw))
    }

    /// Sets `variable` of the group (name or id) to `value`, as a secret, keeping every other
    /// variable; a Key Vault-linked group needs no write. Writers of one group in this process
    /// take turns; a write another process's PUT undid is made again.
    pub async fn set_variable(
        &self,
        project: &str,
        group: &str,
        variable: &str,
        value: &SecretValue,
    ) -> Result<SetOutcome, DevopsError> {
        let call = format!(
            "setting variable {} of group {} in project {} of {}",
            crate::ci::inert::one_line(variable),
            crate::ci::inert::one_line(group),
            crate::ci::inert::one_line(project),
            self.org.name
        );
        if variable.trim().is_empty()
            || variable
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(DevopsError::new(
                DevopsErrorKind::InvalidInput,
                &call,
                "a variable name must be non-empty, without spaces or control characters",
            ));
        }
        let (first, first_raw) = self.read_group(project, group, true).await?;
        match first.kind {
            GroupKind::Vsts => {}
            GroupKind::AzureKeyVault { .. } => return Ok(SetOutcome::KeyVaultLinked(first)),
            GroupKind::Other(ref kind) => {
                return Err(DevopsError::new(
                    DevopsErrorKind::InvalidInput,
                    &call,
                    format!(
                        "group {} is of type {}, which keyrot does not write",
                        first.name,
                        crate::ci::inert::one_line(kind)
                    ),
                ))
            }
        }
        let lock = self.lock_for(first.id);
        // The group as read above is current unless another writer of this process went first.
        let (_turn, mut current) = match lock.clone().try_lock_owned() {
            Ok(turn) => (turn, Some((first.clone(), first_raw))),
            Err(_) => (lock.lock_owned().await, None),
        };
        for attempt in 1..=MAX_ATTEMPTS {
            let (group, raw) = match current.take() {
                Some(read) => read,
                None => self.read_group_by_id(&call, project, first.id).await?,
            };
            let (body, name, others) = put_body(&raw, variable, value);
            let id_text = group.id.to_string();
            let url = self.url(
                &["_apis", "distributedtask", "variablegroups", &id_text],
                &[],
            );
            let sent = std::time::Instant::now();
            let answer = self.send(&call, Method::Put, url, Some(body)).await?;
            let (_, written) = self.expect_json(&call, answer)?;
            let settle = self.settle.unwrap_or_else(|| {
                (sent.elapsed() * 2).clamp(super::SETTLE_MIN, super::SETTLE_MAX)
            });
            tokio::time::sleep(settle).await;
            let (_, now) = self.read_group_by_id(&call, project, group.id).await?;
            let held = variables(&now).find(|(n, _)| n.eq_ignore_ascii_case(&name));
            if held.is_some_and(|(_, v)| is_secret(v)) {
                let written = Written {
                    group,
                    variable: name,
                    modified_on: written
                        .get("modifiedOn")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    attempts: attempt,
                    others,
                };
                // This re-read is the verification too: the others must be as keyrot sent them.
                check_written(&now, &written).map_err(|problems| {
                    DevopsError::new(DevopsErrorKind::Verification, &call, problems).with_fix(
                        "someone changed the group meanwhile; check it in Pipelines > Library, then run keyrot sync",
                    )
                })?;
                return Ok(SetOutcome::Written(written));
            }
            tracing::info!(
                "variable {} of group {} was lost to another writer's update (attempt {attempt}); writing it again",
                crate::ci::inert::one_line(&name),
                group.id
            );
        }
        Err(DevopsError::new(
            DevopsErrorKind::Verification,
            &call,
            format!("other writers' updates removed the variable {MAX_ATTEMPTS} times in a row"),
        )
        .with_fix("another process keeps rewriting the group from an old copy; stop it, then run keyrot sync"))
    }

    /// Re-reads the group: the variable exists and is secret, and the other variables keyrot
    /// re-sent are still there with the same secret flag (and value, when not secret).
    pub async fn verify(&self, written: &Written) -> Result<(), DevopsError> {
        let call = format!(
            "verifying variable {} of group {} in project {} of {}",
            crate::ci::inert::one_line(&written.variable),
            written.group.id,
            crate::ci::inert::one_line(&written.group.project),
            self.org.name
        );
        let (_, raw) = self
            .read_group_by_id(&call, &written.group.project, written.group.id)
            .await?;
        check_written(&raw, written).map_err(|problems| {
            DevopsError::new(DevopsErrorKind::Verification, &call, problems)
            .with_fix("someone changed the group since; check it in Pipelines > Library, then run keyrot sync")
        })
    }
}

/// The PUT body: the group as read, every other variable re-sent (secrets without value, which
/// keeps them), the one variable set as a secret. Returns the variable's name as the group
/// spells it (names are case-insensitive) and the others as sent.
fn put_body(raw: &Value, variable: &str, value: &SecretValue) -> (Vec<u8>, String, Vec<Other>) {
    let mut body = Map::new();
    for key in [
        "name",
        "description",
        "type",
        "providerData",
        "variableGroupProjectReferences",
    ] {
        if let Some(v) = raw.get(key) {
            body.insert(key.to_owned(), v.clone());
        }
    }
    let mut vars = Map::new();
    let mut name = variable.to_owned();
    let mut others = Vec::new();
    for (n, v) in variables(raw) {
        if n.eq_ignore_ascii_case(variable) {
            name = n.clone();
            continue;
        }
        let read_only = v
            .get("isReadOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut sent = Map::new();
        if is_secret(v) {
            sent.insert("isSecret".into(), Value::Bool(true));
            others.push(Other {
                name: n.clone(),
                secret: true,
                value: None,
            });
        } else {
            let text = v.get("value").and_then(Value::as_str).map(str::to_owned);
            sent.insert(
                "value".into(),
                text.clone().map_or(Value::Null, Value::String),
            );
            others.push(Other {
                name: n.clone(),
                secret: false,
                value: text,
            });
        }
        if read_only {
            sent.insert("isReadOnly".into(), Value::Bool(true));
        }
        vars.insert(n.clone(), Value::Object(sent));
    }
    vars.insert(
        name.clone(),
        json!({"isSecret": true, "value": value.expose()}),
    );
    body.insert("variables".into(), Value::Object(vars));
    (
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
        name,
        others,
    )
}

/// What the group `raw` shows against what keyrot wrote: `Err` lists the problems (the
/// variable missing or not secret, another variable missing, or its flag or plain value
/// changed).
fn check_written(raw: &Value, written: &Written) -> Result<(), String> {
    let find = |name: &str| {
        variables(raw)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let mut problems = Vec::new();
    match find(&written.variable) {
        None => problems.push(format!("{} is missing", written.variable)),
        Some(v) if !is_secret(v) => {
            problems.push(format!("{} is no longer secret", written.variable))
        }
        Some(_) => {}
    }
    for other in &written.others {
        match find(&other.name) {
            None => problems.push(format!("{} is missing", other.name)),
            Some(v) if is_secret(v) != other.secret => {
                problems.push(format!("{} changed its secret flag", other.name))
            }
            Some(v)
                if !other.secret
                    && v.get("value").and_then(Value::as_str) != other.value.as_deref() =>
            {
                problems.push(format!("{} changed its value", other.name))
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = problems
        .iter()
        .map(|p| crate::ci::inert::one_line(p).into_owned())
        .collect();
    Err(format!(
        "the group does not hold what keyrot wrote: {}",
        problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_put_body_resends_everything_and_sets_one_secret() {
        let raw = json!({
            "id": 7, "name": "g", "type": "Vsts", "description": "d",
            "variableGroupProjectReferences": [{"name": "g", "projectReference": {"id": "p", "name": "P"}}],
            "variables": {
                "Region": {"value": "westeurope", "isReadOnly": true},
                "other_secret": {"value": null, "isSecret": true},
                "billing_client_secret": {"value": null, "isSecret": true},
            },
            "createdBy": {"id": "x"},
        });
        let (body, name, others) = put_body(
            &raw,
            "BILLING_CLIENT_SECRET",
            &SecretValue::new("new-value".into()),
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(name, "billing_client_secret", "the group's own spelling");
        assert_eq!(
            body["variables"]["billing_client_secret"],
            json!({"isSecret": true, "value": "new-value"})
        );
        assert_eq!(body["variables"]["other_secret"], json!({"isSecret": true}));
        assert_eq!(
            body["variables"]["Region"],
            json!({"value": "westeurope", "isReadOnly": true})
        );
        assert_eq!(
            body["variableGroupProjectReferences"],
            raw["variableGroupProjectReferences"]
        );
        assert!(body.get("createdBy").is_none() && body.get("id").is_none());
        assert_eq!(others.len(), 2);
    }

    #[test]
    fn selectors() {
        assert_eq!(selector("42"), Ok(Ok(42)));
        assert_eq!(selector(" billing-prod "), Ok(Err("billing-prod")));
        assert!(selector("").is_err());
        assert!(selector("bill*").is_err());
        assert!(selector("99999999999").is_err());
    }
}
