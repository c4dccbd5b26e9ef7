//! `graph.localhost`: the Microsoft Graph v1.0 `applications` endpoints keyrot uses to read and
//! rotate app registration credentials: get (by object id or `appId`), list with
//! `$filter=appId eq '…'`, `addPassword` and `removePassword`.
//!
//! Every emulated application is a seeded `[[client]]`: its `passwordCredentials` are exactly
//! the client secrets the token endpoint accepts, so a secret added here works at
//! `login.localhost` (after the replication delay) and a removed one stops working at once.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::http::{Req, Resp};
use crate::seed::{is_guid, GraphPermission, Redacted};
use crate::state::{new_uuid, Client, ClientSecret, Shared, State};

/// Microsoft Graph's own application id, accepted as a token audience like its URI.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The resource URI clients request tokens for (`https://graph.microsoft.com/.default`).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// JSON success bodies carry Graph's OData content type.
const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// Shown as `endDateTime` for a seeded secret without an end (the old portal's "never").
const NEVER: time::OffsetDateTime = time::macros::datetime!(2299-12-31 00:00:00 UTC);
/// Properties of an application, in the order Graph sends them (the documented example's).
const APP_PROPERTIES: &[&str] = &[
    "id",
    "deletedDateTime",
    "isFallbackPublicClient",
    "appId",
    "applicationTemplateId",
    "identifierUris",
    "createdDateTime",
    "disabledByMicrosoftStatus",
    "displayName",
    "isDeviceOnlyAuthSupported",
    "groupMembershipClaims",
    "optionalClaims",
    "addIns",
    "publisherDomain",
    "samlMetadataUrl",
    "signInAudience",
    "verifiedPublisher",
    "certification",
    "tags",
    "tokenEncryptionKeyId",
    "api",
    "appRoles",
    "publicClient",
    "info",
    "keyCredentials",
    "parentalControlSettings",
    "passwordCredentials",
    "requiredResourceAccess",
    "web",
];

/// This emulated cloud's own Graph (`https://graph.localhost[:port]`), as a sovereign cloud
/// has its own (`https://graph.microsoft.us`): clients ask for `{their --graph-url}/.default`.
pub const GRAPH_LOCAL_RESOURCE: &str = "https://graph.localhost";

pub fn is_graph_audience(aud: &str) -> bool {
    let a = aud.trim_end_matches('/').to_ascii_lowercase();
    let local = a.strip_prefix(GRAPH_LOCAL_RESOURCE).is_some_and(|rest| {
        rest.is_empty()
            || rest
                .strip_prefix(':')
                .is_some_and(|port| port.parse::<u16>().is_ok())
    });
    local || a == GRAPH_RESOURCE || a == GRAPH_APP_ID
}

/// How a request names an application.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Id(String),
    AppId(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Path {
    List,
    Get(Target),
    AddPassword(Target),
    RemovePassword(Target),
    BadVersion(String),
    BadSegment(String),
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `applications(appId='…')` → the appId (OData doubles a quote inside a literal).
fn alternate_key(seg: &str) -> Option<Result<String, String>> {
    let (name, rest) = seg.split_once('(')?;
    if !name.eq_ignore_ascii_case("applications") {
        return None;
    }
    let inner = rest.strip_suffix(')');
    let parsed = inner.and_then(|inner| {
        let (k, v) = inner.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("appId") {
            return None;
        }
        let v = v.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        Some(v.replace("''", "'"))
    });
    Some(parsed.ok_or_else(|| seg.to_owned()))
}

fn parse(path: &str) -> Path {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let Some(version) = segs.first() else {
        return Path::BadSegment(String::new());
    };
    if version != "v1.0" {
        return Path::BadVersion(version.clone());
    }
    let Some(entity) = segs.get(1) else {
        return Path::BadSegment(String::new());
    };
    let (target, rest) = if entity.eq_ignore_ascii_case("applications") {
        match segs.get(2) {
            None => return Path::List,
            Some(id) => (Target::Id(id.clone()), &segs[3..]),
        }
    } else {
        match alternate_key(entity) {
            Some(Ok(app_id)) => (Target::AppId(app_id), &segs[2..]),
            Some(Err(seg)) => return Path::BadSegment(seg),
            None => return Path::BadSegment(entity.clone()),
        }
    };
    let action = |name: &str, a: &str| {
        a.eq_ignore_ascii_case(name)
            || a.strip_prefix("microsoft.graph.")
                .is_some_and(|x| x.eq_ignore_ascii_case(name))
    };
    match rest {
        [] => Path::Get(target),
        [a] if action("addPassword", a) => Path::AddPassword(target),
        [a] if action("removePassword", a) => Path::RemovePassword(target),
        [a, ..] => Path::BadSegment(a.clone()),
    }
}

/// The route name of a Graph request (fault injection and the request log key on it).
pub fn route_of(path: &str) -> &'static str {
    match parse(path) {
        Path::List => "graph.applications.list",
        Path::Get(_) => "graph.applications.get",
        Path::AddPassword(_) => "graph.addPassword",
        Path::RemovePassword(_) => "graph.removePassword",
        Path::BadVersion(_) | Path::BadSegment(_) => "unknown",
    }
}

/// `2019-09-09T19:50:29.3086381Z` (seven fractional digits, as Graph's .NET ticks) or
/// `2024-01-01T00:00:00Z` for whole seconds.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ticks = t.nanosecond() / 100;
    if ticks == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{ticks:07}Z")
    }
}

