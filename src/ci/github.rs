//! GitHub Actions: workflow commands on stdout and the runner's file commands.
//!
//! Workflow commands are lines of the form `::name key=value,key=value::data`. The runner
//! (`ActionCommand.TryParseV2`) finds the first `::` after the leading one, splits the
//! properties on `,` and each on its first `=`, and unescapes properties and data with fixed
//! tables; [`escape_property`] and [`escape_data`] are their inverses. Properties must escape
//! `:` and `,` (they would end the property list or the property), data need not.
//!
//! File commands (`$GITHUB_OUTPUT`, `$GITHUB_ENV`) are appended to files the runner reads after
//! the step. keyrot always writes the heredoc form `name<<DELIMITER`, value lines, `DELIMITER`,
//! with a random delimiter that does not occur in the value: the value is then taken verbatim,
//! whatever it contains.
//!
//! Every function that builds a line returns it without a line ending; callers add `\n`.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use super::inert;

/// The prefix of every heredoc delimiter keyrot writes (the toolkit uses the same one).
pub const DELIMITER_PREFIX: &str = "ghadelimiter_";

/// Escapes the data part of a workflow command (after the second `::`): `%`, CR and LF.
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a property value of a workflow command: what [`escape_data`] escapes, plus `:`
/// (which would end the property list) and `,` (which would end the property).
pub fn escape_property(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' => out.push_str("%3A"),
            ',' => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

/// Builds `::name key=value,…::data`, escaping every value and the data. Properties with an
/// empty value are left out (the runner ignores them anyway). `name` and the keys are keyrot's
/// own constants and are written as they are.
pub fn command(name: &str, properties: &[(&str, &str)], data: &str) -> String {
    let mut line = format!("::{name}");
    let mut first = true;
    for (key, value) in properties.iter().filter(|(_, value)| !value.is_empty()) {
        line.push(if first { ' ' } else { ',' });
        first = false;
        line.push_str(key);
        line.push('=');
        line.push_str(&escape_property(value));
    }
    line.push_str("::");
    line.push_str(&escape_data(data));
    line
}

/// The kind of annotation a workflow command creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    /// The command's name (`error`, `warning`, `notice`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// Where an annotation points and what it is called; every field is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Annotation<'a> {
    pub title: Option<&'a str>,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
}

/// `::error title=…,file=…,line=…::message` (or `warning`, `notice`). The title and the
/// message may quote outside text: each is written as one inert line ([`inert::one_line`]),
/// since the runner turns them into a log line and an annotation of their own.
pub fn annotation(level: Level, annotation: &Annotation<'_>, message: &str) -> String {
    let line = annotation.line.map(|n| n.to_string());
    let title = inert::one_line(annotation.title.unwrap_or(""));
    let properties = [
        ("title", title.as_ref()),
        ("file", annotation.file.unwrap_or("")),
        ("line", line.as_deref().unwrap_or("")),
    ];
    command(level.as_str(), &properties, &inert::one_line(message))
}

/// `::debug::message`: shown only when step debug logging is on.
pub fn debug(message: &str) -> String {
    command("debug", &[], message)
}

/// `::add-mask::` lines that make the runner mask `value` in every later log line: one for the
/// whole value and, for a value with line breaks, one per line, because the runner masks line
/// by line. Empty and blank lines are skipped (masking whitespace would blank the log). An
/// empty value gives no lines.
///
/// These lines carry the value itself: write them to stdout only, never to a file or a log.
pub fn add_mask(value: &str) -> Vec<String> {
    mask_lines(value)
        .into_iter()
        .map(|part| command("add-mask", &[], part))
        .collect()
}

/// The whole value, then each distinct non-blank line of it. A line ends at LF, CRLF or a bare
/// CR: both runners read a step's output with .NET's `ReadLine`, which ends a line at any of
/// the three, so a value printed with a bare CR reaches the masker as two lines.
pub(crate) fn mask_lines(value: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    if value.trim().is_empty() {
        return parts;
    }
    parts.push(value);
    if value.contains(['\n', '\r']) {
        for line in value.split(['\n', '\r']) {
            // A CRLF yields an empty piece between CR and LF; blank pieces are skipped.
            if !line.trim().is_empty() && !parts.contains(&line) {
                parts.push(line);
            }
        }
    }
    parts
}

