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
//! After a rotation, keyrot updates the credential's copies (`[[credential.propagate]]`:
//! Azure DevOps variable groups, GitHub secrets), starts the runs that deploy it
//! (`[[credential.trigger]]`: YAML pipelines, classic releases, GitHub workflows) and tells people
//! (`[[notify]]`: Teams, Slack, a signed webhook, a GitHub issue). Each section is its own module
//! with its own `deny_unknown_fields` type; a key that belongs to another `to` is refused by
//! name. Webhook URLs and signing secrets are secrets: the file names the environment variables
//! that hold them (`url_env`, `secret_env`), and a `url` key is refused.
//!
//! Built-in defaults when neither `[defaults]` nor the credential sets a key: `rotate_within`
//! 30d, `validity` 90d, `grace` 7d, `verify_timeout` 5m, no content type. There is no default
//! vault. Durations are written as `check` reads them (`30d`, `12h`, `90m`, `45s`, or a bare
//! number of days, as a string or a TOML integer).

mod credential;
mod names;
mod notify;
#[cfg(test)]
mod pipeline_tests;
mod propagate;
#[cfg(test)]
mod propagate_tests;
mod random;
mod resource_key;
#[cfg(test)]
mod resource_key_tests;
mod source;
#[cfg(test)]
mod tests;
mod trigger;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::vault::VaultUrl;
pub use credential::{is_reserved_tag, CredentialSpec, Generator};
use credential::{read_credential, read_defaults, RawCredential, RawDefaults};
pub use names::{DevOpsOrganization, NameOrId, Repository};
use notify::{channel, read_notify, RawNotify};
pub use notify::{NotifyEvent, NotifySpec, NotifyTarget};
pub use propagate::{GithubSecretScope, PropagateTarget, Visibility};
pub use random::{Charset, RandomSpec, DEFAULT_LENGTH, MAX_LENGTH, MIN_LENGTH, RANDOM_PLACEHOLDER};
pub use resource_key::{KeyForm, ResourceKeySpec, DEFAULT_LRO_TIMEOUT};
use source::{Source, Subject};
pub use trigger::TriggerTarget;

/// The rotation plan, with defaults applied to every credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// In file order.
    pub credentials: Vec<CredentialSpec>,
    /// Notification channels, in file order.
    pub notify: Vec<NotifySpec>,
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
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
}

fn build(src: &Source<'_>, raw: RawFile) -> Result<Config, String> {
    let defaults = read_defaults(src, raw.defaults)?;
    if raw.credential.is_empty() {
        return Err(format!(
            "{}: no [[credential]]: add at least one [[credential]] table with a name and a \
             generator (\"random\", \"entra-app-password\", \"storage-account-key\", \
             \"service-bus-key\", \"event-hubs-key\" or \"cosmos-db-key\")",
            src.origin
        ));
    }

    let mut credentials = Vec::with_capacity(raw.credential.len());
    // (vault URL, secret name), both lower-cased -> (name as written, offset of the credential).
    let mut seen: HashMap<(String, String), (String, usize)> = HashMap::new();
    // application -> (credential name, offset of its `remove_foreign = true`, if set).
    let mut apps: HashMap<String, Vec<(String, Option<usize>)>> = HashMap::new();
    // A copy written by two propagations would hold whichever value came last.
    // identity -> (credential name, line of its [[credential.propagate]]).
    let mut copies: HashMap<String, (String, usize)> = HashMap::new();

    for (index, spanned) in raw.credential.into_iter().enumerate() {
        let at = spanned.span().start;
        let raw = spanned.into_inner();
        let remove_foreign_at = raw
            .remove_foreign
            .as_ref()
            .filter(|flag| *flag.get_ref())
            .map(|flag| flag.span().start);
        let propagate_at: Vec<usize> = raw.propagate.iter().map(|p| p.span().start).collect();
        let spec = read_credential(src, &defaults, index, at, raw)?;
        for (target, target_at) in spec.propagate.iter().zip(propagate_at) {
            let identity = target.identity();
            if let Some((first, first_line)) = copies.get(&identity) {
                return Err(src.error_at(
                    target_at,
                    format_args!(
                        "{}: this {} target is already written by credential {first:?} (line \
                         {first_line}): one copy can hold only one credential; remove one",
                        Subject::credential(&spec.name),
                        target.kind()
                    ),
                ));
            }
            copies.insert(identity, (spec.name.clone(), src.line(target_at)));
        }

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

    let mut notify = Vec::with_capacity(raw.notify.len());
    // channel -> line of its [[notify]].
    let mut channels: HashMap<String, usize> = HashMap::new();
    for (index, spanned) in raw.notify.iter().enumerate() {
        let spec = read_notify(src, index, spanned)?;
        let at = spanned.span().start;
        if let Some(first_line) = channels.insert(channel(&spec.target), src.line(at)) {
            return Err(src.error_at(
                at,
                format_args!(
                    "{}: the same channel as the [[notify]] on line {first_line}: every message \
                     would be sent twice; merge their events into one",
                    Subject::notify(index)
                ),
            ));
        }
        notify.push(spec);
    }

    Ok(Config {
        credentials,
        notify,
    })
}
