//! The names the pipeline sections share: Azure DevOps organizations, projects and
//! "name or numeric id" references, GitHub repositories, environment variable names, and the
//! refusal of keys that belong to another `to`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::source::{Source, Subject};

/// The public Azure DevOps service, which an organization URL normally names.
const AZURE_DEVOPS: &str = "dev.azure.com";

/// An Azure DevOps organization, normalised to its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevOpsOrganization {
    /// The organization's name (`contoso`), as written.
    pub name: String,
    /// The origin written in a URL form whose host is not `dev.azure.com`
    /// (`https://devops.localhost:8443`). It is not trusted here: the client accepts it only
    /// when `KEYROT_AZURE_DEVOPS_URL` names that same origin.
    pub other_origin: Option<String>,
}

impl DevOpsOrganization {
    /// The collection URL requests go to: `https://dev.azure.com/contoso`, or under
    /// `devops_url` (the value of `KEYROT_AZURE_DEVOPS_URL`) when it is set. An organization
    /// written with another host must match `devops_url`'s origin.
    pub fn base_url(&self, devops_url: Option<&Url>) -> Result<Url, String> {
        self.url_on(devops_url, "")
    }

    /// The Release Management collection URL (classic releases): `vsrm.` before the host of
    /// [`base_url`](Self::base_url), `https://vsrm.dev.azure.com/contoso`.
    pub fn release_url(&self, devops_url: Option<&Url>) -> Result<Url, String> {
        self.url_on(devops_url, "vsrm.")
    }

    fn url_on(&self, devops_url: Option<&Url>, host_prefix: &str) -> Result<Url, String> {
        let base = match devops_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("https://{AZURE_DEVOPS}")).expect("a valid URL"),
        };
        if let Some(origin) = &self.other_origin {
            if base.origin().ascii_serialization() != *origin {
                return Err(format!(
                    "organization {:?} is written with the host {origin}, which is not \
                     {AZURE_DEVOPS} nor KEYROT_AZURE_DEVOPS_URL: write the organization's name \
                     (\"{}\") or set KEYROT_AZURE_DEVOPS_URL to {origin}",
                    self.name, self.name
                ));
            }
        }
        let mut url = base;
        if !host_prefix.is_empty() {
            let host = format!("{host_prefix}{}", url.host_str().unwrap_or_default());
            url.set_host(Some(&host))
                .map_err(|e| format!("KEYROT_AZURE_DEVOPS_URL: {e}"))?;
        }
        url.path_segments_mut()
            .map_err(|()| "KEYROT_AZURE_DEVOPS_URL is not an https URL".to_owned())?
            .pop_if_empty()
            .push(&self.name);
        Ok(url)
    }
}

impl fmt::Display for DevOpsOrganization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A pipeline, release definition, variable group or workflow: by name or by numeric id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameOrId {
    Name(String),
    Id(u64),
}

impl fmt::Display for NameOrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameOrId::Name(name) => write!(f, "{name:?}"),
            NameOrId::Id(id) => write!(f, "#{id}"),
        }
    }
}

impl NameOrId {
    /// As a request names it: the name itself, or the id's digits.
    pub fn as_request(&self) -> String {
        match self {
            NameOrId::Name(name) => name.clone(),
            NameOrId::Id(id) => id.to_string(),
        }
    }
}

/// A GitHub repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A name or an id as written: a string, or a TOML integer.
pub(super) struct NameOrIdText(pub(super) String);

impl<'de> Deserialize<'de> for NameOrIdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameOrIdVisitor;
        impl Visitor<'_> for NameOrIdVisitor {
            type Value = NameOrIdText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a numeric id")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<NameOrIdText, E> {
                Ok(NameOrIdText(text.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, id: i64) -> Result<NameOrIdText, E> {
                Ok(NameOrIdText(id.to_string()))
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<NameOrIdText, E> {
                Ok(NameOrIdText(id.to_string()))
            }
        }
        deserializer.deserialize_any(NameOrIdVisitor)
    }
}

/// A key of a section table, and where it was written if it was.
pub(super) type Present<'a> = (&'a str, Option<Range<usize>>);

