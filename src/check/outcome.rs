//! The result of judging every record of a run: ordered findings and the gate's verdict.

use std::cmp::Ordering;

use serde::Serialize;
use time::OffsetDateTime;

use super::classify::classify_in;
use super::finding::{Finding, Severity};
use super::policy::Policy;
use super::related::Related;
use crate::model::{CredentialRecord, ReadError};

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing warned or failed.
    Pass,
    /// Warnings only: the release goes on.
    Warn,
    /// At least one failure: the release stops.
    Fail,
}

impl Status {
    /// The name used in JSON (`pass`, `warn`, `fail`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// How people are told the outcome: `passed`, `passed with warnings`, `failed`.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Pass => "passed",
            Status::Warn => "passed with warnings",
            Status::Fail => "failed",
        }
    }
}

/// How many findings have each severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
}

impl Counts {
    /// The number of findings counted.
    pub fn total(&self) -> usize {
        self.ok + self.warn + self.fail
    }

    fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Ok => self.ok += 1,
            Severity::Warn => self.warn += 1,
            Severity::Fail => self.fail += 1,
        }
    }
}

impl<'a> FromIterator<&'a Finding> for Counts {
    fn from_iter<I: IntoIterator<Item = &'a Finding>>(findings: I) -> Counts {
        let mut counts = Counts::default();
        for finding in findings {
            counts.add(finding.severity);
        }
        counts
    }
}

/// Every finding of one `keyrot check` run, most urgent first, and what could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub checked_at: OffsetDateTime,
    pub policy: Policy,
    pub findings: Vec<Finding>,
    /// The vaults' listings, secrets' versions and applications that could not be read: the
    /// findings cover everything else.
    pub errors: Vec<ReadError>,
}

