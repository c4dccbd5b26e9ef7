//! A `[[credential]]` (and the `[defaults]` it inherits from): its settings and their
//! validation.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use time::Duration;
use toml::Spanned;

use super::propagate::{read_propagate, Owner, PropagateTarget, RawPropagate};
use super::random::{read_random, RandomSpec};
use super::resource_key::{read_resource_key, ResourceKeySpec, GENERATORS};
use super::source::{Place, Setting, Source, Subject};
use super::trigger::{read_trigger, RawTrigger, TriggerTarget};
use crate::check::duration::describe_window;
use crate::check::{parse_duration, parse_duration_with_unit};
use crate::vault::VaultUrl;

pub(super) const DEFAULT_ROTATE_WITHIN: Duration = Duration::days(30);
pub(super) const DEFAULT_VALIDITY: Duration = Duration::days(90);
pub(super) const DEFAULT_GRACE: Duration = Duration::days(7);
pub(super) const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::minutes(5);
/// Longest duration accepted anywhere: keeps `now + validity` far inside the dates `time` and
/// Key Vault can represent, so callers may add durations to "now" without overflow checks.
pub(super) const MAX_DURATION: Duration = Duration::days(36_500);
/// Key Vault accepts at most 15 tags on a secret.
pub(super) const MAX_TAGS: usize = 15;
/// Key Vault's limits on a tag's name and value, in characters.
pub(super) const MAX_TAG_NAME: usize = 512;
pub(super) const MAX_TAG_VALUE: usize = 256;
/// Key Vault's limit on a secret's content type, in characters.
pub(super) const MAX_CONTENT_TYPE: usize = 255;
/// Tag names starting with this (any case) are keyrot's own bookkeeping on the versions it
/// writes (rotation id, credential id, time); a user tag must not be able to forge them.
pub(super) const RESERVED_TAG_PREFIX: &str = "keyrot";

/// Whether a tag name is keyrot's own (it starts with [`RESERVED_TAG_PREFIX`], in any case).
pub fn is_reserved_tag(name: &str) -> bool {
    name.get(..RESERVED_TAG_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(RESERVED_TAG_PREFIX))
}

/// Secret names keyrot writes for its own bookkeeping (see `lock.rs` and `journal.rs`); a
/// credential with such a name would overwrite another credential's lock or journal.
pub(super) const RESERVED_SECRET_PREFIXES: [&str; 2] = ["keyrot-lock-", "keyrot-journal-"];

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
    /// Copies of the credential updated after a rotation, in file order.
    pub propagate: Vec<PropagateTarget>,
    /// Runs started once every copy holds the new value, in file order.
    pub triggers: Vec<TriggerTarget>,
    /// `on_new_version = "sync"`: under `keyrot serve`, a version written outside keyrot
    /// (Key Vault's `SecretNewVersionCreated`) is pushed to the copies and its runs started.
    pub sync_on_new_version: bool,
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
    /// One of a resource's two keys, alternating (`generator = "storage-account-key"`,
    /// `"service-bus-key"`, `"event-hubs-key"`, `"cosmos-db-key"`).
    ResourceKey(ResourceKeySpec),
}

impl Generator {
    /// The name used in `keyrot.toml` and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Generator::Random(_) => "random",
            Generator::EntraAppPassword { .. } => "entra-app-password",
            Generator::ResourceKey(key) => key.generator_name(),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) vault: Option<Spanned<String>>,
    pub(super) rotate_within: Option<Spanned<DurationText>>,
    pub(super) validity: Option<Spanned<DurationText>>,
    pub(super) grace: Option<Spanned<DurationText>>,
    pub(super) verify_timeout: Option<Spanned<DurationText>>,
    pub(super) content_type: Option<Spanned<String>>,
}

