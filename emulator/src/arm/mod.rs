//! Azure Resource Manager (`management.localhost`) and the data planes that judge the keys it
//! hands out: storage accounts ([`storage`], blob endpoint `{account}.blob.localhost`), Service
//! Bus and Event Hubs authorization rules ([`servicebus`], [`eventhub`]; both namespaces'
//! endpoint is `{namespace}.servicebus.localhost`), Cosmos DB accounts ([`cosmos`], endpoint
//! `{account}.documents.localhost`), App Service Key Vault references ([`web`]) and Logic Apps
//! workflows ([`logic`]). Seed: `[arm]` (see the `seed` module).
//!
//! Every management request passes, in this order, ARM's checks: a bearer token from the
//! emulator's Entra whose audience is ARM (`https://management.azure.com`,
//! `https://management.core.windows.net` or this emulated cloud's own
//! `https://management.localhost[:port]`; 401 `AuthenticationFailed` without one,
//! `InvalidAuthenticationToken` for an unknown one, `InvalidAuthenticationTokenAudience`,
//! `ExpiredAuthenticationToken`, each with `WWW-Authenticate: Bearer authorization_uri=…`),
//! `api-version` present (400 `MissingApiVersionParameter`), the subscription (404
//! `SubscriptionNotFound`), the subscription's request budget (429
//! `SubscriptionRequestsThrottled` with `Retry-After`), the resource provider's api-versions (400
//! `InvalidApiVersionParameter` listing them), the resource group (404 `ResourceGroupNotFound`)
//! and the resource (404 `ResourceNotFound`, ARM's message). Every answer carries
//! `x-ms-request-id`, `x-ms-correlation-request-id` (echoed when the client sent one),
//! `x-ms-routing-request-id`, and for budgeted requests
//! `x-ms-ratelimit-remaining-subscription-reads` (GET) or `…-writes` (POST, PUT, PATCH, DELETE).
//!
//! The budget is ARM's token bucket per subscription: `reads_per_hour` (default 12000) and
//! `writes_per_hour` (default 1200) tokens, refilled linearly; changeable at run time with
//! [`Emulator::set_arm_budget`] or `PUT /_admin/arm/budget`.
//!
//! | route | request |
//! |---|---|
//! | `arm.storage.get` | `GET …/Microsoft.Storage/storageAccounts/{a}` |
//! | `arm.storage.listKeys` / `arm.storage.regenerateKey` | `POST …/storageAccounts/{a}/listKeys`, `…/regenerateKey` |
//! | `arm.servicebus.listKeys` / `arm.servicebus.regenerateKeys` | `POST …/Microsoft.ServiceBus/namespaces/{ns}[/queues/{q}\|/topics/{t}]/authorizationRules/{r}/listKeys`, `…/regenerateKeys` |
//! | `arm.eventhub.listKeys` / `arm.eventhub.regenerateKeys` | `POST …/Microsoft.EventHub/namespaces/{ns}[/eventhubs/{e}]/authorizationRules/{r}/listKeys`, `…/regenerateKeys` |
//! | `arm.cosmos.get` / `arm.cosmos.listKeys` / `arm.cosmos.regenerateKey` | `GET …/Microsoft.DocumentDB/databaseAccounts/{a}`, `POST …/listKeys`, `POST …/regenerateKey` (202, long-running) |
//! | `arm.operation` | `GET /subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{l}/operationsStatus/{id}` (`Azure-AsyncOperation`) and `…/operationResults/{id}` (`Location`) |
//! | `arm.web.configreferences` | `GET …/Microsoft.Web/sites/{s}/config/configreferences/appsettings[/{name}]` |
//! | `arm.web.refresh` | `POST …/Microsoft.Web/sites/{s}/config/configreferences/appsettings/refresh` |
//! | `arm.logic.get` / `arm.logic.put` | `GET` / `PUT …/Microsoft.Logic/workflows/{w}` |
//! | `arm.unknown` | anything else on `management.localhost` |
//! | `storage.blob.list` | `GET /?comp=list` on `{account}.blob.localhost` (Shared Key) |
//! | `storage.blob.unknown` | anything else on a blob host |
//! | `servicebus.data` | `GET /{entity}`, `POST /{entity}/messages` on `{namespace}.servicebus.localhost` (SAS) |
//! | `cosmos.data` | `GET /` on `{account}.documents.localhost` (master key) |
//!
//! Known approximations: only the routes above exist (other ARM paths → 404
//! `InvalidResourceType`); api-version lists are the emulator's, not ARM's live registrations;
//! an unsupported but well-formed api-version answers `InvalidApiVersionParameter` (ARM may answer
//! `NoRegisteredProviderFound`); no RBAC: any ARM token may do everything; Cosmos and Service
//! Bus errors use ARM's `{"error":{…}}` envelope.

