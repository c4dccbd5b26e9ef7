//! What `keyrot check` tells the CI system about a report.
//!
//! - GitHub Actions: one `::error` annotation per source that could not be read, then one
//!   `::error` (fail) or `::warning` (warn) annotation per credential, most urgent first; step
//!   outputs `status`, `failed`, `warned` and `report` through
//!   `$GITHUB_OUTPUT`; the Markdown report appended to `$GITHUB_STEP_SUMMARY` within GitHub's
//!   size limit; the JSON report written to a file (`report`).
//! - Azure Pipelines: one `task.logissue` per unreadable source and per credential; output
//!   variables `KEYROT_STATUS`,
//!   `KEYROT_FAILED`, `KEYROT_WARNED`, `KEYROT_REPORT` (`isOutput=true`); the JSON report
//!   file; `task.complete result=SucceededWithIssues` when the gate passed with warnings. A
//!   failed gate exits 1 and the agent fails the step by itself.
//! - No CI: nothing.
//!
//! The lines go to the writer given (stdout in the binary), before the normal report. A runner
//! file whose variable is unset or empty is skipped with a debug line; a file that cannot be
//! written is a runtime failure naming the path. Nothing here reads a secret value: every line
//! is built from list metadata.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{azure, github, CiSystem, Env};
use crate::check::duration::describe_span;
use crate::check::{CheckReport, Finding, Severity, State, Status};
use crate::model::{Kind, ReadError};
use crate::outcome::Failure;
use crate::report::{
    self, display_name, location, location_long, unreadable_what, GITHUB_STEP_SUMMARY_LIMIT,
};

/// The report's file name in the runner's temporary folder.
pub const REPORT_FILE_NAME: &str = "keyrot-check-report.json";

/// Everything publishing needs besides the report.
pub struct Publisher<'a> {
    pub system: CiSystem,
    /// The process environment (or a test's).
    pub env: Env<'a>,
    /// `--report`: where to write the JSON report; the runner's temp folder otherwise.
    pub report_path: Option<&'a Path>,
    /// The folder used when neither `--report` nor the runner's temp folder is set.
    pub temp_dir: PathBuf,
}

/// What was published, for the caller's logs and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// The JSON report file written, as an absolute path.
    pub report_file: Option<PathBuf>,
}

