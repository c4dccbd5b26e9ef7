//! The Key Vault data plane (`{vault}.vault.localhost`).
//!
//! Order of checks, as the service does it: the bearer challenge (before the body is read),
//! then the token, then `api-version`, then routing, permissions and the body.

pub mod errors;
mod json;
mod objects;
pub mod paging;
mod secrets;

use crate::entra::VAULT_AUDIENCE;
use crate::http::{Req, Resp};
use crate::state::{new_uuid, now, Shared, TokenInfo, Vault};
use errors::{bad_parameter, kv_error, unauthorized};

/// Versions the emulator answers; previews of these are accepted too.
const API_VERSIONS: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-04-01",
];
const LATEST_API_VERSION: &str = "2025-07-01";
const SERVICE_VERSION: &str = "1.9.2571.1";

/// Key Vault object names: `^[0-9a-zA-Z-]+$`, at most 127 characters.
pub fn valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn api_version_ok(v: &str) -> bool {
    let base = v.split_once("-preview").map_or(v, |(b, rest)| {
        // "7.4-preview.1", "7.6-preview.2", "2025-07-01-preview"
        if rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|n| n.parse::<u32>().is_ok())
        {
            b
        } else {
            ""
        }
    });
    API_VERSIONS.contains(&base)
}

/// The operation a request maps to; the route name is what faults and the request log use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    SecretSet(String),
    SecretGet(String, Option<String>),
    SecretUpdate(String, Option<String>),
    SecretList,
    SecretVersions(String),
    SecretDelete(String),
    SecretBackup(String),
    DeletedGet(String),
    DeletedList,
    DeletedRecover(String),
    DeletedPurge(String),
    CertList,
    CertGet(String, Option<String>),
    CertVersions(String),
    KeyList,
    KeyGet(String, Option<String>),
    KeyVersions(String),
    MethodNotAllowed,
    Unknown,
}

impl Op {
    pub fn parse(method: &str, path: &str) -> Op {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let s = |x: &str| x.to_owned();
        let ver = |x: &str| (!x.is_empty()).then(|| x.to_owned());
        use Op::*;
        let op = match (segs.as_slice(), method) {
            (["secrets"] | ["secrets", ""], "GET") => SecretList,
            (["secrets", n], "PUT") => SecretSet(s(n)),
            (["secrets", n], "GET") => SecretGet(s(n), None),
            (["secrets", n], "DELETE") => SecretDelete(s(n)),
            (["secrets", n], "PATCH") => SecretUpdate(s(n), None),
            (["secrets", n, "versions"], "GET") => SecretVersions(s(n)),
            (["secrets", n, "backup"], "POST") => SecretBackup(s(n)),
            (["secrets", n, v], "GET") => SecretGet(s(n), ver(v)),
            (["secrets", n, v], "PATCH") => SecretUpdate(s(n), ver(v)),
            (["deletedsecrets"] | ["deletedsecrets", ""], "GET") => DeletedList,
            (["deletedsecrets", n], "GET") => DeletedGet(s(n)),
            (["deletedsecrets", n], "DELETE") => DeletedPurge(s(n)),
            (["deletedsecrets", n, "recover"], "POST") => DeletedRecover(s(n)),
            (["certificates"] | ["certificates", ""], "GET") => CertList,
            (["certificates", n, "versions"], "GET") => CertVersions(s(n)),
            (["certificates", n], "GET") => CertGet(s(n), None),
            (["certificates", n, v], "GET") => CertGet(s(n), ver(v)),
            (["keys"] | ["keys", ""], "GET") => KeyList,
            (["keys", n, "versions"], "GET") => KeyVersions(s(n)),
            (["keys", n], "GET") => KeyGet(s(n), None),
            (["keys", n, v], "GET") => KeyGet(s(n), ver(v)),
            (["secrets" | "deletedsecrets" | "certificates" | "keys", ..], _) => MethodNotAllowed,
            _ => Unknown,
        };
        // Too many segments under a known collection is a bad URI, not a method problem.
        if op == MethodNotAllowed && segs.len() > 3 {
            return Unknown;
        }
        op
    }