pub(super) fn span<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

/// Refuses the first key written that `to = "{to}"` does not take, naming the ones it does.
pub(super) fn refuse_foreign(
    src: &Source<'_>,
    subject: &Subject,
    to: &str,
    present: &[Present<'_>],
    allowed: &[&str],
) -> Result<(), String> {
    let first = present
        .iter()
        .filter(|(key, _)| !allowed.contains(key))
        .filter_map(|(key, span)| span.as_ref().map(|span| (key, span.start)))
        .min_by_key(|(_, start)| *start);
    match first {
        None => Ok(()),
        Some((key, start)) => Err(src.error_at(
            start,
            format_args!(
                "{subject}: {key} does not apply to to = \"{to}\", which takes {}",
                allowed.join(", ")
            ),
        )),
    }
}

/// The value of a required key, or an error at the table naming the key and what it holds.
pub(super) fn required<'v, T>(
    src: &Source<'_>,
    subject: &Subject,
    at: usize,
    value: &'v Option<Spanned<T>>,
    key: &str,
    what: &str,
) -> Result<&'v Spanned<T>, String> {
    value
        .as_ref()
        .ok_or_else(|| src.error_at(at, format_args!("{subject}: no {key}: set {key} to {what}")))
}

/// `contoso` or `https://dev.azure.com/contoso[/]`.
fn read_organization(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Spanned<String>,
) -> Result<DevOpsOrganization, String> {
    let text = raw.get_ref().trim();
    let fail = |why: &str| {
        Err(src.error_at(
            raw.span().start,
            format_args!("{subject}: organization {text:?} {why}"),
        ))
    };
    let (name, other_origin) = if text.contains("://") {
        let Ok(url) = Url::parse(text) else {
            return fail("is not a URL: write the organization's name (\"contoso\") or its URL (\"https://dev.azure.com/contoso\")");
        };
        if url.scheme() != "https" {
            return fail("must be an https URL, like \"https://dev.azure.com/contoso\"");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return fail("carries credentials in its URL: remove them (keyrot reads AZURE_DEVOPS_EXT_PAT or SYSTEM_ACCESSTOKEN)");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return fail(
                "has a query or fragment: write only https://dev.azure.com/<organization>",
            );
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let [name] = segments[..] else {
            return fail("must be the organization's URL, https://dev.azure.com/<organization>, with no project or further path");
        };
        let other = (url.host_str() != Some(AZURE_DEVOPS) || url.port().is_some())
            .then(|| url.origin().ascii_serialization());
        (name.to_owned(), other)
    } else {
        (text.to_owned(), None)
    };
    // Azure DevOps organization names: letters, digits and hyphens, starting and ending with a
    // letter or digit, at most 50.
    let ok = (1..=50).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return fail("is not an organization name (1 to 50 letters, digits and hyphens) nor https://dev.azure.com/<organization>");
    }
    Ok(DevOpsOrganization { name, other_origin })
}

/// The `organization` and `project` every Azure DevOps target names, both required.
pub(super) fn read_devops_project(
    src: &Source<'_>,
    subject: &Subject,
    at: usize,
    organization: &Option<Spanned<String>>,
    project: &Option<Spanned<String>>,
) -> Result<(DevOpsOrganization, String), String> {
    let organization = required(
        src,
        subject,
        at,
        organization,
        "organization",
        "the Azure DevOps organization (\"contoso\" or \"https://dev.azure.com/contoso\")",
    )?;
    let project = required(
        src,
        subject,
        at,
        project,
        "project",
        "the project that holds it",
    )?;
    Ok((
        read_organization(src, subject, organization)?,
        read_project(src, subject, project)?,
    ))
}