impl Publisher<'_> {
    /// A variable's value, an empty one counting as unset (runners export empties).
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|value| !value.trim().is_empty())
    }

    /// Writes the CI lines for `report` to `out` and the runner files it names.
    pub fn publish(&self, report: &CheckReport, out: &mut dyn Write) -> Result<Published, Failure> {
        match self.system {
            CiSystem::GitHub => self.github(report, out),
            CiSystem::Azure => self.azure(report, out),
            CiSystem::None => {
                if let Some(path) = self.report_path {
                    tracing::warn!(
                        "--report {} is only written under CI (--ci github|azure); ignored",
                        path.display()
                    );
                }
                Ok(Published::default())
            }
        }
    }

    fn github(&self, report: &CheckReport, out: &mut dyn Write) -> Result<Published, Failure> {
        for error in &report.errors {
            let title = error_title(error);
            let annotation = github::Annotation {
                title: Some(&title),
                ..github::Annotation::default()
            };
            line(
                out,
                &github::annotation(github::Level::Error, &annotation, &error_message(error)),
            )?;
        }
        for finding in urgent(report) {
            let level = match finding.severity {
                Severity::Fail => github::Level::Error,
                _ => github::Level::Warning,
            };
            let title = title(finding);
            let annotation = github::Annotation {
                title: Some(&title),
                ..github::Annotation::default()
            };
            line(
                out,
                &github::annotation(level, &annotation, &message(finding)),
            )?;
        }

        line(
            out,
            &github::group("keyrot: report file, step outputs and summary"),
        )?;
        let result = self.github_files(report, out);
        line(out, &github::endgroup())?;
        result
    }

    fn github_files(
        &self,
        report: &CheckReport,
        out: &mut dyn Write,
    ) -> Result<Published, Failure> {
        let report_file = self.write_report(report, "RUNNER_TEMP")?;
        line(
            out,
            &format!("keyrot: JSON report written to {}", report_file.display()),
        )?;

        let counts = report.counts();
        let (failed, warned) = (counts.fail.to_string(), counts.warn.to_string());
        let report_text = report_file.display().to_string();
        match self.var("GITHUB_OUTPUT") {
            Some(path) => {
                let path = PathBuf::from(path);
                let pairs = [
                    ("status", report.status().as_str()),
                    ("failed", failed.as_str()),
                    ("warned", warned.as_str()),
                    ("report", report_text.as_str()),
                ];
                github::append_file_command(&path, &pairs)
                    .map_err(|e| runner_file_error("step outputs", &path, &e))?;
                line(
                    out,
                    &format!(
                        "keyrot: step outputs status={}, failed={failed}, warned={warned}, report={report_text}",
                        report.status().as_str()
                    ),
                )?;
            }
            None => skipped(out, "GITHUB_OUTPUT", "step outputs")?,
        }

        match self.var("GITHUB_STEP_SUMMARY") {
            Some(path) => {
                let path = PathBuf::from(path);
                // The limit is on the whole file: leave room for what is already in it.
                let used = std::fs::metadata(&path).map_or(0, |m| m.len());
                let budget = GITHUB_STEP_SUMMARY_LIMIT
                    .saturating_sub(usize::try_from(used).unwrap_or(usize::MAX))
                    .saturating_sub(1);
                let markdown = report::markdown::render_limited(report, budget);
                github::append_step_summary(&path, &markdown)
                    .map_err(|e| runner_file_error("the step summary", &path, &e))?;
                line(
                    out,
                    &format!(
                        "keyrot: Markdown report appended to the step summary ({} bytes)",
                        markdown.len()
                    ),
                )?;
            }
            None => skipped(out, "GITHUB_STEP_SUMMARY", "the step summary")?,
        }
        Ok(Published {
            report_file: Some(report_file),
        })
    }

    fn azure(&self, report: &CheckReport, out: &mut dyn Write) -> Result<Published, Failure> {
        for error in &report.errors {
            let text = format!("{}: {}", error_title(error), error_message(error));
            line(out, &azure::log_issue(azure::IssueType::Error, &text))?;
        }
        for finding in urgent(report) {
            let kind = match finding.severity {
                Severity::Fail => azure::IssueType::Error,
                _ => azure::IssueType::Warning,
            };
            let text = format!("{}: {}", title(finding), message(finding));
            line(out, &azure::log_issue(kind, &text))?;
        }

        line(
            out,
            &azure::group("keyrot: report file and output variables"),
        )?;
        let result = self.azure_files(report, out);
        line(out, &azure::endgroup())?;
        let published = result?;

        if report.status() == Status::Warn {
            let counts = report.counts();
            line(
                out,
                &azure::complete(
                    azure::TaskResult::SucceededWithIssues,
                    &format!(
                        "keyrot check passed with warnings: {} credential(s) need attention",
                        counts.warn
                    ),
                ),
            )?;
        }
        Ok(published)
    }

    fn azure_files(&self, report: &CheckReport, out: &mut dyn Write) -> Result<Published, Failure> {
        let report_file = self.write_report(report, "AGENT_TEMPDIRECTORY")?;
        line(
            out,
            &format!("keyrot: JSON report written to {}", report_file.display()),
        )?;
        let counts = report.counts();
        let variables = [
            ("KEYROT_STATUS", report.status().as_str().to_owned()),
            ("KEYROT_FAILED", counts.fail.to_string()),
            ("KEYROT_WARNED", counts.warn.to_string()),
            ("KEYROT_REPORT", report_file.display().to_string()),
        ];
        for (name, value) in &variables {
            line(out, &azure::set_variable(name, value, false, true))?;
        }
        Ok(Published {
            report_file: Some(report_file),
        })
    }

    /// Writes the JSON report to `--report`, else to `$TEMP_VAR/keyrot-check-report.json`,
    /// else to the system temp folder; returns the absolute path.
    fn write_report(&self, report: &CheckReport, temp_var: &str) -> Result<PathBuf, Failure> {
        let path = match self.report_path {
            Some(path) => path.to_path_buf(),
            None => self
                .var(temp_var)
                .map_or_else(|| self.temp_dir.clone(), PathBuf::from)
                .join(REPORT_FILE_NAME),
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        std::fs::write(&path, report::json::render(report)).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write the JSON report to {}: {e}",
                path.display()
            ))
        })?;
        Ok(path)
    }
}

