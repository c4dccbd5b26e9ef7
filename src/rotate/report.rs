//! What a rotation run reports: per credential `rotated | rotated_elsewhere | up_to_date |
//! planned | locked | failed`, with version and credential ids and the new expiry. Never a
//! value: the outcome type has no field that could hold one. Messages quote servers, so every
//! format is written as [`inert`] leaves it: cells shown on one line, no runner command on any
//! line.

use serde::Serialize;
use time::OffsetDateTime;

use super::config::CredentialSpec;
use super::lock::Bid;
use crate::check::dates::rfc3339_utc;
use crate::ci::inert;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationStatus {
    Rotated,
    /// Another run rotated it while this one waited for (`--wait-lock`) or acquired its lock.
    RotatedElsewhere,
    UpToDate,
    Planned,
    Locked,
    Failed,
    /// The new value is in Key Vault but a copy could not be updated: the previous value
    /// stays enabled, no run is started, and the next run (or `keyrot sync`) finishes it.
    PropagationFailed,
    /// `keyrot sync`: every copy holds the served value.
    Synced,
}

impl RotationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationStatus::Rotated => "rotated",
            RotationStatus::RotatedElsewhere => "rotated_elsewhere",
            RotationStatus::UpToDate => "up_to_date",
            RotationStatus::Planned => "planned",
            RotationStatus::Locked => "locked",
            RotationStatus::Failed => "failed",
            RotationStatus::PropagationFailed => "propagation_failed",
            RotationStatus::Synced => "synced",
        }
    }
}

/// When a credential failed: before its work began (`planning`, `locking`: nothing of it was
/// changed; the run exits 3) or after (`rotation`: the run exits 1, and the journal lets the
/// next run finish or undo it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedDuring {
    Planning,
    Locking,
    Rotation,
}

/// The run that holds a credential's lock, from its bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    pub run_id: Option<String>,
    /// When it bid (its bid's `created`).
    #[serde(serialize_with = "rfc3339")]
    pub since: OffsetDateTime,
    /// When its lease ends unless it renews it.
    #[serde(serialize_with = "rfc3339_opt")]
    pub lease_until: Option<OffsetDateTime>,
}

impl LockHolder {
    /// The run that wrote `bid`, as the bid names it.
    pub fn from_bid(bid: &Bid) -> LockHolder {
        LockHolder {
            run_id: bid.run_id.clone(),
            since: bid.created,
            lease_until: bid.lease_until,
        }
    }

    /// `run "3f2a…"`, or `a run without an id`. The run id is a tag from the vault, so it is
    /// quoted: it cannot break the line or the message.
    pub fn run(&self) -> String {
        match &self.run_id {
            Some(id) => format!("run {id:?}"),
            None => "a run without an id".to_string(),
        }
    }

    /// `run "3f2a…", holding it since …, lease until …`.
    pub fn describe(&self) -> String {
        let run = self.run();
        let until = self
            .lease_until
            .map(rfc3339_utc)
            .unwrap_or_else(|| "unknown".into());
        format!(
            "{run}, holding it since {}, lease until {until}",
            rfc3339_utc(self.since)
        )
    }
}

/// One copy of a credential (`[[credential.propagate]]`) and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOutcome {
    /// The `to` of the target.
    pub kind: &'static str,
    /// The target, as a person reads it.
    pub target: String,
    pub status: CopyStatus,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyStatus {
    /// A dry run resolved it and would write it.
    Planned,
    /// Written and verified.
    Updated,
    /// A Key Vault-linked variable group: pipelines read the vault, nothing to write.
    KeyVaultLinked,
    Failed,
}

/// A run keyrot started, adopted or held back, with the credentials that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    /// The `to` of the target.
    pub kind: &'static str,
    pub target: String,
    pub status: RunStatus,
    /// The run's (or release's) id, as the service numbers it.
    pub id: Option<String>,
    /// Its page.
    pub url: Option<String>,
    pub message: Option<String>,
    /// Every credential of this run that names the target.
    pub credentials: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A dry run resolved it and would start it.
    Planned,
    Started,
    /// A run started by an earlier keyrot run that died before recording it.
    Adopted,
    /// Not started: a credential it deploys could not be propagated.
    Withheld,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Planned => "planned",
            RunStatus::Started => "started",
            RunStatus::Adopted => "adopted",
            RunStatus::Withheld => "withheld",
            RunStatus::Failed => "failed",
        }
    }
}

