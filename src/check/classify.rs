//! Judging one credential record against a policy at a given instant.
//!
//! Precedence, first match wins:
//! 1. superseded (an older version listed by `--versions`) and disabled: not reported at all;
//!    a replaced version nobody can use is exactly what rotation should leave behind.
//! 2. disabled: `current_disabled`, fail, when an older version of the secret is still enabled
//!    (every reader gets `403 SecretDisabled`: an outage, most likely a rotation that disabled
//!    the wrong version); otherwise `disabled`, ok, whatever its dates, since nobody can use it
//!    (a retired secret). Only `--versions` shows the older versions.
//! 3. superseded and enabled: `in_grace`, ok, until the instant its current version's
//!    `keyrot-grace-ends` tag names (keyrot's rotation disables it then; for an Entra password
//!    keyrot created, the tag on the Key Vault secret holding its replacement, or "after its
//!    grace period" when the check did not read that vault); otherwise, and from that instant,
//!    `stale_enabled_version`, warn, whatever its dates: the current version is the one a
//!    release depends on, so an old version's expiry is not a risk to the gate; that it can
//!    still be used is. An Entra password keyrot did not create is stale at once, and the
//!    message says how to remove it: keyrot never removes it unless told to.
//! 4. otherwise the more severe of the expiry-based state (`expired`, `expiring`, `valid`,
//!    `no_expiry`) and `not_yet_valid`; on a tie the expiry-based state wins (it is the one to
//!    act on) and the message also notes the not-before date.
//!
//! A Key Vault secret that holds an Entra application password (keyrot's `keyrot-app` and
//! `keyrot-key-id` tags, resolved by `check`) is judged by the earlier of its own `exp` and
//! the password's end date, and the message says when the Entra date decided; if the
//! application no longer has that password, the secret cannot sign in anything: `expired`,
//! fail.
//!
//! Boundaries: expiring exactly at `now` is expired; expiring exactly at `now + fail_within`
//! (or `now + warn_within`) is inside that window; a not-before exactly at `now` is valid; a
//! grace end exactly at `now` has passed. Under `--strict` every warn becomes fail and the
//! message ends with "(strict)".

use time::{Duration, OffsetDateTime};

use super::dates::{rfc3339_utc, utc_date};
use super::duration::{describe_span, describe_window};
use super::finding::{Finding, Severity, State};
use super::policy::{NoExpiry, Policy};
use super::related::{Context, Grace};
use crate::model::{CredentialRecord, HeldPassword, Kind, Superseded};

/// Judges one record on its own facts. `None` means the record is not reported (a superseded,
/// disabled version). [`CheckReport::evaluate`](super::CheckReport::evaluate) judges a run's
/// records with what they say about each other.
pub fn classify(
    record: &CredentialRecord,
    policy: &Policy,
    now: OffsetDateTime,
) -> Option<Finding> {
    classify_in(record, &Context::default(), policy, now)
}

/// [`classify`], with what the run's other records say about this one.
pub(super) fn classify_in(
    record: &CredentialRecord,
    context: &Context,
    policy: &Policy,
    now: OffsetDateTime,
) -> Option<Finding> {
    let judgement = match (&record.superseded, record.enabled) {
        (Some(_), false) => return None,
        (None, false) => disabled(record, context, policy),
        (Some(superseded), true) => superseded_version(record, superseded, context.grace, now),
        (None, true) => current(record, policy, now),
    };
    let judgement = if policy.strict {
        judgement.under_strict()
    } else {
        judgement
    };
    Some(Finding {
        record: record.clone(),
        state: judgement.state,
        severity: judgement.severity,
        expires_in_seconds: record
            .expires
            .map(|expires| (expires - now).whole_seconds()),
        message: judgement.message,
    })
}

/// A state, its severity and the sentence explaining it, before it is attached to a record.
struct Judgement {
    state: State,
    severity: Severity,
    message: String,
}

impl Judgement {
    fn new(state: State, severity: Severity, message: String) -> Judgement {
        Judgement {
            state,
            severity,
            message,
        }
    }

