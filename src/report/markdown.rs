//! The GitHub-flavoured Markdown report, written for a job's step summary.
//!
//! GitHub refuses a step summary over 1 MiB, so [`render_limited`] degrades in steps: the full
//! table; then only the fail and warn rows with the ok rows counted; then as many of those rows
//! as fit, with a line saying how many more were left out. What could not be read is listed
//! before the table and never left out.

use crate::check::dates::rfc3339_utc;
use crate::check::duration::describe_window;
use crate::check::{CheckReport, Counts, Finding, Severity};

use super::cells::{counts_line, days_left, display_name, expires_date, location, unreadable_what};
use crate::ci::inert;

/// The most a GitHub step summary may hold.
pub const GITHUB_STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

const TABLE_HEADER: &str =
    "| Severity | State | Vault | Kind | Name | Expires | Days left | Message |\n\
                            | --- | --- | --- | --- | --- | --- | --- | --- |\n";

/// Renders every finding, most urgent first.
pub fn render(report: &CheckReport) -> String {
    let mut out = preamble(report);
    if report.findings.is_empty() {
        if report.errors.is_empty() {
            out.push_str("No credentials matched.\n");
        }
    } else {
        out.push_str(TABLE_HEADER);
        for finding in &report.findings {
            out.push_str(&row(finding));
        }
    }
    out
}

/// Renders the report in at most `max_bytes` bytes (UTF-8), summarising when the full table
/// would not fit: ok rows are collapsed into a count first, then the fail and warn rows that do
/// not fit are left out, and a final "… and N more" line says what is missing. Never longer
/// than `max_bytes`, cutting even the heading if the limit is that small.
pub fn render_limited(report: &CheckReport, max_bytes: usize) -> String {
    let full = render(report);
    if full.len() <= max_bytes {
        return full;
    }

    let preamble = preamble(report);
    let shown_candidates: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|finding| finding.severity > Severity::Ok)
        .collect();
    let mut rows = String::new();
    let mut shown = 0;
    for finding in &shown_candidates {
        let line = row(finding);
        let would_hide = hidden_counts(&report.findings, &shown_candidates[..=shown]);
        // The table header is only written once a row is, and this row would be one.
        let needed = preamble.len()
            + TABLE_HEADER.len()
            + rows.len()
            + line.len()
            + more_line(would_hide).len();
        if needed > max_bytes {
            break;
        }
        rows.push_str(&line);
        shown += 1;
    }

    let mut out = preamble;
    if shown > 0 {
        out.push_str(TABLE_HEADER);
        out.push_str(&rows);
    }
    out.push_str(&more_line(hidden_counts(
        &report.findings,
        &shown_candidates[..shown],
    )));
    truncate_at_char_boundary(out, max_bytes)
}

/// The heading, the counts paragraph and the list of what could not be read, each followed by
/// a blank line.
fn preamble(report: &CheckReport) -> String {
    let policy = &report.policy;
    let mut out = format!(
        "### keyrot check: {status}\n\n\
         {counts} — checked at {checked_at}; warn within {warn}, fail within {fail}, \
         no expiry: {no_expiry}{strict}\n\n",
        status = report.status().describe(),
        counts = counts_line(report.counts()),
        checked_at = rfc3339_utc(report.checked_at),
        warn = describe_window(policy.warn_within),
        fail = describe_window(policy.fail_within),
        no_expiry = policy.no_expiry.as_str(),
        strict = if policy.strict { ", strict" } else { "" },
    );
    if !report.errors.is_empty() {
        out.push_str(
            "**Could not be read**, so the gate fails (keyrot could not see everything); the counts cover the rest:\n\n",
        );
        for error in &report.errors {
            out.push_str(&format!(
                "- {} ({}): {}\n",
                escape_cell(&unreadable_what(error, true)),
                error.reason.as_str(),
                escape_cell(&error.message)
            ));
        }
        out.push('\n');
    }
    out
}

fn row(finding: &Finding) -> String {
    let cells = [
        finding.severity.as_str().to_owned(),
        finding.state.as_str().to_owned(),
        location(&finding.record),
        finding.record.kind.as_str().to_owned(),
        display_name(finding),
        expires_date(finding),
        days_left(finding),
        finding.message.clone(),
    ];
    let mut line = String::from("|");
    for cell in &cells {
        line.push(' ');
        line.push_str(&escape_cell(cell));
        line.push_str(" |");
    }
    // Inert as it is: every cell went through `escape_cell`, and the line starts with `|`.
    line.push('\n');
    line
}

