//! `[[credential.propagate]]`, `[[credential.trigger]]` and `[[notify]]`: the issue's example
//! read as written, and every error with its `file:line:col`.

use std::collections::BTreeMap;

use url::Url;

use super::tests::{error, parse};
use super::*;

/// Issue 10 §1's example, verbatim (with a vault, which every credential needs).
const ISSUE_EXAMPLE: &str = r#"[defaults]
vault = "myvault"

[[credential]]
name = "billing-api-client-secret"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-000000000000"

  [[credential.propagate]]
  to = "azure-devops-variable-group"
  organization = "contoso"            # or https://dev.azure.com/contoso
  project = "payments"
  group = "billing-prod"              # name or numeric id
  variable = "BILLING_CLIENT_SECRET"

  [[credential.propagate]]
  to = "github-secret"
  repository = "contoso/billing"      # or organization = "contoso" with visibility = "all" | "private" | "selected"
  environment = "production"          # optional: an environment secret
  secret = "BILLING_CLIENT_SECRET"

  [[credential.trigger]]
  to = "azure-devops-pipeline"        # YAML pipelines: a new run
  organization = "contoso"
  project = "payments"
  pipeline = "billing-deploy"         # name or id
  branch = "main"
  parameters = { reason = "credential-rotation" }   # runtime parameters, optional

  [[credential.trigger]]
  to = "azure-devops-release"         # classic release pipelines: a new release of the definition
  organization = "contoso"
  project = "payments"
  definition = "billing-cd"           # name or id

  [[credential.trigger]]
  to = "github-workflow"
  repository = "contoso/billing"
  workflow = "deploy.yml"
  ref = "main"
  inputs = { reason = "credential-rotation" }

[[notify]]
to = "teams"                          # teams | slack | webhook | github-issue
url_env = "KEYROT_TEAMS_WEBHOOK_URL"  # webhook URLs are secrets: named by environment variable, never written in the file
events = ["expiring", "rotated", "failed"]

[[notify]]
to = "webhook"
url_env = "KEYROT_WEBHOOK_URL"
secret_env = "KEYROT_WEBHOOK_SECRET"  # Standard Webhooks signing secret (whsec_…)
"#;

/// One credential with `section` (TOML tables) after it; line 7 is the section's first line.
fn with(section: &str) -> String {
    format!(
        "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"db-password\"\n\
         generator = \"random\"\n{section}\n"
    )
}

/// Each section (after one credential) fails at `line:col` with a one-line message holding
/// every word; all mismatches are listed at once.
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

fn assert_error(text: &str, at: &str, words: &[&str]) {
    let e = error(text);
    assert!(e.starts_with(&format!("keyrot.toml:{at}: ")), "{e}");
    for word in words {
        assert!(e.contains(word), "{e:?} lacks {word:?}");
    }
    assert!(!e.contains('\n'), "one line: {e:?}");
}

#[test]
fn the_issue_example_is_read_as_written() {
    let config = parse(ISSUE_EXAMPLE).unwrap();
    let credential = &config.credentials[0];
    let contoso = DevOpsOrganization {
        name: "contoso".into(),
        other_origin: None,
    };
    let billing = Repository {
        owner: "contoso".into(),
        name: "billing".into(),
    };
    let reason: BTreeMap<String, String> =
        [("reason".to_owned(), "credential-rotation".to_owned())].into();
    assert_eq!(
        credential.propagate,
        vec![
            PropagateTarget::VariableGroup {
                organization: contoso.clone(),
                project: "payments".into(),
                group: NameOrId::Name("billing-prod".into()),
                variable: "BILLING_CLIENT_SECRET".into(),
            },
            PropagateTarget::GithubSecret {
                scope: GithubSecretScope::Repository {
                    repository: billing.clone(),
                    environment: Some("production".into()),
                },
                secret: "BILLING_CLIENT_SECRET".into(),
            },
        ]
    );
    assert_eq!(
        credential.triggers,
        vec![
            TriggerTarget::Pipeline {
                organization: contoso.clone(),
                project: "payments".into(),
                pipeline: NameOrId::Name("billing-deploy".into()),
                branch: Some("main".into()),
                parameters: reason.clone(),
            },
            TriggerTarget::Release {
                organization: contoso,
                project: "payments".into(),
                definition: NameOrId::Name("billing-cd".into()),
            },
            TriggerTarget::Workflow {
                repository: billing,
                workflow: NameOrId::Name("deploy.yml".into()),
                git_ref: "main".into(),
                inputs: reason,
            },
        ]
    );
    assert_eq!(
        config.notify,
        vec![
            NotifySpec {
                target: NotifyTarget::Teams {
                    url_env: "KEYROT_TEAMS_WEBHOOK_URL".into()
                },
                events: NotifyEvent::ALL.to_vec(),
            },
            NotifySpec {
                target: NotifyTarget::Webhook {
                    url_env: "KEYROT_WEBHOOK_URL".into(),
                    secret_env: "KEYROT_WEBHOOK_SECRET".into(),
                },
                events: NotifyEvent::ALL.to_vec(),
            },
        ]
    );
}

