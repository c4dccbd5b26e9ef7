//! The deployment files under `deploy/` against the `keyrot serve` contract: the Azure
//! Functions custom-handler files (host.json, both function.json), the example keyrot.toml
//! (read by keyrot's own parser) and its vaults in the Bicep parameter examples, the role
//! definitions the Bicep files may grant, the container image's entry point, and that
//! deploy/README.md mentions every file. Text checks, no Azure and no Bicep compiler
//! (`scripts/lint-deploy` is the linter).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: not JSON: {e}"))
}

/// Every file under `dir` (relative to the repository), sorted.
fn files_under(dir: &str) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &root().join(dir), &mut out);
    out.sort();
    out
}

fn bicep_files() -> Vec<String> {
    let files: Vec<String> = files_under("deploy/bicep")
        .into_iter()
        .filter(|f| f.ends_with(".bicep"))
        .collect();
    assert!(files.len() >= 4, "too few Bicep files: {files:?}");
    files
}

/// Every GUID (8-4-4-4-12 hex digits, any case) in `text`, lowercased.
fn guids(text: &str) -> BTreeSet<String> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let bytes = text.as_bytes();
    let len: usize = GROUPS.iter().sum::<usize>() + 4;
    let mut found = BTreeSet::new();
    let is_hex = |b: u8| b.is_ascii_hexdigit();
    let mut i = 0;
    while i + len <= bytes.len() {
        let before_ok = i == 0 || !(is_hex(bytes[i - 1]) || bytes[i - 1] == b'-');
        let after_ok = i + len == bytes.len() || !is_hex(bytes[i + len]);
        let mut pos = i;
        let mut shape_ok = before_ok && after_ok;
        for (g, n) in GROUPS.iter().enumerate() {
            if !shape_ok {
                break;
            }
            shape_ok = bytes[pos..pos + n].iter().all(|&b| is_hex(b));
            pos += n;
            if g < 4 {
                shape_ok = shape_ok && bytes[pos] == b'-';
                pos += 1;
            }
        }
        if shape_ok {
            found.insert(text[i..i + len].to_ascii_lowercase());
            i += len;
        } else {
            i += 1;
        }
    }
    found
}

/// The built-in roles the Bicep files may grant, with the name deploy/README.md gives them.
const ALLOWED_ROLES: [(&str, &str); 5] = [
    (
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
    ),
    (
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Storage Blob Data Contributor",
    ),
    (
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        "Storage Blob Data Owner",
    ),
    (
        "3913510d-42f4-4e42-8a64-420c390055eb",
        "Monitoring Metrics Publisher",
    ),
    ("7f951dda-4ed3-4680-a7ca-43fe172d538d", "AcrPull"),
];

#[test]
fn guid_scanner_finds_guids_and_nothing_else() {
    let text = "x 'B86A8FE4-44ce-4948-aee5-eccb2c155cd7' y 0000-1111 \
                ab86a8fe4-44ce-4948-aee5-eccb2c155cd7 \
                ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    let found = guids(text);
    assert_eq!(
        found,
        BTreeSet::from([
            "b86a8fe4-44ce-4948-aee5-eccb2c155cd7".to_string(),
            "ba92f5b4-2d11-453d-a403-e96b0029c9fe".to_string(),
        ]),
        "the one glued to a letter is not a GUID"
    );
}

#[test]
fn host_json_runs_keyrot_serve_as_the_custom_handler() {
    let host = json("deploy/functions/host.json");
    assert_eq!(host["version"], "2.0");
    let handler = &host["customHandler"];
    assert_eq!(handler["description"]["defaultExecutablePath"], "keyrot");
    assert_eq!(
        handler["description"]["arguments"],
        serde_json::json!(["serve", "--config", "keyrot.toml", "--sweep-every", "0"]),
        "the timer function sweeps on Functions, so keyrot's own timer is off"
    );
    // Both functions are Event Grid and timer triggers: the host posts its invocation
    // envelope to /keyrot-events and /keyrot-sweep either way; HTTP proxying is for
    // HTTP-only functions and stays off (deploy/README.md says why).
    for flag in ["enableProxyingHttpRequest", "enableForwardingHttpRequest"] {
        assert!(
            handler.get(flag).is_none() || handler[flag] == false,
            "{flag} must be absent or false"
        );
    }
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert_eq!(host["functionTimeout"], "00:10:00");
    assert!(
        host["logging"]["logLevel"]["default"].is_string(),
        "logging.logLevel.default is set"
    );
}

fn only_binding(rel: &str) -> serde_json::Map<String, Value> {
    let function = json(rel);
    let bindings = function["bindings"]
        .as_array()
        .unwrap_or_else(|| panic!("{rel}: no bindings array"));
    assert_eq!(bindings.len(), 1, "{rel}: exactly one binding, the trigger");
    bindings[0].as_object().unwrap().clone()
}