/// The findings of `all` that are not in `shown` (a prefix of `all`'s fail and warn findings,
/// which come first because `all` is sorted most urgent first).
fn hidden_counts(all: &[Finding], shown: &[&Finding]) -> Counts {
    let every: Counts = all.iter().collect();
    let visible: Counts = shown.iter().copied().collect();
    Counts {
        ok: every.ok - visible.ok,
        warn: every.warn - visible.warn,
        fail: every.fail - visible.fail,
    }
}

/// The closing line about left-out rows. It starts with a blank line because a GFM table goes
/// on until one: without it the line would become a table row.
fn more_line(hidden: Counts) -> String {
    format!(
        "\n… and {} more not shown ({}); the JSON report lists every credential.\n",
        hidden.total(),
        counts_line(hidden)
    )
}

/// Makes text safe inside a GFM table cell: `|` would end the cell and a newline the row;
/// Markdown punctuation and HTML are escaped so a name cannot format or inject anything
/// (`[` among them, so `##[` and `##vso[` never appear). Other hidden characters are shown as
/// [`inert::field`] escapes.
fn escape_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push_str("<br>"),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if inert::is_hidden(c) => {
                out.push_str(&inert::field(c.encode_utf8(&mut [0; 4])).replace('\\', "\\\\"))
            }
            c => out.push(c),
        }
    }
    out
}

