//! Outside text is data, never a command: making every stream keyrot writes inert.
//!
//! Names, tags, content types, display names, key ids, server messages and URLs come from
//! Azure or any server keyrot talks to, and may be hostile. Everything keyrot writes to stdout
//! or stderr is read by the CI runner line by line, and some lines are commands. This module
//! is the one place that decides what outside text may look like on those streams; it is
//! applied always, not only under CI (the machine formats still parse to exactly the same
//! values, and the same report is right in a terminal, a file or a pipeline).
//!
//! # What the runners act on (read from their source, not their docs)
//!
//! GitHub Actions runner (`actions/runner` at 258d6c8, 2026-08):
//! - `ProcessInvoker.StartReadStream` (`src/Runner.Sdk/ProcessInvoker.cs`) splits stdout and
//!   stderr with `StreamReader.ReadLine`: a line ends at LF, CR or CRLF (not at U+0085,
//!   U+2028 or U+2029). Both streams go to one `ActionCommandManager` per step
//!   (`ScriptHandler`, `NodeScriptActionHandler`: `OutputDataReceived` and `ErrorDataReceived`
//!   → `OutputManager.OnDataReceived`), in an order between the two streams that nothing fixes.
//! - `OutputManager.OnDataReceived` (`src/Runner.Worker/Handlers/OutputManager.cs`) passes a
//!   line holding `##[` or `::` anywhere to `ActionCommandManager.TryProcessCommand`, which tries
//!   `ActionCommand.TryParseV2` and then `ActionCommand.TryParse`
//!   (`src/Runner.Common/ActionCommand.cs`):
//!   - V2: `message.TrimStart()` (Unicode `White_Space`), then the line must `StartsWith("::")`;
//!     the command runs to the next `::`, its name to the first space, and the name must be a
//!     registered command, compared case-insensitively (`add-mask`, `add-matcher`, `add-path`,
//!     `debug`, `echo`, `endgroup`, `error`, `group`, `notice`, `remove-matcher`, `save-state`,
//!     `set-env`, `set-output`, `warning`, `stop-commands`, and the current stop token).
//!   - legacy: `IndexOf("##[")` anywhere in the line, the name up to `]` or a space, the same
//!     registered names, properties split on `;`.
//! - `ActionCommandManager.TryProcessCommand` (`src/Runner.Worker/ActionCommandManager.cs`):
//!   `::stop-commands::TOKEN` (the token must not be empty, a registered command or
//!   `pause-logging`) suspends every command of either form until a command whose name is the
//!   token (`::TOKEN::`, or `##[TOKEN]`), case-insensitively; a token longer than 6 characters
//!   is masked in the log. There is one such state per step for stdout and stderr together.
//! - `StartsWith(string)` and `IndexOf(string)` above are culture-sensitive: with ICU (Linux,
//!   macOS) they skip completely ignorable code points, so `:\u{200b}:` can match `::` and
//!   `#\u{ad}#[` can match `##[`. A neutraliser must therefore remove such characters, and must
//!   never break a sequence by inserting one.
//!
//! Azure Pipelines agent (`microsoft/azure-pipelines-agent` at 42bde98, 2026-08):
//! - `ProcessInvoker.StartReadStream` (`src/Agent.Sdk/ProcessInvoker.cs`) splits lines the same
//!   way; `ProcessHandlerV2` and the other handlers pass each line of stdout and stderr to
//!   `WorkerCommandManager.TryProcessCommand` (`src/Agent.Worker/WorkerCommandManager.cs`).
//! - `Command.TryParse` (`src/Microsoft.VisualStudio.Services.Agent/Command.cs`) finds
//!   `IndexOf("##vso[")` anywhere in the line (culture-sensitive, as above), takes the command to
//!   the first `]`, needs `area.event`, splits properties on `;` and unescapes `%3B %0D %0A %5D`
//!   and then `%AZP25`. Only the first command of a line counts.
//! - `##[group]`, `##[endgroup]`, `##[section]`, `##[command]`, `##[error]`, `##[warning]` and
//!   `##[debug]` are formatting commands: the agent's `PagingLogger` (`Logging.cs`) tracks
//!   `##[group]`/`##[endgroup]` anywhere in a line, and the web log renders them (colour,
//!   folding that can hide the lines after).
//! - There is no stop-commands; the agent's own neutraliser for untrusted text
//!   (`StringUtil.DeactivateVsoCommands`) rewrites `##vso` as `**vso`.
//!
//! # What keyrot writes
//!
//! "Hidden" characters ([`is_hidden`]) are the C0 and C1 controls and DEL, format characters
//! (bidi controls, zero-width characters, the soft hyphen, the BOM, tag characters), the line
//! and paragraph separators U+2028/U+2029, the other default-ignorable code points (variation
//! selectors, Hangul fillers) and noncharacters. They are what a runner splits lines on, what
//! ICU skips, or what a log viewer does not show.
//!
//! | format | hidden characters | `[` after `##` or `##vso` (any case) | a line starting with `::` (after white space) |
//! |---|---|---|---|
//! | table, Markdown, logs, errors, annotations ([`field`], [`human`], [`one_line`]) | `\n`, `\r`, `\t`, else `\u{hex}`, visibly | `\[` | `:\:` |
//! | JSON ([`json`]) | `\uXXXX` (a surrogate pair above U+FFFF) | `\u005b` | cannot occur: a JSON line starts with `"`, a bracket or a literal |
//! | XML ([`xml`]) | `&#xHEX;` (C0 controls other than tab, LF, CR and U+FFFE/U+FFFF cannot be in XML 1.0 at all and are dropped) | `&#91;` | `&#58;:` |
//!
//! The JSON and XML rewrites are escapes of the format itself: every JSON parser reads `\u005b`
//! as `[`, every XML parser reads `&#91;` as `[`, so the values a machine reads back are exactly
//! the ones the server sent (save the XML-forbidden controls). In human formats the escapes
//! are visible on purpose: a reader sees that the name holds a line break or a bidi override.
//! A `\` in outside text is shown as it is, so `\n` in a table may also be those two
//! characters; the JSON report is the exact record.
//!
//! In human formats the line breaks of outside text are escaped where the text enters a
//! report ([`field`]); [`human`] then works on whole lines, keeping keyrot's own line breaks,
//! so it is safe to apply to anything keyrot prints, including errors and logs that quote a
//! server.
//!
//! Under GitHub Actions a human report on stdout is also fenced by `::stop-commands::TOKEN` …
//! `::TOKEN::` ([`super::github::StopCommands`], [`super::sink`]) as defence in depth; keyrot's
//! own commands stay outside the fence, and machine formats are never fenced (the fence lines
//! would corrupt a redirected document). Because the runner shares one stop state between
//! stdout and stderr, the escaping above is what makes output inert; the fence only adds to it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is a character that a runner splits lines on, that culture-sensitive matching
/// skips, or that a log does not show: C0/C1 controls and DEL, `Cf` format characters, U+2028
/// and U+2029, the other `Default_Ignorable_Code_Point`s and the noncharacters (ranges from
/// Unicode 15's `DerivedCoreProperties.txt` and `UnicodeData.txt`).
pub fn is_hidden(c: char) -> bool {
    let n = u32::from(c);
    matches!(
        n,
        0x00..=0x1F
            | 0x7F..=0x9F
            | 0xAD
            | 0x34F
            | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFDD0..=0xFDEF
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    ) || n & 0xFFFE == 0xFFFE
}

