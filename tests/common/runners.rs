//! The two runners' command parsers, re-implemented test-side from their source (see
//! `src/ci/inert.rs` for the files and functions; deliberately not sharing its code, so each
//! checks the other), a little stricter than the originals wherever a guess was needed, so
//! passing here means passing there:
//!
//! - lines end at LF, CR or CRLF (`StreamReader.ReadLine`);
//! - before matching, characters that ICU's culture-sensitive `IndexOf`/`StartsWith` may skip
//!   are removed from the line ([`ignorable`], a superset of ICU's completely ignorable code
//!   points as far as this test knows);
//! - Azure's `##vso[` and the `##[` prefix are matched case-insensitively (the agent is
//!   case-sensitive there);
//! - every `##[` counts on Azure, where the agent does not execute it but its log and web view
//!   act on `##[group]` and friends.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// The commands GitHub's runner registers (`ActionCommandManager` and its extensions).
const GITHUB_COMMANDS: &[&str] = &[
    "add-mask",
    "add-matcher",
    "add-path",
    "debug",
    "echo",
    "endgroup",
    "error",
    "group",
    "notice",
    "remove-matcher",
    "save-state",
    "set-env",
    "set-output",
    "warning",
    "stop-commands",
];

/// A command either runner would act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// GitHub: the command name, lower-cased; Azure: `area.event`, or `##[name` for a
    /// formatting command.
    pub name: String,
    pub properties: BTreeMap<String, String>,
    pub data: String,
    /// The line it came from, for failure messages.
    pub line: String,
}

/// Characters removed before matching: every control but tab, format characters, separators,
/// variation selectors, tag characters, Hangul fillers.
pub fn ignorable(c: char) -> bool {
    let n = u32::from(c);
    (c.is_control() && c != '\t')
        || matches!(
            n,
            0xAD | 0x34F
                | 0x61C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF9..=0xFFFB
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

/// Splits like `StreamReader.ReadLine`: LF, CR, or CRLF.
pub fn read_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

fn view(line: &str) -> String {
    line.chars().filter(|&c| !ignorable(c)).collect()
}

fn unescape(text: &str, table: &[(&str, &str)]) -> String {
    table
        .iter()
        .fold(text.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

/// `key=value` pairs split on `separator`, each on its first `=`, empty parts dropped (both
/// runners), values unescaped with `table`.
fn properties(text: &str, separator: char, table: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    for pair in text.split(separator).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, '=').filter(|p| !p.is_empty());
        if let (Some(k), Some(v)) = (parts.next(), parts.next()) {
            properties.insert(k.to_owned(), unescape(v, table));
        }
    }
    properties
}

/// The first command GitHub's runner would act on in one line, if any (no stop state).
pub fn github_line(line: &str) -> Option<Command> {
    github(line).0.into_iter().next()
}

/// The logging command the Azure agent would act on in one line, if any.
pub fn azure_line(line: &str) -> Option<Command> {
    azure(line).into_iter().find(|c| !c.name.starts_with("##"))
}

/// What GitHub's runner does with one stream: the commands it acts on, in order, honouring
/// `::stop-commands::`. Returns the commands and the stop token still open at the end, if any.
pub fn github(text: &str) -> (Vec<Command>, Option<String>) {
    let mut commands = Vec::new();
    let mut stop: Option<String> = None;
    for line in read_lines(text) {
        let seen = view(line);
        if !seen.contains("##[") && !seen.contains("::") {
            continue;
        }
        let registered = |name: &str| {
            GITHUB_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(name))
                || stop
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(name))
        };
        let Some(command) = github_v2(&seen, &registered)
            .or_else(|| github_legacy(&seen, &registered))
            .map(|mut c| {
                c.line = line.to_owned();
                c
            })
        else {
            continue;
        };
        if let Some(token) = &stop {
            if command.name.eq_ignore_ascii_case(token) {
                stop = None;
                commands.push(command);
            }
            continue;
        }
        if command.name == "stop-commands" {
            let token = command.data.clone();
            let valid = !token.is_empty()
                && !GITHUB_COMMANDS
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(&token))
                && !token.eq_ignore_ascii_case("pause-logging");
            assert!(
                valid,
                "invalid stop token (the runner fails the step): {line:?}"
            );
            stop = Some(token);
        }
        commands.push(command);
    }
    (commands, stop)
}