/// Truncates to .NET's 100 ns tick, the precision Graph stores.
fn ticks(t: OffsetDateTime) -> OffsetDateTime {
    let ns = t.nanosecond();
    t.replace_nanosecond(ns - ns % 100).unwrap_or(t)
}

fn parse_time(v: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(v, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{v}Z"), &Rfc3339))
        .ok()
        .map(|t| ticks(t.to_offset(time::UtcOffset::UTC)))
}

fn add_years(t: OffsetDateTime, years: i32) -> OffsetDateTime {
    t.replace_year(t.year() + years)
        .or_else(|_| {
            // 29 February → 28 February.
            t.replace_day(28)
                .and_then(|d| d.replace_year(t.year() + years))
        })
        .unwrap_or(t + time::Duration::days(365 * i64::from(years)))
}

// ---- responses -------------------------------------------------------------------------------

fn request_ids(req: &Req) -> (String, String) {
    let request_id = new_uuid();
    let client_request_id = req
        .header("client-request-id")
        .map(str::to_owned)
        .unwrap_or_else(|| request_id.clone());
    (request_id, client_request_id)
}

/// Graph's error envelope: `{"error":{"code","message","innerError":{"date","request-id",
/// "client-request-id"}}}`, with the same ids in the `request-id`/`client-request-id` headers.
pub fn error(req: &Req, status: u16, code: &str, message: &str) -> Resp {
    let (request_id, client_request_id) = request_ids(req);
    let now = OffsetDateTime::now_utc();
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let body = json!({"error": {
        "code": code,
        "message": message,
        "innerError": {
            "date": date,
            "request-id": request_id,
            "client-request-id": client_request_id,
        },
    }});
    Resp::text(status, "application/json", body.to_string())
        .header("request-id", request_id)
        .header("client-request-id", client_request_id)
}

fn unauthorized(shared: &Shared, req: &Req, message: &str) -> Resp {
    error(req, 401, "InvalidAuthenticationToken", message).header(
        "WWW-Authenticate",
        format!(
            "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"{GRAPH_APP_ID}\"",
            shared.login_base()
        ),
    )
}

fn forbidden(req: &Req) -> Resp {
    error(
        req,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

fn not_found(req: &Req, what: &str) -> Resp {
    error(
        req,
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{what}' does not exist or one of its queried reference-property objects are not present."),
    )
}

fn bad_json(req: &Req) -> Resp {
    error(
        req,
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
    )
}

fn ok_json(status: u16, body: &Value) -> Resp {
    Resp::text(status, ODATA_JSON, body.to_string()).header("OData-Version", "4.0")
}

/// Bodies for injected status faults.
pub fn fault_body(shared: &Shared, req: &Req, status: u16) -> Resp {
    match status {
        401 => unauthorized(
            shared,
            req,
            "Lifetime validation failed, the token is expired.",
        ),
        403 => forbidden(req),
        404 => not_found(req, "injected-fault"),
        429 => error(req, 429, "TooManyRequests", "Please retry again later."),
        500 => error(
            req,
            500,
            "Service_InternalServerError",
            "Encountered an internal server error.",
        ),
        502 => error(
            req,
            502,
            "BadGateway",
            "The service received an invalid response from an upstream server.",
        ),
        503 => error(
            req,
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry the request.",
        ),
        504 => error(req, 504, "GatewayTimeout", "The operation timed out."),
        s => error(
            req,
            s,
            "UnknownError",
            &format!("Injected fault with status {s}."),
        ),
    }
}

/// Adds the headers Graph puts on every response.
pub fn decorate(mut r: Resp, req: &Req) -> Resp {
    if !r.has_header("request-id") {
        let (request_id, client_request_id) = request_ids(req);
        r.headers.push(("request-id".into(), request_id));
        r.headers
            .push(("client-request-id".into(), client_request_id));
    }
    let mut add = |k: &str, v: &str| {
        if !r.has_header(k) {
            r.headers.push((k.to_owned(), v.to_owned()));
        }
    };
    add("Cache-Control", "no-cache");
    add("Strict-Transport-Security", "max-age=31536000");
    add("Vary", "Accept-Encoding");
    add(
        "x-ms-ags-diagnostic",
        r#"{"ServerInfo":{"DataCenter":"keyrot emulator","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"EMULATOR"}}"#,
    );
    add("x-ms-resource-unit", "1");
    r
}

// ---- representations -------------------------------------------------------------------------

fn password_json(s: &ClientSecret, secret_text: Option<&str>) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": s.display_name,
        "endDateTime": format_time(s.end.unwrap_or(NEVER)),
        "hint": s.hint(),
        "keyId": s.key_id,
        "secretText": secret_text,
        "startDateTime": format_time(s.start),
    })
}

