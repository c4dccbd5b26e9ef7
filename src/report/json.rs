//! The JSON report, version 1: a contract other features and users' scripts build on.
//!
//! The document is described by private structs rather than by deriving `Serialize` on the
//! check types, so renaming a field in `check` or `model` cannot silently change the contract.
//! Keys appear in the documented order; absent values are `null`, never omitted.
//!
//! Strings are written as [`crate::ci::inert::json`] leaves them: `[` after `##` or `##vso`
//! as `\u005b`, and hidden characters (U+2028, zero-width and bidi characters, …) as `\u`
//! escapes, so no line is a runner command while every parser reads back the same value.
//!
//! Additions within version 1: `source: "entra"` records (`kind: "app-password" |
//! "app-certificate"`, `vault: null`, `id` the credential's keyId) and `application`: `null`,
//! or for an Entra credential, and for a Key Vault secret that holds an Entra password,
//! `{"id", "app_id", "display_name", "key_id"}` (the application's object id, appId, display
//! name, and the password's or certificate's keyId).
//!
//! Also additions within version 1: the states `current_disabled` and `in_grace`;
//! `policy.versions` (whether `--versions` listed older versions); and `errors`, always present,
//! one object per thing that could not be read: `{"source", "vault", "application", "kind",
//! "name", "reason", "message"}` (`vault` the URL or null, `application` the id as given or
//! null, `kind` the Key Vault kind whose listing failed or null, `name` the secret whose
//! versions could not be listed or told apart, or null). When `errors` is not empty, `status`
//! is `fail` and the command exits 3: the gate cannot pass what it could not see.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::dates::rfc3339_utc;
use crate::check::{CheckReport, Counts, Finding, NoExpiry, Severity, State, Status};
use crate::model::{EntraLink, Kind, ReadError, ReadFailure, Source};

/// Bumped only for changes that break readers; new keys may be added within a version.
pub const JSON_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    status: Status,
    checked_at: String,
    policy: PolicyJson,
    credentials: Vec<CredentialJson<'a>>,
    counts: Counts,
    errors: Vec<ErrorJson<'a>>,
}

#[derive(Serialize)]
struct PolicyJson {
    warn_within_seconds: i64,
    fail_within_seconds: i64,
    no_expiry: NoExpiry,
    strict: bool,
    versions: bool,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    source: Source,
    vault: Option<&'a str>,
    application: Option<&'a str>,
    kind: Option<Kind>,
    name: Option<&'a str>,
    reason: ReadFailure,
    message: &'a str,
}

impl<'a> ErrorJson<'a> {
    fn new(error: &'a ReadError) -> Self {
        let (vault, application) = match error.source {
            Source::KeyVault => (Some(error.location.as_str()), None),
            Source::Entra => (None, Some(error.location.as_str())),
        };
        ErrorJson {
            source: error.source,
            vault,
            application,
            kind: error.kind,
            name: error.name.as_deref(),
            reason: error.reason,
            message: &error.message,
        }
    }
}

#[derive(Serialize)]
struct CredentialJson<'a> {
    source: Source,
    /// `null` for Entra credentials.
    vault: Option<&'a str>,
    kind: Kind,
    name: &'a str,
    version: Option<&'a str>,
    id: &'a str,
    enabled: bool,
    not_before: Option<String>,
    expires: Option<String>,
    expires_in_seconds: Option<i64>,
    state: State,
    severity: Severity,
    message: &'a str,
    tags: &'a BTreeMap<String, String>,
    application: Option<ApplicationJson<'a>>,
}

#[derive(Serialize)]
struct ApplicationJson<'a> {
    /// The application's object id.
    id: Option<&'a str>,
    app_id: Option<&'a str>,
    display_name: Option<&'a str>,
    key_id: &'a str,
}

impl<'a> ApplicationJson<'a> {
    fn new(link: &'a EntraLink) -> Self {
        let app = link.app.as_ref();
        ApplicationJson {
            id: app.map(|a| a.object_id.as_str()),
            app_id: app.map(|a| a.app_id.as_str()),
            display_name: app.and_then(|a| a.display_name.as_deref()),
            key_id: &link.key_id,
        }
    }
}

