//! JWT-shaped tokens. They have a real header and claims (clients such as MSAL and
//! azure-identity decode claims without verifying them) and a random signature; the emulator
//! recognises its own tokens by looking them up, not by verifying a signature.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::state::random_b64url;

/// The `kid` every emulator token carries.
pub const KEY_ID: &str = "keyrot-emulator-1";

pub fn mint(claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": KEY_ID, "x5t": KEY_ID});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        random_b64url(256)
    )
}

/// The claims of a JWT-shaped string, or `None` when it is not three base64url JSON parts.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_h, c, _s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