pub mod cosmos;
pub mod eventhub;
pub mod logic;
mod seed;
pub mod servicebus;
pub mod storage;
pub mod web;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use rand::Rng as _;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::http::{Req, Resp};
use crate::state::{new_uuid, Shared, State};
use crate::Emulator;

pub use seed::{
    ArmSeed, CosmosAccountSeed, EntitySeed, LogicAppSeed, NamespaceSeed, RuleSeed, SiteSeed,
    StorageAccountSeed, DEFAULT_SUBSCRIPTION_ID,
};

/// This emulated cloud's own ARM audience (`https://management.localhost[:port]`), as a
/// sovereign cloud has its own (`https://management.usgovcloudapi.net`).
pub const ARM_LOCAL_RESOURCE: &str = "https://management.localhost";

/// Audiences ARM accepts (with or without the trailing slash).
const ARM_AUDIENCES: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
];

pub fn is_arm_audience(aud: &str) -> bool {
    let a = aud.trim_end_matches('/').to_ascii_lowercase();
    let local = a.strip_prefix(ARM_LOCAL_RESOURCE).is_some_and(|rest| {
        rest.is_empty()
            || rest
                .strip_prefix(':')
                .is_some_and(|port| port.parse::<u16>().is_ok())
    });
    local || ARM_AUDIENCES.contains(&a.as_str())
}

/// Which ARM-side host a request went to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Management,
    Blob(String),
    /// `{namespace}.servicebus.localhost`: Service Bus and Event Hubs namespaces alike.
    Bus(String),
    Cosmos(String),
}

pub fn classify(hostname: &str) -> Option<Host> {
    if hostname == "management.localhost" {
        return Some(Host::Management);
    }
    let label = |suffix: &str| {
        hostname
            .strip_suffix(suffix)
            .filter(|l| !l.is_empty() && !l.contains('.'))
            .map(str::to_owned)
    };
    label(".blob.localhost")
        .map(Host::Blob)
        .or_else(|| label(".servicebus.localhost").map(Host::Bus))
        .or_else(|| label(".documents.localhost").map(Host::Cosmos))
}

// --- state ------------------------------------------------------------------------------

/// The emulated subscription and its resources (one field of the emulator's state).
pub struct ArmState {
    pub subscription_id: String,
    /// Lower-case resource group name → its name as created.
    pub resource_groups: BTreeMap<String, String>,
    pub storage: Vec<storage::StorageAccount>,
    pub namespaces: Vec<servicebus::Namespace>,
    pub cosmos: Vec<cosmos::CosmosAccount>,
    pub sites: Vec<web::Site>,
    pub logic_apps: Vec<logic::LogicApp>,
    pub operations: Vec<cosmos::Operation>,
    pub budget: Budget,
}

impl ArmState {
    pub fn from_seed(seed: &ArmSeed, start: i64) -> ArmState {
        let mut resource_groups = BTreeMap::new();
        let groups = seed
            .resource_groups
            .iter()
            .chain(seed.storage_accounts.iter().map(|a| &a.resource_group))
            .chain(seed.servicebus_namespaces.iter().map(|a| &a.resource_group))
            .chain(seed.eventhubs_namespaces.iter().map(|a| &a.resource_group))
            .chain(seed.cosmos_accounts.iter().map(|a| &a.resource_group))
            .chain(seed.sites.iter().map(|a| &a.resource_group))
            .chain(seed.logic_apps.iter().map(|a| &a.resource_group));
        for g in groups {
            resource_groups
                .entry(g.to_ascii_lowercase())
                .or_insert_with(|| g.clone());
        }
        let namespaces = seed
            .servicebus_namespaces
            .iter()
            .map(|n| servicebus::Namespace::from_seed(n, servicebus::Kind::ServiceBus))
            .chain(
                seed.eventhubs_namespaces
                    .iter()
                    .map(|n| servicebus::Namespace::from_seed(n, servicebus::Kind::EventHub)),
            )
            .collect();
        ArmState {
            subscription_id: seed.subscription_id.to_ascii_lowercase(),
            resource_groups,
            storage: seed
                .storage_accounts
                .iter()
                .map(|a| storage::StorageAccount::from_seed(a, start))
                .collect(),
            namespaces,
            cosmos: seed
                .cosmos_accounts
                .iter()
                .map(|a| cosmos::CosmosAccount::from_seed(a, start))
                .collect(),
            sites: seed.sites.iter().map(web::Site::from_seed).collect(),
            logic_apps: seed
                .logic_apps
                .iter()
                .map(|l| logic::LogicApp::from_seed(l, start))
                .collect(),
            operations: Vec::new(),
            budget: Budget::new(seed.reads_per_hour, seed.writes_per_hour),
        }
    }

