//! Certificates and keys: read-only (list, versions, get), enough for expiry checks.

use super::errors::{not_found, ObjKind};
use super::json;
use super::paging;
use super::{Ctx, Op};
use crate::http::Resp;
use crate::state::{Item, Version};

pub fn handle(ctx: &mut Ctx<'_>, op: &Op) -> Resp {
    match op {
        Op::CertList => list(ctx, ObjKind::Certificate),
        Op::KeyList => list(ctx, ObjKind::Key),
        Op::CertVersions(n) => versions(ctx, ObjKind::Certificate, n),
        Op::KeyVersions(n) => versions(ctx, ObjKind::Key, n),
        Op::CertGet(n, v) => get(ctx, ObjKind::Certificate, n, v.as_deref()),
        Op::KeyGet(n, v) => get(ctx, ObjKind::Key, n, v.as_deref()),
        _ => super::errors::bad_parameter("Unsupported operation."),
    }
}

fn items<'a>(ctx: &'a Ctx<'_>, kind: ObjKind) -> &'a std::collections::BTreeMap<String, Item> {
    match kind {
        ObjKind::Key => &ctx.vault.keys,
        _ => &ctx.vault.certificates,
    }
}

fn render(
    ctx: &Ctx<'_>,
    kind: ObjKind,
    name: &str,
    v: &Version,
    full: bool,
    with_version: bool,
) -> serde_json::Value {
    let r = match kind {
        ObjKind::Key => {
            serde_json::to_value(json::key(&ctx.base, ctx.vault, name, v, full, with_version))
        }
        _ => serde_json::to_value(json::certificate(
            &ctx.base,
            ctx.vault,
            name,
            v,
            full,
            with_version,
        )),
    };
    r.unwrap_or(serde_json::Value::Null)
}

fn list(ctx: &mut Ctx<'_>, kind: ObjKind) -> Resp {
    let preq = match paging::parse(ctx.req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rows = items(ctx, kind).iter().map(|(k, i)| (k.clone(), Some(i)));
    let page = paging::page(rows, &preq);
    let value: Vec<serde_json::Value> = page
        .items
        .iter()
        .filter_map(|i| Some(render(ctx, kind, &i.name, i.latest()?, false, false)))
        .collect();
    let path = format!("/{}", kind.collection());
    let marker_kind = match kind {
        ObjKind::Key => "key",
        _ => "certificate",
    };
    let next_link = paging::next_link(
        &ctx.base,
        &path,
        &ctx.api_version,
        marker_kind,
        page.next.as_deref(),
        &preq,
    );
    Resp::json(200, &json::Page { value, next_link })
}

fn versions(ctx: &mut Ctx<'_>, kind: ObjKind, name: &str) -> Resp {
    let preq = match paging::parse(ctx.req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(item) = items(ctx, kind).get(&name.to_ascii_uppercase()) else {
        return not_found(kind, name);
    };
    let mut rows: Vec<(String, Option<&Version>)> = item
        .versions
        .iter()
        .map(|v| (v.id.to_ascii_uppercase(), Some(v)))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging::page(rows.into_iter(), &preq);
    let value: Vec<serde_json::Value> = page
        .items
        .iter()
        .map(|v| render(ctx, kind, &item.name, v, false, true))
        .collect();
    let path = format!("/{}/{}/versions", kind.collection(), item.name);
    let marker_kind = format!("{}version/{}", kind.collection(), name.to_ascii_uppercase());
    let next_link = paging::next_link(
        &ctx.base,
        &path,
        &ctx.api_version,
        &marker_kind,
        page.next.as_deref(),
        &preq,
    );
    Resp::json(200, &json::Page { value, next_link })
}

fn get(ctx: &mut Ctx<'_>, kind: ObjKind, name: &str, version: Option<&str>) -> Resp {
    let Some(item) = items(ctx, kind).get(&name.to_ascii_uppercase()) else {
        return not_found(kind, name);
    };
    let v = match version {
        None => item.latest(),
        Some(id) => item.version(id),
    };
    let Some(v) = v else {
        return not_found(kind, &format!("{name}/{}", version.unwrap_or("")));
    };
    Resp::json(200, &render(ctx, kind, &item.name, v, true, true))
}
