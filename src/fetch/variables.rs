//! The names values are exported under, and the names they must never take.
//!
//! Anyone who can add a secret to a vault chooses its name, and a name becomes an environment
//! variable of every later step: a secret called `bash-env` would become `BASH_ENV`, which bash
//! runs before each script. So every name keyrot exports under is checked here, whatever the
//! destination (`$GITHUB_ENV`, step outputs, Azure variables, env files, JSON), against the
//! shape of a portable variable name and a denylist of names that change how later steps, their
//! shells, loaders, interpreters or the runner itself behave.
//!
//! Names are compared without regard to case everywhere: Windows and the Azure Pipelines agent
//! (which upper-cases a variable's name when it becomes an environment variable) do, and a
//! lower-case `path` refused on Linux costs nothing but a rename.

/// Names that must never be exported, compared case-insensitively. An entry ending in `*` is a
/// prefix.
pub const DENIED: &[&str] = &[
    // Shells: startup files, functions, parsing and tracing.
    "BASH_ENV",
    "ENV",
    "BASH_FUNC_*",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "PS4",
    "PROMPT_COMMAND",
    "CDPATH",
    "GLOBIGNORE",
    "ZDOTDIR",
    "HOME",
    "SHELL",
    "PATH",
    // Dynamic loaders.
    "LD_*",
    "DYLD_*",
    // Interpreters and runtimes that load code or options from the environment.
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "DOTNET_STARTUP_HOOKS",
    "CORECLR_*",
    "COR_*",
    // Git runs these programs, or takes configuration from these.
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EXEC_PATH",
    "GIT_PROXY_COMMAND",
    "GIT_EXTERNAL_DIFF",
    "GIT_CONFIG*",
    // Where later steps send traffic and whom they trust.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    // Windows: how commands are found and run.
    "PATHEXT",
    "COMSPEC",
    "PSMODULEPATH",
    "SYSTEMROOT",
    "WINDIR",
    // GitHub Actions: the runner's and actions' own variables.
    "GITHUB_*",
    "RUNNER_*",
    "ACTIONS_*",
    "INPUT_*",
    "STATE_*",
    "CI",
    // Azure Pipelines: the agent's predefined variables.
    "TF_BUILD",
    "SYSTEM_*",
    "AGENT_*",
    "BUILD_*",
    "RELEASE_*",
    "PIPELINE_*",
    "ENDPOINT_*",
    // keyrot's own configuration, read by keyrot steps later in the job.
    "KEYROT_*",
];

/// The environment variable a secret becomes unless renamed: `db-password` → `DB_PASSWORD`
/// (upper case, `-` → `_`), the shape `azure/get-keyvault-secrets` and most dotenv users expect.
pub fn env_name(secret: &str) -> String {
    secret
        .chars()
        .map(|c| match c {
            '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Why `name` cannot be an exported environment variable (GitHub env and outputs, env files,
/// JSON), or `None` if it can: it must be `[A-Za-z_][A-Za-z0-9_]*` and not denied.
pub fn env_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let shape_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !shape_ok {
        return Some(
            "it is not a portable variable name (a letter or _, then letters, digits and _)".into(),
        );
    }
    denied_by(name).map(denied_message)
}

/// Why `name` cannot be an Azure Pipelines variable, or `None` if it can. Unrenamed variables
/// keep the secret's own name (`db-password`, as `AzureKeyVault@2` names them), so hyphens are
/// allowed; the agent turns a variable into an environment variable by upper-casing it and
/// replacing `.` and spaces with `_`, and that form is what the denylist judges.
pub fn azure_problem(name: &str) -> Option<String> {
    let shape_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !shape_ok {
        return Some("it is not a usable variable name (letters, digits, _ and - only)".into());
    }
    denied_by(&name.replace(['.', ' '], "_")).map(denied_message)
}

fn denied_message(rule: &str) -> String {
    format!(
        "{rule} changes how later steps, their shells or the runner behave, so keyrot never exports it"
    )
}

/// The denylist entry that refuses `name`, if any.
pub fn denied_by(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    DENIED
        .iter()
        .copied()
        .find(|rule| match rule.strip_suffix('*') {
            Some(prefix) => upper.starts_with(prefix),
            None => upper == *rule,
        })
}

/// A variable name to suggest instead of a refused one: `MY_` and the name with anything
/// unusable replaced by `_` (`BASH_ENV` → `MY_BASH_ENV`).
pub fn suggestion(refused: &str) -> String {
    let cleaned: String = refused
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("MY_{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_become_upper_case_variables() {
        assert_eq!(env_name("db-password"), "DB_PASSWORD");
        assert_eq!(env_name("Api-Key-2"), "API_KEY_2");
    }

    #[test]
    fn the_issues_names_are_all_refused_in_any_case() {
        for name in [
            "BASH_ENV",
            "bash_env",
            "ENV",
            "BASH_FUNC_x%%",
            "LD_PRELOAD",
            "ld_library_path",
            "DYLD_INSERT_LIBRARIES",
            "PATH",
            "Path",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "RUBYOPT",
            "JAVA_TOOL_OPTIONS",
            "IFS",
            "PS4",
            "PROMPT_COMMAND",
            "HOME",
            "SHELL",
            "GITHUB_TOKEN",
            "GITHUB_ENV",
            "RUNNER_TEMP",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "INPUT_ARGS",
            "CI",
            "PATHEXT",
            "ComSpec",
            "SYSTEM_ACCESSTOKEN",
            "KEYROT_CA_CERT",
        ] {
            assert!(denied_by(name).is_some(), "{name} must be denied");
        }
        for name in [
            "DB_PASSWORD",
            "API_KEY",
            "PATHS",
            "MY_BASH_ENV",
            "CIRCLE",
            "ENVIRONMENT",
        ] {
            assert_eq!(denied_by(name), None, "{name} is harmless");
        }
    }

    #[test]
    fn env_names_have_the_portable_shape() {
        assert_eq!(env_problem("DB_PASSWORD"), None);
        assert_eq!(env_problem("_x1"), None);
        for bad in ["", "1PASS", "A-B", "A B", "A=B", "A\nB", "É", "A$"] {
            assert!(env_problem(bad).is_some(), "{bad:?}");
        }
        assert!(env_problem("BASH_ENV").unwrap().contains("BASH_ENV"));
        assert!(env_problem("LD_PRELOAD").unwrap().contains("LD_*"));
    }

    #[test]
    fn azure_names_are_judged_as_the_agent_exports_them() {
        assert_eq!(azure_problem("db-password"), None);
        // The agent keeps hyphens, so bash-env becomes BASH-ENV: harmless.
        assert_eq!(azure_problem("bash-env"), None);
        assert!(azure_problem("path").is_some());
        assert!(azure_problem("Home").is_some());
        assert!(azure_problem("ci").is_some());
        for bad in ["", "a;b", "a]b", "a.b", "a b", "a\nb"] {
            assert!(azure_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn suggestions_are_themselves_acceptable() {
        for refused in ["BASH_ENV", "1PASS", "PATH", "LD_PRELOAD", "a-b.c"] {
            let suggested = suggestion(refused);
            assert_eq!(env_problem(&suggested), None, "{refused} → {suggested}");
            assert_eq!(azure_problem(&suggested), None, "{refused} → {suggested}");
        }
        assert_eq!(suggestion("BASH_ENV"), "MY_BASH_ENV");
    }
}