    /// Completes the long-running operations whose time has come.
    pub fn settle(&mut self) {
        cosmos::settle(self, now_ms());
    }
}

/// Resolves what seeds can only resolve once the vaults exist (App Service references).
pub fn after_seed(st: &mut State) {
    web::resolve_all(st, false);
}

/// ARM's token buckets for one subscription.
pub struct Budget {
    pub reads_per_hour: u32,
    pub writes_per_hour: u32,
    reads: f64,
    writes: f64,
    last_ms: i128,
}

impl Budget {
    pub fn new(reads_per_hour: u32, writes_per_hour: u32) -> Budget {
        Budget {
            reads_per_hour,
            writes_per_hour,
            reads: f64::from(reads_per_hour),
            writes: f64::from(writes_per_hour),
            last_ms: now_ms(),
        }
    }

    /// Takes one token; `Ok(remaining)` or `Err(seconds until one is available)`.
    fn take(&mut self, write: bool) -> Result<u64, u64> {
        let now = now_ms();
        let elapsed = (now - self.last_ms).max(0) as f64 / 1000.0;
        self.last_ms = now;
        let refill = |tokens: &mut f64, per_hour: u32| {
            let cap = f64::from(per_hour);
            *tokens = (*tokens + elapsed * cap / 3600.0).min(cap);
            cap / 3600.0
        };
        let (tokens, rate) = if write {
            let r = refill(&mut self.writes, self.writes_per_hour);
            (&mut self.writes, r)
        } else {
            let r = refill(&mut self.reads, self.reads_per_hour);
            (&mut self.reads, r)
        };
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(tokens.floor() as u64)
        } else if rate <= 0.0 {
            Err(3600)
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

pub(crate) fn now_ms() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

/// ARM's date-time form: RFC 3339 with seven fractional digits, UTC.
pub(crate) fn arm_time(unix_ms: i128) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(unix_ms * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
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

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, as `x-ms-date` carries it) or RFC 2822.
pub(crate) fn http_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .map(time::PrimitiveDateTime::assume_utc)
        .ok()
        .or_else(|| {
            OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc2822).ok()
        })
}

/// Base64 of `n` random bytes (storage and Cosmos keys: 64, Service Bus keys: 32).
pub(crate) fn random_key(n: usize) -> String {
    let mut rng = rand::rng();
    let buf: Vec<u8> = (0..n).map(|_| rng.random::<u8>()).collect();
    base64::engine::general_purpose::STANDARD.encode(buf)
}

// --- errors -----------------------------------------------------------------------------

/// ARM's error envelope.
pub fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
    .header("x-ms-failure-cause", "gateway")
}

/// ARM's error envelope as a resource provider sends it (no gateway failure cause).
pub fn rp_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

pub(crate) fn resource_not_found(ty: &str, name: &str, rg: &str) -> Resp {
    error(
        404,
        "ResourceNotFound",
        &format!("The Resource '{ty}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"),
    )
}

pub(crate) fn bad_body(message: &str) -> Resp {
    rp_error(400, "InvalidRequestContent", message)
}

fn challenge(shared: &Shared, description: &str) -> String {
    format!(
        "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{description}\"",
        shared.login_base(),
        shared.tenant_id
    )
}

fn unauthorized(shared: &Shared, code: &str, message: &str, description: &str) -> Resp {
    error(401, code, message).header("WWW-Authenticate", challenge(shared, description))
}

/// The answer to an injected `status` fault, in the host's own error shape.
pub fn fault_body(host: &Host, status: u16) -> Resp {
    match host {
        Host::Management => match status {
            429 => error(
                429,
                "SubscriptionRequestsThrottled",
                "Number of requests for subscription exceeded the limit. Please try again after '1' seconds. Refer to https://aka.ms/arm-throttling",
            ),
            401 => error(401, "InvalidAuthenticationToken", "The access token is invalid."),
            403 => error(403, "AuthorizationFailed", "The client does not have authorization to perform action."),
            404 => error(404, "NotFound", "The requested resource was not found."),
            409 => error(409, "Conflict", "The request conflicts with the resource's current state."),
            s if s >= 500 => error(s, "InternalServerError", "Encountered internal server error. Diagnostic information: timestamp '', subscription id '', tracking id '', request correlation id ''."),
            s => error(s, "BadRequest", "The request is invalid."),
        },
        Host::Blob(_) => storage::xml_error(
            status,
            match status {
                503 => "ServerBusy",
                500 => "InternalError",
                403 => "AuthenticationFailed",
                _ => "InvalidInput",
            },
            "The server is busy.",
            None,
        ),
        Host::Bus(ns) => servicebus::data_error(status, ns, "", "The server is busy."),
        Host::Cosmos(_) => Resp::json(
            status,
            &json!({"code": if status == 429 { "429" } else { "ServiceUnavailable" }, "message": "Request rate is large."}),
        ),
    }
}

