//! Which GitHub credential keyrot uses, and where the GitHub API is.
//!
//! Order (the first one configured wins, as for Azure, so a broken App setup is reported
//! rather than silently replaced by a weaker token):
//! 1. a GitHub App: `KEYROT_GITHUB_APP_ID` with `KEYROT_GITHUB_APP_PRIVATE_KEY` (PEM) or
//!    `KEYROT_GITHUB_APP_PRIVATE_KEY_FILE`; keyrot then asks for an installation token for the
//!    repository's or organization's installation;
//! 2. `GITHUB_TOKEN` (a workflow's own token cannot write secrets: GitHub answers 403
//!    "Resource not accessible by integration");
//! 3. `GH_TOKEN` (the GitHub CLI's name).
//!
//! The API base is `GITHUB_API_URL` (runners set it; GitHub Enterprise Server's is
//! `https://HOST/api/v3`), else `https://api.github.com`.

use std::path::PathBuf;

use super::AuthEnv;
use crate::model::SecretValue;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where the GitHub API is and who keyrot is there.
#[derive(Debug)]
pub struct GithubAuth {
    pub api_url: url::Url,
    pub credential: GithubCredential,
}

#[derive(Debug)]
pub enum GithubCredential {
    App {
        app_id: u64,
        private_key: AppKey,
    },
    /// A token sent as is; `variable` names where it came from (for messages).
    Token {
        token: SecretValue,
        variable: &'static str,
    },
}

/// A GitHub App's RSA private key (PEM), given inline or as a file.
#[derive(Debug)]
pub enum AppKey {
    Pem(SecretValue),
    File(PathBuf),
}

impl GithubAuth {
    /// The choice, from the environment; `Err` says what is missing or malformed and how to
    /// fix it (a configuration error: exit 2).
    pub fn from_env(env: &AuthEnv) -> Result<GithubAuth, String> {
        let api_url = match env.get("GITHUB_API_URL") {
            None => url::Url::parse(DEFAULT_API_URL).map_err(|e| e.to_string())?,
            Some(raw) => parse_api_url(raw)?,
        };
        let credential = if let Some(id) = env.get("KEYROT_GITHUB_APP_ID") {
            let app_id = id.trim().parse::<u64>().map_err(|_| {
                "KEYROT_GITHUB_APP_ID must be the GitHub App's numeric id (its settings page shows \"App ID\")".to_string()
            })?;
            let private_key = match (
                env.get("KEYROT_GITHUB_APP_PRIVATE_KEY"),
                env.get("KEYROT_GITHUB_APP_PRIVATE_KEY_FILE"),
            ) {
                (Some(pem), None) => AppKey::Pem(SecretValue::new(pem.to_owned())),
                (None, Some(path)) => AppKey::File(PathBuf::from(path)),
                (Some(_), Some(_)) => {
                    return Err("set only one of KEYROT_GITHUB_APP_PRIVATE_KEY and KEYROT_GITHUB_APP_PRIVATE_KEY_FILE".into())
                }
                (None, None) => {
                    return Err("KEYROT_GITHUB_APP_ID is set but the App's private key is not: set KEYROT_GITHUB_APP_PRIVATE_KEY (the PEM) or KEYROT_GITHUB_APP_PRIVATE_KEY_FILE (its path)".into())
                }
            };
            GithubCredential::App {
                app_id,
                private_key,
            }
        } else if let Some((variable, token)) = ["GITHUB_TOKEN", "GH_TOKEN"]
            .into_iter()
            .find_map(|v| env.get(v).map(|t| (v, t)))
        {
            GithubCredential::Token {
                token: SecretValue::new(token.trim().to_owned()),
                variable,
            }
        } else {
            return Err("no GitHub credential: set KEYROT_GITHUB_APP_ID with KEYROT_GITHUB_APP_PRIVATE_KEY or KEYROT_GITHUB_APP_PRIVATE_KEY_FILE (a GitHub App), or GITHUB_TOKEN or GH_TOKEN (a fine-grained token with Secrets or Environments write)".into());
        };
        Ok(GithubAuth {
            api_url,
            credential,
        })
    }

