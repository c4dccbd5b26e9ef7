//! Entra ID's error answers from the token endpoint, read for what a user must do.
//!
//! Entra answers `{"error", "error_description", "error_codes", "trace_id", "correlation_id",
//! "timestamp", "error_uri"}`; the description starts `AADSTS<code>: <text>` and ends with
//! `\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …` lines. [`EntraAnswer::explain`]
//! turns that into one line: the code and text, the ids support asks for, and the fix for the
//! codes a pipeline meets.

use serde::Deserialize;

use super::AuthKind;

/// An error answer from Entra ID's token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraAnswer {
    /// The first AADSTS code (`7000215`), if Entra gave one.
    code: Option<u64>,
    /// The description's first line (`AADSTS7000215: Invalid client secret provided. …`).
    text: String,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    error_codes: Vec<u64>,
    error_description: Option<String>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    timestamp: Option<String>,
}

impl EntraAnswer {
    /// The answer, if `body` is Entra's error envelope (with a description or a code).
    pub fn parse(body: &[u8]) -> Option<EntraAnswer> {
        let wire: Wire = serde_json::from_slice(body).ok()?;
        let description = wire.error_description.unwrap_or_default();
        let text = description
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        // Older answers carry the ids only inside the description.
        let field = |name: &str| {
            description
                .lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let trace_id = wire.trace_id.or_else(|| field("Trace ID:"));
        let correlation_id = wire.correlation_id.or_else(|| field("Correlation ID:"));
        let timestamp = wire.timestamp.or_else(|| field("Timestamp:"));
        let code = wire.error_codes.first().copied().or_else(|| {
            let digits = text.strip_prefix("AADSTS")?;
            digits.split(':').next()?.parse().ok()
        });
        if text.is_empty() && code.is_none() {
            return None;
        }
        Some(EntraAnswer {
            code,
            text,
            trace_id,
            correlation_id,
            timestamp,
        })
    }

    /// One line: Entra's code and text, the ids, and the fix. `kind` is the credential that
    /// was refused (its fix names its environment variables); `None` for a secret keyrot
    /// itself is trying out.
    pub fn explain(&self, kind: Option<AuthKind>) -> String {
        let mut line = if self.text.is_empty() {
            format!("Entra ID refused with AADSTS{}", self.code.unwrap_or(0))
        } else {
            self.text.clone()
        };
        let ids: Vec<String> = [
            self.trace_id.as_ref().map(|t| format!("trace ID {t}")),
            self.correlation_id
                .as_ref()
                .map(|c| format!("correlation ID {c}")),
            self.timestamp.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !ids.is_empty() {
            line.push_str(&format!(" ({})", ids.join(", ")));
        }
        if let Some(fix) = self.code.and_then(|code| fix(code, &self.text, kind)) {
            let stop = if line.ends_with('.') { "" } else { "." };
            line.push_str(&format!("{stop} Fix: {fix}"));
        }
        line
    }
}

/// What to do about an AADSTS code, when keyrot knows.
fn fix(code: u64, text: &str, kind: Option<AuthKind>) -> Option<String> {
    let secret_from_env = kind == Some(AuthKind::ClientSecret);
    Some(match code {
        7000215 if secret_from_env => "check AZURE_CLIENT_SECRET: it is wrong or was rotated (it must be the secret's Value, not its Secret ID; a secret created moments ago may still be replicating)".into(),
        7000215 => "the secret is wrong, or was created moments ago and has not replicated yet".into(),
        7000222 if secret_from_env => "the client secret in AZURE_CLIENT_SECRET has expired: add a new one to the app registration (Certificates & secrets) and update AZURE_CLIENT_SECRET, or let `keyrot rotate` keep it fresh".into(),
        7000222 => "the secret has expired".into(),
        700016 => "no application with this client id is registered in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID (an app registered in another tenant needs its own tenant id)".into(),
        90002 => "no such tenant: check AZURE_TENANT_ID, and AZURE_AUTHORITY_HOST when the tenant is in a sovereign cloud".into(),
        70021 => federated_fix(text),
        700211 => match quoted_after(text, "assertion issuer") {
            Some(issuer) => format!("the app has no federated credential for issuer '{issuer}': add one with that issuer, the token's subject and audience api://AzureADTokenExchange"),
            None => "the app has no federated credential for the token's issuer: add one".into(),
        },
        700024 => match kind {
            Some(AuthKind::WorkloadIdentity) => "the federated token in AZURE_FEDERATED_TOKEN_FILE has expired: whatever writes the file must refresh it".into(),
            _ => "the federated token has expired: fetch a fresh one".into(),
        },
        50027 => "the federated token is not a valid JWT: check what the token source (AZURE_FEDERATED_TOKEN_FILE, the CI system's OIDC endpoint) hands over".into(),
        500011 => "the resource is unknown in this tenant: check that the vault URL and --graph-url belong to the cloud of AZURE_AUTHORITY_HOST".into(),
        7000112 => "the application is disabled in the tenant: enable it (Enterprise applications, Properties)".into(),
        7000229 => "the application has no service principal in the tenant: create one (az ad sp create --id <client id>)".into(),
        _ => return None,
    })
}

/// AADSTS70021: the subject (and issuer, audience) a federated credential must match.
fn federated_fix(text: &str) -> String {
    let issuer = quoted_after(text, "Assertion Issuer:");
    let subject = quoted_after(text, "Assertion Subject:");
    let audience = quoted_after(text, "Assertion Audience:");
    match (issuer, subject, audience) {
        (Some(issuer), Some(subject), audience) => format!(
            "add a federated credential to the app with subject '{subject}' (issuer '{issuer}', audience '{}'), or correct the subject of the existing one",
            audience.unwrap_or("api://AzureADTokenExchange")
        ),
        _ => "add a federated credential to the app whose issuer, subject and audience match the presented token exactly".into(),
    }
}

/// The text between single quotes after `label` (case-insensitive).
fn quoted_after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let at = text
        .to_ascii_lowercase()
        .find(&label.to_ascii_lowercase())?;
    let rest = &text[at + label.len()..];
    let start = rest.find('\'')? + 1;
    let len = rest[start..].find('\'')?;
    Some(&rest[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u64, text: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": "invalid_client",
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-12-04 16:05:22Z"),
            "error_codes": [code],
            "timestamp": "2026-12-04 16:05:22Z",
            "trace_id": "t-1",
            "correlation_id": "c-1",
            "error_uri": "https://login.microsoftonline.com/error?code=7000215"
        }))
        .unwrap()
    }

    #[test]
    fn an_invalid_secret_says_which_variable_to_check() {
        let body = answer(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'a1'.");
        let line = EntraAnswer::parse(&body)
            .unwrap()
            .explain(Some(AuthKind::ClientSecret));
        assert_eq!(
            line,
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'a1'. (trace ID t-1, correlation ID c-1, 2026-12-04 16:05:22Z). Fix: check AZURE_CLIENT_SECRET: it is wrong or was rotated (it must be the secret's Value, not its Secret ID; a secret created moments ago may still be replicating)"
        );
        assert!(!line.contains('\n') && !line.contains('\r'));
    }

    #[test]
    fn expired_and_unknown_apps_and_tenants_have_their_fixes() {
        let explain = |code, text: &str| {
            EntraAnswer::parse(&answer(code, text))
                .unwrap()
                .explain(Some(AuthKind::ClientSecret))
        };
        assert!(explain(
            7000222,
            "The provided client secret keys for app 'a' are expired."
        )
        .ends_with("update AZURE_CLIENT_SECRET, or let `keyrot rotate` keep it fresh"));
        assert!(explain(700016, "Application with identifier 'x' was not found in the directory 'd'.")
            .contains("Fix: no application with this client id is registered in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID"));
        assert!(explain(90002, "Tenant 'x' not found.")
            .contains("Fix: no such tenant: check AZURE_TENANT_ID"));
        // A code keyrot has no advice for keeps Entra's words and ids, without a made-up fix.
        let other = explain(9999999, "Something new.");
        assert_eq!(
            other,
            "AADSTS9999999: Something new. (trace ID t-1, correlation ID c-1, 2026-12-04 16:05:22Z)"
        );
    }

    #[test]
    fn a_secret_keyrot_tries_out_gets_no_advice_about_the_environment() {
        let line = EntraAnswer::parse(&answer(7000215, "Invalid client secret provided."))
            .unwrap()
            .explain(None);
        assert!(!line.contains("AZURE_CLIENT_SECRET"), "{line}");
        assert!(line.contains("not replicated yet"), "{line}");
    }

    #[test]
    fn no_matching_federated_credential_names_the_subject_to_match() {
        let text = "No matching federated identity record found for presented assertion. Assertion Issuer: 'https://token.actions.githubusercontent.com'. Assertion Subject: 'repo:org/app:ref:refs/heads/dev'. Assertion Audience: 'api://AzureADTokenExchange'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation";
        let line = EntraAnswer::parse(&answer(70021, text))
            .unwrap()
            .explain(Some(AuthKind::GithubOidc));
        assert!(line.ends_with("Fix: add a federated credential to the app with subject 'repo:org/app:ref:refs/heads/dev' (issuer 'https://token.actions.githubusercontent.com', audience 'api://AzureADTokenExchange'), or correct the subject of the existing one"), "{line}");
        let issuer = "No matching federated identity record found for presented assertion issuer 'https://issuer.example'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.";
        let line = EntraAnswer::parse(&answer(700211, issuer))
            .unwrap()
            .explain(Some(AuthKind::WorkloadIdentity));
        assert!(
            line.contains(
                "Fix: the app has no federated credential for issuer 'https://issuer.example'"
            ),
            "{line}"
        );
    }

    #[test]
    fn only_entra_shaped_answers_are_read() {
        assert_eq!(EntraAnswer::parse(b"<html>bad gateway</html>"), None);
        assert_eq!(EntraAnswer::parse(br#"{"value":"x"}"#), None);
        assert_eq!(EntraAnswer::parse(br#"{"error":"x"}"#), None);
        // A code only in the description's prefix still counts.
        let bare =
            EntraAnswer::parse(br#"{"error_description":"AADSTS700016: App not found."}"#).unwrap();
        assert_eq!(bare.code, Some(700016));
        assert_eq!(
            bare.explain(None),
            "AADSTS700016: App not found. Fix: no application with this client id is registered in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID (an app registered in another tenant needs its own tenant id)"
        );
    }
}
