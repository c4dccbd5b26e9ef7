//! Key Vault's error envelope and the messages the service uses.

use serde_json::json;

use crate::http::Resp;

/// `{"error":{"code","message"[,"innererror":{"code"}]}}` (`innererror` in lower case, as the
/// service sends it).
pub fn kv_error(status: u16, code: &str, message: &str, inner: Option<&str>) -> Resp {
    let mut error = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        error["innererror"] = json!({"code": inner});
    }
    Resp::json(status, &json!({"error": error}))
}

pub fn bad_parameter(message: &str) -> Resp {
    kv_error(400, "BadParameter", message, None)
}

pub fn unauthorized(message: &str) -> Resp {
    kv_error(401, "Unauthorized", message, None)
}

/// What kind of object a not-found message talks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    Secret,
    Certificate,
    Key,
}

impl ObjKind {
    fn word(self) -> &'static str {
        match self {
            ObjKind::Secret => "secret",
            ObjKind::Certificate => "certificate",
            ObjKind::Key => "key",
        }
    }

    fn code(self) -> &'static str {
        match self {
            ObjKind::Secret => "SecretNotFound",
            ObjKind::Certificate => "CertificateNotFound",
            ObjKind::Key => "KeyNotFound",
        }
    }

    pub fn collection(self) -> &'static str {
        match self {
            ObjKind::Secret => "secrets",
            ObjKind::Certificate => "certificates",
            ObjKind::Key => "keys",
        }
    }
}

/// 404 for a missing object; `what` is the name, or `name/version` for a missing version.
pub fn not_found(kind: ObjKind, what: &str) -> Resp {
    let w = kind.word();
    kv_error(
        404,
        kind.code(),
        &format!("A {w} with (name/id) {what} was not found in this key vault. If you recently deleted this {w} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"),
        None,
    )
}

pub fn deleted_not_found() -> Resp {
    kv_error(404, "SecretNotFound", "Deleted Secret not found", None)
}

pub fn disabled_secret() -> Resp {
    kv_error(
        403,
        "Forbidden",
        "Operation get is not allowed on a disabled secret.",
        Some("SecretDisabled"),
    )
}

pub fn deleted_but_recoverable(name: &str) -> Resp {
    kv_error(
        409,
        "Conflict",
        &format!("Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."),
        Some("ObjectIsDeletedButRecoverable"),
    )
}

/// The access-policy denial, naming the caller the way the service does.
pub fn access_denied(
    client_id: &str,
    object_id: &str,
    tenant: &str,
    permission: &str,
    vault: &str,
    location: &str,
) -> Resp {
    let (coll, op) = permission.split_once('/').unwrap_or((permission, ""));
    kv_error(
        403,
        "Forbidden",
        &format!("The user, group or application 'appid={client_id};oid={object_id};iss=https://sts.windows.net/{tenant}/' does not have {coll} {op} permission on key vault '{vault};location={location}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"),
        Some("AccessDenied"),
    )
}

/// 429 and 5xx bodies for injected faults.
pub fn fault_body(status: u16) -> Resp {
    match status {
        429 => kv_error(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
            None,
        ),
        401 => unauthorized("AKV10000: Request is missing a Bearer or PoP token."),
        403 => kv_error(403, "Forbidden", "Access denied (injected fault).", Some("AccessDenied")),
        404 => kv_error(404, "NotFound", "The requested resource was not found (injected fault).", None),
        500 => kv_error(500, "InternalServerError", "An internal server error occurred. Please retry the request.", None),
        502 => kv_error(502, "BadGateway", "The service received an invalid response from an upstream server.", None),
        503 => kv_error(503, "ServiceUnavailable", "The service is temporarily unavailable. Please retry the request.", None),
        504 => kv_error(504, "GatewayTimeout", "The operation timed out.", None),
        s => kv_error(s, "Error", &format!("Injected fault with status {s}."), None),
    }
}