#[test]
fn organizations_are_normalised_to_their_name() {
    for written in [
        "contoso",
        "https://dev.azure.com/contoso",
        "https://dev.azure.com/contoso/",
    ] {
        let config = parse(&with(&format!(
            "[[credential.trigger]]\nto = \"azure-devops-release\"\norganization = \"{written}\"\n\
             project = \"payments\"\ndefinition = 7"
        )))
        .unwrap();
        let TriggerTarget::Release {
            organization,
            definition,
            ..
        } = &config.credentials[0].triggers[0]
        else {
            panic!("a release")
        };
        assert_eq!(organization.name, "contoso", "{written}");
        assert_eq!(organization.other_origin, None, "{written}");
        assert_eq!(*definition, NameOrId::Id(7));
        assert_eq!(
            organization.base_url(None).unwrap().as_str(),
            "https://dev.azure.com/contoso"
        );
        let emulator = Url::parse("https://devops.localhost:8443").unwrap();
        assert_eq!(
            organization.base_url(Some(&emulator)).unwrap().as_str(),
            "https://devops.localhost:8443/contoso"
        );
        assert_eq!(
            organization.release_url(None).unwrap().as_str(),
            "https://vsrm.dev.azure.com/contoso"
        );
        assert_eq!(
            organization.release_url(Some(&emulator)).unwrap().as_str(),
            "https://vsrm.devops.localhost:8443/contoso"
        );
    }
}

#[test]
fn another_host_is_kept_for_keyrot_azure_devops_url_to_vouch_for() {
    let config = parse(&with(
        "[[credential.trigger]]\nto = \"azure-devops-release\"\n\
         organization = \"https://devops.localhost:8443/contoso\"\nproject = \"p\"\ndefinition = \"cd\"",
    ))
    .unwrap();
    let TriggerTarget::Release { organization, .. } = &config.credentials[0].triggers[0] else {
        panic!("a release")
    };
    assert_eq!(
        organization.other_origin.as_deref(),
        Some("https://devops.localhost:8443")
    );
    // Without KEYROT_AZURE_DEVOPS_URL naming that origin, the organization is refused.
    let e = organization.base_url(None).unwrap_err();
    assert!(e.contains("KEYROT_AZURE_DEVOPS_URL"), "{e}");
    let other = Url::parse("https://evil.localhost:8443").unwrap();
    assert!(organization.base_url(Some(&other)).is_err());
    let same = Url::parse("https://devops.localhost:8443").unwrap();
    assert_eq!(
        organization.base_url(Some(&same)).unwrap().as_str(),
        "https://devops.localhost:8443/contoso"
    );
    assert_eq!(
        organization.release_url(Some(&same)).unwrap().as_str(),
        "https://vsrm.devops.localhost:8443/contoso"
    );
}

#[test]
fn organization_secrets_take_a_visibility() {
    let config = parse(&with(
        "[[credential.propagate]]\nto = \"github-secret\"\norganization = \"contoso\"\n\
         visibility = \"selected\"\nrepositories = [\"billing\", 42]\nsecret = \"S\"",
    ))
    .unwrap();
    assert_eq!(
        config.credentials[0].propagate[0],
        PropagateTarget::GithubSecret {
            scope: GithubSecretScope::Organization {
                organization: "contoso".into(),
                visibility: Visibility::Selected(vec![
                    NameOrId::Name("billing".into()),
                    NameOrId::Id(42)
                ]),
            },
            secret: "S".into(),
        }
    );
}

#[test]
fn notify_channels_read_their_keys() {
    let config = parse(&with(
        "[[notify]]\nto = \"slack\"\nurl_env = \"SLACK_URL\"\nevents = [\"failed\"]\n\n\
         [[notify]]\nto = \"github-issue\"\nrepository = \"contoso/ops\"\nlabels = [\"keyrot\"]",
    ))
    .unwrap();
    assert_eq!(
        config.notify[0],
        NotifySpec {
            target: NotifyTarget::Slack {
                url_env: "SLACK_URL".into()
            },
            events: vec![NotifyEvent::Failed],
        }
    );
    assert_eq!(
        config.notify[1].target,
        NotifyTarget::GithubIssue {
            repository: Repository {
                owner: "contoso".into(),
                name: "ops".into()
            },
            labels: vec!["keyrot".into()],
        }
    );
}

const GROUP: &str = "to = \"azure-devops-variable-group\"\norganization = \"contoso\"\n\
                     project = \"payments\"\ngroup = \"billing-prod\"\nvariable = \"SECRET\"";