fn truncate_at_char_boundary(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::check::fixtures::{expiring, record, NOW};
    use crate::check::Policy;

    fn report(records: Vec<crate::model::CredentialRecord>) -> CheckReport {
        CheckReport::evaluate(records, &Policy::default(), NOW)
    }

    #[test]
    fn full_report_has_heading_counts_and_rows() {
        let text = render(&report(vec![
            expiring("tls", Duration::days(90)),
            expiring("db", Duration::days(-3)),
        ]));
        let expected = "\
### keyrot check: failed

1 fail, 0 warn, 1 ok — checked at 2026-11-26T12:00:00Z; warn within 30 days, fail within 7 days, no expiry: warn

| Severity | State | Vault | Kind | Name | Expires | Days left | Message |
| --- | --- | --- | --- | --- | --- | --- | --- |
| fail | expired | prod-vault | secret | db | 2026-11-23 | -3 | expired 3 days ago (2026-11-23) |
| ok | valid | prod-vault | secret | tls | 2027-02-24 | 90 | expires in 90 days (2027-02-24) |
";
        assert_eq!(text, expected);
    }

    #[test]
    fn headings_follow_the_status() {
        assert!(render(&report(vec![])).starts_with("### keyrot check: passed\n"));
        assert!(render(&report(vec![])).ends_with("No credentials matched.\n"));
        assert!(render(&report(vec![record("a")]))
            .starts_with("### keyrot check: passed with warnings\n"));
        let strict = CheckReport::evaluate(
            vec![],
            &Policy {
                strict: true,
                ..Policy::default()
            },
            NOW,
        );
        assert!(render(&strict).contains("no expiry: warn, strict\n"));
    }

    #[test]
    fn unreadable_sources_are_listed_before_the_table_and_never_left_out() {
        use crate::model::{Kind, ReadError, ReadFailure, Source};
        let errors = vec![ReadError {
            source: Source::KeyVault,
            location: "https://locked.vault.azure.net".to_owned(),
            kind: Some(Kind::Secret),
            name: None,
            reason: ReadFailure::Forbidden,
            message: "permission *denied*".to_owned(),
        }];
        let text =
            render(&report(vec![expiring("tls", Duration::days(90))]).with_errors(errors.clone()));
        assert!(text.starts_with("### keyrot check: failed\n"), "{text}");
        assert!(text.contains(
            "**Could not be read**, so the gate fails (keyrot could not see everything); the counts cover the rest:\n\n\
             - secrets in https://locked.vault.azure.net (forbidden): permission \\*denied\\*\n\n\
             | Severity |"
        ), "{text}");
        let big = many(0, 0, 300).with_errors(errors);
        let limited = render_limited(&big, 3_000);
        assert!(limited.len() <= 3_000);
        assert!(
            limited.contains("- secrets in https://locked.vault.azure.net"),
            "{limited}"
        );
        // Nothing read at all: no "No credentials matched".
        let nothing = report(vec![]).with_errors(big.errors.clone());
        assert!(!render(&nothing).contains("No credentials matched"));
    }

    #[test]
    fn cells_escape_pipes_newlines_and_markup() {
        assert_eq!(escape_cell("a|b"), "a\\|b");
        assert_eq!(
            escape_cell("one\ntwo\r\nthree\rfour"),
            "one<br>two<br>three<br>four"
        );
        assert_eq!(escape_cell("<script>&"), "&lt;script&gt;&amp;");
        assert_eq!(
            escape_cell("*bold* _x_ `c` [l](u) ~s~ \\"),
            "\\*bold\\* \\_x\\_ \\`c\\` \\[l\\](u) \\~s\\~ \\\\"
        );
        assert_eq!(
            escape_cell("bell\x07tab\t\u{202e}"),
            "bell\\\\u{7}tab\\\\t\\\\u{202e}"
        );
        assert_eq!(
            escape_cell("##vso[task.complete]::x"),
            "##vso\\[task.complete\\]::x"
        );

        // A cell holds no runner command and no hidden character, so a row (which starts with
        // `|`) is inert without further escaping.
        for &text in crate::ci::HOSTILE {
            let line = format!("| {} |\n", escape_cell(text));
            assert!(inert::is_inert(&line), "{text:?} → {line:?}");
            assert_eq!(inert::human(&line, false), line, "{text:?}");
        }

        let hostile = report(vec![expiring("a|b\nc", Duration::days(90))]);
        let text = render(&hostile);
        let row = text.lines().last().unwrap_or_default();
        assert!(row.contains("| a\\|b<br>c |"), "{row}");
        // Eight cells: nine unescaped pipes.
        let unescaped_pipes = row
            .match_indices('|')
            .filter(|(i, _)| !row[..*i].ends_with('\\'))
            .count();
        assert_eq!(unescaped_pipes, 9);
    }

    fn many(fail: usize, warn: usize, ok: usize) -> CheckReport {
        let mut records = Vec::new();
        for i in 0..fail {
            records.push(expiring(&format!("fail-{i:04}"), Duration::days(-1)));
        }
        for i in 0..warn {
            records.push(expiring(&format!("warn-{i:04}"), Duration::days(20)));
        }
        for i in 0..ok {
            records.push(expiring(&format!("ok-{i:04}"), Duration::days(90)));
        }
        report(records)
    }

    #[test]
    fn limited_returns_the_full_report_when_it_fits() {
        let small = many(1, 1, 1);
        let full = render(&small);
        assert_eq!(render_limited(&small, full.len()), full);
    }

    #[test]
    fn limited_collapses_ok_rows_first() {
        let big = many(2, 3, 200);
        let full = render(&big);
        let limit = full.len() / 2;
        let text = render_limited(&big, limit);
        assert!(text.len() <= limit);
        assert!(text.starts_with("### keyrot check: failed\n\n2 fail, 3 warn, 200 ok"));
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("| fail |"))
                .count(),
            2
        );
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("| warn |"))
                .count(),
            3
        );
        assert!(!text.contains("| ok |"));
        assert!(text.ends_with(
            "\n\n… and 200 more not shown (0 fail, 0 warn, 200 ok); the JSON report lists every credential.\n"
        ));
    }

    #[test]
    fn limited_truncates_warn_and_fail_rows_with_a_count() {
        let big = many(100, 100, 100);
        let limit = 4_000;
        let text = render_limited(&big, limit);
        assert!(text.len() <= limit, "{} > {limit}", text.len());
        let fail_rows = text
            .lines()
            .filter(|line| line.starts_with("| fail |"))
            .count();
        let warn_rows = text
            .lines()
            .filter(|line| line.starts_with("| warn |"))
            .count();
        assert!(fail_rows > 0);
        assert_eq!(warn_rows, 0, "fail rows come first and fill the budget");
        let hidden_fail = 100 - fail_rows;
        assert!(text.ends_with(&format!(
            "\n… and {} more not shown ({hidden_fail} fail, 100 warn, 100 ok); the JSON report lists every credential.\n",
            hidden_fail + 200
        )), "{text}");
        // The budget is used: one more row would not have fit.
        let one_row = render(&big).lines().nth(6).map_or(0, |line| line.len() + 1);
        assert!(text.len() + one_row > limit);
    }

    #[test]
    fn limited_never_exceeds_even_a_tiny_limit() {
        let big = many(3, 0, 0);
        for limit in [0, 1, 10, 50, 200] {
            let text = render_limited(&big, limit);
            assert!(text.len() <= limit, "limit {limit}: {} bytes", text.len());
        }
        // The "…" is three bytes: cutting inside it must not split the character.
        let text = render_limited(&big, 200);
        assert!(text.starts_with("### keyrot check: failed"));
    }
}
