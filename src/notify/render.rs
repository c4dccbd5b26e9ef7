//! The formats: a Teams Adaptive Card envelope, a Slack Block Kit message, a Standard Webhooks
//! JSON payload and a GitHub issue's title and Markdown body.
//!
//! Outside text (names, targets, error messages) can never become a link, a mention, an image
//! or formatting: Teams gets it in `TextRun`s (which Adaptive Cards never read as Markdown),
//! Slack in `plain_text` objects (never read as mrkdwn, so `<!channel>` and `<url|text>` stay
//! text), GitHub inside code spans (no Markdown, HTML, mention or autolink inside one). The
//! only links are the run URLs the services gave keyrot, as card actions, Slack buttons, or
//! Markdown links whose text is a code span. Every body is passed through [`inert::json`] so
//! that no pipeline command survives even if the body is logged.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::lines::{document, Document, Line};
use super::message::Notification;
use crate::ci::inert;

/// The Teams Workflows envelope around one Adaptive Card (notes §4.1).
pub fn teams(notification: &Notification) -> Vec<u8> {
    let doc = document(notification);
    let mut body = vec![json!({
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": doc.headline, "weight": "Bolder", "size": "Medium"}],
    })];
    for line in &doc.lines {
        let mut inlines = Vec::new();
        if line.nested {
            inlines.push(json!({"type": "TextRun", "text": "    • "}));
        }
        for span in &line.spans {
            let mut run = json!({"type": "TextRun", "text": span.text});
            if span.strong {
                run["weight"] = json!("Bolder");
            }
            inlines.push(run);
        }
        let mut block = json!({"type": "RichTextBlock", "inlines": inlines});
        if line.nested {
            block["spacing"] = json!("None");
        }
        body.push(block);
    }
    let actions: Vec<Value> = doc
        .links
        .iter()
        .map(|link| {
            json!({"type": "Action.OpenUrl", "title": format!("Open run: {}", link.label), "url": link.url.as_str()})
        })
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    to_body(&json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    }))
}

/// Slack's limits: a section's text, a header's text, a button's text, blocks per message,
/// elements per actions block.
const SLACK_SECTION: usize = 3000;
const SLACK_HEADER: usize = 150;
const SLACK_BUTTON: usize = 75;
const SLACK_BLOCKS: usize = 50;
const SLACK_ACTIONS: usize = 25;

/// An incoming-webhook message: `text` (the notification's fallback: the headline, which has
/// no outside text) and `blocks`.
pub fn slack(notification: &Notification) -> Vec<u8> {
    let doc = document(notification);
    let plain = |text: &str| json!({"type": "plain_text", "text": text, "emoji": false});
    let mut blocks =
        vec![json!({"type": "header", "text": plain(&cut(&doc.headline, SLACK_HEADER))})];
    let mut section = String::new();
    let mut sections = Vec::new();
    for line in &doc.lines {
        let text = plain_line(line);
        if !section.is_empty() && section.chars().count() + text.chars().count() + 1 > SLACK_SECTION
        {
            sections.push(std::mem::take(&mut section));
        }
        if !section.is_empty() {
            section.push('\n');
        }
        section.push_str(&cut(&text, SLACK_SECTION));
    }
    if !section.is_empty() {
        sections.push(section);
    }
    let room = SLACK_BLOCKS - 1 - usize::from(!doc.links.is_empty());
    let omitted = sections.len().saturating_sub(room);
    for text in sections.into_iter().take(room) {
        blocks.push(json!({"type": "section", "text": plain(&text)}));
    }
    if omitted > 0 {
        let last = blocks.len() - 1;
        blocks[last] = json!({"type": "section", "text": plain(&format!("… and {omitted} more parts; see the run's report"))});
    }
    let buttons: Vec<Value> = doc
        .links
        .iter()
        .take(SLACK_ACTIONS)
        .map(|link| {
            json!({
                "type": "button",
                "text": plain(&cut(&format!("Open run: {}", link.label), SLACK_BUTTON)),
                "url": link.url.as_str(),
            })
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    to_body(&json!({"text": doc.headline, "blocks": blocks}))
}

fn plain_line(line: &Line) -> String {
    let text: String = line.spans.iter().map(|s| s.text.as_str()).collect();
    if line.nested {
        format!("    • {text}")
    } else {
        text
    }
}

/// A Standard Webhooks payload: `{"type", "timestamp", "data"}` (`keyrot.run` or
/// `keyrot.expiring`). Outside text is data here, sent as it is (JSON strings cannot become
/// markup), apart from the JSON-level escapes of [`inert::json`].
/// Fails only for a date RFC 3339 cannot write (a year past 9999).
pub fn webhook(notification: &Notification, now: OffsetDateTime) -> Result<Vec<u8>, String> {
    let unwritable =
        |e: &dyn std::fmt::Display| format!("the message cannot be written as JSON: {e}");
    let mut payload = serde_json::to_value(notification).map_err(|e| unwritable(&e))?;
    let timestamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| unwritable(&e))?;
    payload["timestamp"] = json!(timestamp);
    payload["summary"] = json!(notification.headline());
    Ok(to_body(&payload))
}

/// A GitHub issue: the title and the Markdown body (the GitHub client opens it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub title: String,
    pub body: String,
}

pub fn github_issue(notification: &Notification) -> Issue {
    let doc = document(notification);
    Issue {
        title: doc.headline.clone(),
        body: inert::human(&markdown(&doc), false).into_owned(),
    }
}

fn markdown(doc: &Document) -> String {
    let mut out = format!("**{}**\n\n", doc.headline);
    for line in &doc.lines {
        out.push_str(if line.nested { "  - " } else { "- " });
        for span in &line.spans {
            if span.outside {
                out.push_str(&code_span(&span.text));
            } else if span.strong {
                out.push_str(&format!("**{}**", span.text));
            } else {
                out.push_str(&span.text);
            }
        }
        out.push('\n');
    }
    if !doc.links.is_empty() {
        out.push_str("\nRuns started:\n");
        for link in &doc.links {
            // `<…>` destinations end only at `>`, which a serialised URL never holds raw.
            out.push_str(&format!("- [{}](<{}>)\n", code_span(&link.label), link.url));
        }
    }
    out.push_str("\n_Sent by keyrot._\n");
    out
}

/// Text as a CommonMark code span: fenced by one more backtick than its longest run, padded
/// when it starts or ends with a backtick, so nothing inside is read as Markdown or HTML.
fn code_span(text: &str) -> String {
    if text.is_empty() {
        return "` `".into();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.starts_with(' ') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// At most `max` characters, `…` included.
fn cut(text: &str, max: usize) -> String {
    super::lines::cut(text, max - 1)
}

fn to_body(value: &Value) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("a JSON value serialises");
    inert::json(&text).into_owned().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_outlast_the_backticks_inside() {
        assert_eq!(code_span("a"), "`a`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("``x"), "``` ``x ```");
        assert_eq!(code_span(""), "` `");
    }
}