#[test]
fn propagate_errors_name_their_place_and_the_fix() {
    // Line 7 is the first line of the section; line 8 its first key.
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[[credential.propagate]]\nto = \"github-secret\"\nrepo = \"a/b\"",
            "9:1",
            &["unknown field `repo`", "expected one of `to`"],
        ),
        (
            "[[credential.propagate]]\norganization = \"contoso\"",
            "7:1",
            &["propagate #1: no to", "azure-devops-variable-group"],
        ),
        (
            "[[credential.propagate]]\nto = \"azure-devops-varible-group\"",
            "8:6",
            &["unknown to", "\"azure-devops-variable-group\""],
        ),
        (
            "[[credential.propagate]]\nto = \"azure-devops-variable-group\"\norganization = \"contoso\"\nproject = \"p\"\nvariable = \"V\"",
            "7:1",
            &["no group", "name or numeric id"],
        ),
        (
            &format!("[[credential.propagate]]\n{GROUP}\nsecret = \"S\""),
            "13:10",
            &["secret does not apply", "azure-devops-variable-group", "organization, project, group, variable"],
        ),
        (
            "[[credential.propagate]]\nto = \"azure-devops-variable-group\"\norganization = \"https://example.com/a/b\"\nproject = \"p\"\ngroup = 1\nvariable = \"V\"",
            "9:16",
            &["organization", "https://dev.azure.com/<organization>"],
        ),
        (
            "[[credential.propagate]]\nto = \"azure-devops-variable-group\"\norganization = \"con toso\"\nproject = \"p\"\ngroup = 1\nvariable = \"V\"",
            "9:16",
            &["not an organization name"],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\nrepository = \"billing\"\nsecret = \"S\"",
            "9:14",
            &["not owner/name", "contoso/billing"],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\nrepository = \"a/b\"\nsecret = \"GITHUB_TOKEN\"",
            "10:10",
            &["reserves"],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\nsecret = \"S\"",
            "7:1",
            &["no repository", "organization"],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\norganization = \"contoso\"\nsecret = \"S\"",
            "9:16",
            &["no visibility", "\"selected\""],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\norganization = \"contoso\"\nvisibility = \"selected\"\nsecret = \"S\"",
            "10:14",
            &["needs repositories"],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\norganization = \"contoso\"\nvisibility = \"public\"\nsecret = \"S\"",
            "10:14",
            &["unknown visibility", "\"private\""],
        ),
        (
            "[[credential.propagate]]\nto = \"github-secret\"\norganization = \"contoso\"\nvisibility = \"all\"\nenvironment = \"prod\"\nsecret = \"S\"",
            "11:15",
            &["environment belongs to a repository"],
        ),
        (
            &format!("[[credential.propagate]]\n{GROUP}\n\n[[credential.propagate]]\n{GROUP}"),
            "14:1",
            &["already written by credential \"db-password\" (line 7)"],
        ),
    ];
    expect_errors(cases);
}

#[test]
fn the_same_copy_written_by_two_credentials_is_refused() {
    let text = format!(
        "{}\n[[credential]]\nname = \"other\"\ngenerator = \"random\"\n\n\
         [[credential.propagate]]\n{}",
        with(&format!("[[credential.propagate]]\n{GROUP}")),
        GROUP.replace("SECRET", "secret")
    );
    assert_error(
        &text,
        "18:1",
        &[
            "credential \"other\"",
            "credential \"db-password\" (line 7)",
        ],
    );
}

