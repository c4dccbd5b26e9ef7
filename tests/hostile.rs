//! Outside text is data, never a command (issue 9, item 1), end to end: the real binary, with
//! hostile strings in every field a vault, Entra or a server controls (secret, certificate
//! and key names as a hostile server could send them, tag keys and values, content types,
//! application and password display names, key ids, error messages), through every format
//! of `check`, `fetch` and `rotate`, under both CI systems. Each run's stdout and stderr are
//! read with each runner's own parsing rule (`hostile/runners.rs`): the only commands are the
//! ones keyrot meant, and the machine formats read back exactly what the server sent
//! (serde_json, Python's json, jq, Python's XML parser).
//!
//! Names and key ids cannot be seeded (the emulator, like Azure, refuses them), so a hostile
//! proxy (`hostile/proxy.rs`) sits in front of the emulator and rewrites placeholders in its
//! answers; it also answers some requests with a 403 carrying a hostile message.

mod common;
#[path = "hostile/proxy.rs"]
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::runners::{self, Command};
use common::{Harness, Run};
use proxy::{HostileProxy, Rules};
use serde_json::Value;

/// Signs in with `Application.Read.All`.
const CHECKER: &str = "cccccccc-0000-4000-8000-0000000000c1";
const CHECKER_SECRET: &str = "hostile-test-login";
/// The application whose display names are hostile.
const APP: &str = "dddddddd-0000-4000-8000-0000000000a1";

/// What a hostile vault, tag, display name or server could say. Every runner rule is here:
/// line breaks of every kind, `::` at a line start (also after white space and after a
/// character ICU ignores), `##vso[` and `##[` anywhere, percent escapes, the properties'
/// separators, stop-commands and lines equal to plausible stop tokens.
const HOSTILE: &[&str] = &[
    "team\n##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]pass\n##vso[task.prependpath]/tmp/attacker-bin",
    "x\n::warning::injected\n::error title=t::e",
    "cr\r::add-mask::x\r\n##[warning]legacy form",
    "::stop-commands::hostile-token",
    "hostile-token",
    "::hostile-token::\n::keyrot-00000000000000000000000000000000::",
    "%0A::error::percent %25 %AZP25 %3B %5D",
    "semi;colon]bracket,comma:colon=equals",
    "sep\u{2028}::error::ls\u{2029}##vso[task.complete result=Succeeded;]ps",
    "nel\u{85}::notice::x",
    ":\u{200b}:error::zero-width #\u{ad}#vso[task.prependpath]/soft-hyphen",
    "\u{202e}bidi\u{2066}isolate\u{feff}",
    "  ::group::indented",
    "##[group]hide\n##[endgroup]",
    "\t::set-output name=status::pass",
];

/// The message of the hostile 403s.
const HOSTILE_MESSAGE: &str = "Caller is not authorized.\n##vso[task.setvariable variable=KEYROT_STATUS;isOutput=true;]pass\n##vso[task.prependpath]/tmp/attacker-bin\n::add-path::/tmp/attacker-bin\n##[error]fake\r::error::fake";

/// Secret values in the hostile vault: never printed by check.
fn planted(i: usize) -> String {
    format!("HOSTILE-PLANTED-{i:02}-5ac1d3")
}

fn secret_placeholder(i: usize) -> String {
    format!("zq{i:02}zqs")
}
fn certificate_placeholder(i: usize) -> String {
    format!("zq{i:02}zqc")
}
fn key_placeholder(i: usize) -> String {
    format!("zq{i:02}zqk")
}
fn password_key_id(i: usize) -> String {
    format!("5f0c6a1e-0000-4000-8000-0000000000{i:02}")
}

/// A TOML basic string holding exactly `text`.
fn toml_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08X}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

fn state(i: usize) -> &'static str {
    ["-1d", "+10d", "+200d"][i % 3]
}