fn application_json(c: &Client) -> Map<String, Value> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: Vec<Value> = c
        .certificates
        .iter()
        .map(|k| {
            json!({
                "customKeyIdentifier": b64.encode(k.thumbprint),
                "displayName": k.display_name,
                "endDateTime": format_time(k.end),
                "key": null,
                "keyId": k.key_id,
                "startDateTime": format_time(k.start),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            })
        })
        .collect();
    let passwords: Vec<Value> = c.secrets.iter().map(|s| password_json(s, None)).collect();
    let full = json!({
        "id": c.object_id,
        "deletedDateTime": null,
        "isFallbackPublicClient": null,
        "appId": c.client_id,
        "applicationTemplateId": null,
        "identifierUris": [],
        "createdDateTime": format_time(c.created),
        "disabledByMicrosoftStatus": null,
        "displayName": c.display_name,
        "isDeviceOnlyAuthSupported": null,
        "groupMembershipClaims": null,
        "optionalClaims": null,
        "addIns": [],
        "publisherDomain": "keyrotemulator.onmicrosoft.com",
        "samlMetadataUrl": null,
        "signInAudience": "AzureADMyOrg",
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "certification": null,
        "tags": [],
        "tokenEncryptionKeyId": null,
        "api": {
            "requestedAccessTokenVersion": null,
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
        },
        "appRoles": [],
        "publicClient": {"redirectUris": []},
        "info": {
            "termsOfServiceUrl": null,
            "supportUrl": null,
            "privacyStatementUrl": null,
            "marketingUrl": null,
            "logoUrl": null,
        },
        "keyCredentials": keys,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": passwords,
        "requiredResourceAccess": [],
        "web": {
            "redirectUris": [],
            "homePageUrl": null,
            "logoutUrl": null,
            "implicitGrantSettings": {"enableIdTokenIssuance": false, "enableAccessTokenIssuance": false},
        },
    });
    let Value::Object(mut map) = full else {
        return Map::new();
    };
    // Graph's property order, for readable output (serde_json may sort keys).
    let mut ordered = Map::new();
    for p in APP_PROPERTIES {
        if let Some(v) = map.remove(*p) {
            ordered.insert((*p).to_owned(), v);
        }
    }
    ordered
}

