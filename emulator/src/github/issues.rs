//! Issues of a repository: create and list (what keyrot's `github-issue` notifier needs).

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{error, timestamp, user_json, GithubState};
use crate::http::{Req, Resp};

const DOCS: &str = "https://docs.github.com/rest/issues/issues";

pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    pub author: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    Create(String),
    List(String),
}

impl Op {
    pub fn parse(method: &str, s: &[&str]) -> Option<Op> {
        let ["repos", o, r, "issues"] = s else {
            return None;
        };
        let repo = format!("{o}/{r}").to_ascii_lowercase();
        match method {
            "POST" => Some(Op::Create(repo)),
            "GET" => Some(Op::List(repo)),
            _ => None,
        }
    }

    pub fn route(&self) -> &'static str {
        match self {
            Op::Create(_) => "github.issues.create",
            Op::List(_) => "github.issues.list",
        }
    }
}

#[derive(Deserialize)]
struct CreateBody {
    title: Option<Value>,
    body: Option<String>,
    #[serde(default)]
    labels: Vec<Value>,
}

pub fn handle(gh: &mut GithubState, op: Op, req: &Req, author: &str, api: &str) -> Resp {
    match op {
        Op::Create(repo) => {
            let docs = format!("{DOCS}#create-an-issue");
            let Some(r) = gh.repositories.get_mut(&repo) else {
                return error(404, "Not Found", &docs);
            };
            let Ok(body) = serde_json::from_slice::<CreateBody>(&req.body) else {
                return error(400, "Problems parsing JSON", &docs);
            };
            let title = match body.title {
                Some(Value::String(t)) if !t.is_empty() => t,
                Some(Value::Number(n)) => n.to_string(),
                _ => return error(422, "Invalid request.\n\n\"title\" wasn't supplied.", &docs),
            };
            let labels = body
                .labels
                .iter()
                .filter_map(|l| match l {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect();
            let number = r.issues.len() as u64 + 1;
            r.issues.push(Issue {
                number,
                title,
                body: body.body,
                labels,
                author: author.to_owned(),
                created_at: super::now(),
            });
            let full = r.full_name.clone();
            let issue = r.issues.last().map(|i| issue_json(&full, i, api));
            Resp::json(201, &issue)
                .header("Location", format!("{api}/repos/{full}/issues/{number}"))
        }
        Op::List(repo) => {
            let Some(r) = gh.repositories.get(&repo) else {
                return error(404, "Not Found", DOCS);
            };
            let state = req.query("state").unwrap_or("open");
            let list: Vec<Value> = if state == "closed" {
                Vec::new()
            } else {
                r.issues
                    .iter()
                    .rev()
                    .map(|i| issue_json(&r.full_name, i, api))
                    .collect()
            };
            Resp::json(200, &list)
        }
    }
}

fn issue_json(full: &str, i: &Issue, api: &str) -> Value {
    json!({
        "id": 1_000_000 + i.number,
        "node_id": format!("I_kwDO{}", i.number),
        "number": i.number,
        "title": i.title,
        "body": i.body,
        "state": "open",
        "locked": false,
        "comments": 0,
        "labels": i.labels.iter().map(|l| json!({"name": l, "color": "ededed", "default": false})).collect::<Vec<_>>(),
        "assignees": [],
        "user": user_json(&i.author, api),
        "url": format!("{api}/repos/{full}/issues/{}", i.number),
        "repository_url": format!("{api}/repos/{full}"),
        "html_url": format!("{}/{full}/issues/{}", super::WEB, i.number),
        "created_at": timestamp(i.created_at),
        "updated_at": timestamp(i.created_at),
        "closed_at": null,
        "author_association": "OWNER",
    })
}