#[test]
fn trigger_errors_name_their_place_and_the_fix() {
    let workflow = "to = \"github-workflow\"\nrepository = \"a/b\"";
    let cases: &[(String, &str, &[&str])] = &[
        (
            format!("[[credential.trigger]]\n{workflow}\nref = \"main\""),
            "7:1",
            &["trigger #1: no workflow", "deploy.yml"],
        ),
        (
            format!("[[credential.trigger]]\n{workflow}\nworkflow = \"deploy.yml\""),
            "7:1",
            &["no ref", "\"main\""],
        ),
        (
            format!("[[credential.trigger]]\n{workflow}\nworkflow = \"deploy\"\nref = \"main\""),
            "10:12",
            &["not a workflow file name"],
        ),
        (
            format!("[[credential.trigger]]\n{workflow}\nworkflow = 3\nref = \"a..b\""),
            "11:7",
            &["not a branch or tag name"],
        ),
        (
            format!("[[credential.trigger]]\n{workflow}\nworkflow = 3\nref = \"main\"\nbranch = \"main\""),
            "12:10",
            &["branch does not apply", "github-workflow", "repository, workflow, ref, inputs"],
        ),
        (
            format!("[[credential.trigger]]\n{workflow}\nworkflow = 3\nref = \"main\"\ninputs = {{ \"a b\" = \"x\" }}"),
            "12:10",
            &["inputs has the name \"a b\""],
        ),
        (
            format!("[[credential.trigger]]\n{workflow}\nworkflow = 3\nref = \"main\"\ninputs = {{ n = 1 }}"),
            "12:16",
            &["invalid type"],
        ),
        (
            "[[credential.trigger]]\nto = \"azure-devops-pipeline\"\norganization = \"contoso\"\npipeline = \"deploy\"".into(),
            "7:1",
            &["no project"],
        ),
        (
            "[[credential.trigger]]\nto = \"azure-devops-release\"\norganization = \"contoso\"\nproject = \"p\"\ndefinition = 0".into(),
            "11:14",
            &["ids start at 1"],
        ),
        (
            "[[credential.trigger]]\nto = \"azure-devops-release\"\norganization = \"contoso\"\nproject = \"p/q\"\ndefinition = 1".into(),
            "10:11",
            &["not an Azure DevOps project name"],
        ),
        (
            "[[credential.trigger]]\nto = \"github-workflow\"\nrepository = \"a/b\"\nworkflow = 1\nref = \"main\"\n\n\
             [[credential.trigger]]\nto = \"github-workflow\"\nrepository = \"a/b\"\nworkflow = 1\nref = \"main\"".into(),
            "13:1",
            &["trigger #2 starts the same run as trigger #1"],
        ),
    ];
    expect_errors(cases);
}

#[test]
fn notify_errors_name_their_place_and_the_fix() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[[notify]]\nto = \"teams\"\nurl = \"https://x.webhook.office.com/abc\"",
            "9:7",
            &["[[notify]] #1: url", "is a secret", "url_env"],
        ),
        (
            "[[notify]]\nto = \"teams\"\nurl_env = \"https://x.webhook.office.com/abc\"",
            "9:11",
            &["must name an environment variable", "is a secret"],
        ),
        (
            "[[notify]]\nto = \"webhook\"\nurl_env = \"U\"\nsecret = \"whsec_abc\"",
            "10:10",
            &["secret_env"],
        ),
        (
            "[[notify]]\nto = \"webhook\"\nurl_env = \"U\"",
            "7:1",
            &["no secret_env", "whsec_"],
        ),
        (
            "[[notify]]\nto = \"teams\"",
            "7:1",
            &["no url_env"],
        ),
        (
            "[[notify]]\nto = \"email\"\nurl_env = \"U\"",
            "8:6",
            &["unknown to", "\"github-issue\""],
        ),
        (
            "[[notify]]\nto = \"slack\"\nurl_env = \"U\"\nevents = [\"rotated\", \"expired\"]",
            "10:10",
            &["unknown event \"expired\"", "\"expiring\""],
        ),
        (
            "[[notify]]\nto = \"slack\"\nurl_env = \"U\"\nevents = []",
            "10:10",
            &["events is empty"],
        ),
        (
            "[[notify]]\nto = \"slack\"\nurl_env = \"U\"\nrepository = \"a/b\"",
            "10:14",
            &["repository does not apply", "slack"],
        ),
        (
            "[[notify]]\nto = \"github-issue\"\nurl_env = \"U\"",
            "9:11",
            &["url_env does not apply", "github-issue"],
        ),
        (
            "[[notify]]\nto = \"github-issue\"",
            "7:1",
            &["no repository"],
        ),
        (
            "[[notify]]\nto = \"slack\"\nurl_env = \"U\"\nchannel = \"#ops\"",
            "10:1",
            &["unknown field `channel`", "`url_env`"],
        ),
        (
            "[[notify]]\nto = \"slack\"\nurl_env = \"U\"\n\n[[notify]]\nto = \"teams\"\nurl_env = \"U\"",
            "11:1",
            &["[[notify]] #2", "line 7", "twice"],
        ),
    ];
    expect_errors(cases);
}

/// The README's example of these sections reads as written (given a vault).
#[test]
fn the_readme_example_is_read_as_written() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("#### Copies, runs and notifications")
        .nth(1)
        .expect("the README's section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("its toml block");
    let config = parse(&format!("[defaults]\nvault = \"myvault\"\n\n{block}")).unwrap();
    let credential = &config.credentials[0];
    assert_eq!(
        credential
            .propagate
            .iter()
            .map(|p| p.kind())
            .collect::<Vec<_>>(),
        [
            "azure-devops-variable-group",
            "github-secret",
            "app-service-settings-refresh",
            "logic-app-parameter",
            "key-vault-secret"
        ]
    );
    assert_eq!(credential.triggers.len(), 3);
    assert_eq!(
        config
            .notify
            .iter()
            .map(|n| n.target.kind())
            .collect::<Vec<_>>(),
        ["teams", "webhook", "github-issue"]
    );
}