impl<'a> CredentialJson<'a> {
    fn new(finding: &'a Finding) -> Self {
        let record = &finding.record;
        CredentialJson {
            source: record.source,
            vault: match record.source {
                Source::KeyVault => Some(&record.vault),
                Source::Entra => None,
            },
            kind: record.kind,
            name: &record.name,
            version: record.version.as_deref(),
            id: &record.id,
            enabled: record.enabled,
            not_before: record.not_before.map(rfc3339_utc),
            expires: record.expires.map(rfc3339_utc),
            expires_in_seconds: finding.expires_in_seconds,
            state: finding.state,
            severity: finding.severity,
            message: &finding.message,
            tags: &record.tags,
            application: record.entra.as_ref().map(ApplicationJson::new),
        }
    }
}

/// Renders the report as pretty-printed JSON ending with a newline.
pub fn render(report: &CheckReport) -> String {
    let document = Document {
        version: JSON_VERSION,
        status: report.status(),
        checked_at: rfc3339_utc(report.checked_at),
        policy: PolicyJson {
            warn_within_seconds: report.policy.warn_within.whole_seconds(),
            fail_within_seconds: report.policy.fail_within.whole_seconds(),
            no_expiry: report.policy.no_expiry,
            strict: report.policy.strict,
            versions: report.policy.versions,
        },
        credentials: report.findings.iter().map(CredentialJson::new).collect(),
        counts: report.counts(),
        errors: report.errors.iter().map(ErrorJson::new).collect(),
    };
    // Serialising plain structs with string-keyed maps cannot fail; should serde_json ever
    // report an error, emit a document that still parses and still fails the reader's checks
    // rather than panicking or printing nothing.
    match serde_json::to_string_pretty(&document) {
        Ok(mut text) => {
            text.push('\n');
            // Same values for every parser, no runner command on any line.
            crate::ci::inert::json(&text).into_owned()
        }
        Err(error) => format!(
            "{}\n",
            serde_json::json!({
                "version": JSON_VERSION,
                "status": Status::Fail.as_str(),
                "error": format!("could not render the JSON report: {error}"),
            })
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use time::Duration;

    use super::*;
    use crate::check::fixtures::{expiring, record, superseded, NOW, VAULT};
    use crate::check::Policy;
    use crate::model::CredentialRecord;

    fn parse(text: &str) -> Value {
        match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("invalid JSON ({error}):\n{text}"),
        }
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn sample() -> CheckReport {
        let mut tagged = expiring("db-password", Duration::days(-3));
        tagged.version = Some("abc123".to_owned());
        tagged.not_before = Some(NOW - Duration::days(400));
        tagged.tags.insert("env".to_owned(), "prod".to_owned());
        let records = vec![
            tagged,
            record("api-key"),
            expiring("tls", Duration::days(90)),
            superseded(
                "db-password",
                "old1",
                "abc123",
                Some(NOW - Duration::days(2)),
            ),
        ];
        CheckReport::evaluate(records, &Policy::default(), NOW)
    }

    #[test]
    fn top_level_keys_and_values() {
        let text = render(&sample());
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\n  \"version\": 1"), "pretty-printed");
        let value = parse(&text);
        let mut top = keys(&value);
        top.sort_unstable();
        assert_eq!(
            top,
            [
                "checked_at",
                "counts",
                "credentials",
                "errors",
                "policy",
                "status",
                "version"
            ]
        );
        assert_eq!(value["version"], json!(1));
        assert_eq!(value["status"], json!("fail"));
        assert_eq!(value["checked_at"], json!("2026-11-26T12:00:00Z"));
        assert_eq!(
            value["policy"],
            json!({
                "warn_within_seconds": 2_592_000,
                "fail_within_seconds": 604_800,
                "no_expiry": "warn",
                "strict": false,
                "versions": false,
            })
        );
        assert_eq!(value["counts"], json!({"ok": 1, "warn": 2, "fail": 1}));
        assert_eq!(value["errors"], json!([]));
    }

    #[test]
    fn credential_keys_and_values() {
        let value = parse(&render(&sample()));
        let credentials = value["credentials"].as_array().cloned().unwrap_or_default();
        assert_eq!(credentials.len(), 4);
        let mut expected_keys = vec![
            "source",
            "vault",
            "kind",
            "name",
            "version",
            "id",
            "enabled",
            "not_before",
            "expires",
            "expires_in_seconds",
            "state",
            "severity",
            "message",
            "tags",
            "application",
        ];
        expected_keys.sort_unstable();
        for credential in &credentials {
            let mut actual = keys(credential);
            actual.sort_unstable();
            assert_eq!(actual, expected_keys);
        }
        assert_eq!(
            credentials[0],
            json!({
                "source": "keyvault",
                "vault": VAULT,
                "kind": "secret",
                "name": "db-password",
                "version": "abc123",
                "id": format!("{VAULT}/secrets/db-password"),
                "enabled": true,
                "not_before": "2025-10-22T12:00:00Z",
                "expires": "2026-11-23T12:00:00Z",
                "expires_in_seconds": -259_200,
                "state": "expired",
                "severity": "fail",
                "message": "expired 3 days ago (2026-11-23)",
                "tags": {"env": "prod"},
                "application": null,
            })
        );
    }

    #[test]
    fn absent_values_are_null_and_order_is_most_urgent_first() {
        let value = parse(&render(&sample()));
        let credentials = value["credentials"].as_array().cloned().unwrap_or_default();
        let states: Vec<&str> = credentials
            .iter()
            .filter_map(|credential| credential["state"].as_str())
            .collect();
        // Both warnings lack an expiry date, so the name breaks the tie.
        assert_eq!(
            states,
            ["expired", "no_expiry", "stale_enabled_version", "valid"]
        );

        let no_expiry = &credentials[1];
        assert_eq!(no_expiry["name"], json!("api-key"));
        assert_eq!(no_expiry["version"], Value::Null);
        assert_eq!(no_expiry["not_before"], Value::Null);
        assert_eq!(no_expiry["expires"], Value::Null);
        assert_eq!(no_expiry["expires_in_seconds"], Value::Null);
        assert_eq!(no_expiry["severity"], json!("warn"));
        assert_eq!(no_expiry["tags"], json!({}));

        assert_eq!(credentials[2]["version"], json!("old1"));
        assert_eq!(credentials[3]["expires_in_seconds"], json!(90 * 86_400));
    }

    #[test]
    fn empty_report_passes_with_no_credentials() {
        let strict = Policy {
            strict: true,
            no_expiry: NoExpiry::Ignore,
            ..Policy::default()
        };
        let value = parse(&render(&CheckReport::evaluate(vec![], &strict, NOW)));
        assert_eq!(value["status"], json!("pass"));
        assert_eq!(value["credentials"], json!([]));
        assert_eq!(value["counts"], json!({"ok": 0, "warn": 0, "fail": 0}));
        assert_eq!(value["policy"]["no_expiry"], json!("ignore"));
        assert_eq!(value["policy"]["strict"], json!(true));
    }

    #[test]
    fn unreadable_sources_are_errors_and_fail_the_status() {
        use crate::model::ReadError;
        let errors = vec![
            ReadError {
                source: Source::KeyVault,
                location: VAULT.to_owned(),
                kind: Some(Kind::Secret),
                name: None,
                reason: ReadFailure::Forbidden,
                message: "permission denied".to_owned(),
            },
            ReadError {
                source: Source::Entra,
                location: "dddddddd-0000-0000-0000-000000000001".to_owned(),
                kind: None,
                name: None,
                reason: ReadFailure::NotFound,
                message: "no such application".to_owned(),
            },
        ];
        // What could be read passed; the gate still fails: it could not see everything.
        let report = CheckReport::evaluate(
            vec![expiring("ok", Duration::days(90))],
            &Policy::default(),
            NOW,
        )
        .with_errors(errors);
        let value = parse(&render(&report));
        assert_eq!(value["status"], json!("fail"));
        assert_eq!(value["counts"], json!({"ok": 1, "warn": 0, "fail": 0}));
        assert_eq!(
            value["errors"],
            json!([
                {"source": "keyvault", "vault": VAULT, "application": null, "kind": "secret",
                 "name": null, "reason": "forbidden", "message": "permission denied"},
                {"source": "entra", "vault": null,
                 "application": "dddddddd-0000-0000-0000-000000000001", "kind": null,
                 "name": null, "reason": "not_found", "message": "no such application"},
            ])
        );
    }

    #[test]
    fn disabled_records_report_enabled_false() {
        let disabled = CredentialRecord {
            enabled: false,
            ..record("old")
        };
        let report = CheckReport::evaluate(vec![disabled], &Policy::default(), NOW);
        let value = parse(&render(&report));
        assert_eq!(value["credentials"][0]["enabled"], json!(false));
        assert_eq!(value["credentials"][0]["state"], json!("disabled"));
        assert_eq!(value["status"], json!("pass"));
    }

    #[test]
    fn entra_records_have_no_vault_and_name_their_application() {
        use crate::model::{AppRef, EntraLink, HeldPassword, Kind, Source};
        let app = AppRef {
            object_id: "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            app_id: "dddddddd-0000-0000-0000-000000000001".to_owned(),
            display_name: Some("billing-api".to_owned()),
        };
        let password = CredentialRecord {
            source: Source::Entra,
            vault: String::new(),
            kind: Kind::AppPassword,
            id: "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6".to_owned(),
            entra: Some(EntraLink {
                app: Some(app),
                key_id: "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6".to_owned(),
                held: None,
            }),
            ..expiring("ci", Duration::days(90))
        };
        let unchecked = CredentialRecord {
            entra: Some(EntraLink {
                app: None,
                key_id: "k".to_owned(),
                held: Some(HeldPassword::Unchecked("403".to_owned())),
            }),
            ..expiring("held", Duration::days(100))
        };
        let report = CheckReport::evaluate(vec![password, unchecked], &Policy::default(), NOW);
        let value = parse(&render(&report));
        let entra = &value["credentials"][0];
        assert_eq!(entra["source"], json!("entra"));
        assert_eq!(entra["kind"], json!("app-password"));
        assert_eq!(entra["vault"], Value::Null);
        assert_eq!(entra["id"], json!("5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6"));
        assert_eq!(
            entra["application"],
            json!({
                "id": "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
                "app_id": "dddddddd-0000-0000-0000-000000000001",
                "display_name": "billing-api",
                "key_id": "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6",
            })
        );
        let held = &value["credentials"][1];
        assert_eq!(held["vault"], json!(VAULT));
        assert_eq!(
            held["application"],
            json!({"id": null, "app_id": null, "display_name": null, "key_id": "k"})
        );
    }

    #[test]
    fn hostile_strings_read_back_exactly_and_command_free() {
        let mut tagged = expiring("db", Duration::days(-3));
        for &hostile in crate::ci::HOSTILE {
            tagged
                .tags
                .insert(format!("k{hostile}"), hostile.to_owned());
        }
        tagged.version = Some("##vso[task.prependpath]/tmp/x".to_owned());
        let text = render(&CheckReport::evaluate(
            vec![tagged.clone()],
            &Policy::default(),
            NOW,
        ));
        assert!(crate::ci::inert::is_inert(&text), "{text}");
        assert!(text.contains("##vso\\u005btask.prependpath"), "{text}");
        let value = parse(&text);
        let credential = &value["credentials"][0];
        let tags: BTreeMap<String, String> =
            serde_json::from_value(credential["tags"].clone()).unwrap_or_default();
        assert_eq!(tags, tagged.tags);
        assert_eq!(
            credential["version"],
            json!("##vso[task.prependpath]/tmp/x")
        );
    }
}