/// How one credential's rotation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialOutcome {
    pub name: String,
    pub vault: String,
    pub generator: &'static str,
    pub status: RotationStatus,
    /// Why it was (or would be) rotated.
    pub reason: Option<String>,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    /// Entra: the new password's keyId.
    pub credential_id: Option<String>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub new_expires: Option<OffsetDateTime>,
    pub rotation_id: Option<String>,
    /// An interrupted rotation this run finished or undid.
    pub recovered: Option<String>,
    /// Planned retirements (a dry run shows them; a real run does them).
    pub to_disable: Vec<String>,
    pub to_remove: Vec<String>,
    /// Retirements done.
    pub disabled: Vec<String>,
    pub removed: Vec<String>,
    pub message: Option<String>,
    /// `failed` only: whether it failed before its work began or after.
    pub failed_during: Option<FailedDuring>,
    /// `locked` and `rotated_elsewhere`: the other run, as its bid names it.
    pub lock_holder: Option<LockHolder>,
    /// Its copies, in config order (planned, updated or failed).
    pub copies: Vec<CopyOutcome>,
    /// The runs started (or planned, adopted, held back) for it.
    pub runs: Vec<RunOutcome>,
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&rfc3339_utc(*t)),
        None => s.serialize_none(),
    }
}

impl CredentialOutcome {
    pub fn new(spec: &CredentialSpec, vault: &str) -> CredentialOutcome {
        CredentialOutcome::named(&spec.name, vault, spec.generator.name())
    }

    /// A credential that has not ended yet (`failed` until something better is known).
    fn named(name: &str, vault: &str, generator: &'static str) -> CredentialOutcome {
        CredentialOutcome {
            name: name.to_string(),
            vault: vault.to_string(),
            generator,
            status: RotationStatus::Failed,
            reason: None,
            old_version: None,
            new_version: None,
            credential_id: None,
            new_expires: None,
            rotation_id: None,
            recovered: None,
            to_disable: Vec::new(),
            to_remove: Vec::new(),
            disabled: Vec::new(),
            removed: Vec::new(),
            message: None,
            failed_during: None,
            lock_holder: None,
            copies: Vec::new(),
            runs: Vec::new(),
        }
    }
}

/// The `--format json` contract's version: 2 added `copies`, `runs`, the statuses
/// `propagation_failed` and `synced`, and their counts.
pub const REPORT_VERSION: u32 = 2;

/// The whole run: the `--format json` contract (version [`REPORT_VERSION`]).
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    pub version: u32,
    pub run_id: String,
    pub dry_run: bool,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: OffsetDateTime,
    pub credentials: Vec<CredentialOutcome>,
    pub counts: Counts,
    /// The run's notifications (`[[notify]]`), one per channel that was sent to.
    pub notified: Vec<Notified>,
}

/// One channel's delivery of the run's notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notified {
    /// Which channel (`the Teams webhook in $KEYROT_TEAMS_WEBHOOK_URL`), never its URL.
    pub channel: String,
    /// `delivered`, `sent` (taken without confirmation: Teams' 202) or `failed`.
    pub status: &'static str,
    pub failed: bool,
    pub message: String,
}

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_utc(*t))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub rotated: usize,
    pub rotated_elsewhere: usize,
    pub up_to_date: usize,
    pub planned: usize,
    pub locked: usize,
    pub failed: usize,
    pub propagation_failed: usize,
    pub synced: usize,
}

impl RotationReport {
    pub fn new(
        run_id: String,
        dry_run: bool,
        started_at: OffsetDateTime,
        mut credentials: Vec<CredentialOutcome>,
    ) -> RotationReport {
        credentials.sort_by(|a, b| (&a.vault, &a.name).cmp(&(&b.vault, &b.name)));
        let mut counts = Counts::default();
        for c in &credentials {
            *match c.status {
                RotationStatus::Rotated => &mut counts.rotated,
                RotationStatus::RotatedElsewhere => &mut counts.rotated_elsewhere,
                RotationStatus::UpToDate => &mut counts.up_to_date,
                RotationStatus::Planned => &mut counts.planned,
                RotationStatus::Locked => &mut counts.locked,
                RotationStatus::Failed => &mut counts.failed,
                RotationStatus::PropagationFailed => &mut counts.propagation_failed,
                RotationStatus::Synced => &mut counts.synced,
            } += 1;
        }
        RotationReport {
            version: REPORT_VERSION,
            run_id,
            dry_run,
            started_at,
            credentials,
            counts,
            notified: Vec::new(),
        }
    }

