//! Azure Pipelines: `##vso[area.event key=value;…]data` logging commands on stdout.
//!
//! The agent (`Command.TryParse`) takes the text from `##vso[` to the first `]` as the command,
//! splits its properties on `;` and each on its first `=`, and takes everything after that `]`
//! as the data. It unescapes properties and data alike (`CommandStringConvertor.Unescape`):
//! `%3B` → `;`, `%0D` → CR, `%0A` → LF, `%5D` → `]`, then `%AZP25` → `%`. The last step is the
//! `DECODE_PERCENTS` knob, on by default since agent 2.184; keyrot escapes `%` as
//! azure-pipelines-task-lib does, so a value holding `%3B` or `%0A` literally survives. (An
//! agent with the knob off shows a literal `%` as `%AZP25`: wrong, but never a different
//! command or an unmasked secret.)
//!
//! Properties escape `%`, `;`, CR, LF and `]` ([`escape_property`]); the data escapes `%`, CR
//! and LF ([`escape_data`]): a `;` or `]` in the data cannot end anything.
//!
//! Every function returns its line without a line ending; callers add `\n`.

use super::inert;

/// Escapes a property value: `%` → `%AZP25` (first), `;` → `%3B`, CR → `%0D`, LF → `%0A`,
/// `]` → `%5D`.
pub fn escape_property(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%AZP25"),
            ';' => out.push_str("%3B"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ']' => out.push_str("%5D"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the data after `]`: `%` → `%AZP25`, CR → `%0D`, LF → `%0A`.
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%AZP25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// Builds `##vso[area.event key=value;key=value;]data`, escaping values and data. Properties
/// with an empty value are left out (the agent drops them). `area_event` and the keys are
/// keyrot's own constants and are written as they are.
pub fn command(area_event: &str, properties: &[(&str, &str)], data: &str) -> String {
    let mut line = format!("##vso[{area_event}");
    let mut first = true;
    for (key, value) in properties.iter().filter(|(_, value)| !value.is_empty()) {
        if first {
            line.push(' ');
            first = false;
        }
        line.push_str(key);
        line.push('=');
        line.push_str(&escape_property(value));
        line.push(';');
    }
    line.push(']');
    line.push_str(&escape_data(data));
    line
}

/// The `type` of `task.logissue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueType {
    Error,
    Warning,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Error => "error",
            IssueType::Warning => "warning",
        }
    }
}

/// `##vso[task.logissue type=error;]message`: an error or warning on the run's summary. The
/// message may quote outside text: it is written as one inert line ([`inert::one_line`]),
/// since the agent logs it as a line of its own, where `##[group]` would fold the log.
pub fn log_issue(kind: IssueType, message: &str) -> String {
    command(
        "task.logissue",
        &[("type", kind.as_str())],
        &inert::one_line(message),
    )
}

/// The `result` of `task.complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskResult {
    Succeeded,
    SucceededWithIssues,
    Failed,
}

impl TaskResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskResult::Succeeded => "Succeeded",
            TaskResult::SucceededWithIssues => "SucceededWithIssues",
            TaskResult::Failed => "Failed",
        }
    }
}

/// `##vso[task.complete result=SucceededWithIssues;]message`: sets the step's result.
pub fn complete(result: TaskResult, message: &str) -> String {
    command("task.complete", &[("result", result.as_str())], message)
}

/// `##vso[task.setvariable variable=NAME;issecret=true;isOutput=true;]value`.
///
/// `secret` makes the agent mask the value and keep it out of the environment of later steps
/// (they must map it explicitly); `output` makes it readable by later jobs as
/// `dependencies.JOB.outputs['STEP.NAME']`. The line carries the value: write it to stdout
/// only. For a multi-line secret, also emit [`set_secret`] so each line is masked.
pub fn set_variable(name: &str, value: &str, secret: bool, output: bool) -> String {
    let properties = [
        ("variable", name),
        ("issecret", if secret { "true" } else { "" }),
        ("isOutput", if output { "true" } else { "" }),
    ];
    command("task.setvariable", &properties, value)
}