impl CheckReport {
    /// Judges every record at `now` and orders the findings most urgent first (see
    /// [`most_urgent_first`]). Records that are not reported (superseded and disabled) are
    /// left out.
    pub fn evaluate(
        records: Vec<CredentialRecord>,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> CheckReport {
        Self::evaluate_selected(records, |_| true, policy, now)
    }

    /// [`evaluate`](Self::evaluate), reporting only the records `selected` picks (`--name`,
    /// `--tag`) but judging each with what all the records say about it (see
    /// [`super::related`]): a superseded version is picked with its secret.
    pub fn evaluate_selected(
        records: Vec<CredentialRecord>,
        selected: impl Fn(&CredentialRecord) -> bool,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> CheckReport {
        let related = Related::new(&records);
        let mut findings: Vec<Finding> = records
            .iter()
            .filter(|record| related.is_selected(record, &selected))
            .filter_map(|record| classify_in(record, &related.context(record), policy, now))
            .collect();
        findings.sort_by(most_urgent_first);
        CheckReport {
            checked_at: now,
            policy: *policy,
            findings,
            errors: Vec::new(),
        }
    }

    /// The report with what could not be read.
    pub fn with_errors(self, errors: Vec<ReadError>) -> CheckReport {
        CheckReport { errors, ..self }
    }

    /// `fail` if anything failed or could not be read (the gate cannot pass what it did not
    /// see), else `warn` if anything warned, else `pass` (also when nothing was checked).
    pub fn status(&self) -> Status {
        if !self.errors.is_empty() {
            return Status::Fail;
        }
        match self.findings.iter().map(|finding| finding.severity).max() {
            Some(Severity::Fail) => Status::Fail,
            Some(Severity::Warn) => Status::Warn,
            Some(Severity::Ok) | None => Status::Pass,
        }
    }

    pub fn counts(&self) -> Counts {
        self.findings.iter().collect()
    }
}

/// The report order: severity (fail first), then soonest expiry (credentials without one
/// last), then vault (or Entra application), kind, name, version and id, so the order is total
/// and the output stable.
pub fn most_urgent_first(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| soonest_first(a.expires_in_seconds, b.expires_in_seconds))
        .then_with(|| a.record.vault.cmp(&b.record.vault))
        .then_with(|| application(a).cmp(&application(b)))
        .then_with(|| a.record.kind.cmp(&b.record.kind))
        .then_with(|| a.record.name.cmp(&b.record.name))
        .then_with(|| a.record.version.cmp(&b.record.version))
        .then_with(|| a.record.id.cmp(&b.record.id))
}

/// An Entra credential's application (label, then appId), for ordering.
fn application(finding: &Finding) -> Option<(&str, &str)> {
    let app = finding.record.entra.as_ref()?.app.as_ref()?;
    Some((app.label(), app.app_id.as_str()))
}

fn soonest_first(a: Option<i64>, b: Option<i64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::check::finding::State;
    use crate::check::fixtures::{expiring, record, superseded, NOW};
    use crate::model::Kind;

    fn names(report: &CheckReport) -> Vec<String> {
        report
            .findings
            .iter()
            .map(|finding| match &finding.record.version {
                Some(version) => format!("{}@{version}", finding.record.name),
                None => finding.record.name.clone(),
            })
            .collect()
    }

    #[test]
    fn findings_are_sorted_most_urgent_first() {
        let records = vec![
            expiring("valid-late", Duration::days(200)),
            expiring("valid-soon", Duration::days(40)),
            record("no-expiry"),
            expiring("warn", Duration::days(20)),
            expiring("expiring", Duration::days(2)),
            expiring("expired", Duration::days(-5)),
            CredentialRecord {
                enabled: false,
                ..expiring("disabled", Duration::days(1))
            },
            superseded("db", "v1", "v2", None),
        ];
        let report = CheckReport::evaluate(records, &Policy::default(), NOW);
        assert_eq!(
            names(&report),
            [
                "expired",
                "expiring",
                "warn",
                "db@v1",
                "no-expiry",
                "disabled",
                "valid-soon",
                "valid-late",
            ]
        );
    }

    #[test]
    fn ties_break_on_vault_kind_name_version() {
        let in_other_vault = CredentialRecord {
            vault: "https://a-vault.vault.azure.net".to_owned(),
            ..record("z")
        };
        let certificate = CredentialRecord {
            kind: Kind::Certificate,
            ..record("a")
        };
        let records = vec![
            certificate,
            superseded("b", "v2", "v3", None),
            record("b"),
            superseded("b", "v1", "v2", None),
            in_other_vault,
        ];
        let report = CheckReport::evaluate(records, &Policy::default(), NOW);
        // All warn with no expiry: vault first (a-vault), then secrets before certificates,
        // then name, then the current version (None) before older ones.
        assert_eq!(names(&report), ["z", "b", "b@v1", "b@v2", "a"]);
        assert_eq!(report.findings[4].record.kind, Kind::Certificate);
    }

    #[test]
    fn superseded_disabled_versions_are_dropped() {
        let retired = CredentialRecord {
            enabled: false,
            ..superseded("db", "v1", "v2", None)
        };
        let report = CheckReport::evaluate(vec![retired, record("db")], &Policy::default(), NOW);
        assert_eq!(names(&report), ["db"]);
    }

    #[test]
    fn status_and_counts_follow_the_worst_finding() {
        let policy = Policy::default();
        let empty = CheckReport::evaluate(vec![], &policy, NOW);
        assert_eq!(empty.status(), Status::Pass);
        assert_eq!(empty.counts(), Counts::default());
        assert_eq!(empty.checked_at, NOW);

        let fine = CheckReport::evaluate(vec![expiring("a", Duration::days(99))], &policy, NOW);
        assert_eq!(fine.status(), Status::Pass);

        let warned = CheckReport::evaluate(
            vec![expiring("a", Duration::days(99)), record("b")],
            &policy,
            NOW,
        );
        assert_eq!(warned.status(), Status::Warn);
        assert_eq!(
            warned.counts(),
            Counts {
                ok: 1,
                warn: 1,
                fail: 0
            }
        );

        let failed = CheckReport::evaluate(
            vec![
                expiring("a", Duration::days(99)),
                record("b"),
                expiring("c", Duration::days(-1)),
                expiring("d", Duration::days(1)),
            ],
            &policy,
            NOW,
        );
        assert_eq!(failed.status(), Status::Fail);
        assert_eq!(
            failed.counts(),
            Counts {
                ok: 1,
                warn: 1,
                fail: 2
            }
        );
        assert_eq!(failed.counts().total(), 4);
        assert_eq!(failed.findings[0].state, State::Expired);
    }

    #[test]
    fn strict_makes_a_warning_only_run_fail() {
        let strict = Policy {
            strict: true,
            ..Policy::default()
        };
        let report = CheckReport::evaluate(vec![record("no-date")], &strict, NOW);
        assert_eq!(report.status(), Status::Fail);
        assert!(report.policy.strict);
    }
}
