//! What each report column shows for a finding, so the table, Markdown and JUnit agree.

use url::{Host, Url};

use crate::check::dates::utc_date;
use crate::check::duration::whole_days_left;
use crate::check::{CheckReport, Counts, Finding, Status};
use crate::model::{CredentialRecord, ReadError, Source};

/// The vault's short name: the first label of its host name (`prod-vault` for
/// `https://prod-vault.vault.azure.net`). An IP address (an emulator) is shown whole, and text
/// that is not a URL with a host is shown as given, so a surprising vault is never hidden.
pub fn vault_short(vault: &str) -> String {
    let Ok(url) = Url::parse(vault) else {
        return vault.to_owned();
    };
    match url.host() {
        Some(Host::Domain(domain)) => domain
            .split('.')
            .next()
            .filter(|label| !label.is_empty())
            .unwrap_or(domain)
            .to_owned(),
        Some(address) => address.to_string(),
        None => vault.to_owned(),
    }
}

/// Where the credential lives, short, for the VAULT column: the vault's short name, or
/// `entra:{application}` (its display name, else its appId) for an Entra credential.
pub fn location(record: &CredentialRecord) -> String {
    match record.source {
        Source::KeyVault => vault_short(&record.vault),
        Source::Entra => match record.entra.as_ref().and_then(|link| link.app.as_ref()) {
            Some(app) => format!("entra:{}", app.label()),
            None => "entra".to_owned(),
        },
    }
}

/// Where the credential lives, in full, for sentences: the vault's URL, or `application
/// billing-api (appId …)`.
pub fn location_long(record: &CredentialRecord) -> String {
    match record.source {
        Source::KeyVault => record.vault.clone(),
        Source::Entra => match record.entra.as_ref().and_then(|link| link.app.as_ref()) {
            Some(app) => match &app.display_name {
                Some(name) if !name.trim().is_empty() => {
                    format!("application {name} (appId {})", app.app_id)
                }
                _ => format!("application {}", app.app_id),
            },
            None => "an Entra application".to_owned(),
        },
    }
}

/// The credential's name, with `@version` for an older version so two rows of the same
/// credential can be told apart. The current version is shown by name alone.
pub fn display_name(finding: &Finding) -> String {
    let record = &finding.record;
    match (&record.superseded, &record.version) {
        (Some(_), Some(version)) => format!("{}@{version}", record.name),
        _ => record.name.clone(),
    }
}

/// The expiry date (`2026-12-01`), or `-` without one.
pub fn expires_date(finding: &Finding) -> String {
    finding
        .record
        .expires
        .map_or_else(|| "-".to_owned(), utc_date)
}

/// Whole days left, rounded towards zero like the message's span (`-3` beside "expired 3 days
/// ago"), or `-` without an expiry.
pub fn days_left(finding: &Finding) -> String {
    finding.expires_in_seconds.map_or_else(
        || "-".to_owned(),
        |seconds| whole_days_left(seconds).to_string(),
    )
}

/// `3 fail, 2 warn, 4 ok`.
pub fn counts_line(counts: Counts) -> String {
    format!(
        "{} fail, {} warn, {} ok",
        counts.fail, counts.warn, counts.ok
    )
}

/// The summary line: the counts and the verdict; when something could not be read, that the
/// counts cover only what could, and that the gate failed for it (exit 3).
pub fn summary(report: &CheckReport) -> String {
    let counts = counts_line(report.counts());
    match report.errors.len() {
        0 => format!("{counts} — {}", verdict(report.status())),
        unread => format!(
            "{counts} in what could be read; {unread} could not be read — gate FAILED: keyrot could not see everything"
        ),
    }
}

/// What could not be read, short, for the table: `secrets in prod-vault (forbidden): …`.
pub fn unreadable(error: &ReadError) -> String {
    format!(
        "{} ({}): {}",
        unreadable_what(error, false),
        error.reason.as_str(),
        error.message
    )
}

