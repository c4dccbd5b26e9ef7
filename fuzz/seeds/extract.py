#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (see PROVENANCE.md).

Run once from the repository root with the project's shared fixture set beside it
(`python3 fuzz/seeds/extract.py ../shared/fixtures`); the committed seeds are its output, so
nothing reads ../shared at run time. Inputs are framed as each target reads them
(fuzz/src/targets.rs): json_pages and next_link start with a selector byte, ci_escapers and
dotenv split their parts on the byte 0xFF.
"""
import json
import pathlib
import re
import sys

FIXTURES = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures")
OUT = pathlib.Path(__file__).resolve().parent
ROOT = OUT.parent.parent
SEP = b"\xff"


def load(path):
    return json.loads((FIXTURES / path).read_text(encoding="utf-8-sig"))


def body(value):
    return value if isinstance(value, bytes) else (
        value.encode() if isinstance(value, str) else json.dumps(value).encode())


def write(target, name, data):
    folder = OUT / target
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)


# json_pages: selector (0 secrets, 1 certificates, 2 keys page; 3 secret bundle; 4 Key Vault
# error; 5 Graph application; 6 new Graph password; 7 Graph error; 8 Entra error), then for the
# errors a status byte (1 = 401, 2 = 403, 3 = 404), then the body.
examples = {
    "GetSecrets": (0, "keyvault/7.5/GetSecrets-example.json"),
    "GetSecretVersions": (0, "keyvault/7.5/GetSecretVersions-example.json"),
    "GetDeletedSecrets": (0, "keyvault/7.5/GetDeletedSecrets-example.json"),
    "GetSecret": (3, "keyvault/7.5/GetSecret-example.json"),
    "SetSecret": (3, "keyvault/7.5/SetSecret-example.json"),
    "UpdateSecret": (3, "keyvault/7.5/UpdateSecret-example.json"),
}
links = []
for name, (selector, path) in examples.items():
    answer = load(path)["responses"]["200"]["body"]
    write("json_pages", f"kv-{name}", bytes([selector]) + body(answer))
    if answer.get("nextLink"):
        links.append((f"kv-{name}", answer["nextLink"]))
    if selector == 0:
        # The same page read as certificates and keys (their items differ only in `kid`).
        write("json_pages", f"kv-{name}-as-certificates", bytes([1]) + body(answer))
        keys = dict(answer, value=[dict(item, kid=item["id"].replace("/secrets/", "/keys/"))
                                   for item in answer["value"]])
        write("json_pages", f"kv-{name}-as-keys", bytes([2]) + body(keys))

statuses = {401: 1, 403: 2, 404: 3}
for recording in sorted((FIXTURES / "keyvault/recordings").glob("*.json")):
    entries = json.loads(recording.read_text())["Entries"]
    short = recording.stem.removeprefix("js_recording_")
    for i, entry in enumerate(entries):
        answer, status = entry.get("ResponseBody"), entry["StatusCode"]
        if not answer:
            continue
        if status in statuses:
            write("json_pages", f"kv-rec-{short}-{i}-{status}",
                  bytes([4, statuses[status]]) + body(answer))
        elif entry["RequestMethod"] == "GET" and "value" in answer and isinstance(answer["value"], list):
            write("json_pages", f"kv-rec-{short}-{i}-page", bytes([0]) + body(answer))
            if answer.get("nextLink"):
                links.append((f"kv-rec-{short}-{i}", answer["nextLink"]))
        elif isinstance(answer.get("value"), str):
            write("json_pages", f"kv-rec-{short}-{i}-bundle", bytes([3]) + body(answer))

write("json_pages", "graph-application-get", bytes([5]) + body(load("graph/application-get.json")["response"]["body"]))
password = load("graph/application-addPassword.json")["response"]["body"]
write("json_pages", "graph-addPassword", bytes([6]) + body(password))
app = dict(load("graph/application-get.json")["response"]["body"], passwordCredentials=[
    dict(password, secretText=None, displayName="keyrot:0123456789abcdef")])
write("json_pages", "graph-application-with-password", bytes([5]) + body(app))
denied = load("graph/recording-graph-403-Authorization_RequestDenied.json")["response"]["body"]
write("json_pages", "graph-403-Authorization_RequestDenied", bytes([7, 2]) + body(denied))
# Entra's token error, in the shape src/auth/entra.rs documents (no fixture has one).
entra = {
    "error": "invalid_client",
    "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t-1\r\n"
                         "Correlation ID: c-1\r\nTimestamp: 2026-12-04 16:05:22Z",
    "error_codes": [7000215], "timestamp": "2026-12-04 16:05:22Z", "trace_id": "t-1",
    "correlation_id": "c-1",
}
write("json_pages", "entra-7000215", bytes([8]) + body(entra))

# next_link: selector 0 (https://myvault.vault.azure.net) or 1 (https://127.0.0.1:8443), then
# the link as the answer wrote it, and the same link pointed at the service.
for name, link in links:
    write("next_link", name, bytes([0]) + link.encode())
    local = re.sub(r"^https://[^/]+", "https://myvault.vault.azure.net:443", link)
    write("next_link", name + "-same-origin", bytes([0]) + local.encode())
for name, link in [
    ("relative", "/secrets?api-version=7.5&$skiptoken=x"),
    ("scheme-relative", "//evil.example/secrets"),
    ("userinfo", "https://myvault.vault.azure.net@evil.example/secrets"),
    ("other-port", "https://myvault.vault.azure.net:8443/secrets"),
    ("http", "http://myvault.vault.azure.net/secrets"),
    ("backslash", "https:\\\\evil.example\\secrets"),
    ("suffix", "https://myvault.vault.azure.net.evil.example/secrets"),
]:
    write("next_link", name, bytes([0]) + link.encode())
write("next_link", "loopback-port", bytes([1]) + b"https://127.0.0.1:8443/secrets?$skiptoken=1")
write("next_link", "graph-odata", bytes([2]) + b"https://graph.microsoft.com/v1.0/applications?$skiptoken=X")

# config: the README's keyrot.toml, the example in src/rotate/config/mod.rs's module comment,
# and issue 10's example (as src/rotate/config/pipeline_tests.rs holds it) with a github-issue.
readme = (ROOT / "README.md").read_text()
block = readme.split("### keyrot.toml\n\n```toml\n", 1)[1].split("```", 1)[0]
write("config", "readme-example.toml", block.encode())
source = (ROOT / "src/rotate/config/mod.rs").read_text()
doc = source.split("//! ```toml\n", 1)[1].split("//! ```", 1)[0]
write("config", "module-doc-example.toml", "".join(
    line.removeprefix("//! ").removeprefix("//!") + "\n" for line in doc.splitlines()).encode())
tests = (ROOT / "src/rotate/config/pipeline_tests.rs").read_text()
example = tests.split('const ISSUE_EXAMPLE: &str = r#"', 1)[1].split('"#;', 1)[0]
write("config", "issue-10-pipelines.toml", (example + """
[[notify]]
to = "github-issue"
repository = "contoso/ops"
labels = ["keyrot", "security"]
events = ["failed"]
""").encode())

# durations: every form the contract names, and its edges.
for i, text in enumerate(["30d", "12h", "90m", "45s", "14", " 7d ", "007d", "0d", "3w", "30D",
                          "1.5d", "-5d", "", "9223372036854775807s", "9223372036854775807d",
                          "99999999999999999999", "18446744073709551s", "1d12h"]):
    write("durations", f"d{i:02}", text.encode())

# ci_escapers: title, message, value separated by 0xFF; the hostile strings of keyrot's own
# tests (src/ci/mod.rs HOSTILE, tests/hostile.rs HOSTILE).
def rust_strings(path, const):
    text = (ROOT / path).read_text()
    array = text.split(f"const {const}: &[&str] = &[", 1)[1].split("];", 1)[0]
    return [json.loads('"' + re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16))
                                    .encode("unicode_escape").decode().replace("\\x", "\\u00"), s) + '"')
            for s in re.findall(r'"((?:[^"\\]|\\.)*)"', array)]

hostile = rust_strings("src/ci/mod.rs", "HOSTILE") + rust_strings("tests/hostile.rs", "HOSTILE")
for i in range(0, len(hostile), 3):
    write("ci_escapers", f"hostile{i // 3:02}", SEP.join(s.encode() for s in hostile[i:i + 3]))

# dotenv: the values of tests/fetch.rs's env-file tests, then a name.
values = ["$(touch x)", "`touch x`", "${IFS}$(touch x)", "\\$(touch x)", "'$(touch x)'",
          "\"$(touch x)\"", "x'; touch x; echo '", "it's \"quoted\"\\\nV99=$(touch x)",
          "it's a \"quoted\" value\\with\\backslashes", "pa$$word ${HOME} $HOME #not-a-comment",
          "tab\there, unicode é € 😀, DEL \x7f, SOH \x01", "ends with a backslash\\",
          "\\\\double\\\\", "", "a\rb", "##vso[task.prependpath]/tmp/x", "x\n::error::y"]
write("dotenv", "values", SEP.join(v.encode() for v in values) + SEP + b"BASH_ENV")
for i, v in enumerate(values):
    write("dotenv", f"value{i:02}", v.encode() + SEP + b"DB_PASSWORD")