    fn under_strict(self) -> Judgement {
        if self.severity == Severity::Warn {
            Judgement {
                severity: Severity::Fail,
                message: format!("{} (strict)", self.message),
                ..self
            }
        } else {
            self
        }
    }
}

fn disabled(record: &CredentialRecord, context: &Context, policy: &Policy) -> Judgement {
    if context.older_enabled {
        return Judgement::new(
            State::CurrentDisabled,
            Severity::Fail,
            "the current version is disabled while an older version is still enabled: every reader gets 403 SecretDisabled".to_owned(),
        );
    }
    let message = if record.kind != Kind::Secret {
        "disabled in the vault; reported, never fails the gate"
    } else if policy.versions {
        "disabled in the vault, and no older version is enabled (retired); reported, never fails the gate"
    } else {
        "disabled in the vault; reported, never fails the gate (--versions also checks that no older version is still enabled)"
    };
    Judgement::new(State::Disabled, Severity::Ok, message.to_owned())
}

fn superseded_version(
    record: &CredentialRecord,
    superseded: &Superseded,
    grace: Grace,
    now: OffsetDateTime,
) -> Judgement {
    if record.kind == Kind::AppPassword {
        return superseded_password(record, superseded, grace, now);
    }
    let by = &superseded.by_version;
    let version = record.version.as_deref().unwrap_or("(unknown)");
    match grace {
        Grace::Until(ends) if ends > now => {
            return Judgement::new(
                State::InGrace,
                Severity::Ok,
                format!(
                    "version {version} is still enabled within keyrot's grace period, superseded by {by}; keyrot will disable it at {}",
                    rfc3339_utc(ends)
                ),
            )
        }
        Grace::Until(ends) => {
            return Judgement::new(
                State::StaleEnabledVersion,
                Severity::Warn,
                format!(
                    "version {version} is still enabled, superseded by {by}; keyrot's grace period for it ended {} ago ({}), so the next keyrot rotate disables it",
                    describe_span(now - ends),
                    rfc3339_utc(ends)
                ),
            )
        }
        Grace::None | Grace::Unknown => {}
    }
    // A replacement time in the future can only be clock skew; say nothing rather than "-2
    // days ago".
    let message = match superseded.at.filter(|&at| at <= now) {
        Some(at) => format!(
            "version {version} is still enabled, superseded by {by} {} ago",
            describe_span(now - at)
        ),
        None => format!("version {version} is still enabled, superseded by {by}"),
    };
    Judgement::new(State::StaleEnabledVersion, Severity::Warn, message)
}

/// An Entra password older than the newest one keyrot added to the application.
fn superseded_password(
    record: &CredentialRecord,
    superseded: &Superseded,
    grace: Grace,
    now: OffsetDateTime,
) -> Judgement {
    let (id, by) = (&record.id, &superseded.by_version);
    if crate::rotate::journal::rotation_id_of(&record.name).is_none() {
        // keyrot rotate never removes what it did not create unless told to: say what the
        // user can do, not what keyrot will do.
        return Judgement::new(
            State::StaleEnabledVersion,
            Severity::Warn,
            format!(
                "password {id} was not created by keyrot and is still valid, though keyrot's password {by} replaced it; remove it in Entra once nothing uses it, or set remove_foreign = true for this credential in keyrot.toml so keyrot rotate removes it"
            ),
        );
    }
    match grace {
        Grace::Until(ends) if ends > now => Judgement::new(
            State::InGrace,
            Severity::Ok,
            format!(
                "password {id} is still valid within keyrot's grace period, superseded by keyrot's password {by}; keyrot rotate removes it at or after {}",
                rfc3339_utc(ends)
            ),
        ),
        Grace::Until(ends) => Judgement::new(
            State::StaleEnabledVersion,
            Severity::Warn,
            format!(
                "password {id} is still valid, superseded by keyrot's password {by}; keyrot's grace period for it ended {} ago ({}), so the next keyrot rotate removes it",
                describe_span(now - ends),
                rfc3339_utc(ends)
            ),
        ),
        Grace::None | Grace::Unknown => Judgement::new(
            State::InGrace,
            Severity::Ok,
            format!(
                "password {id} is still valid, superseded by keyrot's password {by}; keyrot rotate removes it after its grace period (check the vault holding the new password too to see when)"
            ),
        ),
    }
}

