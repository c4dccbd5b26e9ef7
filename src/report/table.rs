//! The aligned plain-text table for people reading a pipeline log or a terminal.
//!
//! Names are never truncated (someone has to find the credential); messages are not either,
//! but they are the last column so a long one only wraps without breaking the alignment.
//! The columns are drawn by [`super::grid`], whose every cell is an [`inert::field`] (line
//! breaks and other hidden characters shown as escapes, so a hostile name cannot add a line,
//! move the cursor or paint the log); the whole table is [`inert::human`], so no line of it is
//! a runner command. What could not be read follows the table, one line each, before the
//! summary line.

use crate::check::{CheckReport, Finding, Severity, State, Status};
use crate::ci::inert;

use super::cells::{days_left, display_name, expires_date, location, summary, unreadable};
use super::grid::{self, Column, RESET};

const COLUMNS: [Column; 8] = [
    Column::left("severity"),
    Column::left("state"),
    Column::left("vault"),
    Column::left("kind"),
    Column::left("name"),
    Column::left("expires"),
    Column::right("days left"),
    Column::left("message"),
];

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const DIM: &str = "\x1b[2m";
const BOLD_RED: &str = "\x1b[1;31m";

/// Renders the table, the lines about what could not be read, then a blank line and the
/// summary line. `color` adds ANSI colours.
pub fn render(report: &CheckReport, color: bool) -> String {
    let mut out = String::new();
    if !report.findings.is_empty() {
        let rows: Vec<Vec<String>> = report.findings.iter().map(row).collect();
        out.push_str(&grid::render(&COLUMNS, &rows, |index, column| {
            cell_color(&report.findings[index], column, color)
        }));
    } else if report.errors.is_empty() {
        out.push_str("no credentials matched\n");
    }
    for error in &report.errors {
        let line = grid::printable(&format!("ERROR {}", unreadable(error)));
        match color {
            true => out.push_str(&format!("{RED}{line}{RESET}\n")),
            false => out.push_str(&format!("{line}\n")),
        }
    }
    if !report.findings.is_empty() || !report.errors.is_empty() {
        out.push('\n');
    }
    let summary = summary(report);
    match (color, report.status()) {
        (true, Status::Fail) => out.push_str(&format!("{BOLD_RED}{summary}{RESET}")),
        (true, Status::Warn) => out.push_str(&format!("{YELLOW}{summary}{RESET}")),
        _ => out.push_str(&summary),
    }
    out.push('\n');
    inert::human(&out, color).into_owned()
}

fn row(finding: &Finding) -> Vec<String> {
    vec![
        finding.severity.as_str().to_owned(),
        finding.state.as_str().to_owned(),
        location(&finding.record),
        finding.record.kind.as_str().to_owned(),
        display_name(finding),
        expires_date(finding),
        days_left(finding),
        finding.message.clone(),
    ]
}

