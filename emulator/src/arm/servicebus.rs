//! `Microsoft.ServiceBus/namespaces` authorization rules at namespace, queue and topic level
//! (`listKeys`, `regenerateKeys`), the machinery Event Hubs shares ([`super::eventhub`]), and
//! the namespace endpoint `{namespace}.servicebus.localhost` that judges SAS tokens.
//!
//! `regenerateKeys` takes `{"keyType": "PrimaryKey" | "SecondaryKey", "key"?}` (the given key,
//! else a new one: base64 of 32 random bytes) and answers `AccessKeys` like `listKeys`:
//! `primaryConnectionString`, `secondaryConnectionString`, `primaryKey`, `secondaryKey`,
//! `keyName`. Connection strings are built as the service builds them, with this emulator's
//! endpoint host: `Endpoint=sb://{namespace}.servicebus.localhost:{port}/;SharedAccessKeyName=
//! {rule};SharedAccessKey={key}` plus `;EntityPath={entity}` for an entity-level rule (the
//! service's host is `{namespace}.servicebus.windows.net`). A bad `keyType` is 400
//! `BadRequest`.
//!
//! The data plane accepts `Authorization: SharedAccessSignature sr={url-encoded resource
//! URI}&sig={url-encoded base64 HMAC-SHA256 over "{sr as sent}\n{se}" keyed with the key's
//! UTF-8 bytes}&se={expiry, Unix seconds}&skn={rule}`: the rule may be the entity's or the
//! namespace's, `sr` (scheme and port ignored) must be the namespace or a path prefix of the
//! entity, `se` must not have passed, and the rule must carry the claim: `Manage` for `GET
//! /{entity}` (the entity's description), `Send` for `POST /{entity}/messages` (201). Failures
//! are 401 with the service's XML `<Error><Code>401</Code><Detail>…</Detail></Error>`.

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{arm_time, now_ms, random_key, resource_not_found, rp_error, ArmState, Ctx};
use crate::http::{Req, Resp};
use crate::state::{new_uuid, Shared};

pub const API_VERSIONS: &[&str] = &[
    "2026-01-01",
    "2025-05-01-preview",
    "2024-01-01",
    "2023-01-01-preview",
    "2022-10-01-preview",
    "2022-01-01-preview",
    "2021-11-01",
    "2021-06-01-preview",
    "2021-01-01-preview",
    "2017-04-01",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ServiceBus,
    EventHub,
}

impl Kind {
    fn namespace_type(self) -> &'static str {
        match self {
            Kind::ServiceBus => "Microsoft.ServiceBus/namespaces",
            Kind::EventHub => "Microsoft.EventHub/namespaces",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    Queue,
    Topic,
    EventHub,
}

impl EntityKind {
    fn segment(self) -> &'static str {
        match self {
            EntityKind::Queue => "queues",
            EntityKind::Topic => "topics",
            EntityKind::EventHub => "eventhubs",
        }
    }

    fn description(self) -> &'static str {
        match self {
            EntityKind::Queue => "QueueDescription",
            EntityKind::Topic => "TopicDescription",
            EntityKind::EventHub => "EventHubDescription",
        }
    }
}

pub struct Rule {
    pub name: String,
    pub rights: Vec<String>,
    pub primary: String,
    pub secondary: String,
    pub regenerations: Vec<String>,
}

impl Rule {
    fn from_seed(r: &super::RuleSeed) -> Rule {
        let key = |k: &Option<crate::seed::Redacted>| {
            k.as_ref()
                .map_or_else(|| random_key(32), |k| k.expose().to_owned())
        };
        Rule {
            name: r.name.clone(),
            rights: r.rights.clone(),
            primary: key(&r.primary_key),
            secondary: key(&r.secondary_key),
            regenerations: Vec::new(),
        }
    }

    fn has(&self, right: &str) -> bool {
        self.rights.iter().any(|r| r.eq_ignore_ascii_case(right))
            || (right != "Manage" && self.has("Manage"))
    }
}

pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    pub rules: Vec<Rule>,
    pub created_ms: i128,
}

pub struct Namespace {
    pub kind: Kind,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub rules: Vec<Rule>,
    pub entities: Vec<Entity>,
}