/// What could not be read: `secrets in prod-vault`, `the versions of secret db in prod-vault`,
/// `application 0b8e…`; with `long`, the vault's URL instead of its short name.
pub fn unreadable_what(error: &ReadError, long: bool) -> String {
    let place = match (error.source, long) {
        (Source::KeyVault, false) => vault_short(&error.location),
        (Source::KeyVault, true) => error.location.clone(),
        (Source::Entra, _) => return format!("application {}", error.location),
    };
    match (&error.name, error.kind) {
        (Some(name), _) => format!("the versions of secret {name} in {place}"),
        (None, Some(kind)) => format!("{} in {place}", kind.plural()),
        (None, None) => place,
    }
}

/// The verdict as the end of the summary line: `gate FAILED`, `passed with warnings`, `passed`.
pub fn verdict(status: Status) -> &'static str {
    match status {
        Status::Fail => "gate FAILED",
        Status::Warn => "passed with warnings",
        Status::Pass => "passed",
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::check::fixtures::{expiring, record, superseded, NOW};
    use crate::check::{classify, Policy};

    fn finding(record: &crate::model::CredentialRecord) -> Finding {
        match classify(record, &Policy::default(), NOW) {
            Some(finding) => finding,
            None => panic!("not reported"),
        }
    }

    #[test]
    fn vault_short_is_the_first_host_label() {
        assert_eq!(
            vault_short("https://prod-vault.vault.azure.net"),
            "prod-vault"
        );
        assert_eq!(vault_short("https://localhost:8443"), "localhost");
        assert_eq!(vault_short("https://127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(vault_short("not a url"), "not a url");
    }

    #[test]
    fn entra_credentials_are_located_by_their_application() {
        use crate::model::{AppRef, EntraLink, Kind, Source};
        let app = AppRef {
            object_id: "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            app_id: "dddddddd-0000-0000-0000-000000000001".to_owned(),
            display_name: Some("billing-api".to_owned()),
        };
        let mut entra = crate::model::CredentialRecord {
            source: Source::Entra,
            vault: String::new(),
            kind: Kind::AppPassword,
            entra: Some(EntraLink {
                app: Some(app),
                key_id: "k".to_owned(),
                held: None,
            }),
            ..record("ci")
        };
        assert_eq!(location(&entra), "entra:billing-api");
        assert_eq!(
            location_long(&entra),
            "application billing-api (appId dddddddd-0000-0000-0000-000000000001)"
        );
        if let Some(app) = entra.entra.as_mut().and_then(|l| l.app.as_mut()) {
            app.display_name = None;
        }
        assert_eq!(
            location(&entra),
            "entra:dddddddd-0000-0000-0000-000000000001"
        );
        assert_eq!(
            location_long(&entra),
            "application dddddddd-0000-0000-0000-000000000001"
        );
        // A Key Vault secret holding an Entra password is still located by its vault.
        let held = crate::model::CredentialRecord {
            entra: entra.entra.clone(),
            ..record("held")
        };
        assert_eq!(location(&held), "prod-vault");
        assert_eq!(location_long(&held), "https://prod-vault.vault.azure.net");
    }

    #[test]
    fn stale_versions_show_their_version() {
        assert_eq!(
            display_name(&finding(&superseded("db", "v1", "v2", None))),
            "db@v1"
        );
        let current_with_version = crate::model::CredentialRecord {
            version: Some("v9".to_owned()),
            ..record("db")
        };
        assert_eq!(display_name(&finding(&current_with_version)), "db");
    }

    #[test]
    fn dates_and_days_left() {
        let expired = finding(&expiring("a", Duration::hours(-1)));
        assert_eq!(expires_date(&expired), "2026-11-26");
        // Rounded towards zero, as the message's "expired 1 hour ago" is.
        assert_eq!(days_left(&expired), "0");
        let days_ago = finding(&expiring("a", -Duration::hours(3 * 24 + 5)));
        assert_eq!(days_left(&days_ago), "-3");
        assert_eq!(days_ago.message, "expired 3 days ago (2026-11-23)");
        let soon = finding(&expiring("a", Duration::hours(47)));
        assert_eq!(days_left(&soon), "1");
        let never = finding(&record("a"));
        assert_eq!(
            (expires_date(&never).as_str(), days_left(&never).as_str()),
            ("-", "-")
        );
    }
}