    pub fn route(&self) -> &'static str {
        use Op::*;
        match self {
            SecretSet(_) => "secrets.set",
            SecretGet(..) => "secrets.get",
            SecretUpdate(..) => "secrets.update",
            SecretList => "secrets.list",
            SecretVersions(_) => "secrets.versions",
            SecretDelete(_) => "secrets.delete",
            SecretBackup(_) => "secrets.backup",
            DeletedGet(_) => "deletedsecrets.get",
            DeletedList => "deletedsecrets.list",
            DeletedRecover(_) => "deletedsecrets.recover",
            DeletedPurge(_) => "deletedsecrets.purge",
            CertList => "certificates.list",
            CertGet(..) => "certificates.get",
            CertVersions(_) => "certificates.versions",
            KeyList => "keys.list",
            KeyGet(..) => "keys.get",
            KeyVersions(_) => "keys.versions",
            MethodNotAllowed | Unknown => "unknown",
        }
    }

    /// The access-policy permission the operation needs.
    fn permission(&self) -> Option<&'static str> {
        use Op::*;
        Some(match self {
            SecretSet(_) | SecretUpdate(..) => "secrets/set",
            SecretGet(..) | DeletedGet(_) => "secrets/get",
            SecretList | SecretVersions(_) | DeletedList => "secrets/list",
            SecretDelete(_) => "secrets/delete",
            SecretBackup(_) => "secrets/backup",
            DeletedRecover(_) => "secrets/recover",
            DeletedPurge(_) => "secrets/purge",
            CertList | CertVersions(_) => "certificates/list",
            CertGet(..) => "certificates/get",
            KeyList | KeyVersions(_) => "keys/list",
            KeyGet(..) => "keys/get",
            MethodNotAllowed | Unknown => return None,
        })
    }

    fn name(&self) -> Option<&str> {
        use Op::*;
        match self {
            SecretSet(n)
            | SecretGet(n, _)
            | SecretUpdate(n, _)
            | SecretVersions(n)
            | SecretDelete(n)
            | SecretBackup(n)
            | DeletedGet(n)
            | DeletedRecover(n)
            | DeletedPurge(n)
            | CertGet(n, _)
            | CertVersions(n)
            | KeyGet(n, _)
            | KeyVersions(n) => Some(n),
            _ => None,
        }
    }
}

/// The bearer token, if the request carries one (`PoP` tokens are not supported and are
/// treated as missing, which yields the challenge).
pub fn bearer(headers: &[(String, String)]) -> Option<&str> {
    let h = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))?
        .1
        .as_str();
    let (scheme, rest) = h.split_once(' ')?;
    let rest = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty()).then_some(rest)
}

fn challenge_header(shared: &Shared) -> String {
    format!(
        "Bearer authorization=\"{}/{}\", resource=\"{VAULT_AUDIENCE}\"",
        shared.login_base(),
        shared.tenant_id
    )
}

/// The 401 every unauthenticated request gets, sent without reading the request body.
pub fn challenge(shared: &Shared) -> Resp {
    unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
        .header("WWW-Authenticate", challenge_header(shared))
}

/// Answer for a host whose vault is not seeded. Real Azure would fail DNS resolution of
/// `{name}.vault.azure.net`; a 404 naming the vault is easier to diagnose in tests.
pub fn vault_not_found(name: &str) -> Resp {
    kv_error(
        404,
        "VaultNotFound",
        &format!("The vault '{name}' does not exist in this keyrot emulator. (Azure would fail DNS resolution of {name}.vault.azure.net.)"),
        None,
    )
}

/// Adds the header set the service puts on every response.
pub fn decorate(
    mut r: Resp,
    req_headers: &[(String, String)],
    location: Option<&str>,
    peer: std::net::SocketAddr,
) -> Resp {
    let client_request_id = req_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-ms-client-request-id"))
        .map(|(_, v)| v.clone());
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
        "max-age=31536000;includeSubDomains".into(),
    );
    add("X-Content-Type-Options", "nosniff".into());
    if let Some(id) = client_request_id {
        add("x-ms-client-request-id", id);
    }
    add("x-ms-request-id", new_uuid());
    add("x-ms-keyvault-service-version", SERVICE_VERSION.into());
    if let Some(loc) = location {
        add("x-ms-keyvault-region", loc.to_owned());
    }
    let fam = if peer.is_ipv4() {
        ("Ipv4", "InterNetwork")
    } else {
        ("Ipv6", "InterNetworkV6")
    };
    add(
        "x-ms-keyvault-network-info",
        format!(
            "conn_type={};addr={};act_addr_fam={};",
            fam.0,
            peer.ip(),
            fam.1
        ),
    );
    r
}

/// Context the operation handlers need.
pub struct Ctx<'a> {
    pub vault: &'a mut Vault,
    pub base: String,
    pub api_version: String,
    pub req: &'a Req,
    pub now: i64,
    /// How new version ids are chosen (`[keyvault] version_ids`).
    pub version_ids: crate::seed::VersionIds,
}

