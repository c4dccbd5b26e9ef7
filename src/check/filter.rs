//! Choosing which credentials a check looks at (`--name GLOB`, `--tag KEY=VALUE`).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::model::CredentialRecord;

/// `--name` globs. They match case-insensitively because Key Vault object names are
/// case-insensitive: `DB-*` and `db-*` name the same credentials there.
#[derive(Debug, Clone)]
pub struct NameGlobs {
    set: GlobSet,
    /// The patterns as typed, in the order of the set's indices.
    patterns: Vec<String>,
}

impl NameGlobs {
    /// `None` when no pattern was given: then every name is selected.
    pub fn new(patterns: &[String]) -> Result<Option<NameGlobs>, String> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut set = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .map_err(|error| format!("invalid --name pattern \"{pattern}\": {error}"))?;
            set.add(glob);
        }
        let set = set
            .build()
            .map_err(|error| format!("invalid --name patterns: {error}"))?;
        Ok(Some(NameGlobs {
            set,
            patterns: patterns.to_vec(),
        }))
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.set.is_match(name)
    }

    /// The patterns that select none of `names`, so a typo is reported instead of silently
    /// selecting nothing.
    pub fn unmatched<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<&str> {
        let mut hit = vec![false; self.patterns.len()];
        for name in names {
            for index in self.set.matches(name) {
                hit[index] = true;
            }
        }
        self.patterns
            .iter()
            .zip(hit)
            .filter(|(_, hit)| !hit)
            .map(|(pattern, _)| pattern.as_str())
            .collect()
    }
}

/// Selects credentials by name globs (any may match; none given selects all) and by tags (all
/// must match exactly). Tag keys and values are matched exactly.
#[derive(Debug, Clone)]
pub struct Filter {
    names: Option<NameGlobs>,
    tags: Vec<(String, String)>,
}

impl Filter {
    /// Builds a filter from the raw `--name` and `--tag` values.
    pub fn new(names: &[String], tags: &[String]) -> Result<Filter, String> {
        let tags = tags
            .iter()
            .map(|tag| parse_tag(tag))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            names: NameGlobs::new(names)?,
            tags,
        })
    }

    /// The `--name` patterns that select none of `records` (tags taken into account).
    pub fn unmatched_patterns<'r>(
        &self,
        records: impl IntoIterator<Item = &'r CredentialRecord>,
    ) -> Vec<&str> {
        match &self.names {
            None => Vec::new(),
            Some(globs) => globs.unmatched(
                records
                    .into_iter()
                    .filter(|r| self.tags_match(r))
                    .map(|r| r.name.as_str()),
            ),
        }
    }

    fn tags_match(&self, record: &CredentialRecord) -> bool {
        self.tags
            .iter()
            .all(|(key, value)| record.tags.get(key) == Some(value))
    }

    /// Whether the check should look at this record.
    pub fn matches(&self, record: &CredentialRecord) -> bool {
        let name_matches = self
            .names
            .as_ref()
            .is_none_or(|globs| globs.is_match(&record.name));
        name_matches && self.tags_match(record)
    }
}

/// Splits `KEY=VALUE` at the first `=`, so values may themselves contain `=`. An empty value is
/// allowed (it matches a tag set to the empty string); an empty key is not.
fn parse_tag(tag: &str) -> Result<(String, String), String> {
    match tag.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("invalid --tag \"{tag}\": expected KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::record;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    fn tagged(name: &str, tags: &[(&str, &str)]) -> CredentialRecord {
        let mut record = record(name);
        for (key, value) in tags {
            record.tags.insert((*key).to_owned(), (*value).to_owned());
        }
        record
    }

    fn filter(names: &[&str], tags: &[&str]) -> Filter {
        match Filter::new(&strings(names), &strings(tags)) {
            Ok(filter) => filter,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn no_patterns_match_everything() {
        assert!(filter(&[], &[]).matches(&record("anything")));
    }

    #[test]
    fn any_glob_may_match_the_name() {
        let by_name = filter(&["db-*", "api-?"], &[]);
        assert!(by_name.matches(&record("db-password")));
        assert!(by_name.matches(&record("api-1")));
        assert!(!by_name.matches(&record("api-10")));
        assert!(!by_name.matches(&record("cache-db-password")));
    }

    #[test]
    fn globs_ignore_case_like_key_vault() {
        assert!(filter(&["DB-*"], &[]).matches(&record("db-password")));
    }

    #[test]
    fn every_tag_must_match_exactly() {
        let by_tags = filter(&[], &["env=prod", "team=payments"]);
        assert!(by_tags.matches(&tagged(
            "a",
            &[("env", "prod"), ("team", "payments"), ("x", "y")]
        )));
        assert!(!by_tags.matches(&tagged("b", &[("env", "prod")])));
        assert!(!by_tags.matches(&tagged("c", &[("env", "Prod"), ("team", "payments")])));
    }

    #[test]
    fn tag_values_may_contain_equals_or_be_empty() {
        assert!(filter(&[], &["conn=a=b"]).matches(&tagged("a", &[("conn", "a=b")])));
        assert!(filter(&[], &["note="]).matches(&tagged("a", &[("note", "")])));
        assert!(!filter(&[], &["note="]).matches(&tagged("a", &[])));
    }

    #[test]
    fn names_and_tags_must_both_match() {
        let both = filter(&["db-*"], &["env=prod"]);
        assert!(both.matches(&tagged("db-password", &[("env", "prod")])));
        assert!(!both.matches(&tagged("db-password", &[("env", "dev")])));
        assert!(!both.matches(&tagged("api-key", &[("env", "prod")])));
    }

    #[test]
    fn malformed_tags_say_what_is_expected() {
        for bad in ["env", "=prod", ""] {
            let error = Filter::new(&[], &strings(&[bad])).unwrap_err();
            assert_eq!(
                error,
                format!("invalid --tag \"{bad}\": expected KEY=VALUE")
            );
        }
    }

    #[test]
    fn malformed_globs_are_refused() {
        let error = Filter::new(&strings(&["db-[abc"]), &[]).unwrap_err();
        assert!(
            error.starts_with("invalid --name pattern \"db-[abc\""),
            "{error}"
        );
    }

    #[test]
    fn patterns_that_select_nothing_are_named() {
        let filter = Filter::new(
            &strings(&["db-*", "api-key", "typo"]),
            &strings(&["env=prod"]),
        )
        .unwrap();
        let records = [
            tagged("db-password", &[("env", "prod")]),
            tagged("api-key", &[("env", "dev")]),
        ];
        // api-key exists but not with the tag, so it selects nothing either.
        assert_eq!(filter.unmatched_patterns(&records), ["api-key", "typo"]);
        let all = Filter::new(&[], &[]).unwrap();
        assert!(all.unmatched_patterns(&records).is_empty());
    }
}
