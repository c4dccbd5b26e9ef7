//! JWT-shaped tokens. They have a real header and claims (clients such as MSAL and
//! azure-identity decode claims without verifying them) and a random signature; the emulator
//! recognises its own tokens by looking them up, not by verifying a signature.
//!
//! The one exception: tokens that a receiver verifies the way a real one must (Event Grid's
//! bearer token for Entra-protected webhook delivery) are signed RS256 with a key generated at
//! start ([`mint_signed`]), published in the tenant's key list beside the others
//! ([`signing_jwk`]), so a receiver's signature check is tested for real.

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

/// The `kid` of the key [`mint_signed`] uses.
pub const SIGNING_KEY_ID: &str = "keyrot-emulator-rs256";

fn signing_key() -> Option<&'static aws_lc_rs::signature::RsaKeyPair> {
    static KEY: std::sync::OnceLock<Option<aws_lc_rs::signature::RsaKeyPair>> =
        std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).ok()
    })
    .as_ref()
}

/// A JWT signed RS256 with the emulator's published key (see [`signing_jwk`]).
pub fn mint_signed(claims: &Value) -> String {
    let Some(key) = signing_key() else {
        return mint(claims);
    };
    let header =
        json!({"typ": "JWT", "alg": "RS256", "kid": SIGNING_KEY_ID, "x5t": SIGNING_KEY_ID});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    if key
        .sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &rng,
            signed.as_bytes(),
            &mut signature,
        )
        .is_err()
    {
        return mint(claims);
    }
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The public half of [`mint_signed`]'s key as a JWK, for the tenant's key list.
pub fn signing_jwk() -> Option<Value> {
    use aws_lc_rs::signature::KeyPair as _;
    let key = signing_key()?;
    let (n, e) = rsa_public_key(key.public_key().as_ref())?;
    Some(
        json!({"kty": "RSA", "use": "sig", "kid": SIGNING_KEY_ID, "x5t": SIGNING_KEY_ID,
        "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)}),
    )
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017), DER.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |l, &b| l << 8 | usize::from(b));
            (len, &rest[count..])
        };
        (rest.len() >= len).then(|| (&rest[..len], &rest[len..]))
    }
    let (sequence, _) = element(der, 0x30)?;
    let (n, rest) = element(sequence, 0x02)?;
    let (e, _) = element(rest, 0x02)?;
    let trim = |x: &[u8]| -> usize { x.iter().take_while(|&&b| b == 0).count() };
    Some((&n[trim(n)..], &e[trim(e)..]))
}