fn current(record: &CredentialRecord, policy: &Policy, now: OffsetDateTime) -> Judgement {
    with_resource_key(record, held(record, policy, now), now)
}

/// A secret that holds a resource key: what the resource says about the key's age is added to
/// the message, and when its expiration policy decided the date (see [`crate::model::ResourceKeyLink`]), so.
fn with_resource_key(
    record: &CredentialRecord,
    judgement: Judgement,
    now: OffsetDateTime,
) -> Judgement {
    let Some(link) = &record.resource_key else {
        return judgement;
    };
    let mut notes = Vec::new();
    if let Some(created) = link.created {
        notes.push(format!(
            "{} was generated {} ago ({})",
            link.key,
            describe_span(now - created),
            utc_date(created)
        ));
    }
    match (&link.replaced_vault_expires, link.policy_days) {
        (Some(vault), Some(days)) => {
            let vault = match vault {
                Some(exp) => format!("the Key Vault exp is later ({})", utc_date(*exp)),
                None => "the secret has no Key Vault exp".to_owned(),
            };
            notes.push(format!(
                "the date is when it passes the account's key expiration policy ({days} days), earlier than Key Vault's: {vault}"
            ));
        }
        (None, Some(days)) => notes.push(format!(
            "the account's key expiration policy ({days} days) ends no earlier than the secret"
        )),
        _ => {}
    }
    if let Some(why) = &link.unchecked {
        notes.push(format!("the key's age was not checked: {why}"));
    }
    if notes.is_empty() {
        return judgement;
    }
    Judgement {
        message: format!("{}; {}", judgement.message, notes.join("; ")),
        ..judgement
    }
}

fn held(record: &CredentialRecord, policy: &Policy, now: OffsetDateTime) -> Judgement {
    let judgement = by_dates(record, policy, now);
    match held_password(record) {
        None | Some((_, HeldPassword::EndsLater)) => judgement,
        Some((what, HeldPassword::EndsEarlier { vault_expires })) => {
            let vault = match vault_expires {
                Some(exp) => format!("the Key Vault exp is later ({})", utc_date(*exp)),
                None => "the secret has no Key Vault exp".to_owned(),
            };
            Judgement {
                message: format!(
                    "{}; the date is the end of {what}, earlier than Key Vault's: {vault}",
                    judgement.message
                ),
                ..judgement
            }
        }
        Some((what, HeldPassword::Missing)) => Judgement::new(
            State::Expired,
            Severity::Fail,
            format!("holds {what}, which the application no longer has (removed): it cannot sign in; rotate it now"),
        ),
        Some((_, HeldPassword::Unchecked(why))) => Judgement {
            message: format!("{}; Entra end date not checked: {why}", judgement.message),
            ..judgement
        },
    }
}

/// `Entra password {keyId} of {app}` and what Graph said about it, for a Key Vault secret
/// that holds one.
fn held_password(record: &CredentialRecord) -> Option<(String, &HeldPassword)> {
    let link = record.entra.as_ref()?;
    let held = link.held.as_ref()?;
    let what = match &link.app {
        Some(app) => format!("Entra password {} of {}", link.key_id, app.label()),
        None => format!("Entra password {}", link.key_id),
    };
    Some((what, held))
}

fn by_dates(record: &CredentialRecord, policy: &Policy, now: OffsetDateTime) -> Judgement {
    let by_expiry = match record.expires {
        Some(expires) => by_expiry(expires, policy, now),
        None => without_expiry(policy.no_expiry),
    };
    let Some(not_before) = record.not_before.filter(|&not_before| not_before > now) else {
        return by_expiry;
    };
    if Severity::Warn > by_expiry.severity {
        Judgement::new(
            State::NotYetValid,
            Severity::Warn,
            format!(
                "not valid until {} (in {})",
                utc_date(not_before),
                describe_span(not_before - now)
            ),
        )
    } else {
        Judgement {
            message: format!(
                "{}; also not valid until {}",
                by_expiry.message,
                utc_date(not_before)
            ),
            ..by_expiry
        }
    }
}

