//! Standard Webhooks signatures (notes §4.3): `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{webhook-id}.{webhook-timestamp}.{body}">`, keyed by the base64-decoded bytes after
//! `whsec_`.

use aws_lc_rs::hmac;
use base64::Engine as _;

use crate::model::SecretValue;

/// A signing key read from a `whsec_` secret. The key bytes stay inside aws-lc's HMAC key;
/// there is no `Debug` that could show them.
pub struct SigningKey(hmac::Key);

impl SigningKey {
    /// Reads `whsec_` + base64. The error never holds the secret, only what is wrong with it.
    pub fn from_secret(secret: &SecretValue) -> Result<SigningKey, &'static str> {
        let encoded = secret.expose().trim().strip_prefix("whsec_").ok_or(
            "does not start with whsec_ (copy the whole signing secret from the receiver)",
        )?;
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| "is not whsec_ followed by base64")?,
        );
        if bytes.len() < 16 {
            return Err("is too short: a Standard Webhooks secret has 24 to 64 bytes");
        }
        Ok(SigningKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// The `webhook-signature` value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        let tag = context.sign();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    }
}

/// A fresh `webhook-id` (`msg_` and 32 hex digits from the OS CSPRNG); the same id is sent on
/// every retry of one message, so the receiver can drop duplicates.
pub fn new_message_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("msg_{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference library's test vector, re-verified with Python's hmac (notes §4.3).
    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let secret = SecretValue::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into());
        let key = SigningKey::from_secret(&secret).unwrap();
        assert_eq!(
            key.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_being_repeated() {
        for bad in [
            "C2FVsBQIhrscChlQIMV",
            "whsec_not base64!!",
            "whsec_c2hvcnQ=",
        ] {
            let error = SigningKey::from_secret(&SecretValue::new(bad.into()))
                .err()
                .expect("refused");
            assert!(!error.contains(bad) && !error.contains("C2FV"), "{error}");
        }
    }

    #[test]
    fn message_ids_differ() {
        let id = new_message_id().unwrap();
        assert_ne!(id, new_message_id().unwrap());
        assert_eq!(id.len(), 4 + 32);
    }
}