/// ARM's response headers (data-plane hosts add their own in their handlers).
pub fn decorate(mut r: Resp, host: &Host, req: &Req) -> Resp {
    if *host != Host::Management {
        if !r.has_header("x-ms-request-id") {
            r.headers.push(("x-ms-request-id".into(), new_uuid()));
        }
        return r;
    }
    let request_id = new_uuid();
    let correlation = req
        .header("x-ms-correlation-request-id")
        .map(str::to_owned)
        .unwrap_or_else(|| request_id.clone());
    let stamp = OffsetDateTime::now_utc();
    let routing = format!(
        "WESTEUROPE:{:04}{:02}{:02}T{:02}{:02}{:02}Z:{request_id}",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    );
    let mut add = |k: &str, v: String| {
        if !r.has_header(k) {
            r.headers.push((k.to_owned(), v));
        }
    };
    add("Cache-Control", "no-cache".into());
    add("Pragma", "no-cache".into());
    add("Expires", "-1".into());
    add(
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains".into(),
    );
    add("X-Content-Type-Options", "nosniff".into());
    add("x-ms-request-id", request_id.clone());
    add("x-ms-correlation-request-id", correlation);
    add("x-ms-routing-request-id", routing);
    r
}

// --- routing ----------------------------------------------------------------------------

/// One management request, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Storage {
        rg: String,
        name: String,
        op: storage::Op,
    },
    Bus {
        kind: servicebus::Kind,
        rg: String,
        ns: String,
        entity: Option<(servicebus::EntityKind, String)>,
        rule: String,
        regenerate: bool,
    },
    Cosmos {
        rg: String,
        name: String,
        op: cosmos::Op,
    },
    Operation {
        location: String,
        id: String,
        result: bool,
    },
    WebRefs {
        rg: String,
        site: String,
        setting: Option<String>,
    },
    WebRefresh {
        rg: String,
        site: String,
    },
    Logic {
        rg: String,
        name: String,
        put: bool,
    },
    Unknown,
}

