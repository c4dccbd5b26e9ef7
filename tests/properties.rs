//! Issue 9, item 6: the fuzz targets' properties on stable, bounded to seconds.
//!
//! The properties themselves are in `fuzz/src/targets.rs`, shared with the `cargo fuzz`
//! targets (`scripts/fuzz` runs those for as long as one likes). Here each target runs over
//! its seed corpus (`fuzz/seeds/<target>/`, a smoke test of the fuzz targets as plain code),
//! and proptest feeds the same checks generated inputs: valid plans that must round-trip,
//! hostile next links, durations, outside text for the CI escapers and the renderers, and env
//! file values. (The env-file writer against real bash, dash and python-dotenv is
//! `tests/fetch.rs`'s `env_file_properties`.)

#[path = "common/runners.rs"]
mod runners;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration as StdDuration;

use keyrot::arm::resource_id::ResourceId;
use keyrot::model::Kind;
use keyrot::rotate::config::{
    Charset, Config, CredentialSpec, DevOpsOrganization, Generator, GithubSecretScope, KeyForm,
    NameOrId, NotifyEvent, NotifySpec, NotifyTarget, PropagateTarget, RandomSpec, Repository,
    ResourceKeySpec, TriggerTarget, Visibility, DEFAULT_LRO_TIMEOUT,
};
use keyrot::vault::VaultUrl;
use proptest::prelude::*;
use time::Duration;

// ---------------------------------------------------------------------------------------------
// Seed corpora: every committed seed passes its target.

fn run_seeds(target: &str, check: fn(&[u8])) {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a seed").path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 2, "{target} has seeds");
    for seed in seeds {
        let data = std::fs::read(&seed).expect("a readable seed");
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            std::panic::resume_unwind(Box::new(format!(
                "{}: {}",
                seed.display(),
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("panicked")
            )));
        }
    }
}

#[test]
fn config_seeds() {
    run_seeds("config", targets::config);
}

#[test]
fn json_pages_seeds() {
    run_seeds("json_pages", targets::json_pages);
}

#[test]
fn next_link_seeds() {
    run_seeds("next_link", targets::next_link);
}

#[test]
fn durations_seeds() {
    run_seeds("durations", targets::durations);
}

#[test]
fn ci_escapers_seeds() {
    run_seeds("ci_escapers", targets::ci_escapers);
}

#[test]
fn dotenv_seeds() {
    run_seeds("dotenv", targets::dotenv);
}

/// The seeds say what they are meant to: the documented answers are read as such.
#[test]
fn seeds_are_read_as_the_answers_they_are() {
    let seed = |name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(name),
        )
        .expect("a seed")
    };
    let vault = VaultUrl::parse("myvault").unwrap();
    let page = seed("json_pages/kv-GetSecrets");
    let (records, next) = keyrot::vault::decode::list_page(&vault, Kind::Secret, &page[1..])
        .expect("the documented page");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "listsecrettest0");
    assert!(next.is_some_and(|n| n.starts_with("https://myvault.vault.azure.net:443/")));
    let disabled = seed("json_pages/kv-rec-cant_get_a_disabled_secret-2-403");
    let answer = keyrot::vault::decode::error(&vault, Kind::Secret, "get", 403, &disabled[2..]);
    assert!(answer.disabled, "{}", answer.message);
    let config = std::str::from_utf8(&seed("config/readme-example.toml"))
        .unwrap()
        .to_owned();
    let plan = targets::check_config_text(&config).expect("the README's plan is valid");
    assert_eq!(plan.credentials.len(), 2);
    let config = std::str::from_utf8(&seed("config/issue-10-pipelines.toml"))
        .unwrap()
        .to_owned();
    let plan = targets::check_config_text(&config).expect("issue 10's example is valid");
    assert_eq!(plan.credentials[0].propagate.len(), 2);
    assert_eq!(plan.credentials[0].triggers.len(), 3);
    assert_eq!(plan.notify.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// 1. keyrot.toml: generated valid plans round-trip; damaged ones are refused with a position.

fn secret_name() -> impl Strategy<Value = String> {
    "[0-9a-zA-Z][0-9a-zA-Z-]{0,40}".prop_filter("not reserved", |n| {
        let lower = n.to_ascii_lowercase();
        !lower.starts_with("keyrot-lock-") && !lower.starts_with("keyrot-journal-")
    })
}

fn vault() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9]{2,20}",
        Just("https://127.0.0.1:8443".to_owned()),
        Just("https://MyVault.vault.azure.net/".to_owned()),
    ]
}

