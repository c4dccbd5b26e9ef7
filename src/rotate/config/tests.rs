//! The parser's tests: every accepted shape and every error with its position.

use std::collections::BTreeMap;

use time::Duration;

use super::*;

const FULL: &str = r#"
[defaults]
vault = "myvault"
rotate_within = "30d"
validity = "90d"
grace = "7d"
verify_timeout = "5m"
content_type = "text/plain"

[[credential]]
name = "db-password"
generator = "random"
length = 40
charset = "alphanumeric"
template = "sk_live_{random}"
verify_command = ["./check-db.sh", "--quick"]
verify_env = ["DB_HOST"]
tags = { owner = "team-a" }

[[credential]]
name = "billing-api-client-secret"
generator = "entra-app-password"
application = "0A1B2C3D-0000-0000-0000-00000000000F"
validity = "180d"
remove_foreign = false
"#;

pub(super) fn parse(text: &str) -> Result<Config, String> {
    Config::from_toml_str(text, "keyrot.toml")
}

pub(super) fn error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e,
    }
}

/// A minimal valid file with `extra` added to its only credential.
fn one(extra: &str) -> String {
    format!(
        "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"db-password\"\n\
         generator = \"random\"\n{extra}\n"
    )
}

fn entra(extra: &str) -> String {
    format!(
        "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"app-secret\"\n\
         generator = \"entra-app-password\"\n\
         application = \"00000000-0000-0000-0000-000000000001\"\n{extra}\n"
    )
}

#[test]
fn full_example_is_read_with_defaults_applied() {
    let config = parse(FULL).unwrap();
    assert_eq!(config.credentials.len(), 2);

    let db = &config.credentials[0];
    assert_eq!(db.name, "db-password");
    assert_eq!(db.vault, "myvault");
    assert_eq!(db.rotate_within, Duration::days(30));
    assert_eq!(db.validity, Duration::days(90));
    assert_eq!(db.grace, Duration::days(7));
    assert_eq!(db.verify_timeout, std::time::Duration::from_secs(300));
    assert_eq!(db.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        db.tags,
        BTreeMap::from([("owner".to_string(), "team-a".to_string())])
    );
    assert_eq!(
        db.generator,
        Generator::Random(RandomSpec {
            length: 40,
            charset: Charset::Alphanumeric,
            template: Some("sk_live_{random}".into()),
            verify_command: Some(vec!["./check-db.sh".into(), "--quick".into()]),
            verify_env: vec!["DB_HOST".into()],
        })
    );
    assert_eq!(db.generator.name(), "random");

    let billing = &config.credentials[1];
    assert_eq!(billing.name, "billing-api-client-secret");
    assert_eq!(billing.vault, "myvault");
    assert_eq!(billing.validity, Duration::days(180));
    assert_eq!(billing.rotate_within, Duration::days(30));
    assert_eq!(billing.content_type.as_deref(), Some("text/plain"));
    assert!(billing.tags.is_empty());
    assert_eq!(
        billing.generator,
        Generator::EntraAppPassword {
            application: "0a1b2c3d-0000-0000-0000-00000000000f".into(),
            remove_foreign: false,
        }
    );
    assert_eq!(config.apps(), vec!["0a1b2c3d-0000-0000-0000-00000000000f"]);
}

#[test]
fn built_in_defaults_apply_when_nothing_is_set() {
    let config = parse(
        "[[credential]]\nname = \"a\"\ngenerator = \"random\"\n\
         vault = \"https://other.vault.azure.net\"\n",
    )
    .unwrap();
    let spec = &config.credentials[0];
    assert_eq!(spec.vault, "https://other.vault.azure.net");
    assert_eq!(spec.rotate_within, Duration::days(30));
    assert_eq!(spec.validity, Duration::days(90));
    assert_eq!(spec.grace, Duration::days(7));
    assert_eq!(spec.verify_timeout, std::time::Duration::from_secs(300));
    assert_eq!(spec.content_type, None);
    assert_eq!(
        spec.generator,
        Generator::Random(RandomSpec {
            length: DEFAULT_LENGTH,
            charset: Charset::Alphanumeric,
            template: None,
            verify_command: None,
            verify_env: Vec::new(),
        })
    );
}

