//! Which secrets must not be exported, and what that means for each way they were selected.
//!
//! A secret named exactly (`--name db-password`) that is disabled, expired or not yet valid is
//! *refused*: nothing at all is exported and fetch exits 1, because the pipeline asked for that
//! value and would otherwise run without it (or with a stale one). A secret selected by a glob or
//! by the absence of `--name` is *skipped* with a warning instead, as `AzureKeyVault@2`'s `*`
//! does: the other values are still exported. `--allow-expired` lets expired and not-yet-valid
//! secrets through either way (a disabled one cannot be read at all); `--strict` makes any skip
//! fatal. Pure: the instant is a parameter.

use time::OffsetDateTime;

use crate::check::dates::rfc3339_utc;
use crate::model::CredentialRecord;

/// What stands in the way of exporting a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Disabled,
    Expired(OffsetDateTime),
    NotYetValid(OffsetDateTime),
    /// Listed, but gone by the time it was read.
    Vanished,
}

impl Problem {
    /// The state's name in JSON, as `check` names it.
    pub fn state(&self) -> &'static str {
        match self {
            Problem::Disabled => "disabled",
            Problem::Expired(_) => "expired",
            Problem::NotYetValid(_) => "not_yet_valid",
            Problem::Vanished => "not_found",
        }
    }

    /// One sentence: what is wrong and what to do.
    pub fn explain(&self) -> String {
        match self {
            Problem::Disabled => "its current version is disabled (Key Vault refuses to read it); enable it or write a new version".into(),
            Problem::Expired(exp) => format!(
                "expired at {}; rotate it, or pass --allow-expired to export it anyway",
                rfc3339_utc(*exp)
            ),
            Problem::NotYetValid(nbf) => format!(
                "not valid until {}; pass --allow-expired to export it anyway",
                rfc3339_utc(*nbf)
            ),
            Problem::Vanished => "it was listed but no longer exists (deleted meanwhile?)".into(),
        }
    }
}

/// What keeps `record` (as listed, or as read) from being exported at `now`, if anything.
/// Expiry exactly now is expired; `nbf` exactly now is valid, as `check` judges them.
pub fn problem(
    record: &CredentialRecord,
    now: OffsetDateTime,
    allow_expired: bool,
) -> Option<Problem> {
    if !record.enabled {
        return Some(Problem::Disabled);
    }
    if allow_expired {
        return None;
    }
    if let Some(exp) = record.expires.filter(|&exp| exp <= now) {
        return Some(Problem::Expired(exp));
    }
    if let Some(nbf) = record.not_before.filter(|&nbf| nbf > now) {
        return Some(Problem::NotYetValid(nbf));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use time::macros::datetime;

    fn record(
        enabled: bool,
        nbf: Option<OffsetDateTime>,
        exp: Option<OffsetDateTime>,
    ) -> CredentialRecord {
        CredentialRecord {
            source: crate::model::Source::KeyVault,
            vault: "https://v.vault.azure.net".into(),
            kind: Kind::Secret,
            name: "db-password".into(),
            version: None,
            id: "https://v.vault.azure.net/secrets/db-password".into(),
            enabled,
            not_before: nbf,
            expires: exp,
            created: None,
            tags: Default::default(),
            superseded: None,
            entra: None,
            resource_key: None,
        }
    }

    #[test]
    fn expired_disabled_and_early_secrets_are_caught_at_the_exact_instant() {
        let now = datetime!(2026-11-26 12:00 UTC);
        let second = time::Duration::SECOND;
        assert_eq!(problem(&record(true, None, None), now, false), None);
        assert_eq!(
            problem(&record(true, None, Some(now)), now, false),
            Some(Problem::Expired(now))
        );
        assert_eq!(
            problem(&record(true, None, Some(now + second)), now, false),
            None
        );
        assert_eq!(
            problem(&record(true, Some(now + second), None), now, false),
            Some(Problem::NotYetValid(now + second))
        );
        assert_eq!(problem(&record(true, Some(now), None), now, false), None);
        assert_eq!(
            problem(&record(false, None, None), now, false),
            Some(Problem::Disabled)
        );
        // --allow-expired lets expired and early ones through, never disabled ones.
        assert_eq!(problem(&record(true, None, Some(now)), now, true), None);
        assert_eq!(
            problem(&record(true, Some(now + second), None), now, true),
            None
        );
        assert_eq!(
            problem(&record(false, None, None), now, true),
            Some(Problem::Disabled)
        );
    }

    #[test]
    fn explanations_say_what_to_do() {
        let now = datetime!(2026-11-26 12:00 UTC);
        assert!(Problem::Expired(now)
            .explain()
            .starts_with("expired at 2026-11-26T12:00:00Z; rotate it"));
        assert!(Problem::NotYetValid(now)
            .explain()
            .contains("--allow-expired"));
        assert!(Problem::Disabled.explain().contains("disabled"));
        assert_eq!(Problem::NotYetValid(now).state(), "not_yet_valid");
    }
}
