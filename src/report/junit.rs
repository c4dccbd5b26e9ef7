//! JUnit XML for Azure DevOps' "Publish Test Results" task (and any other JUnit reader).
//!
//! One `<testsuites>` holding one `<testsuite name="keyrot check">`: a single suite keeps the
//! run's totals in one place, and the vault is already in each test case's class name
//! (`keyrot.{vault}.{kind}`), which is what Azure DevOps groups by.
//!
//! - fail: a `<failure>` whose `type` is the state;
//! - warn: a passing test case with `<system-out>WARN: …</system-out>`, visible in the test's
//!   details yet not counted as failed, nor as skipped (which would hide it in most UIs);
//! - ok: a passing test case with `<system-out>OK: …</system-out>`;
//! - something that could not be read (a vault's listing, an application): a test case with
//!   an `<error>` whose `type` is the reason, counted in `errors`.
//!
//! Every text goes through [`escape`], which escapes the five XML specials, writes line
//! breaks and tabs as character references and drops the characters XML 1.0 cannot carry at
//! all (most control characters), so no vault content can make the document malformed or add
//! a line of its own; only keyrot's line breaks between detail lines are literal. The document
//! is then [`inert::xml`], so no line of it is a runner command.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::UtcOffset;

use crate::check::dates::rfc3339_utc;
use crate::check::duration::describe_window;
use crate::check::{CheckReport, Finding, Severity};
use crate::ci::inert;
use crate::model::ReadError;

use super::cells::{display_name, location, unreadable_what, vault_short};

pub const SUITE_NAME: &str = "keyrot check";

/// The JUnit schema's timestamp: ISO 8601 without a time zone; we write UTC.
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// Renders the report as a JUnit XML document ending with a newline.
pub fn render(report: &CheckReport) -> String {
    let counts = report.counts();
    let errors = report.errors.len();
    let tests = report.findings.len() + errors;
    let checked_at = report.checked_at.to_offset(UtcOffset::UTC);
    let timestamp = checked_at
        .format(TIMESTAMP)
        .unwrap_or_else(|_| rfc3339_utc(checked_at));
    let failures = counts.fail;

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"{SUITE_NAME}\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\" skipped=\"0\" time=\"0\">\n"
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{SUITE_NAME}\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\" skipped=\"0\" time=\"0\" timestamp=\"{}\">\n",
        escape(&timestamp)
    ));
    push_properties(&mut out, report);
    for error in &report.errors {
        push_error_case(&mut out, error);
    }
    for finding in &report.findings {
        push_test_case(&mut out, finding);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    inert::xml(&out).into_owned()
}

/// The policy, so a reader of the test results knows what the verdicts were measured against.
fn push_properties(out: &mut String, report: &CheckReport) {
    let policy = &report.policy;
    let properties = [
        ("checked_at", rfc3339_utc(report.checked_at)),
        ("warn_within", describe_window(policy.warn_within)),
        ("fail_within", describe_window(policy.fail_within)),
        ("no_expiry", policy.no_expiry.as_str().to_owned()),
        ("strict", policy.strict.to_string()),
        ("status", report.status().as_str().to_owned()),
    ];
    out.push_str("    <properties>\n");
    for (name, value) in properties {
        out.push_str(&format!(
            "      <property name=\"{name}\" value=\"{}\"/>\n",
            escape(&value)
        ));
    }
    out.push_str("    </properties>\n");
}

fn push_test_case(out: &mut String, finding: &Finding) {
    let record = &finding.record;
    let classname = format!("keyrot.{}.{}", location(record), record.kind);
    out.push_str(&format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n",
        escape(&classname),
        escape(&display_name(finding))
    ));
    let details: String = details(finding)
        .iter()
        .map(|line| escape(line) + "\n")
        .collect();
    match finding.severity {
        Severity::Fail => out.push_str(&format!(
            "      <failure message=\"{}\" type=\"{}\">{details}</failure>\n",
            escape(&finding.message),
            finding.state.as_str()
        )),
        Severity::Warn => out.push_str(&format!(
            "      <system-out>WARN: {}\n{details}</system-out>\n",
            escape(&finding.message)
        )),
        Severity::Ok => out.push_str(&format!(
            "      <system-out>OK: {}\n{details}</system-out>\n",
            escape(&finding.message)
        )),
    }
    out.push_str("    </testcase>\n");
}