/// Disabled rows are dimmed whole; otherwise only the severity and state cells are coloured.
fn cell_color(finding: &Finding, column: usize, color: bool) -> Option<&'static str> {
    if !color {
        return None;
    }
    if finding.state == State::Disabled {
        return Some(DIM);
    }
    if column > 1 {
        return None;
    }
    Some(match finding.severity {
        Severity::Fail => RED,
        Severity::Warn => YELLOW,
        Severity::Ok => GREEN,
    })
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::check::fixtures::{expiring, record, superseded, NOW};
    use crate::check::Policy;
    use crate::model::CredentialRecord;

    fn sample() -> CheckReport {
        let records = vec![
            expiring("tls-cert", Duration::days(90)),
            record("api-key"),
            expiring("db-password", Duration::days(-3)),
            superseded("db-password", "v1", "v2", Some(NOW - Duration::days(5))),
            CredentialRecord {
                enabled: false,
                ..expiring("legacy", Duration::days(-100))
            },
        ];
        CheckReport::evaluate(records, &Policy::default(), NOW)
    }

    #[test]
    fn plain_table_is_aligned_sorted_and_summarised() {
        let text = render(&sample(), false);
        let expected = "\
SEVERITY  STATE                  VAULT       KIND    NAME            EXPIRES     DAYS LEFT  MESSAGE
fail      expired                prod-vault  secret  db-password     2026-11-23         -3  expired 3 days ago (2026-11-23)
warn      no_expiry              prod-vault  secret  api-key         -                   -  has no expiry date; set one so keyrot can warn before it lapses
warn      stale_enabled_version  prod-vault  secret  db-password@v1  -                   -  version v1 is still enabled, superseded by v2 5 days ago
ok        disabled               prod-vault  secret  legacy          2026-08-18       -100  disabled in the vault; reported, never fails the gate (--versions also checks that no older version is still enabled)
ok        valid                  prod-vault  secret  tls-cert        2027-02-24         90  expires in 90 days (2027-02-24)

1 fail, 2 warn, 2 ok — gate FAILED
";
        assert_eq!(text, expected);
    }

    #[test]
    fn unreadable_sources_follow_the_table_and_the_summary_says_the_gate_failed() {
        use crate::model::{Kind, ReadError, ReadFailure, Source};
        let report = CheckReport::evaluate(
            vec![expiring("tls-cert", Duration::days(90))],
            &Policy::default(),
            NOW,
        )
        .with_errors(vec![ReadError {
            source: Source::KeyVault,
            location: "https://other-vault.vault.azure.net".to_owned(),
            kind: Some(Kind::Secret),
            name: None,
            reason: ReadFailure::NotFound,
            message: "https://other-vault.vault.azure.net answered 404\x1b[2J".to_owned(),
        }]);
        let expected = "\
SEVERITY  STATE  VAULT       KIND    NAME      EXPIRES     DAYS LEFT  MESSAGE
ok        valid  prod-vault  secret  tls-cert  2027-02-24         90  expires in 90 days (2027-02-24)
ERROR secrets in other-vault (not_found): https://other-vault.vault.azure.net answered 404\\u{1b}[2J

0 fail, 0 warn, 1 ok in what could be read; 1 could not be read — gate FAILED: keyrot could not see everything
";
        assert_eq!(render(&report, false), expected);
        let nothing_read = CheckReport::evaluate(vec![], &Policy::default(), NOW)
            .with_errors(report.errors.clone());
        let text = render(&nothing_read, false);
        assert!(text.starts_with("ERROR secrets in other-vault"), "{text}");
        assert!(!text.contains("no credentials matched"), "{text}");
    }

    #[test]
    fn no_ansi_escapes_without_color() {
        assert!(!render(&sample(), false).contains('\x1b'));
    }

    #[test]
    fn color_marks_severity_and_dims_disabled_rows() {
        let text = render(&sample(), true);
        assert!(text.contains(&format!("{RED}fail    {RESET}")), "{text}");
        assert!(text.contains(&format!("{YELLOW}warn    {RESET}")));
        assert!(text.contains(&format!("{GREEN}ok      {RESET}")));
        assert!(text.contains(&format!("{DIM}legacy")));
        assert!(text.ends_with(&format!(
            "{BOLD_RED}1 fail, 2 warn, 2 ok — gate FAILED{RESET}\n"
        )));
    }

    #[test]
    fn empty_report_says_nothing_matched() {
        let report = CheckReport::evaluate(vec![], &Policy::default(), NOW);
        assert_eq!(
            render(&report, false),
            "no credentials matched\n0 fail, 0 warn, 0 ok — passed\n"
        );
    }

    #[test]
    fn warnings_only_pass_with_warnings() {
        let report = CheckReport::evaluate(vec![record("api-key")], &Policy::default(), NOW);
        assert!(render(&report, false).ends_with("\n0 fail, 1 warn, 0 ok — passed with warnings\n"));
    }

    #[test]
    fn long_names_are_kept_and_control_characters_shown() {
        let long_name = "a-very-long-credential-name-that-must-never-be-truncated-in-the-table";
        let hostile = format!("evil\x1b[2J{long_name}");
        let report = CheckReport::evaluate(
            vec![expiring(&hostile, Duration::days(90))],
            &Policy::default(),
            NOW,
        );
        for color in [false, true] {
            let text = render(&report, color);
            assert!(
                text.contains(&format!("evil\\u{{1b}}[2J{long_name}")),
                "{text}"
            );
            assert!(!text.contains("\x1b[2J"));
        }
    }

    #[test]
    fn hostile_cells_stay_on_their_row_and_command_free() {
        let hostile =
            "team\n##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]pass\n::error::x";
        let report = CheckReport::evaluate(
            vec![
                expiring(hostile, Duration::days(-1)),
                superseded(hostile, "##[group]v1", "v2\u{2028}", None),
            ],
            &Policy::default(),
            NOW,
        );
        let text = render(&report, false);
        // A header, two rows, a blank line and the summary.
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(crate::ci::inert::is_inert(&text), "{text}");
        assert!(text.contains("team\\n##vso\\[task.setvariable"), "{text}");
        assert!(text.contains("##\\[group]v1"), "{text}");
    }
}