/// `(subscription, call)` of a management path.
pub(crate) fn parse(method: &str, path: &str) -> (Option<String>, Call) {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(crate::graph::percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let lower: Vec<String> = s.iter().map(|x| x.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let (sub, call) = match l.as_slice() {
        ["subscriptions", _, "providers", "microsoft.documentdb", "locations", _, kind @ ("operationsstatus" | "operationresults"), _] => {
            (
                Some(s[1]),
                Call::Operation {
                    location: s[5].to_owned(),
                    id: s[7].to_owned(),
                    result: *kind == "operationresults",
                },
            )
        }
        ["subscriptions", _, "resourcegroups", _, "providers", provider, rest @ ..] => {
            let rg = s[3].to_owned();
            let orig = &s[6..];
            let call = match (*provider, rest) {
                ("microsoft.storage", ["storageaccounts", _, tail @ ..]) => {
                    storage::Op::parse(method, tail).map(|op| Call::Storage {
                        rg: rg.clone(),
                        name: orig[1].to_owned(),
                        op,
                    })
                }
                ("microsoft.servicebus" | "microsoft.eventhub", ["namespaces", _, tail @ ..]) => {
                    let kind = if *provider == "microsoft.servicebus" {
                        servicebus::Kind::ServiceBus
                    } else {
                        servicebus::Kind::EventHub
                    };
                    servicebus::parse_rule_path(kind, method, tail, &orig[2..]).map(
                        |(entity, rule, regenerate)| Call::Bus {
                            kind,
                            rg: rg.clone(),
                            ns: orig[1].to_owned(),
                            entity,
                            rule,
                            regenerate,
                        },
                    )
                }
                ("microsoft.documentdb", ["databaseaccounts", _, tail @ ..]) => {
                    cosmos::Op::parse(method, tail).map(|op| Call::Cosmos {
                        rg: rg.clone(),
                        name: orig[1].to_owned(),
                        op,
                    })
                }
                ("microsoft.web", ["sites", _, "config", "configreferences", "appsettings"])
                    if method == "GET" =>
                {
                    Some(Call::WebRefs {
                        rg: rg.clone(),
                        site: orig[1].to_owned(),
                        setting: None,
                    })
                }
                (
                    "microsoft.web",
                    ["sites", _, "config", "configreferences", "appsettings", "refresh"],
                ) if method == "POST" => Some(Call::WebRefresh {
                    rg: rg.clone(),
                    site: orig[1].to_owned(),
                }),
                ("microsoft.web", ["sites", _, "config", "configreferences", "appsettings", _])
                    if method == "GET" =>
                {
                    Some(Call::WebRefs {
                        rg: rg.clone(),
                        site: orig[1].to_owned(),
                        setting: Some(orig[5].to_owned()),
                    })
                }
                ("microsoft.logic", ["workflows", _]) if method == "GET" || method == "PUT" => {
                    Some(Call::Logic {
                        rg: rg.clone(),
                        name: orig[1].to_owned(),
                        put: method == "PUT",
                    })
                }
                _ => None,
            };
            (Some(s[1]), call.unwrap_or(Call::Unknown))
        }
        ["subscriptions", _, ..] => (Some(s[1]), Call::Unknown),
        _ => (None, Call::Unknown),
    };
    (sub.map(str::to_owned), call)
}

impl Call {
    fn route(&self) -> &'static str {
        match self {
            Call::Storage { op, .. } => op.route(),
            Call::Bus {
                kind, regenerate, ..
            } => match (kind, regenerate) {
                (servicebus::Kind::ServiceBus, false) => "arm.servicebus.listKeys",
                (servicebus::Kind::ServiceBus, true) => "arm.servicebus.regenerateKeys",
                (servicebus::Kind::EventHub, false) => "arm.eventhub.listKeys",
                (servicebus::Kind::EventHub, true) => "arm.eventhub.regenerateKeys",
            },
            Call::Cosmos { op, .. } => op.route(),
            Call::Operation { .. } => "arm.operation",
            Call::WebRefs { .. } => "arm.web.configreferences",
            Call::WebRefresh { .. } => "arm.web.refresh",
            Call::Logic { put: false, .. } => "arm.logic.get",
            Call::Logic { put: true, .. } => "arm.logic.put",
            Call::Unknown => "arm.unknown",
        }
    }

    /// The api-versions the call's resource provider accepts, newest first.
    fn api_versions(&self) -> &'static [&'static str] {
        match self {
            Call::Storage { .. } => storage::API_VERSIONS,
            Call::Bus {
                kind: servicebus::Kind::ServiceBus,
                ..
            } => servicebus::API_VERSIONS,
            Call::Bus {
                kind: servicebus::Kind::EventHub,
                ..
            } => eventhub::API_VERSIONS,
            Call::Cosmos { .. } | Call::Operation { .. } => cosmos::API_VERSIONS,
            Call::WebRefs { .. } | Call::WebRefresh { .. } => web::API_VERSIONS,
            Call::Logic { .. } => logic::API_VERSIONS,
            Call::Unknown => &[],
        }
    }

    fn resource_group(&self) -> Option<&str> {
        match self {
            Call::Storage { rg, .. }
            | Call::Bus { rg, .. }
            | Call::Cosmos { rg, .. }
            | Call::WebRefs { rg, .. }
            | Call::WebRefresh { rg, .. }
            | Call::Logic { rg, .. } => Some(rg),
            Call::Operation { .. } | Call::Unknown => None,
        }
    }
}

/// The route name of a request to an ARM-side host (faults and the request log).
pub fn route_of(host: &Host, method: &str, req: &Req) -> &'static str {
    match host {
        Host::Management => parse(method, &req.path).1.route(),
        Host::Blob(_) => storage::blob_route(req),
        Host::Bus(_) => "servicebus.data",
        Host::Cosmos(_) => "cosmos.data",
    }
}

pub fn handle(shared: &Shared, host: &Host, req: &Req) -> Resp {
    match host {
        Host::Management => management(shared, req),
        Host::Blob(account) => storage::blob(shared, account, req),
        Host::Bus(ns) => servicebus::data(shared, ns, req),
        Host::Cosmos(account) => cosmos::data(shared, account, req),
    }
}

/// Context a management handler gets: the state, the request, the host's base URL.
pub(crate) struct Ctx<'a> {
    pub st: &'a mut State,
    pub req: &'a Req,
    pub port: u16,
    pub api_version: String,
}