/// One outside string for a human format (a table cell, a Markdown cell, a sentence): every
/// hidden character, line breaks included, becomes a visible escape (`\n`, `\r`, `\t`,
/// `\u{200b}`), so the string stays on its line and shows what it holds. Command sequences
/// are broken by [`human`], which sees whole lines.
pub fn field(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Human text (a report, a log line, an error, possibly several lines) made safe for a stream a
/// runner reads. keyrot's own line breaks (`\n`) are kept; every other hidden character is
/// escaped as by [`field`] (ANSI colour sequences `ESC [ … m` survive when `keep_sgr`, for a
/// terminal); a `[` after `##` or `##vso` becomes `\[`; and a line whose first characters
/// after white space are `::` gets `:\:` instead.
pub fn human(text: &str, keep_sgr: bool) -> Cow<'_, str> {
    if nothing_to_do(text, |c| c == '\n', true) {
        return Cow::Borrowed(text);
    }
    rewrite(text, |out, rest, at_line_start| {
        let c = rest.chars().next()?;
        if c == '\n' {
            out.push('\n');
            return Some(1);
        }
        if keep_sgr {
            if let Some(len) = sgr_len(rest) {
                out.push_str(&rest[..len]);
                return Some(len);
            }
        }
        if is_hidden(c) {
            push_visible(out, c);
            return Some(c.len_utf8());
        }
        if c == '[' && after_command_prefix(out) {
            out.push_str("\\[");
            return Some(1);
        }
        if at_line_start && rest.starts_with("::") {
            out.push_str(":\\");
            return Some(1);
        }
        None
    })
}