/// `$select`: the canonical property names, or the 400 for an unknown one.
fn parse_select(req: &Req) -> Result<Option<Vec<&'static str>>, Resp> {
    let Some(raw) = req.query("$select").or_else(|| req.query("select")) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for p in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match APP_PROPERTIES.iter().find(|k| k.eq_ignore_ascii_case(p)) {
            Some(k) => {
                if !out.contains(k) {
                    out.push(*k);
                }
            }
            None => {
                return Err(error(
                    req,
                    400,
                    "BadRequest",
                    &format!("Parsing OData Select and Expand failed: Could not find a property named '{p}' on type 'microsoft.graph.application'."),
                ))
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn project(app: Map<String, Value>, select: Option<&[&'static str]>) -> Map<String, Value> {
    match select {
        None => app,
        Some(fields) => {
            let mut out = Map::new();
            for f in fields {
                if let Some(v) = app.get(*f) {
                    out.insert((*f).to_owned(), v.clone());
                }
            }
            out
        }
    }
}

fn context(shared: &Shared, select: Option<&[&'static str]>, entity: bool) -> String {
    let sel = select.map_or_else(String::new, |s| format!("({})", s.join(",")));
    let suffix = if entity { "/$entity" } else { "" };
    format!(
        "{}/v1.0/$metadata#applications{sel}{suffix}",
        shared.graph_base()
    )
}

// ---- $filter ---------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Filter {
    AppId(String),
    Id(String),
    DisplayName(String),
    DisplayNameStartsWith(String),
}

fn unsupported_filter(req: &Req, property: &str) -> Resp {
    error(
        req,
        400,
        "Request_UnsupportedQuery",
        &format!("Unsupported or invalid query filter clause specified for property '{property}' of resource 'Application'."),
    )
}

/// An OData string literal `'…'` (a quote inside is doubled).
fn string_literal(s: &str) -> Option<String> {
    let v = s.strip_prefix('\'')?.strip_suffix('\'')?;
    (!v.replace("''", "").contains('\'')).then(|| v.replace("''", "'"))
}

/// The clause shapes the emulator evaluates: `<property> eq '<literal>'`, optionally in
/// parentheses, for `appId`, `id` and `displayName`, and `startswith(displayName,'…')`.
fn parse_filter(req: &Req, raw: &str) -> Result<Filter, Resp> {
    let invalid = || error(req, 400, "BadRequest", "Invalid filter clause");
    let mut f = raw.trim();
    while let Some(inner) = f.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        f = inner.trim();
    }
    let ident_end = f
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '_'))
        .unwrap_or(f.len());
    let (property, rest) = f.split_at(ident_end);
    if property.is_empty() {
        return Err(invalid());
    }
    let rest = rest.trim_start();
    if let Some(args) = rest.strip_prefix('(') {
        // A function call: only startswith(displayName,'…') is evaluated.
        let args = args.strip_suffix(')').ok_or_else(invalid)?;
        let (arg, literal) = args.split_once(',').ok_or_else(invalid)?;
        let arg = arg.trim();
        if !property.eq_ignore_ascii_case("startswith") || !arg.eq_ignore_ascii_case("displayName")
        {
            return Err(unsupported_filter(
                req,
                if arg.is_empty() { property } else { arg },
            ));
        }
        let value = string_literal(literal.trim()).ok_or_else(invalid)?;
        return Ok(Filter::DisplayNameStartsWith(value));
    }
    let Some((op, literal)) = rest.split_once(char::is_whitespace) else {
        return Err(invalid());
    };
    let value = string_literal(literal.trim());
    let supported = ["appId", "id", "displayName"]
        .iter()
        .find(|p| p.eq_ignore_ascii_case(property));
    let Some(canonical) = supported else {
        return Err(unsupported_filter(req, property));
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported_filter(req, property));
    }
    let Some(value) = value else {
        return Err(invalid());
    };
    Ok(match *canonical {
        "appId" => Filter::AppId(value),
        "id" => Filter::Id(value),
        _ => Filter::DisplayName(value),
    })
}

// ---- the handler -----------------------------------------------------------------------------

struct Caller {
    client_id: String,
    roles: Vec<String>,
}

impl Caller {
    fn has(&self, p: GraphPermission) -> bool {
        self.roles.iter().any(|r| r == p.as_str())
    }