    /// Credentials that failed, whatever the step: the `failed` step output.
    pub fn failed_count(&self) -> usize {
        self.credentials
            .iter()
            .filter(|c| {
                matches!(
                    c.status,
                    RotationStatus::Failed | RotationStatus::PropagationFailed
                ) || c.runs.iter().any(|r| r.status == RunStatus::Failed)
            })
            .count()
    }

    /// The runs started or adopted, each once (a run several credentials asked for is one), as
    /// one line of JSON: the `runs` step output.
    pub fn runs_json(&self) -> String {
        let mut seen = std::collections::BTreeSet::new();
        let runs: Vec<serde_json::Value> = self
            .credentials
            .iter()
            .flat_map(|c| &c.runs)
            .filter(|r| matches!(r.status, RunStatus::Started | RunStatus::Adopted))
            .filter(|r| seen.insert((r.kind, r.target.clone(), r.id.clone())))
            .map(|r| {
                serde_json::json!({
                    "kind": r.kind,
                    "target": r.target,
                    "status": r.status.as_str(),
                    "id": r.id,
                    "url": r.url,
                    "credentials": r.credentials,
                })
            })
            .collect();
        inert::json(&serde_json::Value::Array(runs).to_string()).into_owned()
    }

    /// Exit code, most serious first: 1 if a credential failed after its work began (a rotation
    /// may be half done: its journal tells the next run) or a copy could not be updated, else 3 if one failed before (reading,
    /// planning, locking: nothing of it changed, the cause is the environment), else 4 if one
    /// was locked by another run, else 0.
    pub fn exit_code(&self) -> u8 {
        let failed = |during: FailedDuring| {
            self.credentials.iter().any(|c| {
                c.status == RotationStatus::Failed
                    && c.failed_during.unwrap_or(FailedDuring::Rotation) == during
            })
        };
        let copy_failed = self
            .credentials
            .iter()
            .any(|c| c.status == RotationStatus::PropagationFailed);
        let run_failed = self
            .credentials
            .iter()
            .flat_map(|c| &c.runs)
            .any(|r| r.status == RunStatus::Failed);
        if failed(FailedDuring::Rotation) || copy_failed || run_failed {
            1
        } else if failed(FailedDuring::Planning) || failed(FailedDuring::Locking) {
            3
        } else if self.counts.locked > 0 {
            4
        } else {
            0
        }
    }

    pub fn json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        inert::json(&text).into_owned()
    }

    /// One JSON object a line per credential, for `--audit-log`.
    pub fn audit_lines(&self) -> String {
        self.credentials
            .iter()
            .map(|c| {
                let line = serde_json::json!({
                    "at": rfc3339_utc(self.started_at),
                    "run_id": self.run_id,
                    "dry_run": self.dry_run,
                    "credential": c,
                });
                format!("{}\n", inert::json(&line.to_string()))
            })
            .collect()
    }

    pub fn table(&self) -> String {
        use crate::report::grid::{self, Column};
        const COLUMNS: [Column; 7] = [
            Column::left("credential"),
            Column::left("vault"),
            Column::left("status"),
            Column::left("old"),
            Column::left("new"),
            Column::left("expires"),
            Column::left("note"),
        ];
        let rows: Vec<Vec<String>> = self
            .credentials
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    crate::report::vault_short(&c.vault),
                    c.status.as_str().to_string(),
                    short(c.old_version.as_deref()),
                    short(c.new_version.as_deref().or(c.credential_id.as_deref())),
                    c.new_expires
                        .map(crate::check::dates::utc_date)
                        .unwrap_or_default(),
                    note(c),
                ]
            })
            .collect();
        let mut text = grid::render(&COLUMNS, &rows, |_, _| None);
        text.push_str(&self.summary_line());
        inert::human(&text, false).into_owned()
    }

    pub fn markdown(&self) -> String {
        let mut text = String::from(if self.dry_run {
            "## keyrot rotate (dry run)\n\n"
        } else {
            "## keyrot rotate\n\n"
        });
        text.push_str("| credential | vault | status | old version | new version | new expiry | note |\n|---|---|---|---|---|---|---|\n");
        for c in &self.credentials {
            text.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} |\n",
                inert::field(&c.name).replace('`', "'"),
                inert::field(&crate::report::vault_short(&c.vault)).replace('|', "\\|"),
                c.status.as_str(),
                inert::field(&short(c.old_version.as_deref())).replace('|', "\\|"),
                inert::field(&short(
                    c.new_version.as_deref().or(c.credential_id.as_deref())
                ))
                .replace('|', "\\|"),
                c.new_expires.map(rfc3339_utc).unwrap_or_default(),
                inert::field(&note(c)).replace('|', "\\|"),
            ));
        }
        text.push('\n');
        text.push_str(&self.summary_line());
        inert::human(&text, false).into_owned()
    }

    fn summary_line(&self) -> String {
        let c = self.counts;
        let extra = [
            (c.synced, "synced"),
            (c.propagation_failed, "propagation failed"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!(", {n} {what}"))
        .collect::<String>();
        format!(
            "{} rotated, {}{} up to date, {} planned, {} locked, {} failed{extra}{}\n",
            c.rotated,
            if c.rotated_elsewhere > 0 {
                format!("{} rotated by another run, ", c.rotated_elsewhere)
            } else {
                String::new()
            },
            c.up_to_date,
            c.planned,
            c.locked,
            c.failed,
            if self.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        )
    }
}