/// Something that could not be read, as a test case in error: the gate could not judge it.
fn push_error_case(out: &mut String, error: &ReadError) {
    let place = match error.source {
        crate::model::Source::KeyVault => vault_short(&error.location),
        crate::model::Source::Entra => format!("entra:{}", error.location),
    };
    let name = match (&error.name, error.kind) {
        (Some(name), _) => format!("{name} versions"),
        (None, Some(kind)) => kind.plural().to_owned(),
        (None, None) => "application".to_owned(),
    };
    let what = unreadable_what(error, true);
    out.push_str(&format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n",
        escape(&format!("keyrot.{place}.unreadable")),
        escape(&name)
    ));
    out.push_str(&format!(
        "      <error message=\"{}\" type=\"{}\">cannot read {}: {}\n</error>\n",
        escape(&format!("cannot read {what}")),
        error.reason.as_str(),
        escape(&what),
        escape(&error.message)
    ));
    out.push_str("    </testcase>\n");
}

/// Everything known about the credential, one `key: value` a line, for the test's detail pane.
fn details(finding: &Finding) -> Vec<String> {
    let record = &finding.record;
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let mut lines = vec![
        format!("state: {}", finding.state.as_str()),
        format!("severity: {}", finding.severity.as_str()),
        format!("vault: {}", record.vault),
        format!("kind: {}", record.kind),
        format!("name: {}", record.name),
        format!("version: {}", optional(record.version.clone())),
        format!("id: {}", record.id),
        format!("enabled: {}", record.enabled),
        format!(
            "not_before: {}",
            optional(record.not_before.map(rfc3339_utc))
        ),
        format!("expires: {}", optional(record.expires.map(rfc3339_utc))),
    ];
    if let Some(link) = &record.entra {
        if let Some(app) = &link.app {
            lines.push(format!("application: {}", app.label()));
            lines.push(format!("application app_id: {}", app.app_id));
            lines.push(format!("application object_id: {}", app.object_id));
        }
        lines.push(format!("entra key_id: {}", link.key_id));
    }
    for (key, value) in &record.tags {
        lines.push(format!("tag {key}: {value}"));
    }
    lines
}