    fn can_read(&self) -> bool {
        self.has(GraphPermission::ApplicationReadAll)
            || self.has(GraphPermission::ApplicationReadWriteAll)
            || self.has(GraphPermission::ApplicationReadWriteOwnedBy)
    }

    fn can_write_some(&self) -> bool {
        self.has(GraphPermission::ApplicationReadWriteAll)
            || self.has(GraphPermission::ApplicationReadWriteOwnedBy)
    }

    fn can_write(&self, app: &Client) -> bool {
        self.has(GraphPermission::ApplicationReadWriteAll)
            || (self.has(GraphPermission::ApplicationReadWriteOwnedBy)
                && app.owners.contains(&self.client_id))
    }
}

fn authenticate(shared: &Shared, req: &Req) -> Result<Caller, Resp> {
    let token = req
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized(shared, req, "Access token is empty."));
    };
    let info = shared.lock().tokens.get(token).cloned();
    let Some(info) = info else {
        let msg = if crate::jwt::claims(token).is_none() {
            "CompactToken parsing failed with error code: 80049217"
        } else {
            "Access token validation failure."
        };
        return Err(unauthorized(shared, req, msg));
    };
    if info.expires <= crate::state::now() {
        return Err(unauthorized(
            shared,
            req,
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if !is_graph_audience(&info.audience) {
        return Err(unauthorized(
            shared,
            req,
            "Access token validation failure. Invalid audience.",
        ));
    }
    Ok(Caller {
        client_id: info.client_id.to_ascii_lowercase(),
        roles: info.roles,
    })
}

fn method_not_allowed(req: &Req) -> Resp {
    error(
        req,
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

fn find<'a>(st: &'a State, target: &Target) -> Option<&'a Client> {
    match target {
        Target::AppId(a) => st.clients.get(&a.to_ascii_lowercase()),
        Target::Id(id) => st
            .clients
            .values()
            .find(|c| c.object_id.eq_ignore_ascii_case(id)),
    }
}

fn find_mut<'a>(st: &'a mut State, target: &Target) -> Option<&'a mut Client> {
    match target {
        Target::AppId(a) => st.clients.get_mut(&a.to_ascii_lowercase()),
        Target::Id(id) => st
            .clients
            .values_mut()
            .find(|c| c.object_id.eq_ignore_ascii_case(id)),
    }
}

fn target_name(t: &Target) -> &str {
    match t {
        Target::Id(x) | Target::AppId(x) => x,
    }
}

/// 400 for an object id that is not a GUID (`appId` keys are looked up as given).
fn check_target(req: &Req, t: &Target) -> Result<(), Resp> {
    match t {
        Target::Id(id) if !is_guid(id) => Err(error(
            req,
            400,
            "Request_BadRequest",
            &format!("Invalid object identifier '{id}'."),
        )),
        _ => Ok(()),
    }
}

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let path = parse(&req.path);
    let caller = match authenticate(shared, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match path {
        Path::BadVersion(v) => error(req, 400, "BadRequest", &format!("Invalid version: {v}")),
        Path::BadSegment(s) => error(
            req,
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{s}'."),
        ),
        Path::List => {
            if req.method != "GET" {
                return method_not_allowed(req);
            }
            list(shared, req, &caller)
        }
        Path::Get(t) => {
            if req.method != "GET" {
                return method_not_allowed(req);
            }
            get(shared, req, &caller, &t)
        }
        Path::AddPassword(t) => {
            if req.method != "POST" {
                return method_not_allowed(req);
            }
            add_password(shared, req, &caller, &t)
        }
        Path::RemovePassword(t) => {
            if req.method != "POST" {
                return method_not_allowed(req);
            }
            remove_password(shared, req, &caller, &t)
        }
    }
}

fn get(shared: &Shared, req: &Req, caller: &Caller, t: &Target) -> Resp {
    if !caller.can_read() {
        return forbidden(req);
    }
    if let Err(r) = check_target(req, t) {
        return r;
    }
    let select = match parse_select(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let app = {
        let st = shared.lock();
        match find(&st, t) {
            Some(c) => application_json(c),
            None => return not_found(req, target_name(t)),
        }
    };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        context(shared, select.as_deref(), true).into(),
    );
    body.extend(project(app, select.as_deref()));
    ok_json(200, &Value::Object(body))
}

