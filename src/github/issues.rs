//! Issues: what the `github-issue` notifier delivers through.

use serde::Deserialize;

use super::{repo_path, GithubClient, GithubError};
use crate::ci::inert;

const ISSUES_WRITE: &str = "repository permission \"Issues: write\" (fine-grained token or GitHub App) or the `repo` scope (classic token)";

/// An issue GitHub created.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueLink {
    pub number: u64,
    pub html_url: String,
}

impl GithubClient {
    /// `POST /repos/{owner}/{repo}/issues`.
    pub async fn create_issue(
        &self,
        repository: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<IssueLink, GithubError> {
        let route = format!("/repos/{}/issues", repo_path(repository)?);
        let what = format!("repository {}", inert::one_line(repository));
        let doing = format!("opening an issue in {what}");
        let request = serde_json::json!({"title": title, "body": body, "labels": labels});
        self.client_for_repo(repository, ISSUES_WRITE)
            .await?
            .post(route, Some(&request))
            .await
            .map_err(|e| GithubError::from_github(e, &doing, &what, ISSUES_WRITE))
    }
}
