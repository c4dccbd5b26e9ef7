//! Positions and messages: every error is one line, `origin:line:col: what and why`.

use std::fmt;

use time::Duration;

use crate::check::duration::describe_window;

pub(super) struct Source<'a> {
    pub(super) text: &'a str,
    pub(super) origin: &'a str,
}

impl Source<'_> {
    /// `(line, column)`, both from 1, of a byte offset; the column counts characters.
    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            before[line_start..].chars().count() + 1,
        )
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    /// `origin:line:col: message`.
    pub(super) fn error_at(&self, offset: usize, message: impl fmt::Display) -> String {
        let (line, column) = self.position(offset);
        format!("{}:{line}:{column}: {message}", self.origin)
    }

    pub(super) fn toml_error(&self, error: &toml::de::Error) -> String {
        // The message alone: toml's Display adds a multi-line excerpt, and errors here are one
        // line so CI annotations and logs keep them whole. Serde's names for Rust types mean
        // nothing to the reader of keyrot.toml, so they are translated.
        let mut message = error
            .message()
            .trim_end()
            .replace("struct RawDefaults", "a [defaults] table")
            .replace("struct RawCredential", "a [[credential]] table")
            .replace("struct RawPropagate", "a [[credential.propagate]] table")
            .replace("struct RawTrigger", "a [[credential.trigger]] table")
            .replace("struct RawNotify", "a [[notify]] table")
            .replace("expected i64", "expected a whole number");
        let Some(span) = error.span() else {
            return format!("{}: {message}", self.origin);
        };
        let excerpt = self.text.get(span.clone()).unwrap_or("").trim();
        if excerpt.starts_with("[credential") {
            message.push_str(
                ": write [[credential]] with double brackets, once before each credential",
            );
        } else if !excerpt.is_empty()
            && excerpt.len() <= 80
            && !excerpt.chars().any(char::is_control)
            && !message.contains(excerpt)
        {
            // "duplicate key" says which key only through its position: name it.
            message = format!("{message} `{excerpt}`");
        }
        self.error_at(span.start, message)
    }
}

/// Who an error is about: `[defaults]` or `credential "db-password"`.
#[derive(Clone)]
pub(super) struct Subject(String);

impl Subject {
    pub(super) fn defaults() -> Subject {
        Subject("[defaults]".into())
    }

    /// `credential "x": propagate #2`, `[[notify]] #1`: a part of this subject.
    pub(super) fn part(&self, what: impl fmt::Display) -> Subject {
        Subject(format!("{}: {what}", self.0))
    }

    pub(super) fn notify(index: usize) -> Subject {
        Subject(format!("[[notify]] #{}", index + 1))
    }

    pub(super) fn credential(name: &str) -> Subject {
        Subject(format!("credential {name:?}"))
    }

    pub(super) fn unnamed(index: usize) -> Subject {
        Subject(format!("credential #{}", index + 1))
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A setting with where it came from, so a message about two settings can point at both.
#[derive(Clone, Copy)]
pub(super) struct Setting<T> {
    pub(super) value: T,
    pub(super) from: Place,
}

#[derive(Clone, Copy)]
pub(super) enum Place {
    Credential(usize),
    Defaults(usize),
    BuiltIn,
}

impl Setting<Duration> {
    /// `validity (20 days, line 11)`, `grace (7 days, [defaults] line 4)`,
    /// `rotate_within (30 days, keyrot's default)`.
    pub(super) fn describe(&self, key: &str, src: &Source<'_>) -> String {
        let value = describe_window(self.value);
        match self.from {
            Place::Credential(offset) => format!("{key} ({value}, line {})", src.line(offset)),
            Place::Defaults(offset) => {
                format!("{key} ({value}, [defaults] line {})", src.line(offset))
            }
            Place::BuiltIn => format!("{key} ({value}, keyrot's default)"),
        }
    }
}