fn list(shared: &Shared, req: &Req, caller: &Caller) -> Resp {
    if !caller.can_read() {
        return forbidden(req);
    }
    let select = match parse_select(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let filter = match req.query("$filter").or_else(|| req.query("filter")) {
        None => None,
        Some(raw) => match parse_filter(req, raw) {
            Ok(f) => Some(f),
            Err(r) => return r,
        },
    };
    let mut apps: Vec<Map<String, Value>> = {
        let st = shared.lock();
        let mut matching: Vec<&Client> = st
            .clients
            .values()
            .filter(|c| match &filter {
                None => true,
                Some(Filter::AppId(a)) => c.client_id.eq_ignore_ascii_case(a),
                Some(Filter::Id(i)) => c.object_id.eq_ignore_ascii_case(i),
                Some(Filter::DisplayName(d)) => c.display_name.eq_ignore_ascii_case(d),
                Some(Filter::DisplayNameStartsWith(p)) => {
                    c.display_name.to_lowercase().starts_with(&p.to_lowercase())
                }
            })
            .collect();
        matching.sort_by(|a, b| a.object_id.cmp(&b.object_id));
        matching.into_iter().map(application_json).collect()
    };
    let value: Vec<Value> = apps
        .drain(..)
        .map(|a| Value::Object(project(a, select.as_deref())))
        .collect();
    ok_json(
        200,
        &json!({
            "@odata.context": context(shared, select.as_deref(), false),
            "value": value,
        }),
    )
}

/// The request body as a JSON object (`{}` when empty), or the 400 for anything else.
fn body_object(req: &Req) -> Result<Map<String, Value>, Resp> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad_json(req)),
    }
}

/// A 40-character secret from the OS CSPRNG in Entra's shape: three characters (the `hint`),
/// a version digit, `Q~`, then 34 characters of `[A-Za-z0-9._~-]`.
fn generate_secret() -> String {
    use rand::TryRngCore as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
    let n = ALPHABET.len(); // 66
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(40);
    let mut buf = [0u8; 64];
    let mut want = 37;
    while want > 0 {
        if rand::rngs::OsRng.try_fill_bytes(&mut buf).is_err() {
            // The OS generator failed: fall back to the thread CSPRNG (seeded from the OS).
            use rand::RngCore as _;
            rand::rng().fill_bytes(&mut buf);
        }
        for b in buf {
            if want == 0 {
                break;
            }
            if usize::from(b) < limit {
                out.push(char::from(ALPHABET[usize::from(b) % n]));
                want -= 1;
                if out.len() == 3 {
                    out.push_str("8Q~");
                }
            }
        }
    }
    out
}

fn add_password(shared: &Shared, req: &Req, caller: &Caller, t: &Target) -> Resp {
    if !caller.can_write_some() {
        return forbidden(req);
    }
    if let Err(r) = check_target(req, t) {
        return r;
    }
    {
        let st = shared.lock();
        match find(&st, t) {
            None => return not_found(req, target_name(t)),
            Some(app) if !caller.can_write(app) => return forbidden(req),
            Some(_) => {}
        }
    }
    let body = match body_object(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let cred = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return bad_json(req),
    };
    let display_name = match cred.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return bad_json(req),
    };
    let time_field = |name: &str| -> Result<Option<OffsetDateTime>, Resp> {
        match cred.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_time(s).map(Some).ok_or_else(|| {
                error(
                    req,
                    400,
                    "BadRequest",
                    &format!("Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."),
                )
            }),
            Some(_) => Err(bad_json(req)),
        }
    };
    let now = ticks(OffsetDateTime::now_utc());
    let start = match time_field("startDateTime") {
        Ok(s) => s.unwrap_or(now),
        Err(r) => return r,
    };
    let end = match time_field("endDateTime") {
        Ok(e) => e.unwrap_or_else(|| add_years(start, 2)),
        Err(r) => return r,
    };
    if end <= start {
        return error(
            req,
            400,
            "Request_BadRequest",
            "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.",
        );
    }
    let text = generate_secret();
    let mut st = shared.lock();
    let delay = st.graph_replication_delay;
    let Some(app) = find_mut(&mut st, t) else {
        drop(st);
        return not_found(req, target_name(t));
    };
    let secret = ClientSecret {
        key_id: new_uuid(),
        display_name,
        value: Redacted(text.clone()),
        start,
        end: Some(end),
        usable_from: now + time::Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX / 2)),
    };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        format!(
            "{}/v1.0/$metadata#microsoft.graph.passwordCredential",
            shared.graph_base()
        )
        .into(),
    );
    if let Value::Object(m) = password_json(&secret, Some(&text)) {
        body.extend(m);
    }
    app.secrets.push(secret);
    drop(st);
    ok_json(200, &Value::Object(body))
}