fn short(id: Option<&str>) -> String {
    id.map(|v| v.chars().take(12).collect()).unwrap_or_default()
}

fn note(c: &CredentialOutcome) -> String {
    let mut parts = Vec::new();
    if let Some(message) = &c.message {
        parts.push(message.clone());
    } else if let Some(reason) = &c.reason {
        parts.push(reason.clone());
    }
    if !c.disabled.is_empty() {
        parts.push(format!("disabled {} old version(s)", c.disabled.len()));
    } else if !c.to_disable.is_empty() && c.status == RotationStatus::Planned {
        parts.push(format!(
            "would disable {} old version(s)",
            c.to_disable.len()
        ));
    }
    if !c.removed.is_empty() {
        parts.push(format!("removed {} Entra password(s)", c.removed.len()));
    } else if !c.to_remove.is_empty() && c.status == RotationStatus::Planned {
        parts.push(format!(
            "would remove {} Entra password(s)",
            c.to_remove.len()
        ));
    }
    if let Some(id) = &c.recovered {
        parts.push(format!(
            "recovered interrupted rotation {}",
            short(Some(id))
        ));
    }
    parts.extend(copies_note(&c.copies));
    parts.extend(c.runs.iter().map(run_note));
    parts.join("; ")
}

fn copies_note(copies: &[CopyOutcome]) -> Vec<String> {
    let count = |status| copies.iter().filter(|c| c.status == status).count();
    let mut parts = Vec::new();
    if count(CopyStatus::Updated) > 0 {
        parts.push(format!("updated {} copy(ies)", count(CopyStatus::Updated)));
    }
    for copy in copies {
        match copy.status {
            CopyStatus::Updated => {}
            CopyStatus::Planned => parts.push(format!("would update {}", copy.target)),
            CopyStatus::KeyVaultLinked => parts.push(format!(
                "{} is Key Vault-linked: nothing to write",
                copy.target
            )),
            CopyStatus::Failed => parts.push(format!(
                "{} not updated: {}",
                copy.target,
                copy.message.as_deref().unwrap_or("failed")
            )),
        }
    }
    parts
}

