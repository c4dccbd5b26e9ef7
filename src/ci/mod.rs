//! Speaking the CI system's own protocol: annotations, masks, output variables, step summaries.
//!
//! - [`github`]: GitHub Actions workflow commands (`::error …::`) and runner file commands
//!   (`$GITHUB_OUTPUT`, `$GITHUB_ENV`, `$GITHUB_STEP_SUMMARY`);
//! - [`azure`]: Azure Pipelines logging commands (`##vso[…]`);
//! - [`publish`]: what `keyrot check` tells each system about a report;
//! - [`inert`]: how outside text is written on every stream, so neither runner acts on it;
//! - [`sink`]: the log writer for stderr and the stop-commands fence for stdout.
//!
//! The line builders are pure; the environment is always passed in as a lookup function, so
//! detection and publishing are testable without touching the process environment.

pub mod azure;
pub mod github;
pub mod inert;
pub mod publish;
pub mod sink;

use std::io::{self, Write};

/// Looks up an environment variable (`std::env::var(name).ok()` in the binary).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`Env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The CI system whose logging protocol keyrot speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CiSystem {
    GitHub,
    Azure,
    None,
}

impl CiSystem {
    /// `GITHUB_ACTIONS=true` → GitHub; else `TF_BUILD` equal to `True` (any case) → Azure;
    /// else none. GitHub wins when both are set (a GitHub job launched from Azure, or the
    /// reverse, logs to GitHub's runner).
    pub fn detect(env: Env<'_>) -> CiSystem {
        if env("GITHUB_ACTIONS").as_deref() == Some("true") {
            CiSystem::GitHub
        } else if env("TF_BUILD").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            CiSystem::Azure
        } else {
            CiSystem::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CiSystem::GitHub => "github",
            CiSystem::Azure => "azure",
            CiSystem::None => "none",
        }
    }
}

/// `--ci` / `KEYROT_CI`: a system, or `auto` to detect it from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum CiChoice {
    /// Detect: GITHUB_ACTIONS=true → github, TF_BUILD=True → azure, else none.
    #[default]
    Auto,
    /// GitHub Actions workflow commands and runner files.
    #[value(name = "github")]
    GitHub,
    /// Azure Pipelines logging commands.
    Azure,
    /// Nothing beyond the report.
    None,
}

impl CiChoice {
    /// The system to speak to: the one chosen, or the detected one for `auto`.
    pub fn resolve(self, env: Env<'_>) -> CiSystem {
        match self {
            CiChoice::Auto => CiSystem::detect(env),
            CiChoice::GitHub => CiSystem::GitHub,
            CiChoice::Azure => CiSystem::Azure,
            CiChoice::None => CiSystem::None,
        }
    }
}

/// How serious an annotation is, in either system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Error,
    Warning,
}

/// Writes one annotation line for `system` to `out`: `::error title=…::message` (or
/// `::warning`) on GitHub, `##vso[task.logissue type=error;]message` on Azure (which has no
/// titles), nothing otherwise.
pub fn annotate(
    system: CiSystem,
    out: &mut dyn Write,
    level: Level,
    title: &str,
    message: &str,
) -> io::Result<()> {
    let line = match (system, level) {
        (CiSystem::GitHub, level) => github::annotation(
            match level {
                Level::Error => github::Level::Error,
                Level::Warning => github::Level::Warning,
            },
            &github::Annotation {
                title: Some(title),
                ..github::Annotation::default()
            },
            message,
        ),
        (CiSystem::Azure, Level::Error) => azure::log_issue(azure::IssueType::Error, message),
        (CiSystem::Azure, Level::Warning) => azure::log_issue(azure::IssueType::Warning, message),
        (CiSystem::None, _) => return Ok(()),
    };
    writeln!(out, "{line}")
}

