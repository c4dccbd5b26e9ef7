//! Which secrets `fetch` reads, from `--name`, `--exclude` and `--tag`.
//!
//! `--name [VAULT/]NAME[=VARIABLE]` with an exact Key Vault name (letters, digits, hyphens) is
//! read directly with one GET per vault, without listing anything, and may choose the variable
//! it is exported under. `--name [VAULT/]GLOB` (`*`, `?`, `[…]`, `{…}`) is matched against each
//! vault's listing, case-insensitively as Key Vault names are. Without `--name`, every secret of
//! every vault is selected. `VAULT/` limits an entry to the vault with that name (the first
//! label of its host: `payments` for `https://payments.vault.azure.net`), which is how the same
//! secret name in two vaults gets two variables.

use globset::{GlobBuilder, GlobMatcher};

use crate::check::Filter;
use crate::model::CredentialRecord;
use crate::vault::VaultUrl;

use super::variables;

/// The characters that make a `--name` a glob rather than an exact name.
const GLOB_CHARACTERS: &[char] = &['*', '?', '[', ']', '{', '}'];

/// One `--name` (or `--exclude`) as typed, understood.
#[derive(Debug, Clone)]
pub struct NameSpec {
    /// As typed, for messages.
    pub typed: String,
    /// The vault it is limited to (an index into the vaults), if qualified.
    pub vault: Option<usize>,
    pub pattern: Pattern,
    /// The variable chosen with `=VARIABLE` (exact names only).
    pub variable: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Pattern {
    /// A Key Vault secret name, read directly.
    Exact(String),
    /// A glob, matched against listings.
    Glob(GlobMatcher),
}

impl NameSpec {
    fn applies_to(&self, vault: usize) -> bool {
        self.vault.is_none_or(|v| v == vault)
    }

    fn matches(&self, name: &str) -> bool {
        match &self.pattern {
            Pattern::Exact(exact) => exact.eq_ignore_ascii_case(name),
            Pattern::Glob(glob) => glob.is_match(name),
        }
    }

    /// The exact name, if this is one.
    pub fn exact(&self) -> Option<&str> {
        match &self.pattern {
            Pattern::Exact(name) => Some(name),
            Pattern::Glob(_) => None,
        }
    }
}

/// One secret to read directly: an exact `--name` in one of the vaults it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactRead {
    /// Index of the `--name` in [`Selection::names`].
    pub spec: usize,
    pub vault: usize,
    /// The name as the user typed it: what the variable is derived from.
    pub name: String,
}

/// Everything `--name`, `--exclude` and `--tag` say, checked against the vaults.
#[derive(Debug)]
pub struct Selection {
    pub vaults: Vec<VaultUrl>,
    pub names: Vec<NameSpec>,
    excludes: Vec<NameSpec>,
    tags: Filter,
    /// The `--tag`s as typed, for messages.
    tags_typed: Vec<String>,
}

impl Selection {
    /// Parses and checks the flags; every problem is a usage error, found before any request.
    pub fn parse(
        vaults: Vec<VaultUrl>,
        names: &[String],
        excludes: &[String],
        tags: &[String],
    ) -> Result<Selection, String> {
        let names = names
            .iter()
            .map(|typed| parse_spec(typed, &vaults, Flag::Name))
            .collect::<Result<Vec<_>, _>>()?;
        let excludes = excludes
            .iter()
            .map(|typed| parse_spec(typed, &vaults, Flag::Exclude))
            .collect::<Result<Vec<_>, _>>()?;
        let selection = Selection {
            tags: Filter::new(&[], tags)?,
            tags_typed: tags.to_vec(),
            vaults,
            names,
            excludes,
        };
        for read in selection.exact_reads() {
            if let Some(exclude) = selection.excluding(read.vault, &read.name) {
                return Err(format!(
                    "--name {} is also excluded by --exclude {}; drop one of them",
                    selection.names[read.spec].typed, exclude.typed
                ));
            }
        }
        Ok(selection)
    }

    /// The secrets to read directly, one per exact `--name` and vault it applies to.
    pub fn exact_reads(&self) -> Vec<ExactRead> {
        let mut reads: Vec<ExactRead> = Vec::new();
        for (spec, name) in self.names.iter().enumerate() {
            let Some(exact) = name.exact() else { continue };
            for vault in (0..self.vaults.len()).filter(|&v| name.applies_to(v)) {
                // The same name twice for one vault is read once (the first spec decides).
                let duplicate = reads
                    .iter()
                    .any(|r| r.vault == vault && r.name.eq_ignore_ascii_case(exact));
                if !duplicate {
                    reads.push(ExactRead {
                        spec,
                        vault,
                        name: exact.to_string(),
                    });
                }
            }
        }
        reads
    }

