//! What a check concluded about one credential.

use serde::Serialize;

use crate::model::CredentialRecord;

/// Why a credential was judged the way it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Expires after the warn window.
    Valid,
    /// Expires inside the warn or the fail window.
    Expiring,
    /// Expired at or before the check.
    Expired,
    /// Has no expiry date.
    NoExpiry,
    /// Its not-before date is still in the future.
    NotYetValid,
    /// Disabled in the vault: reported, never gating.
    Disabled,
    /// The current version is disabled while an older version is still enabled: every reader
    /// gets `403 SecretDisabled` (seen only with `--versions`).
    CurrentDisabled,
    /// A superseded version still enabled within the grace period keyrot's rotation gave it.
    InGrace,
    /// An older version that a newer one replaced, yet still enabled.
    StaleEnabledVersion,
}

impl State {
    /// The name used in JSON and every report (`no_expiry`, `stale_enabled_version`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::Expiring => "expiring",
            State::Expired => "expired",
            State::NoExpiry => "no_expiry",
            State::NotYetValid => "not_yet_valid",
            State::Disabled => "disabled",
            State::CurrentDisabled => "current_disabled",
            State::InGrace => "in_grace",
            State::StaleEnabledVersion => "stale_enabled_version",
        }
    }
}

/// How much a finding matters to the gate. Ordered so that `Fail > Warn > Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warn,
    Fail,
}

impl Severity {
    /// The name used in JSON and every report (`ok`, `warn`, `fail`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

/// One credential and the judgement on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub record: CredentialRecord,
    pub state: State,
    pub severity: Severity,
    /// Whole seconds from the check until expiry (negative once expired); `None` without an
    /// expiry date.
    pub expires_in_seconds: Option<i64>,
    /// A short sentence for people, e.g. `expired 3 days ago (2026-11-23)`.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_fail_above_warn_above_ok() {
        assert!(Severity::Fail > Severity::Warn);
        assert!(Severity::Warn > Severity::Ok);
        assert_eq!(
            [Severity::Warn, Severity::Fail, Severity::Ok].iter().max(),
            Some(&Severity::Fail)
        );
    }

    #[test]
    fn serde_names_match_as_str() {
        let states = [
            State::Valid,
            State::Expiring,
            State::Expired,
            State::NoExpiry,
            State::NotYetValid,
            State::Disabled,
            State::CurrentDisabled,
            State::InGrace,
            State::StaleEnabledVersion,
        ];
        for state in states {
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(serde_json::Value::from(state.as_str()))
            );
        }
        for severity in [Severity::Ok, Severity::Warn, Severity::Fail] {
            assert_eq!(
                serde_json::to_value(severity).ok(),
                Some(serde_json::Value::from(severity.as_str()))
            );
        }
        assert_eq!(State::StaleEnabledVersion.as_str(), "stale_enabled_version");
        assert_eq!(State::NotYetValid.as_str(), "not_yet_valid");
        assert_eq!(State::CurrentDisabled.as_str(), "current_disabled");
        assert_eq!(State::InGrace.as_str(), "in_grace");
    }
}
