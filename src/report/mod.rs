//! Rendering of check reports: table, JSON, Markdown, JUnit.
//!
//! Every renderer is a pure function from a [`CheckReport`] to a `String`; writing it anywhere
//! is the caller's job. Findings are rendered in the report's order (most urgent first).
//!
//! - [`table`]: aligned text for logs and terminals;
//! - [`json`]: the versioned machine contract;
//! - [`markdown`]: a GitHub step summary, with a size-limited variant;
//! - [`junit`]: test results for Azure DevOps;
//! - `cells`: what each column shows, shared by the human formats;
//! - [`grid`]: the aligned columns of every plain-text table keyrot prints (`rotate`'s too).

mod cells;
pub mod grid;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod table;

use crate::check::CheckReport;

pub use cells::{counts_line, display_name, location, location_long, unreadable_what, vault_short};
pub use markdown::{render_limited as render_markdown_limited, GITHUB_STEP_SUMMARY_LIMIT};

/// The output format of `keyrot check` (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The versioned JSON document for scripts.
    Json,
    /// GitHub-flavoured Markdown, e.g. for a step summary.
    Markdown,
    /// JUnit XML, e.g. for Azure DevOps' Publish Test Results.
    Junit,
}

impl Format {
    /// The name used on the command line (`table`, `json`, `markdown`, `junit`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
        }
    }
}

/// Renders the report in `format`. `color` adds ANSI colours to the table and is ignored by
/// the other formats, which are read by machines or rendered elsewhere.
pub fn render(report: &CheckReport, format: Format, color: bool) -> String {
    match format {
        Format::Table => table::render(report, color),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report),
        Format::Junit => junit::render(report),
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;
    use crate::check::fixtures::{record, NOW};
    use crate::check::Policy;

    #[test]
    fn format_names_match_the_command_line() {
        for format in Format::value_variants() {
            let name = format.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(name.as_deref(), Some(format.as_str()));
        }
    }

    #[test]
    fn render_dispatches_and_only_the_table_is_coloured() {
        let report = CheckReport::evaluate(vec![record("api-key")], &Policy::default(), NOW);
        assert!(render(&report, Format::Table, true).contains('\x1b'));
        assert!(render(&report, Format::Table, false).starts_with("SEVERITY"));
        assert!(render(&report, Format::Json, true).starts_with("{\n"));
        assert!(render(&report, Format::Markdown, true).starts_with("### keyrot check"));
        assert!(render(&report, Format::Junit, true).starts_with("<?xml"));
        for format in [Format::Json, Format::Markdown, Format::Junit] {
            assert!(
                !render(&report, format, true).contains('\x1b'),
                "{format:?}"
            );
        }
    }
}