fn seed() -> String {
    let mut seed = format!(
        r#"
[[client]]
client_id = "{CHECKER}"
secrets = [{{ value = "{CHECKER_SECRET}" }}]
graph_permissions = ["Application.Read.All"]

[[client]]
client_id = "{APP}"
display_name = {app_name}
"#,
        app_name = toml_str(HOSTILE[0])
    );
    seed.push_str("secrets = [\n");
    for (i, hostile) in HOSTILE.iter().enumerate() {
        seed.push_str(&format!(
            "  {{ value = \"app-secret-{i}\", key_id = \"{}\", display_name = {}, end = \"{}\" }},\n",
            password_key_id(i),
            toml_str(hostile),
            state(i)
        ));
    }
    seed.push_str("]\n\n[[vault]]\nname = \"hostile\"\n");
    for (i, hostile) in HOSTILE.iter().enumerate() {
        let tags = format!(
            "{{ {} = {}, index = \"{i}\" }}",
            toml_str(hostile),
            toml_str(hostile)
        );
        seed.push_str(&format!(
            "\n[[vault.secret]]\nname = \"{}\"\nvalue = \"{}\"\nexp = \"{}\"\ncontent_type = {}\ntags = {tags}\n",
            secret_placeholder(i),
            planted(i),
            state(i),
            toml_str(hostile),
        ));
        seed.push_str(&format!(
            "\n[[vault.certificate]]\nname = \"{}\"\nexp = \"{}\"\ntags = {tags}\n",
            certificate_placeholder(i),
            state(i + 1),
        ));
        seed.push_str(&format!(
            "\n[[vault.key]]\nname = \"{}\"\nexp = \"{}\"\ntags = {tags}\n",
            key_placeholder(i),
            state(i + 2),
        ));
    }
    seed.push_str("\n[[vault]]\nname = \"fetchable\"\n");
    for (i, hostile) in HOSTILE.iter().enumerate() {
        seed.push_str(&format!(
            "\n[[vault.secret]]\nname = \"fetch-{i}\"\nvalue = {}\nexp = \"+100d\"\ncontent_type = {}\ntags = {{ {} = {} }}\n",
            toml_str(hostile),
            toml_str(hostile),
            toml_str(hostile),
            toml_str(hostile),
        ));
    }
    seed.push_str("\n[[vault]]\nname = \"denied\"\n\n[[vault.secret]]\nname = \"db-password\"\nvalue = \"v\"\nexp = \"+3d\"\n");
    seed
}

/// The emulator, the hostile proxy in front of it, and a folder for the runner files.
struct World {
    harness: Harness,
    proxy: HostileProxy,
    dir: tempfile::TempDir,
    ca_bundle: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ci {
    GitHub,
    Azure,
}

const SYSTEMS: [Ci; 2] = [Ci::GitHub, Ci::Azure];

impl World {
    async fn start() -> World {
        let harness = Harness::start(&seed()).await;
        let mut rewrite = Vec::new();
        for (i, hostile) in HOSTILE.iter().enumerate() {
            rewrite.push((secret_placeholder(i), format!("s{i}-{hostile}")));
            rewrite.push((certificate_placeholder(i), format!("c{i}-{hostile}")));
            rewrite.push((key_placeholder(i), format!("k{i}-{hostile}")));
            rewrite.push((password_key_id(i), hostile.to_string()));
        }
        let rules = Rules {
            rewrite,
            forbid: vec![
                ("denied.vault.".into(), "/".into(), HOSTILE_MESSAGE.into()),
                (
                    "graph.".into(),
                    format!("/v1.0/applications(appId='{CHECKER}')"),
                    HOSTILE_MESSAGE.into(),
                ),
            ],
        };
        let proxy =
            HostileProxy::start(harness.emulator.port(), harness.emulator.ca_pem(), rules).await;
        let dir = tempfile::tempdir().unwrap();
        let ca_bundle = dir.path().join("roots.pem");
        let proxy_ca = std::fs::read_to_string(proxy.ca_path()).unwrap();
        std::fs::write(
            &ca_bundle,
            format!("{}\n{proxy_ca}", harness.emulator.ca_pem()),
        )
        .unwrap();
        World {
            harness,
            proxy,
            dir,
            ca_bundle,
        }
    }

