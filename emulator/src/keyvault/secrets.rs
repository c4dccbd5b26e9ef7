//! Secrets and deleted secrets.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};

use super::errors::{
    bad_parameter, deleted_but_recoverable, deleted_not_found, disabled_secret, not_found, ObjKind,
};
use super::json::{self, SecretView};
use super::paging;
use super::{Ctx, Op};
use crate::http::Resp;
use crate::seed::{ObjectKind, Redacted, VersionIds};
use crate::state::{descending_version_id, new_version, Deleted, Item};

/// The service's limit on a secret value (25 KiB).
const MAX_VALUE_BYTES: usize = 25 * 1024;

pub fn handle(ctx: &mut Ctx<'_>, op: &Op) -> Resp {
    match op {
        Op::SecretSet(n) => set(ctx, n),
        Op::SecretGet(n, v) => get(ctx, n, v.as_deref()),
        Op::SecretUpdate(n, v) => update(ctx, n, v.as_deref()),
        Op::SecretList => list(ctx),
        Op::SecretVersions(n) => versions(ctx, n),
        Op::SecretDelete(n) => delete(ctx, n),
        Op::SecretBackup(n) => backup(ctx, n),
        Op::DeletedGet(n) => deleted_get(ctx, n),
        Op::DeletedList => deleted_list(ctx),
        Op::DeletedRecover(n) => recover(ctx, n),
        Op::DeletedPurge(n) => purge(ctx, n),
        _ => bad_parameter("Unsupported operation."),
    }
}

fn key(name: &str) -> String {
    name.to_ascii_uppercase()
}

fn parse_body(ctx: &Ctx<'_>) -> Result<serde_json::Map<String, Value>, Resp> {
    if ctx.req.body.is_empty() {
        return Err(bad_parameter("The request body is missing or empty."));
    }
    match serde_json::from_slice::<Value>(&ctx.req.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad_parameter("The request body is not valid JSON.")),
    }
}

/// `attributes` from a request body: `enabled`, `nbf`, `exp` (Unix seconds or null).
struct AttrPatch {
    enabled: Option<bool>,
    nbf: Option<Option<i64>>,
    exp: Option<Option<i64>>,
}

fn parse_attrs(body: &serde_json::Map<String, Value>) -> Result<AttrPatch, Resp> {
    let mut p = AttrPatch {
        enabled: None,
        nbf: None,
        exp: None,
    };
    let Some(a) = body.get("attributes") else {
        return Ok(p);
    };
    let a = match a {
        Value::Null => return Ok(p),
        Value::Object(a) => a,
        _ => return Err(bad_parameter("Property 'attributes' must be an object.")),
    };
    let time = |k: &str| -> Result<Option<Option<i64>>, Resp> {
        match a.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => v.as_i64().map(|t| Some(Some(t))).ok_or_else(|| {
                bad_parameter(&format!(
                    "Property 'attributes.{k}' must be a Unix time in seconds."
                ))
            }),
        }
    };
    p.nbf = time("nbf")?;
    p.exp = time("exp")?;
    p.enabled = match a.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(bad_parameter(
                "Property 'attributes.enabled' must be a boolean.",
            ))
        }
    };
    Ok(p)
}

fn parse_tags(
    body: &serde_json::Map<String, Value>,
) -> Result<Option<BTreeMap<String, String>>, Resp> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            if m.len() > 15 {
                return Err(bad_parameter(
                    "The number of tags exceeds the maximum of 15.",
                ));
            }
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(bad_parameter("Tag values must be strings.")),
                })
                .collect::<Result<_, _>>()
                .map(Some)
        }
        Some(_) => Err(bad_parameter("Property 'tags' must be an object.")),
    }
}

fn content_type(body: &serde_json::Map<String, Value>) -> Result<Option<Option<String>>, Resp> {
    match body.get("contentType") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(bad_parameter("Property 'contentType' must be a string.")),
    }
}

