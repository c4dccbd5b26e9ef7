//! `keyrot fetch`: the current values of selected secrets, delivered into the pipeline.
//!
//! The order is the point of this module:
//! 1. everything the user typed is checked before any request: the selection
//!    ([`selection`]), where the values go ([`delivery`]), and the variable names of exact names
//!    ([`variables`]);
//! 2. exact names are read directly (one GET each, no listing) while the vaults that globs (or
//!    the absence of `--name`) need are listed; a name that selects nothing is an error (exit 2);
//! 3. listed secrets are judged on their listed attributes ([`refusal`]): disabled, expired and
//!    not-yet-valid ones are skipped with a warning, without reading their values; their
//!    variable names are checked before any of them is read;
//! 4. a refused exact name (or, with `--strict`, any skip) stops everything: nothing is
//!    exported (exit 1);
//! 5. the listed secrets are read and judged again on what was read (a rotation may have
//!    written a new version in between); two secrets exported under one name is an error;
//! 6. every text carrying values is rendered, so a value a format cannot carry stops the export
//!    before anything is written ([`dotenv`]); then under CI every value is masked before
//!    anything else is printed, and the values go where they were asked to go, nowhere else.

pub mod delivery;
pub mod dotenv;
pub mod json;
pub mod private_file;
pub mod refusal;
pub mod selection;
pub mod variables;

use std::collections::BTreeMap;
use std::io::Write;

use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::ci::{self, CiSystem};
use crate::model::{CredentialRecord, FetchedSecret, Kind};
use crate::outcome::{Failure, Outcome};
use crate::vault::{CurrentSecret, Vault, VaultError, VaultUrl};

pub use delivery::{Delivery, Destinations, Format, GitHubTarget};
pub use refusal::Problem;
pub use selection::Selection;

/// A checked `fetch` command line.
pub struct Request {
    pub selection: Selection,
    pub delivery: Delivery,
    pub allow_expired: bool,
    pub strict: bool,
    /// Most GETs in flight at once.
    pub concurrency: usize,
}

/// A secret on its way out: where it came from, the names it goes under, its value.
pub struct Exported {
    /// Index into the vaults.
    pub vault: usize,
    /// The name as requested (exact names) or listed: what the variables are derived from,
    /// never the id in a response.
    pub name: String,
    /// `DB_PASSWORD`, or the `=VARIABLE` chosen: GitHub, env files, JSON.
    pub env_variable: String,
    /// `db-password`, or the `=VARIABLE` chosen: Azure Pipelines.
    pub azure_variable: String,
    pub secret: FetchedSecret,
}

/// A secret a glob (or the absence of `--name`) selected that is not exported.
pub struct Skipped {
    pub vault: usize,
    pub name: String,
    pub problem: Problem,
}

/// What was read, for delivery.
pub struct Fetched<'a> {
    pub vaults: &'a [VaultUrl],
    pub selection: &'a Selection,
    pub exported: Vec<Exported>,
    pub skipped: Vec<Skipped>,
}

