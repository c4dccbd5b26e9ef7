//! The thresholds a check judges credentials against.

use serde::Serialize;
use time::Duration;

use super::duration::describe_window;

/// How to judge a credential that has no expiry date (`--no-expiry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NoExpiry {
    /// Report it as a warning (the default: it is a risk, but one the team may have accepted).
    #[default]
    Warn,
    /// Fail the gate.
    Fail,
    /// Report it as ok.
    Ignore,
}

impl NoExpiry {
    /// The name used on the command line and in JSON (`warn`, `fail`, `ignore`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoExpiry::Warn => "warn",
            NoExpiry::Fail => "fail",
            NoExpiry::Ignore => "ignore",
        }
    }
}

/// The policy of one `keyrot check` run.
///
/// Fields are public so callers can build one from flags; call [`Policy::validate`] (or build
/// through [`Policy::new`]) before judging anything with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Credentials expiring within this window warn (`--warn-within`).
    pub warn_within: Duration,
    /// Credentials expiring within this window fail (`--fail-within`); never wider than
    /// `warn_within`.
    pub fail_within: Duration,
    pub no_expiry: NoExpiry,
    /// Every warning fails the gate (`--strict`).
    pub strict: bool,
    /// Older secret versions were listed (`--versions`): only then can a disabled current
    /// version be told from a retired secret, and superseded versions be judged.
    pub versions: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            warn_within: Duration::days(30),
            fail_within: Duration::days(7),
            no_expiry: NoExpiry::Warn,
            strict: false,
            versions: false,
        }
    }
}

impl Policy {
    /// Builds a policy, refusing windows that make no sense together.
    pub fn new(
        warn_within: Duration,
        fail_within: Duration,
        no_expiry: NoExpiry,
        strict: bool,
        versions: bool,
    ) -> Result<Policy, String> {
        let policy = Policy {
            warn_within,
            fail_within,
            no_expiry,
            strict,
            versions,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// Checks that the windows are not negative and that the fail window fits inside the warn
    /// window (otherwise a credential could fail without ever having warned).
    pub fn validate(&self) -> Result<(), String> {
        if self.warn_within.is_negative() {
            return Err("--warn-within must not be negative".to_owned());
        }
        if self.fail_within.is_negative() {
            return Err("--fail-within must not be negative".to_owned());
        }
        if self.fail_within > self.warn_within {
            return Err(format!(
                "--fail-within ({}) must not exceed --warn-within ({})",
                describe_window(self.fail_within),
                describe_window(self.warn_within),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_30_days_warn_7_days_fail() {
        let policy = Policy::default();
        assert_eq!(policy.warn_within, Duration::days(30));
        assert_eq!(policy.fail_within, Duration::days(7));
        assert_eq!(policy.no_expiry, NoExpiry::Warn);
        assert!(!policy.strict);
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn fail_window_must_not_exceed_warn_window() {
        let error = Policy::new(
            Duration::days(7),
            Duration::days(30),
            NoExpiry::Warn,
            false,
            false,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "--fail-within (30 days) must not exceed --warn-within (7 days)"
        );
        // Equal windows are allowed: everything inside them fails.
        let equal = Policy::new(
            Duration::days(7),
            Duration::days(7),
            NoExpiry::Warn,
            false,
            true,
        )
        .unwrap();
        assert!(equal.versions);
    }

    #[test]
    fn negative_windows_are_refused() {
        let policy = Policy {
            fail_within: Duration::days(-1),
            ..Policy::default()
        };
        assert_eq!(
            policy.validate(),
            Err("--fail-within must not be negative".to_owned())
        );
    }

    #[test]
    fn no_expiry_names_match_the_command_line() {
        use clap::ValueEnum;
        for mode in NoExpiry::value_variants() {
            let name = mode.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(name.as_deref(), Some(mode.as_str()));
        }
    }
}