/// The findings that warn or fail, most urgent first (the report's order).
fn urgent(report: &CheckReport) -> impl Iterator<Item = &Finding> {
    report
        .findings
        .iter()
        .filter(|finding| finding.severity > Severity::Ok)
}

/// `keyrot: db-password expires in 3 days (prod-vault)`.
pub fn title(finding: &Finding) -> String {
    let what = match finding.state {
        State::Expired => match finding.expires_in_seconds {
            Some(0) | None => "expired just now".to_owned(),
            Some(seconds) => format!("expired {} ago", span(seconds)),
        },
        State::Expiring | State::Valid => match finding.expires_in_seconds {
            Some(seconds) => format!("expires in {}", span(seconds)),
            None => "expires soon".to_owned(),
        },
        State::NoExpiry => "has no expiry date".to_owned(),
        State::NotYetValid => "is not valid yet".to_owned(),
        State::StaleEnabledVersion if finding.record.kind == Kind::AppPassword => {
            "old password still valid".to_owned()
        }
        State::StaleEnabledVersion => "old version still enabled".to_owned(),
        State::InGrace => "old version in its grace period".to_owned(),
        State::CurrentDisabled => "current version is disabled".to_owned(),
        State::Disabled => "is disabled".to_owned(),
    };
    format!(
        "keyrot: {} {what} ({})",
        display_name(finding),
        location(&finding.record)
    )
}

/// `keyrot: cannot read secrets in prod-vault`.
pub fn error_title(error: &ReadError) -> String {
    format!("keyrot: cannot read {}", unreadable_what(error, false))
}

/// What could not be read, why, and that the gate failed for it.
pub fn error_message(error: &ReadError) -> String {
    format!(
        "{} ({}). The gate fails (exit 3) until keyrot can read it; everything else was checked.",
        error.message.trim_end_matches('.'),
        error.reason.as_str()
    )
}

/// What the finding is and what to do about it: the check's own sentence, then the advice.
pub fn message(finding: &Finding) -> String {
    let record = &finding.record;
    let mut text = format!(
        "{} {} in {}: {}.",
        record.kind,
        display_name(finding),
        location_long(record),
        finding.message
    );
    let advice = advice(finding);
    if !advice.is_empty() {
        text.push(' ');
        text.push_str(advice);
    }
    text
}

fn advice(finding: &Finding) -> &'static str {
    let kind = finding.record.kind;
    match (finding.state, kind) {
        (State::Expired, Kind::AppPassword) => {
            "Add a new client secret to the app registration now (keyrot rotate does this), update what uses it, then remove this one."
        }
        (State::Expiring, Kind::AppPassword) => {
            "Add a new client secret to the app registration before it expires (keyrot rotate does this), then remove this one once nothing uses it."
        }
        (State::Expired, Kind::AppCertificate) => {
            "Upload a renewed certificate to the app registration now and deploy it where the old one is used."
        }
        (State::Expiring, Kind::AppCertificate) => {
            "Upload a renewed certificate to the app registration before it expires."
        }
        // The check's sentence says what to do: remove a password keyrot did not create, or
        // run keyrot rotate, which removes its own once their grace period has ended.
        (State::StaleEnabledVersion | State::InGrace, Kind::AppPassword) => "",
        _ => kv_advice(finding.state, kind.is_certificate()),
    }
}

fn kv_advice(state: State, certificate: bool) -> &'static str {
    match (state, certificate) {
        (State::Expired, false) => {
            "Rotate it now: create a new version with a later expiry date and update what uses it."
        }
        (State::Expired, true) => {
            "Renew it now and deploy the new certificate where the old one is used."
        }
        (State::Expiring, false) => {
            "Rotate it before it expires: create a new version with a later expiry date."
        }
        (State::Expiring, true) => "Renew it before it expires.",
        // The check's sentence already says to set an expiry date.
        (State::NoExpiry, _) => "",
        (State::NotYetValid, _) => {
            "It cannot be used until then; check its activation date if a release needs it now."
        }
        (State::StaleEnabledVersion, _) => "Disable the old version once nothing uses it.",
        (State::CurrentDisabled, _) => {
            "Enable the current version again, or write a new version: Key Vault serves only the current one."
        }
        (State::Valid | State::Disabled | State::InGrace, _) => "",
    }
}