impl Ctx<'_> {
    pub fn base(&self) -> String {
        format!("https://management.localhost:{}", self.port)
    }

    pub fn sub(&self) -> String {
        self.st.arm.subscription_id.clone()
    }

    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{ty}/{name}`, with the group's case.
    pub fn resource_id(&self, rg: &str, ty: &str, name: &str) -> String {
        let rg = self
            .st
            .arm
            .resource_groups
            .get(&rg.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| rg.to_owned());
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/{ty}/{name}",
            self.st.arm.subscription_id
        )
    }

    pub fn body(&self) -> Result<Value, Resp> {
        if self.req.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.req.body).map_err(|e| {
            bad_body(&format!(
                "The request content was invalid and could not be deserialized: '{e}'."
            ))
        })
    }
}

fn authenticate(shared: &Shared, req: &Req) -> Result<(), Resp> {
    let Some(header) = req.header("authorization") else {
        return Err(unauthorized(
            shared,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            "The authentication failed because of missing 'Authorization' header.",
        ));
    };
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized(
            shared,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            "The authentication failed because of invalid 'Authorization' header.",
        ));
    };
    let info = shared.lock().tokens.get(token).cloned();
    let Some(info) = info else {
        return Err(unauthorized(
            shared,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            "The access token is invalid.",
        ));
    };
    let now = crate::state::now();
    if info.expires <= now {
        return Err(unauthorized(
            shared,
            "ExpiredAuthenticationToken",
            &format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                crate::graph::format_time(crate::state::utc(info.expires)),
                crate::graph::format_time(crate::state::utc(now))
            ),
            "The access token has expired.",
        ));
    }
    if !is_arm_audience(&info.audience) {
        return Err(unauthorized(
            shared,
            "InvalidAuthenticationTokenAudience",
            &format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com','{ARM_LOCAL_RESOURCE}:{}/'.",
                info.audience, shared.port
            ),
            "The access token audience is invalid.",
        ));
    }
    Ok(())
}

fn management(shared: &Shared, req: &Req) -> Resp {
    if let Err(r) = authenticate(shared, req) {
        return r;
    }
    let Some(api_version) = req.query("api-version").map(str::to_owned) else {
        return error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    let (sub, call) = parse(&req.method, &req.path);
    let mut st = shared.lock();
    st.arm.settle();
    let Some(sub) = sub else {
        return error(
            404,
            "InvalidResourceType",
            "The resource type could not be found. (keyrot emulator: ARM paths start with /subscriptions/{id})",
        );
    };
    if !sub.eq_ignore_ascii_case(&st.arm.subscription_id) {
        return error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        );
    }
    let write = req.method != "GET" && req.method != "HEAD";
    let remaining = match st.arm.budget.take(write) {
        Ok(n) => n,
        Err(wait) => {
            let kind = if write { "write" } else { "read" };
            return error(
                429,
                "SubscriptionRequestsThrottled",
                &format!("Number of '{kind}' requests for subscription '{sub}' exceeded. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling"),
            )
            .header("Retry-After", wait.to_string());
        }
    };
    let header = if write {
        "x-ms-ratelimit-remaining-subscription-writes"
    } else {
        "x-ms-ratelimit-remaining-subscription-reads"
    };
    let resp = dispatch(&mut st, shared.port, req, call, api_version);
    resp.header(header, remaining.to_string())
}

fn dispatch(st: &mut State, port: u16, req: &Req, call: Call, api_version: String) -> Resp {
    if call == Call::Unknown {
        let ty = req
            .path
            .split('/')
            .skip_while(|s| !s.eq_ignore_ascii_case("providers"))
            .nth(1)
            .unwrap_or("");
        return error(
            404,
            "InvalidResourceType",
            &format!("The resource type could not be found in the namespace '{ty}' for api version '{api_version}'. (keyrot emulator: not emulated)"),
        );
    }
    let versions = call.api_versions();
    if !versions.contains(&api_version.as_str()) {
        return error(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{api_version}' is invalid. The supported versions are '{}'.",
                versions.join(",")
            ),
        );
    }
    if let Some(rg) = call.resource_group() {
        if !st
            .arm
            .resource_groups
            .contains_key(&rg.to_ascii_lowercase())
        {
            return error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{rg}' could not be found."),
            );
        }
    }
    let mut ctx = Ctx {
        st,
        req,
        port,
        api_version,
    };
    match call {
        Call::Storage { rg, name, op } => storage::handle(&mut ctx, &rg, &name, op),
        Call::Bus {
            kind,
            rg,
            ns,
            entity,
            rule,
            regenerate,
        } => servicebus::handle(&mut ctx, kind, &rg, &ns, entity, &rule, regenerate),
        Call::Cosmos { rg, name, op } => cosmos::handle(&mut ctx, &rg, &name, op),
        Call::Operation {
            location,
            id,
            result,
        } => cosmos::operation(&mut ctx, &location, &id, result),
        Call::WebRefs { rg, site, setting } => web::references(&mut ctx, &rg, &site, setting),
        Call::WebRefresh { rg, site } => web::refresh(&mut ctx, &rg, &site),
        Call::Logic { rg, name, put } => logic::handle(&mut ctx, &rg, &name, put),
        Call::Unknown => unreachable!("answered above"),
    }
}

// --- admin ------------------------------------------------------------------------------

/// `GET /_admin/arm`: every emulated resource with its keys, regenerations, refreshes and
/// workflow PUTs; `PUT /_admin/arm/budget` `{"reads_per_hour", "writes_per_hour"}`: a fresh
/// request budget.
pub fn admin(shared: &Shared, req: &Req) -> Resp {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/_admin/arm") => {
            let mut st = shared.lock();
            st.arm.settle();
            Resp::json(200, &admin_view(&st.arm, shared.port))
        }
        ("PUT", "/_admin/arm/budget") => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct B {
                reads_per_hour: u32,
                writes_per_hour: u32,
            }
            match serde_json::from_slice::<B>(&req.body) {
                Ok(b) => {
                    shared.lock().arm.budget = Budget::new(b.reads_per_hour, b.writes_per_hour);
                    Resp::json(
                        200,
                        &json!({"reads_per_hour": b.reads_per_hour, "writes_per_hour": b.writes_per_hour}),
                    )
                }
                Err(e) => Resp::json(400, &json!({"error": format!("invalid budget: {e}")})),
            }
        }
        _ => Resp::json(
            404,
            &json!({"error": "GET /_admin/arm, or PUT /_admin/arm/budget {\"reads_per_hour\", \"writes_per_hour\"}"}),
        ),
    }
}

fn admin_view(arm: &ArmState, port: u16) -> Value {
    json!({
        "arm_url": format!("https://management.localhost:{port}"),
        "subscription_id": arm.subscription_id,
        "resource_groups": arm.resource_groups.values().collect::<BTreeSet<_>>(),
        "storage_accounts": arm.storage.iter().map(storage::StorageAccount::admin).collect::<Vec<_>>(),
        "namespaces": arm.namespaces.iter().map(servicebus::Namespace::admin).collect::<Vec<_>>(),
        "cosmos_accounts": arm.cosmos.iter().map(cosmos::CosmosAccount::admin).collect::<Vec<_>>(),
        "sites": arm.sites.iter().map(web::Site::admin).collect::<Vec<_>>(),
        "logic_apps": arm.logic_apps.iter().map(logic::LogicApp::admin).collect::<Vec<_>>(),
    })
}

// --- the Rust API ---------------------------------------------------------------------

/// A storage account key as the emulator holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageKeyView {
    pub value: String,
    pub created: OffsetDateTime,
}

impl std::fmt::Debug for StorageKeyView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageKeyView")
            .field("value", &"<redacted>")
            .field("created", &self.created)
            .finish()
    }
}

/// The emulated Azure Resource Manager, for tests.
impl Emulator {
    /// `https://management.localhost:{port}` (ARM's base URL; scope
    /// `https://management.localhost:{port}/.default` or `https://management.azure.com/.default`).
    pub fn arm_url(&self) -> String {
        format!("https://management.localhost:{}", self.shared.port)
    }

    /// The emulated subscription's id (`[arm] subscription_id`).
    pub fn arm_subscription_id(&self) -> String {
        self.shared.lock().arm.subscription_id.clone()
    }

    /// A fresh per-subscription request budget (full buckets).
    pub fn set_arm_budget(&self, reads_per_hour: u32, writes_per_hour: u32) {
        self.shared.lock().arm.budget = Budget::new(reads_per_hour, writes_per_hour);
    }

    fn with_arm<T>(&self, f: impl FnOnce(&ArmState) -> T) -> T {
        let mut st = self.shared.lock();
        st.arm.settle();
        f(&st.arm)
    }

    /// `(key1, key2)` of a storage account (any resource group); empty strings if unknown.
    pub fn storage_keys(&self, account: &str) -> (String, String) {
        let (a, b) = self.storage_key_views(account);
        (a.value, b.value)
    }

    /// Both keys of a storage account with their creation times.
    pub fn storage_key_views(&self, account: &str) -> (StorageKeyView, StorageKeyView) {
        self.with_arm(|arm| {
            let view = |k: &storage::Key| StorageKeyView {
                value: k.value.clone(),
                created: OffsetDateTime::from_unix_timestamp_nanos(k.created_ms * 1_000_000)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            };
            let empty = StorageKeyView {
                value: String::new(),
                created: OffsetDateTime::UNIX_EPOCH,
            };
            arm.storage
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(account))
                .map_or((empty.clone(), empty), |a| (view(&a.key1), view(&a.key2)))
        })
    }

    /// The key names (`key1`, `key2`) regenerated through ARM, in order.
    pub fn storage_regenerations(&self, account: &str) -> Vec<String> {
        self.with_arm(|arm| {
            arm.storage
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(account))
                .map(|a| a.regenerations.clone())
                .unwrap_or_default()
        })
    }

    /// `(primaryKey, secondaryKey)` of a Service Bus authorization rule (namespace level when
    /// `entity` is `None`, else the queue's or topic's); empty strings if unknown.
    pub fn servicebus_rule_keys(
        &self,
        namespace: &str,
        entity: Option<&str>,
        rule: &str,
    ) -> (String, String) {
        self.rule_keys(servicebus::Kind::ServiceBus, namespace, entity, rule)
    }

    /// The key types (`PrimaryKey`, `SecondaryKey`) regenerated on a Service Bus rule, in order.
    pub fn servicebus_regenerations(
        &self,
        namespace: &str,
        entity: Option<&str>,
        rule: &str,
    ) -> Vec<String> {
        self.rule_regenerations(servicebus::Kind::ServiceBus, namespace, entity, rule)
    }

    /// `(primaryKey, secondaryKey)` of an Event Hubs authorization rule (namespace level when
    /// `entity` is `None`, else the event hub's).
    pub fn eventhub_rule_keys(
        &self,
        namespace: &str,
        entity: Option<&str>,
        rule: &str,
    ) -> (String, String) {
        self.rule_keys(servicebus::Kind::EventHub, namespace, entity, rule)
    }

    /// The key types regenerated on an Event Hubs rule, in order.
    pub fn eventhub_regenerations(
        &self,
        namespace: &str,
        entity: Option<&str>,
        rule: &str,
    ) -> Vec<String> {
        self.rule_regenerations(servicebus::Kind::EventHub, namespace, entity, rule)
    }

    fn rule_keys(
        &self,
        kind: servicebus::Kind,
        namespace: &str,
        entity: Option<&str>,
        rule: &str,
    ) -> (String, String) {
        self.with_arm(|arm| {
            servicebus::find_rule(arm, kind, namespace, entity, rule)
                .map(|r| (r.primary.clone(), r.secondary.clone()))
                .unwrap_or_default()
        })
    }

    fn rule_regenerations(
        &self,
        kind: servicebus::Kind,
        namespace: &str,
        entity: Option<&str>,
        rule: &str,
    ) -> Vec<String> {
        self.with_arm(|arm| {
            servicebus::find_rule(arm, kind, namespace, entity, rule)
                .map(|r| r.regenerations.clone())
                .unwrap_or_default()
        })
    }

    /// `[primaryMasterKey, secondaryMasterKey, primaryReadonlyMasterKey,
    /// secondaryReadonlyMasterKey]` of a Cosmos DB account (a regeneration counts only once
    /// its operation has completed).
    pub fn cosmos_keys(&self, account: &str) -> [String; 4] {
        self.with_arm(|arm| {
            arm.cosmos
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(account))
                .map(|a| a.keys.clone().map(|k| k.value))
                .unwrap_or_default()
        })
    }

    /// The key kinds (`primary`, `secondary`, `primaryReadonly`, `secondaryReadonly`) whose
    /// regeneration completed, in order.
    pub fn cosmos_regenerations(&self, account: &str) -> Vec<String> {
        self.with_arm(|arm| {
            arm.cosmos
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(account))
                .map(|a| a.regenerations.clone())
                .unwrap_or_default()
        })
    }

    /// How many times the site's Key Vault references were refreshed through ARM.
    pub fn site_refreshes(&self, site: &str) -> usize {
        self.with_arm(|arm| {
            arm.sites
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(site))
                .map_or(0, |s| s.refreshes.len())
        })
    }

    /// The secret version each Key Vault reference of the site holds now, by setting name
    /// (`None`: the reference does not resolve).
    pub fn site_reference_versions(&self, site: &str) -> BTreeMap<String, Option<String>> {
        self.with_arm(|arm| {
            arm.sites
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(site))
                .map(|s| {
                    s.references
                        .iter()
                        .map(|(k, r)| (k.clone(), r.held_version.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// The workflow as `GET` answers it (`Value::Null` if unknown).
    pub fn logic_app(&self, name: &str) -> Value {
        let port = self.shared.port;
        self.with_arm(|arm| {
            arm.logic_apps
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name))
                .map_or(Value::Null, |l| l.to_json(&arm.subscription_id, arm, port))
        })
    }

    /// The body of the last `PUT` to the workflow (`None` if none was made).
    pub fn logic_app_last_put(&self, name: &str) -> Option<Value> {
        self.with_arm(|arm| {
            arm.logic_apps
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name))
                .and_then(|l| l.puts.last().cloned())
        })
    }
}