// `#[serde(flatten)]` of `RawDefaults` would be shorter, but serde does not support it together
// with `deny_unknown_fields`, so the [defaults] keys are repeated here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    pub(super) name: Option<Spanned<String>>,
    pub(super) generator: Option<Spanned<String>>,
    // The [defaults] keys, overriding them.
    pub(super) vault: Option<Spanned<String>>,
    pub(super) rotate_within: Option<Spanned<DurationText>>,
    pub(super) validity: Option<Spanned<DurationText>>,
    pub(super) grace: Option<Spanned<DurationText>>,
    pub(super) verify_timeout: Option<Spanned<DurationText>>,
    pub(super) content_type: Option<Spanned<String>>,
    pub(super) tags: Option<Spanned<BTreeMap<String, String>>>,
    // generator = "random" only.
    pub(super) length: Option<Spanned<i64>>,
    pub(super) charset: Option<Spanned<String>>,
    pub(super) template: Option<Spanned<String>>,
    pub(super) verify_command: Option<Spanned<Vec<String>>>,
    pub(super) verify_env: Option<Spanned<Vec<String>>>,
    // generator = "entra-app-password" only.
    pub(super) application: Option<Spanned<String>>,
    pub(super) remove_foreign: Option<Spanned<bool>>,
    // The resource key generators only.
    pub(super) resource: Option<Spanned<String>>,
    pub(super) value: Option<Spanned<String>>,
    pub(super) lro_timeout: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub(super) propagate: Vec<Spanned<RawPropagate>>,
    #[serde(default)]
    pub(super) trigger: Vec<Spanned<RawTrigger>>,
    // keyrot serve: what a version written outside keyrot sets off.
    pub(super) on_new_version: Option<Spanned<String>>,
}

/// A duration as written: a string (`"30d"`) or an integer number of days (`30`).
pub(super) struct DurationText(String);

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

/// The [defaults] table, each value read and judged on its own.
pub(super) struct Defaults {
    pub(super) vault: Option<Spanned<String>>,
    pub(super) rotate_within: Option<Setting<Duration>>,
    pub(super) validity: Option<Setting<Duration>>,
    pub(super) grace: Option<Setting<Duration>>,
    pub(super) verify_timeout: Option<Setting<Duration>>,
    pub(super) content_type: Option<Spanned<String>>,
}

pub(super) fn read_defaults(src: &Source<'_>, raw: RawDefaults) -> Result<Defaults, String> {
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

pub(super) fn read_credential(
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
                "{subject}: no generator: set generator = \"random\", \"entra-app-password\" \
                 or a resource key generator (\"storage-account-key\", \"service-bus-key\", \
                 \"event-hubs-key\", \"cosmos-db-key\")"
            ),
        ));
    };
    const RANDOM: &str = "random";
    const ENTRA: &str = "entra-app-password";
    const KEYS: &str = "a resource key generator (storage-account-key, service-bus-key, event-hubs-key, cosmos-db-key)";
    let span = |s: Option<std::ops::Range<usize>>| s;
    let keys_of =
        |raw: &RawCredential| -> Vec<(&'static str, &'static str, Option<std::ops::Range<usize>>)> {
            vec![
                (
                    "length",
                    RANDOM,
                    span(raw.length.as_ref().map(|s| s.span())),
                ),
                ("charset", RANDOM, raw.charset.as_ref().map(|s| s.span())),
                ("template", RANDOM, raw.template.as_ref().map(|s| s.span())),
                (
                    "verify_command",
                    RANDOM,
                    raw.verify_command.as_ref().map(|s| s.span()),
                ),
                (
                    "verify_env",
                    RANDOM,
                    raw.verify_env.as_ref().map(|s| s.span()),
                ),
                (
                    "application",
                    ENTRA,
                    raw.application.as_ref().map(|s| s.span()),
                ),
                (
                    "remove_foreign",
                    ENTRA,
                    raw.remove_foreign.as_ref().map(|s| s.span()),
                ),
                ("resource", KEYS, raw.resource.as_ref().map(|s| s.span())),
                ("value", KEYS, raw.value.as_ref().map(|s| s.span())),
                (
                    "lro_timeout",
                    KEYS,
                    raw.lro_timeout.as_ref().map(|s| s.span()),
                ),
            ]
        };
    let misplaced = |own: &str| {
        keys_of(&raw)
            .into_iter()
            .filter(|(_, belongs, _)| *belongs != own)
            .collect::<Vec<_>>()
    };
    let key_service = GENERATORS
        .iter()
        .find(|(name, _)| *name == generator.get_ref().as_str())
        .map(|(_, service)| *service);
    let generator = match generator.get_ref().as_str() {
        "random" => {
            refuse_keys(src, &subject, RANDOM, &misplaced(RANDOM))?;
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
            refuse_keys(src, &subject, ENTRA, &misplaced(ENTRA))?;
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
        name if key_service.is_some() => {
            refuse_keys(src, &subject, name, &misplaced(KEYS))?;
            Generator::ResourceKey(read_resource_key(
                src,
                &subject,
                at,
                key_service.expect("matched"),
                &raw,
                validity.from,
            )?)
        }
        other => {
            return Err(src.error_at(
                generator.span().start,
                format_args!(
                    "{subject}: unknown generator {other:?}: use \"random\", \
                     \"entra-app-password\", \"storage-account-key\", \"service-bus-key\", \
                     \"event-hubs-key\" or \"cosmos-db-key\""
                ),
            ))
        }
    };

    let vault_url = VaultUrl::parse(&vault).expect("checked above");
    let owner = Owner {
        name: &name,
        vault: &vault_url,
    };
    let propagate = raw
        .propagate
        .iter()
        .enumerate()
        .map(|(i, target)| read_propagate(src, &subject, &owner, i, target))
        .collect::<Result<Vec<_>, _>>()?;
    let mut triggers: Vec<TriggerTarget> = Vec::new();
    for (i, spanned) in raw.trigger.iter().enumerate() {
        let trigger = read_trigger(src, &subject, i, spanned)?;
        if let Some(first) = triggers.iter().position(|t| *t == trigger) {
            return Err(src.error_at(
                spanned.span().start,
                format_args!(
                    "{subject}: trigger #{} starts the same run as trigger #{}: list it once",
                    i + 1,
                    first + 1
                ),
            ));
        }
        triggers.push(trigger);
    }

    let sync_on_new_version = match raw.on_new_version.as_ref() {
        None => false,
        Some(choice) => match choice.get_ref().as_str() {
            "ignore" => false,
            "sync" => true,
            other => {
                return Err(src.error_at(
                    choice.span().start,
                    format_args!(
                        "{subject}: unknown on_new_version {other:?}: use \"sync\" (push a \
                         version written outside keyrot to the copies and start the runs) or \
                         \"ignore\""
                    ),
                ))
            }
        },
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
        propagate,
        triggers,
        sync_on_new_version,
    })
}