/// Runs a checked request against `clients` (one per vault of the selection, in its order).
pub async fn run(
    request: &Request,
    clients: &[Vault],
    now: OffsetDateTime,
) -> Result<Outcome, Failure> {
    let selection = &request.selection;
    let vaults = selection.vaults.as_slice();
    let exact = selection.exact_reads();
    let problems: Vec<String> = exact
        .iter()
        .filter_map(|read| {
            let rename = selection.names[read.spec].variable.as_deref();
            name_problem(request, read.vault, &read.name, rename, false)
        })
        .collect();
    if !problems.is_empty() {
        return Err(Failure::Usage(problems.join("\n")));
    }

    let listed: Vec<usize> = (0..vaults.len())
        .filter(|&v| selection.needs_listing(v))
        .collect();
    let exact_pairs: Vec<(usize, String)> =
        exact.iter().map(|r| (r.vault, r.name.clone())).collect();
    let (listings, exact_answers) = futures::future::try_join(
        list(clients, &listed),
        read(clients, exact_pairs, request.concurrency),
    )
    .await
    .map_err(|e| Failure::Runtime(e.to_string()))?;

    // What the exact names found.
    let mut found_specs = vec![false; selection.names.len()];
    let mut refused: Vec<(usize, String, Problem)> = Vec::new();
    let mut internal: Vec<String> = Vec::new();
    let mut exported: Vec<Exported> = Vec::new();
    for (read, answer) in exact.iter().zip(exact_answers) {
        match answer {
            CurrentSecret::NotFound => {}
            CurrentSecret::Disabled => {
                found_specs[read.spec] = true;
                refused.push((read.vault, read.name.clone(), Problem::Disabled));
            }
            CurrentSecret::Found(secret) => {
                if crate::rotate::is_internal(&secret.record) {
                    internal.push(format!(
                        "--name {}: {} in {} is keyrot's own lock or journal, never exported",
                        selection.names[read.spec].typed, read.name, vaults[read.vault]
                    ));
                } else if selection.tags_match(&secret.record) {
                    found_specs[read.spec] = true;
                    match refusal::problem(&secret.record, now, request.allow_expired) {
                        Some(problem) => refused.push((read.vault, read.name.clone(), problem)),
                        None => {
                            let rename = selection.names[read.spec].variable.as_deref();
                            exported.push(exported_as(read.vault, &read.name, rename, *secret));
                        }
                    }
                }
            }
        }
    }
    if !internal.is_empty() {
        return Err(Failure::Usage(internal.join("\n")));
    }
    let mut unmatched: Vec<&str> = selection.unmatched_globs(&listings);
    unmatched.extend(
        exact
            .iter()
            .filter(|r| !found_specs[r.spec])
            .map(|r| selection.names[r.spec].typed.as_str()),
    );
    unmatched.dedup();
    if !unmatched.is_empty() {
        return Err(Failure::Usage(nothing_matches(
            vaults,
            &unmatched,
            selection.tag_list(),
        )));
    }

    // What the listings selected, judged on their listed attributes before any value is read.
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut to_read: Vec<(usize, String)> = Vec::new();
    let mut any_selected = false;
    for (vault, records) in &listings {
        for record in selection.select_listed(*vault, records) {
            any_selected = true;
            match refusal::problem(record, now, request.allow_expired) {
                Some(problem) => skipped.push(Skipped {
                    vault: *vault,
                    name: record.name.clone(),
                    problem,
                }),
                None => to_read.push((*vault, record.name.clone())),
            }
        }
    }
    if selection.names.is_empty() && !any_selected && selection.has_tags() {
        return Err(Failure::Usage(format!(
            "no secret in {} has the tags {}",
            vault_list(vaults),
            selection.tag_list().join(", ")
        )));
    }
    let problems: Vec<String> = to_read
        .iter()
        .filter_map(|(vault, name)| name_problem(request, *vault, name, None, true))
        .collect();
    if !problems.is_empty() {
        return Err(Failure::Usage(problems.join("\n")));
    }
    if let Some(outcome) = stop(request, vaults, &refused, &skipped) {
        return Ok(outcome);
    }

    let answers = read(clients, to_read.clone(), request.concurrency)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    for ((vault, name), answer) in to_read.into_iter().zip(answers) {
        let problem = match answer {
            CurrentSecret::NotFound => Some(Problem::Vanished),
            CurrentSecret::Disabled => Some(Problem::Disabled),
            CurrentSecret::Found(secret) => {
                match refusal::problem(&secret.record, now, request.allow_expired) {
                    None => {
                        exported.push(exported_as(vault, &name, None, *secret));
                        None
                    }
                    problem => problem,
                }
            }
        };
        if let Some(problem) = problem {
            skipped.push(Skipped {
                vault,
                name,
                problem,
            });
        }
    }
    if let Some(outcome) = stop(request, vaults, &[], &skipped) {
        return Ok(outcome);
    }
    exported.sort_by(|a, b| {
        (a.vault, a.name.to_ascii_lowercase()).cmp(&(b.vault, b.name.to_ascii_lowercase()))
    });
    let clashes = clashes(request, vaults, &exported);
    if !clashes.is_empty() {
        return Err(Failure::Usage(clashes.join("\n")));
    }

    let fetched = Fetched {
        vaults,
        selection,
        exported,
        skipped,
    };
    let rendered = request
        .delivery
        .render(&fetched, now)
        .map_err(Failure::Usage)?;
    request
        .delivery
        .deliver(&fetched, &rendered)
        .map_err(Failure::Runtime)?;
    tracing::info!(
        "fetch: exported {} secret(s){}",
        fetched.exported.len(),
        fetched
            .exported
            .iter()
            .map(|e| format!(
                "\n  {} from {} (version {})",
                e.name,
                vaults[e.vault],
                e.secret.record.version.as_deref().unwrap_or("?")
            ))
            .collect::<String>()
    );
    Ok(Outcome::Ok)
}

