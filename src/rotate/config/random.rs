//! The `random` generator: its settings and their validation.

use std::fmt;

use super::credential::RawCredential;
use super::source::{Source, Subject};

/// Length of a `random` credential's random part when `length` is not given.
pub const DEFAULT_LENGTH: usize = 32;
/// Shortest random part accepted.
pub const MIN_LENGTH: usize = 16;
/// Longest random part accepted.
pub const MAX_LENGTH: usize = 1024;
/// The placeholder a `template` must contain exactly once.
pub const RANDOM_PLACEHOLDER: &str = "{random}";

/// The settings of the `random` generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomSpec {
    /// Characters in the random part, `MIN_LENGTH..=MAX_LENGTH`.
    pub length: usize,
    pub charset: Charset,
    /// The value's shape, with [`RANDOM_PLACEHOLDER`] exactly once (`sk_live_{random}`).
    pub template: Option<String>,
    /// A program (argv, no shell) that receives the new value on stdin and exits 0 if it works.
    pub verify_command: Option<Vec<String>>,
    /// Environment variables passed through to `verify_command`, besides `PATH` (its
    /// environment is otherwise empty: keyrot's own credentials never reach it).
    pub verify_env: Vec<String>,
}

/// The characters a random part is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    /// `[A-Za-z0-9]`, 62 symbols.
    Alphanumeric,
    /// `[A-Za-z0-9-_]`, 64 symbols.
    Base64Url,
    /// `[0-9a-f]`, 16 symbols.
    Hex,
    /// `0x21..=0x7E`, every printable ASCII character but space, 94 symbols.
    AsciiPrintable,
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";
const ASCII_PRINTABLE: [u8; 94] = {
    let mut symbols = [0u8; 94];
    let mut i = 0;
    while i < symbols.len() {
        symbols[i] = 0x21 + i as u8;
        i += 1;
    }
    symbols
};

impl Charset {
    pub const ALL: [Charset; 4] = [
        Charset::Alphanumeric,
        Charset::Base64Url,
        Charset::Hex,
        Charset::AsciiPrintable,
    ];

    /// The name used in `keyrot.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Alphanumeric => "alphanumeric",
            Charset::Base64Url => "base64url",
            Charset::Hex => "hex",
            Charset::AsciiPrintable => "ascii-printable",
        }
    }

    /// The distinct ASCII symbols of the charset.
    pub fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Alphanumeric => ALPHANUMERIC,
            Charset::Base64Url => BASE64URL,
            Charset::Hex => HEX,
            Charset::AsciiPrintable => &ASCII_PRINTABLE,
        }
    }

    fn parse(text: &str) -> Option<Charset> {
        Charset::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(super) fn read_random(
    src: &Source<'_>,
    subject: &Subject,
    raw: &RawCredential,
) -> Result<RandomSpec, String> {
    let length = match &raw.length {
        None => DEFAULT_LENGTH,
        Some(length) => {
            let value = *length.get_ref();
            match usize::try_from(value) {
                Ok(n) if (MIN_LENGTH..=MAX_LENGTH).contains(&n) => n,
                _ => {
                    return Err(src.error_at(
                        length.span().start,
                        format_args!(
                            "{subject}: length {value} is out of range: use \
                             {MIN_LENGTH} to {MAX_LENGTH} characters"
                        ),
                    ))
                }
            }
        }
    };

    let charset = match &raw.charset {
        None => Charset::Alphanumeric,
        Some(charset) => Charset::parse(charset.get_ref()).ok_or_else(|| {
            let names: Vec<String> = Charset::ALL
                .iter()
                .map(|c| format!("\"{}\"", c.as_str()))
                .collect();
            src.error_at(
                charset.span().start,
                format_args!(
                    "{subject}: unknown charset {:?}: use {}",
                    charset.get_ref(),
                    names.join(", ")
                ),
            )
        })?,
    };

    let template = match &raw.template {
        None => None,
        Some(template) => {
            check_template(template.get_ref()).map_err(|why| {
                src.error_at(
                    template.span().start,
                    format_args!("{subject}: template {why}"),
                )
            })?;
            Some(template.get_ref().clone())
        }
    };

    let verify_command = match &raw.verify_command {
        None => None,
        Some(command) => {
            let at = command.span().start;
            let argv = command.get_ref();
            if argv.is_empty() {
                return Err(src.error_at(
                    at,
                    format_args!(
                        "{subject}: verify_command is empty: give the program and its \
                         arguments, like [\"./check-db.sh\", \"--quick\"], or remove the key"
                    ),
                ));
            }
            if argv[0].trim().is_empty() {
                return Err(src.error_at(
                    at,
                    format_args!(
                        "{subject}: verify_command's first element must name the program to run"
                    ),
                ));
            }
            if argv.iter().any(|arg| arg.contains('\0')) {
                return Err(src.error_at(
                    at,
                    format_args!(
                        "{subject}: verify_command contains a NUL character, which no \
                         program argument can hold"
                    ),
                ));
            }
            Some(argv.clone())
        }
    };

    let verify_env = match &raw.verify_env {
        None => Vec::new(),
        Some(names) => {
            for name in names.get_ref() {
                check_verify_env(name).map_err(|why| {
                    src.error_at(
                        names.span().start,
                        format_args!("{subject}: verify_env {name:?}: {why}"),
                    )
                })?;
            }
            names.get_ref().clone()
        }
    };

    Ok(RandomSpec {
        length,
        charset,
        template,
        verify_command,
        verify_env,
    })
}

/// Variables that carry keyrot's own credentials (or the CI's tokens for them): never passed
/// to a `verify_command`, whatever the config says.
pub(super) const CREDENTIAL_VARIABLES: &[&str] = &[
    "AZURE_",
    "KEYROT_",
    "ACTIONS_ID_TOKEN_",
    "AZURESUBSCRIPTION_",
    "SYSTEM_ACCESSTOKEN",
    "SYSTEM_OIDCREQUESTURI",
    "IDENTITY_",
    "MSI_",
];

/// A `verify_env` entry is a plain variable name that carries none of keyrot's credentials.
pub(super) fn check_verify_env(name: &str) -> Result<(), String> {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return Err("not an environment variable name (letters, digits and _)".into());
    }
    let upper = name.to_ascii_uppercase();
    if let Some(prefix) = CREDENTIAL_VARIABLES.iter().find(|p| upper.starts_with(*p)) {
        return Err(format!(
            "variables starting with {prefix} carry keyrot's own credentials and never reach \
             verify_command; give the command its own credentials under another name"
        ));
    }
    Ok(())
}

/// A template holds [`RANDOM_PLACEHOLDER`] exactly once and no other `{word}` placeholder (a
/// misspelt `{randm}` would otherwise end up, literally, in every value). Other braces, as in
/// a JSON template `{"key":"{random}"}`, are literal.
pub(super) fn check_template(template: &str) -> Result<(), String> {
    let count = template.matches(RANDOM_PLACEHOLDER).count();
    if count != 1 {
        return Err(format!(
            "must contain {RANDOM_PLACEHOLDER} exactly once, where the random part goes \
             (it contains it {count} times), like \"sk_live_{RANDOM_PLACEHOLDER}\""
        ));
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let word = &after[..close];
            if word != "random"
                && !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "has an unknown placeholder {{{word}}}: only {RANDOM_PLACEHOLDER} is \
                     supported"
                ));
            }
        }
        rest = after;
    }
    Ok(())
}