/// `::group::name`: the lines up to [`endgroup`] fold under `name` in the log.
pub fn group(name: &str) -> String {
    command("group", &[], name)
}

/// `::endgroup::`.
pub fn endgroup() -> String {
    command("endgroup", &[], "")
}

/// A fresh heredoc delimiter: [`DELIMITER_PREFIX`] and 128 random bits in hex, from the OS.
pub fn new_delimiter() -> io::Result<String> {
    random_token(DELIMITER_PREFIX)
}

/// `prefix` and 128 random bits from the OS, in lower-case hex.
fn random_token(prefix: &str) -> io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("cannot read the OS random source: {e}")))?;
    let mut token = String::with_capacity(prefix.len() + 32);
    token.push_str(prefix);
    for byte in bytes {
        token.push_str(&format!("{byte:02x}"));
    }
    Ok(token)
}

/// A `::stop-commands::TOKEN` … `::TOKEN::` pair: between the two lines the runner acts on no
/// workflow command of either form (`::name::` or `##[name]`). The token is random (128 bits),
/// so text inside cannot guess it to resume early; it is never a command's name, and being
/// longer than six characters, the runner masks it in the log. The runner keeps one stop
/// state for stdout and stderr together: keyrot writes nothing it means as a command, on
/// either stream, while a fence is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopCommands {
    token: String,
}

impl StopCommands {
    /// A pair with a fresh random token.
    pub fn new() -> io::Result<StopCommands> {
        Ok(StopCommands {
            token: random_token("keyrot-")?,
        })
    }

    /// `::stop-commands::TOKEN`.
    pub fn start(&self) -> String {
        command("stop-commands", &[], &self.token)
    }

    /// `::TOKEN::`: the runner acts on commands again.
    pub fn resume(&self) -> String {
        format!("::{}::", self.token)
    }
}

/// Renders `name<<DELIMITER\nvalue\nDELIMITER\n` for each pair, taking delimiters from
/// `next_delimiter` and drawing again while one occurs in the value.
///
/// Names are refused (as [`io::ErrorKind::InvalidInput`], naming the variable but never the
/// value) when empty or containing `=`, `<<`, CR, LF or the delimiter: the runner would read
/// such a line as another form or another name.
pub fn render_file_command(
    pairs: &[(&str, &str)],
    mut next_delimiter: impl FnMut() -> io::Result<String>,
) -> io::Result<String> {
    // Reserved for keyrot's own delimiters, so that growing the text never leaves a copy of a
    // value behind in freed memory: per pair, `<<` and three line feeds besides the name, the
    // value and two delimiters.
    let delimiter_len = DELIMITER_PREFIX.len() + 32;
    let mut text = String::with_capacity(
        pairs
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2 * delimiter_len + 5)
            .sum(),
    );
    for (name, value) in pairs {
        check_name(name)?;
        // 128 random bits make a collision practically impossible; the bound only guarantees
        // termination should the source ever repeat itself.
        let mut delimiter = next_delimiter()?;
        let mut draws = 1;
        while delimiter.is_empty() || value.contains(delimiter.as_str()) {
            if draws >= 16 {
                return Err(invalid(format!(
                    "cannot find a heredoc delimiter absent from the value of {name:?}"
                )));
            }
            delimiter = next_delimiter()?;
            draws += 1;
        }
        if name.contains(delimiter.as_str()) {
            return Err(invalid(format!(
                "invalid runner variable name {name:?}: it contains the heredoc delimiter"
            )));
        }
        text.push_str(name);
        text.push_str("<<");
        text.push_str(&delimiter);
        text.push('\n');
        text.push_str(value);
        text.push('\n');
        text.push_str(&delimiter);
        text.push('\n');
    }
    Ok(text)
}