fn remove_password(shared: &Shared, req: &Req, caller: &Caller, t: &Target) -> Resp {
    if !caller.can_write_some() {
        return forbidden(req);
    }
    if let Err(r) = check_target(req, t) {
        return r;
    }
    {
        let st = shared.lock();
        match find(&st, t) {
            None => return not_found(req, target_name(t)),
            Some(app) if !caller.can_write(app) => return forbidden(req),
            Some(_) => {}
        }
    }
    let body = match body_object(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let key_id = match body.get("keyId") {
        None | Some(Value::Null) => "00000000-0000-0000-0000-000000000000".to_owned(),
        Some(Value::String(k)) if is_guid(k) => k.to_ascii_lowercase(),
        Some(Value::String(k)) => {
            return error(
                req,
                400,
                "BadRequest",
                &format!("Cannot convert the literal '{k}' to the expected type 'Edm.Guid'."),
            )
        }
        Some(_) => return bad_json(req),
    };
    let mut st = shared.lock();
    let Some(app) = find_mut(&mut st, t) else {
        drop(st);
        return not_found(req, target_name(t));
    };
    let before = app.secrets.len();
    app.secrets
        .retain(|s| !s.key_id.eq_ignore_ascii_case(&key_id));
    let removed = app.secrets.len() < before;
    drop(st);
    if removed {
        Resp::empty(204)
    } else {
        error(
            req,
            400,
            "Request_BadRequest",
            &format!("No password credential found with keyId {key_id}."),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = "03ef14b0-ca33-4840-8f4f-d6e91916010e";
        assert_eq!(parse("/v1.0/applications"), Path::List);
        assert_eq!(
            parse(&format!("/v1.0/applications/{id}")),
            Path::Get(Target::Id(id.into()))
        );
        assert_eq!(
            parse("/v1.0/applications(appId='abc')/addPassword"),
            Path::AddPassword(Target::AppId("abc".into()))
        );
        assert_eq!(
            parse("/v1.0/applications(appId=%27a''b%27)/microsoft.graph.removePassword"),
            Path::RemovePassword(Target::AppId("a'b".into()))
        );
        assert_eq!(parse("/beta/applications"), Path::BadVersion("beta".into()));
        assert_eq!(parse("/v1.0/users"), Path::BadSegment("users".into()));
        assert_eq!(
            route_of("/v1.0/applications/x/addPassword"),
            "graph.addPassword"
        );
        assert_eq!(route_of("/v1.0/servicePrincipals"), "unknown");
    }

    #[test]
    fn times() {
        let t = parse_time("2019-09-09T19:50:29.3086381Z").unwrap();
        assert_eq!(format_time(t), "2019-09-09T19:50:29.3086381Z");
        let t = parse_time("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(format_time(t), "2030-01-01T00:00:00Z");
        assert_eq!(format_time(add_years(t, 2)), "2032-01-01T00:00:00Z");
        let leap = parse_time("2024-02-29T12:00:00").unwrap();
        assert_eq!(format_time(add_years(leap, 2)), "2026-02-28T12:00:00Z");
        assert!(parse_time("tomorrow").is_none());
    }

    #[test]
    fn secrets_look_like_entra_ones() {
        for _ in 0..50 {
            let s = generate_secret();
            assert_eq!(s.len(), 40, "{s}");
            assert_eq!(&s[3..6], "8Q~", "{s}");
            assert!(s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c)));
        }
        assert_ne!(generate_secret(), generate_secret());
    }
}