#[test]
fn keyrot_events_is_an_event_grid_trigger_named_event() {
    let b = only_binding("deploy/functions/keyrot-events/function.json");
    assert_eq!(b["type"], "eventGridTrigger");
    assert_eq!(b["direction"], "in");
    assert_eq!(b["name"], "event");
}

#[test]
fn keyrot_sweep_is_a_timer_every_six_hours_not_on_startup() {
    let b = only_binding("deploy/functions/keyrot-sweep/function.json");
    assert_eq!(b["type"], "timerTrigger");
    assert_eq!(b["direction"], "in");
    assert_eq!(b["name"], "timer");
    assert_eq!(b["schedule"], "0 0 */6 * * *");
    assert_eq!(b["runOnStartup"], false);
}

#[test]
fn the_function_app_has_exactly_the_two_functions_and_the_files_beside_the_binary() {
    let files = files_under("deploy/functions");
    assert_eq!(
        files,
        [
            "deploy/functions/host.json",
            "deploy/functions/keyrot-events/function.json",
            "deploy/functions/keyrot-sweep/function.json",
            "deploy/functions/keyrot.toml",
        ],
        "the zip is these files plus the keyrot binary; the host routes /<folder name>"
    );
}

/// vault name -> credential names, from a Bicep parameters example.
fn vaults_in_parameters(rel: &str) -> BTreeMap<String, BTreeSet<String>> {
    let params = json(rel);
    let vaults = params["parameters"]["vaults"]["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{rel}: no vaults"));
    vaults
        .iter()
        .map(|v| {
            let names = v["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            (v["name"].as_str().unwrap().to_string(), names)
        })
        .collect()
}

#[test]
fn the_example_keyrot_toml_is_valid_and_its_credentials_are_the_ones_event_grid_delivers() {
    let config = keyrot::rotate::config::Config::load(&root().join("deploy/functions/keyrot.toml"))
        .unwrap_or_else(|e| panic!("keyrot refuses the example: {e}"));
    assert!(!config.credentials.is_empty());
    let mut from_toml: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for credential in &config.credentials {
        from_toml
            .entry(credential.vault.clone())
            .or_default()
            .insert(credential.name.clone());
    }
    for rel in [
        "deploy/bicep/functions.parameters.example.json",
        "deploy/bicep/containerapps.parameters.example.json",
    ] {
        assert_eq!(
            vaults_in_parameters(rel),
            from_toml,
            "{rel}: the vaults and secret names must be keyrot.toml's, or Event Grid filters their events out"
        );
    }
}

#[test]
fn bicep_grants_only_the_documented_roles_and_key_vault_only_per_vault() {
    let readme = read("deploy/README.md");
    let allowed: BTreeMap<&str, &str> = ALLOWED_ROLES.into_iter().collect();
    let mut used = BTreeSet::new();
    for file in bicep_files() {
        let text = read(&file);
        for id in guids(&text) {
            assert!(
                allowed.contains_key(id.as_str()),
                "{file}: role definition (or other) id {id} is not one deploy/README.md documents"
            );
            used.insert(id);
        }
        for forbidden in [
            "Application.ReadWrite.All",
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", // Owner
            "b24988ac-6180-42a0-ab88-20f7382dd24c", // Contributor
            "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", // User Access Administrator
            "00482a5a-887f-4fb3-b363-3b7fe8e74483", // Key Vault Administrator
        ] {
            assert!(!text.contains(forbidden), "{file} mentions {forbidden}");
        }
        if text.contains("b86a8fe4-44ce-4948-aee5-eccb2c155cd7") {
            assert!(
                file.ends_with("modules/roles.bicep"),
                "{file}: Key Vault Secrets Officer is granted in modules/roles.bicep only"
            );
            assert!(
                text.contains("scope: vault\n"),
                "{file}: Key Vault Secrets Officer must be scoped to the vault"
            );
        }
    }
    for (id, name) in ALLOWED_ROLES {
        assert!(
            used.contains(id),
            "role {name} ({id}) is documented but no Bicep file grants it"
        );
        assert!(
            readme.lines().any(|l| l.contains(id) && l.contains(name)),
            "deploy/README.md must name {name} and its id {id} on one line"
        );
    }
}