impl Namespace {
    pub fn from_seed(n: &super::NamespaceSeed, kind: Kind) -> Namespace {
        let rules = match &n.rules {
            Some(rules) => rules.iter().map(Rule::from_seed).collect(),
            None => vec![Rule::from_seed(&super::RuleSeed {
                name: "RootManageSharedAccessKey".into(),
                rights: vec!["Listen".into(), "Manage".into(), "Send".into()],
                primary_key: None,
                secondary_key: None,
            })],
        };
        let entity = |kind: EntityKind| {
            move |e: &super::EntitySeed| Entity {
                kind,
                name: e.name.clone(),
                rules: e.rules.iter().map(Rule::from_seed).collect(),
                created_ms: now_ms(),
            }
        };
        let entities = n
            .queues
            .iter()
            .map(entity(EntityKind::Queue))
            .chain(n.topics.iter().map(entity(EntityKind::Topic)))
            .chain(n.eventhubs.iter().map(entity(EntityKind::EventHub)))
            .collect();
        Namespace {
            kind,
            resource_group: n.resource_group.clone(),
            name: n.name.clone(),
            location: n.location.clone(),
            rules,
            entities,
        }
    }

    pub fn admin(&self) -> Value {
        let rules = |rules: &[Rule]| {
            rules
                .iter()
                .map(|r| {
                    json!({"name": r.name, "rights": r.rights, "primaryKey": r.primary,
                           "secondaryKey": r.secondary, "regenerations": r.regenerations})
                })
                .collect::<Vec<_>>()
        };
        json!({
            "kind": match self.kind { Kind::ServiceBus => "servicebus", Kind::EventHub => "eventhubs" },
            "resource_group": self.resource_group,
            "name": self.name,
            "rules": rules(&self.rules),
            "entities": self.entities.iter().map(|e| json!({
                "kind": e.kind.segment(), "name": e.name, "rules": rules(&e.rules)
            })).collect::<Vec<_>>(),
        })
    }
}

/// `(entity, rule, regenerate)`.
pub(crate) type RulePath = (Option<(EntityKind, String)>, String, bool);

/// `(entity, rule, regenerate)` of a rule path below `namespaces/{ns}/` (lower-case `tail`,
/// original-case `orig`).
pub(crate) fn parse_rule_path(
    kind: Kind,
    method: &str,
    tail: &[&str],
    orig: &[&str],
) -> Option<RulePath> {
    if method != "POST" {
        return None;
    }
    let action = |a: &str| match a {
        "listkeys" => Some(false),
        "regeneratekeys" => Some(true),
        _ => None,
    };
    match tail {
        ["authorizationrules", _, a] => Some((None, orig[1].to_owned(), action(a)?)),
        [entity @ ("queues" | "topics" | "eventhubs"), _, "authorizationrules", _, a] => {
            let ek = match (*entity, kind) {
                ("queues", Kind::ServiceBus) => EntityKind::Queue,
                ("topics", Kind::ServiceBus) => EntityKind::Topic,
                ("eventhubs", Kind::EventHub) => EntityKind::EventHub,
                _ => return None,
            };
            Some((
                Some((ek, orig[1].to_owned())),
                orig[3].to_owned(),
                action(a)?,
            ))
        }
        _ => None,
    }
}

pub(crate) fn find_rule<'a>(
    arm: &'a ArmState,
    kind: Kind,
    namespace: &str,
    entity: Option<&str>,
    rule: &str,
) -> Option<&'a Rule> {
    let ns = arm
        .namespaces
        .iter()
        .find(|n| n.kind == kind && n.name.eq_ignore_ascii_case(namespace))?;
    let rules = match entity {
        None => &ns.rules,
        Some(e) => {
            &ns.entities
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(e))?
                .rules
        }
    };
    rules.iter().find(|r| r.name.eq_ignore_ascii_case(rule))
}

fn access_keys(port: u16, ns: &str, entity: Option<&str>, r: &Rule) -> Value {
    let cs = |key: &str| {
        let mut s = format!(
            "Endpoint=sb://{ns}.servicebus.localhost:{port}/;SharedAccessKeyName={};SharedAccessKey={key}",
            r.name
        );
        if let Some(e) = entity {
            s.push_str(&format!(";EntityPath={e}"));
        }
        s
    };
    json!({
        "primaryConnectionString": cs(&r.primary),
        "secondaryConnectionString": cs(&r.secondary),
        "primaryKey": r.primary,
        "secondaryKey": r.secondary,
        "keyName": r.name,
    })
}