fn check_name(name: &str) -> io::Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.contains('=') {
        Some("it contains '='")
    } else if name.contains("<<") {
        Some("it contains '<<'")
    } else if name.contains(['\r', '\n']) {
        Some("it contains a line break")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(invalid(format!(
            "invalid runner variable name {name:?}: {problem}"
        ))),
        None => Ok(()),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Appends `pairs` to a runner file command (`$GITHUB_OUTPUT`, `$GITHUB_ENV`, …) in the heredoc
/// form with fresh random delimiters, creating the file if missing. All pairs are validated
/// first and written with one `write`, so a refused name writes nothing.
///
/// The text carries the values (`fetch` writes secrets this way), so its buffer is wiped once
/// written.
pub fn append_file_command(path: &Path, pairs: &[(&str, &str)]) -> io::Result<()> {
    let text = zeroize::Zeroizing::new(render_file_command(pairs, new_delimiter)?);
    append(path, &text)
}

/// Appends Markdown to the job summary file (`$GITHUB_STEP_SUMMARY`), ending it with a
/// newline so whatever is appended next starts on its own line.
pub fn append_step_summary(path: &Path, markdown: &str) -> io::Result<()> {
    if markdown.is_empty() || markdown.ends_with('\n') {
        append(path, markdown)
    } else {
        append(path, &format!("{markdown}\n"))
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

#[cfg(test)]
pub(crate) mod parse {
    //! The runner's side, re-implemented from its documented rules for the tests: what
    //! `ActionCommand.TryParseV2` and the file-command reader make of keyrot's output.

    use std::collections::BTreeMap;

    /// A parsed workflow command.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Parsed {
        pub name: String,
        pub properties: BTreeMap<String, String>,
        pub data: String,
    }

    fn replace_all(text: &str, table: &[(&str, &str)]) -> String {
        let mut out = text.to_owned();
        for (escaped, plain) in table {
            out = out.replace(escaped, plain);
        }
        out
    }

    /// The runner's data table, applied in its order (`%25` last).
    pub fn unescape_data(text: &str) -> String {
        replace_all(text, &[("%0D", "\r"), ("%0A", "\n"), ("%25", "%")])
    }

    /// The runner's property table, applied in its order (`%25` last).
    pub fn unescape_property(text: &str) -> String {
        replace_all(
            text,
            &[
                ("%0D", "\r"),
                ("%0A", "\n"),
                ("%3A", ":"),
                ("%2C", ","),
                ("%25", "%"),
            ],
        )
    }

    /// Parses one line as the runner does, or `None` when it is not a command.
    pub fn command(line: &str) -> Option<Parsed> {
        let line = line.trim_start();
        let rest = line.strip_prefix("::")?;
        let end = rest.find("::")?;
        let info = &rest[..end];
        let data = &rest[end + 2..];
        let (name, properties_text) = match info.find(' ') {
            Some(space) => (&info[..space], Some(info[space + 1..].trim())),
            None => (info, None),
        };
        if name.is_empty() {
            return None;
        }
        let mut properties = BTreeMap::new();
        if let Some(text) = properties_text {
            for pair in text.split(',').filter(|p| !p.is_empty()) {
                let mut parts = pair.splitn(2, '=').filter(|p| !p.is_empty());
                if let (Some(key), Some(value)) = (parts.next(), parts.next()) {
                    properties.insert(key.to_owned(), unescape_property(value));
                }
            }
        }
        Some(Parsed {
            name: name.to_owned(),
            properties,
            data: unescape_data(data),
        })
    }

    /// Reads a file-command file as the runner does (Linux line endings): `NAME=VALUE` lines
    /// and `NAME<<DELIMITER` heredocs. Errors are the runner's refusals.
    pub fn file_command(text: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut index = 0;
        while let Some(line) = read_line(text, &mut index) {
            if line.is_empty() {
                continue;
            }
            let equals = line.find('=');
            let heredoc = line.find("<<");
            match (equals, heredoc) {
                (Some(e), h) if h.is_none_or(|h| e < h) => {
                    let (name, value) = (&line[..e], &line[e + 1..]);
                    if name.is_empty() {
                        return Err(format!("empty name in {line:?}"));
                    }
                    out.push((name.to_owned(), value.to_owned()));
                }
                (_, Some(h)) => {
                    let (name, delimiter) = (&line[..h], &line[h + 2..]);
                    if name.is_empty() || delimiter.is_empty() {
                        return Err(format!("empty name or delimiter in {line:?}"));
                    }
                    let start = index;
                    let mut end = index;
                    loop {
                        let before = index;
                        match read_line(text, &mut index) {
                            None => return Err(format!("delimiter {delimiter:?} not found")),
                            Some(l) if l == delimiter => break,
                            Some(l) => end = before + l.len(),
                        }
                    }
                    let value = if end > start { &text[start..end] } else { "" };
                    out.push((name.to_owned(), value.to_owned()));
                }
                _ => return Err(format!("invalid line {line:?}")),
            }
        }
        Ok(out)
    }

    fn read_line<'t>(text: &'t str, index: &mut usize) -> Option<&'t str> {
        if *index >= text.len() {
            return None;
        }
        let start = *index;
        match text[start..].find('\n') {
            Some(lf) => {
                *index = start + lf + 1;
                Some(&text[start..start + lf])
            }
            None => {
                *index = text.len();
                Some(&text[start..])
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::parse;
    use super::*;
    use crate::ci::HOSTILE;

    #[test]
    fn data_escapes_percent_cr_lf_only() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_data("a:b,c;d]"), "a:b,c;d]");
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_data(""), "");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(escape_property("%\r\n"), "%25%0D%0A");
        assert_eq!(escape_property("::"), "%3A%3A");
        assert_eq!(escape_property("semi;]"), "semi;]");
    }

    #[test]
    fn commands_have_the_runner_shape() {
        assert_eq!(
            command("error", &[("title", "t: x"), ("file", "a,b")], "m\n"),
            "::error title=t%3A x,file=a%2Cb::m%0A"
        );
        assert_eq!(command("endgroup", &[], ""), "::endgroup::");
        assert_eq!(
            command("warning", &[("title", ""), ("file", "f")], "m"),
            "::warning file=f::m"
        );
        assert_eq!(
            annotation(
                Level::Warning,
                &Annotation {
                    title: Some("keyrot: x"),
                    ..Annotation::default()
                },
                "msg"
            ),
            "::warning title=keyrot%3A x::msg"
        );
        assert_eq!(
            annotation(
                Level::Error,
                &Annotation {
                    title: Some("T"),
                    file: Some("f.rs"),
                    line: Some(7)
                },
                "m"
            ),
            "::error title=T,file=f.rs,line=7::m"
        );
        assert_eq!(
            annotation(Level::Notice, &Annotation::default(), "n"),
            "::notice::n"
        );
        assert_eq!(debug("d:1"), "::debug::d:1");
        assert_eq!(group("a\nb"), "::group::a%0Ab");
        assert_eq!(endgroup(), "::endgroup::");
    }

    #[test]
    fn hostile_strings_round_trip_through_the_runner_parser() {
        for &title in HOSTILE {
            for &message in HOSTILE {
                let line = command("error", &[("title", title), ("file", "x")], message);
                assert!(!line.contains(['\r', '\n']), "{line:?}");
                let parsed = parse::command(&line).unwrap_or_else(|| panic!("{line:?}"));
                assert_eq!(parsed.name, "error");
                assert_eq!(parsed.properties["title"], title, "{line:?}");
                assert_eq!(parsed.properties["file"], "x", "{line:?}");
                assert_eq!(parsed.data, message, "{line:?}");
            }
        }
    }

    #[test]
    fn the_test_parser_matches_the_runner_on_known_lines() {
        // Sanity checks of the parser itself, from the runner's documented behaviour.
        let parsed = parse::command("  ::warning title=a%3Ab,line=3::x%250A").unwrap();
        assert_eq!(parsed.name, "warning");
        assert_eq!(parsed.properties["title"], "a:b");
        assert_eq!(parsed.properties["line"], "3");
        assert_eq!(parsed.data, "x%0A");
        assert!(parse::command("no command").is_none());
        assert!(parse::command("::unterminated").is_none());
        // An unescaped ':' in a property ends the property list early: why it is escaped.
        let broken = parse::command("::error title=a::b::c").unwrap();
        assert_eq!(broken.properties["title"], "a");
        assert_eq!(broken.data, "b::c");
    }

    #[test]
    fn add_mask_covers_the_value_and_each_line() {
        assert_eq!(add_mask("s3cr%t"), ["::add-mask::s3cr%25t"]);
        assert_eq!(
            add_mask("line-one\r\nline-two\n\n  \nline-three\n"),
            [
                "::add-mask::line-one%0D%0Aline-two%0A%0A  %0Aline-three%0A",
                "::add-mask::line-one",
                "::add-mask::line-two",
                "::add-mask::line-three",
            ]
        );
        assert!(add_mask("").is_empty());
        assert!(add_mask(" \n ").is_empty());
        // A repeated line is masked once.
        assert_eq!(add_mask("a\na").len(), 2);
        for &value in HOSTILE {
            for line in add_mask(value) {
                let parsed = parse::command(&line).unwrap();
                assert_eq!(parsed.name, "add-mask");
                assert!(
                    parsed.data == value || value.contains(parsed.data.as_str()),
                    "{value:?} → {line:?}"
                );
            }
            let masked = add_mask(value);
            if !value.trim().is_empty() {
                assert_eq!(parse::command(&masked[0]).unwrap().data, value);
            }
        }
    }

    /// How both runners cut a step's output into log lines: .NET's `ReadLine` ends a line at
    /// LF, CRLF or a bare CR.
    pub(crate) fn runner_log_lines(text: &str) -> Vec<&str> {
        let mut lines = Vec::new();
        let mut rest = text;
        while let Some(end) = rest.find(['\r', '\n']) {
            lines.push(&rest[..end]);
            let skip = if rest[end..].starts_with("\r\n") {
                2
            } else {
                1
            };
            rest = &rest[end + skip..];
        }
        lines.push(rest);
        lines
    }

    #[test]
    fn every_log_line_of_a_value_with_cr_lf_or_crlf_is_masked() {
        for value in [
            "one\rtwo",
            "one\ntwo",
            "one\r\ntwo",
            "a\rb\nc\r\nd\n\re",
            "\rlead and trail\r",
            "x\r\r\ny",
        ] {
            let masks: Vec<String> = add_mask(value)
                .iter()
                .map(|line| {
                    let parsed = parse::command(line).unwrap();
                    assert_eq!(parsed.name, "add-mask");
                    parsed.data
                })
                .collect();
            assert_eq!(masks[0], value, "the whole value first");
            for line in runner_log_lines(value) {
                assert!(
                    line.trim().is_empty() || masks.iter().any(|m| m == line),
                    "{value:?}: log line {line:?} has no mask; masks {masks:?}"
                );
            }
        }
        // A lone CR gives the whole value and both parts (it used to give one mask).
        assert_eq!(add_mask("one\rtwo").len(), 3);
    }

    #[test]
    fn stop_commands_pair_parses_as_the_runner_expects() {
        let stop = StopCommands::new().unwrap();
        let start = parse::command(&stop.start()).unwrap();
        assert_eq!(start.name, "stop-commands");
        let token = start.data;
        assert!(token.starts_with("keyrot-") && token.len() == 39, "{token}");
        let resume = parse::command(&stop.resume()).unwrap();
        assert_eq!(
            (resume.name.as_str(), resume.data.as_str()),
            (token.as_str(), "")
        );
        assert_ne!(StopCommands::new().unwrap(), stop);
    }

    #[test]
    fn delimiters_are_random_hex_with_the_prefix() {
        let a = new_delimiter().unwrap();
        let b = new_delimiter().unwrap();
        assert_ne!(a, b);
        let hex = a.strip_prefix(DELIMITER_PREFIX).unwrap();
        assert_eq!(hex.len(), 32);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn file_commands_use_the_heredoc_form() {
        let text = render_file_command(&[("status", "fail"), ("multi", "a\nb")], || {
            Ok("ghadelimiter_X".to_owned())
        })
        .unwrap();
        assert_eq!(
            text,
            "status<<ghadelimiter_X\nfail\nghadelimiter_X\nmulti<<ghadelimiter_X\na\nb\nghadelimiter_X\n"
        );
    }

    #[test]
    fn file_commands_fill_the_buffer_reserved_up_front() {
        // A buffer that grew would have left a copy of a value behind in freed memory: the
        // reservation is exact for keyrot's own delimiters, so a grown one would be larger.
        let text =
            render_file_command(&[("a", "v"), ("multi", "x\ny\n"), ("e", "")], new_delimiter)
                .unwrap();
        assert_eq!(text.capacity(), text.len(), "{text}");
    }

    #[test]
    fn a_delimiter_found_in_the_value_is_drawn_again() {
        let mut draws = vec!["ghadelimiter_B".to_owned(), "ghadelimiter_A".to_owned()];
        let value = "before\nghadelimiter_A\nafter";
        let text = render_file_command(&[("v", value)], || Ok(draws.pop().unwrap())).unwrap();
        assert_eq!(
            text,
            format!("v<<ghadelimiter_B\n{value}\nghadelimiter_B\n")
        );
        assert_eq!(
            parse::file_command(&text).unwrap(),
            [("v".to_owned(), value.to_owned())]
        );
        // A source that keeps repeating itself ends in an error, not a loop.
        let error =
            render_file_command(&[("v", value)], || Ok("ghadelimiter_A".into())).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(!error.to_string().contains("before"), "{error}");
    }

    #[test]
    fn bad_names_are_refused_without_echoing_the_value() {
        for name in ["", "a=b", "a<<b", "a\nb", "a\rb", "x_ghadelimiter_X"] {
            let error =
                render_file_command(&[(name, "SECRET-VALUE")], || Ok("ghadelimiter_X".into()))
                    .unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{name:?}");
            assert!(error.to_string().contains("invalid runner variable name"));
            assert!(!error.to_string().contains("SECRET-VALUE"));
        }
    }

    #[test]
    fn hostile_values_round_trip_through_the_runner_file_parser() {
        let names: Vec<String> = (0..HOSTILE.len()).map(|i| format!("name_{i}")).collect();
        let mut pairs: Vec<(&str, &str)> = names
            .iter()
            .zip(HOSTILE)
            .map(|(n, v)| (n.as_str(), *v))
            .collect();
        pairs.push(("empty", ""));
        pairs.push(("odd-name.with:chars", "v"));
        let text = render_file_command(&pairs, new_delimiter).unwrap();
        let parsed = parse::file_command(&text).unwrap();
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn append_file_command_appends_and_creates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output");
        append_file_command(&path, &[("a", "1")]).unwrap();
        append_file_command(&path, &[("b", "2\n3"), ("c", "")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            parse::file_command(&text).unwrap(),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2\n3".to_owned()),
                ("c".to_owned(), String::new()),
            ]
        );
        assert_eq!(text.matches(DELIMITER_PREFIX).count(), 6);
        // A refused name writes nothing, not even the valid pairs before it.
        let before = std::fs::read_to_string(&path).unwrap();
        assert!(append_file_command(&path, &[("ok", "1"), ("bad=name", "2")]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        // A missing folder is an error, not a panic.
        assert!(append_file_command(&dir.path().join("no/such/file"), &[("a", "1")]).is_err());
    }

    #[test]
    fn step_summary_appends_with_a_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        append_step_summary(&path, "# one").unwrap();
        append_step_summary(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# one\ntwo\n");
    }
}