#[test]
fn no_bicep_output_carries_a_secure_parameter() {
    for file in bicep_files() {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        let secure: Vec<String> = lines
            .windows(2)
            .filter(|w| w[0].trim() == "@secure()")
            .filter_map(|w| w[1].trim().strip_prefix("param "))
            .map(|rest| rest.split_whitespace().next().unwrap().to_string())
            .collect();
        for line in lines.iter().filter(|l| l.starts_with("output ")) {
            for name in &secure {
                assert!(
                    !line
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .any(|w| w == name),
                    "{file}: `{line}` outputs the secure param {name}"
                );
            }
        }
        for line in lines.iter().filter(|l| l.starts_with("param ")) {
            let name = line["param ".len()..].split_whitespace().next().unwrap();
            let lower = name.to_ascii_lowercase();
            let looks_secret = lower.ends_with("key")
                || ["secret", "password", "toml"]
                    .iter()
                    .any(|s| lower.contains(s));
            if looks_secret {
                assert!(
                    secure.iter().any(|s| s == name),
                    "{file}: param {name} looks secret and must be @secure()"
                );
            }
        }
    }
}

#[test]
fn functions_bicep_is_flex_consumption_with_the_custom_runtime_and_the_identity() {
    let text = read("deploy/bicep/functions.bicep");
    for needle in [
        "tier: 'FlexConsumption'",
        "name: 'FC1'",
        "functionAppConfig: {",
        "name: 'custom'",
        "type: 'UserAssignedIdentity'",
        "AZURE_CLIENT_ID: identity.properties.clientId",
        "KEYROT_AUTH: 'managed-identity'",
        "AzureWebJobsStorage__credential: 'managedidentity'",
        "endpointType: 'AzureFunction'",
        "/functions/keyrot-events",
        "allowSharedKeyAccess: false",
    ] {
        assert!(text.contains(needle), "functions.bicep lacks {needle:?}");
    }
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("FUNCTIONS_WORKER_RUNTIME")),
        "Flex Consumption refuses the FUNCTIONS_WORKER_RUNTIME app setting"
    );
}

#[test]
fn containerapps_bicep_listens_on_8080_with_health_probes_a_key_and_a_replica() {
    let text = read("deploy/bicep/containerapps.bicep");
    for needle in [
        "external: true",
        "targetPort: 8080",
        "path: '/healthz'",
        "minReplicas: 1",
        "rules: [",
        "@secure()\nparam serveKey string",
        "name: 'KEYROT_SERVE_KEY'",
        "secretRef: 'keyrot-serve-key'",
        "mountPath: '/etc/keyrot'",
        "path: 'keyrot.toml'",
        "name: 'AZURE_CLIENT_ID'",
        "endpointType: 'WebHook'",
        "/events?key=${serveKey}",
    ] {
        assert!(
            text.contains(needle),
            "containerapps.bicep lacks {needle:?}"
        );
    }
}

#[test]
fn event_subscriptions_filter_to_keyrots_secrets_and_dead_letter_to_blob() {
    let text = read("deploy/bicep/modules/eventgrid.bicep");
    for needle in [
        "'Microsoft.KeyVault.SecretNearExpiry'",
        "'Microsoft.KeyVault.SecretExpired'",
        "'Microsoft.KeyVault.SecretNewVersionCreated'",
        "operatorType: 'StringIn'",
        "key: 'subject'",
        "values: credentialNames",
        "maxEventsPerBatch: 1",
        "retryPolicy: {",
        "deadLetterWithResourceIdentity: {",
        "endpointType: 'StorageBlob'",
        "azureActiveDirectoryApplicationIdOrUri: entraAudience",
    ] {
        assert!(
            text.contains(needle),
            "modules/eventgrid.bicep lacks {needle:?}"
        );
    }
    assert_eq!(
        text.matches("maxEventsPerBatch: 1").count(),
        2,
        "one event per delivery on both endpoint types"
    );
    let topic = read("deploy/bicep/modules/systemtopic.bicep");
    assert!(topic.contains("topicType: 'Microsoft.KeyVault.vaults'"));
}

#[test]
fn the_image_runs_keyrot_serve_on_8080() {
    let text = read("deploy/container/Dockerfile");
    let from: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 1, "one stage: {from:?}");
    assert!(
        from[0] == "FROM scratch" || from[0].contains("distroless/static"),
        "a static image: {}",
        from[0]
    );
    assert!(text
        .lines()
        .any(|l| l == r#"ENTRYPOINT ["/keyrot", "serve", "--config", "/etc/keyrot/keyrot.toml"]"#));
    assert!(text.lines().any(|l| l == "EXPOSE 8080"));
    assert!(text
        .lines()
        .any(|l| l == "ENV KEYROT_SERVE_LISTEN=0.0.0.0:8080"));
}

#[test]
fn the_deploy_readme_mentions_every_deployment_file() {
    let readme = read("deploy/README.md");
    let mut files = files_under("deploy");
    files.retain(|f| f != "deploy/README.md");
    files.push("scripts/lint-deploy".into());
    files.push("tests/deploy_files.rs".into());
    for file in files {
        assert!(
            readme.contains(&file),
            "deploy/README.md does not mention {file}"
        );
    }
}