fn span(seconds: i64) -> String {
    describe_span(time::Duration::seconds(seconds))
}

fn line(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    writeln!(out, "{text}").map_err(|e| Failure::Runtime(format!("cannot write to stdout: {e}")))
}

fn skipped(out: &mut dyn Write, variable: &str, what: &str) -> Result<(), Failure> {
    tracing::debug!("{variable} is not set: {what} skipped");
    line(
        out,
        &github::debug(&format!("keyrot: {variable} is not set; {what} skipped")),
    )
}

fn runner_file_error(what: &str, path: &Path, error: &io::Error) -> Failure {
    Failure::Runtime(format!(
        "cannot write {what} to {}: {error}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use time::Duration;

    use super::*;
    use crate::check::fixtures::{expiring, record, superseded, NOW, VAULT};
    use crate::check::Policy;
    use crate::ci::azure::parse as ado;
    use crate::ci::github::parse as gh;
    use crate::model::CredentialRecord;
    use crate::model::ReadError;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/ci/");

    /// One report with every state that annotates, and some that do not.
    fn sample() -> CheckReport {
        let mut not_yet = expiring("future-key", Duration::days(300));
        not_yet.not_before = Some(NOW + Duration::days(5));
        not_yet.kind = Kind::Key;
        not_yet.id = format!("{VAULT}/keys/future-key");
        let cert = CredentialRecord {
            kind: Kind::Certificate,
            id: format!("{VAULT}/certificates/tls-cert"),
            ..expiring("tls-cert", Duration::days(2))
        };
        let other_vault = CredentialRecord {
            vault: "https://shared-vault.vault.azure.net".to_owned(),
            id: "https://shared-vault.vault.azure.net/secrets/api-key".to_owned(),
            ..expiring("api-key", Duration::days(20))
        };
        let mut graced = expiring("graced", Duration::days(200));
        graced.tags.insert(
            crate::model::TAG_GRACE_ENDS.to_owned(),
            "2026-11-28T12:00:00Z".to_owned(),
        );
        let foreign_password = CredentialRecord {
            source: crate::model::Source::Entra,
            vault: String::new(),
            kind: Kind::AppPassword,
            version: None,
            id: "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e501".to_owned(),
            entra: Some(crate::model::EntraLink {
                app: Some(crate::model::AppRef {
                    object_id: "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
                    app_id: "dddddddd-0000-0000-0000-000000000001".to_owned(),
                    display_name: Some("billing-api".to_owned()),
                }),
                key_id: "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e501".to_owned(),
                held: None,
            }),
            ..superseded(
                "ci-pipeline",
                "-",
                "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5ff",
                Some(NOW - Duration::days(1)),
            )
        };
        let records = vec![
            expiring("healthy", Duration::days(200)),
            expiring("db-password", Duration::days(3)),
            expiring("expired-secret", Duration::days(-3)),
            record("forever"),
            other_vault,
            cert,
            not_yet,
            superseded("rotated", "v1", "v2", Some(NOW - Duration::days(10))),
            CredentialRecord {
                enabled: false,
                ..expiring("switched-off", Duration::days(-10))
            },
            // Rotated by keyrot an hour ago: the old version is in its grace period.
            graced,
            superseded("graced", "g1", "g2", Some(NOW - Duration::hours(1))),
            // The current version disabled, an older one enabled: an outage.
            CredentialRecord {
                enabled: false,
                ..expiring("outage", Duration::days(60))
            },
            superseded("outage", "o1", "o2", Some(NOW - Duration::days(1))),
            foreign_password,
        ];
        CheckReport::evaluate(records, &Policy::default(), NOW).with_errors(vec![ReadError {
            source: crate::model::Source::KeyVault,
            location: "https://locked-vault.vault.azure.net".to_owned(),
            kind: Some(Kind::Secret),
            name: None,
            reason: crate::model::ReadFailure::Forbidden,
            message: "permission denied: cannot list secrets in https://locked-vault.vault.azure.net. The identity needs the RBAC role 'Key Vault Secrets User'".to_owned(),
        }])
    }

    fn warn_only() -> CheckReport {
        CheckReport::evaluate(
            vec![record("forever"), expiring("healthy", Duration::days(200))],
            &Policy::default(),
            NOW,
        )
    }

    struct Run {
        stdout: String,
        result: Result<Published, Failure>,
    }

    fn publish(
        report: &CheckReport,
        system: CiSystem,
        vars: &[(&str, String)],
        report_path: Option<&Path>,
        temp_dir: &Path,
    ) -> Run {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let env = move |name: &str| map.get(name).cloned();
        let publisher = Publisher {
            system,
            env: &env,
            report_path,
            temp_dir: temp_dir.to_path_buf(),
        };
        let mut out = Vec::new();
        let result = publisher.publish(report, &mut out);
        Run {
            stdout: String::from_utf8(out).unwrap(),
            result,
        }
    }

    struct GitHubFiles {
        dir: tempfile::TempDir,
    }

    impl GitHubFiles {
        fn new() -> Self {
            GitHubFiles {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn vars(&self) -> Vec<(&'static str, String)> {
            vec![
                ("GITHUB_ACTIONS", "true".into()),
                ("GITHUB_OUTPUT", self.path("output").display().to_string()),
                (
                    "GITHUB_STEP_SUMMARY",
                    self.path("summary.md").display().to_string(),
                ),
                ("RUNNER_TEMP", self.dir.path().display().to_string()),
            ]
        }
        fn outputs(&self) -> Vec<(String, String)> {
            gh::file_command(&std::fs::read_to_string(self.path("output")).unwrap()).unwrap()
        }
        /// Text with this folder's path replaced, so goldens do not depend on it.
        fn normalise(&self, text: &str) -> String {
            text.replace(&self.dir.path().display().to_string(), "$TMP")
        }
    }

    fn golden(name: &str, actual: &str) {
        let path = PathBuf::from(GOLDEN).join(name);
        if std::env::var("KEYROT_BLESS").as_deref() == Ok("1") {
            std::fs::create_dir_all(GOLDEN).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{} unreadable ({e}); run with KEYROT_BLESS=1 to create it",
                path.display()
            )
        });
        assert!(
            expected == actual,
            "{} differs (KEYROT_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }

    #[test]
    fn titles_and_messages_say_what_and_what_to_do() {
        let report = sample();
        let by_name = |name: &str| {
            report
                .findings
                .iter()
                .find(|f| f.record.name == name)
                .unwrap()
        };
        assert_eq!(
            title(by_name("db-password")),
            "keyrot: db-password expires in 3 days (prod-vault)"
        );
        assert_eq!(
            message(by_name("db-password")),
            "secret db-password in https://prod-vault.vault.azure.net: expires in 3 days (2026-11-29); \
             fail window is 7 days. Rotate it before it expires: create a new version with a later expiry date."
        );
        assert_eq!(
            title(by_name("expired-secret")),
            "keyrot: expired-secret expired 3 days ago (prod-vault)"
        );
        assert_eq!(
            title(by_name("forever")),
            "keyrot: forever has no expiry date (prod-vault)"
        );
        assert!(message(by_name("forever")).ends_with("so keyrot can warn before it lapses."));
        assert_eq!(
            title(by_name("rotated")),
            "keyrot: rotated@v1 old version still enabled (prod-vault)"
        );
        assert!(message(by_name("tls-cert")).contains("Renew it before it expires."));
        assert_eq!(
            title(by_name("api-key")),
            "keyrot: api-key expires in 20 days (shared-vault)"
        );
        assert_eq!(
            title(by_name("future-key")),
            "keyrot: future-key is not valid yet (prod-vault)"
        );
    }

    #[test]
    fn github_annotations_are_most_urgent_first_and_round_trip() {
        let files = GitHubFiles::new();
        let report = sample();
        let run = publish(
            &report,
            CiSystem::GitHub,
            &files.vars(),
            None,
            files.dir.path(),
        );
        run.result.unwrap();
        let commands: Vec<gh::Parsed> = run.stdout.lines().filter_map(gh::command).collect();
        let annotations: Vec<&gh::Parsed> = commands
            .iter()
            .filter(|c| c.name == "error" || c.name == "warning")
            .collect();
        let urgent: Vec<&Finding> = urgent(&report).collect();
        assert_eq!(annotations.len(), urgent.len() + report.errors.len());
        assert_eq!(annotations.len(), 11, "{}", run.stdout);
        // What could not be read comes first, as an error.
        let unreadable = annotations[0];
        assert_eq!(unreadable.name, "error");
        assert_eq!(
            unreadable.properties["title"],
            "keyrot: cannot read secrets in locked-vault"
        );
        assert!(unreadable.data.ends_with(
            "(forbidden). The gate fails (exit 3) until keyrot can read it; everything else was checked."
        ));
        for (annotation, finding) in annotations[1..].iter().zip(&urgent) {
            let expected = if finding.severity == Severity::Fail {
                "error"
            } else {
                "warning"
            };
            assert_eq!(annotation.name, expected);
            assert_eq!(annotation.properties["title"], title(finding));
            assert_eq!(annotation.data, message(finding));
        }
        assert_eq!(
            annotations[1].properties["title"],
            "keyrot: expired-secret expired 3 days ago (prod-vault)"
        );
        // Healthy, disabled and in-grace credentials are not annotated.
        assert!(!run.stdout.contains("healthy"));
        assert!(!run.stdout.contains("switched-off"));
        assert!(!run.stdout.contains("graced"));
        // No app password is told to "disable the old version".
        let password = annotations
            .iter()
            .find(|a| a.data.starts_with("app-password"))
            .unwrap();
        assert_eq!(
            password.properties["title"],
            "keyrot: ci-pipeline old password still valid (entra:billing-api)"
        );
        assert!(!password.data.contains("isable"), "{}", password.data);
        assert!(
            password.data.contains("remove it in Entra"),
            "{}",
            password.data
        );
        // The verbose part is folded.
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names[11..], ["group", "endgroup"]);
    }

    #[test]
    fn github_outputs_summary_and_report_file() {
        let files = GitHubFiles::new();
        let report = sample();
        let run = publish(
            &report,
            CiSystem::GitHub,
            &files.vars(),
            None,
            Path::new("/nonexistent"),
        );
        let published = run.result.unwrap();
        let report_file = files.path(REPORT_FILE_NAME);
        assert_eq!(
            published.report_file.as_deref(),
            Some(report_file.as_path())
        );
        assert_eq!(
            files.outputs(),
            [
                ("status".to_owned(), "fail".to_owned()),
                ("failed".to_owned(), "4".to_owned()),
                ("warned".to_owned(), "6".to_owned()),
                ("report".to_owned(), report_file.display().to_string()),
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
        assert_eq!(json["status"], "fail");
        assert_eq!(
            json["credentials"].as_array().unwrap().len(),
            report.findings.len()
        );
        assert_eq!(json["errors"][0]["reason"], "forbidden");
        let summary = std::fs::read_to_string(files.path("summary.md")).unwrap();
        assert_eq!(summary, report::markdown::render(&report));
        // A second run in the same step appends.
        publish(
            &report,
            CiSystem::GitHub,
            &files.vars(),
            None,
            files.dir.path(),
        )
        .result
        .unwrap();
        assert_eq!(files.outputs().len(), 8);
        assert_eq!(
            std::fs::read_to_string(files.path("summary.md")).unwrap(),
            summary.repeat(2)
        );
    }

    #[test]
    fn github_summary_over_one_mebibyte_is_summarised() {
        let records: Vec<CredentialRecord> = (0..12_000)
            .map(|i| {
                expiring(
                    &format!("credential-with-a-long-name-{i:06}"),
                    Duration::days(if i % 3 == 0 { -1 } else { 90 }),
                )
            })
            .collect();
        let report = CheckReport::evaluate(records, &Policy::default(), NOW);
        let full = report::markdown::render(&report);
        assert!(
            full.len() > GITHUB_STEP_SUMMARY_LIMIT,
            "{} bytes",
            full.len()
        );
        let files = GitHubFiles::new();
        std::fs::write(files.path("summary.md"), "# earlier content\n").unwrap();
        publish(
            &report,
            CiSystem::GitHub,
            &files.vars(),
            None,
            files.dir.path(),
        )
        .result
        .unwrap();
        let summary = std::fs::read_to_string(files.path("summary.md")).unwrap();
        assert!(
            summary.len() <= GITHUB_STEP_SUMMARY_LIMIT,
            "{} bytes",
            summary.len()
        );
        assert!(summary.starts_with("# earlier content\n### keyrot check: failed"));
        assert!(summary.contains("more not shown"), "summarised");
        assert!(!summary.contains("| ok |"), "ok rows collapse first");
    }

    #[test]
    fn github_skips_unset_runner_files_with_a_debug_line() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_OUTPUT", String::new()),
        ];
        let run = publish(&warn_only(), CiSystem::GitHub, &vars, None, dir.path());
        let published = run.result.unwrap();
        // No RUNNER_TEMP: the report goes to the temp folder given.
        assert_eq!(
            published.report_file,
            Some(dir.path().join(REPORT_FILE_NAME))
        );
        let debug: Vec<String> = run
            .stdout
            .lines()
            .filter_map(gh::command)
            .filter(|c| c.name == "debug")
            .map(|c| c.data)
            .collect();
        assert_eq!(
            debug,
            [
                "keyrot: GITHUB_OUTPUT is not set; step outputs skipped",
                "keyrot: GITHUB_STEP_SUMMARY is not set; the step summary skipped",
            ]
        );
        assert!(run
            .stdout
            .starts_with("::warning title=keyrot%3A forever has no expiry date (prod-vault)::"));
    }

    #[test]
    fn unwritable_runner_files_are_runtime_failures_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/output");
        let vars = [("GITHUB_OUTPUT", missing.display().to_string())];
        let run = publish(&sample(), CiSystem::GitHub, &vars, None, dir.path());
        match run.result {
            Err(Failure::Runtime(message)) => {
                assert!(
                    message.contains(&missing.display().to_string()),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The annotations were written, and the group was closed.
        assert!(run.stdout.starts_with("::error "));
        assert!(run.stdout.ends_with("::endgroup::\n"));

        let bad_report = dir.path().join("missing-dir/report.json");
        let run = publish(
            &sample(),
            CiSystem::Azure,
            &[],
            Some(&bad_report),
            dir.path(),
        );
        match run.result {
            Err(Failure::Runtime(message)) => {
                assert!(
                    message.contains(&bad_report.display().to_string()),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn report_flag_wins_and_relative_paths_become_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let chosen = dir.path().join("chosen.json");
        let vars = [("AGENT_TEMPDIRECTORY", "/nonexistent".to_owned())];
        let run = publish(
            &warn_only(),
            CiSystem::Azure,
            &vars,
            Some(&chosen),
            dir.path(),
        );
        assert_eq!(run.result.unwrap().report_file, Some(chosen.clone()));
        assert!(chosen.is_file());

        // A relative path into the temp folder, from the current directory (tests cannot
        // change it: they share the process).
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd.components().skip(1) {
            relative.push("..");
        }
        relative.push(dir.path().strip_prefix("/").unwrap());
        relative.push("relative.json");
        assert!(relative.is_relative());
        let run = publish(
            &warn_only(),
            CiSystem::Azure,
            &[],
            Some(&relative),
            dir.path(),
        );
        let written = run.result.unwrap().report_file.unwrap();
        assert!(written.is_absolute(), "{}", written.display());
        assert!(written.ends_with("relative.json"));
        assert!(dir.path().join("relative.json").is_file());
    }

    #[test]
    fn azure_lines_round_trip_and_warn_only_succeeds_with_issues() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("AGENT_TEMPDIRECTORY", dir.path().display().to_string())];
        let report = warn_only();
        let run = publish(
            &report,
            CiSystem::Azure,
            &vars,
            None,
            Path::new("/nonexistent"),
        );
        run.result.unwrap();
        let commands: Vec<ado::Parsed> = run.stdout.lines().filter_map(ado::command).collect();
        let issue = &commands[0];
        assert_eq!(
            (issue.area.as_str(), issue.event.as_str()),
            ("task", "logissue")
        );
        assert_eq!(issue.properties["type"], "warning");
        assert_eq!(
            issue.data,
            format!(
                "{}: {}",
                title(&report.findings[0]),
                message(&report.findings[0])
            )
        );
        let variables: Vec<(String, String)> = commands
            .iter()
            .filter(|c| c.event == "setvariable")
            .map(|c| {
                assert_eq!(c.properties["isOutput"], "true");
                assert!(!c.properties.contains_key("issecret"));
                (c.properties["variable"].clone(), c.data.clone())
            })
            .collect();
        let report_file = dir.path().join(REPORT_FILE_NAME);
        assert_eq!(
            variables,
            [
                ("KEYROT_STATUS".to_owned(), "warn".to_owned()),
                ("KEYROT_FAILED".to_owned(), "0".to_owned()),
                ("KEYROT_WARNED".to_owned(), "1".to_owned()),
                (
                    "KEYROT_REPORT".to_owned(),
                    report_file.display().to_string()
                ),
            ]
        );
        assert!(report_file.is_file());
        let last = commands.last().unwrap();
        assert_eq!(last.event, "complete");
        assert_eq!(last.properties["result"], "SucceededWithIssues");
        assert!(run
            .stdout
            .contains("\n##[group]keyrot: report file and output variables\n"));
        assert!(run.stdout.contains("\n##[endgroup]\n"));
    }

    #[test]
    fn azure_complete_only_for_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let passing = CheckReport::evaluate(
            vec![expiring("healthy", Duration::days(200))],
            &Policy::default(),
            NOW,
        );
        for (report, expect_complete) in [(passing, false), (sample(), false), (warn_only(), true)]
        {
            let run = publish(&report, CiSystem::Azure, &[], None, dir.path());
            run.result.unwrap();
            assert_eq!(
                run.stdout.contains("task.complete"),
                expect_complete,
                "{}",
                run.stdout
            );
            assert!(!run.stdout.contains("result=Failed"));
        }
    }

    #[test]
    fn none_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let chosen = dir.path().join("r.json");
        let files = GitHubFiles::new();
        let run = publish(
            &sample(),
            CiSystem::None,
            &files.vars(),
            Some(&chosen),
            dir.path(),
        );
        assert_eq!(run.result.unwrap(), Published::default());
        assert_eq!(run.stdout, "");
        assert!(!chosen.exists());
        assert!(!files.path("output").exists());
        assert!(!files.path("summary.md").exists());
    }

    #[test]
    fn golden_github() {
        let files = GitHubFiles::new();
        let report = sample();
        let run = publish(
            &report,
            CiSystem::GitHub,
            &files.vars(),
            None,
            files.dir.path(),
        );
        run.result.unwrap();
        golden("github.stdout", &files.normalise(&run.stdout));
        // The delimiters are random: golden the outputs re-rendered with a fixed one.
        let outputs = files.outputs();
        let pairs: Vec<(&str, &str)> = outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let fixed =
            github::render_file_command(&pairs, || Ok("ghadelimiter_GOLDEN".to_owned())).unwrap();
        golden("github.output", &files.normalise(&fixed));
        golden(
            "github.summary.md",
            &std::fs::read_to_string(files.path("summary.md")).unwrap(),
        );
        golden(
            "report.json",
            &std::fs::read_to_string(files.path(REPORT_FILE_NAME)).unwrap(),
        );
    }

    #[test]
    fn golden_azure() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("AGENT_TEMPDIRECTORY", dir.path().display().to_string())];
        let normalise = |text: &str| text.replace(&dir.path().display().to_string(), "$TMP");
        let run = publish(&sample(), CiSystem::Azure, &vars, None, dir.path());
        run.result.unwrap();
        golden("azure.stdout", &normalise(&run.stdout));
        let run = publish(&warn_only(), CiSystem::Azure, &vars, None, dir.path());
        run.result.unwrap();
        golden("azure-warn-only.stdout", &normalise(&run.stdout));
    }
}