/// Strings a hostile vault, tag, message or secret could hold, for round-trip tests.
#[cfg(test)]
pub(crate) const HOSTILE: &[&str] = &[
    "plain",
    "%",
    "%25",
    "%2525",
    "%AZP25",
    "%AZP25AZP25",
    "%0A%0D%3A%2C%3B%5D",
    "100%",
    "a:b",
    "a::b",
    "::error::injected",
    "a,b,c",
    "k=v,title=x",
    "semi;colon",
    "bracket]close",
    "##vso[task.complete result=Failed;]x",
    "line\nbreak",
    "crlf\r\nend",
    "lone\rcr",
    "\n\n",
    "trailing\n",
    "ünïcödé ✓ 🔑 日本",
    "ghadelimiter_00",
    "EOF",
    "tab\tand space ",
    "##[warning]legacy form",
    "team\n##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]pass\n##vso[task.prependpath]/tmp/attacker-bin",
    "::stop-commands::pwned",
    "pwned",
    "::pwned::",
    "sep\u{2028}::error::x\u{2029}##[group]y",
    "nel\u{85}::error::x",
    ":\u{200b}:error::zero-width",
    "#\u{ad}#vso[task.complete result=Succeeded;]soft-hyphen",
    "\u{202e}bidi",
    "  ::notice::indented",
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::ValueEnum;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn detection_follows_the_runners_variables() {
        assert_eq!(CiSystem::detect(&env(&[])), CiSystem::None);
        assert_eq!(
            CiSystem::detect(&env(&[("GITHUB_ACTIONS", "true")])),
            CiSystem::GitHub
        );
        for value in ["True", "true", "TRUE"] {
            assert_eq!(
                CiSystem::detect(&env(&[("TF_BUILD", value)])),
                CiSystem::Azure
            );
        }
        for (key, value) in [
            ("GITHUB_ACTIONS", "True"),
            ("GITHUB_ACTIONS", "1"),
            ("GITHUB_ACTIONS", ""),
            ("TF_BUILD", "1"),
            ("TF_BUILD", "False"),
            ("TF_BUILD", ""),
            ("CI", "true"),
        ] {
            assert_eq!(
                CiSystem::detect(&env(&[(key, value)])),
                CiSystem::None,
                "{key}={value}"
            );
        }
        assert_eq!(
            CiSystem::detect(&env(&[("GITHUB_ACTIONS", "true"), ("TF_BUILD", "True")])),
            CiSystem::GitHub
        );
    }

    #[test]
    fn choices_override_detection() {
        let github = env(&[("GITHUB_ACTIONS", "true")]);
        assert_eq!(CiChoice::Auto.resolve(&github), CiSystem::GitHub);
        assert_eq!(CiChoice::None.resolve(&github), CiSystem::None);
        assert_eq!(CiChoice::Azure.resolve(&github), CiSystem::Azure);
        assert_eq!(CiChoice::GitHub.resolve(&env(&[])), CiSystem::GitHub);
        let names: Vec<String> = CiChoice::value_variants()
            .iter()
            .filter_map(|c| c.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect();
        assert_eq!(names, ["auto", "github", "azure", "none"]);
        assert_eq!(CiChoice::default(), CiChoice::Auto);
        assert_eq!(
            CiChoice::Auto.resolve(&|name: &str| (name == "TF_BUILD").then(|| "True".into())),
            CiSystem::Azure
        );
    }

    fn annotated(system: CiSystem, level: Level) -> String {
        let mut out = Vec::new();
        annotate(system, &mut out, level, "keyrot: a, b", "m: 100%").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn annotations_speak_each_systems_protocol() {
        assert_eq!(
            annotated(CiSystem::GitHub, Level::Error),
            "::error title=keyrot%3A a%2C b::m: 100%25\n"
        );
        assert_eq!(
            annotated(CiSystem::GitHub, Level::Warning),
            "::warning title=keyrot%3A a%2C b::m: 100%25\n"
        );
        assert_eq!(
            annotated(CiSystem::Azure, Level::Error),
            "##vso[task.logissue type=error;]m: 100%AZP25\n"
        );
        assert_eq!(
            annotated(CiSystem::Azure, Level::Warning),
            "##vso[task.logissue type=warning;]m: 100%AZP25\n"
        );
        assert_eq!(annotated(CiSystem::None, Level::Error), "");
        let mut out = Vec::new();
        annotate(CiSystem::GitHub, &mut out, Level::Error, "t", "m").unwrap();
        assert_eq!(out, b"::error title=t::m\n");
    }

    #[test]
    fn annotations_carry_outside_text_as_one_inert_line() {
        let title = "keyrot: x\n##[group]hidden";
        let message = "a\u{202e}b\n##vso[task.complete result=Succeeded;]\r::error::c";
        let mut out = Vec::new();
        annotate(CiSystem::GitHub, &mut out, Level::Error, title, message).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error title=keyrot%3A x\\n##\\[group]hidden::a\\u{202e}b\\n##vso\\[task.complete result=Succeeded;]\\r::error::c\n"
        );
        let mut out = Vec::new();
        annotate(CiSystem::Azure, &mut out, Level::Warning, title, message).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "##vso[task.logissue type=warning;]a\\u{202e}b\\n##vso\\[task.complete result=Succeeded;]\\r::error::c\n"
        );
        // What each runner unescapes (the title and the message it logs) is inert.
        for &text in HOSTILE {
            let line = github::annotation(
                github::Level::Warning,
                &github::Annotation {
                    title: Some(text),
                    ..github::Annotation::default()
                },
                text,
            );
            let parsed = github::parse::command(&line).unwrap();
            assert!(inert::is_inert(&parsed.properties["title"]), "{line}");
            assert!(inert::is_inert(&parsed.data), "{line}");
            let parsed = azure::parse::command(&azure::log_issue(azure::IssueType::Error, text));
            assert!(inert::is_inert(&parsed.unwrap().data), "{text:?}");
        }
    }
}