    /// Whether a vault must be listed: without `--name`, or when a glob applies to it.
    pub fn needs_listing(&self, vault: usize) -> bool {
        self.names.is_empty()
            || self
                .names
                .iter()
                .any(|n| n.exact().is_none() && n.applies_to(vault))
    }

    /// The listed secrets of one vault that globs (or the absence of `--name`) select, with
    /// matching tags, not excluded, not keyrot's own bookkeeping, and not read directly as an
    /// exact name anyway.
    pub fn select_listed<'r>(
        &self,
        vault: usize,
        listed: &'r [CredentialRecord],
    ) -> Vec<&'r CredentialRecord> {
        listed
            .iter()
            .filter(|record| {
                let by_glob = self.names.is_empty()
                    || self.names.iter().any(|n| {
                        n.exact().is_none() && n.applies_to(vault) && n.matches(&record.name)
                    });
                let by_exact = self
                    .names
                    .iter()
                    .any(|n| n.exact().is_some() && n.applies_to(vault) && n.matches(&record.name));
                by_glob
                    && !by_exact
                    && self.tags.matches(record)
                    && !crate::rotate::is_internal(record)
                    && self.excluding(vault, &record.name).is_none()
            })
            .collect()
    }

    /// The globs that select nothing in any vault they apply to (tags taken into account), so a
    /// typo is an error rather than an empty export.
    pub fn unmatched_globs(&self, listings: &[(usize, Vec<CredentialRecord>)]) -> Vec<&str> {
        self.names
            .iter()
            .filter(|n| n.exact().is_none())
            .filter(|n| {
                !listings.iter().any(|(vault, records)| {
                    n.applies_to(*vault)
                        && records.iter().any(|r| {
                            n.matches(&r.name)
                                && self.tags.matches(r)
                                && !crate::rotate::is_internal(r)
                        })
                })
            })
            .map(|n| n.typed.as_str())
            .collect()
    }

    /// Whether a secret read directly has the `--tag`s asked for.
    pub fn tags_match(&self, record: &CredentialRecord) -> bool {
        self.tags.matches(record)
    }

    pub fn has_tags(&self) -> bool {
        !self.tags_typed.is_empty()
    }

    pub fn tag_list(&self) -> &[String] {
        &self.tags_typed
    }

    fn excluding(&self, vault: usize, name: &str) -> Option<&NameSpec> {
        self.excludes
            .iter()
            .find(|e| e.applies_to(vault) && e.matches(name))
    }

    /// How a secret of `vault` is named on the command line: qualified with its vault when there
    /// are several, for the renames keyrot suggests.
    pub fn qualified(&self, vault: usize, name: &str) -> String {
        if self.vaults.len() > 1 {
            format!("{}/{name}", self.vaults[vault].name())
        } else {
            name.to_string()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag {
    Name,
    Exclude,
}

impl Flag {
    fn as_str(self) -> &'static str {
        match self {
            Flag::Name => "--name",
            Flag::Exclude => "--exclude",
        }
    }
}

/// Key Vault's rule for object names: 1–127 letters, digits and hyphens.
pub fn is_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn parse_spec(typed: &str, vaults: &[VaultUrl], flag: Flag) -> Result<NameSpec, String> {
    let what = flag.as_str();
    let (target, variable) = match typed.split_once('=') {
        Some((target, variable)) => (target, Some(variable)),
        None => (typed, None),
    };
    let (vault, pattern) = match target.split_once('/') {
        Some((qualifier, pattern)) => (Some(vault_index(qualifier, vaults, typed, what)?), pattern),
        None => (None, target),
    };
    let pattern = if pattern.contains(GLOB_CHARACTERS) {
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("invalid {what} {typed:?}: {e}"))?;
        Pattern::Glob(glob.compile_matcher())
    } else if is_secret_name(pattern) {
        Pattern::Exact(pattern.to_string())
    } else {
        return Err(format!(
            "invalid {what} {typed:?}: {pattern:?} is neither a Key Vault secret name (1-127 letters, digits and hyphens) nor a glob (*, ?, [...], {{...}})"
        ));
    };
    let variable = match (variable, flag, &pattern) {
        (None, _, _) => None,
        (Some(_), Flag::Exclude, _) => {
            return Err(format!(
                "invalid --exclude {typed:?}: an exclusion names secrets only, without =VARIABLE"
            ))
        }
        (Some(_), Flag::Name, Pattern::Glob(_)) => {
            return Err(format!(
                "invalid --name {typed:?}: =VARIABLE renames one secret, so it needs an exact name, not a glob"
            ))
        }
        (Some(variable), Flag::Name, Pattern::Exact(_)) => {
            if let Some(problem) = variables::env_problem(variable) {
                return Err(format!(
                    "invalid --name {typed:?}: the variable {variable:?} cannot be used: {problem}; choose another, e.g. {}",
                    variables::suggestion(variable)
                ));
            }
            Some(variable.to_string())
        }
    };
    Ok(NameSpec {
        typed: typed.to_string(),
        vault,
        pattern,
        variable,
    })
}