    fn folder(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// A pipeline's environment: logged in as the checker, trusting the emulator and the
    /// proxy, Graph through the proxy, debug logs on, and the runner's variables and files.
    fn env(&self, ci: Ci, files: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("AZURE_CLIENT_ID".into(), CHECKER.into()),
            ("AZURE_CLIENT_SECRET".into(), CHECKER_SECRET.into()),
            (
                "AZURE_TENANT_ID".into(),
                self.harness.emulator.tenant_id().into(),
            ),
            (
                "AZURE_AUTHORITY_HOST".into(),
                self.harness.emulator.authority_host(),
            ),
            (
                "KEYROT_CA_CERT".into(),
                self.ca_bundle.display().to_string(),
            ),
            ("KEYROT_GRAPH_URL".into(), self.proxy.graph_url()),
            (
                "KEYROT_LOG".into(),
                "debug,rustls=info,hyper_util=info".into(),
            ),
        ];
        let file = |name: &str| files.join(name).display().to_string();
        match ci {
            Ci::GitHub => env.extend([
                ("GITHUB_ACTIONS".into(), "true".into()),
                ("GITHUB_OUTPUT".into(), file("output")),
                ("GITHUB_ENV".into(), file("env")),
                ("GITHUB_STEP_SUMMARY".into(), file("summary.md")),
                ("RUNNER_TEMP".into(), files.display().to_string()),
            ]),
            Ci::Azure => env.extend([
                ("TF_BUILD".into(), "True".into()),
                ("AGENT_TEMPDIRECTORY".into(), files.display().to_string()),
            ]),
        }
        env
    }

    async fn run(&self, ci: Ci, files: &Path, args: &[&str]) -> Run {
        self.harness.run(self.env(ci, files), args).await
    }
}

/// Commands by name, after checking that every stop-commands is resumed by its own token
/// on the same stream; returns the counts and how many fences there were.
fn github_kinds(stream: &str) -> (BTreeMap<String, usize>, usize) {
    let (commands, open) = runners::github(stream);
    assert_eq!(
        open, None,
        "a stop-commands region was left open:\n{stream}"
    );
    for command in &commands {
        // keyrot writes its own commands at the start of a line, in the `::` form.
        assert!(
            command.line.starts_with("::"),
            "a command keyrot did not write: {command:#?}\n{stream}"
        );
    }
    let mut kinds = BTreeMap::new();
    let mut fences = 0;
    let mut token: Option<String> = None;
    for command in &commands {
        if command.name == "stop-commands" {
            token = Some(command.data.to_ascii_lowercase());
            fences += 1;
            continue;
        }
        if token.as_deref() == Some(command.name.as_str()) {
            token = None;
            continue;
        }
        *kinds.entry(command.name.clone()).or_insert(0) += 1;
    }
    (kinds, fences)
}

fn azure_commands(run: &Run) -> Vec<Command> {
    let mut commands = runners::azure(&run.stdout);
    commands.extend(runners::azure(&run.stderr));
    for command in &commands {
        // keyrot writes its own commands at the start of a line: `##vso[`, or its groups.
        let own = if command.name.starts_with("##[") {
            command.line.starts_with("##[group]") || command.line == "##[endgroup]"
        } else {
            command.line.starts_with("##vso[")
        };
        assert!(
            own,
            "a command keyrot did not write: {command:#?}\n{}",
            both(run)
        );
    }
    commands
}

fn azure_kinds(commands: &[Command]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for command in commands {
        *kinds.entry(command.name.clone()).or_insert(0) += 1;
    }
    kinds
}

fn kinds(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), *n))
        .collect()
}