pub(crate) fn handle(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    rg: &str,
    ns: &str,
    entity: Option<(EntityKind, String)>,
    rule: &str,
    regenerate: bool,
) -> Resp {
    let port = ctx.port;
    let body = if regenerate {
        match ctx.body() {
            Ok(b) => Some(b),
            Err(r) => return r,
        }
    } else {
        None
    };
    let Some(n) = ctx.st.arm.namespaces.iter_mut().find(|n| {
        n.kind == kind
            && n.resource_group.eq_ignore_ascii_case(rg)
            && n.name.eq_ignore_ascii_case(ns)
    }) else {
        return resource_not_found(kind.namespace_type(), ns, rg);
    };
    let ns_name = n.name.clone();
    let (rules, entity_name, rule_type) = match &entity {
        None => (
            &mut n.rules,
            None,
            format!("{}/authorizationRules", kind.namespace_type()),
        ),
        Some((ek, e)) => {
            let ty = format!("{}/{}", kind.namespace_type(), ek.segment());
            let Some(ent) = n
                .entities
                .iter_mut()
                .find(|x| x.kind == *ek && x.name.eq_ignore_ascii_case(e))
            else {
                return resource_not_found(&ty, &format!("{ns_name}/{e}"), rg);
            };
            let name = ent.name.clone();
            (
                &mut ent.rules,
                Some(name),
                format!("{ty}/authorizationRules"),
            )
        }
    };
    let Some(r) = rules.iter_mut().find(|r| r.name.eq_ignore_ascii_case(rule)) else {
        let path = match &entity_name {
            Some(e) => format!("{ns_name}/{e}/{rule}"),
            None => format!("{ns_name}/{rule}"),
        };
        return resource_not_found(&rule_type, &path, rg);
    };
    if let Some(body) = body {
        let key_type = body.get("keyType").and_then(Value::as_str).unwrap_or("");
        let given = body
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty());
        let new_key = given.map_or_else(|| random_key(32), str::to_owned);
        if key_type.eq_ignore_ascii_case("PrimaryKey") {
            r.primary = new_key;
            r.regenerations.push("PrimaryKey".into());
        } else if key_type.eq_ignore_ascii_case("SecondaryKey") {
            r.secondary = new_key;
            r.regenerations.push("SecondaryKey".into());
        } else {
            return rp_error(
                400,
                "BadRequest",
                &format!("The value '{key_type}' of parameter 'keyType' is invalid. The supported values are 'PrimaryKey', 'SecondaryKey'. TrackingId:{}_G0, SystemTracker:{ns_name}.servicebus.localhost:{}, Timestamp:{}", new_uuid(), rule, arm_time(now_ms())),
            );
        }
    }
    Resp::json(200, &access_keys(port, &ns_name, entity_name.as_deref(), r))
}

// --- the namespace endpoint ------------------------------------------------------------

/// The service's XML error body.
pub fn data_error(status: u16, ns: &str, entity: &str, detail: &str) -> Resp {
    let body = format!(
        "<Error><Code>{status}</Code><Detail>{}. TrackingId:{}_G0, SystemTracker:{ns}.servicebus.localhost:{entity}, Timestamp:{}</Detail></Error>",
        super::storage::xml_escape(detail.trim_end_matches('.')),
        new_uuid(),
        arm_time(now_ms())
    );
    Resp::text(status, "application/xml; charset=utf-8", body)
        .header("Server", "Microsoft-HTTPAPI/2.0")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `(sr as sent, sig, se, skn)`.
fn parse_sas(header: &str) -> Option<(String, String, i64, String)> {
    let rest = header.trim().strip_prefix("SharedAccessSignature ")?;
    let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
    for part in rest.split('&') {
        let (k, v) = part.split_once('=')?;
        match k {
            "sr" => sr = Some(v.to_owned()),
            "sig" => sig = Some(percent_decode(v)),
            "se" => se = v.parse::<i64>().ok(),
            "skn" => skn = Some(percent_decode(v)),
            _ => {}
        }
    }
    Some((sr?, sig?, se?, skn?))
}

/// `host/path` of a resource URI, lower-case, without scheme, port and trailing slash.
fn normalize(uri: &str) -> String {
    let u = uri.to_ascii_lowercase();
    let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host);
    format!("{host}/{}", path.trim_matches('/'))
        .trim_end_matches('/')
        .to_owned()
}

