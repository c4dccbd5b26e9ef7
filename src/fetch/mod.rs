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

/// A secret of one of the vaults: the vault's index and the secret's name.
type VaultSecret = (usize, String);

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
    let exact_pairs: Vec<VaultSecret> = exact.iter().map(|r| (r.vault, r.name.clone())).collect();
    let (listings, exact_answers) = futures::future::try_join(
        list(clients, &listed),
        read(clients, exact_pairs, request.concurrency),
    )
    .await
    .map_err(|e| Failure::Runtime(e.to_string()))?;

    let mut exported: Vec<Exported> = Vec::new();
    let refused = take_exact_answers(
        request,
        &exact,
        exact_answers,
        now,
        &mut exported,
        &listings,
    )?;

    let (to_read, mut skipped) = judge_listings(request, &listings, now)?;
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

    let wanted = to_read.clone();
    let answers = read(clients, wanted, request.concurrency)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    take_listed_answers(request, to_read, answers, now, &mut exported, &mut skipped);
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

/// Judges what the exact names' GETs answered: exported, or refused (disabled, expired, not
/// yet valid). A name no vault has (with the `--tag`s asked for) is a usage error, and so is
/// one of keyrot's own lock or journal secrets; `listings` is there so that one message names
/// every `--name` that matches nothing, globs included.
fn take_exact_answers(
    request: &Request,
    exact: &[selection::ExactRead],
    answers: Vec<CurrentSecret>,
    now: OffsetDateTime,
    exported: &mut Vec<Exported>,
    listings: &[(usize, Vec<CredentialRecord>)],
) -> Result<Vec<(usize, String, Problem)>, Failure> {
    let selection = &request.selection;
    let vaults = selection.vaults.as_slice();
    let mut found = vec![false; selection.names.len()];
    let mut refused = Vec::new();
    let mut internal = Vec::new();
    for (read, answer) in exact.iter().zip(answers) {
        match answer {
            CurrentSecret::NotFound => {}
            CurrentSecret::Disabled => {
                found[read.spec] = true;
                refused.push((read.vault, read.name.clone(), Problem::Disabled));
            }
            CurrentSecret::Found(secret) => {
                if crate::rotate::is_internal(&secret.record) {
                    internal.push(format!(
                        "--name {}: {} in {} is keyrot's own lock or journal, never exported",
                        selection.names[read.spec].typed, read.name, vaults[read.vault]
                    ));
                } else if selection.tags_match(&secret.record) {
                    found[read.spec] = true;
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
    let mut unmatched: Vec<&str> = selection.unmatched_globs(listings);
    for read in exact.iter().filter(|r| !found[r.spec]) {
        let typed = selection.names[read.spec].typed.as_str();
        if !unmatched.contains(&typed) {
            unmatched.push(typed);
        }
    }
    if !unmatched.is_empty() {
        return Err(Failure::Usage(nothing_matches(
            vaults,
            &unmatched,
            selection.tag_list(),
        )));
    }
    Ok(refused)
}

/// Splits what the listings selected into the secrets to read and the ones skipped on their
/// listed attributes (whose values are never read).
fn judge_listings(
    request: &Request,
    listings: &[(usize, Vec<CredentialRecord>)],
    now: OffsetDateTime,
) -> Result<(Vec<VaultSecret>, Vec<Skipped>), Failure> {
    let selection = &request.selection;
    let mut skipped = Vec::new();
    let mut to_read = Vec::new();
    let mut any_selected = false;
    for (vault, records) in listings {
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
            vault_list(&selection.vaults),
            selection.tag_list().join(", ")
        )));
    }
    Ok((to_read, skipped))
}

/// Judges the listed secrets again on what was read: exported, or skipped (gone, disabled,
/// expired or not yet valid since the listing).
fn take_listed_answers(
    request: &Request,
    read: Vec<VaultSecret>,
    answers: Vec<CurrentSecret>,
    now: OffsetDateTime,
    exported: &mut Vec<Exported>,
    skipped: &mut Vec<Skipped>,
) {
    for ((vault, name), answer) in read.into_iter().zip(answers) {
        let problem = match answer {
            CurrentSecret::NotFound => Problem::Vanished,
            CurrentSecret::Disabled => Problem::Disabled,
            CurrentSecret::Found(secret) => {
                match refusal::problem(&secret.record, now, request.allow_expired) {
                    Some(problem) => problem,
                    None => {
                        exported.push(exported_as(vault, &name, None, *secret));
                        continue;
                    }
                }
            }
        };
        skipped.push(Skipped {
            vault,
            name,
            problem,
        });
    }
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
    wanted: Vec<VaultSecret>,
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
    let text = format!(
        "error: refusing to export {} secret(s){strict}; nothing was exported:\n{}",
        fatal.len(),
        lines.join("\n")
    );
    eprintln!("{}", ci::inert::human(&text, false));
    Some(Outcome::GateFailed)
}

/// Reports the skipped secrets as warnings (stderr and CI annotations).
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
    let _ = out.flush();
}

/// Under Azure Pipelines, a fetch that skipped secrets ends the step `SucceededWithIssues`;
/// said last, after every variable is set.
fn complete_with_issues(delivery: &Delivery, fetched: &Fetched<'_>) {
    if delivery.system() == CiSystem::Azure && !fetched.skipped.is_empty() {
        let line = ci::azure::complete(
            ci::azure::TaskResult::SucceededWithIssues,
            &format!("{} secret(s) skipped", fetched.skipped.len()),
        );
        let mut out = delivery.annotations();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
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