/// `##vso[task.setsecret]` lines that make the agent mask `value` in every later log line: the
/// whole value and, for a multi-line value, each distinct non-blank line, a line ending at LF,
/// CRLF or a bare CR as the agent reads it ([`super::github::mask_lines`]), since the agent
/// masks line by line. An empty value gives no lines.
pub fn set_secret(value: &str) -> Vec<String> {
    super::github::mask_lines(value)
        .into_iter()
        .map(|part| command("task.setsecret", &[], part))
        .collect()
}

/// `##[group]name`: the lines up to [`endgroup`] fold under `name` in the log. Line breaks in
/// `name` (which would end the line) become spaces: this is a formatting command, which the
/// agent does not unescape.
pub fn group(name: &str) -> String {
    format!("##[group]{}", name.replace(['\r', '\n'], " "))
}

/// `##[endgroup]`.
pub fn endgroup() -> String {
    "##[endgroup]".to_owned()
}

/// `##[debug]message`: shown only with `system.debug`. Line breaks become spaces.
pub fn debug(message: &str) -> String {
    format!("##[debug]{}", message.replace(['\r', '\n'], " "))
}

#[cfg(test)]
pub(crate) mod parse {
    //! The agent's side, re-implemented from `Command.TryParse` and
    //! `CommandStringConvertor.Unescape` (with `DECODE_PERCENTS` on, its default).

    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Parsed {
        pub area: String,
        pub event: String,
        pub properties: BTreeMap<String, String>,
        pub data: String,
    }

    /// The agent's unescape: the four special symbols, then `%AZP25`.
    pub fn unescape(text: &str) -> String {
        let mut out = text.to_owned();
        for (escaped, plain) in [("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]")] {
            out = out.replace(escaped, plain);
        }
        out.replace("%AZP25", "%")
    }