fn github_v2(line: &str, registered: &dyn Fn(&str) -> bool) -> Option<Command> {
    let line = line.trim_start();
    let rest = line.strip_prefix("::")?;
    let end = rest.find("::")?;
    let (info, data) = (&rest[..end], &rest[end + 2..]);
    let (name, props) = match info.find(' ') {
        Some(space) => (&info[..space], info[space + 1..].trim()),
        None => (info, ""),
    };
    if !registered(name) {
        return None;
    }
    let table = [
        ("%0D", "\r"),
        ("%0A", "\n"),
        ("%3A", ":"),
        ("%2C", ","),
        ("%25", "%"),
    ];
    Some(Command {
        name: name.to_ascii_lowercase(),
        properties: properties(props, ',', &table),
        data: unescape(data, &[("%0D", "\r"), ("%0A", "\n"), ("%25", "%")]),
        line: String::new(),
    })
}

fn github_legacy(line: &str, registered: &dyn Fn(&str) -> bool) -> Option<Command> {
    let start = line.find("##[")? + 3;
    let close = start + line[start..].find(']')?;
    let info = &line[start..close];
    let name = info.split(' ').next().unwrap_or(info);
    if !registered(name) {
        return None;
    }
    Some(Command {
        name: name.to_ascii_lowercase(),
        properties: BTreeMap::new(),
        data: line[close + 1..].to_owned(),
        line: String::new(),
    })
}

/// What the Azure agent (and its log) acts on in one stream: `##vso[` logging commands and
/// `##[` formatting commands, anywhere in a line, any case. A line the agent takes as a
/// logging command is consumed by it, so formatting inside it does not count.
pub fn azure(text: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    for line in read_lines(text) {
        let seen = view(line);
        let lower = seen.to_ascii_lowercase();
        if let Some(at) = lower.find("##vso[") {
            let start = at + "##vso[".len();
            let info_end = seen[start..].find(']').filter(|&close| {
                let info = &seen[start..start + close];
                let name = info.split(' ').next().unwrap_or(info);
                name.split('.').filter(|p| !p.is_empty()).count() == 2
            });
            let (name, properties, data) = match info_end {
                Some(close) => {
                    let info = &seen[start..start + close];
                    let (name, props) = info.split_once(' ').unwrap_or((info, ""));
                    let table = [
                        ("%3B", ";"),
                        ("%0D", "\r"),
                        ("%0A", "\n"),
                        ("%5D", "]"),
                        ("%AZP25", "%"),
                    ];
                    let data = unescape(&seen[start + close + 1..], &table);
                    (name.to_owned(), properties(props, ';', &table), data)
                }
                // Not `area.event` up to a `]`: the agent warns about it and logs the line.
                None => (String::from("##vso[?"), BTreeMap::new(), String::new()),
            };
            let parsed = name != "##vso[?";
            commands.push(Command {
                name,
                properties,
                data,
                line: line.to_owned(),
            });
            if parsed {
                // The agent consumes the line as that command: the rest never reaches the log.
                continue;
            }
        }
        let mut from = 0;
        while let Some(at) = lower[from..].find("##[") {
            let start = from + at + 3;
            let name: String = lower[start..]
                .chars()
                .take_while(|c| *c != ']' && *c != ' ')
                .collect();
            commands.push(Command {
                name: format!("##[{name}"),
                properties: BTreeMap::new(),
                data: seen[start..].to_owned(),
                line: line.to_owned(),
            });
            from = start;
        }
    }
    commands
}