#[test]
fn every_default_can_be_overridden_per_credential() {
    let config = parse(
        r#"
[defaults]
vault = "myvault"
rotate_within = "30d"
validity = "90d"
grace = "7d"
verify_timeout = "5m"
content_type = "text/plain"

[[credential]]
name = "a"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-000000000001"
vault = "othervault"
rotate_within = "12h"
validity = 2
grace = "90m"
verify_timeout = "45s"
content_type = "application/x-password"

[[credential]]
name = "b"
generator = "random"
"#,
    )
    .unwrap();
    let a = &config.credentials[0];
    assert_eq!(a.vault, "othervault");
    assert_eq!(a.rotate_within, Duration::hours(12));
    assert_eq!(a.validity, Duration::days(2));
    assert_eq!(a.grace, Duration::minutes(90));
    assert_eq!(a.verify_timeout, std::time::Duration::from_secs(45));
    assert_eq!(a.content_type.as_deref(), Some("application/x-password"));
    // The second credential still gets the defaults.
    let b = &config.credentials[1];
    assert_eq!(b.vault, "myvault");
    assert_eq!(b.rotate_within, Duration::days(30));
    assert_eq!(b.validity, Duration::days(90));
    assert_eq!(b.grace, Duration::days(7));
    assert_eq!(b.verify_timeout, std::time::Duration::from_secs(300));
    assert_eq!(b.content_type.as_deref(), Some("text/plain"));
}

#[test]
fn charsets_and_lengths_are_read() {
    for charset in Charset::ALL {
        let config = parse(&one(&format!("charset = \"{charset}\"\nlength = 16"))).unwrap();
        let Generator::Random(spec) = &config.credentials[0].generator else {
            panic!("not random");
        };
        assert_eq!(spec.charset, charset);
        assert_eq!(spec.length, 16);
    }
    let config = parse(&one("length = 1024")).unwrap();
    assert!(matches!(
        &config.credentials[0].generator,
        Generator::Random(RandomSpec { length: 1024, .. })
    ));
}

#[test]
fn alphabets_have_the_documented_symbols() {
    let expected = [
        (Charset::Alphanumeric, 62),
        (Charset::Base64Url, 64),
        (Charset::Hex, 16),
        (Charset::AsciiPrintable, 94),
    ];
    for (charset, size) in expected {
        let alphabet = charset.alphabet();
        assert_eq!(alphabet.len(), size, "{charset}");
        let mut sorted = alphabet.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), size, "{charset} has duplicates");
        assert!(alphabet.iter().all(|b| (0x21..=0x7e).contains(b)));
    }
    assert!(Charset::Base64Url.alphabet().ends_with(b"-_"));
    assert_eq!(Charset::AsciiPrintable.alphabet()[0], b'!');
    assert_eq!(Charset::AsciiPrintable.alphabet()[93], b'~');
}

#[test]
fn apps_are_deduplicated_in_file_order() {
    let config = parse(
        r#"
[defaults]
vault = "myvault"
[[credential]]
name = "one"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-00000000000b"
[[credential]]
name = "two"
generator = "random"
[[credential]]
name = "three"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-00000000000a"
[[credential]]
name = "four"
generator = "entra-app-password"
application = "00000000-0000-0000-0000-00000000000B"
"#,
    )
    .unwrap();
    assert_eq!(
        config.apps(),
        vec![
            "00000000-0000-0000-0000-00000000000b",
            "00000000-0000-0000-0000-00000000000a"
        ]
    );
}

