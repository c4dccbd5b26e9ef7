//! `keyrot.toml`: the declarative rotation plan.
//!
//! ```toml
//! [defaults]
//! vault = "myvault"            # name or https URL
//! rotate_within = "30d"        # rotate when the current version expires within this
//! validity = "90d"             # lifetime of a new credential (its exp)
//! grace = "7d"                 # how long the previous credential stays enabled after a rotation
//! verify_timeout = "5m"        # how long verification may take (Entra replication delay)
//! content_type = "text/plain"  # optional
//!
//! [[credential]]
//! name = "db-password"
//! generator = "random"         # length, charset, template, verify_command
//! length = 40
//!
//! [[credential]]
//! name = "billing-api-client-secret"
//! generator = "entra-app-password"
//! application = "00000000-0000-0000-0000-000000000000"
//! validity = "180d"            # any [defaults] key may be overridden per credential
//! ```
//!
//! Reading happens in two stages. Serde reads the text into `Raw*` mirrors that keep every
//! value's position ([`Spanned`]) and refuse unknown keys (`deny_unknown_fields` everywhere, so
//! a typo such as `lenght` is an error naming its line, never a silently ignored setting). Then
//! [`Config::from_toml_str`] applies the defaults and judges the result, naming the credential
//! and the line of every problem. Every error is one line, `origin:line:col: what and why`.
//!
//! Room for later sections (consumers to update, pipelines to re-trigger, people to notify):
//! each is one more optional field on `RawCredential` (and on [`CredentialSpec`]), with its own
//! `deny_unknown_fields` type. They are not accepted today: an unknown key is always an error.
//!
//! Built-in defaults when neither `[defaults]` nor the credential sets a key: `rotate_within`
//! 30d, `validity` 90d, `grace` 7d, `verify_timeout` 5m, no content type. There is no default
//! vault. Durations are written as `check` reads them (`30d`, `12h`, `90m`, `45s`, or a bare
//! number of days, as a string or a TOML integer).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use time::Duration;
use toml::Spanned;

use crate::check::duration::describe_window;
use crate::check::{parse_duration, parse_duration_with_unit};
use crate::vault::VaultUrl;

/// Length of a `random` credential's random part when `length` is not given.
pub const DEFAULT_LENGTH: usize = 32;
/// Shortest random part accepted.
pub const MIN_LENGTH: usize = 16;
/// Longest random part accepted.
pub const MAX_LENGTH: usize = 1024;
/// The placeholder a `template` must contain exactly once.
pub const RANDOM_PLACEHOLDER: &str = "{random}";

const DEFAULT_ROTATE_WITHIN: Duration = Duration::days(30);
const DEFAULT_VALIDITY: Duration = Duration::days(90);
const DEFAULT_GRACE: Duration = Duration::days(7);
const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::minutes(5);
/// Longest duration accepted anywhere: keeps `now + validity` far inside the dates `time` and
/// Key Vault can represent, so callers may add durations to "now" without overflow checks.
const MAX_DURATION: Duration = Duration::days(36_500);
/// Key Vault accepts at most 15 tags on a secret.
const MAX_TAGS: usize = 15;
/// Key Vault's limits on a tag's name and value, in characters.
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;
/// Key Vault's limit on a secret's content type, in characters.
const MAX_CONTENT_TYPE: usize = 255;
/// Tag names starting with this (any case) are keyrot's own bookkeeping on the versions it
/// writes (rotation id, credential id, time); a user tag must not be able to forge them.
const RESERVED_TAG_PREFIX: &str = "keyrot";

/// Whether a tag name is keyrot's own (it starts with [`RESERVED_TAG_PREFIX`], in any case).
pub fn is_reserved_tag(name: &str) -> bool {
    name.get(..RESERVED_TAG_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(RESERVED_TAG_PREFIX))
}

/// Secret names keyrot writes for its own bookkeeping (see `lock.rs` and `journal.rs`); a
/// credential with such a name would overwrite another credential's lock or journal.
const RESERVED_SECRET_PREFIXES: [&str; 2] = ["keyrot-lock-", "keyrot-journal-"];

/// The rotation plan, with defaults applied to every credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// In file order.
    pub credentials: Vec<CredentialSpec>,
}

/// One credential to keep rotated: a Key Vault secret and how to make its next value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSpec {
    /// The Key Vault secret name, as written (1-127 of `[0-9a-zA-Z-]`).
    pub name: String,
    /// The vault as written (name or https URL); it is known to parse with
    /// [`VaultUrl::parse`].
    pub vault: String,
    /// Rotate when the current version expires within this. Positive, shorter than `validity`.
    pub rotate_within: Duration,
    /// Lifetime of a new credential (its `exp`). Positive.
    pub validity: Duration,
    /// How long the previous credential stays enabled after a rotation. Zero or more, and
    /// `grace + rotate_within <= validity`.
    pub grace: Duration,
    /// How long verification of a new credential may take. Positive.
    pub verify_timeout: std::time::Duration,
    pub content_type: Option<String>,
    /// User tags for new versions (none starts with `keyrot`).
    pub tags: BTreeMap<String, String>,
    pub generator: Generator,
}

/// How a credential's next value is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generator {
    /// A random string from the OS CSPRNG (`generator = "random"`).
    Random(RandomSpec),
    /// A new password on an Entra ID application (`generator = "entra-app-password"`).
    EntraAppPassword {
        /// The application's appId or object id: a GUID, lower-cased.
        application: String,
        /// Also remove superseded passwords that keyrot did not create.
        remove_foreign: bool,
    },
}

impl Generator {
    /// The name used in `keyrot.toml` and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Generator::Random(_) => "random",
            Generator::EntraAppPassword { .. } => "entra-app-password",
        }
    }
}

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

impl Config {
    /// Reads and judges a plan. `origin` (the file's path) starts every error message.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, String> {
        let src = Source { text, origin };
        let raw: RawFile = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        build(&src, raw)
    }

    /// Reads and judges the plan at `path`.
    pub fn load(path: &Path) -> Result<Config, String> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{origin}: no such file: create it (see the README's keyrot.toml section) \
                 or pass --config FILE / set KEYROT_CONFIG"
            ),
            std::io::ErrorKind::InvalidData => {
                format!("{origin}: not UTF-8 text: save keyrot.toml as UTF-8")
            }
            std::io::ErrorKind::IsADirectory => format!(
                "{origin}: is a directory: pass the keyrot.toml file itself \
                 with --config FILE / KEYROT_CONFIG"
            ),
            _ => format!("{origin}: cannot read: {e}"),
        })?;
        Config::from_toml_str(&text, &origin)
    }

    /// The `application` of every `entra-app-password` credential, each once, in file order.
    pub fn apps(&self) -> Vec<&str> {
        let mut apps: Vec<&str> = Vec::new();
        for credential in &self.credentials {
            if let Generator::EntraAppPassword { application, .. } = &credential.generator {
                if !apps.contains(&application.as_str()) {
                    apps.push(application);
                }
            }
        }
        apps
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    credential: Vec<Spanned<RawCredential>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    vault: Option<Spanned<String>>,
    rotate_within: Option<Spanned<DurationText>>,
    validity: Option<Spanned<DurationText>>,
    grace: Option<Spanned<DurationText>>,
    verify_timeout: Option<Spanned<DurationText>>,
    content_type: Option<Spanned<String>>,
}