fn both(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// The lines that are not keyrot's own commands (report, logs, errors) hold nothing the
/// other runner would act on either: no `::` command for GitHub's runner under Azure, no
/// `##vso[`/`##[` under GitHub. (The data of keyrot's own commands is the protocol's business:
/// the runner reads the line as that command.)
fn assert_nothing_for_the_other_runner(ci: Ci, run: &Run) {
    for stream in [&run.stdout, &run.stderr] {
        for line in runners::read_lines(stream) {
            match ci {
                Ci::GitHub => {
                    if runners::github(line).0.is_empty() {
                        let stray = runners::azure(line);
                        assert!(
                            stray.is_empty(),
                            "Azure would act on {stray:#?}:\n{}",
                            both(run)
                        );
                    }
                }
                Ci::Azure => {
                    if runners::azure(line).is_empty() {
                        let (stray, _) = runners::github(line);
                        assert!(
                            stray.is_empty(),
                            "GitHub would act on {stray:#?}:\n{}",
                            both(run)
                        );
                    }
                }
            }
        }
    }
}

fn assert_no_planted_values(run: &Run) {
    for i in 0..HOSTILE.len() {
        assert!(!both(run).contains(&planted(i)), "value {i} leaked");
    }
}

/// The report's counts, from the JSON report file the publisher wrote.
fn counts(report_file: &Path) -> (usize, usize, String) {
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_file).unwrap()).unwrap();
    let n = |k: &str| report["counts"][k].as_u64().unwrap() as usize;
    (
        n("fail"),
        n("warn"),
        report["status"].as_str().unwrap().to_owned(),
    )
}

/// Runs `program` with `input` on stdin and returns its stdout, failing the test if it is
/// missing or fails (no quiet skips).
fn pipe(program: &str, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// What a reader needs from the JSON report: per credential its name, tags and application.
fn essentials(report: &Value) -> Value {
    Value::Array(
        report["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::json!({
                    "kind": c["kind"], "name": c["name"], "tags": c["tags"],
                    "application": c["application"], "id": c["id"],
                })
            })
            .collect(),
    )
}

const PYTHON_JSON: &str = r#"
import json, sys
d = json.load(sys.stdin)
keys = ("kind", "name", "tags", "application", "id")
print(json.dumps([{k: c[k] for k in keys} for c in d["credentials"]]))
"#;

const JQ_JSON: &str = "[.credentials[] | {kind, name, tags, application, id}]";

const PYTHON_XML: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
out = []
for case in root.iter("testcase"):
    detail = "".join((e.text or "") for e in case if e.tag in ("failure", "system-out"))
    out.append({"name": case.get("name"), "classname": case.get("classname"), "text": detail})
print(json.dumps(out))
"#;

/// The JSON report read back: tags, names, display names and key ids are exactly what the
/// hostile server sent, for serde_json, Python and jq alike.
fn assert_json_round_trips(stdout: &str) -> BTreeSet<String> {
    let report: Value = serde_json::from_str(stdout).expect("stdout is one JSON document");
    let ours = essentials(&report);
    let python: Value =
        serde_json::from_str(&pipe("python3", &["-c", PYTHON_JSON], stdout)).unwrap();
    assert_eq!(python, ours, "Python reads the same");
    let jq: Value = serde_json::from_str(&pipe("jq", &["-c", JQ_JSON], stdout)).unwrap();
    assert_eq!(jq, ours, "jq reads the same");

    let mut names = BTreeSet::new();
    let mut entra = BTreeSet::new();
    for c in ours.as_array().unwrap() {
        let name = c["name"].as_str().unwrap().to_owned();
        match c["kind"].as_str().unwrap() {
            "app-password" => {
                let app = &c["application"];
                assert_eq!(app["display_name"], HOSTILE[0]);
                assert_eq!(app["key_id"], c["id"]);
                assert_eq!(
                    c["name"], c["id"],
                    "display name and key id are the same hostile text"
                );
                entra.insert(name.clone());
            }
            kind => {
                let index: usize = c["tags"]["index"].as_str().unwrap().parse().unwrap();
                let hostile = HOSTILE[index];
                assert_eq!(
                    c["tags"],
                    serde_json::json!({ hostile: hostile, "index": index.to_string() }),
                    "{kind} {name:?}"
                );
                let prefix = format!("{}{index}-", &kind[..1]);
                assert!(name.starts_with(&prefix), "{name:?}");
            }
        }
        names.insert(name);
    }
    let expected: BTreeSet<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        entra, expected,
        "every password's display name and key id, exactly"
    );
    assert_eq!(names.len(), HOSTILE.len() * 4, "every credential, once");
    names
}