#[test]
fn unknown_keys_name_the_key_and_its_line() {
    // Line 7 (after the leading newline of the literal, `lenght` is on line 7).
    let e = error(&one("lenght = 40"));
    assert!(e.starts_with("keyrot.toml:7:1: "), "{e}");
    assert!(e.contains("lenght"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");

    let e = error("[defaults]\nvault = \"v1\"\nvalidty = \"90d\"\n");
    assert!(e.starts_with("keyrot.toml:3:1: "), "{e}");
    assert!(e.contains("validty"), "{e}");

    let e = error(&format!("{}\n[consumers]\nx = 1\n", one("")));
    assert!(e.contains(":9:"), "{e}");
    assert!(e.contains("consumers"), "{e}");

    // Later sections are not accepted yet.
    let e = error(&one("notify = [\"team-a@example.com\"]"));
    assert!(e.starts_with("keyrot.toml:7:1: "), "{e}");
    assert!(e.contains("notify"), "{e}");
}

#[test]
fn toml_errors_are_one_line_and_name_the_key() {
    let e = error(&one("name = \"again\""));
    assert_eq!(e, "keyrot.toml:7:1: duplicate key `name`");
    let e = error("[defaults]\nvault = \"myvault\"\n[credential]\nname = \"a\"\n");
    assert!(e.starts_with("keyrot.toml:3:1: "), "{e}");
    assert!(
        e.contains("write [[credential]] with double brackets"),
        "{e}"
    );
    let e = error("defaults = 1\n");
    assert!(e.contains("expected a [defaults] table"), "{e}");
    let e = error(&one("length = 1.5"));
    assert!(e.starts_with("keyrot.toml:7:10: "), "{e}");
    assert!(e.contains("expected a whole number"), "{e}");
    let e = error(&one("length = "));
    assert!(e.starts_with("keyrot.toml:7:"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn type_errors_name_the_line() {
    let e = error(&one("length = \"forty\""));
    assert!(e.starts_with("keyrot.toml:7:"), "{e}");
    let e = error(&one("validity = true"));
    assert!(e.starts_with("keyrot.toml:7:"), "{e}");
    assert!(e.contains("a duration such as"), "{e}");
}

#[test]
fn bad_durations_name_the_credential_and_line() {
    let e = error(&one("validity = \"90x\""));
    assert!(
        e.starts_with(
            "keyrot.toml:7:12: credential \"db-password\": validity: invalid duration \"90x\""
        ),
        "{e}"
    );
    let e = error("[defaults]\nvault = \"myvault\"\ngrace = \"1w\"\n[[credential]]\nname = \"a\"\ngenerator = \"random\"\n");
    assert!(
        e.starts_with("keyrot.toml:3:9: [defaults]: grace: invalid duration \"1w\""),
        "{e}"
    );
    let e = error(&one("validity = -5"));
    assert!(e.contains("must not be negative"), "{e}");
    let e = error(&one("validity = \"0d\""));
    assert!(e.contains("validity must be longer than 0"), "{e}");
    let e = error(&one("rotate_within = 0"));
    assert!(e.contains("rotate_within must be longer than 0"), "{e}");
    let e = error(&entra("verify_timeout = \"0s\""));
    assert!(e.contains("verify_timeout must be longer than 0"), "{e}");
    let e = error(&one("validity = \"36501d\""));
    assert!(e.contains("too long"), "{e}");
    // Zero grace is allowed: no overlap.
    assert_eq!(
        parse(&one("grace = \"0d\"")).unwrap().credentials[0].grace,
        Duration::ZERO
    );
}

#[test]
fn windows_that_cannot_work_are_refused_with_the_reason() {
    let e = error(&one("rotate_within = \"90d\""));
    assert!(
        e.starts_with("keyrot.toml:4:1: credential \"db-password\": "),
        "{e}"
    );
    assert!(
        e.contains("rotate_within (90 days, line 7) must be shorter than validity (90 days, keyrot's default)"),
        "{e}"
    );
    assert!(e.contains("every run would rotate it again"), "{e}");

    let e = error(
        "[defaults]\nvault = \"v1v\"\nvalidity = \"20d\"\n[[credential]]\nname = \"a\"\n\
         generator = \"random\"\n",
    );
    assert!(
        e.contains("rotate_within (30 days, keyrot's default) must be shorter than validity (20 days, [defaults] line 3)"),
        "{e}"
    );

    let e = error(&one("grace = \"61d\""));
    assert!(
        e.contains("grace (61 days, line 7) plus rotate_within (30 days, keyrot's default) must not exceed validity (90 days, keyrot's default)"),
        "{e}"
    );
    let e = error(&one(
        "grace = \"100d\"\nvalidity = \"30d\"\nrotate_within = \"1d\"",
    ));
    assert!(e.contains("leaving three generations enabled"), "{e}");
    // The boundary fits.
    assert!(parse(&one("grace = \"60d\"")).is_ok());
}

#[test]
fn missing_vault_name_and_generator_are_errors() {
    let e = error("[[credential]]\nname = \"db-password\"\ngenerator = \"random\"\n");
    assert!(
        e.starts_with(
            "keyrot.toml:1:1: credential \"db-password\": no vault: set vault in [defaults]"
        ),
        "{e}"
    );
    let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\ngenerator = \"random\"\n");
    assert!(e.contains("credential #1: no name"), "{e}");
    let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\n");
    assert!(e.contains("credential \"x\": no generator"), "{e}");
    assert!(
        e.contains("\"random\", \"entra-app-password\" or a resource key generator"),
        "{e}"
    );
}

#[test]
fn bad_vaults_are_errors() {
    let e = error(&one("vault = \"http://x.vault.azure.net\""));
    assert!(
        e.starts_with("keyrot.toml:7:9: credential \"db-password\": vault: "),
        "{e}"
    );
    assert!(e.contains("https"), "{e}");
    let e =
        error("[defaults]\nvault = \"a\"\n[[credential]]\nname = \"x\"\ngenerator = \"random\"\n");
    assert!(
        e.starts_with("keyrot.toml:2:9: [defaults]: vault: invalid vault name"),
        "{e}"
    );
}

#[test]
fn unknown_generator_and_charset_are_errors() {
    let e = error(
        "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\ngenerator = \"uuid\"\n",
    );
    assert!(
        e.starts_with("keyrot.toml:5:13: credential \"x\": unknown generator \"uuid\": use \"random\", \"entra-app-password\", \"storage-account-key\""),
        "{e}"
    );
    let e = error(&one("charset = \"base64\""));
    assert!(
        e.contains("credential \"db-password\": unknown charset \"base64\": use \"alphanumeric\", \"base64url\", \"hex\", \"ascii-printable\""),
        "{e}"
    );
}

#[test]
fn keys_of_the_other_generator_are_errors() {
    let e = error(&entra("length = 40"));
    assert!(
        e.starts_with("keyrot.toml:8:10: credential \"app-secret\": length applies only to generator = \"random\""),
        "{e}"
    );
    for key in [
        "charset = \"hex\"",
        "template = \"x{random}\"",
        "verify_command = [\"x\"]",
    ] {
        let e = error(&entra(key));
        assert!(
            e.contains("applies only to generator = \"random\""),
            "{key}: {e}"
        );
    }
    let e = error(&one(
        "application = \"00000000-0000-0000-0000-000000000001\"",
    ));
    assert!(
        e.starts_with("keyrot.toml:7:15: credential \"db-password\": application applies only to generator = \"entra-app-password\""),
        "{e}"
    );
    let e = error(&one("remove_foreign = true"));
    assert!(e.contains("remove_foreign applies only to"), "{e}");
    let e = error(&one("verify_timeout = \"1m\""));
    assert!(
        e.contains("verify_timeout has no effect without verify_command"),
        "{e}"
    );
    assert!(parse(&one("verify_timeout = \"1m\"\nverify_command = [\"./v\"]")).is_ok());
}

#[test]
fn applications_must_be_guids() {
    let e = error(
        "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\n\
         generator = \"entra-app-password\"\napplication = \"billing-api\"\n",
    );
    assert!(
        e.starts_with(
            "keyrot.toml:6:15: credential \"x\": application \"billing-api\" is not a GUID"
        ),
        "{e}"
    );
    for bad in [
        "00000000-0000-0000-0000-00000000000",
        "00000000000000000000000000000000",
        "{00000000-0000-0000-0000-000000000000}",
        "0000000g-0000-0000-0000-000000000000",
        "",
    ] {
        let text = format!(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\n\
             generator = \"entra-app-password\"\napplication = \"{bad}\"\n"
        );
        assert!(error(&text).contains("is not a GUID"), "{bad}");
    }
    let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"x\"\ngenerator = \"entra-app-password\"\n");
    assert!(e.contains("credential \"x\": no application"), "{e}");
}

#[test]
fn duplicate_secrets_are_errors_case_insensitively_across_vault_spellings() {
    let e = error(
        r#"[defaults]
vault = "myvault"
[[credential]]
name = "db-password"
generator = "random"
[[credential]]
name = "DB-Password"
generator = "random"
vault = "https://MyVault.vault.azure.net/"
"#,
    );
    assert!(
        e.starts_with("keyrot.toml:6:1: credential \"DB-Password\": same secret as credential \"db-password\" (line 3)"),
        "{e}"
    );
    // The same name in another vault is another secret.
    assert!(parse(
        "[[credential]]\nname = \"a\"\ngenerator = \"random\"\nvault = \"vault-one\"\n\
         [[credential]]\nname = \"a\"\ngenerator = \"random\"\nvault = \"vault-two\"\n"
    )
    .is_ok());
}

#[test]
fn remove_foreign_is_refused_on_a_shared_application() {
    let shared = |flag: &str| {
        format!(
            "[defaults]\nvault = \"myvault\"\n\
             [[credential]]\nname = \"a\"\ngenerator = \"entra-app-password\"\n\
             application = \"00000000-0000-0000-0000-000000000001\"\n\
             [[credential]]\nname = \"b\"\ngenerator = \"entra-app-password\"\n\
             application = \"00000000-0000-0000-0000-000000000001\"\n{flag}\n"
        )
    };
    let e = error(&shared("remove_foreign = true"));
    assert!(
        e.starts_with("keyrot.toml:11:18: credential \"b\": remove_foreign = true, but application 00000000-0000-0000-0000-000000000001 also has credential \"a\""),
        "{e}"
    );
    let config = parse(&shared("remove_foreign = false")).unwrap();
    assert_eq!(config.apps().len(), 1);
    let config = parse(&entra("remove_foreign = true")).unwrap();
    assert!(matches!(
        config.credentials[0].generator,
        Generator::EntraAppPassword {
            remove_foreign: true,
            ..
        }
    ));
}

#[test]
fn lengths_out_of_range_are_errors() {
    for bad in ["15", "1025", "0", "-1"] {
        let e = error(&one(&format!("length = {bad}")));
        assert!(
            e.starts_with(&format!(
                "keyrot.toml:7:10: credential \"db-password\": length {bad} is out of range: use 16 to 1024"
            )),
            "{e}"
        );
    }
}

#[test]
fn templates_need_exactly_one_placeholder() {
    for bad in ["sk_live_", "{random}{random}", "sk_{RANDOM}"] {
        let e = error(&one(&format!("template = \"{bad}\"")));
        assert!(
            e.starts_with("keyrot.toml:7:12: credential \"db-password\": template must contain {random} exactly once"),
            "{bad}: {e}"
        );
    }
    let e = error(&one("template = \"{env}_{random}\""));
    assert!(e.contains("unknown placeholder {env}"), "{e}");
    // Literal braces that are not a {word} are fine (a JSON template).
    let config = parse(&one(r#"template = '{"password":"{random}"}'"#)).unwrap();
    assert!(matches!(
        &config.credentials[0].generator,
        Generator::Random(RandomSpec { template: Some(t), .. }) if t == r#"{"password":"{random}"}"#
    ));
}

#[test]
fn verify_commands_must_name_a_program() {
    let e = error(&one("verify_command = []"));
    assert!(
        e.starts_with("keyrot.toml:7:18: credential \"db-password\": verify_command is empty"),
        "{e}"
    );
    let e = error(&one("verify_command = [\"\", \"x\"]"));
    assert!(e.contains("first element must name the program"), "{e}");
}

#[test]
fn secret_names_follow_key_vault_rules() {
    let long = "a".repeat(128);
    for bad in ["", "db_password", "db.password", "dé", long.as_str()] {
        let text = format!(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"{bad}\"\ngenerator = \"random\"\n"
        );
        let e = error(&text);
        assert!(e.starts_with("keyrot.toml:4:8: credential "), "{bad}: {e}");
        assert!(e.contains("invalid secret name"), "{bad}: {e}");
    }
    let ok = "a".repeat(127);
    assert!(parse(&format!(
        "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"{ok}\"\ngenerator = \"random\"\n"
    ))
    .is_ok());
}

#[test]
fn names_of_keyrots_own_lock_and_journal_secrets_are_refused() {
    for bad in ["keyrot-journal-x", "KeyRot-Lock-db", "keyrot-lock-"] {
        let text = format!(
            "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"{bad}\"\ngenerator = \"random\"\n"
        );
        let e = error(&text);
        assert!(e.starts_with("keyrot.toml:4:8: credential "), "{bad}: {e}");
        assert!(
            e.contains("reserved for keyrot's own lock and journal"),
            "{bad}: {e}"
        );
    }
    // Other names starting with keyrot are the user's.
    assert!(parse(
        "[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"keyrot-journalist\"\ngenerator = \"random\"\n"
    )
    .is_ok());
}

#[test]
fn verify_env_names_plain_variables_and_never_keyrots_credentials() {
    let with = |env: &str| one(&format!("verify_command = [\"./v\"]\nverify_env = {env}"));
    let config = parse(&with(r#"["DB_HOST", "db_port"]"#)).unwrap();
    let Generator::Random(random) = &config.credentials[0].generator else {
        panic!("random")
    };
    assert_eq!(random.verify_env, ["DB_HOST", "db_port"]);
    for (bad, why) in [
        ("AZURE_CLIENT_SECRET", "keyrot's own credentials"),
        ("keyrot_config", "keyrot's own credentials"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "keyrot's own credentials"),
        ("SYSTEM_ACCESSTOKEN", "keyrot's own credentials"),
        ("IDENTITY_HEADER", "keyrot's own credentials"),
        ("DB HOST", "not an environment variable name"),
        ("1X", "not an environment variable name"),
    ] {
        let e = error(&with(&format!("[\"{bad}\"]")));
        assert!(e.contains(why), "{bad}: {e}");
        assert!(e.contains(":"), "{e}");
    }
    let e = error(&one("verify_env = [\"DB_HOST\"]"));
    assert!(
        e.contains("verify_env has no effect without verify_command"),
        "{e}"
    );
    let e = error(&entra("verify_env = [\"DB_HOST\"]"));
    assert!(e.contains("verify_env applies only to generator"), "{e}");
}

#[test]
fn a_duration_with_a_line_break_is_a_one_line_error() {
    // Found by fuzzing (fuzz/src/targets.rs, `config`).
    let e = error(&one("rotate_within = \"\"\"\n30d\n::error::x\"\"\""));
    assert!(!e.contains('\n'), "{e:?}");
    assert!(e.starts_with("keyrot.toml:"), "{e}");
    // TOML drops the line break right after the opening quotes.
    assert!(
        e.contains("rotate_within: invalid duration \"30d\\n::error::x\""),
        "{e}"
    );
}

#[test]
fn an_excerpt_with_control_characters_is_not_quoted_into_the_error() {
    // Found by fuzzing: a CR inside a bad string was quoted into the message, breaking
    // the line there.
    let e = error(&one("content_type = \"a\r\u{11}\0b\""));
    assert!(!e.contains(|c: char| c.is_control()), "{e:?}");
    assert!(e.starts_with("keyrot.toml:7:"), "{e}");
}

#[test]
fn a_bare_verify_timeout_needs_a_unit() {
    for bare in ["\"30\"", "30"] {
        let e = error(&one(&format!(
            "verify_command = [\"./v\"]\nverify_timeout = {bare}"
        )));
        assert!(e.contains("give a unit: 30s, 5m"), "{e}");
        assert!(e.starts_with("keyrot.toml:"), "{e}");
    }
}

#[test]
fn content_type_and_tags_are_checked() {
    let e = error(&one("content_type = \"\""));
    assert!(
        e.contains("credential \"db-password\": content_type is empty"),
        "{e}"
    );
    let e = error(&one("tags = { keyrot-rotation = \"x\" }"));
    assert!(
        e.starts_with("keyrot.toml:7:8: credential \"db-password\": tag \"keyrot-rotation\""),
        "{e}"
    );
    assert!(e.contains("reserved"), "{e}");
    let e = error(&one("tags = { KeyRot = \"x\" }"));
    assert!(e.contains("reserved"), "{e}");
    let many: Vec<String> = (0..16).map(|i| format!("t{i} = \"v\"")).collect();
    let e = error(&one(&format!("tags = {{ {} }}", many.join(", "))));
    assert!(e.contains("16 tags: Key Vault allows at most 15"), "{e}");
    let e = error(&one(&format!("tags = {{ a = \"{}\" }}", "v".repeat(257))));
    assert!(e.contains("value is longer"), "{e}");
    let e = error(&one("tags = { a = 1 }"));
    assert!(e.starts_with("keyrot.toml:7:"), "{e}");
}

#[test]
fn a_plan_without_credentials_is_an_error() {
    let e = error("[defaults]\nvault = \"myvault\"\n");
    assert!(e.starts_with("keyrot.toml: no [[credential]]"), "{e}");
    let e = error("");
    assert!(e.starts_with("keyrot.toml: no [[credential]]"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn load_names_the_path_and_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("keyrot.toml");
    let e = Config::load(&missing).unwrap_err();
    assert!(e.starts_with(&missing.display().to_string()), "{e}");
    assert!(e.contains("--config") && e.contains("KEYROT_CONFIG"), "{e}");

    let e = Config::load(dir.path()).unwrap_err();
    assert!(e.starts_with(&dir.path().display().to_string()), "{e}");

    std::fs::write(&missing, one("lenght = 3")).unwrap();
    let e = Config::load(&missing).unwrap_err();
    assert!(
        e.starts_with(&format!("{}:7:1: ", missing.display())),
        "{e}"
    );

    std::fs::write(&missing, FULL).unwrap();
    assert_eq!(Config::load(&missing).unwrap(), parse(FULL).unwrap());
}

#[test]
fn on_new_version_is_sync_or_ignore() {
    assert!(!parse(&one("")).unwrap().credentials[0].sync_on_new_version);
    assert!(
        !parse(&one("on_new_version = \"ignore\""))
            .unwrap()
            .credentials[0]
            .sync_on_new_version
    );
    assert!(
        parse(&one("on_new_version = \"sync\""))
            .unwrap()
            .credentials[0]
            .sync_on_new_version
    );
    let bad = error(&one("on_new_version = \"rotate\""));
    assert!(bad.starts_with("keyrot.toml:"), "{bad}");
    assert!(bad.contains("unknown on_new_version \"rotate\""), "{bad}");
    assert!(bad.contains("\"sync\""), "{bad}");
}
