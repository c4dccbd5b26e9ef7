//! dotenv files that mean the same thing to a POSIX shell (`set -a; . file`, bash and dash) and
//! to python-dotenv (interpolation off): each value comes back byte for byte, and nothing in a
//! value ever runs.
//!
//! The two readers share only two quoting forms, and each carries some values:
//!
//! - `NAME='value'`: the shell takes everything literally up to the next `'`; python-dotenv
//!   also treats `\` as escaping the next character and turns `\\` into `\` and `\'` into `'`.
//!   So: no `'`, no `\\`, and no `\` at the end (it would escape the closing quote).
//! - `NAME="value"` with `\` written `\\` and `"` written `\"`: both readers undo exactly those
//!   two escapes, but the shell expands `$` and backticks inside double quotes, and
//!   python-dotenv has no escape for them (`\$` stays `\$`). So: no `$`, no backtick.
//!
//! A value fits one of them unless it holds a `'` or backslash pattern *and* a `$` or backtick.
//! Three things fit neither: a carriage return (python-dotenv reads files with universal
//! newlines, so a raw CR becomes LF, and the shell has no escape for CR in either quoting form),
//! a NUL (no environment variable can hold one), and the combination above. Such a value is
//! refused with the reason, never written differently; `--format json` carries any value.

use std::fmt;

use zeroize::Zeroizing;

/// Why a value cannot be written to a dotenv file unchanged. Says nothing about the value
/// beyond the kind of character that stands in the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrepresentable {
    CarriageReturn,
    Nul,
    QuoteOrBackslashWithExpansion,
}

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unrepresentable::CarriageReturn => {
                "it contains a carriage return (CR), which python-dotenv reads as a line feed and a shell cannot write escaped"
            }
            Unrepresentable::Nul => {
                "it contains a NUL character, which no environment variable can hold"
            }
            Unrepresentable::QuoteOrBackslashWithExpansion => {
                "it contains a ' or a backslash together with a $ or a backtick, a combination no quoting both a POSIX shell and python-dotenv read literally can carry"
            }
        })
    }
}

/// How a value is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Single,
    Double,
}

fn quoting(value: &str) -> Result<Quoting, Unrepresentable> {
    if value.contains('\r') {
        return Err(Unrepresentable::CarriageReturn);
    }
    if value.contains('\0') {
        return Err(Unrepresentable::Nul);
    }
    if !value.contains('\'') && !value.contains("\\\\") && !value.ends_with('\\') {
        return Ok(Quoting::Single);
    }
    if !value.contains(['$', '`']) {
        return Ok(Quoting::Double);
    }
    Err(Unrepresentable::QuoteOrBackslashWithExpansion)
}

/// Whether `value` can be written; the reason if not.
pub fn check(value: &str) -> Result<(), Unrepresentable> {
    quoting(value).map(|_| ())
}

/// Appends `NAME=…\n` to `out`. `name` must already be a valid variable name
/// (`variables::env_problem`); the value is quoted as the module explains, or refused.
pub fn push_line(out: &mut String, name: &str, value: &str) -> Result<(), Unrepresentable> {
    let quoting = quoting(value)?;
    out.push_str(name);
    out.push('=');
    match quoting {
        Quoting::Single => {
            out.push('\'');
            out.push_str(value);
            out.push('\'');
        }
        Quoting::Double => {
            out.push('"');
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
    out.push('\n');
    Ok(())
}

/// A whole file, one line per pair, in a buffer reserved up front (so no reallocation leaves a
/// copy of a value behind) and wiped when dropped. On a refused value: the index of its pair.
pub fn document(pairs: &[(&str, &str)]) -> Result<Zeroizing<String>, (usize, Unrepresentable)> {
    // Worst case: every character escaped (2×), plus name, `=`, quotes and newline.
    let bound: usize = pairs.iter().map(|(n, v)| n.len() + 2 * v.len() + 4).sum();
    let mut out = Zeroizing::new(String::with_capacity(bound));
    for (index, (name, value)) in pairs.iter().enumerate() {
        push_line(&mut out, name, value).map_err(|why| (index, why))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, value: &str) -> Result<String, Unrepresentable> {
        let mut out = String::new();
        push_line(&mut out, name, value).map(|()| out)
    }

    #[test]
    fn literal_values_are_single_quoted() {
        assert_eq!(line("A", "p@$$w0rd #1").unwrap(), "A='p@$$w0rd #1'\n");
        assert_eq!(
            line("A", "$(touch x) `id`").unwrap(),
            "A='$(touch x) `id`'\n"
        );
        assert_eq!(
            line("A", "a\\b \"q\"\nnext").unwrap(),
            "A='a\\b \"q\"\nnext'\n"
        );
        assert_eq!(line("A", "").unwrap(), "A=''\n");
    }

    #[test]
    fn quotes_and_backslash_pairs_are_double_quoted_with_two_escapes() {
        assert_eq!(line("B", "it's").unwrap(), "B=\"it's\"\n");
        assert_eq!(line("B", "a\\\\b").unwrap(), "B=\"a\\\\\\\\b\"\n");
        assert_eq!(line("B", "ends\\").unwrap(), "B=\"ends\\\\\"\n");
        assert_eq!(line("B", "it's \"x\"").unwrap(), "B=\"it's \\\"x\\\"\"\n");
    }

    #[test]
    fn values_no_shared_quoting_can_carry_are_refused() {
        assert_eq!(line("C", "a\rb"), Err(Unrepresentable::CarriageReturn));
        assert_eq!(line("C", "a\r\nb"), Err(Unrepresentable::CarriageReturn));
        assert_eq!(line("C", "a\0b"), Err(Unrepresentable::Nul));
        for value in ["it's $HOME", "it's `id`", "a\\\\$b", "$x\\"] {
            assert_eq!(
                line("C", value),
                Err(Unrepresentable::QuoteOrBackslashWithExpansion),
                "{value:?}"
            );
        }
        // The reason never repeats the value.
        let why = Unrepresentable::QuoteOrBackslashWithExpansion.to_string();
        assert!(!why.contains("HOME"));
    }

    #[test]
    fn documents_name_the_refused_pair() {
        let doc = document(&[("A", "1"), ("B", "2")]).unwrap();
        assert_eq!(doc.as_str(), "A='1'\nB='2'\n");
        assert_eq!(
            document(&[("A", "1"), ("B", "x\ry")]).unwrap_err(),
            (1, Unrepresentable::CarriageReturn)
        );
    }
}