/// Lists the secrets of the given vaults, all at once.
async fn list(
    clients: &[Vault],
    vaults: &[usize],
) -> Result<Vec<(usize, Vec<CredentialRecord>)>, VaultError> {
    futures::future::try_join_all(vaults.iter().map(|&vault| async move {
        let records = clients[vault].list(Kind::Secret).await?;
        Ok::<_, VaultError>((vault, records))
    }))
    .await
}

/// Reads the current version of each `(vault, name)`, at most `concurrency` at once; the
/// answers come back in the order asked.
async fn read(
    clients: &[Vault],
    wanted: Vec<(usize, String)>,
    concurrency: usize,
) -> Result<Vec<CurrentSecret>, VaultError> {
    let mut answers: Vec<(usize, CurrentSecret)> =
        futures::stream::iter(wanted.into_iter().enumerate())
            .map(|(index, (vault, name))| async move {
                let answer = clients[vault].read_current_secret(&name).await?;
                Ok::<_, VaultError>((index, answer))
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
    answers.sort_by_key(|(index, _)| *index);
    Ok(answers.into_iter().map(|(_, answer)| answer).collect())
}

fn exported_as(vault: usize, name: &str, rename: Option<&str>, secret: FetchedSecret) -> Exported {
    Exported {
        vault,
        name: name.to_string(),
        env_variable: rename.map_or_else(|| variables::env_name(name), str::to_string),
        azure_variable: rename.unwrap_or(name).to_string(),
        secret,
    }
}

/// Why the secret `name` of `vault` cannot be exported under the name(s) its destinations
/// would give it, with the way out; `None` if it can.
fn name_problem(
    request: &Request,
    vault: usize,
    name: &str,
    rename: Option<&str>,
    listed: bool,
) -> Option<String> {
    let delivery = &request.delivery;
    let env_variable = rename.map_or_else(|| variables::env_name(name), str::to_string);
    let azure_variable = rename.unwrap_or(name);
    let (variable, problem) = if let Some(problem) = delivery
        .uses_env_names()
        .then(|| variables::env_problem(&env_variable))
        .flatten()
    {
        (env_variable, problem)
    } else if let Some(problem) = delivery
        .uses_azure_names()
        .then(|| variables::azure_problem(azure_variable))
        .flatten()
    {
        (azure_variable.to_string(), problem)
    } else {
        return None;
    };
    let selection = &request.selection;
    let qualified = selection.qualified(vault, name);
    let exclude = if listed {
        format!(", or leave it out with --exclude {qualified}")
    } else {
        String::new()
    };
    Some(format!(
        "secret {name} in {} would be exported as {variable}, which keyrot refuses: {problem}; export it under another name with --name {qualified}={}{exclude}",
        selection.vaults[vault],
        variables::suggestion(&variable),
    ))
}

/// Two secrets that would be exported under one name (compared without case, as Windows and
/// Azure Pipelines do), each with the renames that settle it.
fn clashes(request: &Request, vaults: &[VaultUrl], exported: &[Exported]) -> Vec<String> {
    let delivery = &request.delivery;
    let mut kinds: Vec<fn(&Exported) -> &str> = Vec::new();
    if delivery.uses_env_names() {
        kinds.push(|e| &e.env_variable);
    }
    if delivery.uses_azure_names() {
        kinds.push(|e| &e.azure_variable);
    }
    let mut messages = Vec::new();
    for variable_of in kinds {
        let mut by_name: BTreeMap<String, Vec<&Exported>> = BTreeMap::new();
        for e in exported {
            by_name
                .entry(variable_of(e).to_ascii_uppercase())
                .or_default()
                .push(e);
        }
        for group in by_name.values().filter(|g| g.len() > 1) {
            let who: Vec<String> = group
                .iter()
                .map(|e| format!("{} in {}", e.name, vaults[e.vault]))
                .collect();
            let renames: Vec<String> = group
                .iter()
                .map(|e| {
                    let vault_part = variables::env_name(vaults[e.vault].name());
                    let mut variable = format!("{vault_part}_{}", variables::env_name(&e.name));
                    if variables::env_problem(&variable).is_some() {
                        variable = variables::suggestion(&variable);
                    }
                    format!("--name {}/{}={variable}", vaults[e.vault].name(), e.name)
                })
                .collect();
            let message = format!(
                "{} would all be exported as {}; give each its own name, e.g. {}",
                who.join(" and "),
                variable_of(group[0]),
                renames.join(" ")
            );
            if !messages.contains(&message) {
                messages.push(message);
            }
        }
    }
    messages
}

/// Ends the command with exit 1 if a secret named exactly is refused, or `--strict` and a
/// secret was skipped: says what and why (stderr and CI error annotations), exports nothing.
fn stop(
    request: &Request,
    vaults: &[VaultUrl],
    refused: &[(usize, String, Problem)],
    skipped: &[Skipped],
) -> Option<Outcome> {
    let mut fatal: Vec<(usize, &str, &Problem)> = refused
        .iter()
        .map(|(vault, name, problem)| (*vault, name.as_str(), problem))
        .collect();
    if request.strict {
        fatal.extend(
            skipped
                .iter()
                .map(|s| (s.vault, s.name.as_str(), &s.problem)),
        );
    }
    if fatal.is_empty() {
        return None;
    }
    let system = request.delivery.system();
    let mut out = request.delivery.annotations();
    for (vault, name, problem) in &fatal {
        let message = format!("{name} in {}: {}", vaults[*vault], problem.explain());
        let title = format!("keyrot fetch refused {name}");
        let _ = ci::annotate(system, &mut out, ci::Level::Error, &title, &message);
    }
    let _ = out.flush();
    let lines: Vec<String> = fatal
        .iter()
        .map(|(vault, name, problem)| {
            format!("  {name} in {}: {}", vaults[*vault], problem.explain())
        })
        .collect();
    let strict = if request.strict && !skipped.is_empty() {
        " (--strict: a skipped secret fails the export)"
    } else {
        ""
    };
    eprintln!(
        "error: refusing to export {} secret(s){strict}; nothing was exported:\n{}",
        fatal.len(),
        lines.join("\n")
    );
    Some(Outcome::GateFailed)
}

/// Reports the skipped secrets as warnings (stderr and CI annotations); under Azure Pipelines
/// the step then ends `SucceededWithIssues`.
fn warn_skipped(delivery: &Delivery, fetched: &Fetched<'_>) {
    if fetched.skipped.is_empty() {
        return;
    }
    let system = delivery.system();
    let mut out = delivery.annotations();
    for s in &fetched.skipped {
        let vault = &fetched.vaults[s.vault];
        let why = s.problem.explain();
        tracing::warn!("fetch: skipped {} in {vault}: {why}", s.name);
        let title = format!("keyrot fetch skipped {}", s.name);
        let message = format!("{} in {vault} was not exported: {why}", s.name);
        let _ = ci::annotate(system, &mut out, ci::Level::Warning, &title, &message);
    }
    if system == CiSystem::Azure {
        let line = ci::azure::complete(
            ci::azure::TaskResult::SucceededWithIssues,
            &format!("{} secret(s) skipped", fetched.skipped.len()),
        );
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

fn vault_list(vaults: &[VaultUrl]) -> String {
    vaults
        .iter()
        .map(VaultUrl::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn nothing_matches(vaults: &[VaultUrl], typed: &[&str], tags: &[String]) -> String {
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" with the tags {}", tags.join(", "))
    };
    format!(
        "no secret in {} matches {}{tags}; names are listed by `keyrot check --vault {}`",
        vault_list(vaults),
        typed
            .iter()
            .map(|t| format!("--name {t}"))
            .collect::<Vec<_>>()
            .join(", "),
        vaults.first().map(VaultUrl::as_str).unwrap_or_default(),
    )
}