    /// Which credential this is, without any secret (for messages).
    pub fn describe(&self) -> String {
        match &self.credential {
            GithubCredential::App { app_id, .. } => format!("GitHub App {app_id}"),
            GithubCredential::Token { variable, .. } => format!("the token in {variable}"),
        }
    }
}

/// `GITHUB_API_URL`: an absolute https URL without credentials, query or fragment (tokens are
/// sent to this origin only; plain http is accepted for loopback hosts alone).
fn parse_api_url(raw: &str) -> Result<url::Url, String> {
    // The value is not echoed: a URL with user info would carry a credential into the message.
    let bad = |why: &str| {
        format!("GITHUB_API_URL {why}; expected e.g. https://api.github.com or https://github.example.com/api/v3")
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    let loopback = matches!(url.host_str(), Some(h) if h == "localhost" || h.ends_with(".localhost") || h == "127.0.0.1" || h == "[::1]");
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(bad("is not https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("carries credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_comes_first_then_github_token_then_gh_token() {
        let env = AuthEnv::from_pairs([
            ("KEYROT_GITHUB_APP_ID", "12345"),
            ("KEYROT_GITHUB_APP_PRIVATE_KEY_FILE", "/k.pem"),
            ("GITHUB_TOKEN", "ghs_x"),
        ]);
        let auth = GithubAuth::from_env(&env).unwrap();
        assert!(matches!(
            auth.credential,
            GithubCredential::App {
                app_id: 12345,
                private_key: AppKey::File(_)
            }
        ));
        assert_eq!(auth.api_url.as_str(), "https://api.github.com/");
        let env = AuthEnv::from_pairs([("GH_TOKEN", "b"), ("GITHUB_TOKEN", "a")]);
        let auth = GithubAuth::from_env(&env).unwrap();
        assert_eq!(auth.describe(), "the token in GITHUB_TOKEN");
        let env = AuthEnv::from_pairs([("GH_TOKEN", "b"), ("GITHUB_TOKEN", " ")]);
        assert_eq!(
            GithubAuth::from_env(&env).unwrap().describe(),
            "the token in GH_TOKEN"
        );
    }

    #[test]
    fn mistakes_are_named_without_values() {
        let e = GithubAuth::from_env(&AuthEnv::from_pairs([("KEYROT_GITHUB_APP_ID", "7")]))
            .unwrap_err();
        assert!(e.contains("KEYROT_GITHUB_APP_PRIVATE_KEY"), "{e}");
        let e = GithubAuth::from_env(&AuthEnv::from_pairs([
            ("KEYROT_GITHUB_APP_ID", "my-app"),
            ("KEYROT_GITHUB_APP_PRIVATE_KEY", "pem-planted-value"),
        ]))
        .unwrap_err();
        assert!(
            e.contains("numeric") && !e.contains("pem-planted-value"),
            "{e}"
        );
        let e = GithubAuth::from_env(&AuthEnv::default()).unwrap_err();
        assert!(
            e.contains("GITHUB_TOKEN") && e.contains("KEYROT_GITHUB_APP_ID"),
            "{e}"
        );
        for bad in [
            "http://api.github.com",
            "https://u:p4ss@ghe.example/api/v3",
            "not a url",
        ] {
            let env = AuthEnv::from_pairs([("GITHUB_API_URL", bad), ("GITHUB_TOKEN", "t")]);
            let e = GithubAuth::from_env(&env).unwrap_err();
            assert!(!e.contains("p4ss"), "{e}");
        }
        let env = AuthEnv::from_pairs([
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
            ("GITHUB_TOKEN", "t"),
        ]);
        assert_eq!(
            GithubAuth::from_env(&env).unwrap().api_url.as_str(),
            "https://ghe.example.com/api/v3"
        );
    }
}