fn by_expiry(expires: OffsetDateTime, policy: &Policy, now: OffsetDateTime) -> Judgement {
    let remaining = expires - now;
    let date = utc_date(expires);
    if remaining <= Duration::ZERO {
        let message = if remaining.whole_seconds() == 0 {
            format!("expired just now ({date})")
        } else {
            format!("expired {} ago ({date})", describe_span(remaining))
        };
        return Judgement::new(State::Expired, Severity::Fail, message);
    }
    let expires_in = format!("expires in {} ({date})", describe_span(remaining));
    if remaining <= policy.fail_within {
        Judgement::new(
            State::Expiring,
            Severity::Fail,
            format!(
                "{expires_in}; fail window is {}",
                describe_window(policy.fail_within)
            ),
        )
    } else if remaining <= policy.warn_within {
        Judgement::new(
            State::Expiring,
            Severity::Warn,
            format!(
                "{expires_in}; warn window is {}",
                describe_window(policy.warn_within)
            ),
        )
    } else {
        Judgement::new(State::Valid, Severity::Ok, expires_in)
    }
}

fn without_expiry(mode: NoExpiry) -> Judgement {
    const MISSING: &str = "has no expiry date; set one so keyrot can warn before it lapses";
    match mode {
        NoExpiry::Warn => Judgement::new(State::NoExpiry, Severity::Warn, MISSING.to_owned()),
        NoExpiry::Fail => Judgement::new(State::NoExpiry, Severity::Fail, MISSING.to_owned()),
        NoExpiry::Ignore => Judgement::new(
            State::NoExpiry,
            Severity::Ok,
            "has no expiry date (allowed by --no-expiry ignore)".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::check::fixtures::{expiring, record, superseded, NOW};

    fn judge(record: &CredentialRecord, policy: &Policy) -> Finding {
        match classify(record, policy, NOW) {
            Some(finding) => finding,
            None => panic!("{} was not reported", record.name),
        }
    }

    fn judge_default(record: &CredentialRecord) -> (State, Severity, String) {
        let finding = judge(record, &Policy::default());
        (finding.state, finding.severity, finding.message)
    }

    fn strict() -> Policy {
        Policy {
            strict: true,
            ..Policy::default()
        }
    }

    #[test]
    fn expired_in_the_past_fails_with_days_ago() {
        let finding = judge(&expiring("db", Duration::days(-3)), &Policy::default());
        assert_eq!(finding.state, State::Expired);
        assert_eq!(finding.severity, Severity::Fail);
        assert_eq!(finding.expires_in_seconds, Some(-3 * 86_400));
        assert_eq!(finding.message, "expired 3 days ago (2026-11-23)");
    }

    #[test]
    fn expiring_exactly_now_is_expired() {
        let finding = judge(&expiring("db", Duration::ZERO), &Policy::default());
        assert_eq!(finding.state, State::Expired);
        assert_eq!(finding.severity, Severity::Fail);
        assert_eq!(finding.expires_in_seconds, Some(0));
        assert_eq!(finding.message, "expired just now (2026-11-26)");
    }

    #[test]
    fn one_second_after_now_is_expiring_not_expired() {
        let (state, severity, message) = judge_default(&expiring("db", Duration::seconds(1)));
        assert_eq!((state, severity), (State::Expiring, Severity::Fail));
        assert_eq!(
            message,
            "expires in 1 second (2026-11-26); fail window is 7 days"
        );
    }

    #[test]
    fn fail_window_boundary_is_inside_the_fail_window() {
        let (state, severity, message) = judge_default(&expiring("db", Duration::days(7)));
        assert_eq!((state, severity), (State::Expiring, Severity::Fail));
        assert_eq!(
            message,
            "expires in 7 days (2026-12-03); fail window is 7 days"
        );

        let just_after = Duration::days(7) + Duration::seconds(1);
        let (state, severity, message) = judge_default(&expiring("db", just_after));
        assert_eq!((state, severity), (State::Expiring, Severity::Warn));
        assert_eq!(
            message,
            "expires in 7 days (2026-12-03); warn window is 30 days"
        );
    }

    #[test]
    fn warn_window_boundary_is_inside_the_warn_window() {
        let (state, severity, _) = judge_default(&expiring("db", Duration::days(30)));
        assert_eq!((state, severity), (State::Expiring, Severity::Warn));

        let just_after = Duration::days(30) + Duration::seconds(1);
        let (state, severity, message) = judge_default(&expiring("db", just_after));
        assert_eq!((state, severity), (State::Valid, Severity::Ok));
        assert_eq!(message, "expires in 30 days (2026-12-26)");
    }

    #[test]
    fn expires_in_seconds_is_exact() {
        let finding = judge(&expiring("db", Duration::hours(5)), &Policy::default());
        assert_eq!(finding.expires_in_seconds, Some(5 * 3600));
        assert_eq!(
            finding.message,
            "expires in 5 hours (2026-11-26); fail window is 7 days"
        );
        assert_eq!(
            judge(&record("none"), &Policy::default()).expires_in_seconds,
            None
        );
    }

    #[test]
    fn no_expiry_follows_the_policy() {
        let no_date = record("api-key");
        let (state, severity, message) = judge_default(&no_date);
        assert_eq!((state, severity), (State::NoExpiry, Severity::Warn));
        assert_eq!(
            message,
            "has no expiry date; set one so keyrot can warn before it lapses"
        );

        let fail = Policy {
            no_expiry: NoExpiry::Fail,
            ..Policy::default()
        };
        let finding = judge(&no_date, &fail);
        assert_eq!(
            (finding.state, finding.severity),
            (State::NoExpiry, Severity::Fail)
        );

        let ignore = Policy {
            no_expiry: NoExpiry::Ignore,
            ..Policy::default()
        };
        let finding = judge(&no_date, &ignore);
        assert_eq!(
            (finding.state, finding.severity),
            (State::NoExpiry, Severity::Ok)
        );
    }

    #[test]
    fn not_yet_valid_warns_and_boundary_is_valid() {
        let later = CredentialRecord {
            not_before: Some(NOW + Duration::days(2)),
            ..expiring("cert", Duration::days(90))
        };
        let (state, severity, message) = judge_default(&later);
        assert_eq!((state, severity), (State::NotYetValid, Severity::Warn));
        assert_eq!(message, "not valid until 2026-11-28 (in 2 days)");

        let starts_now = CredentialRecord {
            not_before: Some(NOW),
            ..expiring("cert", Duration::days(90))
        };
        assert_eq!(judge_default(&starts_now).0, State::Valid);
    }

    #[test]
    fn expiry_outranks_not_yet_valid_when_as_severe_or_more() {
        let both = CredentialRecord {
            not_before: Some(NOW + Duration::days(1)),
            ..expiring("cert", Duration::days(3))
        };
        let (state, severity, message) = judge_default(&both);
        assert_eq!((state, severity), (State::Expiring, Severity::Fail));
        assert_eq!(
            message,
            "expires in 3 days (2026-11-29); fail window is 7 days; also not valid until 2026-11-27"
        );

        // Equal severity (warn): the expiry-based state wins.
        let tie = CredentialRecord {
            not_before: Some(NOW + Duration::days(1)),
            ..record("no-date")
        };
        assert_eq!(judge_default(&tie).0, State::NoExpiry);

        // no_expiry ignored (ok) loses to not_yet_valid (warn).
        let ignore = Policy {
            no_expiry: NoExpiry::Ignore,
            ..Policy::default()
        };
        assert_eq!(judge(&tie, &ignore).state, State::NotYetValid);
    }

    #[test]
    fn disabled_wins_over_any_date() {
        let expired_but_disabled = CredentialRecord {
            enabled: false,
            not_before: Some(NOW + Duration::days(1)),
            ..expiring("old", Duration::days(-10))
        };
        let finding = judge(&expired_but_disabled, &strict());
        assert_eq!(finding.state, State::Disabled);
        assert_eq!(finding.severity, Severity::Ok);
        assert_eq!(finding.expires_in_seconds, Some(-10 * 86_400));
        assert_eq!(
            finding.message,
            "disabled in the vault; reported, never fails the gate (--versions also checks that no older version is still enabled)"
        );
        let certificate = CredentialRecord {
            kind: Kind::Certificate,
            ..expired_but_disabled
        };
        assert_eq!(
            judge(&certificate, &strict()).message,
            "disabled in the vault; reported, never fails the gate"
        );
    }

    fn judge_in(record: &CredentialRecord, context: Context, policy: &Policy) -> Finding {
        match classify_in(record, &context, policy, NOW) {
            Some(finding) => finding,
            None => panic!("{} was not reported", record.name),
        }
    }

    #[test]
    fn a_disabled_current_version_with_an_older_one_enabled_is_an_outage() {
        let disabled = CredentialRecord {
            enabled: false,
            ..expiring("db", Duration::days(90))
        };
        let outage = Context {
            older_enabled: true,
            ..Context::default()
        };
        let finding = judge_in(&disabled, outage, &Policy::default());
        assert_eq!(
            (finding.state, finding.severity),
            (State::CurrentDisabled, Severity::Fail)
        );
        assert_eq!(
            finding.message,
            "the current version is disabled while an older version is still enabled: every reader gets 403 SecretDisabled"
        );
        // Every version disabled: retired, and with --versions keyrot says it looked.
        let versions = Policy {
            versions: true,
            ..strict()
        };
        let finding = judge_in(&disabled, Context::default(), &versions);
        assert_eq!(
            (finding.state, finding.severity),
            (State::Disabled, Severity::Ok)
        );
        assert_eq!(
            finding.message,
            "disabled in the vault, and no older version is enabled (retired); reported, never fails the gate"
        );
    }

    fn graced(ends: OffsetDateTime) -> Context {
        Context {
            grace: Grace::Until(ends),
            ..Context::default()
        }
    }

    #[test]
    fn a_superseded_version_is_in_grace_until_the_instant_keyrot_wrote() {
        let old = superseded("db", "v1", "v2", Some(NOW - Duration::hours(1)));
        let finding = judge_in(&old, graced(NOW + Duration::seconds(1)), &strict());
        assert_eq!(
            (finding.state, finding.severity),
            (State::InGrace, Severity::Ok)
        );
        assert_eq!(
            finding.message,
            "version v1 is still enabled within keyrot's grace period, superseded by v2; keyrot will disable it at 2026-11-26T12:00:01Z"
        );
        // At the instant itself the grace has ended.
        let finding = judge_in(&old, graced(NOW), &Policy::default());
        assert_eq!(
            (finding.state, finding.severity),
            (State::StaleEnabledVersion, Severity::Warn)
        );
        assert_eq!(
            finding.message,
            "version v1 is still enabled, superseded by v2; keyrot's grace period for it ended 0 seconds ago (2026-11-26T12:00:00Z), so the next keyrot rotate disables it"
        );
        let finding = judge_in(&old, graced(NOW - Duration::days(2)), &strict());
        assert_eq!(finding.severity, Severity::Fail);
        assert!(
            finding.message.contains("ended 2 days ago"),
            "{}",
            finding.message
        );
        // No tag (a version keyrot did not write): stale at once.
        let finding = judge_in(&old, Context::default(), &Policy::default());
        assert_eq!(finding.state, State::StaleEnabledVersion);
    }

    fn app_password(name: &str) -> CredentialRecord {
        CredentialRecord {
            source: crate::model::Source::Entra,
            vault: String::new(),
            kind: Kind::AppPassword,
            id: "5f0c6a1e-0000-0000-0000-000000000001".to_owned(),
            ..superseded(
                name,
                "unused",
                "5f0c6a1e-0000-0000-0000-0000000000ff",
                Some(NOW - Duration::days(1)),
            )
        }
    }

    #[test]
    fn a_password_keyrot_did_not_create_says_what_the_user_can_do() {
        let foreign = app_password("ci-pipeline");
        for context in [Context::default(), graced(NOW + Duration::days(3))] {
            let finding = judge_in(&foreign, context, &Policy::default());
            assert_eq!(
                (finding.state, finding.severity),
                (State::StaleEnabledVersion, Severity::Warn)
            );
            assert_eq!(
                finding.message,
                "password 5f0c6a1e-0000-0000-0000-000000000001 was not created by keyrot and is still valid, though keyrot's password 5f0c6a1e-0000-0000-0000-0000000000ff replaced it; remove it in Entra once nothing uses it, or set remove_foreign = true for this credential in keyrot.toml so keyrot rotate removes it"
            );
            assert!(!finding.message.contains("keyrot rotate removes it after"));
        }
    }

    #[test]
    fn a_password_keyrot_created_is_in_grace_with_the_date_where_known() {
        let own = app_password("keyrot:r-20261125");
        let finding = judge_in(&own, graced(NOW + Duration::days(3)), &strict());
        assert_eq!(
            (finding.state, finding.severity),
            (State::InGrace, Severity::Ok)
        );
        assert!(
            finding
                .message
                .ends_with("keyrot rotate removes it at or after 2026-11-29T12:00:00Z"),
            "{}",
            finding.message
        );
        let finding = judge_in(&own, graced(NOW - Duration::hours(2)), &Policy::default());
        assert_eq!(finding.state, State::StaleEnabledVersion);
        assert!(
            finding.message.contains("ended 2 hours ago"),
            "{}",
            finding.message
        );
        let unknown = Context {
            grace: Grace::Unknown,
            ..Context::default()
        };
        let finding = judge_in(&own, unknown, &strict());
        assert_eq!(
            (finding.state, finding.severity),
            (State::InGrace, Severity::Ok)
        );
        assert_eq!(
            finding.message,
            "password 5f0c6a1e-0000-0000-0000-000000000001 is still valid, superseded by keyrot's password 5f0c6a1e-0000-0000-0000-0000000000ff; keyrot rotate removes it after its grace period (check the vault holding the new password too to see when)"
        );
    }

    #[test]
    fn superseded_and_disabled_is_not_reported() {
        let retired = CredentialRecord {
            enabled: false,
            ..superseded("db", "v1", "v2", Some(NOW - Duration::days(4)))
        };
        assert_eq!(classify(&retired, &Policy::default(), NOW), None);
    }

    #[test]
    fn superseded_and_enabled_is_a_stale_version_whatever_its_expiry() {
        let stale = CredentialRecord {
            expires: Some(NOW - Duration::days(1)),
            ..superseded("db", "v1", "v2", Some(NOW - Duration::days(4)))
        };
        let finding = judge(&stale, &Policy::default());
        assert_eq!(finding.state, State::StaleEnabledVersion);
        assert_eq!(finding.severity, Severity::Warn);
        assert_eq!(
            finding.message,
            "version v1 is still enabled, superseded by v2 4 days ago"
        );

        let unknown_when = superseded("db", "v1", "v2", None);
        assert_eq!(
            judge(&unknown_when, &Policy::default()).message,
            "version v1 is still enabled, superseded by v2"
        );
        let skewed = superseded("db", "v1", "v2", Some(datetime!(2027-01-01 0:00 UTC)));
        assert_eq!(
            judge(&skewed, &Policy::default()).message,
            "version v1 is still enabled, superseded by v2"
        );
    }

    #[test]
    fn strict_turns_every_warning_into_a_failure() {
        let warn_window = expiring("db", Duration::days(20));
        let finding = judge(&warn_window, &strict());
        assert_eq!(
            (finding.state, finding.severity),
            (State::Expiring, Severity::Fail)
        );
        assert_eq!(
            finding.message,
            "expires in 20 days (2026-12-16); warn window is 30 days (strict)"
        );

        let finding = judge(&record("no-date"), &strict());
        assert_eq!(
            (finding.state, finding.severity),
            (State::NoExpiry, Severity::Fail)
        );
        assert!(finding.message.ends_with(" (strict)"));

        let stale = superseded("db", "v1", "v2", None);
        assert_eq!(judge(&stale, &strict()).severity, Severity::Fail);
    }

    #[test]
    fn strict_leaves_ok_and_fail_alone() {
        let valid = judge(&expiring("db", Duration::days(90)), &strict());
        assert_eq!(valid.severity, Severity::Ok);
        assert!(!valid.message.contains("strict"));

        let expired = judge(&expiring("db", Duration::days(-1)), &strict());
        assert_eq!(expired.severity, Severity::Fail);
        assert_eq!(expired.message, "expired 1 day ago (2026-11-25)");
    }

    #[test]
    fn zero_windows_only_fail_what_has_expired() {
        let zero = Policy {
            warn_within: Duration::ZERO,
            fail_within: Duration::ZERO,
            ..Policy::default()
        };
        assert_eq!(
            judge(&expiring("db", Duration::seconds(1)), &zero).state,
            State::Valid
        );
        assert_eq!(
            judge(&expiring("db", Duration::ZERO), &zero).state,
            State::Expired
        );
    }

    fn holding(held: HeldPassword, app: bool) -> CredentialRecord {
        use crate::model::{AppRef, EntraLink};
        CredentialRecord {
            entra: Some(EntraLink {
                app: app.then(|| AppRef {
                    object_id: "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
                    app_id: "dddddddd-0000-0000-0000-000000000001".to_owned(),
                    display_name: Some("billing-api".to_owned()),
                }),
                key_id: "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6".to_owned(),
                held: Some(held),
            }),
            ..expiring("billing-secret", Duration::days(5))
        }
    }

    #[test]
    fn a_secret_holding_an_entra_password_says_whose_date_decided() {
        let earlier = holding(
            HeldPassword::EndsEarlier {
                vault_expires: Some(NOW + Duration::days(90)),
            },
            true,
        );
        let (state, severity, message) = judge_default(&earlier);
        assert_eq!((state, severity), (State::Expiring, Severity::Fail));
        assert_eq!(
            message,
            "expires in 5 days (2026-12-01); fail window is 7 days; the date is the end of Entra password 5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6 of billing-api, earlier than Key Vault's: the Key Vault exp is later (2027-02-24)"
        );
        let no_exp = holding(
            HeldPassword::EndsEarlier {
                vault_expires: None,
            },
            true,
        );
        assert!(judge_default(&no_exp)
            .2
            .ends_with("earlier than Key Vault's: the secret has no Key Vault exp"));

        let later = holding(HeldPassword::EndsLater, true);
        assert_eq!(
            judge_default(&later).2,
            "expires in 5 days (2026-12-01); fail window is 7 days"
        );
    }

    #[test]
    fn a_secret_holding_a_removed_entra_password_has_expired() {
        let removed = CredentialRecord {
            expires: Some(NOW + Duration::days(200)),
            ..holding(HeldPassword::Missing, true)
        };
        let (state, severity, message) = judge_default(&removed);
        assert_eq!((state, severity), (State::Expired, Severity::Fail));
        assert_eq!(
            message,
            "holds Entra password 5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6 of billing-api, which the application no longer has (removed): it cannot sign in; rotate it now"
        );
        // Disabled still wins: nobody can read it anyway.
        let disabled = CredentialRecord {
            enabled: false,
            ..removed
        };
        assert_eq!(judge_default(&disabled).0, State::Disabled);
    }

    #[test]
    fn an_unreadable_application_keeps_the_vault_date_and_says_so() {
        let unchecked = holding(HeldPassword::Unchecked("403 Forbidden".to_owned()), false);
        let (state, severity, message) = judge_default(&unchecked);
        assert_eq!((state, severity), (State::Expiring, Severity::Fail));
        assert_eq!(
            message,
            "expires in 5 days (2026-12-01); fail window is 7 days; Entra end date not checked: 403 Forbidden"
        );
    }
}