/// The JUnit report read back by Python's XML parser: the same names, and every tag line.
fn assert_junit_round_trips(stdout: &str, names: &BTreeSet<String>) {
    let cases: Value = serde_json::from_str(&pipe("python3", &["-c", PYTHON_XML], stdout)).unwrap();
    let mut seen = BTreeSet::new();
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let classname = case["classname"].as_str().unwrap();
        if classname.contains("app-password") {
            assert_eq!(
                classname,
                format!("keyrot.entra:{}.app-password", HOSTILE[0])
            );
        } else {
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("tag index: "))
                .unwrap_or_else(|| panic!("no index tag in {text:?}"));
            let hostile = HOSTILE[line.parse::<usize>().unwrap()];
            assert!(
                text.contains(&format!("tag {hostile}: {hostile}\n")),
                "{name:?}: {text:?}"
            );
        }
        seen.insert(name.to_owned());
    }
    assert_eq!(&seen, names);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_writes_no_command_but_its_own_in_any_format_under_either_runner() {
    let world = World::start().await;
    let vault = world.proxy.vault_url("hostile");
    let mut json_names = None;
    for ci in SYSTEMS {
        for format in ["json", "junit", "table", "markdown"] {
            let files = world.folder(&format!("check-{ci:?}-{format}"));
            let report = files.join("report.json").display().to_string();
            let run = world
                .run(
                    ci,
                    &files,
                    &[
                        "check",
                        "--vault",
                        &vault,
                        "--app",
                        APP,
                        "--kinds",
                        "secrets,certificates,keys",
                        "--format",
                        format,
                        "--report",
                        &report,
                    ],
                )
                .await;
            run.expect_code(1);
            let context = format!("{ci:?} {format}");
            let (fail, warn, status) = counts(Path::new(&report));
            assert_eq!(status, "fail");
            assert!(fail > 0 && warn > 0, "{context}");
            let machine = matches!(format, "json" | "junit");
            match ci {
                Ci::GitHub => {
                    let meant = kinds(&[
                        ("error", fail),
                        ("warning", warn),
                        ("group", 1),
                        ("endgroup", 1),
                    ]);
                    let (out, out_fences) = github_kinds(&run.stdout);
                    let (err, err_fences) = github_kinds(&run.stderr);
                    // Commands go where the report is not; a human report is fenced.
                    let (commands, quiet) = if machine { (err, out) } else { (out, err) };
                    assert_eq!(commands, meant, "{context}:\n{}", both(&run));
                    assert!(quiet.is_empty(), "{context}: {quiet:?}\n{}", both(&run));
                    assert_eq!(out_fences, usize::from(!machine), "{context}");
                    assert_eq!(err_fences, 0, "{context}");
                }
                Ci::Azure => {
                    let commands = azure_commands(&run);
                    assert_eq!(
                        azure_kinds(&commands),
                        kinds(&[
                            ("task.logissue", fail + warn),
                            ("task.setvariable", 4),
                            ("##[group", 1),
                            ("##[endgroup", 1),
                        ]),
                        "{context}:\n{}",
                        both(&run)
                    );
                    let variables: BTreeMap<&str, &str> = commands
                        .iter()
                        .filter(|c| c.name == "task.setvariable")
                        .map(|c| (c.properties["variable"].as_str(), c.data.as_str()))
                        .collect();
                    assert_eq!(variables["KEYROT_STATUS"], "fail");
                    assert_eq!(variables["KEYROT_FAILED"], fail.to_string());
                    assert_eq!(variables["KEYROT_WARNED"], warn.to_string());
                }
            }
            assert_nothing_for_the_other_runner(ci, &run);
            assert_no_planted_values(&run);
            match format {
                "json" => json_names = Some(assert_json_round_trips(&run.stdout)),
                "junit" => {
                    let names = json_names.as_ref().expect("the JSON run comes first");
                    assert_junit_round_trips(&run.stdout, names);
                }
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_error_messages_reach_stderr_inert() {
    let world = World::start().await;
    let denied = world.proxy.vault_url("denied");
    for ci in SYSTEMS {
        let files = world.folder(&format!("errors-{ci:?}"));
        let cases: [Vec<&str>; 3] = [
            vec!["check", "--vault", denied.as_str()],
            vec!["check", "--app", CHECKER],
            vec!["fetch", "--vault", denied.as_str()],
        ];
        for args in cases {
            let run = world.run(ci, &files, &args).await;
            let context = format!("{ci:?} {args:?}:\n{}", both(&run));
            assert_eq!(run.code, 3, "{context}");
            // The hostile message is shown (it is the cause), made visible, not obeyed.
            assert!(
                run.stderr.contains("Caller is not authorized."),
                "{context}"
            );
            assert!(run.stderr.contains("prependpath"), "{context}");
            match ci {
                Ci::GitHub => {
                    let (out, _) = github_kinds(&run.stdout);
                    let (err, _) = github_kinds(&run.stderr);
                    for (name, _) in out.iter().chain(&err) {
                        assert!(
                            ["error", "warning", "group", "endgroup", "debug"]
                                .contains(&name.as_str()),
                            "{name}: {context}"
                        );
                    }
                }
                Ci::Azure => {
                    for command in azure_commands(&run) {
                        assert!(
                            [
                                "task.logissue",
                                "task.setvariable",
                                "##[group",
                                "##[endgroup"
                            ]
                            .contains(&command.name.as_str()),
                            "{command:?}: {context}"
                        );
                        if command.name == "task.setvariable" {
                            assert!(command.properties["variable"].starts_with("KEYROT_"));
                            assert_ne!(command.data, "pass");
                        }
                    }
                }
            }
            assert_nothing_for_the_other_runner(ci, &run);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_refusals_and_values_stay_data() {
    let world = World::start().await;
    let hostile = world.proxy.vault_url("hostile");
    let fetchable = world.proxy.vault_url("fetchable");
    for ci in SYSTEMS {
        // Hostile names (and expired secrets among them): fetch refuses them (exit 2: they are
        // no variable names; with --strict the expired ones would fail the export too), names
        // them on stderr, and nothing it writes is a command but keyrot's own annotations.
        let files = world.folder(&format!("fetch-refused-{ci:?}"));
        let run = world
            .run(ci, &files, &["fetch", "--vault", &hostile, "--strict"])
            .await;
        let context = format!("{ci:?} refused:\n{}", both(&run));
        assert!(run.code == 1 || run.code == 2, "{context}");
        assert!(
            run.stderr.contains("refuses") || run.stderr.contains("refusing to export"),
            "{context}"
        );
        match ci {
            Ci::GitHub => {
                for (name, _) in github_kinds(&run.stdout)
                    .0
                    .iter()
                    .chain(&github_kinds(&run.stderr).0)
                {
                    assert!(["error", "warning"].contains(&name.as_str()), "{context}");
                }
            }
            Ci::Azure => {
                for command in azure_commands(&run) {
                    assert_eq!(command.name, "task.logissue", "{context}");
                }
            }
        }
        assert_nothing_for_the_other_runner(ci, &run);
        assert_no_planted_values(&run);

        // Hostile values, content types and tags: masked and exported as keyrot means, and
        // the JSON on stdout reads back exactly.
        let files = world.folder(&format!("fetch-json-{ci:?}"));
        let run = world
            .run(
                ci,
                &files,
                &[
                    "fetch", "--vault", &fetchable, "--stdout", "--format", "json",
                ],
            )
            .await;
        let context = format!("{ci:?} json:\n{}", both(&run));
        run.expect_code(0);
        let json_start = run.stdout.find("\n{").map_or(0, |i| i + 1);
        let (commands, document) = run.stdout.split_at(json_start);
        match ci {
            Ci::GitHub => {
                let (out, fences) = github_kinds(commands);
                assert_eq!(out.keys().collect::<Vec<_>>(), ["add-mask"], "{context}");
                assert_eq!(fences, 0);
                assert!(github_kinds(document).0.is_empty(), "{context}");
                assert!(github_kinds(&run.stderr).0.is_empty(), "{context}");
            }
            Ci::Azure => {
                let found = azure_commands(&run);
                for command in &found {
                    assert!(
                        command.name == "task.setsecret" || command.name == "task.setvariable",
                        "{command:?}"
                    );
                }
                let variables: BTreeSet<&str> = found
                    .iter()
                    .filter(|c| c.name == "task.setvariable")
                    .map(|c| c.properties["variable"].as_str())
                    .collect();
                let expected: BTreeSet<String> =
                    (0..HOSTILE.len()).map(|i| format!("fetch-{i}")).collect();
                assert_eq!(
                    variables,
                    expected.iter().map(String::as_str).collect(),
                    "{context}"
                );
                assert!(runners::azure(document).is_empty(), "{context}");
            }
        }
        assert_nothing_for_the_other_runner(ci, &run);
        let read: Value =
            serde_json::from_str(document).expect("one JSON document after the masks");
        let python: Value = serde_json::from_str(&pipe(
            "python3",
            &[
                "-c",
                "import json,sys; print(json.dumps(json.load(sys.stdin)))",
            ],
            document,
        ))
        .unwrap();
        assert_eq!(python, read);
        let jq: Value = serde_json::from_str(&pipe("jq", &["-c", "."], document)).unwrap();
        assert_eq!(jq, read);
        for secret in read["secrets"].as_array().unwrap() {
            let i: usize = secret["name"].as_str().unwrap()["fetch-".len()..]
                .parse()
                .unwrap();
            let hostile = HOSTILE[i];
            assert_eq!(secret["value"], hostile);
            let content_type = secret.get("content_type").or(secret.get("contentType"));
            assert_eq!(content_type, Some(&Value::from(hostile)));
            assert_eq!(secret["tags"], serde_json::json!({ hostile: hostile }));
        }

        // An env file cannot escape a value: on a stdout a runner reads, refused, naming them.
        let files = world.folder(&format!("fetch-env-{ci:?}"));
        let run = world
            .run(
                ci,
                &files,
                &[
                    "fetch", "--vault", &fetchable, "--stdout", "--format", "env",
                ],
            )
            .await;
        let context = format!("{ci:?} env:\n{}", both(&run));
        // Refused by name (exit 2): either as a pipeline command on stdout, or earlier, as a
        // value the env format cannot carry at all (a carriage return).
        assert_eq!(run.code, 2, "{context}");
        assert!(
            run.stderr.contains("secret fetch-") || run.stderr.contains("value of fetch-"),
            "{context}"
        );
        assert!(run.stdout.is_empty(), "nothing exported: {context}");
        for hostile in HOSTILE {
            assert!(
                !run.stderr.contains(hostile),
                "no value in the error: {context}"
            );
        }
        // A value the env format can carry (a line feed) but whose second line is a command:
        // refused on a runner's stdout, naming the secret, never printed.
        let run = world
            .run(
                ci,
                &files,
                &[
                    "fetch", "--vault", &fetchable, "--name", "fetch-0", "--stdout", "--format",
                    "env",
                ],
            )
            .await;
        let context = format!("{ci:?} env fetch-0:\n{}", both(&run));
        assert_eq!(run.code, 2, "{context}");
        assert!(
            run.stderr
                .contains("fetch-0 would be read as a pipeline command"),
            "{context}"
        );
        assert!(!run.stdout.contains("prependpath"), "{context}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_reports_quote_a_hostile_server_as_data() {
    let world = World::start().await;
    let config = world.dir.path().join("keyrot.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nvault = \"{}\"\nrotate_within = \"30d\"\nvalidity = \"90d\"\ngrace = \"7d\"\nverify_timeout = \"2s\"\n\n\
             [[credential]]\nname = \"db-password\"\ngenerator = \"random\"\n",
            world.proxy.vault_url("denied")
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    for ci in SYSTEMS {
        for format in ["json", "table", "markdown"] {
            let files = world.folder(&format!("rotate-{ci:?}-{format}"));
            let run = world
                .run(
                    ci,
                    &files,
                    &[
                        "rotate",
                        "--config",
                        &config,
                        "--lock-settle",
                        "1s",
                        "--lock-lease",
                        "10s",
                        "--format",
                        format,
                    ],
                )
                .await;
            let context = format!("{ci:?} {format}:\n{}", both(&run));
            assert!([1, 3].contains(&run.code), "{context}");
            assert!(
                both(&run).contains("Caller is not authorized."),
                "{context}"
            );
            match ci {
                Ci::GitHub => {
                    let (out, fences) = github_kinds(&run.stdout);
                    let (err, _) = github_kinds(&run.stderr);
                    // Annotations go where the report is not.
                    let (commands, quiet) = if format == "json" {
                        (err, out)
                    } else {
                        (out, err)
                    };
                    assert!(quiet.is_empty(), "{context}");
                    for name in commands.keys() {
                        assert!(
                            ["error", "warning"].contains(&name.as_str()),
                            "{name}: {context}"
                        );
                    }
                    if run.code == 1 {
                        assert_eq!(commands, kinds(&[("error", 1)]), "{context}");
                        assert_eq!(fences, usize::from(format != "json"), "{context}");
                    }
                }
                Ci::Azure => {
                    let found = azure_kinds(&azure_commands(&run));
                    for name in found.keys() {
                        assert!(
                            ["task.logissue", "task.setvariable"].contains(&name.as_str()),
                            "{name}: {context}"
                        );
                    }
                    // The only variables set are keyrot's own outputs, never one a server named.
                    for line in both(&run)
                        .lines()
                        .filter(|l| l.starts_with("##vso[task.setvariable"))
                    {
                        assert!(
                            [
                                "##vso[task.setvariable variable=KEYROT_ROTATED;isOutput=true;]",
                                "##vso[task.setvariable variable=KEYROT_FAILED;isOutput=true;]",
                                "##vso[task.setvariable variable=KEYROT_RUNS;isOutput=true;]",
                            ]
                            .iter()
                            .any(|p| line.starts_with(p)),
                            "{line}: {context}"
                        );
                    }
                }
            }
            assert_nothing_for_the_other_runner(ci, &run);
            if format == "json" && run.code == 1 {
                let report: Value =
                    serde_json::from_str(&run.stdout).expect("stdout is the JSON report");
                let message = report["credentials"][0]["message"].as_str().unwrap();
                assert!(
                    message.contains("##vso[task.prependpath]/tmp/attacker-bin"),
                    "{message}"
                );
            }
        }
    }
}

#[test]
fn the_test_parsers_follow_the_runners() {
    let (c, open) =
        runners::github("::warning title=a%3Ab::x%0Ay\n  ::ERROR::z\r##[debug]w\n:: nope\n");
    assert_eq!(open, None);
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["warning", "error", "debug"]);
    assert_eq!(c[0].properties["title"], "a:b");
    assert_eq!(c[0].data, "x\ny");
    // Stopped: nothing counts until the token, in either form.
    let (c, open) = runners::github(
        "::stop-commands::tok1234\n::error::x\n##[warning]y\n::tok1234::\n::debug::d\n",
    );
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["stop-commands", "tok1234", "debug"]);
    assert_eq!(open, None);
    let (_, open) = runners::github("::stop-commands::never-resumed\n");
    assert_eq!(open.as_deref(), Some("never-resumed"));
    // Ignorable characters do not hide a command.
    let (c, _) = runners::github(":\u{200b}:error::x\n#\u{ad}#[warning]y\n");
    assert_eq!(c.len(), 2);
    let c = runners::azure(
        "a ##VSO[task.setvariable variable=x%3By;]v%0A\r\n##[group]g b ##[endgroup]\n",
    );
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["task.setvariable", "##[group", "##[endgroup"]);
    assert_eq!(c[0].properties["variable"], "x;y");
    assert_eq!(c[0].data, "v\n");
    assert!(runners::azure("##\\[x ##vso\\[y **vso[z #[ vso[").is_empty());
    let c = runners::azure("##vso[task.logissue]data ##[group]x\n##vso[broken ##[error]x\n");
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["task.logissue", "##vso[?", "##[error"]);
}