fn set(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    let body = match parse_body(ctx) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value = match body.get("value") {
        Some(Value::String(s)) => s.clone(),
        _ => return bad_parameter("Property 'value' is required and must be a string."),
    };
    if value.len() > MAX_VALUE_BYTES {
        return bad_parameter("The secret value exceeds the maximum allowed size of 25 KB.");
    }
    let attrs = match parse_attrs(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let tags = match parse_tags(&body) {
        Ok(t) => t.unwrap_or_default(),
        Err(r) => return r,
    };
    let ct = match content_type(&body) {
        Ok(c) => c.flatten(),
        Err(r) => return r,
    };
    let k = key(name);
    if let Some(d) = ctx.vault.deleted_secrets.get(&k) {
        return deleted_but_recoverable(&d.item.name);
    }
    let version = new_version(
        ObjectKind::Secret,
        name,
        Some(Redacted(value)),
        ct,
        attrs.enabled.unwrap_or(true),
        attrs.nbf.flatten(),
        attrs.exp.flatten(),
        ctx.now,
        tags,
        None,
        None,
    );
    let item = ctx.vault.secrets.entry(k).or_insert_with(|| Item {
        name: name.to_owned(),
        versions: Vec::new(),
    });
    let mut version = version;
    if ctx.version_ids == VersionIds::Descending {
        version.id = descending_version_id(item.versions.iter().map(|v| v.id.as_str()));
    }
    item.versions.push(version);
    let item = item.clone();
    let v = item.latest().expect("just pushed");
    Resp::json(
        200,
        &json::secret(
            &ctx.base,
            ctx.vault,
            &item.name,
            v,
            SecretView {
                with_value: true,
                with_version: true,
                deleted: None,
            },
        ),
    )
}

fn get(ctx: &mut Ctx<'_>, name: &str, version: Option<&str>) -> Resp {
    let Some(item) = ctx.vault.secrets.get(&key(name)) else {
        return not_found(ObjKind::Secret, name);
    };
    let v = match version {
        None => item.latest(),
        Some(id) => item.version(id),
    };
    let Some(v) = v else {
        return not_found(
            ObjKind::Secret,
            &format!("{name}/{}", version.unwrap_or("")),
        );
    };
    // Key Vault refuses disabled versions but does not enforce nbf/exp on reads.
    if !v.enabled {
        return disabled_secret();
    }
    Resp::json(
        200,
        &json::secret(
            &ctx.base,
            ctx.vault,
            &item.name,
            v,
            SecretView {
                with_value: true,
                with_version: true,
                deleted: None,
            },
        ),
    )
}

fn update(ctx: &mut Ctx<'_>, name: &str, version: Option<&str>) -> Resp {
    let body = match parse_body(ctx) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (attrs, tags, ct) = match (parse_attrs(&body), parse_tags(&body), content_type(&body)) {
        (Ok(a), Ok(t), Ok(c)) => (a, t, c),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let now = ctx.now;
    let Some(item) = ctx.vault.secrets.get_mut(&key(name)) else {
        return not_found(ObjKind::Secret, name);
    };
    let v = match version {
        None => item.versions.last_mut(),
        Some(id) => item
            .versions
            .iter_mut()
            .find(|v| v.id.eq_ignore_ascii_case(id)),
    };
    let Some(v) = v else {
        return not_found(
            ObjKind::Secret,
            &format!("{name}/{}", version.unwrap_or("")),
        );
    };
    if let Some(e) = attrs.enabled {
        v.enabled = e;
    }
    if let Some(n) = attrs.nbf {
        v.nbf = n;
    }
    if let Some(x) = attrs.exp {
        v.exp = x;
    }
    if let Some(t) = tags {
        v.tags = t;
    }
    if let Some(c) = ct {
        v.content_type = c;
    }
    v.updated = now;
    let v = v.clone();
    let display = item.name.clone();
    Resp::json(
        200,
        &json::secret(
            &ctx.base,
            ctx.vault,
            &display,
            &v,
            SecretView {
                with_value: false,
                with_version: true,
                deleted: None,
            },
        ),
    )
}

fn list(ctx: &mut Ctx<'_>) -> Resp {
    let preq = match paging::parse(ctx.req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // Live and soft-deleted secrets share storage rows; deleted ones are scanned but hidden.
    let mut rows: Vec<(String, Option<&Item>)> = ctx
        .vault
        .secrets
        .iter()
        .map(|(k, i)| (k.clone(), Some(i)))
        .chain(ctx.vault.deleted_secrets.keys().map(|k| (k.clone(), None)))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging::page(rows.into_iter(), &preq);
    let value: Vec<json::Secret> = page
        .items
        .iter()
        .filter_map(|item| {
            let v = item.latest()?;
            Some(json::secret(
                &ctx.base,
                ctx.vault,
                &item.name,
                v,
                SecretView {
                    with_value: false,
                    with_version: false,
                    deleted: None,
                },
            ))
        })
        .collect();
    let next_link = paging::next_link(
        &ctx.base,
        "/secrets",
        &ctx.api_version,
        "secret",
        page.next.as_deref(),
        &preq,
    );
    Resp::json(200, &json::Page { value, next_link })
}

fn versions(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    let preq = match paging::parse(ctx.req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(item) = ctx.vault.secrets.get(&key(name)) else {
        return not_found(ObjKind::Secret, name);
    };
    let mut rows: Vec<(String, Option<_>)> = item
        .versions
        .iter()
        .map(|v| (v.id.to_ascii_uppercase(), Some(v)))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging::page(rows.into_iter(), &preq);
    let value: Vec<json::Secret> = page
        .items
        .iter()
        .map(|v| {
            json::secret(
                &ctx.base,
                ctx.vault,
                &item.name,
                v,
                SecretView {
                    with_value: false,
                    with_version: true,
                    deleted: None,
                },
            )
        })
        .collect();
    let path = format!("/secrets/{}/versions", item.name);
    let next_link = paging::next_link(
        &ctx.base,
        &path,
        &ctx.api_version,
        &format!("secretversion/{}", key(name)),
        page.next.as_deref(),
        &preq,
    );
    Resp::json(200, &json::Page { value, next_link })
}

fn delete(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    let Some(item) = ctx.vault.secrets.remove(&key(name)) else {
        return not_found(ObjKind::Secret, name);
    };
    let deleted_date = ctx.now;
    let purge = deleted_date + i64::from(ctx.vault.recoverable_days) * 86_400;
    let resp = match item.latest() {
        Some(v) => Resp::json(
            200,
            &json::secret(
                &ctx.base,
                ctx.vault,
                &item.name,
                v,
                SecretView {
                    with_value: false,
                    with_version: true,
                    deleted: Some((deleted_date, purge)),
                },
            ),
        ),
        None => return not_found(ObjKind::Secret, name),
    };
    ctx.vault.deleted_secrets.insert(
        key(name),
        Deleted {
            item,
            deleted_date,
            scheduled_purge_date: purge,
        },
    );
    resp
}

fn deleted_get(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    let Some(d) = ctx.vault.deleted_secrets.get(&key(name)) else {
        return deleted_not_found();
    };
    let Some(v) = d.item.latest() else {
        return deleted_not_found();
    };
    Resp::json(
        200,
        &json::secret(
            &ctx.base,
            ctx.vault,
            &d.item.name,
            v,
            SecretView {
                with_value: false,
                with_version: true,
                deleted: Some((d.deleted_date, d.scheduled_purge_date)),
            },
        ),
    )
}

fn deleted_list(ctx: &mut Ctx<'_>) -> Resp {
    let preq = match paging::parse(ctx.req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rows = ctx
        .vault
        .deleted_secrets
        .iter()
        .map(|(k, d)| (k.clone(), Some(d)));
    let page = paging::page(rows, &preq);
    let value: Vec<json::Secret> = page
        .items
        .iter()
        .filter_map(|d| {
            let v = d.item.latest()?;
            Some(json::secret(
                &ctx.base,
                ctx.vault,
                &d.item.name,
                v,
                SecretView {
                    with_value: false,
                    with_version: false,
                    deleted: Some((d.deleted_date, d.scheduled_purge_date)),
                },
            ))
        })
        .collect();
    let next_link = paging::next_link(
        &ctx.base,
        "/deletedsecrets",
        &ctx.api_version,
        "deletedsecret",
        page.next.as_deref(),
        &preq,
    );
    Resp::json(200, &json::Page { value, next_link })
}

fn recover(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    let Some(d) = ctx.vault.deleted_secrets.remove(&key(name)) else {
        return deleted_not_found();
    };
    let item = d.item;
    let resp = match item.latest() {
        Some(v) => Resp::json(
            200,
            &json::secret(
                &ctx.base,
                ctx.vault,
                &item.name,
                v,
                SecretView {
                    with_value: false,
                    with_version: true,
                    deleted: None,
                },
            ),
        ),
        None => return deleted_not_found(),
    };
    ctx.vault.secrets.insert(key(name), item);
    resp
}

fn purge(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    if ctx.vault.deleted_secrets.remove(&key(name)).is_none() {
        return deleted_not_found();
    }
    Resp::empty(204)
}

fn backup(ctx: &mut Ctx<'_>, name: &str) -> Resp {
    let Some(item) = ctx.vault.secrets.get(&key(name)) else {
        return not_found(ObjKind::Secret, name);
    };
    // Opaque like the service's (which is encrypted); values are deliberately not included.
    let inner = json!({
        "name": item.name,
        "versions": item.versions.iter().map(|v| &v.id).collect::<Vec<_>>(),
        "nonce": crate::state::random_hex(32),
    });
    let mut blob = b"AzureKeyVaultSecretBackupV1.microsoft.com".to_vec();
    blob.extend_from_slice(inner.to_string().as_bytes());
    Resp::json(
        200,
        &json!({"value": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob)}),
    )
}