/// Text Key Vault and keyrot.toml accept in tags and content types, hostile included.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => proptest::char::range(' ', '~'),
            1 => prop::sample::select(vec!['\n', '\t', '"', '\\', 'é', '🔑', '\u{200b}', '\u{7f}']),
        ],
        1..max,
    )
    .prop_map(String::from_iter)
}

fn tags() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        text(20).prop_filter("a tag name", |n| {
            !n.trim().is_empty() && !n.to_ascii_lowercase().starts_with("keyrot")
        }),
        text(30),
        0..4,
    )
}

/// (rotate_within, validity, grace) in seconds that can work together.
fn windows() -> impl Strategy<Value = (i64, i64, i64)> {
    (2i64..=36_500 * 86_400).prop_flat_map(|validity| {
        (1..validity).prop_flat_map(move |rotate| {
            (0..=validity - rotate).prop_map(move |grace| (rotate, validity, grace))
        })
    })
}

fn generator(index: usize) -> impl Strategy<Value = Generator> {
    let random = (
        16usize..=1024,
        prop::sample::select(Charset::ALL.to_vec()),
        prop::option::of(prop_oneof![
            ("[a-z_:]{0,6}", "[a-z_:}]{0,4}").prop_map(|(p, s)| format!("{p}{{random}}{s}")),
            Just("{\"key\":\"{random}\"}".to_owned()),
        ]),
        prop::option::of(prop::collection::vec("[./a-z -]{1,12}", 1..3)),
        prop::collection::vec("[A-Z_][A-Z0-9_]{0,8}", 0..3),
    )
        .prop_map(|(length, charset, template, command, env)| {
            let env: Vec<String> = env
                .into_iter()
                .filter(|e| {
                    !["AZURE_", "KEYROT_", "IDENTITY_", "MSI_"]
                        .iter()
                        .any(|p| e.starts_with(p))
                })
                .filter(|e| {
                    !e.starts_with("ACTIONS_ID_TOKEN_") && !e.starts_with("AZURESUBSCRIPTION_")
                })
                .filter(|e| {
                    !e.starts_with("SYSTEM_ACCESSTOKEN") && !e.starts_with("SYSTEM_OIDCREQUESTURI")
                })
                .collect();
            let command = command.filter(|c| !c[0].trim().is_empty());
            Generator::Random(RandomSpec {
                length,
                charset,
                template,
                verify_env: if command.is_some() { env } else { Vec::new() },
                verify_command: command,
            })
        });
    let entra = any::<bool>().prop_map(move |remove_foreign| Generator::EntraAppPassword {
        // One application per credential: `remove_foreign` then never concerns a sibling.
        application: format!("00000000-0000-4000-8000-{index:012x}"),
        remove_foreign,
    });
    // Resource keys: one resource per credential, of each kind.
    let key = (
        0usize..4,
        any::<bool>(),
        1u64..=36_000,
        "[a-z][a-z0-9]{2,10}",
    )
        .prop_map(move |(kind, connection_string, lro_secs, name)| {
            let prefix = "/subscriptions/5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f/resourceGroups/rg-1/providers";
            let (path, cosmos) = match kind {
                0 => (format!("Microsoft.Storage/storageAccounts/{name}{index}"), false),
                1 => (
                    format!("Microsoft.ServiceBus/namespaces/ns-{name}{index}/queues/q{index}/authorizationRules/send"),
                    false,
                ),
                2 => (
                    format!("Microsoft.EventHub/namespaces/eh-{name}{index}/authorizationRules/RootManageSharedAccessKey"),
                    false,
                ),
                _ => (format!("Microsoft.DocumentDB/databaseAccounts/{name}{index}"), true),
            };
            let resource = ResourceId::parse(&format!("{prefix}/{path}")).expect("a valid id");
            Generator::ResourceKey(ResourceKeySpec {
                service: resource.service().expect("a key-bearing resource"),
                resource,
                value: if connection_string {
                    KeyForm::ConnectionString
                } else {
                    KeyForm::Key
                },
                lro_timeout: if cosmos {
                    StdDuration::from_secs(lro_secs)
                } else {
                    StdDuration::try_from(DEFAULT_LRO_TIMEOUT).unwrap()
                },
                // The rendering writes validity for these only where it was written.
                validity_configured: true,
            })
        });
    prop_oneof![random, entra, key]
}

