//! `[[credential.propagate]]` targets on Azure: `app-service-settings-refresh`,
//! `logic-app-parameter` and `key-vault-secret`, read as written, and every error with its
//! `file:line:col`.

use super::tests::{error, parse};
use super::*;
use crate::arm::resource_id::ResourceId;
use crate::vault::VaultUrl;

const SUB: &str = "5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f";

fn site_id() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/orders-api")
}

fn workflow_id() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders-flow"
    )
}

/// One credential (`db-password` in `myvault`) with `section` after it; the section's first
/// line is line 7.
fn with(section: &str) -> String {
    format!(
        "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"db-password\"\n\
         generator = \"random\"\n{section}\n"
    )
}

fn expect_errors<S: AsRef<str>>(cases: &[(S, &str, &[&str])]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(section, at, words)| {
            let e = error(&with(section.as_ref()));
            let ok = e.starts_with(&format!("keyrot.toml:{at}: "))
                && words.iter().all(|w| e.contains(w))
                && !e.contains('\n');
            (!ok).then(|| format!("expected {at} {words:?}, got {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_three_targets_are_read_as_written() {
    let text = with(&format!(
        r#"
  [[credential.propagate]]
  to = "app-service-settings-refresh"
  site = "{site}"

  [[credential.propagate]]
  to = "logic-app-parameter"
  workflow = "{workflow}"
  parameter = "dbPassword"

  [[credential.propagate]]
  to = "key-vault-secret"
  vault = "https://dr-vault.vault.azure.net/"

  [[credential.propagate]]
  to = "key-vault-secret"
  vault = "myvault"
  secret = "db-password-copy"
"#,
        site = site_id(),
        workflow = workflow_id()
    ));
    let config = parse(&text).unwrap();
    let targets = &config.credentials[0].propagate;
    let myvault = VaultUrl::parse("myvault").unwrap();
    assert_eq!(
        targets,
        &vec![
            PropagateTarget::AppServiceRefresh {
                site: ResourceId::parse(&site_id()).unwrap(),
                vault: myvault.clone(),
                secret: "db-password".into(),
            },
            PropagateTarget::LogicAppParameter {
                workflow: ResourceId::parse(&workflow_id()).unwrap(),
                parameter: "dbPassword".into(),
            },
            PropagateTarget::KeyVaultSecret {
                vault: VaultUrl::parse("https://dr-vault.vault.azure.net").unwrap(),
                secret: "db-password".into(),
            },
            PropagateTarget::KeyVaultSecret {
                vault: myvault,
                secret: "db-password-copy".into(),
            },
        ]
    );
    let kinds: Vec<&str> = targets.iter().map(PropagateTarget::kind).collect();
    assert_eq!(
        kinds,
        [
            "app-service-settings-refresh",
            "logic-app-parameter",
            "key-vault-secret",
            "key-vault-secret"
        ]
    );
    let shown: Vec<String> = targets.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "Key Vault references of App Service site orders-api",
            "parameter dbPassword of Logic App workflow orders-flow",
            "secret db-password of vault https://dr-vault.vault.azure.net",
            "secret db-password-copy of vault https://myvault.vault.azure.net",
        ]
    );
}

#[test]
fn identities_tell_copies_apart_as_the_services_compare_names() {
    let site = |id: &str, secret: &str| PropagateTarget::AppServiceRefresh {
        site: ResourceId::parse(id).unwrap(),
        vault: VaultUrl::parse("myvault").unwrap(),
        secret: secret.into(),
    };
    // ARM ids compare case-insensitively; one site refreshed for two credentials is two
    // targets.
    assert_eq!(
        site(&site_id(), "a").identity(),
        site(
            &site_id()
                .to_uppercase()
                .replace("MICROSOFT.WEB", "Microsoft.Web"),
            "A"
        )
        .identity()
    );
    assert_ne!(
        site(&site_id(), "a").identity(),
        site(&site_id(), "b").identity()
    );
    let logic = |p: &str| PropagateTarget::LogicAppParameter {
        workflow: ResourceId::parse(&workflow_id()).unwrap(),
        parameter: p.into(),
    };
    assert_ne!(logic("key").identity(), logic("Key").identity());
    let kv = |v: &str, s: &str| PropagateTarget::KeyVaultSecret {
        vault: VaultUrl::parse(v).unwrap(),
        secret: s.into(),
    };
    assert_eq!(
        kv("other", "S").identity(),
        kv("https://OTHER.vault.azure.net", "s").identity()
    );
    assert_ne!(kv("other", "s").identity(), kv("other2", "s").identity());
}

#[test]
fn the_same_copy_twice_is_refused() {
    let copy = "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"other\"";
    expect_errors(&[(
        format!("{copy}\n\n[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"OTHER\"\nsecret = \"DB-PASSWORD\""),
        "11:1",
        &["already written by credential \"db-password\" (line 7)"],
    )]);
}

#[test]
fn errors_name_the_key_the_line_and_the_fix() {
    let site = site_id();
    let workflow = workflow_id();
    let cases: Vec<(String, &str, &[&str])> = vec![
        (
            "[[credential.propagate]]\nto = \"app-service-refresh\"".into(),
            "8:6",
            &["unknown to", "\"app-service-settings-refresh\"", "\"logic-app-parameter\"", "\"key-vault-secret\""],
        ),
        (
            "[[credential.propagate]]\nsite = \"x\"".into(),
            "7:1",
            &["no to", "\"key-vault-secret\""],
        ),
        (
            "[[credential.propagate]]\nto = \"app-service-settings-refresh\"".into(),
            "7:1",
            &["no site", "Microsoft.Web/sites/{site}"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"app-service-settings-refresh\"\nsite = \"{site}\"\nparameter = \"p\""),
            "10:13",
            &["parameter does not apply", "app-service-settings-refresh", "takes site"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"app-service-settings-refresh\"\nsite = \"{workflow}\""),
            "9:8",
            &["site:", "Logic App workflow orders-flow, not an App Service site", "Microsoft.Web/sites/{site}"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"app-service-settings-refresh\"\nsite = \"{site}/slots/staging\""),
            "9:8",
            &["site:", "deployment slot", "name the site itself"],
        ),
        (
            "[[credential.propagate]]\nto = \"app-service-settings-refresh\"\nsite = \"orders-api\"".into(),
            "9:8",
            &["site:", "must start with `/`", "Microsoft.Web/sites/{site}"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"logic-app-parameter\"\nworkflow = \"{workflow}\""),
            "7:1",
            &["no parameter", "workflow parameter"],
        ),
        (
            "[[credential.propagate]]\nto = \"logic-app-parameter\"\nparameter = \"p\"".into(),
            "7:1",
            &["no workflow", "Microsoft.Logic/workflows/{workflow}"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"logic-app-parameter\"\nworkflow = \"{site}\"\nparameter = \"p\""),
            "9:12",
            &["workflow:", "App Service site orders-api, not a Logic App workflow"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"logic-app-parameter\"\nworkflow = \"{workflow}\"\nparameter = \" \""),
            "10:13",
            &["parameter \" \" is not a workflow parameter name"],
        ),
        (
            format!("[[credential.propagate]]\nto = \"logic-app-parameter\"\nworkflow = \"{workflow}\"\nparameter = \"p\"\nvault = \"other\""),
            "11:9",
            &["vault does not apply", "logic-app-parameter", "takes workflow, parameter"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nsecret = \"copy\"".into(),
            "7:1",
            &["no vault", "https URL"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"no\"".into(),
            "9:9",
            &["vault:", "invalid vault name"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"http://other.vault.azure.net\"".into(),
            "9:9",
            &["vault:", "only reachable over https"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"other\"\nsecret = \"bad_name\"".into(),
            "10:10",
            &["invalid secret name"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"other\"\nsecret = \"keyrot-lock-x\"".into(),
            "10:10",
            &["reserved"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"https://myvault.vault.azure.net\"".into(),
            "9:9",
            &["the credential itself", "another vault"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"MyVault\"\nsecret = \"DB-Password\"".into(),
            "10:10",
            &["the credential itself"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"other\"\nrepository = \"a/b\"".into(),
            "10:14",
            &["repository does not apply", "key-vault-secret", "takes vault, secret"],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\nrepository = \"a/b\"\nsecret = \"S\"\nvault = \"other\"".into(),
            "11:9",
            &["vault does not apply", "github-secret"],
        ),
        (
            "[[credential.propagate]]\nto = \"key-vault-secret\"\nvault = \"other\"\nsecrets = \"x\"".into(),
            "10:1",
            &["unknown field `secrets`"],
        ),
    ];
    expect_errors(&cases);
}
