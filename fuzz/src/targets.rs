//! What each fuzz target checks, one public function per target taking the fuzzer's bytes.
//!
//! `cargo fuzz run NAME` (scripts/fuzz) calls these with coverage-guided inputs; the property
//! tests (`tests/properties.rs`, on stable, in `scripts/test`) call them over the seed corpora
//! in `fuzz/seeds/` and call the `check_*` functions with generated inputs. A property that
//! does not hold panics with the input that broke it.
//!
//! Every target goes through keyrot's own code paths (the SDK models keyrot deserialises into,
//! the record building, the page guard, the renderers), and the oracles are independent of the
//! code under test: the runners' command parsers (`tests/common/runners.rs`), serde_json,
//! quick-xml, and models of how a POSIX shell and python-dotenv read an env file.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use keyrot::auth::entra::EntraAnswer;
use keyrot::auth::AuthKind;
use keyrot::check::duration::{describe_span, describe_window, whole_days_left};
use keyrot::check::{parse_duration, parse_duration_with_unit, CheckReport, Policy};
use keyrot::ci::{azure, github, inert};
use keyrot::fetch::{dotenv, variables};
use keyrot::model::{AppRef, CredentialRecord, EntraLink, Kind, ReadError, ReadFailure, Source};
use keyrot::outcome::Failure;
use keyrot::paging::{PageGuard, PageRefusal};
use keyrot::rotate::config::{
    Config, DevOpsOrganization, Generator, GithubSecretScope, NameOrId, NotifySpec, NotifyTarget,
    PropagateTarget, TriggerTarget, Visibility,
};
use keyrot::rotate::lock::LockTiming;
use keyrot::vault::VaultUrl;
use time::macros::datetime;
use time::Duration;
use url::Url;

use crate::runners;

/// The fuzzer's bytes as separate strings: split on 0xFF (never part of UTF-8), each part read
/// as UTF-8 with invalid sequences replaced.
fn parts(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0xFF)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

fn part(parts: &[String], i: usize) -> &str {
    parts.get(i).map_or("", String::as_str)
}

// ---------------------------------------------------------------------------------------------
// 1. keyrot.toml

/// The origin every config error must start with.
pub const CONFIG_ORIGIN: &str = "fuzz/keyrot.toml";

/// `keyrot.toml` as `Config::load` reads it (the same `from_toml_str`): never panics; an error
/// is one line naming `file:line:col` inside the text (or the whole file, for a plan without
/// credentials); a plan that is accepted, written out again, reads back the same.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_config_text(text);
    }
}

/// [`config`] for text; the plan if accepted.
pub fn check_config_text(text: &str) -> Option<Config> {
    match Config::from_toml_str(text, CONFIG_ORIGIN) {
        Ok(config) => {
            check_config_round_trip(&config);
            Some(config)
        }
        Err(message) => {
            check_config_error(text, &message);
            None
        }
    }
}

/// One line, `origin:line:col: …` with the position inside `text`, or `origin: …` for the few
/// errors about the file as a whole.
pub fn check_config_error(text: &str, message: &str) {
    assert!(
        !message.contains(['\n', '\r']),
        "a config error is one line: {message:?}"
    );
    let rest = message
        .strip_prefix(CONFIG_ORIGIN)
        .and_then(|rest| rest.strip_prefix(':'))
        .unwrap_or_else(|| panic!("a config error starts with the file: {message:?}"));
    let mut fields = rest.splitn(3, ':');
    let line = fields.next().and_then(|l| l.parse::<usize>().ok());
    let column = fields.next().and_then(|c| c.parse::<usize>().ok());
    match (line, column) {
        (Some(line), Some(column)) => {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(
                (1..=lines.len()).contains(&line),
                "line {line} is not in the file ({} lines): {message:?}",
                lines.len()
            );
            let width = lines[line - 1].chars().count();
            assert!(
                (1..=width + 1).contains(&column),
                "column {column} is not on line {line} ({width} characters): {message:?}"
            );
            assert!(
                fields
                    .next()
                    .is_some_and(|m| m.starts_with(' ') && m.len() > 1),
                "a message follows the position: {message:?}"
            );
        }
        _ => assert!(
            rest.starts_with(" no [[credential]]"),
            "a config error names line and column: {message:?}"
        ),
    }
}