/// Escapes text for XML 1.0, in an attribute value or element content alike: the five
/// specials, tabs and line breaks as character references (parsers turn literal ones in
/// attributes into spaces and fold a CR into the LF after it; in content a literal one would
/// start a log line of outside text), and drops the characters XML 1.0 forbids (other C0
/// controls, U+FFFE, U+FFFF), which no escape can represent.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0's `Char` production, less the tab and line breaks handled by [`escape`].
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use quick_xml::events::Event;
    use quick_xml::{Reader, XmlVersion};
    use time::Duration;

    use super::*;
    use crate::check::fixtures::{expiring, record, superseded, NOW};
    use crate::check::Policy;
    use crate::model::CredentialRecord;

    /// One element as a reader sees it: unescaped attributes and text.
    #[derive(Debug, Default)]
    struct Element {
        name: String,
        attributes: BTreeMap<String, String>,
        text: String,
        children: Vec<Element>,
    }

    impl Element {
        fn attribute(&self, name: &str) -> &str {
            self.attributes.get(name).map_or("", String::as_str)
        }

        fn child(&self, name: &str) -> Option<&Element> {
            self.children.iter().find(|child| child.name == name)
        }

        fn all(&self, name: &str) -> Vec<&Element> {
            self.children
                .iter()
                .filter(|child| child.name == name)
                .collect()
        }
    }

    fn element(start: &quick_xml::events::BytesStart) -> Element {
        let mut attributes = BTreeMap::new();
        for attribute in start.attributes() {
            let attribute = attribute.unwrap_or_else(|error| panic!("bad attribute: {error}"));
            let key = attribute.key.as_ref().to_owned();
            // As an XML 1.0 parser reads it: references resolved, literal whitespace folded.
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .unwrap_or_else(|error| panic!("bad attribute value: {error}"))
                .into_owned();
            attributes.insert(key, value);
        }
        Element {
            name: start.name().as_ref().to_owned(),
            attributes,
            ..Element::default()
        }
    }

    /// Parses the document strictly (end tags must match) into its root element.
    fn parse(xml: &str) -> Element {
        let mut reader = Reader::from_str(xml);
        let mut stack = vec![Element::default()];
        loop {
            let event = reader
                .read_event()
                .unwrap_or_else(|error| panic!("malformed XML ({error}):\n{xml}"));
            match event {
                Event::Start(start) => stack.push(element(&start)),
                Event::Empty(start) => {
                    let empty = element(&start);
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(empty);
                    }
                }
                Event::End(_) => {
                    let done = stack.pop().unwrap_or_default();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => panic!("unbalanced end tag"),
                    }
                }
                Event::Text(text) => {
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&text.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    let name = reference.xml10_content();
                    let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                        .unwrap_or_else(|error| panic!("unknown entity &{name};: {error}"))
                        .into_owned();
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(stack.len(), 1, "unclosed elements");
        let mut document = stack.pop().unwrap_or_default();
        assert_eq!(document.children.len(), 1, "exactly one root element");
        document.children.remove(0)
    }

    fn sample() -> CheckReport {
        let records = vec![
            expiring("tls", Duration::days(90)),
            record("api-key"),
            expiring("db", Duration::days(-3)),
            expiring("cache", Duration::days(2)),
            superseded("db", "v1", "v2", None),
        ];
        CheckReport::evaluate(records, &Policy::default(), NOW)
    }

    #[test]
    fn counts_in_attributes_match_the_test_cases() {
        let root = parse(&render(&sample()));
        assert_eq!(root.name, "testsuites");
        assert_eq!(root.attribute("tests"), "5");
        assert_eq!(root.attribute("failures"), "2");
        let suites = root.all("testsuite");
        assert_eq!(suites.len(), 1);
        let suite = suites[0];
        assert_eq!(suite.attribute("name"), "keyrot check");
        assert_eq!(suite.attribute("tests"), "5");
        assert_eq!(suite.attribute("failures"), "2");
        assert_eq!(suite.attribute("errors"), "0");
        assert_eq!(suite.attribute("skipped"), "0");
        assert_eq!(suite.attribute("time"), "0");
        assert_eq!(suite.attribute("timestamp"), "2026-11-26T12:00:00");

        let cases = suite.all("testcase");
        assert_eq!(cases.len(), 5);
        let failures = cases
            .iter()
            .filter(|case| case.child("failure").is_some())
            .count();
        assert_eq!(failures, 2);
        assert!(cases.iter().all(|case| case.child("skipped").is_none()));
    }

    #[test]
    fn failures_warnings_and_oks_are_shaped_for_azure_devops() {
        let root = parse(&render(&sample()));
        let suite = root
            .child("testsuite")
            .unwrap_or_else(|| panic!("no suite"));
        let cases = suite.all("testcase");
        let names: Vec<&str> = cases.iter().map(|case| case.attribute("name")).collect();
        assert_eq!(names, ["db", "cache", "api-key", "db@v1", "tls"]);

        let expired = cases[0];
        assert_eq!(expired.attribute("classname"), "keyrot.prod-vault.secret");
        let failure = expired
            .child("failure")
            .unwrap_or_else(|| panic!("no failure"));
        assert_eq!(
            failure.attribute("message"),
            "expired 3 days ago (2026-11-23)"
        );
        assert_eq!(failure.attribute("type"), "expired");
        assert!(
            failure.text.contains("expires: 2026-11-23T12:00:00Z\n"),
            "{}",
            failure.text
        );

        let warned = cases[2];
        assert!(warned.child("failure").is_none());
        let out = warned
            .child("system-out")
            .map_or("", |out| out.text.as_str());
        assert!(out.starts_with(
            "WARN: has no expiry date; set one so keyrot can warn before it lapses\n"
        ));

        let fine = cases[4];
        let out = fine.child("system-out").map_or("", |out| out.text.as_str());
        assert!(out.starts_with("OK: expires in 90 days (2027-02-24)\n"));

        let properties = suite
            .child("properties")
            .map(|p| p.all("property"))
            .unwrap_or_default();
        let status = properties.iter().find(|p| p.attribute("name") == "status");
        assert_eq!(status.map(|p| p.attribute("value")), Some("fail"));
    }

    #[test]
    fn an_unreadable_source_is_a_test_case_in_error() {
        use crate::model::{Kind, ReadError, ReadFailure, Source};
        let report = sample().with_errors(vec![ReadError {
            source: Source::KeyVault,
            location: "https://locked.vault.azure.net".to_owned(),
            kind: Some(Kind::Secret),
            name: None,
            reason: ReadFailure::Forbidden,
            message: "permission denied <list>".to_owned(),
        }]);
        let root = parse(&render(&report));
        assert_eq!(root.attribute("tests"), "6");
        assert_eq!(root.attribute("errors"), "1");
        let suite = root
            .child("testsuite")
            .unwrap_or_else(|| panic!("no suite"));
        assert_eq!(suite.attribute("errors"), "1");
        let case = suite.all("testcase")[0];
        assert_eq!(case.attribute("classname"), "keyrot.locked.unreadable");
        assert_eq!(case.attribute("name"), "secrets");
        let error = case.child("error").unwrap_or_else(|| panic!("no error"));
        assert_eq!(error.attribute("type"), "forbidden");
        assert_eq!(
            error.attribute("message"),
            "cannot read secrets in https://locked.vault.azure.net"
        );
        assert!(
            error.text.contains("permission denied <list>"),
            "{}",
            error.text
        );
    }

    #[test]
    fn everything_is_escaped_and_forbidden_characters_dropped() {
        let hostile_name = "a<b>&c\"d'e";
        let mut hostile = expiring(hostile_name, Duration::days(-1));
        hostile.vault = "https://x&y.vault.azure.net".to_owned();
        hostile.tags.insert(
            "owner<".to_owned(),
            "\"it's\" & <ops>\u{1}\u{FFFF}\ttab".to_owned(),
        );
        let warned = CredentialRecord {
            tags: hostile.tags.clone(),
            ..record("w<&>")
        };
        let report = CheckReport::evaluate(vec![hostile, warned], &Policy::default(), NOW);
        let xml = render(&report);
        assert!(!xml.contains('\u{1}'));
        assert!(!xml.contains('\u{FFFF}'));
        assert!(!xml.contains("a<b"));

        let root = parse(&xml);
        let suite = root
            .child("testsuite")
            .unwrap_or_else(|| panic!("no suite"));
        let cases = suite.all("testcase");
        assert_eq!(cases[0].attribute("name"), hostile_name);
        let failure = cases[0].child("failure").map_or("", |f| f.text.as_str());
        assert!(
            failure.contains("tag owner<: \"it's\" & <ops>\ttab\n"),
            "{failure}"
        );
        assert!(failure.contains(&format!("name: {hostile_name}\n")));
        assert_eq!(cases[1].attribute("name"), "w<&>");
        let out = cases[1].child("system-out").map_or("", |o| o.text.as_str());
        assert!(out.contains("tag owner<: \"it's\" & <ops>\ttab\n"));
    }

    #[test]
    fn outside_text_adds_no_line_and_no_command_yet_reads_back_exactly() {
        let hostile = "team\n##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]pass\n\
                       ::warning::x\r\n##[group]\u{2028}y\u{200b}";
        let mut failing = expiring("db", Duration::days(-1));
        failing.tags.insert(hostile.to_owned(), hostile.to_owned());
        let warned = CredentialRecord {
            tags: failing.tags.clone(),
            ..record("w")
        };
        let xml = render(&CheckReport::evaluate(
            vec![failing, warned],
            &Policy::default(),
            NOW,
        ));
        assert!(crate::ci::inert::is_inert(&xml), "{xml}");
        let root = parse(&xml);
        let suite = root
            .child("testsuite")
            .unwrap_or_else(|| panic!("no suite"));
        let cases = suite.all("testcase");
        let failure = cases[0].child("failure").map_or("", |f| f.text.as_str());
        assert!(
            failure.contains(&format!("tag {hostile}: {hostile}\n")),
            "{failure}"
        );
        let out = cases[1].child("system-out").map_or("", |o| o.text.as_str());
        assert!(
            out.contains(&format!("tag {hostile}: {hostile}\n")),
            "{out}"
        );
    }

    #[test]
    fn attributes_keep_line_breaks_as_references() {
        assert_eq!(escape("a\nb\tc\rd"), "a&#10;b&#9;c&#13;d");
        assert_eq!(escape("<&>\"'"), "&lt;&amp;&gt;&quot;&apos;");
        assert_eq!(
            escape("nul\0bell\x07\u{FFFE}ok\u{10000}"),
            "nulbellok\u{10000}"
        );
    }

    #[test]
    fn empty_report_is_a_valid_suite_with_no_tests() {
        let root = parse(&render(&CheckReport::evaluate(
            vec![],
            &Policy::default(),
            NOW,
        )));
        let suite = root
            .child("testsuite")
            .unwrap_or_else(|| panic!("no suite"));
        assert_eq!(suite.attribute("tests"), "0");
        assert_eq!(suite.attribute("failures"), "0");
        assert!(suite.all("testcase").is_empty());
    }
}