pub fn data(shared: &Shared, ns: &str, req: &Req) -> Resp {
    let segs: Vec<String> = req
        .path
        .trim_matches('/')
        .split('/')
        .map(crate::graph::percent_decode)
        .collect();
    let (entity, action) = match (req.method.as_str(), segs.as_slice()) {
        ("GET", [e]) if !e.is_empty() => (e.clone(), "Manage"),
        // The namespace's entity listing (`$Resources/queues`, `/topics`, `/eventhubs`).
        ("GET", [r, kind]) if r.eq_ignore_ascii_case("$Resources") => {
            (format!("$Resources/{kind}"), "Manage")
        }
        ("POST", [e, m]) if m.eq_ignore_ascii_case("messages") => (e.clone(), "Send"),
        _ => {
            return data_error(
                400,
                ns,
                "",
                "The request is not supported by this keyrot emulator: GET /{entity} or POST /{entity}/messages",
            )
        }
    };
    let st = shared.lock();
    let Some(n) = st
        .arm
        .namespaces
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case(ns))
    else {
        return data_error(
            404,
            ns,
            &entity,
            &format!("The namespace '{ns}' does not exist in this keyrot emulator. (Azure would fail DNS resolution of {ns}.servicebus.windows.net.)"),
        );
    };
    let ent = n
        .entities
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(&entity));
    let Some(header) = req.header("authorization") else {
        return data_error(
            401,
            ns,
            &entity,
            "MissingToken: The request contains no authorization header",
        );
    };
    let Some((sr, sig, se, skn)) = parse_sas(header) else {
        return data_error(
            401,
            ns,
            &entity,
            "MalformedToken: The credentials contained in the authorization header are not in the SharedAccessSignature format",
        );
    };
    let now = crate::state::now();
    if se <= now {
        return data_error(
            401,
            ns,
            &entity,
            &format!(
                "ExpiredToken: The token is expired. Expiration time: '{}'",
                crate::graph::format_time(crate::state::utc(se))
            ),
        );
    }
    let target = format!("{}.servicebus.localhost/{}", n.name, entity).to_ascii_lowercase();
    let audience = normalize(&percent_decode(&sr));
    let covers = target == audience || target.starts_with(&format!("{audience}/"));
    if !covers {
        return data_error(
            401,
            ns,
            &entity,
            &format!(
                "InvalidAudience: The token audience '{}' is not valid for '{target}'",
                percent_decode(&sr)
            ),
        );
    }
    let rule = ent
        .and_then(|e| e.rules.iter().find(|r| r.name == skn))
        .or_else(|| n.rules.iter().find(|r| r.name == skn));
    let signed = format!("{sr}\n{se}");
    let valid = rule.is_some_and(|r| {
        [&r.primary, &r.secondary].iter().any(|k| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, k.as_bytes());
            base64::engine::general_purpose::STANDARD
                .decode(&sig)
                .is_ok_and(|tag| hmac::verify(&key, signed.as_bytes(), &tag).is_ok())
        })
    });
    let Some(rule) = rule.filter(|_| valid) else {
        return data_error(
            401,
            ns,
            &entity,
            "InvalidSignature: The token has an invalid signature",
        );
    };
    if !rule.has(action) {
        return data_error(
            401,
            ns,
            &entity,
            &format!("Unauthorized access. '{action}' claim(s) are required to perform this operation. Resource: 'sb://{}.servicebus.localhost/{}'", n.name, entity.to_ascii_lowercase()),
        );
    }
    if let Some(kind) = entity.strip_prefix("$Resources/") {
        return resources_feed(shared.port, n, kind);
    }
    let Some(ent) = ent else {
        return data_error(
            404,
            ns,
            &entity,
            &format!(
                "The messaging entity '{}:{}' could not be found",
                n.name, entity
            ),
        );
    };
    if action == "Send" {
        return Resp::empty(201).header("Server", "Microsoft-HTTPAPI/2.0");
    }
    let when = arm_time(ent.created_ms);
    let url = format!(
        "https://{}.servicebus.localhost:{}/{}",
        n.name, shared.port, ent.name
    );
    let body = format!(
        "<entry xmlns=\"http://www.w3.org/2005/Atom\"><id>{url}?api-version=2021-05</id><title type=\"text\">{name}</title><published>{when}</published><updated>{when}</updated><author><name>{ns}</name></author><link rel=\"self\" href=\"{url}?api-version=2021-05\"/><content type=\"application/xml\"><{desc} xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><Status>Active</Status><CreatedAt>{when}</CreatedAt><UpdatedAt>{when}</UpdatedAt></{desc}></content></entry>",
        name = ent.name,
        ns = n.name,
        desc = ent.kind.description(),
    );
    Resp::text(200, "application/atom+xml;type=entry;charset=utf-8", body)
        .header("Server", "Microsoft-HTTPAPI/2.0")
}

/// `GET /$Resources/{queues|topics|eventhubs}`: the namespace's entities of that kind, as an
/// Atom feed of titles (the service's feed carries each full description; no client of the
/// emulator reads more than the titles).
fn resources_feed(port: u16, n: &Namespace, kind: &str) -> Resp {
    let url = format!(
        "https://{}.servicebus.localhost:{port}/$Resources/{kind}",
        n.name
    );
    let entries: String = n
        .entities
        .iter()
        .filter(|e| e.kind.segment().eq_ignore_ascii_case(kind))
        .map(|e| {
            format!(
                "<entry><title type=\"text\">{}</title></entry>",
                super::storage::xml_escape(&e.name)
            )
        })
        .collect();
    let body = format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text\">{kind}</title><id>{url}</id><updated>{}</updated>{entries}</feed>",
        arm_time(now_ms())
    );
    Resp::text(200, "application/atom+xml;type=feed;charset=utf-8", body)
        .header("Server", "Microsoft-HTTPAPI/2.0")
}