/// A TOML basic string holding exactly `text`.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `config` written as a keyrot.toml with every setting explicit (durations in seconds).
pub fn render_config(config: &Config) -> String {
    let mut out = String::new();
    // verify_timeout cannot be set on a `random` credential without verify_command; those take
    // it from [defaults], so they all have the same one.
    let implicit_timeouts: Vec<StdDuration> = config
        .credentials
        .iter()
        .filter(|c| matches!(&c.generator, Generator::Random(r) if r.verify_command.is_none()))
        .map(|c| c.verify_timeout)
        .collect();
    if let Some(first) = implicit_timeouts.first() {
        assert!(
            implicit_timeouts.iter().all(|t| t == first),
            "credentials that cannot set verify_timeout got different ones: {config:?}"
        );
        out.push_str(&format!(
            "[defaults]\nverify_timeout = \"{}s\"\n\n",
            first.as_secs()
        ));
    }
    for c in &config.credentials {
        out.push_str("[[credential]]\n");
        let mut key = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
        key("name", toml_string(&c.name));
        key("vault", toml_string(&c.vault));
        key("generator", toml_string(c.generator.name()));
        // A resource key's validity written in keyrot.toml outranks its secret's tag, so it is
        // written only where it was.
        let validity_written = match &c.generator {
            Generator::ResourceKey(k) => k.validity_configured,
            _ => true,
        };
        for (k, d) in [
            ("rotate_within", Some(c.rotate_within)),
            ("validity", validity_written.then_some(c.validity)),
            ("grace", Some(c.grace)),
        ] {
            if let Some(d) = d {
                key(k, format!("\"{}s\"", d.whole_seconds()));
            }
        }
        if let Some(content_type) = &c.content_type {
            key("content_type", toml_string(content_type));
        }
        if !c.tags.is_empty() {
            let tags: Vec<String> = c
                .tags
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_string(k), toml_string(v)))
                .collect();
            key("tags", format!("{{ {} }}", tags.join(", ")));
        }
        let list = |items: &[String]| {
            let items: Vec<String> = items.iter().map(|i| toml_string(i)).collect();
            format!("[{}]", items.join(", "))
        };
        match &c.generator {
            Generator::Random(r) => {
                key("length", r.length.to_string());
                key("charset", toml_string(r.charset.as_str()));
                if let Some(template) = &r.template {
                    key("template", toml_string(template));
                }
                if let Some(command) = &r.verify_command {
                    key("verify_command", list(command));
                    key(
                        "verify_timeout",
                        format!("\"{}s\"", c.verify_timeout.as_secs()),
                    );
                    if !r.verify_env.is_empty() {
                        key("verify_env", list(&r.verify_env));
                    }
                }
            }
            Generator::EntraAppPassword {
                application,
                remove_foreign,
            } => {
                key("application", toml_string(application));
                key("remove_foreign", remove_foreign.to_string());
                key(
                    "verify_timeout",
                    format!("\"{}s\"", c.verify_timeout.as_secs()),
                );
            }
            Generator::ResourceKey(k) => {
                key("resource", toml_string(&k.resource.to_string()));
                key(
                    "value",
                    toml_string(match k.value {
                        keyrot::rotate::config::KeyForm::Key => "key",
                        keyrot::rotate::config::KeyForm::ConnectionString => "connection-string",
                    }),
                );
                if k.service == keyrot::keys::alternation::Service::Cosmos {
                    key("lro_timeout", format!("\"{}s\"", k.lro_timeout.as_secs()));
                }
                key(
                    "verify_timeout",
                    format!("\"{}s\"", c.verify_timeout.as_secs()),
                );
            }
        }
        for target in &c.propagate {
            out.push_str("[[credential.propagate]]\n");
            render_propagate(target, &mut out);
        }
        for target in &c.triggers {
            out.push_str("[[credential.trigger]]\n");
            render_trigger(target, &mut out);
        }
        out.push('\n');
    }
    for notify in &config.notify {
        out.push_str("[[notify]]\n");
        render_notify(notify, &mut out);
        out.push('\n');
    }
    out
}

fn toml_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| toml_string(i)).collect();
    format!("[{}]", items.join(", "))
}

