//! `fetch --format json`: the values and their facts, in the field style of `check`'s report.
//!
//! ```json
//! {"version": 1, "fetched_at": "RFC 3339", "vaults": ["https://myvault.vault.azure.net"],
//!  "secrets": [{"vault": "https://myvault.vault.azure.net", "name": "db-password",
//!    "variable": "DB_PASSWORD", "version": "…", "id": "…", "content_type": null,
//!    "not_before": null, "expires": "RFC 3339", "tags": {}, "value": "…"}],
//!  "skipped": [{"vault": "…", "name": "old-token", "state": "expired", "message": "…"}]}
//! ```

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::check::dates::rfc3339_utc;

use super::Fetched;

/// The document's `version`: additive changes keep it, anything else raises it.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    fetched_at: String,
    vaults: Vec<&'a str>,
    secrets: Vec<Secret<'a>>,
    skipped: Vec<Skipped<'a>>,
}

#[derive(Serialize)]
struct Secret<'a> {
    vault: &'a str,
    name: &'a str,
    variable: &'a str,
    version: Option<&'a str>,
    id: &'a str,
    content_type: Option<&'a str>,
    not_before: Option<String>,
    expires: Option<String>,
    tags: &'a BTreeMap<String, String>,
    value: &'a str,
}

#[derive(Serialize)]
struct Skipped<'a> {
    vault: &'a str,
    name: &'a str,
    state: &'static str,
    message: String,
}

/// The document, pretty-printed, in a buffer that is wiped when dropped. The buffer is
/// reserved up front for the worst case (JSON writes a control character as six bytes), so it
/// never reallocates and leaves no copy of a value behind.
pub fn render(fetched: &Fetched<'_>, fetched_at: OffsetDateTime) -> Zeroizing<String> {
    let date = |t: Option<OffsetDateTime>| t.map(rfc3339_utc);
    let vault = |index: usize| fetched.vaults[index].as_str();
    let document = |with_values: bool| Document {
        version: VERSION,
        fetched_at: rfc3339_utc(fetched_at),
        vaults: fetched.vaults.iter().map(|v| v.as_str()).collect(),
        secrets: fetched
            .exported
            .iter()
            .map(|e| Secret {
                vault: vault(e.vault),
                name: &e.name,
                variable: &e.env_variable,
                version: e.secret.record.version.as_deref(),
                id: &e.secret.record.id,
                content_type: e.secret.content_type.as_deref(),
                not_before: date(e.secret.record.not_before),
                expires: date(e.secret.record.expires),
                tags: &e.secret.record.tags,
                value: if with_values {
                    e.secret.value.expose()
                } else {
                    ""
                },
            })
            .collect(),
        skipped: fetched
            .skipped
            .iter()
            .map(|s| Skipped {
                vault: vault(s.vault),
                name: &s.name,
                state: s.problem.state(),
                message: s.problem.explain(),
            })
            .collect(),
    };
    // Everything but the values, to size the buffer.
    let frame = serde_json::to_vec_pretty(&document(false)).unwrap_or_default();
    let values: usize = fetched
        .exported
        .iter()
        .map(|e| e.secret.value.expose().len())
        .sum();
    let mut buffer = Zeroizing::new(Vec::with_capacity(frame.len() + 6 * values + 2));
    // Serializing plain structs of strings into memory cannot fail.
    let _ = serde_json::to_writer_pretty(&mut *buffer, &document(true));
    buffer.push(b'\n');
    let bytes = std::mem::take(&mut *buffer);
    // serde_json writes UTF-8; the conversion keeps the same allocation.
    Zeroizing::new(String::from_utf8(bytes).unwrap_or_default())
}

/// How `value` reads in the document keyrot prints on stdout: JSON's escapes (`"` → `\"`, a
/// control character → `\u…`), then [`crate::ci::inert::json`]'s (`##[` → `##\u005b`, a
/// zero-width character → `\u200b`). The runner's masks are plain text: a mask of the value
/// does not hide this form, so under CI it is masked too. The quotes are not part of it.
pub fn printed_value(value: &str) -> Zeroizing<String> {
    // Reserved for the worst case (six bytes a byte) so the buffer never leaves a copy behind.
    let mut quoted = Zeroizing::new(Vec::with_capacity(6 * value.len() + 2));
    // Serializing a string into memory cannot fail.
    let _ = serde_json::to_writer(&mut *quoted, value);
    let quoted = std::str::from_utf8(&quoted).unwrap_or_default();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    Zeroizing::new(crate::ci::inert::json(inner).into_owned())
}

#[cfg(test)]
mod tests {
    use super::printed_value;

    #[test]
    fn the_printed_form_is_what_the_document_shows_between_the_quotes() {
        for (value, printed) in [
            ("plain-value", "plain-value"),
            ("p\"w\\x", "p\\\"w\\\\x"),
            ("a\nb", "a\\nb"),
            ("p##[w", "p##\\u005bw"),
            ("z\u{200b}w", "z\\u200bw"),
            ("##vso[task.complete]", "##vso\\u005btask.complete]"),
        ] {
            assert_eq!(printed_value(value).as_str(), printed, "{value:?}");
            let document =
                crate::ci::inert::json(&serde_json::to_string(value).unwrap()).into_owned();
            assert_eq!(document, format!("\"{printed}\""), "{value:?}");
        }
    }
}