// `#[serde(flatten)]` of `RawDefaults` would be shorter, but serde does not support it together
// with `deny_unknown_fields`, so the [defaults] keys are repeated here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    name: Option<Spanned<String>>,
    generator: Option<Spanned<String>>,
    // The [defaults] keys, overriding them.
    vault: Option<Spanned<String>>,
    rotate_within: Option<Spanned<DurationText>>,
    validity: Option<Spanned<DurationText>>,
    grace: Option<Spanned<DurationText>>,
    verify_timeout: Option<Spanned<DurationText>>,
    content_type: Option<Spanned<String>>,
    tags: Option<Spanned<BTreeMap<String, String>>>,
    // generator = "random" only.
    length: Option<Spanned<i64>>,
    charset: Option<Spanned<String>>,
    template: Option<Spanned<String>>,
    verify_command: Option<Spanned<Vec<String>>>,
    verify_env: Option<Spanned<Vec<String>>>,
    // generator = "entra-app-password" only.
    application: Option<Spanned<String>>,
    remove_foreign: Option<Spanned<bool>>,
}

/// A duration as written: a string (`"30d"`) or an integer number of days (`30`).
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30d\", \"12h\", \"90m\" or \"45s\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationText, E> {
                Ok(DurationText(text.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, days: i64) -> Result<DurationText, E> {
                Ok(DurationText(days.to_string()))
            }
            fn visit_u64<E: de::Error>(self, days: u64) -> Result<DurationText, E> {
                Ok(DurationText(days.to_string()))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Positions and messages.

struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
    /// `(line, column)`, both from 1, of a byte offset; the column counts characters.
    fn position(&self, offset: usize) -> (usize, usize) {
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

    fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    /// `origin:line:col: message`.
    fn error_at(&self, offset: usize, message: impl fmt::Display) -> String {
        let (line, column) = self.position(offset);
        format!("{}:{line}:{column}: {message}", self.origin)
    }

    fn toml_error(&self, error: &toml::de::Error) -> String {
        // The message alone: toml's Display adds a multi-line excerpt, and errors here are one
        // line so CI annotations and logs keep them whole. Serde's names for Rust types mean
        // nothing to the reader of keyrot.toml, so they are translated.
        let mut message = error
            .message()
            .trim_end()
            .replace("struct RawDefaults", "a [defaults] table")
            .replace("struct RawCredential", "a [[credential]] table")
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
struct Subject(String);

impl Subject {
    fn defaults() -> Subject {
        Subject("[defaults]".into())
    }

    fn credential(name: &str) -> Subject {
        Subject(format!("credential {name:?}"))
    }

    fn unnamed(index: usize) -> Subject {
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
struct Setting<T> {
    value: T,
    from: Place,
}

#[derive(Clone, Copy)]
enum Place {
    Credential(usize),
    Defaults(usize),
    BuiltIn,
}

impl Setting<Duration> {
    /// `validity (20 days, line 11)`, `grace (7 days, [defaults] line 4)`,
    /// `rotate_within (30 days, keyrot's default)`.
    fn describe(&self, key: &str, src: &Source<'_>) -> String {
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

// ---------------------------------------------------------------------------------------------
// Judging.

/// The [defaults] table, each value read and judged on its own.
struct Defaults {
    vault: Option<Spanned<String>>,
    rotate_within: Option<Setting<Duration>>,
    validity: Option<Setting<Duration>>,
    grace: Option<Setting<Duration>>,
    verify_timeout: Option<Setting<Duration>>,
    content_type: Option<Spanned<String>>,
}

fn build(src: &Source<'_>, raw: RawFile) -> Result<Config, String> {
    let defaults = read_defaults(src, raw.defaults)?;
    if raw.credential.is_empty() {
        return Err(format!(
            "{}: no [[credential]]: add at least one [[credential]] table with a name and a \
             generator (\"random\" or \"entra-app-password\")",
            src.origin
        ));
    }

    let mut credentials = Vec::with_capacity(raw.credential.len());
    // (vault URL, secret name), both lower-cased -> (name as written, offset of the credential).
    let mut seen: HashMap<(String, String), (String, usize)> = HashMap::new();
    // application -> (credential name, offset of its `remove_foreign = true`, if set).
    let mut apps: HashMap<String, Vec<(String, Option<usize>)>> = HashMap::new();

    for (index, spanned) in raw.credential.into_iter().enumerate() {
        let at = spanned.span().start;
        let raw = spanned.into_inner();
        let remove_foreign_at = raw
            .remove_foreign
            .as_ref()
            .filter(|flag| *flag.get_ref())
            .map(|flag| flag.span().start);
        let spec = read_credential(src, &defaults, index, at, raw)?;

        let url = VaultUrl::parse(&spec.vault).expect("checked by read_credential");
        let key = (
            url.as_str().to_ascii_lowercase(),
            spec.name.to_ascii_lowercase(),
        );
        if let Some((first, first_at)) = seen.get(&key) {
            return Err(src.error_at(
                at,
                format_args!(
                    "{}: same secret as credential {first:?} (line {}) in vault {url}: Key \
                     Vault secret names are case-insensitive, and one secret can follow only one \
                     rotation plan",
                    Subject::credential(&spec.name),
                    src.line(*first_at)
                ),
            ));
        }
        seen.insert(key, (spec.name.clone(), at));

        if let Generator::EntraAppPassword { application, .. } = &spec.generator {
            apps.entry(application.clone())
                .or_default()
                .push((spec.name.clone(), remove_foreign_at));
        }
        credentials.push(spec);
    }

    // Two secrets may hold passwords of the same application, but then "foreign" passwords of
    // one are the live passwords of the other: `remove_foreign` would break the sibling.
    for (application, users) in &apps {
        if users.len() < 2 {
            continue;
        }
        if let Some((name, Some(flag_at))) = users.iter().find(|(_, flag)| flag.is_some()) {
            let others: Vec<String> = users
                .iter()
                .filter(|(other, _)| other != name)
                .map(|(other, _)| format!("{other:?}"))
                .collect();
            return Err(src.error_at(
                *flag_at,
                format_args!(
                    "{}: remove_foreign = true, but application {application} also has \
                     credential {}: its passwords would be removed as foreign; set \
                     remove_foreign = false or give each application one credential",
                    Subject::credential(name),
                    others.join(", ")
                ),
            ));
        }
    }

    Ok(Config { credentials })
}

fn read_defaults(src: &Source<'_>, raw: RawDefaults) -> Result<Defaults, String> {
    let subject = Subject::defaults();
    if let Some(vault) = &raw.vault {
        check_vault(src, &subject, vault)?;
    }
    if let Some(content_type) = &raw.content_type {
        check_content_type(src, &subject, content_type)?;
    }
    let duration = |key: Key, value: &Option<Spanned<DurationText>>| {
        read_duration(src, &subject, key, value.as_ref(), Place::Defaults)
    };
    Ok(Defaults {
        rotate_within: duration(Key::RotateWithin, &raw.rotate_within)?,
        validity: duration(Key::Validity, &raw.validity)?,
        grace: duration(Key::Grace, &raw.grace)?,
        verify_timeout: duration(Key::VerifyTimeout, &raw.verify_timeout)?,
        vault: raw.vault,
        content_type: raw.content_type,
    })
}

fn read_credential(
    src: &Source<'_>,
    defaults: &Defaults,
    index: usize,
    at: usize,
    mut raw: RawCredential,
) -> Result<CredentialSpec, String> {
    let Some(name) = raw.name.take() else {
        return Err(src.error_at(
            at,
            format_args!(
                "{}: no name: set name to the Key Vault secret's name",
                Subject::unnamed(index)
            ),
        ));
    };
    let subject = Subject::credential(name.get_ref());
    check_secret_name(src, &subject, &name)?;
    let name = name.into_inner();

    let vault = match raw.vault.take().or_else(|| defaults.vault.clone()) {
        Some(vault) => {
            // A vault from [defaults] was checked there; checking again costs nothing.
            check_vault(src, &subject, &vault)?;
            vault.into_inner()
        }
        None => {
            return Err(src.error_at(
                at,
                format_args!(
                    "{subject}: no vault: set vault in [defaults] or in this credential \
                     (a name such as \"myvault\" or an https URL)"
                ),
            ))
        }
    };

    let content_type = match raw
        .content_type
        .take()
        .or_else(|| defaults.content_type.clone())
    {
        Some(content_type) => {
            check_content_type(src, &subject, &content_type)?;
            Some(content_type.into_inner())
        }
        None => None,
    };

    let duration = |key: Key,
                    own: Option<&Spanned<DurationText>>,
                    default: Option<Setting<Duration>>,
                    built_in: Duration| {
        let own = read_duration(src, &subject, key, own, Place::Credential)?;
        Ok::<_, String>(own.or(default).unwrap_or(Setting {
            value: built_in,
            from: Place::BuiltIn,
        }))
    };
    let rotate_within = duration(
        Key::RotateWithin,
        raw.rotate_within.as_ref(),
        defaults.rotate_within,
        DEFAULT_ROTATE_WITHIN,
    )?;
    let validity = duration(
        Key::Validity,
        raw.validity.as_ref(),
        defaults.validity,
        DEFAULT_VALIDITY,
    )?;
    let grace = duration(
        Key::Grace,
        raw.grace.as_ref(),
        defaults.grace,
        DEFAULT_GRACE,
    )?;
    let verify_timeout = duration(
        Key::VerifyTimeout,
        raw.verify_timeout.as_ref(),
        defaults.verify_timeout,
        DEFAULT_VERIFY_TIMEOUT,
    )?;
    check_windows(src, &subject, at, rotate_within, validity, grace)?;
    let verify_timeout = std::time::Duration::try_from(verify_timeout.value)
        .expect("read_duration refuses negative durations");

    let tags = match raw.tags.take() {
        Some(tags) => {
            check_tags(src, &subject, &tags)?;
            tags.into_inner()
        }
        None => BTreeMap::new(),
    };

    let Some(generator) = raw.generator.take() else {
        return Err(src.error_at(
            at,
            format_args!(
                "{subject}: no generator: set generator = \"random\" or \"entra-app-password\""
            ),
        ));
    };
    let generator = match generator.get_ref().as_str() {
        "random" => {
            let misplaced = [
                ("application", raw.application.as_ref().map(|s| s.span())),
                (
                    "remove_foreign",
                    raw.remove_foreign.as_ref().map(|s| s.span()),
                ),
            ];
            refuse_keys(src, &subject, "random", &misplaced)?;
            if let (Some(timeout), None) = (&raw.verify_timeout, &raw.verify_command) {
                return Err(src.error_at(
                    timeout.span().start,
                    format_args!(
                        "{subject}: verify_timeout has no effect without verify_command \
                         (a random value is verified only by a verify_command)"
                    ),
                ));
            }
            if let (Some(env), None) = (&raw.verify_env, &raw.verify_command) {
                return Err(src.error_at(
                    env.span().start,
                    format_args!("{subject}: verify_env has no effect without verify_command"),
                ));
            }
            Generator::Random(read_random(src, &subject, &raw)?)
        }
        "entra-app-password" => {
            let misplaced = [
                ("length", raw.length.as_ref().map(|s| s.span())),
                ("charset", raw.charset.as_ref().map(|s| s.span())),
                ("template", raw.template.as_ref().map(|s| s.span())),
                (
                    "verify_command",
                    raw.verify_command.as_ref().map(|s| s.span()),
                ),
                ("verify_env", raw.verify_env.as_ref().map(|s| s.span())),
            ];
            refuse_keys(src, &subject, "entra-app-password", &misplaced)?;
            let Some(application) = &raw.application else {
                return Err(src.error_at(
                    at,
                    format_args!(
                        "{subject}: no application: set application to the Entra application's \
                         appId (client id) or object id"
                    ),
                ));
            };
            Generator::EntraAppPassword {
                application: read_guid(src, &subject, application)?,
                remove_foreign: raw.remove_foreign.is_some_and(|flag| flag.into_inner()),
            }
        }
        other => {
            return Err(src.error_at(
                generator.span().start,
                format_args!(
                    "{subject}: unknown generator {other:?}: use \"random\" or \
                     \"entra-app-password\""
                ),
            ))
        }
    };

    Ok(CredentialSpec {
        name,
        vault,
        rotate_within: rotate_within.value,
        validity: validity.value,
        grace: grace.value,
        verify_timeout,
        content_type,
        tags,
        generator,
    })
}

#[derive(Clone, Copy)]
enum Key {
    RotateWithin,
    Validity,
    Grace,
    VerifyTimeout,
}

impl Key {
    fn as_str(self) -> &'static str {
        match self {
            Key::RotateWithin => "rotate_within",
            Key::Validity => "validity",
            Key::Grace => "grace",
            Key::VerifyTimeout => "verify_timeout",
        }
    }

    /// Why zero is refused, or `None` if it is accepted.
    fn zero_refused(self) -> Option<&'static str> {
        match self {
            Key::RotateWithin => Some(
                "a credential would be rotated only once it has expired, when its consumers \
                 already fail",
            ),
            Key::Validity => Some("a new credential would expire at once"),
            // No overlap: the previous credential is disabled right after the rotation.
            Key::Grace => None,
            Key::VerifyTimeout => Some(
                "verification would give up before its first attempt (Entra takes a while \
                 to replicate a new password)",
            ),
        }
    }
}

fn read_duration(
    src: &Source<'_>,
    subject: &Subject,
    key: Key,
    raw: Option<&Spanned<DurationText>>,
    from: fn(usize) -> Place,
) -> Result<Option<Setting<Duration>>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let at = raw.span().start;
    let name = key.as_str();
    // A bare number is days in the windows, but ambiguous for a timeout.
    let parse = match key {
        Key::VerifyTimeout => parse_duration_with_unit,
        Key::RotateWithin | Key::Validity | Key::Grace => parse_duration,
    };
    let value = parse(&raw.get_ref().0)
        .map_err(|e| src.error_at(at, format_args!("{subject}: {name}: {e}")))?;
    if value.is_zero() {
        if let Some(why) = key.zero_refused() {
            return Err(src.error_at(
                at,
                format_args!("{subject}: {name} must be longer than 0: {why}"),
            ));
        }
    }
    if value > MAX_DURATION {
        return Err(src.error_at(
            at,
            format_args!(
                "{subject}: {name} {} is too long: at most {}",
                describe_window(value),
                describe_window(MAX_DURATION)
            ),
        ));
    }
    Ok(Some(Setting {
        value,
        from: from(at),
    }))
}

/// Refuses the combinations of windows that cannot work, with the reason.
fn check_windows(
    src: &Source<'_>,
    subject: &Subject,
    at: usize,
    rotate_within: Setting<Duration>,
    validity: Setting<Duration>,
    grace: Setting<Duration>,
) -> Result<(), String> {
    if rotate_within.value >= validity.value {
        return Err(src.error_at(
            at,
            format_args!(
                "{subject}: {} must be shorter than {}: every new credential would be due \
                 for rotation as soon as it is written, so every run would rotate it again",
                rotate_within.describe("rotate_within", src),
                validity.describe("validity", src)
            ),
        ));
    }
    if grace.value + rotate_within.value > validity.value {
        return Err(src.error_at(
            at,
            format_args!(
                "{subject}: {} plus {} must not exceed {}: the next rotation would come \
                 before the previous credential is retired, leaving three generations enabled; \
                 shorten grace or rotate_within, or lengthen validity",
                grace.describe("grace", src),
                rotate_within.describe("rotate_within", src),
                validity.describe("validity", src)
            ),
        ));
    }
    Ok(())
}

fn read_random(
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
const CREDENTIAL_VARIABLES: &[&str] = &[
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
fn check_verify_env(name: &str) -> Result<(), String> {
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
fn check_template(template: &str) -> Result<(), String> {
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

/// Refuses keys that belong to another generator, naming the first one written.
fn refuse_keys(
    src: &Source<'_>,
    subject: &Subject,
    generator: &str,
    keys: &[(&str, Option<std::ops::Range<usize>>)],
) -> Result<(), String> {
    let first = keys
        .iter()
        .filter_map(|(key, span)| span.as_ref().map(|span| (key, span.start)))
        .min_by_key(|(_, start)| *start);
    match first {
        None => Ok(()),
        Some((key, start)) => {
            let belongs = if generator == "random" {
                "entra-app-password"
            } else {
                "random"
            };
            Err(src.error_at(
                start,
                format_args!(
                    "{subject}: {key} applies only to generator = \"{belongs}\", and this \
                     credential's generator is \"{generator}\""
                ),
            ))
        }
    }
}

fn check_secret_name(
    src: &Source<'_>,
    subject: &Subject,
    name: &Spanned<String>,
) -> Result<(), String> {
    let text = name.get_ref();
    let ok = (1..=127).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let lower = text.to_ascii_lowercase();
    if let Some(prefix) = RESERVED_SECRET_PREFIXES
        .iter()
        .find(|p| lower.starts_with(*p))
    {
        return Err(src.error_at(
            name.span().start,
            format_args!(
                "{subject}: secret names starting with {prefix:?} (in any case) are reserved for \
                 keyrot's own lock and journal secrets: rotating one would overwrite them; \
                 rename the secret"
            ),
        ));
    }
    if ok {
        Ok(())
    } else {
        Err(src.error_at(
            name.span().start,
            format_args!(
                "{subject}: invalid secret name: a Key Vault secret name has 1 to 127 letters, \
                 digits and hyphens"
            ),
        ))
    }
}

fn check_vault(src: &Source<'_>, subject: &Subject, vault: &Spanned<String>) -> Result<(), String> {
    VaultUrl::parse(vault.get_ref())
        .map(|_| ())
        .map_err(|e| src.error_at(vault.span().start, format_args!("{subject}: vault: {e}")))
}

fn check_content_type(
    src: &Source<'_>,
    subject: &Subject,
    content_type: &Spanned<String>,
) -> Result<(), String> {
    let text = content_type.get_ref();
    let why = if text.trim().is_empty() {
        "is empty: remove the key to write no content type"
    } else if text.chars().count() > MAX_CONTENT_TYPE {
        "is longer than Key Vault's 255 characters"
    } else {
        return Ok(());
    };
    Err(src.error_at(
        content_type.span().start,
        format_args!("{subject}: content_type {why}"),
    ))
}

fn check_tags(
    src: &Source<'_>,
    subject: &Subject,
    tags: &Spanned<BTreeMap<String, String>>,
) -> Result<(), String> {
    let fail = |why: String| Err(src.error_at(tags.span().start, format_args!("{subject}: {why}")));
    if tags.get_ref().len() > MAX_TAGS {
        return fail(format!(
            "{} tags: Key Vault allows at most {MAX_TAGS} on a secret",
            tags.get_ref().len()
        ));
    }
    for (name, value) in tags.get_ref() {
        if name.trim().is_empty() {
            return fail("a tag has an empty name".into());
        }
        if is_reserved_tag(name) {
            return fail(format!(
                "tag {name:?}: names starting with \"{RESERVED_TAG_PREFIX}\" are reserved \
                 for keyrot's own tags"
            ));
        }
        if name.chars().count() > MAX_TAG_NAME {
            return fail(format!(
                "tag {name:?}: its name is longer than Key Vault's {MAX_TAG_NAME} characters"
            ));
        }
        if value.chars().count() > MAX_TAG_VALUE {
            return fail(format!(
                "tag {name:?}: its value is longer than Key Vault's {MAX_TAG_VALUE} characters"
            ));
        }
    }
    Ok(())
}

/// Reads an application id: a GUID (`8-4-4-4-12` hex digits), returned lower-cased.
fn read_guid(
    src: &Source<'_>,
    subject: &Subject,
    application: &Spanned<String>,
) -> Result<String, String> {
    let text = application.get_ref().trim();
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let ok = groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(src.error_at(
            application.span().start,
            format_args!(
                "{subject}: application {:?} is not a GUID: give the Entra application's \
                 appId (client id) or object id, like 00000000-0000-0000-0000-000000000000",
                application.get_ref()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[defaults]
vault = "myvault"
rotate_within = "30d"
validity = "90d"
grace = "7d"
verify_timeout = "5m"
content_type = "text/plain"

[[credential]]
name = "db-password"
generator = "random"
length = 40
charset = "alphanumeric"
template = "sk_live_{random}"
verify_command = ["./check-db.sh", "--quick"]
verify_env = ["DB_HOST"]
tags = { owner = "team-a" }

[[credential]]
name = "billing-api-client-secret"
generator = "entra-app-password"
application = "0A1B2C3D-0000-0000-0000-00000000000F"
validity = "180d"
remove_foreign = false
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::from_toml_str(text, "keyrot.toml")
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => e,
        }
    }

    /// A minimal valid file with `extra` added to its only credential.
    fn one(extra: &str) -> String {
        format!(
            "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"db-password\"\n\
             generator = \"random\"\n{extra}\n"
        )
    }

    fn entra(extra: &str) -> String {
        format!(
            "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"app-secret\"\n\
             generator = \"entra-app-password\"\n\
             application = \"00000000-0000-0000-0000-000000000001\"\n{extra}\n"
        )
    }

    #[test]
    fn full_example_is_read_with_defaults_applied() {
        let config = parse(FULL).unwrap();
        assert_eq!(config.credentials.len(), 2);

        let db = &config.credentials[0];
        assert_eq!(db.name, "db-password");
        assert_eq!(db.vault, "myvault");
        assert_eq!(db.rotate_within, Duration::days(30));
        assert_eq!(db.validity, Duration::days(90));
        assert_eq!(db.grace, Duration::days(7));
        assert_eq!(db.verify_timeout, std::time::Duration::from_secs(300));
        assert_eq!(db.content_type.as_deref(), Some("text/plain"));
        assert_eq!(
            db.tags,
            BTreeMap::from([("owner".to_string(), "team-a".to_string())])
        );
        assert_eq!(
            db.generator,
            Generator::Random(RandomSpec {
                length: 40,
                charset: Charset::Alphanumeric,
                template: Some("sk_live_{random}".into()),
                verify_command: Some(vec!["./check-db.sh".into(), "--quick".into()]),
                verify_env: vec!["DB_HOST".into()],
            })
        );
        assert_eq!(db.generator.name(), "random");

        let billing = &config.credentials[1];
        assert_eq!(billing.name, "billing-api-client-secret");
        assert_eq!(billing.vault, "myvault");
        assert_eq!(billing.validity, Duration::days(180));
        assert_eq!(billing.rotate_within, Duration::days(30));
        assert_eq!(billing.content_type.as_deref(), Some("text/plain"));
        assert!(billing.tags.is_empty());
        assert_eq!(
            billing.generator,
            Generator::EntraAppPassword {
                application: "0a1b2c3d-0000-0000-0000-00000000000f".into(),
                remove_foreign: false,
            }
        );
        assert_eq!(config.apps(), vec!["0a1b2c3d-0000-0000-0000-00000000000f"]);
    }

    #[test]
    fn built_in_defaults_apply_when_nothing_is_set() {
        let config = parse(
            "[[credential]]\nname = \"a\"\ngenerator = \"random\"\n\
             vault = \"https://other.vault.azure.net\"\n",
        )
        .unwrap();
        let spec = &config.credentials[0];
        assert_eq!(spec.vault, "https://other.vault.azure.net");
        assert_eq!(spec.rotate_within, Duration::days(30));
        assert_eq!(spec.validity, Duration::days(90));
        assert_eq!(spec.grace, Duration::days(7));
        assert_eq!(spec.verify_timeout, std::time::Duration::from_secs(300));
        assert_eq!(spec.content_type, None);
        assert_eq!(
            spec.generator,
            Generator::Random(RandomSpec {
                length: DEFAULT_LENGTH,
                charset: Charset::Alphanumeric,
                template: None,
                verify_command: None,
                verify_env: Vec::new(),
            })
        );
    }

    #[test]
    fn every_default_can_be_overridden_per_credential() {
        let config = parse(
            r#"
[defaults]
vault = "myvault"
rotate_within = "30d"
validity = "90d"
grace = "7d"
verify_timeout = "5m"
content_type = "text/plain"

[[credential]]
name = "a"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-000000000001"
vault = "othervault"
rotate_within = "12h"
validity = 2
grace = "90m"
verify_timeout = "45s"
content_type = "application/x-password"

[[credential]]
name = "b"
generator = "random"
"#,
        )
        .unwrap();
        let a = &config.credentials[0];
        assert_eq!(a.vault, "othervault");
        assert_eq!(a.rotate_within, Duration::hours(12));
        assert_eq!(a.validity, Duration::days(2));
        assert_eq!(a.grace, Duration::minutes(90));
        assert_eq!(a.verify_timeout, std::time::Duration::from_secs(45));
        assert_eq!(a.content_type.as_deref(), Some("application/x-password"));
        // The second credential still gets the defaults.
        let b = &config.credentials[1];
        assert_eq!(b.vault, "myvault");
        assert_eq!(b.rotate_within, Duration::days(30));
        assert_eq!(b.validity, Duration::days(90));
        assert_eq!(b.grace, Duration::days(7));
        assert_eq!(b.verify_timeout, std::time::Duration::from_secs(300));
        assert_eq!(b.content_type.as_deref(), Some("text/plain"));
    }

    #[test]
    fn charsets_and_lengths_are_read() {
        for charset in Charset::ALL {
            let config = parse(&one(&format!("charset = \"{charset}\"\nlength = 16"))).unwrap();
            let Generator::Random(spec) = &config.credentials[0].generator else {
                panic!("not random");
            };
            assert_eq!(spec.charset, charset);
            assert_eq!(spec.length, 16);
        }
        let config = parse(&one("length = 1024")).unwrap();
        assert!(matches!(
            &config.credentials[0].generator,
            Generator::Random(RandomSpec { length: 1024, .. })
        ));
    }

    #[test]
    fn alphabets_have_the_documented_symbols() {
        let expected = [
            (Charset::Alphanumeric, 62),
            (Charset::Base64Url, 64),
            (Charset::Hex, 16),
            (Charset::AsciiPrintable, 94),
        ];
        for (charset, size) in expected {
            let alphabet = charset.alphabet();
            assert_eq!(alphabet.len(), size, "{charset}");
            let mut sorted = alphabet.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), size, "{charset} has duplicates");
            assert!(alphabet.iter().all(|b| (0x21..=0x7e).contains(b)));
        }
        assert!(Charset::Base64Url.alphabet().ends_with(b"-_"));
        assert_eq!(Charset::AsciiPrintable.alphabet()[0], b'!');
        assert_eq!(Charset::AsciiPrintable.alphabet()[93], b'~');
    }

    #[test]
    fn apps_are_deduplicated_in_file_order() {
        let config = parse(
            r#"
[defaults]
vault = "myvault"
[[credential]]
name = "one"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-00000000000b"
[[credential]]
name = "two"
generator = "random"
[[credential]]
name = "three"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-00000000000a"
[[credential]]
name = "four"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-00000000000B"
"#,
        )
        .unwrap();
        assert_eq!(
            config.apps(),
            vec![
                "00000000-0000-0000-0000-00000000000b",
                "00000000-0000-0000-0000-00000000000a"
            ]
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_its_line() {
        // Line 7 (after the leading newline of the literal, `lenght` is on line 7).
        let e = error(&one("lenght = 40"));
        assert!(e.starts_with("keyrot.toml:7:1: "), "{e}");
        assert!(e.contains("lenght"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");

        let e = error("[defaults]\nvault = \"v1\"\nvalidty = \"90d\"\n");
        assert!(e.starts_with("keyrot.toml:3:1: "), "{e}");
        assert!(e.contains("validty"), "{e}");

        let e = error(&format!("{}\n[consumers]\nx = 1\n", one("")));
        assert!(e.contains(":9:"), "{e}");
        assert!(e.contains("consumers"), "{e}");

        // Later sections are not accepted yet.
        let e = error(&one("notify = [\"team-a@example.com\"]"));
        assert!(e.starts_with("keyrot.toml:7:1: "), "{e}");
        assert!(e.contains("notify"), "{e}");
    }

    #[test]
    fn toml_errors_are_one_line_and_name_the_key() {
        let e = error(&one("name = \"again\""));
        assert_eq!(e, "keyrot.toml:7:1: duplicate key `name`");
        let e = error("[defaults]\nvault = \"myvault\"\n[credential]\nname = \"a\"\n");
        assert!(e.starts_with("keyrot.toml:3:1: "), "{e}");
        assert!(
            e.contains("write [[credential]] with double brackets"),
            "{e}"
        );
        let e = error("defaults = 1\n");
        assert!(e.contains("expected a [defaults] table"), "{e}");
        let e = error(&one("length = 1.5"));
        assert!(e.starts_with("keyrot.toml:7:10: "), "{e}");
        assert!(e.contains("expected a whole number"), "{e}");
        let e = error(&one("length = "));
        assert!(e.starts_with("keyrot.toml:7:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn type_errors_name_the_line() {
        let e = error(&one("length = \"forty\""));
        assert!(e.starts_with("keyrot.toml:7:"), "{e}");
        let e = error(&one("validity = true"));
        assert!(e.starts_with("keyrot.toml:7:"), "{e}");
        assert!(e.contains("a duration such as"), "{e}");
    }

    #[test]
    fn bad_durations_name_the_credential_and_line() {
        let e = error(&one("validity = \"90x\""));
        assert!(
            e.starts_with(
                "keyrot.toml:7:12: credential \"db-password\": validity: invalid duration \"90x\""
            ),
            "{e}"
        );
        let e = error("[defaults]\nvault = \"myvault\"\ngrace = \"1w\"\n[[credential]]\nname = \"a\"\ngenerator = \"random\"\n");
        assert!(
            e.starts_with("keyrot.toml:3:9: [defaults]: grace: invalid duration \"1w\""),
            "{e}"
        );
        let e = error(&one("validity = -5"));
        assert!(e.contains("must not be negative"), "{e}");
        let e = error(&one("validity = \"0d\""));
        assert!(e.contains("validity must be longer than 0"), "{e}");
        let e = error(&one("rotate_within = 0"));
        assert!(e.contains("rotate_within must be longer than 0"), "{e}");
        let e = error(&entra("verify_timeout = \"0s\""));
        assert!(e.contains("verify_timeout must be longer than 0"), "{e}");
        let e = error(&one("validity = \"36501d\""));
        assert!(e.contains("too long"), "{e}");
        // Zero grace is allowed: no overlap.
        assert_eq!(
            parse(&one("grace = \"0d\"")).unwrap().credentials[0].grace,
            Duration::ZERO
        );
    }

    #[test]
    fn windows_that_cannot_work_are_refused_with_the_reason() {
        let e = error(&one("rotate_within = \"90d\""));
        assert!(
            e.starts_with("keyrot.toml:4:1: credential \"db-password\": "),
            "{e}"
        );
        assert!(
            e.contains("rotate_within (90 days, line 7) must be shorter than validity (90 days, keyrot's default)"),
            "{e}"
        );
        assert!(e.contains("every run would rotate it again"), "{e}");

        let e = error(
            "[defaults]\nvault = \"v1v\"\nvalidity = \"20d\"\n[[credential]]\nname = \"a\"\n\
             generator = \"random\"\n",
        );
        assert!(
            e.contains("rotate_within (30 days, keyrot's default) must be shorter than validity (20 days, [defaults] line 3)"),
            "{e}"
        );

        let e = error(&one("grace = \"61d\""));
        assert!(
            e.contains("grace (61 days, line 7) plus rotate_within (30 days, keyrot's default) must not exceed validity (90 days, keyrot's default)"),
            "{e}"
        );
        let e = error(&one(
            "grace = \"100d\"\nvalidity = \"30d\"\nrotate_within = \"1d\"",
        ));
        assert!(e.contains("leaving three generations enabled"), "{e}");
        // The boundary fits.
        assert!(parse(&one("grace = \"60d\"")).is_ok());
    }

    #[test]
    fn missing_vault_name_and_generator_are_errors() {
        let e = error("[[credential]]\nname = \"db-password\"\ngenerator = \"random\"\n");
        assert!(
            e.starts_with(
                "keyrot.toml:1:1: credential \"db-password\": no vault: set vault in [defaults]"
            ),
            "{e}"
        );
        let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\ngenerator = \"random\"\n");
        assert!(e.contains("credential #1: no name"), "{e}");
        let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\n");
        assert!(e.contains("credential \"x\": no generator"), "{e}");
        assert!(e.contains("\"random\" or \"entra-app-password\""), "{e}");
    }

    #[test]
    fn bad_vaults_are_errors() {
        let e = error(&one("vault = \"http://x.vault.azure.net\""));
        assert!(
            e.starts_with("keyrot.toml:7:9: credential \"db-password\": vault: "),
            "{e}"
        );
        assert!(e.contains("https"), "{e}");
        let e = error(
            "[defaults]\nvault = \"a\"\n[[credential]]\nname = \"x\"\ngenerator = \"random\"\n",
        );
        assert!(
            e.starts_with("keyrot.toml:2:9: [defaults]: vault: invalid vault name"),
            "{e}"
        );
    }

    #[test]
    fn unknown_generator_and_charset_are_errors() {
        let e = error(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\ngenerator = \"uuid\"\n",
        );
        assert!(
            e.starts_with("keyrot.toml:5:13: credential \"x\": unknown generator \"uuid\": use \"random\" or \"entra-app-password\""),
            "{e}"
        );
        let e = error(&one("charset = \"base64\""));
        assert!(
            e.contains("credential \"db-password\": unknown charset \"base64\": use \"alphanumeric\", \"base64url\", \"hex\", \"ascii-printable\""),
            "{e}"
        );
    }

    #[test]
    fn keys_of_the_other_generator_are_errors() {
        let e = error(&entra("length = 40"));
        assert!(
            e.starts_with("keyrot.toml:8:10: credential \"app-secret\": length applies only to generator = \"random\""),
            "{e}"
        );
        for key in [
            "charset = \"hex\"",
            "template = \"x{random}\"",
            "verify_command = [\"x\"]",
        ] {
            let e = error(&entra(key));
            assert!(
                e.contains("applies only to generator = \"random\""),
                "{key}: {e}"
            );
        }
        let e = error(&one(
            "application = \"00000000-0000-0000-0000-000000000001\"",
        ));
        assert!(
            e.starts_with("keyrot.toml:7:15: credential \"db-password\": application applies only to generator = \"entra-app-password\""),
            "{e}"
        );
        let e = error(&one("remove_foreign = true"));
        assert!(e.contains("remove_foreign applies only to"), "{e}");
        let e = error(&one("verify_timeout = \"1m\""));
        assert!(
            e.contains("verify_timeout has no effect without verify_command"),
            "{e}"
        );
        assert!(parse(&one("verify_timeout = \"1m\"\nverify_command = [\"./v\"]")).is_ok());
    }

    #[test]
    fn applications_must_be_guids() {
        let e = error(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\n\
             generator = \"entra-app-password\"\napplication = \"billing-api\"\n",
        );
        assert!(
            e.starts_with(
                "keyrot.toml:6:15: credential \"x\": application \"billing-api\" is not a GUID"
            ),
            "{e}"
        );
        for bad in [
            "00000000-0000-0000-0000-00000000000",
            "00000000000000000000000000000000",
            "{00000000-0000-0000-0000-000000000000}",
            "0000000g-0000-0000-0000-000000000000",
            "",
        ] {
            let text = format!(
                "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\n\
                 generator = \"entra-app-password\"\napplication = \"{bad}\"\n"
            );
            assert!(error(&text).contains("is not a GUID"), "{bad}");
        }
        let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\ngenerator = \"entra-app-password\"\n");
        assert!(e.contains("credential \"x\": no application"), "{e}");
    }

    #[test]
    fn duplicate_secrets_are_errors_case_insensitively_across_vault_spellings() {
        let e = error(
            r#"[defaults]
vault = "myvault"
[[credential]]
name = "db-password"
generator = "random"
[[credential]]
name = "DB-Password"
generator = "random"
vault = "https://MyVault.vault.azure.net/"
"#,
        );
        assert!(
            e.starts_with("keyrot.toml:6:1: credential \"DB-Password\": same secret as credential \"db-password\" (line 3)"),
            "{e}"
        );
        // The same name in another vault is another secret.
        assert!(parse(
            "[[credential]]\nname = \"a\"\ngenerator = \"random\"\nvault = \"vault-one\"\n\
             [[credential]]\nname = \"a\"\ngenerator = \"random\"\nvault = \"vault-two\"\n"
        )
        .is_ok());
    }

    #[test]
    fn remove_foreign_is_refused_on_a_shared_application() {
        let shared = |flag: &str| {
            format!(
                "[defaults]\nvault = \"myvault\"\n\
                 [[credential]]\nname = \"a\"\ngenerator = \"entra-app-password\"\n\
                 application = \"00000000-0000-0000-0000-000000000001\"\n\
                 [[credential]]\nname = \"b\"\ngenerator = \"entra-app-password\"\n\
                 application = \"00000000-0000-0000-0000-000000000001\"\n{flag}\n"
            )
        };
        let e = error(&shared("remove_foreign = true"));
        assert!(
            e.starts_with("keyrot.toml:11:18: credential \"b\": remove_foreign = true, but application 00000000-0000-0000-0000-000000000001 also has credential \"a\""),
            "{e}"
        );
        let config = parse(&shared("remove_foreign = false")).unwrap();
        assert_eq!(config.apps().len(), 1);
        let config = parse(&entra("remove_foreign = true")).unwrap();
        assert!(matches!(
            config.credentials[0].generator,
            Generator::EntraAppPassword {
                remove_foreign: true,
                ..
            }
        ));
    }

    #[test]
    fn lengths_out_of_range_are_errors() {
        for bad in ["15", "1025", "0", "-1"] {
            let e = error(&one(&format!("length = {bad}")));
            assert!(
                e.starts_with(&format!(
                    "keyrot.toml:7:10: credential \"db-password\": length {bad} is out of range: use 16 to 1024"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn templates_need_exactly_one_placeholder() {
        for bad in ["sk_live_", "{random}{random}", "sk_{RANDOM}"] {
            let e = error(&one(&format!("template = \"{bad}\"")));
            assert!(
                e.starts_with("keyrot.toml:7:12: credential \"db-password\": template must contain {random} exactly once"),
                "{bad}: {e}"
            );
        }
        let e = error(&one("template = \"{env}_{random}\""));
        assert!(e.contains("unknown placeholder {env}"), "{e}");
        // Literal braces that are not a {word} are fine (a JSON template).
        let config = parse(&one(r#"template = '{"password":"{random}"}'"#)).unwrap();
        assert!(matches!(
            &config.credentials[0].generator,
            Generator::Random(RandomSpec { template: Some(t), .. }) if t == r#"{"password":"{random}"}"#
        ));
    }

    #[test]
    fn verify_commands_must_name_a_program() {
        let e = error(&one("verify_command = []"));
        assert!(
            e.starts_with("keyrot.toml:7:18: credential \"db-password\": verify_command is empty"),
            "{e}"
        );
        let e = error(&one("verify_command = [\"\", \"x\"]"));
        assert!(e.contains("first element must name the program"), "{e}");
    }

    #[test]
    fn secret_names_follow_key_vault_rules() {
        let long = "a".repeat(128);
        for bad in ["", "db_password", "db.password", "dé", long.as_str()] {
            let text = format!(
                "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"{bad}\"\ngenerator = \"random\"\n"
            );
            let e = error(&text);
            assert!(e.starts_with("keyrot.toml:4:8: credential "), "{bad}: {e}");
            assert!(e.contains("invalid secret name"), "{bad}: {e}");
        }
        let ok = "a".repeat(127);
        assert!(parse(&format!(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"{ok}\"\ngenerator = \"random\"\n"
        ))
        .is_ok());
    }

    #[test]
    fn names_of_keyrots_own_lock_and_journal_secrets_are_refused() {
        for bad in ["keyrot-journal-x", "KeyRot-Lock-db", "keyrot-lock-"] {
            let text = format!(
                "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"{bad}\"\ngenerator = \"random\"\n"
            );
            let e = error(&text);
            assert!(e.starts_with("keyrot.toml:4:8: credential "), "{bad}: {e}");
            assert!(
                e.contains("reserved for keyrot's own lock and journal"),
                "{bad}: {e}"
            );
        }
        // Other names starting with keyrot are the user's.
        assert!(parse(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"keyrot-journalist\"\ngenerator = \"random\"\n"
        )
        .is_ok());
    }

    #[test]
    fn verify_env_names_plain_variables_and_never_keyrots_credentials() {
        let with = |env: &str| one(&format!("verify_command = [\"./v\"]\nverify_env = {env}"));
        let config = parse(&with(r#"["DB_HOST", "db_port"]"#)).unwrap();
        let Generator::Random(random) = &config.credentials[0].generator else {
            panic!("random")
        };
        assert_eq!(random.verify_env, ["DB_HOST", "db_port"]);
        for (bad, why) in [
            ("AZURE_CLIENT_SECRET", "keyrot's own credentials"),
            ("keyrot_config", "keyrot's own credentials"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "keyrot's own credentials"),
            ("SYSTEM_ACCESSTOKEN", "keyrot's own credentials"),
            ("IDENTITY_HEADER", "keyrot's own credentials"),
            ("DB HOST", "not an environment variable name"),
            ("1X", "not an environment variable name"),
        ] {
            let e = error(&with(&format!("[\"{bad}\"]")));
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains(":"), "{e}");
        }
        let e = error(&one("verify_env = [\"DB_HOST\"]"));
        assert!(
            e.contains("verify_env has no effect without verify_command"),
            "{e}"
        );
        let e = error(&entra("verify_env = [\"DB_HOST\"]"));
        assert!(e.contains("verify_env applies only to generator"), "{e}");
    }

    #[test]
    fn a_duration_with_a_line_break_is_a_one_line_error() {
        // Found by fuzzing (fuzz/src/targets.rs, `config`).
        let e = error(&one("rotate_within = \"\"\"\n30d\n::error::x\"\"\""));
        assert!(!e.contains('\n'), "{e:?}");
        assert!(e.starts_with("keyrot.toml:"), "{e}");
        // TOML drops the line break right after the opening quotes.
        assert!(
            e.contains("rotate_within: invalid duration \"30d\\n::error::x\""),
            "{e}"
        );
    }

    #[test]
    fn an_excerpt_with_control_characters_is_not_quoted_into_the_error() {
        // Found by fuzzing: a CR inside a bad string was quoted into the message, breaking
        // the line there.
        let e = error(&one("content_type = \"a\r\u{11}\0b\""));
        assert!(!e.contains(|c: char| c.is_control()), "{e:?}");
        assert!(e.starts_with("keyrot.toml:7:"), "{e}");
    }

    #[test]
    fn a_bare_verify_timeout_needs_a_unit() {
        for bare in ["\"30\"", "30"] {
            let e = error(&one(&format!(
                "verify_command = [\"./v\"]\nverify_timeout = {bare}"
            )));
            assert!(e.contains("give a unit: 30s, 5m"), "{e}");
            assert!(e.starts_with("keyrot.toml:"), "{e}");
        }
    }

    #[test]
    fn content_type_and_tags_are_checked() {
        let e = error(&one("content_type = \"\""));
        assert!(
            e.contains("credential \"db-password\": content_type is empty"),
            "{e}"
        );
        let e = error(&one("tags = { keyrot-rotation = \"x\" }"));
        assert!(
            e.starts_with("keyrot.toml:7:8: credential \"db-password\": tag \"keyrot-rotation\""),
            "{e}"
        );
        assert!(e.contains("reserved"), "{e}");
        let e = error(&one("tags = { KeyRot = \"x\" }"));
        assert!(e.contains("reserved"), "{e}");
        let many: Vec<String> = (0..16).map(|i| format!("t{i} = \"v\"")).collect();
        let e = error(&one(&format!("tags = {{ {} }}", many.join(", "))));
        assert!(e.contains("16 tags: Key Vault allows at most 15"), "{e}");
        let e = error(&one(&format!("tags = {{ a = \"{}\" }}", "v".repeat(257))));
        assert!(e.contains("value is longer"), "{e}");
        let e = error(&one("tags = { a = 1 }"));
        assert!(e.starts_with("keyrot.toml:7:"), "{e}");
    }

    #[test]
    fn a_plan_without_credentials_is_an_error() {
        let e = error("[defaults]\nvault = \"myvault\"\n");
        assert!(e.starts_with("keyrot.toml: no [[credential]]"), "{e}");
        let e = error("");
        assert!(e.starts_with("keyrot.toml: no [[credential]]"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn load_names_the_path_and_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("keyrot.toml");
        let e = Config::load(&missing).unwrap_err();
        assert!(e.starts_with(&missing.display().to_string()), "{e}");
        assert!(e.contains("--config") && e.contains("KEYROT_CONFIG"), "{e}");

        let e = Config::load(dir.path()).unwrap_err();
        assert!(e.starts_with(&dir.path().display().to_string()), "{e}");

        std::fs::write(&missing, one("lenght = 3")).unwrap();
        let e = Config::load(&missing).unwrap_err();
        assert!(
            e.starts_with(&format!("{}:7:1: ", missing.display())),
            "{e}"
        );

        std::fs::write(&missing, FULL).unwrap();
        assert_eq!(Config::load(&missing).unwrap(), parse(FULL).unwrap());
    }
}