fn toml_map(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", toml_string(k), toml_string(v)))
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

fn name_or_id(value: &NameOrId) -> String {
    match value {
        NameOrId::Name(name) => toml_string(name),
        NameOrId::Id(id) => id.to_string(),
    }
}

fn organization(org: &DevOpsOrganization) -> String {
    match &org.other_origin {
        Some(origin) => toml_string(&format!("{origin}/{}", org.name)),
        None => toml_string(&org.name),
    }
}

fn render_propagate(target: &PropagateTarget, out: &mut String) {
    let mut key = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
    key("to", toml_string(target.kind()));
    match target {
        PropagateTarget::VariableGroup {
            organization: org,
            project,
            group,
            variable,
        } => {
            key("organization", organization(org));
            key("project", toml_string(project));
            key("group", name_or_id(group));
            key("variable", toml_string(variable));
        }
        PropagateTarget::GithubSecret { scope, secret } => {
            match scope {
                GithubSecretScope::Repository {
                    repository,
                    environment,
                } => {
                    key("repository", toml_string(&repository.to_string()));
                    if let Some(environment) = environment {
                        key("environment", toml_string(environment));
                    }
                }
                GithubSecretScope::Organization {
                    organization,
                    visibility,
                } => {
                    key("organization", toml_string(organization));
                    match visibility {
                        Visibility::All => key("visibility", toml_string("all")),
                        Visibility::Private => key("visibility", toml_string("private")),
                        Visibility::Selected(repositories) => {
                            key("visibility", toml_string("selected"));
                            let items: Vec<String> = repositories.iter().map(name_or_id).collect();
                            key("repositories", format!("[{}]", items.join(", ")));
                        }
                    }
                }
            }
            key("secret", toml_string(secret));
        }
        // The references to check are the credential's own: only the site is written.
        PropagateTarget::AppServiceRefresh { site, .. } => {
            key("site", toml_string(&site.to_string()));
        }
        PropagateTarget::LogicAppParameter {
            workflow,
            parameter,
        } => {
            key("workflow", toml_string(&workflow.to_string()));
            key("parameter", toml_string(parameter));
        }
        PropagateTarget::KeyVaultSecret { vault, secret } => {
            key("vault", toml_string(vault.as_str()));
            key("secret", toml_string(secret));
        }
    }
}

fn render_trigger(target: &TriggerTarget, out: &mut String) {
    let mut key = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
    key("to", toml_string(target.kind()));
    match target {
        TriggerTarget::Pipeline {
            organization: org,
            project,
            pipeline,
            branch,
            parameters,
        } => {
            key("organization", organization(org));
            key("project", toml_string(project));
            key("pipeline", name_or_id(pipeline));
            if let Some(branch) = branch {
                key("branch", toml_string(branch));
            }
            key("parameters", toml_map(parameters));
        }
        TriggerTarget::Release {
            organization: org,
            project,
            definition,
        } => {
            key("organization", organization(org));
            key("project", toml_string(project));
            key("definition", name_or_id(definition));
        }
        TriggerTarget::Workflow {
            repository,
            workflow,
            git_ref,
            inputs,
        } => {
            key("repository", toml_string(&repository.to_string()));
            key("workflow", name_or_id(workflow));
            key("ref", toml_string(git_ref));
            key("inputs", toml_map(inputs));
        }
    }
}

fn render_notify(notify: &NotifySpec, out: &mut String) {
    let mut key = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
    key("to", toml_string(notify.target.kind()));
    match &notify.target {
        NotifyTarget::Teams { url_env } | NotifyTarget::Slack { url_env } => {
            key("url_env", toml_string(url_env));
        }
        NotifyTarget::Webhook {
            url_env,
            secret_env,
        } => {
            key("url_env", toml_string(url_env));
            key("secret_env", toml_string(secret_env));
        }
        NotifyTarget::GithubIssue { repository, labels } => {
            key("repository", toml_string(&repository.to_string()));
            key("labels", toml_list(labels));
        }
    }
    let events: Vec<String> = notify
        .events
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect();
    key("events", toml_list(&events));
}

/// An accepted plan, written out with every setting explicit, reads back the same.
pub fn check_config_round_trip(config: &Config) {
    let text = render_config(config);
    match Config::from_toml_str(&text, CONFIG_ORIGIN) {
        Ok(again) => assert_eq!(&again, config, "the plan written out reads back:\n{text}"),
        Err(e) => panic!("an accepted plan, written out, is refused: {e}\n{text}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Key Vault and Graph answers

/// The services a listing may start at (a public vault, the emulator's loopback form, Graph).
pub const SERVICES: &[&str] = &[
    "https://myvault.vault.azure.net",
    "https://127.0.0.1:8443",
    "https://graph.microsoft.com",
    "https://[::1]:9000",
];

/// The first byte chooses what the rest is read as: a list page of secrets, certificates or
/// keys (and its next link), a secret bundle, a Key Vault error, a Graph application, a new
/// Graph password, a Graph error, an Entra token error. Nothing panics, records belong to the
/// vault they were read from, a next link of another origin is never admitted, and a secret
/// value appears in no error and no `Debug`.
pub fn json_pages(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let vault = VaultUrl::parse(SERVICES[usize::from(selector >> 6) % 2]).expect("a vault URL");
    match selector % 9 {
        0 => check_list_page(&vault, Kind::Secret, rest),
        1 => check_list_page(&vault, Kind::Certificate, rest),
        2 => check_list_page(&vault, Kind::Key, rest),
        3 => check_secret_bundle(&vault, rest),
        4 => {
            let (status, body) = status_and_body(rest);
            check_vault_error(&vault, status, body);
        }
        5 => check_graph_application(rest),
        6 => check_new_password(rest),
        7 => {
            let (status, body) = status_and_body(rest);
            check_graph_error(status, body);
        }
        _ => check_entra_error(rest),
    }
}

/// A status from the first byte (the common ones, or any), the body after it.
fn status_and_body(data: &[u8]) -> (u16, &[u8]) {
    const COMMON: [u16; 12] = [400, 401, 403, 404, 405, 408, 409, 429, 500, 502, 503, 504];
    match data.split_first() {
        Some((&b, body)) if usize::from(b) < COMMON.len() * 16 => {
            (COMMON[usize::from(b) % COMMON.len()], body)
        }
        Some((&b, body)) => (u16::from(b) + 100 * u16::from(b % 6), body),
        None => (500, data),
    }
}

/// A list page: its records belong to this vault and kind, and its next link is admitted only
/// within the vault's origin.
pub fn check_list_page(vault: &VaultUrl, kind: Kind, body: &[u8]) {
    let Ok((records, next)) = keyrot::vault::decode::list_page(vault, kind, body) else {
        return;
    };
    for record in &records {
        assert_eq!(record.vault, vault.as_str());
        assert_eq!(record.kind, kind);
        assert_eq!(record.source, Source::KeyVault);
        assert!(!record.name.is_empty(), "{record:?}");
        let id = Url::parse(&record.id).expect("a record's id is a URL");
        assert!(
            id.path_segments()
                .is_some_and(|mut s| s.any(|s| s == record.name)),
            "the name comes from the id: {record:?}"
        );
    }
    // The SDK's pagers follow a non-empty link, joined to the listing's first URL.
    if let Some(link) = next.filter(|link| !link.is_empty()) {
        let first = Url::parse(&format!("{}/{}?api-version=7.5", vault, kind.plural()))
            .expect("a listing URL");
        check_link(vault.as_str(), &first, &link);
    }
}

/// A value planted in answers, to be looked for in every error and `Debug`.
pub const PLANTED: &str = "pLaNtEd-SeCrEt-VaLuE-5ac1d3";

/// `body` with `key` set to [`PLANTED`] when it is a JSON object, whole and cut short at a
/// point after the planted value that `body` chooses (a malformed answer that holds the
/// secret); else nothing.
fn planted(body: &[u8], key: &str) -> Vec<Vec<u8>> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    object.insert(key.to_owned(), PLANTED.into());
    let whole = serde_json::to_vec(&object).expect("JSON");
    // Only where the value is the one place it occurs (a fuzzer learns the marker).
    let places = whole
        .windows(PLANTED.len())
        .filter(|w| *w == PLANTED.as_bytes())
        .count();
    if places != 1 {
        return Vec::new();
    }
    let after = whole
        .windows(PLANTED.len())
        .position(|w| w == PLANTED.as_bytes())
        .map_or(0, |at| at + PLANTED.len());
    let cut = after + (whole.len() - after) * usize::from(body.last().copied().unwrap_or(0)) / 256;
    vec![whole[..cut].to_vec(), whole]
}

/// A secret bundle: the value is kept as sent, and no error or `Debug` shows it.
pub fn check_secret_bundle(vault: &VaultUrl, body: &[u8]) {
    let read = |body: &[u8]| keyrot::vault::decode::secret(vault, "requested", body);
    if let Ok(fetched) = read(body) {
        assert_eq!(fetched.record.vault, vault.as_str());
        assert_eq!(fetched.record.kind, Kind::Secret);
        let sent: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        if let Some(value) = sent.as_ref().and_then(|v| v["value"].as_str()) {
            assert_eq!(fetched.value.expose(), value, "the value is kept as sent");
        }
    }
    for body in planted(body, "value") {
        let shown = match read(&body) {
            Ok(fetched) => {
                assert_eq!(fetched.value.expose(), PLANTED);
                format!("{fetched:?}")
            }
            Err(error) => format!("{error} {error:?}"),
        };
        assert!(!shown.contains(PLANTED), "the value is shown: {shown}");
    }
}

/// A Key Vault error answer: the SDK's error and keyrot's reading of it agree with the status.
pub fn check_vault_error(vault: &VaultUrl, status: u16, body: &[u8]) {
    for (kind, operation) in [(Kind::Secret, "get"), (Kind::Key, "list")] {
        let answer = keyrot::vault::decode::error(vault, kind, operation, status, body);
        assert!(!answer.disabled || status == 403, "disabled on {status}");
        assert!(!answer.not_found || status == 404, "not found on {status}");
        assert!(
            answer.message.contains(vault.as_str()),
            "the message names the vault: {}",
            answer.message
        );
        if (400..600).contains(&status) {
            assert_eq!(answer.reason, ReadFailure::from_status(status), "{status}");
        }
    }
}

/// A Graph application: its records are one per password and certificate.
pub fn check_graph_application(body: &[u8]) {
    if let Ok(app) = keyrot::graph::decode::application(body) {
        let records = app.records();
        assert_eq!(records.len(), app.passwords.len() + app.certificates.len());
        for record in &records {
            assert_eq!(record.source, Source::Entra);
            assert!(matches!(
                record.kind,
                Kind::AppPassword | Kind::AppCertificate
            ));
            assert!(
                !record.name.is_empty() || record.id.is_empty(),
                "{record:?}"
            );
        }
    }
}

/// A new Graph password: its secret appears in no error and no `Debug`.
pub fn check_new_password(body: &[u8]) {
    let _ = keyrot::graph::decode::new_password(body);
    for body in planted(body, "secretText") {
        let shown = match keyrot::graph::decode::new_password(&body) {
            Ok(password) => {
                assert_eq!(password.secret.expose(), PLANTED);
                format!("{password:?}")
            }
            Err(error) => format!("{error} {error:?} {}", error.summary()),
        };
        assert!(!shown.contains(PLANTED), "the secret is shown: {shown}");
    }
}

/// A Graph error answer: explained, whatever the body.
pub fn check_graph_error(status: u16, body: &[u8]) {
    for (request_id, writes) in [
        (None, false),
        (Some("5e1c0000-0000-4000-8000-000000000001"), true),
    ] {
        let error = keyrot::graph::decode::error(status, request_id, body, writes);
        let text = error.to_string();
        assert!(text.starts_with("Microsoft Graph: "), "{text}");
        assert_eq!(error.status(), Some(status));
        assert!(!error.summary().is_empty());
    }
}

/// An Entra token error: explained for every kind of credential, whatever the body.
pub fn check_entra_error(body: &[u8]) {
    if let Some(answer) = EntraAnswer::parse(body) {
        for kind in [
            None,
            Some(AuthKind::ClientSecret),
            Some(AuthKind::WorkloadIdentity),
            Some(AuthKind::GithubOidc),
            Some(AuthKind::AzurePipelines),
            Some(AuthKind::ManagedIdentity),
            Some(AuthKind::AzureCli),
        ] {
            assert!(!answer.explain(kind).is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2b. Next links

/// The first byte picks the service, the rest is a next link as a server wrote it: admitted
/// exactly when it resolves to a URL with the service's origin, and never twice.
pub fn next_link(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let service = SERVICES[usize::from(selector) % SERVICES.len()];
    let base = Url::parse(&format!(
        "{service}/v1.0/applications?$top=100&api-version=7.5"
    ))
    .expect("a base URL");
    check_link(service, &base, &String::from_utf8_lossy(rest));
}

/// Scheme, host and port, compared without `url::Origin` (the code under test uses it).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme().eq_ignore_ascii_case(b.scheme())
        && a.host_str().is_some()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `link`, named by the page at `base` of a listing of `service`: admitted exactly when it
/// resolves (against `base`) to the service's origin; admitted once only.
pub fn check_link(service: &str, base: &Url, link: &str) {
    let service = Url::parse(service).expect("a service URL");
    let mut guard = PageGuard::new(&service, StdDuration::from_secs(30));
    let resolved = base.join(link);
    match guard.admit_link(base, link) {
        Ok(next) => {
            assert!(
                same_origin(&next, &service),
                "admitted {link:?} as {next}, outside {service}"
            );
            assert_eq!(resolved.as_ref().ok(), Some(&next));
            assert!(
                matches!(
                    guard.admit_link(base, link),
                    Err(PageRefusal::Repeated { .. })
                ),
                "{link:?} admitted twice"
            );
        }
        Err(PageRefusal::ForeignOrigin { link: shown, .. }) => {
            let resolved = resolved.expect("a refused origin was a URL");
            assert!(
                !same_origin(&resolved, &service),
                "refused {link:?} ({resolved}) within {service}"
            );
            assert_eq!(shown, resolved.as_str());
        }
        Err(PageRefusal::Unreadable { link: shown }) => {
            assert!(resolved.is_err(), "refused a URL as unreadable: {link:?}");
            assert_eq!(shown, link);
        }
        Err(other) => panic!("the first link of a listing refused as {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Durations

/// Text as every duration parser reads it (policy windows, flags, keyrot.toml), and
/// durations from bytes as the describers show them.
pub fn durations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_duration_text(&text);
    if data.len() >= 8 {
        let mut seconds = [0u8; 8];
        seconds.copy_from_slice(&data[..8]);
        check_seconds(i64::from_le_bytes(seconds));
    }
}

/// What a duration's text must look like to be read: digits, then one of `d h m s` (or none,
/// where a bare number is allowed), white space around.
fn well_formed(text: &str, bare_allowed: bool) -> Option<(u128, u128)> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let unit = match &text[digits..] {
        "" if bare_allowed => 86_400,
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return None,
    };
    if digits == 0 {
        return None;
    }
    // Past u128: certainly too large.
    let amount: u128 = text[..digits].parse().unwrap_or(u128::MAX);
    Some((amount, unit))
}

pub fn check_duration_text(text: &str) {
    let trimmed = text.trim();
    let bare = !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit());

    // Policy windows: bare numbers are days.
    let window = parse_duration(text);
    match (well_formed(text, true), &window) {
        (Some((amount, unit)), Ok(d)) => {
            assert_eq!(
                d.whole_seconds() as u128,
                amount.saturating_mul(unit),
                "{text:?}"
            );
            assert!(!d.is_negative());
            assert_eq!(d.subsec_nanoseconds(), 0);
            // Described exactly, and the description reads back.
            let described = describe_window(*d);
            let (n, unit) = described
                .split_once(' ')
                .unwrap_or_else(|| panic!("{described:?}"));
            let letter = &unit[..1];
            assert!(["d", "h", "m", "s"].contains(&letter), "{described:?}");
            assert_eq!(
                parse_duration(&format!("{n}{letter}")),
                Ok(*d),
                "{described:?}"
            );
        }
        (Some((amount, unit)), Err(e)) => assert!(
            amount.saturating_mul(unit) > i64::MAX as u128 && e.contains("too large"),
            "{text:?} refused: {e}"
        ),
        (None, Ok(d)) => panic!("{text:?} read as {d}"),
        (None, Err(e)) => assert!(e.starts_with("invalid duration \""), "{e}"),
    }

    // Timeouts and lock timings: a bare number is refused, asking for the unit.
    let timeout = parse_duration_with_unit(text);
    if bare {
        let e = timeout.as_ref().expect_err("a bare number needs a unit");
        assert!(e.contains("give a unit: 30s, 5m"), "{e}");
    } else {
        assert_eq!(timeout.as_ref().ok(), window.as_ref().ok(), "{text:?}");
    }
    let flag = keyrot::commands::parse_duration_flag("--timeout", text);
    match (&flag, &timeout) {
        (Ok(d), Ok(t)) => {
            assert!(!d.is_zero());
            assert_eq!(d.as_millis() as i128, t.whole_milliseconds());
            let _ = LockTiming::new(Duration::try_from(*d).unwrap_or(Duration::MAX), *d / 3);
        }
        (Ok(d), Err(e)) => panic!("--timeout {text:?} read as {d:?}, though refused: {e}"),
        (Err(Failure::Usage(message)), _) => {
            assert!(message.starts_with("--timeout: "), "{message}");
            if bare {
                assert!(message.contains("give a unit"), "{message}");
            }
        }
        (Err(other), _) => panic!("--timeout {text:?}: not a usage error: {other:?}"),
    }

    // keyrot.toml reads a window as the flags do, and a bare verify_timeout needs its unit.
    check_config_duration(text, &window, bare);
}

/// `rotate_within` and `verify_timeout` set to `text` in a plan that accepts any window.
fn check_config_duration(text: &str, window: &Result<Duration, String>, bare: bool) {
    let plan = |key: &str| {
        format!(
            "[[credential]]\nname = \"db\"\nvault = \"myvault\"\ngenerator = \"random\"\n\
             validity = \"36500d\"\ngrace = \"0d\"\nverify_command = [\"./v\"]\n{key} = {}\n",
            toml_string(text)
        )
    };
    match (
        Config::from_toml_str(&plan("rotate_within"), CONFIG_ORIGIN),
        window,
    ) {
        (Ok(config), Ok(d)) => assert_eq!(config.credentials[0].rotate_within, *d),
        (Ok(config), Err(e)) => panic!(
            "rotate_within {text:?} accepted ({:?}), --warn-within refused it: {e}",
            config.credentials[0].rotate_within
        ),
        (Err(e), Ok(d)) => assert!(
            d.is_zero() || *d >= Duration::days(36_500),
            "rotate_within {text:?} ({d}) refused: {e}"
        ),
        (Err(e), Err(_)) => assert!(e.contains("rotate_within"), "{e}"),
    }
    if bare {
        let e = Config::from_toml_str(&plan("verify_timeout"), CONFIG_ORIGIN)
            .expect_err("a bare verify_timeout needs a unit");
        assert!(e.contains("give a unit: 30s, 5m"), "{e}");
    }
}

/// Spans and days left: never panic, and agree with each other.
pub fn check_seconds(seconds: i64) {
    let span = describe_span(Duration::seconds(seconds));
    let days = whole_days_left(seconds);
    if span.ends_with("day") || span.ends_with("days") {
        assert_eq!(
            span.split(' ').next(),
            Some(days.unsigned_abs().to_string().as_str())
        );
    } else {
        assert_eq!(days, 0, "{seconds}: {span}");
    }
    let _ = describe_window(Duration::seconds(seconds));
}

// ---------------------------------------------------------------------------------------------
// 4. CI escapers and the output neutraliser

/// Parts of the input as outside text: each round-trips through both runners' command escapes,
/// is neutralised by every format so neither runner finds a command in it, and the machine
/// formats read back exactly.
pub fn ci_escapers(data: &[u8]) {
    let parts = parts(data);
    let (a, b, c) = (part(&parts, 0), part(&parts, 1), part(&parts, 2));
    check_escapers(a, b, c);
    for text in [a, b, c] {
        check_neutralised(text);
    }
    check_reports(a, b, c);
}

/// What the runners' parsers read back of escaped outside text: they drop what ICU may skip,
/// but CR and LF reach them escaped.
fn seen(text: &str) -> String {
    text.chars()
        .filter(|&c| !runners::ignorable(c) || c == '\r' || c == '\n')
        .collect()
}

/// Both runners read back what keyrot escaped: GitHub's `::error title=…,file=…::message` and
/// `::add-mask::`, Azure's `##vso[task.logissue …]message` and `task.setvariable`.
pub fn check_escapers(title: &str, message: &str, value: &str) {
    // GitHub. The runner trims the property list (`TryParseV2`), so the last property loses
    // trailing white space, which its escapes cannot carry.
    for line_number in [Some(7), None] {
        let annotation = github::Annotation {
            title: Some(title),
            file: Some(value),
            line: line_number,
        };
        let line = github::annotation(github::Level::Error, &annotation, message);
        assert!(!line.contains(['\n', '\r']), "{line:?}");
        let parsed =
            runners::github_line(&line).unwrap_or_else(|| panic!("not a command: {line:?}"));
        assert_eq!(parsed.name, "error", "{line:?}");
        // The title and message are outside text, written as one inert line.
        assert_eq!(parsed.data, seen(&inert::one_line(message)), "{line:?}");
        assert_inert(&parsed.data, "an annotation's message");
        let mut expected = BTreeMap::new();
        let title_line = inert::one_line(title);
        for (key, text) in [("title", title_line.as_ref()), ("file", value)] {
            if !text.is_empty() {
                expected.insert(key.to_owned(), seen(text));
            }
        }
        match line_number {
            Some(n) => {
                expected.insert("line".to_owned(), n.to_string());
            }
            None => {
                let last = if value.is_empty() { "title" } else { "file" };
                if let Some(v) = expected.get_mut(last) {
                    // Escaped line breaks are not white space to the runner's trim.
                    let trimmed =
                        v.trim_end_matches(|c: char| c.is_whitespace() && c != '\n' && c != '\r');
                    *v = trimmed.to_owned();
                }
            }
        }
        expected.retain(|_, v| !v.is_empty());
        assert_eq!(parsed.properties, expected, "{line:?}");
    }
    for line in github::add_mask(value) {
        let parsed =
            runners::github_line(&line).unwrap_or_else(|| panic!("not a command: {line:?}"));
        assert_eq!(parsed.name, "add-mask");
        assert!(seen(value).contains(&parsed.data), "{line:?}");
    }

    // Azure.
    let line = azure::log_issue(azure::IssueType::Warning, message);
    assert!(!line.contains(['\n', '\r']), "{line:?}");
    let parsed = runners::azure_line(&line).unwrap_or_else(|| panic!("not a command: {line:?}"));
    assert_eq!(parsed.name, "task.logissue");
    assert_eq!(parsed.data, seen(&inert::one_line(message)), "{line:?}");
    assert_inert(&parsed.data, "an issue's message");
    assert_eq!(
        parsed.properties.get("type").map(String::as_str),
        Some("warning")
    );
    let line = azure::set_variable(title, value, false, true);
    assert!(!line.contains(['\n', '\r']), "{line:?}");
    let parsed = runners::azure_line(&line).unwrap_or_else(|| panic!("not a command: {line:?}"));
    assert_eq!(parsed.name, "task.setvariable");
    assert_eq!(parsed.data, seen(value), "{line:?}");
    let variable = seen(title);
    if !variable.is_empty() {
        assert_eq!(
            parsed.properties.get("variable"),
            Some(&variable),
            "{line:?}"
        );
    }
    for line in azure::set_secret(value) {
        let parsed =
            runners::azure_line(&line).unwrap_or_else(|| panic!("not a command: {line:?}"));
        assert_eq!(parsed.name, "task.setsecret");
    }
}

/// No runner acts on `text`: keyrot's own judgement ([`inert::is_inert`]) and both runners'.
fn assert_inert(text: &str, what: &str) {
    assert!(inert::is_inert(text), "{what} is not inert: {text:?}");
    assert_no_command(text, what);
}

fn assert_no_command(text: &str, what: &str) {
    let (github, _) = runners::github(text);
    assert!(github.is_empty(), "{what}: GitHub acts on {github:?}");
    let azure = runners::azure(text);
    assert!(azure.is_empty(), "{what}: Azure acts on {azure:?}");
}

/// XML 1.0 cannot carry these at all: the neutraliser drops them.
fn xml_forbidden(c: char) -> bool {
    let n = u32::from(c);
    (n < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || n == 0xFFFE || n == 0xFFFF
}

fn xml_escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Line ends are normalised by every XML parser: references keep them.
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// One outside string through each neutraliser: nothing a runner acts on remains, fields stay
/// on their line, and JSON and XML read back the same value.
pub fn check_neutralised(text: &str) {
    // What keyrot's judgement calls inert, neither runner acts on.
    if inert::is_inert(text) {
        assert_no_command(text, "text is_inert accepts");
    }

    let field = inert::field(text);
    assert!(!field.chars().any(inert::is_hidden), "{field:?}");
    assert_inert(&inert::human(text, false), "human text");
    assert_inert(&inert::human(&field, false), "a human field");

    let mut object = serde_json::Map::new();
    object.insert("value".to_owned(), text.into());
    object.insert(text.to_owned(), serde_json::json!([text]));
    let value = serde_json::Value::Object(object);
    for json in [
        serde_json::to_string(&value).expect("JSON"),
        serde_json::to_string_pretty(&value).expect("JSON"),
    ] {
        let neutral = inert::json(&json);
        assert_inert(&neutral, "JSON");
        let back: serde_json::Value = serde_json::from_str(&neutral).expect("JSON parses");
        assert_eq!(back, value);
    }

    let document = format!(
        "<?xml version=\"1.0\"?>\n<a b=\"{}\">\n{}\n</a>\n",
        xml_escape(text, true),
        xml_escape(text, false)
    );
    let neutral = inert::xml(&document);
    assert_inert(&neutral, "XML");
    let expected: String = text.chars().filter(|&c| !xml_forbidden(c)).collect();
    let content = format!("\n{expected}\n");
    let mut wanted = vec![expected];
    if !content.trim().is_empty() {
        wanted.push(content);
    }
    assert_eq!(xml_strings(&neutral), wanted, "{neutral:?}");
}

/// Every attribute value and text of a document, in order, as an XML 1.0 parser reads them
/// (the text of an element is one string).
pub fn xml_strings(xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut text: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML ({e}): {xml:?}"));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if let Some(t) = text.take().filter(|t| !t.trim().is_empty()) {
                    out.push(t);
                }
                for attribute in start.attributes() {
                    let attribute =
                        attribute.unwrap_or_else(|e| panic!("attribute ({e}): {xml:?}"));
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap_or_else(|e| panic!("attribute value ({e}): {xml:?}"));
                    out.push(value.into_owned());
                }
                text = Some(String::new());
            }
            Event::Text(t) => text
                .get_or_insert_with(String::new)
                .push_str(&t.xml10_content()),
            Event::GeneralRef(reference) => {
                let name = reference.xml10_content();
                let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                    .unwrap_or_else(|e| panic!("reference &{name}; ({e}): {xml:?}"))
                    .into_owned();
                text.get_or_insert_with(String::new).push_str(&resolved);
            }
            Event::End(_) => {
                if let Some(t) = text.take().filter(|t| !t.trim().is_empty()) {
                    out.push(t);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// A report whose every outside field holds the given text, in every format: inert, and the
/// JSON report holds the exact values.
pub fn check_reports(name: &str, tag: &str, message: &str) {
    let now = datetime!(2026-11-26 12:00 UTC);
    let id = format!(
        "https://v.vault.azure.net/secrets/{}",
        name.replace(['/', '?', '#'], "-")
    );
    let secret = CredentialRecord {
        source: Source::KeyVault,
        vault: "https://v.vault.azure.net".to_owned(),
        kind: Kind::Secret,
        name: name.to_owned(),
        version: Some(tag.to_owned()),
        id: id.clone(),
        enabled: true,
        not_before: None,
        expires: Some(now + Duration::days(3)),
        created: None,
        tags: BTreeMap::from([(tag.to_owned(), message.to_owned())]),
        superseded: None,
        entra: None,
        resource_key: None,
    };
    let password = CredentialRecord {
        source: Source::Entra,
        vault: String::new(),
        kind: Kind::AppPassword,
        name: tag.to_owned(),
        version: None,
        id: message.to_owned(),
        enabled: true,
        not_before: None,
        expires: Some(now - Duration::days(1)),
        created: None,
        tags: BTreeMap::new(),
        superseded: None,
        entra: Some(EntraLink {
            app: Some(AppRef {
                object_id: message.to_owned(),
                app_id: name.to_owned(),
                display_name: Some(tag.to_owned()),
            }),
            key_id: message.to_owned(),
            held: None,
        }),
        resource_key: None,
    };
    let error = ReadError {
        source: Source::KeyVault,
        location: "https://v.vault.azure.net".to_owned(),
        kind: Some(Kind::Key),
        name: Some(name.to_owned()),
        reason: ReadFailure::Forbidden,
        message: message.to_owned(),
    };
    let report = CheckReport::evaluate(vec![secret, password], &Policy::default(), now)
        .with_errors(vec![error]);
    for format in [
        keyrot::report::Format::Table,
        keyrot::report::Format::Markdown,
        keyrot::report::Format::Json,
        keyrot::report::Format::Junit,
    ] {
        let text = keyrot::report::render(&report, format, false);
        assert_inert(&text, format.as_str());
    }
    let json: serde_json::Value =
        serde_json::from_str(&keyrot::report::json::render(&report)).expect("the JSON report");
    let credential = json["credentials"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["kind"] == "secret"))
        .expect("the secret is reported");
    assert_eq!(credential["name"], name);
    assert_eq!(credential["id"], id.as_str());
    assert_eq!(credential["tags"][tag], message);
    assert_eq!(json["errors"][0]["message"], message);
    let junit = keyrot::report::junit::render(&report);
    let strings = xml_strings(&junit);
    let visible = |text: &str| -> String { text.chars().filter(|&c| !xml_forbidden(c)).collect() };
    assert!(
        strings.iter().any(|s| s.contains(&visible(message))),
        "JUnit reads back the message: {junit}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Env files

/// Values (split on 0xFF) as the env-file writer writes them: never a panic; a value is refused
/// only for a documented reason; every written value reads back exactly in a POSIX shell's and
/// python-dotenv's reading, executes nothing there, and a line keyrot judges inert holds no
/// runner command. The last part is also judged as a variable name.
pub fn dotenv(data: &[u8]) {
    let parts = parts(data);
    check_env_values(&parts);
    if let Some(name) = parts.last() {
        check_env_name(name);
    }
}

/// The documented reasons for refusing a value.
fn documented_refusal(value: &str, why: dotenv::Unrepresentable) -> bool {
    let expansion = value.contains(['$', '`']);
    let quote_or_backslash =
        value.contains('\'') || value.contains("\\\\") || value.ends_with('\\');
    match why {
        dotenv::Unrepresentable::CarriageReturn => value.contains('\r'),
        dotenv::Unrepresentable::Nul => value.contains('\0') && !value.contains('\r'),
        dotenv::Unrepresentable::QuoteOrBackslashWithExpansion => {
            expansion && quote_or_backslash && !value.contains(['\r', '\0'])
        }
    }
}

pub fn check_env_values(values: &[String]) {
    let mut pairs = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let name = format!("V{i}");
        let mut line = String::new();
        match dotenv::push_line(&mut line, &name, value) {
            Ok(()) => {
                assert_eq!(dotenv::check(value), Ok(()));
                if inert::is_inert(&line) {
                    assert_no_command(&line, "an env line keyrot would print");
                }
                pairs.push((name, value.as_str()));
            }
            Err(why) => {
                assert!(line.is_empty(), "a refused value wrote {line:?}");
                assert_eq!(dotenv::check(value), Err(why));
                assert!(documented_refusal(value, why), "{value:?} refused: {why:?}");
            }
        }
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let document = dotenv::document(&borrowed).expect("accepted values are written");
    let expected: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.clone(), (*v).to_owned()))
        .collect();
    assert_eq!(
        shell_reads(&document),
        expected,
        "the shell's reading of {:?}",
        *document
    );
    assert_eq!(
        python_dotenv_reads(&document),
        expected,
        "python-dotenv's reading of {:?}",
        *document
    );
}

/// A name is exported only if it has a variable's shape and is not denied; a refused name's
/// suggestion is exportable.
pub fn check_env_name(name: &str) {
    let shape = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match variables::env_problem(name) {
        None => assert!(shape && variables::denied_by(name).is_none(), "{name:?}"),
        Some(_) => {
            assert!(!shape || variables::denied_by(name).is_some(), "{name:?}");
            let suggestion = variables::suggestion(name);
            assert_eq!(variables::env_problem(&suggestion), None, "{suggestion:?}");
        }
    }
    let _ = variables::azure_problem(name);
}

/// `NAME=` at the start of a line: the name and the rest.
fn assignment(rest: &str) -> (&str, &str) {
    let end = rest
        .find('=')
        .unwrap_or_else(|| panic!("no assignment in {rest:?}"));
    let name = &rest[..end];
    assert!(
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit()),
        "not a plain assignment: {rest:?}"
    );
    (name, &rest[end + 1..])
}

/// How `set -a; . file` reads a file of `NAME='…'` and `NAME="…"` lines (POSIX quoting), with
/// the assertion that nothing in it would expand or run.
pub fn shell_reads(document: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = document;
    while !rest.is_empty() {
        let (name, after) = assignment(rest);
        let mut chars = after.char_indices();
        let quote = chars.next().map(|(_, c)| c);
        let mut value = String::new();
        let end = match quote {
            Some('\'') => {
                let close = after[1..].find('\'').expect("a closing quote") + 1;
                value.push_str(&after[1..close]);
                close + 1
            }
            Some('"') => {
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        '$' | '`' => panic!("{c} expands inside double quotes: {document:?}"),
                        '\\' => match chars.next() {
                            Some((_, e @ ('$' | '`' | '"' | '\\'))) => value.push(e),
                            Some((_, '\n')) => {}
                            Some((_, other)) => {
                                value.push('\\');
                                value.push(other);
                            }
                            None => panic!("unterminated: {document:?}"),
                        },
                        c => value.push(c),
                    }
                }
                end.expect("a closing quote")
            }
            other => panic!("an unquoted value ({other:?}) in {document:?}"),
        };
        assert!(
            after[end..].starts_with('\n'),
            "the shell reads on after the value: {document:?}"
        );
        out.push((name.to_owned(), value));
        rest = &after[end + 1..];
    }
    out
}

/// How python-dotenv 1.2 (interpolation off) reads the same file: `'((?:\\.|[^'\\])*)'` with
/// `\\` and `\'` decoded, `"((?:\\.|[^"\\])*)"` with `\\ \' \" \a \b \f \n \r \t \v`
/// decoded, then only white space or a comment before the line ends. It reads the file with
/// universal newlines (a CR is a line end).
pub fn python_dotenv_reads(document: &str) -> Vec<(String, String)> {
    let text = document.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let (name, after) = assignment(rest);
        let mut chars = after.char_indices();
        let quote = match chars.next() {
            Some((_, q @ ('\'' | '"'))) => q,
            other => panic!("an unquoted value ({other:?}) in {document:?}"),
        };
        let mut raw = Vec::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                let (_, next) = chars.next().expect("the regex needs a character after \\");
                raw.push(('\\', Some(next)));
            } else if c == quote {
                end = Some(i + 1);
                break;
            } else {
                raw.push((c, None));
            }
        }
        let end = end.expect("a closing quote");
        let mut value = String::new();
        for (c, escaped) in raw {
            match (c, escaped) {
                (_, None) => value.push(c),
                ('\\', Some(e)) => {
                    let decoded = match (quote, e) {
                        (_, '\\') => Some('\\'),
                        (_, '\'') => Some('\''),
                        ('"', '"') => Some('"'),
                        ('"', 'a') => Some('\u{7}'),
                        ('"', 'b') => Some('\u{8}'),
                        ('"', 'f') => Some('\u{c}'),
                        ('"', 'n') => Some('\n'),
                        ('"', 'r') => Some('\r'),
                        ('"', 't') => Some('\t'),
                        ('"', 'v') => Some('\u{b}'),
                        _ => None,
                    };
                    match decoded {
                        Some(d) => value.push(d),
                        None => {
                            value.push('\\');
                            value.push(e);
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
        let line_end = after[end..].find('\n').map_or(after.len(), |i| end + i);
        let tail = after[end..line_end].trim_start_matches([' ', '\t']);
        assert!(
            tail.is_empty() || tail.starts_with('#'),
            "python-dotenv reads on after the value: {document:?}"
        );
        out.push((name.to_owned(), value));
        rest = after.get(line_end + 1..).unwrap_or("");
    }
    out
}