/// The vault a `VAULT/` qualifier names: the `--vault` whose name (its host's first label) is
/// `qualifier`, ignoring case.
fn vault_index(
    qualifier: &str,
    vaults: &[VaultUrl],
    typed: &str,
    what: &str,
) -> Result<usize, String> {
    let named: Vec<usize> = (0..vaults.len())
        .filter(|&i| vaults[i].name().eq_ignore_ascii_case(qualifier))
        .collect();
    match named.as_slice() {
        [index] => Ok(*index),
        [] => Err(format!(
            "invalid {what} {typed:?}: no --vault is named {qualifier:?} (the vaults are {})",
            vaults.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
        )),
        _ => Err(format!(
            "invalid {what} {typed:?}: several --vault entries are named {qualifier:?}; give vaults with distinct names"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vaults() -> Vec<VaultUrl> {
        [
            "https://app.vault.azure.net",
            "https://payments.vault.azure.net",
        ]
        .iter()
        .map(|v| VaultUrl::parse(v).unwrap())
        .collect()
    }

    fn selection(names: &[&str], excludes: &[&str]) -> Result<Selection, String> {
        let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Selection::parse(vaults(), &own(names), &own(excludes), &[])
    }

    fn record(name: &str) -> CredentialRecord {
        CredentialRecord {
            source: crate::model::Source::KeyVault,
            vault: String::new(),
            kind: crate::model::Kind::Secret,
            name: name.into(),
            version: None,
            id: String::new(),
            enabled: true,
            not_before: None,
            expires: None,
            created: None,
            tags: Default::default(),
            superseded: None,
            entra: None,
            resource_key: None,
        }
    }

    #[test]
    fn exact_names_are_read_from_every_vault_they_apply_to() {
        let s = selection(
            &["db-password", "payments/api-key=PAY_KEY", "DB-PASSWORD"],
            &[],
        )
        .unwrap();
        let reads: Vec<(usize, String)> = s
            .exact_reads()
            .into_iter()
            .map(|r| (r.vault, r.name))
            .collect();
        let expected = [(0, "db-password"), (1, "db-password"), (1, "api-key")];
        assert_eq!(reads, expected.map(|(v, n)| (v, n.to_string())));
        assert_eq!(s.names[1].variable.as_deref(), Some("PAY_KEY"));
        assert!(!s.needs_listing(0) && !s.needs_listing(1));
    }

    #[test]
    fn globs_list_only_the_vaults_they_apply_to() {
        let s = selection(&["payments/db-*", "api-key"], &[]).unwrap();
        assert!(!s.needs_listing(0));
        assert!(s.needs_listing(1));
        let listed = vec![
            record("db-one"),
            record("DB-TWO"),
            record("api-key"),
            record("other"),
        ];
        let picked: Vec<&str> = s
            .select_listed(1, &listed)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(picked, ["db-one", "DB-TWO"]);
        assert!(s.unmatched_globs(&[(1, listed.clone())]).is_empty());
        assert_eq!(
            s.unmatched_globs(&[(1, vec![record("other")])]),
            ["payments/db-*"]
        );
        // No --name: everything is selected.
        assert_eq!(
            selection(&[], &[]).unwrap().select_listed(0, &listed).len(),
            4
        );
    }

    #[test]
    fn excludes_remove_listed_secrets_and_contradict_exact_names() {
        let s = selection(&[], &["db-*", "payments/other"]).unwrap();
        let listed = vec![record("db-one"), record("other"), record("api-key")];
        let picked = |v| {
            s.select_listed(v, &listed)
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(picked(0), ["other", "api-key"]);
        assert_eq!(picked(1), ["api-key"]);
        let err = selection(&["db-one"], &["db-*"]).unwrap_err();
        assert!(
            err.contains("--name db-one is also excluded by --exclude db-*"),
            "{err}"
        );
    }

    #[test]
    fn bad_specs_are_usage_errors_that_say_why() {
        for (names, excludes, expected) in [
            (
                &["db_password"][..],
                &[][..],
                "neither a Key Vault secret name",
            ),
            (&["db-*=DB"], &[], "needs an exact name"),
            (&["db=1DB"], &[], "not a portable variable name"),
            (&["bash-env=BASH_ENV"], &[], "MY_BASH_ENV"),
            (&["db=LD_PRELOAD"], &[], "LD_*"),
            (&["nowhere/db"], &[], "no --vault is named \"nowhere\""),
            (&[], &["x=Y"], "without =VARIABLE"),
            (&["db-["], &[], "invalid --name"),
        ] {
            let err = selection(names, excludes).unwrap_err();
            assert!(err.contains(expected), "{names:?} {excludes:?}: {err}");
        }
    }
}