#[derive(Clone, Copy)]
pub(super) enum Key {
    RotateWithin,
    Validity,
    Grace,
    VerifyTimeout,
    LroTimeout,
}

impl Key {
    fn as_str(self) -> &'static str {
        match self {
            Key::RotateWithin => "rotate_within",
            Key::Validity => "validity",
            Key::Grace => "grace",
            Key::VerifyTimeout => "verify_timeout",
            Key::LroTimeout => "lro_timeout",
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
            Key::LroTimeout => Some("keyrot would stop waiting before the service could finish"),
        }
    }
}

pub(super) fn read_duration(
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
        Key::VerifyTimeout | Key::LroTimeout => parse_duration_with_unit,
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
pub(super) fn check_windows(
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

/// Refuses keys that belong to another generator, naming the first one written: each entry is
/// (key, the generator(s) it belongs to, where it was written).
pub(super) fn refuse_keys(
    src: &Source<'_>,
    subject: &Subject,
    generator: &str,
    keys: &[(&str, &str, Option<std::ops::Range<usize>>)],
) -> Result<(), String> {
    let first = keys
        .iter()
        .filter_map(|(key, belongs, span)| span.as_ref().map(|span| (key, belongs, span.start)))
        .min_by_key(|(_, _, start)| *start);
    match first {
        None => Ok(()),
        Some((key, belongs, start)) => {
            let belongs = if belongs.starts_with('a') {
                (*belongs).to_string()
            } else {
                format!("generator = \"{belongs}\"")
            };
            Err(src.error_at(
                start,
                format_args!(
                    "{subject}: {key} applies only to {belongs}, and this credential's \
                     generator is \"{generator}\""
                ),
            ))
        }
    }
}

pub(super) fn check_secret_name(
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

pub(super) fn check_vault(
    src: &Source<'_>,
    subject: &Subject,
    vault: &Spanned<String>,
) -> Result<(), String> {
    VaultUrl::parse(vault.get_ref())
        .map(|_| ())
        .map_err(|e| src.error_at(vault.span().start, format_args!("{subject}: vault: {e}")))
}

pub(super) fn check_content_type(
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

pub(super) fn check_tags(
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
pub(super) fn read_guid(
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