    /// Parses a line as the agent does, or `None` when it holds no command.
    pub fn command(line: &str) -> Option<Parsed> {
        const PREFIX: &str = "##vso[";
        let start = line.find(PREFIX)?;
        let after = start + PREFIX.len();
        let close = after + line[after..].find(']')?;
        let info = &line[after..close];
        let (name, properties_text) = match info.find(' ') {
            Some(space) => (&info[..space], info[space + 1..].trim()),
            None => (info, ""),
        };
        let (area, event) = name.split_once('.')?;
        let mut properties = BTreeMap::new();
        for pair in properties_text.split(';').filter(|p| !p.is_empty()) {
            let mut parts = pair.splitn(2, '=').filter(|p| !p.is_empty());
            if let (Some(key), Some(value)) = (parts.next(), parts.next()) {
                properties.insert(key.to_owned(), unescape(value));
            }
        }
        Some(Parsed {
            area: area.to_owned(),
            event: event.to_owned(),
            properties,
            data: unescape(&line[close + 1..]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::HOSTILE;

    #[test]
    fn property_escapes() {
        assert_eq!(escape_property("a;b]c\r\nd%e"), "a%3Bb%5Dc%0D%0Ad%AZP25e");
        assert_eq!(escape_property("%3B"), "%AZP253B");
        assert_eq!(escape_property("x=y:z,"), "x=y:z,");
    }

    #[test]
    fn data_escapes() {
        assert_eq!(escape_data("a;b]c\r\nd%e"), "a;b]c%0D%0Ad%AZP25e");
        assert_eq!(escape_data("%AZP25"), "%AZP25AZP25");
    }

    #[test]
    fn commands_have_the_agent_shape() {
        assert_eq!(
            log_issue(IssueType::Error, "db: expired"),
            "##vso[task.logissue type=error;]db: expired"
        );
        assert_eq!(
            log_issue(IssueType::Warning, "w"),
            "##vso[task.logissue type=warning;]w"
        );
        assert_eq!(
            complete(TaskResult::SucceededWithIssues, "2 warnings"),
            "##vso[task.complete result=SucceededWithIssues;]2 warnings"
        );
        assert_eq!(
            complete(TaskResult::Failed, ""),
            "##vso[task.complete result=Failed;]"
        );
        assert_eq!(
            complete(TaskResult::Succeeded, "ok"),
            "##vso[task.complete result=Succeeded;]ok"
        );
        assert_eq!(
            set_variable("KEYROT_STATUS", "warn", false, true),
            "##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]warn"
        );
        assert_eq!(
            set_variable("DB_PASSWORD", "p;a]s%s", true, true),
            "##vso[task.setvariable variable=DB_PASSWORD;issecret=true;isOutput=true;]p;a]s%AZP25s"
        );
        assert_eq!(
            set_variable("plain", "v", false, false),
            "##vso[task.setvariable variable=plain;]v"
        );
        assert_eq!(set_secret("s"), ["##vso[task.setsecret]s"]);
        assert_eq!(group("a\r\nb"), "##[group]a  b");
        assert_eq!(endgroup(), "##[endgroup]");
        assert_eq!(debug("x\ny"), "##[debug]x y");
    }

    #[test]
    fn hostile_strings_round_trip_through_the_agent_parser() {
        for &name in HOSTILE {
            for &value in HOSTILE {
                let line = set_variable(name, value, true, true);
                assert!(!line.contains(['\r', '\n']), "{line:?}");
                let parsed = parse::command(&line).unwrap_or_else(|| panic!("{line:?}"));
                assert_eq!(
                    (parsed.area.as_str(), parsed.event.as_str()),
                    ("task", "setvariable")
                );
                assert_eq!(parsed.properties["variable"], name, "{line:?}");
                assert_eq!(parsed.properties["issecret"], "true");
                assert_eq!(parsed.properties["isOutput"], "true");
                assert_eq!(parsed.data, value, "{line:?}");
            }
            // A message is outside text: it arrives as the one inert line keyrot made of it.
            let issue = parse::command(&log_issue(IssueType::Warning, name)).unwrap();
            assert_eq!(issue.properties["type"], "warning");
            assert_eq!(issue.data, crate::ci::inert::one_line(name), "{name:?}");
        }
    }

    #[test]
    fn the_test_parser_matches_the_agent_on_known_lines() {
        let parsed =
            parse::command("prefix ##vso[task.setvariable variable=a%3Bb;x=;]d%0A%AZP250A")
                .unwrap();
        assert_eq!(parsed.properties["variable"], "a;b");
        assert!(!parsed.properties.contains_key("x"));
        assert_eq!(parsed.data, "d\n%0A");
        assert!(parse::command("##vso[nodot]x").is_none());
        assert!(parse::command("no command").is_none());
        // An unescaped ']' in a property ends the command early: why it is escaped.
        let broken = parse::command("##vso[task.setvariable variable=a]b;]v").unwrap();
        assert_eq!(broken.properties["variable"], "a");
        assert_eq!(broken.data, "b;]v");
    }

    #[test]
    fn every_log_line_of_a_value_with_cr_lf_or_crlf_is_marked_secret() {
        for value in ["one\rtwo", "one\ntwo", "one\r\ntwo", "a\rb\nc\r\nd\n\re%"] {
            let secrets: Vec<String> = set_secret(value)
                .iter()
                .map(|line| {
                    let parsed = parse::command(line).unwrap();
                    assert_eq!(
                        (parsed.area.as_str(), parsed.event.as_str()),
                        ("task", "setsecret")
                    );
                    parsed.data
                })
                .collect();
            assert_eq!(secrets[0], value, "the whole value first");
            for line in crate::ci::github::tests::runner_log_lines(value) {
                assert!(
                    line.trim().is_empty() || secrets.iter().any(|s| s == line),
                    "{value:?}: log line {line:?} is not marked secret; {secrets:?}"
                );
            }
        }
        assert_eq!(set_secret("one\rtwo").len(), 3);
    }

    #[test]
    fn set_secret_covers_the_value_and_each_line() {
        assert_eq!(
            set_secret("one\r\ntwo\n\nthree%"),
            [
                "##vso[task.setsecret]one%0D%0Atwo%0A%0Athree%AZP25",
                "##vso[task.setsecret]one",
                "##vso[task.setsecret]two",
                "##vso[task.setsecret]three%AZP25",
            ]
        );
        assert!(set_secret("").is_empty());
        for &value in HOSTILE {
            if let Some(first) = set_secret(value).first() {
                assert_eq!(parse::command(first).unwrap().data, value);
            }
        }
    }
}