/// Handles an authenticated request (the server has already answered missing bearers).
pub fn handle(shared: &Shared, vault_name: &str, req: &Req) -> Resp {
    let with_challenge = |r: Resp| r.header("WWW-Authenticate", challenge_header(shared));
    let Some(token) = bearer(&req.headers) else {
        return challenge(shared);
    };
    let t = now();
    let info: TokenInfo = {
        let st = shared.lock();
        match st.tokens.get(token) {
            Some(i) => i.clone(),
            None => {
                drop(st);
                return with_challenge(if crate::jwt::claims(token).is_none() {
                    unauthorized("AKV10005: Invalid token. The access token is malformed.")
                } else {
                    unauthorized(
                        "AKV10046: Unable to resolve the key used for signature validation.",
                    )
                });
            }
        }
    };
    if info.expires <= t {
        return with_challenge(unauthorized("AKV10032: Token expired."));
    }
    let aud = info.audience.trim_end_matches('/');
    if aud != VAULT_AUDIENCE {
        return with_challenge(unauthorized(&format!(
            "AKV10022: Invalid audience. Expected {VAULT_AUDIENCE}, found: {}.",
            info.audience
        )));
    }

    let api_version = match req.query("api-version") {
        None => return bad_parameter("The api-version query parameter is required for all requests."),
        Some(v) if !api_version_ok(v) => {
            return bad_parameter(&format!(
                "The specified version ({v}) is not recognized. Consider using the latest supported version ({LATEST_API_VERSION})."
            ))
        }
        Some(v) => v.to_owned(),
    };

    let op = Op::parse(&req.method, &req.path);
    match op {
        Op::Unknown => {
            return kv_error(
                404,
                "NotFound",
                "The requested URI does not represent any resource on the server.",
                None,
            )
        }
        Op::MethodNotAllowed => {
            return kv_error(
                405,
                "MethodNotAllowed",
                &format!(
                    "The requested resource does not support http method '{}'.",
                    req.method
                ),
                None,
            )
        }
        _ => {}
    }

    let mut st = shared.lock();
    let version_ids = st.version_ids;
    let Some(vault) = st.vaults.get_mut(&vault_name.to_ascii_lowercase()) else {
        return vault_not_found(vault_name);
    };

    if let (Some(perm), Some(table)) = (op.permission(), &vault.access) {
        let (coll, _) = perm.split_once('/').unwrap_or((perm, ""));
        let allowed = table
            .get(&info.client_id.to_ascii_lowercase())
            .is_some_and(|perms| {
                perms.iter().any(|p| {
                    p.eq_ignore_ascii_case(perm)
                        || p == "*"
                        || p.eq_ignore_ascii_case(&format!("{coll}/*"))
                        || p.eq_ignore_ascii_case(&format!("{coll}/all"))
                })
            });
        if !allowed {
            return errors::access_denied(
                &info.client_id,
                &info.object_id,
                &shared.tenant_id,
                perm,
                &vault.name,
                &vault.location,
            );
        }
    }

    if let Some(n) = op.name() {
        if !valid_object_name(n) {
            return bad_parameter(&format!("The request URI contains an invalid name: {n}"));
        }
    }

    let base = shared.vault_base(&vault.name);
    let mut ctx = Ctx {
        vault,
        base,
        api_version,
        req,
        now: t,
        version_ids,
    };
    let resp = match op {
        Op::CertList
        | Op::CertGet(..)
        | Op::CertVersions(_)
        | Op::KeyList
        | Op::KeyGet(..)
        | Op::KeyVersions(_) => objects::handle(&mut ctx, &op),
        _ => secrets::handle(&mut ctx, &op),
    };
    // Event Grid: a written version raises SecretNewVersionCreated once the write is committed
    // (the state lock released).
    let written = match (&op, resp.status) {
        (Op::SecretSet(n), 200) => {
            ctx.vault
                .secrets
                .get(&n.to_ascii_uppercase())
                .and_then(|item| {
                    let v = item.latest()?;
                    Some((
                        ctx.vault.name.clone(),
                        item.name.clone(),
                        v.id.clone(),
                        v.nbf,
                        v.exp,
                    ))
                })
        }
        _ => None,
    };
    drop(st);
    if let Some((vault, name, version, nbf, exp)) = written {
        crate::eventgrid::secret_version_written(shared, &vault, &name, &version, nbf, exp);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Op::parse("GET", "/secrets"), Op::SecretList);
        assert_eq!(
            Op::parse("GET", "/secrets/a/"),
            Op::SecretGet("a".into(), None)
        );
        assert_eq!(
            Op::parse("GET", "/secrets/a/v1"),
            Op::SecretGet("a".into(), Some("v1".into()))
        );
        assert_eq!(
            Op::parse("GET", "/secrets/a/versions"),
            Op::SecretVersions("a".into())
        );
        assert_eq!(
            Op::parse("POST", "/secrets/a/backup"),
            Op::SecretBackup("a".into())
        );
        assert_eq!(Op::parse("POST", "/secrets/a"), Op::MethodNotAllowed);
        assert_eq!(Op::parse("GET", "/nope"), Op::Unknown);
        assert_eq!(Op::parse("GET", "/keys/k/"), Op::KeyGet("k".into(), None));
    }

    #[test]
    fn api_versions() {
        for ok in [
            "7.4",
            "7.5",
            "7.6",
            "2025-07-01",
            "2026-04-01",
            "7.4-preview.1",
            "7.6-preview.2",
            "2025-07-01-preview",
        ] {
            assert!(api_version_ok(ok), "{ok}");
        }
        for bad in ["", "7", "8.0", "2025-07-02", "7.5-previewx", "latest"] {
            assert!(!api_version_ok(bad), "{bad}");
        }
    }
}