fn organization() -> impl Strategy<Value = DevOpsOrganization> {
    (
        "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
        prop::option::of(Just("https://devops.localhost:8443".to_owned())),
    )
        .prop_map(|(name, other_origin)| DevOpsOrganization { name, other_origin })
}

fn project() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9 ()_-]{0,30}[A-Za-z0-9])?"
}

/// A name (never all digits, never padded) or an id.
fn name_or_id() -> impl Strategy<Value = NameOrId> {
    prop_oneof![
        "[A-Za-z]([A-Za-z0-9 _.-]{0,30}[A-Za-z0-9])?".prop_map(NameOrId::Name),
        (1u64..10_000_000).prop_map(NameOrId::Id),
    ]
}

fn repository(suffix: String) -> impl Strategy<Value = Repository> {
    (
        "[a-z0-9][a-z0-9-]{0,15}",
        "[A-Za-z0-9_][A-Za-z0-9._-]{0,20}",
    )
        .prop_map(move |(owner, name)| Repository {
            owner,
            name: format!("{name}{suffix}"),
        })
}

fn git_ref() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,10}(/[a-z0-9_-]{1,8})?"
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z][a-z0-9_]{0,8}", text(20), 0..3)
}

/// A copy no other generated copy shares: the variable or secret name ends in `tag`.
fn propagate(tag: String) -> impl Strategy<Value = PropagateTarget> {
    let group_tag = tag.clone();
    let group = (
        organization(),
        project(),
        name_or_id(),
        "[A-Za-z_][A-Za-z0-9_.-]{0,20}",
    )
        .prop_map(move |(organization, project, group, variable)| {
            PropagateTarget::VariableGroup {
                organization,
                project,
                group,
                variable: format!("{variable}{group_tag}"),
            }
        });
    let visibility = prop_oneof![
        Just(Visibility::All),
        Just(Visibility::Private),
        prop::collection::vec(
            prop_oneof![
                "[A-Za-z][A-Za-z0-9._-]{0,20}".prop_map(NameOrId::Name),
                (1u64..10_000_000).prop_map(NameOrId::Id),
            ],
            1..4
        )
        .prop_map(Visibility::Selected),
    ];
    let scope = prop_oneof![
        (
            repository(String::new()),
            prop::option::of("[a-z][a-z0-9 -]{0,15}")
        )
            .prop_map(|(repository, environment)| GithubSecretScope::Repository {
                repository,
                environment,
            }),
        ("[a-z0-9][a-z0-9-]{0,15}", visibility).prop_map(|(organization, visibility)| {
            GithubSecretScope::Organization {
                organization,
                visibility,
            }
        }),
    ];
    let secret = (scope, "[A-FH-Z][A-Z0-9_]{0,20}").prop_map(move |(scope, secret)| {
        PropagateTarget::GithubSecret {
            scope,
            secret: format!("{secret}{tag}"),
        }
    });
    prop_oneof![group, secret]
}

/// A run no other trigger of the credential starts: its name, or its workflow's repository,
/// ends in `tag`, or it has an id of its own.
fn trigger(tag: String, id: u64) -> impl Strategy<Value = TriggerTarget> {
    let named = move |value: NameOrId, tag: &str| match value {
        NameOrId::Name(name) => NameOrId::Name(format!("{name}{tag}")),
        NameOrId::Id(_) => NameOrId::Id(id),
    };
    let pipeline_tag = tag.clone();
    let release_tag = tag.clone();
    prop_oneof![
        (
            organization(),
            project(),
            name_or_id(),
            prop::option::of(git_ref()),
            string_map()
        )
            .prop_map(
                move |(organization, project, pipeline, branch, parameters)| {
                    TriggerTarget::Pipeline {
                        organization,
                        project,
                        pipeline: named(pipeline, &pipeline_tag),
                        branch,
                        parameters,
                    }
                }
            ),
        (organization(), project(), name_or_id()).prop_map(
            move |(organization, project, definition)| TriggerTarget::Release {
                organization,
                project,
                definition: named(definition, &release_tag),
            }
        ),
        (
            repository(tag),
            prop_oneof![
                "[a-z][a-z0-9_-]{0,10}\\.(yml|yaml)".prop_map(NameOrId::Name),
                (1u64..10_000_000).prop_map(NameOrId::Id),
            ],
            git_ref(),
            string_map()
        )
            .prop_map(
                |(repository, workflow, git_ref, inputs)| TriggerTarget::Workflow {
                    repository,
                    workflow,
                    git_ref,
                    inputs,
                }
            ),
    ]
}