/// Text for a place that holds one line, such as an annotation's title or message: [`field`]
/// shows line breaks and every other hidden character as escapes, then [`human`] breaks `##[`,
/// `##vso[` and a leading `::`. The runners unescape an annotation's `%0A` into a real line
/// break and log the message (the Azure agent's paging logger acts on `##[group]` anywhere in
/// a line), so the protocol's own escapes are not enough for outside text there.
pub fn one_line(text: &str) -> Cow<'_, str> {
    match field(text) {
        Cow::Borrowed(text) => human(text, false),
        Cow::Owned(text) => Cow::Owned(human(&text, false).into_owned()),
    }
}

/// A serialised JSON document made inert without changing any value: hidden characters
/// (which serde_json leaves raw, apart from the C0 controls it escapes inside strings) become
/// `\uXXXX` escapes, and a `[` after `##` or `##vso` becomes `\u005b`. Both can only occur
/// inside strings (JSON's own syntax is ASCII punctuation, and its `[` never follows a `#`), so
/// the result parses to the same value. The document's own line breaks and indentation stay.
pub fn json(text: &str) -> Cow<'_, str> {
    if nothing_to_do(text, |c| matches!(c, '\n' | '\r' | '\t'), false) {
        return Cow::Borrowed(text);
    }
    rewrite(text, |out, rest, _| {
        let c = rest.chars().next()?;
        if c == '\n' || c == '\r' || c == '\t' {
            // Outside strings: serde_json escapes every control character inside one.
            return None;
        }
        if is_hidden(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
            return Some(c.len_utf8());
        }
        if c == '[' && after_command_prefix(out) {
            out.push_str("\\u005b");
            return Some(1);
        }
        None
    })
}

/// A serialised XML document made inert without changing any value its readers see: hidden
/// characters become character references (or are dropped where XML 1.0 cannot carry them at
/// all), a `[` after `##` or `##vso` becomes `&#91;`, and a line of text that would start with
/// `::` starts with `&#58;:`. The document's tabs and line breaks stay (keyrot's renderers
/// write outside line breaks as references already).
pub fn xml(text: &str) -> Cow<'_, str> {
    if nothing_to_do(text, |c| matches!(c, '\n' | '\r' | '\t'), true) {
        return Cow::Borrowed(text);
    }
    rewrite(text, |out, rest, at_line_start| {
        let c = rest.chars().next()?;
        if c == '\n' || c == '\r' || c == '\t' {
            return None;
        }
        if is_hidden(c) {
            let n = u32::from(c);
            let forbidden = n < 0x20 || n == 0xFFFE || n == 0xFFFF;
            if !forbidden {
                let _ = write!(out, "&#x{n:X};");
            }
            return Some(c.len_utf8());
        }
        if c == '[' && after_command_prefix(out) {
            out.push_str("&#91;");
            return Some(1);
        }
        if at_line_start && rest.starts_with("::") {
            out.push_str("&#58;");
            return Some(1);
        }
        // A dropped character between two colons (`:\u{1}:`) must not join them at a line start.
        if c == ':' && current_line(out).trim_start() == ":" {
            out.push_str("&#58;");
            return Some(1);
        }
        None
    })
}

/// What was written of the line being written (runners end a line at LF or CR).
fn current_line(out: &str) -> &str {
    out.rsplit(['\n', '\r']).next().unwrap_or(out)
}

/// Whether `text`, written as it is, holds nothing either runner would act on: no hidden
/// character but line breaks and tabs, no `##[` or `##vso[` (any case), and no line starting
/// with `::` after white space. For text keyrot cannot rewrite (a value in an env file).
pub fn is_inert(text: &str) -> bool {
    for line in text.split(['\n', '\r']) {
        if line.chars().any(|c| is_hidden(c) && c != '\t') {
            return false;
        }
        if line.trim_start().starts_with("::") {
            return false;
        }
        let lower = line.to_ascii_lowercase();
        if lower.contains("##[") || lower.contains("##vso[") {
            return false;
        }
    }
    true
}