fn run_note(run: &RunOutcome) -> String {
    let what = match run.status {
        RunStatus::Planned => format!("would start {}", run.target),
        RunStatus::Started | RunStatus::Adopted => format!(
            "{} {} run {}{}",
            if run.status == RunStatus::Started {
                "started"
            } else {
                "adopted"
            },
            run.target,
            run.id.as_deref().unwrap_or("(id unknown)"),
            run.url
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default()
        ),
        RunStatus::Withheld | RunStatus::Failed => format!(
            "{} {}: {}",
            if run.status == RunStatus::Withheld {
                "did not start"
            } else {
                "could not start"
            },
            run.target,
            run.message.as_deref().unwrap_or("failed")
        ),
    };
    what
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn quoted_server_messages_stay_data_in_every_format() {
        let hostile = "Forbidden\n##vso[task.setvariable variable=KEYROT_STATUS;]pass\r\n\
                       ::error::x | ##[group]\u{2028}y";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.toml");
        std::fs::write(
            &path,
            "[[credential]]\nname = \"db-password\"\nvault = \"prod\"\ngenerator = \"random\"\n",
        )
        .unwrap();
        let config = crate::rotate::config::Config::load(&path).unwrap();
        let mut outcome =
            CredentialOutcome::new(&config.credentials[0], "https://prod.vault.azure.net");
        outcome.old_version = Some("##vso[x".into());
        outcome.message = Some(hostile.into());
        let report = RotationReport::new(
            "run".into(),
            false,
            datetime!(2026-11-26 12:00 UTC),
            vec![outcome],
        );
        for text in [
            report.table(),
            report.markdown(),
            report.json(),
            report.audit_lines(),
        ] {
            assert!(inert::is_inert(&text), "{text}");
        }
        assert_eq!(report.table().lines().count(), 3, "{}", report.table());
        assert_eq!(report.audit_lines().lines().count(), 1);
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["credentials"][0]["message"], hostile);
        assert_eq!(json["credentials"][0]["old_version"], "##vso[x");
        let audit: serde_json::Value = serde_json::from_str(&report.audit_lines()).unwrap();
        assert_eq!(audit["credential"]["message"], hostile);
    }

    fn outcome(status: RotationStatus, during: Option<FailedDuring>) -> CredentialOutcome {
        CredentialOutcome {
            status,
            failed_during: during,
            ..CredentialOutcome::named("c", "https://v.vault.azure.net", "random")
        }
    }

    fn code(outcomes: Vec<CredentialOutcome>) -> u8 {
        RotationReport::new("r".into(), false, datetime!(2026-11-26 12:00 UTC), outcomes)
            .exit_code()
    }

    #[test]
    fn exit_codes_put_a_failed_rotation_before_a_failure_to_start_before_a_lock() {
        use FailedDuring::*;
        use RotationStatus::*;
        let ok = || outcome(Rotated, None);
        assert_eq!(code(vec![ok(), outcome(RotatedElsewhere, None)]), 0);
        assert_eq!(code(vec![ok(), outcome(Locked, None)]), 4);
        assert_eq!(
            code(vec![outcome(Failed, Some(Planning)), outcome(Locked, None)]),
            3
        );
        assert_eq!(code(vec![outcome(Failed, Some(Locking))]), 3);
        assert_eq!(
            code(vec![
                outcome(Failed, Some(Planning)),
                outcome(Failed, Some(Rotation)),
                outcome(Locked, None)
            ]),
            1
        );
    }

    fn run(status: RunStatus, id: &str, credentials: &[&str]) -> RunOutcome {
        RunOutcome {
            kind: "azure-devops-pipeline",
            target: "pipeline \"deploy\" (contoso/payments)".into(),
            status,
            id: Some(id.into()),
            url: Some(format!(
                "https://dev.azure.com/contoso/p/_build/results?buildId={id}"
            )),
            message: None,
            credentials: credentials.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_failed_copy_or_run_exits_1_and_each_run_is_one_output_entry() {
        use RotationStatus::*;
        let copy_failed = outcome(PropagationFailed, None);
        assert_eq!(code(vec![outcome(Rotated, None), copy_failed]), 1);
        let mut run_failed = outcome(Rotated, None);
        run_failed.runs.push(run(RunStatus::Failed, "9", &["c"]));
        assert_eq!(code(vec![run_failed.clone()]), 1);
        let mut withheld = outcome(Rotated, None);
        withheld.runs.push(run(RunStatus::Withheld, "9", &["c"]));
        assert_eq!(code(vec![withheld]), 0);

        // One run two credentials asked for is listed once; held-back and failed runs are not.
        let shared = run(RunStatus::Started, "7", &["a", "b"]);
        let mut a = outcome(Rotated, None);
        a.name = "a".into();
        a.runs = vec![shared.clone(), run(RunStatus::Adopted, "8", &["a"])];
        let mut b = outcome(Rotated, None);
        b.name = "b".into();
        b.runs = vec![shared];
        let report = RotationReport::new(
            "r".into(),
            false,
            datetime!(2026-11-26 12:00 UTC),
            vec![a, b, run_failed],
        );
        let runs: serde_json::Value = serde_json::from_str(&report.runs_json()).unwrap();
        let ids: Vec<&str> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["7", "8"]);
        assert_eq!(runs[0]["credentials"], serde_json::json!(["a", "b"]));
        assert!(!report.runs_json().contains('\n'));
        assert_eq!(report.failed_count(), 1);
        assert_eq!(report.counts.rotated, 3);
    }

    #[test]
    fn the_holder_is_named_with_its_times_and_its_id_cannot_break_the_line() {
        let holder = LockHolder {
            run_id: Some("abc\n::error::x".into()),
            since: datetime!(2026-11-26 12:00 UTC),
            lease_until: Some(datetime!(2026-11-26 12:01 UTC)),
        };
        let text = holder.describe();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("since 2026-11-26T12:00:00Z"), "{text}");
        assert!(text.contains("lease until 2026-11-26T12:01:00Z"), "{text}");
    }
}