/// A channel no other generated channel shares: its variable or repository ends in `tag`.
fn notify(tag: String) -> impl Strategy<Value = NotifySpec> {
    let env = move |name: String| format!("{name}{}", tag.replace('-', "_"));
    let target = (
        "[A-Z_][A-Z0-9_]{0,20}",
        "[A-Z_][A-Z0-9_]{0,20}",
        0..4u8,
        prop::collection::vec("[a-z][a-z0-9 :-]{0,20}", 0..3),
    )
        .prop_flat_map(move |(url_env, secret_env, kind, labels)| {
            let url_env = env(url_env);
            let suffix = url_env.clone();
            match kind {
                0 => Just(NotifyTarget::Teams { url_env }).boxed(),
                1 => Just(NotifyTarget::Slack { url_env }).boxed(),
                2 => Just(NotifyTarget::Webhook {
                    url_env,
                    secret_env,
                })
                .boxed(),
                _ => repository(format!(
                    "-{}",
                    suffix.to_ascii_lowercase().replace('_', "-")
                ))
                .prop_map(move |repository| NotifyTarget::GithubIssue {
                    repository,
                    labels: labels.clone(),
                })
                .boxed(),
            }
        });
    let events = prop::sample::subsequence(NotifyEvent::ALL.to_vec(), 1..=3);
    (target, events).prop_map(|(target, events)| NotifySpec { target, events })
}