/// A quick scan, so a large clean report is not copied: no hidden character but the `allowed`
/// ones, no `##` at all, and (with `lines`) no line starting with `::` after white space.
fn nothing_to_do(text: &str, allowed: impl Fn(char) -> bool, lines: bool) -> bool {
    let line_starts_with_colons = || text.split('\n').any(|l| l.trim_start().starts_with("::"));
    let work = text.contains("##")
        || text.chars().any(|c| is_hidden(c) && !allowed(c))
        || (lines && line_starts_with_colons());
    !work
}

/// Runs `step` at every position of `text`; `step` either writes its own replacement for what
/// starts there and returns how many bytes it consumed, or returns `None` to copy one
/// character. `at_line_start` is true while only white space precedes on the current line.
/// Returns the text unchanged (borrowed) when no step replaced anything.
fn rewrite<F>(text: &str, mut step: F) -> Cow<'_, str>
where
    F: FnMut(&mut String, &str, bool) -> Option<usize>,
{
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut at_line_start = true;
    let mut index = 0;
    while index < text.len() {
        let rest = &text[index..];
        let before = out.len();
        let consumed = match step(&mut out, rest, at_line_start) {
            Some(consumed) => {
                if out[before..] != rest[..consumed] {
                    changed = true;
                }
                consumed
            }
            None => {
                let c = rest.chars().next().unwrap_or('\0');
                out.push(c);
                c.len_utf8()
            }
        };
        let written = &out[before..];
        if written.ends_with('\n') {
            at_line_start = true;
        } else if !written.chars().all(char::is_whitespace) {
            at_line_start = false;
        }
        index += consumed.max(1);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Whether what was written so far ends with `##` or `##vso` (any case): a `[` now would start
/// a command of one runner or the other.
fn after_command_prefix(out: &str) -> bool {
    let bytes = out.as_bytes();
    if bytes.ends_with(b"##") {
        return true;
    }
    bytes.len() >= 5 && bytes[bytes.len() - 5..].eq_ignore_ascii_case(b"##vso")
}

/// The length of an ANSI "select graphic rendition" sequence (`ESC [ digits ; … m`) at the
/// start of `text`, if there is one.
fn sgr_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::HOSTILE;

    #[test]
    fn hidden_characters_are_the_invisible_and_the_line_breaking() {
        for c in [
            '\0',
            '\n',
            '\r',
            '\t',
            '\x1b',
            '\x7f',
            '\u{85}',
            '\u{9f}',
            '\u{ad}',
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{202e}',
            '\u{2028}',
            '\u{2029}',
            '\u{2066}',
            '\u{feff}',
            '\u{fe0f}',
            '\u{3164}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{fffe}',
            '\u{10ffff}',
        ] {
            assert!(is_hidden(c), "{:x}", u32::from(c));
        }
        for c in [
            ' ', 'a', '#', ':', '[', 'é', '\u{a0}', '✓', '🔑', '日', '\u{fffd}',
        ] {
            assert!(!is_hidden(c), "{:x}", u32::from(c));
        }
    }

    #[test]
    fn fields_show_hidden_characters_on_one_line() {
        assert_eq!(field("plain ✓"), "plain ✓");
        assert!(matches!(field("plain"), Cow::Borrowed(_)));
        assert_eq!(
            field("a\nb\r\tc\x1b[2J\u{202e}d\u{2028}"),
            "a\\nb\\r\\tc\\u{1b}[2J\\u{202e}d\\u{2028}"
        );
        assert_eq!(field("\u{e0001}"), "\\u{e0001}");
        for &hostile in HOSTILE {
            let shown = field(hostile);
            assert!(!shown.contains(['\n', '\r']), "{shown:?}");
        }
    }

    #[test]
    fn human_text_breaks_both_runners_sequences_visibly() {
        assert_eq!(
            human("x ##vso[task.setvariable variable=a]b", false),
            "x ##vso\\[task.setvariable variable=a]b"
        );
        assert_eq!(human("##[error]x ##VSO[y", false), "##\\[error]x ##VSO\\[y");
        assert_eq!(human("::error::x", false), ":\\:error::x");
        assert_eq!(
            human("ok\n  \u{a0}::warning::x\nb::c", false),
            "ok\n  \u{a0}:\\:warning::x\nb::c"
        );
        // A hidden character between the two halves is shown, so nothing can match across it.
        assert_eq!(human("#\u{200b}#[x", false), "#\\u{200b}#[x");
        assert_eq!(human(":\u{ad}:x", false), ":\\u{ad}:x");
        // keyrot's own line breaks stay; CR does not.
        assert_eq!(human("a\r\n::b", false), "a\\r\n:\\:b");
        assert!(matches!(
            human("nothing here: a::b", false),
            Cow::Borrowed(_)
        ));
        // Colours survive only when asked for, and only as colours.
        assert_eq!(human("\x1b[31mfail\x1b[0m", true), "\x1b[31mfail\x1b[0m");
        assert_eq!(human("\x1b[31mfail", false), "\\u{1b}[31mfail");
        assert_eq!(human("\x1b]0;title\x07", true), "\\u{1b}]0;title\\u{7}");
    }

    #[test]
    fn one_line_shows_breaks_and_breaks_sequences() {
        assert_eq!(one_line("plain: a, b"), "plain: a, b");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
        assert_eq!(
            one_line("x\n##[group]y\u{200b}##vso[task.complete]"),
            "x\\n##\\[group]y\\u{200b}##vso\\[task.complete]"
        );
        assert_eq!(one_line("::error::x"), ":\\:error::x");
        for &hostile in HOSTILE {
            let shown = one_line(hostile);
            assert!(is_inert(&shown), "{hostile:?} → {shown:?}");
            assert!(!shown.contains(['\n', '\r']), "{shown:?}");
        }
    }

    #[test]
    fn json_keeps_every_value() {
        let hostile: Vec<String> = HOSTILE
            .iter()
            .map(|s| s.to_string())
            .chain([
                "##vso[task.prependpath]/tmp/x".to_owned(),
                "##[group]x".to_owned(),
                "##VsO[x".to_owned(),
                "\u{2028}\u{2029}\u{85}\u{200b}\u{e0001}\u{7f}\u{feff}".to_owned(),
                "###[[##vso[[".to_owned(),
            ])
            .collect();
        let value = serde_json::json!({ "values": hostile, "##[key": {"##vso[": "##"} });
        for text in [
            serde_json::to_string_pretty(&value).unwrap(),
            serde_json::to_string(&value).unwrap(),
        ] {
            let inert = json(&text);
            assert!(is_inert(&inert), "{inert}");
            let back: serde_json::Value = serde_json::from_str(&inert).unwrap();
            assert_eq!(back, value);
        }
        assert_eq!(json("[\"##[x\"]"), "[\"##\\u005bx\"]");
        assert_eq!(json("\"\u{2028}\u{e0001}\""), "\"\\u2028\\udb40\\udc01\"");
    }

    #[test]
    fn xml_references_and_breaks() {
        assert_eq!(
            xml("<a b=\"##[x\">##vso[y</a>"),
            "<a b=\"##&#91;x\">##vso&#91;y</a>"
        );
        assert_eq!(
            xml("<a>\n  ::warning::x</a>"),
            "<a>\n  &#58;:warning::x</a>"
        );
        assert_eq!(xml("<a>\u{2028}\u{1}\u{85}</a>"), "<a>&#x2028;&#x85;</a>");
        // A dropped character cannot join two colons at a line start (found by fuzzing).
        assert_eq!(xml("<a>\n:\u{1}:x</a>"), "<a>\n:&#58;x</a>");
        assert_eq!(xml("<a>\r \u{4}:\u{4}\u{4}:x</a>"), "<a>\r :&#58;x</a>");
        assert!(is_inert(&xml("<a>\n\t:\u{1f}:error::x</a>")));
        assert_eq!(xml("<a>x:\u{1}:y</a>"), "<a>x::y</a>");
        assert!(matches!(xml("<a>\n\t</a>\r\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn inert_means_no_command_on_any_line() {
        for bad in [
            "::error::x",
            " \t::x",
            "a\n::b",
            "a\r::b",
            "x##[y",
            "x##vSo[y",
            "a\u{200b}b",
            "a\u{2028}b",
        ] {
            assert!(!is_inert(bad), "{bad:?}");
        }
        for good in ["a::b", "##", "[##]", "#[", "vso[", "tab\there", "a\nb"] {
            assert!(is_inert(good), "{good:?}");
        }
    }
}