/// An Azure DevOps project name: not empty, at most 64 characters, none of the characters
/// Azure DevOps refuses in one.
fn read_project(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Spanned<String>,
) -> Result<String, String> {
    let text = raw.get_ref();
    let forbidden = |c: char| c.is_control() || "\\/:*?\"'<>;#$%{}+=[]|,&".contains(c);
    if text.trim().is_empty()
        || text.chars().count() > 64
        || text.chars().any(forbidden)
        || text.starts_with(['_', '.'])
        || text.ends_with('.')
    {
        return Err(src.error_at(
            raw.span().start,
            format_args!(
                "{subject}: project {text:?} is not an Azure DevOps project name (1 to 64 \
                 characters, no control characters nor any of \\/:*?\"'<>;#$%{{}}+=[]|,&)"
            ),
        ));
    }
    Ok(text.clone())
}

/// A name (any text without control characters, at most 260) or a numeric id.
pub(super) fn read_name_or_id(
    src: &Source<'_>,
    subject: &Subject,
    key: &str,
    raw: &Spanned<NameOrIdText>,
) -> Result<NameOrId, String> {
    let text = raw.get_ref().0.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<u64>() {
            Ok(id) if id > 0 => Ok(NameOrId::Id(id)),
            _ => Err(src.error_at(
                raw.span().start,
                format_args!("{subject}: {key} {text} is not a valid id: ids start at 1"),
            )),
        };
    }
    if text.is_empty() || text.chars().count() > 260 || text.chars().any(char::is_control) {
        return Err(src.error_at(
            raw.span().start,
            format_args!(
                "{subject}: {key} must be a name (1 to 260 characters, no control characters) \
                 or a numeric id"
            ),
        ));
    }
    Ok(NameOrId::Name(text.to_owned()))
}

/// `owner/name`, as GitHub allows them.
pub(super) fn read_repository(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Spanned<String>,
) -> Result<Repository, String> {
    let text = raw.get_ref().trim();
    let parsed = text.split_once('/').filter(|(owner, name)| {
        is_github_owner(owner) && is_plain_name(name, 100) && *name != "." && *name != ".."
    });
    match parsed {
        Some((owner, name)) => Ok(Repository {
            owner: owner.to_owned(),
            name: name.to_owned(),
        }),
        None => Err(src.error_at(
            raw.span().start,
            format_args!(
                "{subject}: repository {text:?} is not owner/name: write it as GitHub shows \
                 it, like \"contoso/billing\""
            ),
        )),
    }
}

/// 1 to `max` letters, digits, `.`, `_` and `-`: the names GitHub repositories, workflow files,
/// variables and inputs share.
pub(super) fn is_plain_name(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A GitHub user or organization login: 1 to 39 letters, digits and hyphens.
pub(super) fn is_github_owner(text: &str) -> bool {
    (1..=39).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !text.starts_with('-')
}

/// The name of an environment variable (`KEYROT_TEAMS_WEBHOOK_URL`): letters, digits and `_`,
/// not starting with a digit.
pub(super) fn read_env_name(
    src: &Source<'_>,
    subject: &Subject,
    key: &str,
    raw: &Spanned<String>,
) -> Result<String, String> {
    let text = raw.get_ref();
    let ok = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.len() <= 255
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(text.clone());
    }
    let hint = if text.contains("://") {
        ": it holds the URL itself, which is a secret and must not be written in the file; \
         put the URL in an environment variable and name that variable here"
    } else {
        ", like \"KEYROT_TEAMS_WEBHOOK_URL\" (letters, digits and _)"
    };
    Err(src.error_at(
        raw.span().start,
        format_args!("{subject}: {key} must name an environment variable{hint}"),
    ))
}

/// Runtime parameters or workflow inputs: names without control characters, values as strings.
pub(super) fn read_string_map(
    src: &Source<'_>,
    subject: &Subject,
    key: &str,
    raw: &Option<Spanned<BTreeMap<String, String>>>,
) -> Result<BTreeMap<String, String>, String> {
    let Some(raw) = raw else {
        return Ok(BTreeMap::new());
    };
    for name in raw.get_ref().keys() {
        if !is_plain_name(name, 100) {
            return Err(src.error_at(
                raw.span().start,
                format_args!(
                    "{subject}: {key} has the name {name:?}: names are 1 to 100 letters, \
                     digits, _, - and ."
                ),
            ));
        }
    }
    Ok(raw.get_ref().clone())
}