/// A valid plan, built the way `Config` stores it.
fn plan() -> impl Strategy<Value = Config> {
    (1usize..5, 1i64..=86_400 * 365)
        .prop_flat_map(|(count, implicit_timeout)| {
            let credentials: Vec<_> = (0..count)
                .map(|index| {
                    (
                        secret_name(),
                        vault(),
                        windows(),
                        1i64..=86_400 * 365,
                        prop::option::of(text(40).prop_filter("not blank", |t| !t.trim().is_empty())),
                        tags(),
                        generator(index),
                        (0..3usize).map(|j| propagate(format!("_{index}_{j}"))).collect::<Vec<_>>(),
                        prop::collection::vec(any::<bool>(), 3).prop_flat_map(move |wanted| {
                            wanted
                                .into_iter()
                                .enumerate()
                                .filter(|(_, on)| *on)
                                .map(|(j, _)| trigger(format!("-{index}-{j}"), (index * 10 + j + 1) as u64))
                                .collect::<Vec<_>>()
                        }),
                    )
                })
                .collect();
            let channels: Vec<_> = (0..count).map(|j| notify(format!("-{j}"))).collect();
            (credentials, Just(implicit_timeout), channels)
        })
        .prop_map(|(credentials, implicit_timeout, notify)| {
            let mut seen = std::collections::HashSet::new();
            let credentials = credentials
                .into_iter()
                .filter(|(name, vault, ..)| {
                    let url = VaultUrl::parse(vault).unwrap();
                    seen.insert((url.as_str().to_ascii_lowercase(), name.to_ascii_lowercase()))
                })
                .map(|(name, vault, (rotate, validity, grace), timeout, content_type, tags, generator, mut propagate, triggers)| {
                    // Zero to three copies, the generated ones taken in turn.
                    propagate.truncate(name.len() % 4);
                    let implicit = matches!(&generator, Generator::Random(r) if r.verify_command.is_none());
                    CredentialSpec {
                        name,
                        vault,
                        rotate_within: Duration::seconds(rotate),
                        validity: Duration::seconds(validity),
                        grace: Duration::seconds(grace),
                        verify_timeout: StdDuration::from_secs(
                            (if implicit { implicit_timeout } else { timeout }) as u64,
                        ),
                        content_type,
                        tags,
                        generator,
                        propagate,
                        triggers,
                        sync_on_new_version: false,
                    }
                })
                .collect();
            Config { credentials, notify }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_generated_valid_plan_round_trips(plan in plan()) {
        let text = targets::render_config(&plan);
        let read = Config::from_toml_str(&text, targets::CONFIG_ORIGIN)
            .unwrap_or_else(|e| panic!("a valid plan is refused: {e}\n{text}"));
        prop_assert_eq!(&read, &plan, "{}", text);
        targets::check_config_round_trip(&read);
    }

    #[test]
    fn a_damaged_plan_is_refused_at_a_position_in_the_file(
        plan in plan(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, "[\\[\\]=\"'{},#\\n a-z0-9.\\\\]{0,6}"), 1..4),
    ) {
        let mut text: Vec<char> = targets::render_config(&plan).chars().collect();
        for (at, len, insert) in cuts {
            let at = at.index(text.len() + 1);
            let end = (at + len).min(text.len());
            text.splice(at..end, insert.chars());
        }
        targets::check_config_text(&String::from_iter(text));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Key Vault and Graph answers, and next links.

/// Links a hostile answer might name: other hosts in every spelling `url` accepts, relative
/// forms, userinfo, ports, schemes.
fn link() -> impl Strategy<Value = String> {
    let host = prop::sample::select(vec![
        "myvault.vault.azure.net",
        "MYVAULT.vault.azure.net",
        "myvault.vault.azure.net.",
        "myvault.vault.azure.net.evil.example",
        "evil.example",
        "127.0.0.1",
        "127.1",
        "0x7f.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "graph.microsoft.com",
        "xn--myvault-9za.vault.azure.net",
        "myvault.vault.azure.net@evil.example",
        "evil.example@myvault.vault.azure.net",
        "myvault%2evault.azure.net",
        "",
    ]);
    let port = prop::sample::select(vec!["", ":443", ":8443", ":9000", ":0443", ":", ":80"]);
    let scheme = prop::sample::select(vec![
        "https://",
        "HTTPS://",
        "http://",
        "//",
        "https:",
        "https:\\\\",
        "\\\\",
        "/",
        "",
        "ftp://",
        "javascript:",
        " https://",
        "https:/\t/",
    ]);
    let path = "[a-z/?$=&%.#\\\\@:]{0,16}";
    prop_oneof![
        4 => (scheme, host, port, path).prop_map(|(s, h, p, rest)| format!("{s}{h}{p}/{rest}")),
        1 => "\\PC{0,24}",
    ]
}

fn page_body(names: Vec<String>, next: Option<String>, vault: &str) -> Vec<u8> {
    let items: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            serde_json::json!({
                "id": format!("{vault}/secrets/{name}"),
                "kid": format!("{vault}/keys/{name}"),
                "attributes": {"enabled": true, "exp": 32503680000i64, "created": 1482189047},
                "tags": {name.as_str(): name.as_str()},
                "contentType": name,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"value": items, "nextLink": next})).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_next_link_is_admitted_only_within_the_service(service in 0usize..targets::SERVICES.len(), link in link()) {
        let base = url::Url::parse(&format!("{}/secrets?api-version=7.5", targets::SERVICES[service])).unwrap();
        targets::check_link(targets::SERVICES[service], &base, &link);
    }

    #[test]
    fn list_pages_become_records_of_their_vault(
        names in prop::collection::vec(text(12), 0..4),
        next in prop::option::of(link()),
        kind in prop::sample::select(vec![Kind::Secret, Kind::Certificate, Kind::Key]),
        own in any::<bool>(),
    ) {
        let vault = VaultUrl::parse(targets::SERVICES[1]).unwrap();
        let items_vault = if own { vault.as_str() } else { "https://evil.example" };
        targets::check_list_page(&vault, kind, &page_body(names, next, items_vault));
    }

    #[test]
    fn secret_bundles_and_graph_passwords_never_show_their_secret(
        name in text(12),
        value in text(20),
        date in prop::option::of("[0-9T:Z.+-]{0,26}"),
        cut in any::<u8>(),
    ) {
        let vault = VaultUrl::parse(targets::SERVICES[0]).unwrap();
        let mut bundle = serde_json::to_vec(&serde_json::json!({
            "value": value,
            "id": format!("{vault}/secrets/{name}/v1"),
            "attributes": {"enabled": true, "exp": 32503680000i64},
        })).unwrap();
        bundle.push(cut);
        targets::check_secret_bundle(&vault, &bundle);
        let mut password = serde_json::to_vec(&serde_json::json!({
            "keyId": name, "secretText": value, "hint": "abc",
            "startDateTime": date, "endDateTime": "2031-01-01T00:00:00Z",
        })).unwrap();
        password.push(cut);
        targets::check_new_password(&password);
    }

    #[test]
    fn error_answers_are_explained_whatever_they_hold(
        status in prop::sample::select(vec![400u16, 401, 403, 404, 409, 429, 500, 503, 302, 200]),
        code in text(16),
        message in text(40),
        inner in prop::option::of(text(16)),
    ) {
        let body = serde_json::to_vec(&serde_json::json!({
            "error": {"code": code, "message": message, "innererror": {"code": inner}, "innerError": {"request-id": inner, "date": code}},
            "error_description": message, "error_codes": [7000215], "trace_id": inner,
        })).unwrap();
        let vault = VaultUrl::parse(targets::SERVICES[0]).unwrap();
        targets::check_vault_error(&vault, status, &body);
        targets::check_graph_error(status, &body);
        targets::check_entra_error(&body);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Durations.

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[ \t]{0,2}", "[0-9]{1,20}", prop::sample::select(vec!["", "d", "h", "m", "s", "D", "w", "ms", " d", ".5d"]), "[ \t\n]{0,2}")
            .prop_map(|(a, n, u, b)| format!("{a}{n}{u}{b}")),
        1 => "[-+ 0-9dhms.]{0,8}",
        1 => "\\PC{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn durations_read_consistently_everywhere(text in duration_text()) {
        targets::check_duration_text(&text);
    }

    #[test]
    fn spans_and_days_left_agree(seconds in any::<i64>()) {
        targets::check_seconds(seconds);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. CI escapers and neutralisers.

/// Outside text built from what the runners and the escapes care about.
fn outside() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "::",
        ":",
        "##",
        "#",
        "[",
        "]",
        "##vso[",
        "##VsO[",
        "##[",
        "%",
        "%25",
        "%0A",
        "%0D",
        "%3A",
        "%2C",
        "%3B",
        "%5D",
        "%AZP25",
        "AZP25",
        ",",
        ";",
        "=",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\u{85}",
        "\u{2028}",
        "\u{2029}",
        "\u{200b}",
        "\u{ad}",
        "\u{feff}",
        "\u{e0001}",
        "\u{1}",
        "\u{1b}[31m",
        "\u{fffe}",
        "é",
        "🔑",
        "task.setvariable",
        "error",
        "stop-commands",
        "add-mask",
        "group",
        "warning",
        "a",
        "x",
    ]);
    prop_oneof![
        4 => prop::collection::vec(piece, 0..12).prop_map(|p| p.concat()),
        1 => "\\PC{0,16}",
        1 => ".{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn escapes_round_trip_through_both_runners(title in outside(), message in outside(), value in outside()) {
        targets::check_escapers(&title, &message, &value);
    }

    #[test]
    fn neutralised_outside_text_holds_no_command(text in outside()) {
        targets::check_neutralised(&text);
    }

    #[test]
    fn every_report_format_is_inert_and_reads_back(name in outside(), tag in outside(), message in outside()) {
        targets::check_reports(&name, &tag, &message);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Env files (models of the shell and python-dotenv; the real ones are in tests/fetch.rs).

fn env_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => proptest::char::range(' ', '~'),
            4 => prop::sample::select(vec![
                '\'', '"', '\\', '$', '`', '\n', '\r', '\t', '#', '=', '\0', 'é', '😀', '\u{85}',
                '\u{2028}', '\u{200b}',
            ]),
            1 => any::<char>(),
        ],
        0..24,
    )
    .prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn env_files_read_back_in_the_shell_and_python_dotenv_models(values in prop::collection::vec(env_value(), 1..8)) {
        targets::check_env_values(&values);
    }

    #[test]
    fn exported_names_have_a_variables_shape(name in "[A-Za-z0-9_ .$-]{0,12}|BASH_FUNC_[a-z]{0,4}|KEYROT_[A-Z]{0,4}|\\PC{0,6}") {
        targets::check_env_name(&name);
    }
}
