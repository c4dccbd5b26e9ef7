// scripts/install.sh with a fake curl (tests/github/fake-bin/curl) that serves release assets
// from a local folder and records every call.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  ASSETS,
  CHECKSUMS_TXT,
  FAKE_BIN,
  INSTALL_SH,
  cleanEnv,
  fakeRunner,
  parseFileCommand,
  run,
  sha256,
  tempDir,
} from "./lib.mjs";

const REPO = "keyrot/keyrot";
const US = "\x1f";

/** A sandbox: fake runner files, a release folder for the fake curl, a checksum list. */
function sandbox(t, { os = "Linux", arch = "X64" } = {}) {
  const dir = tempDir(t);
  const runner = fakeRunner(dir, { os, arch });
  const assets = path.join(dir, "releases");
  const curlLog = path.join(dir, "curl.log");
  const checksums = path.join(dir, "checksums.txt");
  fs.copyFileSync(CHECKSUMS_TXT, checksums); // the real header, no entries yet
  return {
    dir,
    runner,
    checksums,
    /** Publishes a fake asset; returns its sha256. */
    publish(version, asset, content = `#!/bin/sh\necho "fake ${asset} ${version}"\n`) {
      fs.mkdirSync(path.join(assets, `v${version}`), { recursive: true });
      fs.writeFileSync(path.join(assets, `v${version}`, asset), content);
      return sha256(content);
    },
    list(...lines) {
      fs.appendFileSync(checksums, lines.map((l) => l + "\n").join(""));
    },
    install(env = {}) {
      const r = run("bash", [INSTALL_SH], {
        cwd: dir,
        env: cleanEnv({
          ...runner.env,
          PATH: `${FAKE_BIN}:${process.env.PATH}`,
          FAKE_CURL_LOG: curlLog,
          FAKE_CURL_ASSETS: assets,
          KEYROT_CHECKSUMS_FILE: checksums,
          KEYROT_INSTALL_REPOSITORY: REPO,
          ...env,
        }),
      });
      r.outputs = runner.outputs();
      r.path = runner.pathLines();
      return r;
    },
    curlCalls() {
      if (!fs.existsSync(curlLog)) return [];
      return fs
        .readFileSync(curlLog, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split(US));
    },
    cached(version, arch, exe = "") {
      return path.join(runner.toolCache, "keyrot", version, arch, `keyrot${exe}`);
    },
  };
}

function assertOk(r) {
  assert.equal(r.code, 0, `install.sh failed:\n${r.stdout}\n${r.stderr}`);
}
function assertError(r, ...fragments) {
  assert.notEqual(r.code, 0, `install.sh should have failed:\n${r.stdout}`);
  const errors = r.stdout.split("\n").filter((l) => l.startsWith("::error"));
  assert.equal(errors.length, 1, `expected one ::error:: line:\n${r.stdout}\n${r.stderr}`);
  for (const f of fragments) assert.ok(errors[0].includes(f), `error lacks "${f}": ${errors[0]}`);
  return errors[0];
}
function assertNothingInstalled(sb, r) {
  assert.deepEqual(r.path, [], "nothing may be added to GITHUB_PATH");
  assert.deepEqual(r.outputs, {}, "no step outputs on failure");
  const files = fs.readdirSync(sb.runner.toolCache, { recursive: true });
  assert.deepEqual(files.filter((f) => !fs.statSync(path.join(sb.runner.toolCache, f)).isDirectory()), [], "no file in the tool cache");
}

test("pinned version: verified against checksums.txt, downloaded over https only, cached, put on PATH", (t) => {
  const sb = sandbox(t);
  const sum = sb.publish("0.1.0", "keyrot-linux-x64");
  sb.list(`${sum}  v0.1.0/keyrot-linux-x64`);
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertOk(r);

  const calls = sb.curlCalls();
  assert.equal(calls.length, 1);
  const args = calls[0];
  assert.equal(args.at(-1), "https://github.com/keyrot/keyrot/releases/download/v0.1.0/keyrot-linux-x64");
  const proto = args.indexOf("--proto");
  assert.ok(proto >= 0 && args[proto + 1] === "=https", `--proto =https missing: ${args}`);
  assert.ok(args.includes("--tlsv1.2"), "--tlsv1.2 missing");
  assert.ok(args.includes("-fsSL"), "-fsSL missing (fail on HTTP errors, follow redirects)");
  const retry = args.indexOf("--retry");
  assert.ok(retry >= 0 && Number(args[retry + 1]) >= 3, "--retry missing");

  const bin = sb.cached("0.1.0", "x64");
  assert.equal(sha256(fs.readFileSync(bin)), sum);
  assert.ok(fs.statSync(bin).mode & 0o100, "installed binary must be executable");
  assert.equal(run(bin, []).stdout, "fake keyrot-linux-x64 0.1.0\n");
  assert.deepEqual(r.path, [path.dirname(bin)]);
  assert.equal(r.outputs.path, bin);
  assert.equal(r.outputs.version, "0.1.0");
  assert.equal(r.outputs["cache-hit"], "false");
  assert.ok(r.stdout.includes(`installed ${bin}`), r.stdout);
  assert.ok(fs.existsSync(path.join(path.dirname(bin), "..", "x64.complete")), "tool-cache marker");
});

test("a v prefix on the version is accepted", (t) => {
  const sb = sandbox(t);
  sb.list(`${sb.publish("0.1.0", "keyrot-linux-x64")}  v0.1.0/keyrot-linux-x64`);
  const r = sb.install({ KEYROT_INSTALL_VERSION: "v0.1.0" });
  assertOk(r);
  assert.ok(sb.curlCalls()[0].at(-1).endsWith("/v0.1.0/keyrot-linux-x64"));
});

test("checksum input: a version that checksums.txt does not list installs when its digest matches", (t) => {
  const sb = sandbox(t);
  const sum = sb.publish("9.8.7", "keyrot-linux-x64");
  const r = sb.install({ KEYROT_INSTALL_VERSION: "9.8.7", KEYROT_INSTALL_CHECKSUM: sum.toUpperCase() });
  assertOk(r);
  assert.equal(sb.curlCalls()[0].at(-1), "https://github.com/keyrot/keyrot/releases/download/v9.8.7/keyrot-linux-x64");
  assert.equal(sha256(fs.readFileSync(sb.cached("9.8.7", "x64"))), sum);
  assert.equal(r.outputs.version, "9.8.7");
});

test("bad checksum in checksums.txt: refused, nothing installed, nothing on PATH", (t) => {
  const sb = sandbox(t);
  const real = sb.publish("0.1.0", "keyrot-linux-x64");
  const wrong = sha256("something else");
  sb.list(`${wrong}  v0.1.0/keyrot-linux-x64`);
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertError(r, "checksum mismatch", `expected ${wrong}`, `got ${real}`, "Nothing was installed");
  assert.equal(sb.curlCalls().length, 1);
  assertNothingInstalled(sb, r);
});

test("bad checksum input: refused, nothing installed", (t) => {
  const sb = sandbox(t);
  sb.publish("2.0.0", "keyrot-linux-x64");
  const r = sb.install({ KEYROT_INSTALL_VERSION: "2.0.0", KEYROT_INSTALL_CHECKSUM: sha256("tampered") });
  assertError(r, "checksum mismatch");
  assertNothingInstalled(sb, r);
});

test("a checksum input that disagrees with checksums.txt is refused before downloading", (t) => {
  const sb = sandbox(t);
  const sum = sb.publish("0.1.0", "keyrot-linux-x64");
  sb.list(`${sum}  v0.1.0/keyrot-linux-x64`);
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", KEYROT_INSTALL_CHECKSUM: sha256("other") });
  assertError(r, "disagrees");
  assert.equal(sb.curlCalls().length, 0);
  assertNothingInstalled(sb, r);
});

test("malformed checksum input is refused", (t) => {
  const sb = sandbox(t);
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", KEYROT_INSTALL_CHECKSUM: "abc123" });
  assertError(r, "64 hex digits");
  assert.equal(sb.curlCalls().length, 0);
});

test("missing entry: a clear error naming it and the ways out, before any download", (t) => {
  const sb = sandbox(t);
  sb.publish("0.1.0", "keyrot-linux-x64");
  // Another asset and another version are listed, not this one.
  sb.list(`${sha256("a")}  v0.1.0/keyrot-linux-arm64`, `${sha256("b")}  v0.0.9/keyrot-linux-x64`);
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertError(r, "no checksum for v0.1.0/keyrot-linux-x64", "binary-path", "checksum", "version");
  assert.equal(sb.curlCalls().length, 0, "must not download what it cannot verify");
  assertNothingInstalled(sb, r);
});

test("the shipped scripts/checksums.txt parses, and a version it lacks fails clearly", (t) => {
  const sb = sandbox(t);
  const r = sb.install({ KEYROT_CHECKSUMS_FILE: CHECKSUMS_TXT, KEYROT_INSTALL_VERSION: "0.0.0-never.released" });
  assertError(r, "no checksum for v0.0.0-never.released/keyrot-linux-x64");
});

test("two different checksums for one entry are refused", (t) => {
  const sb = sandbox(t);
  sb.publish("0.1.0", "keyrot-linux-x64");
  sb.list(`${sha256("a")}  v0.1.0/keyrot-linux-x64`, `${sha256("b")}  v0.1.0/keyrot-linux-x64`);
  assertError(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" }), "different checksums");
});

test("cache reuse: a second run verifies the cached binary and does not download", (t) => {
  const sb = sandbox(t);
  sb.list(`${sb.publish("0.1.0", "keyrot-linux-x64")}  v0.1.0/keyrot-linux-x64`);
  assertOk(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" }));
  assert.equal(sb.curlCalls().length, 1);
  sb.runner.resetOutputs();

  const again = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertOk(again);
  assert.equal(sb.curlCalls().length, 1, "the second run must not call curl");
  assert.equal(again.outputs["cache-hit"], "true");
  assert.equal(again.outputs.path, sb.cached("0.1.0", "x64"));
  assert.ok(again.stdout.includes("tool cache"), again.stdout);
});

test("a tampered cached binary is replaced by a verified download", (t) => {
  const sb = sandbox(t);
  const sum = sb.publish("0.1.0", "keyrot-linux-x64");
  sb.list(`${sum}  v0.1.0/keyrot-linux-x64`);
  assertOk(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" }));
  const bin = sb.cached("0.1.0", "x64");
  fs.writeFileSync(bin, "#!/bin/sh\necho evil\n");
  sb.runner.resetOutputs();

  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertOk(r);
  assert.equal(sb.curlCalls().length, 2, "must download again");
  assert.ok(r.stdout.includes("::warning"), r.stdout);
  assert.equal(sha256(fs.readFileSync(bin)), sum);
  assert.equal(r.outputs["cache-hit"], "false");
});

test("a tampered cache and a bad download leave nothing behind", (t) => {
  const sb = sandbox(t);
  sb.list(`${sha256("the real one")}  v0.1.0/keyrot-linux-x64`);
  const bin = sb.cached("0.1.0", "x64");
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  fs.writeFileSync(bin, "#!/bin/sh\necho evil\n");
  sb.publish("0.1.0", "keyrot-linux-x64", "also not the real one");
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertError(r, "checksum mismatch");
  assert.ok(!fs.existsSync(bin), "the unverifiable cached binary must be removed");
  assertNothingInstalled(sb, r);
});

const MAPPINGS = [
  ["Linux", "X64", "keyrot-linux-x64", "x64", ""],
  ["Linux", "ARM64", "keyrot-linux-arm64", "arm64", ""],
  ["macOS", "X64", "keyrot-macos-x64", "x64", ""],
  ["macOS", "ARM64", "keyrot-macos-arm64", "arm64", ""],
  ["Windows", "X64", "keyrot-windows-x64.exe", "x64", ".exe"],
  // No windows-arm64 build: Windows 11 on arm64 runs the x64 build under emulation.
  ["Windows", "ARM64", "keyrot-windows-x64.exe", "arm64", ".exe"],
];
for (const [runnerOs, arch, asset, cacheArch, exe] of MAPPINGS) {
  test(`RUNNER_OS=${runnerOs} RUNNER_ARCH=${arch} installs ${asset}`, (t) => {
    const sb = sandbox(t, { os: runnerOs, arch });
    const sum = sb.publish("0.1.0", asset);
    sb.list(`${sum}  v0.1.0/${asset}`);
    const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
    assertOk(r);
    assert.equal(sb.curlCalls()[0].at(-1), `https://github.com/keyrot/keyrot/releases/download/v0.1.0/${asset}`);
    const bin = sb.cached("0.1.0", cacheArch, exe);
    assert.equal(sha256(fs.readFileSync(bin)), sum);
    assert.equal(r.outputs.path, bin);
    if (runnerOs === "Windows" && arch === "ARM64") assert.ok(r.stdout.includes("::notice"), r.stdout);
  });
}

test("ASSETS covers every mapping and nothing else", () => {
  assert.deepEqual([...new Set(MAPPINGS.map((m) => m[2]))].sort(), [...ASSETS].sort());
});

for (const [runnerOs, arch, fragment] of [
  ["FreeBSD", "X64", "unsupported runner OS 'FreeBSD'"],
  ["", "X64", "RUNNER_OS is not set"],
  ["Linux", "X86", "unsupported runner architecture 'X86'"],
  ["macOS", "ARM", "unsupported runner architecture 'ARM'"],
  ["Linux", "", "RUNNER_ARCH is not set"],
]) {
  test(`RUNNER_OS='${runnerOs}' RUNNER_ARCH='${arch}' is refused`, (t) => {
    const sb = sandbox(t);
    const r = sb.install({ RUNNER_OS: runnerOs, RUNNER_ARCH: arch, KEYROT_INSTALL_VERSION: "0.1.0" });
    assertError(r, fragment, "binary-path");
    assert.equal(sb.curlCalls().length, 0);
  });
}

test("binary-path: no download, its folder on PATH, its path as the output", (t) => {
  const sb = sandbox(t);
  const dir = path.join(sb.dir, "my tools");
  fs.mkdirSync(dir);
  const bin = path.join(dir, "keyrot");
  fs.writeFileSync(bin, "#!/bin/sh\necho mine\n", { mode: 0o755 });
  const r = sb.install({ KEYROT_INSTALL_BINARY_PATH: ` ${bin} `, KEYROT_INSTALL_VERSION: "0.1.0" });
  assertOk(r);
  assert.equal(sb.curlCalls().length, 0);
  assert.deepEqual(r.path, [dir]);
  assert.equal(r.outputs.path, bin);
  assert.ok(r.stdout.includes(bin));
});

test("binary-path: a relative path is resolved", (t) => {
  const sb = sandbox(t);
  fs.writeFileSync(path.join(sb.dir, "keyrot"), "#!/bin/sh\n", { mode: 0o755 });
  const r = sb.install({ KEYROT_INSTALL_BINARY_PATH: "./keyrot" });
  assertOk(r);
  assert.equal(r.outputs.path, path.join(fs.realpathSync(sb.dir), "keyrot"));
});

test("binary-path: missing or not executable is refused", (t) => {
  const sb = sandbox(t);
  assertError(sb.install({ KEYROT_INSTALL_BINARY_PATH: path.join(sb.dir, "nope") }), "does not exist");
  const plain = path.join(sb.dir, "plain");
  fs.writeFileSync(plain, "x", { mode: 0o644 });
  assertError(sb.install({ KEYROT_INSTALL_BINARY_PATH: plain }), "not executable");
  assertError(sb.install({ KEYROT_INSTALL_BINARY_PATH: sb.dir }), "not a file");
  assert.deepEqual(sb.runner.pathLines(), []);
});

test("binary-path with checksum: verified", (t) => {
  const sb = sandbox(t);
  const bin = path.join(sb.dir, "keyrot");
  fs.writeFileSync(bin, "#!/bin/sh\n", { mode: 0o755 });
  assertOk(sb.install({ KEYROT_INSTALL_BINARY_PATH: bin, KEYROT_INSTALL_CHECKSUM: sha256("#!/bin/sh\n") }));
  sb.runner.resetOutputs();
  assertError(sb.install({ KEYROT_INSTALL_BINARY_PATH: bin, KEYROT_INSTALL_CHECKSUM: sha256("x") }), "checksum mismatch");
});

test("versions that are not release versions are refused (no path tricks in URLs or the cache)", (t) => {
  const sb = sandbox(t);
  for (const v of ["", "latest", "../../etc", "1.2", "1.2.3/../../x", "1.2.3 4"]) {
    const r = sb.install({ KEYROT_INSTALL_VERSION: v });
    assert.notEqual(r.code, 0, `version '${v}' accepted`);
    assert.match(r.stdout, /::error/);
  }
  assert.equal(sb.curlCalls().length, 0);
});

test("repository: input, then the action's repository, then the runner's action path", (t) => {
  const sb = sandbox(t);
  sb.list(`${sb.publish("0.1.0", "keyrot-linux-x64")}  v0.1.0/keyrot-linux-x64`);
  const cases = [
    [{ KEYROT_INSTALL_REPOSITORY: "someone/fork", KEYROT_INSTALL_ACTION_REPOSITORY: "keyrot/keyrot" }, "someone/fork"],
    [{ KEYROT_INSTALL_REPOSITORY: "", KEYROT_INSTALL_ACTION_REPOSITORY: "acme/keyrot" }, "acme/keyrot"],
    [{ KEYROT_INSTALL_REPOSITORY: "", GITHUB_ACTION_REPOSITORY: "org2/keyrot" }, "org2/keyrot"],
    [{ KEYROT_INSTALL_REPOSITORY: "", GITHUB_ACTION_PATH: "/home/runner/work/_actions/org3/keyrot-action/v1" }, "org3/keyrot-action"],
    [{ KEYROT_INSTALL_REPOSITORY: "", GITHUB_ACTION_PATH: "D:\\a\\_actions\\org4\\keyrot\\v1" }, "org4/keyrot"],
  ];
  for (const [env, repo] of cases) {
    const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", RUNNER_TOOL_CACHE: path.join(sb.dir, `cache-${repo.replace("/", "-")}`), ...env });
    assertOk(r);
    assert.equal(sb.curlCalls().at(-1).at(-1), `https://github.com/${repo}/releases/download/v0.1.0/keyrot-linux-x64`);
  }
});

test("repository: none known, or not owner/name, is refused", (t) => {
  const sb = sandbox(t);
  sb.list(`${sb.publish("0.1.0", "keyrot-linux-x64")}  v0.1.0/keyrot-linux-x64`);
  assertError(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", KEYROT_INSTALL_REPOSITORY: "", GITHUB_ACTION_PATH: "/home/me/keyrot" }), "set the repository input");
  assertError(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", KEYROT_INSTALL_REPOSITORY: "a/b/../c" }), "not owner/name");
  assert.equal(sb.curlCalls().length, 0);
});

test("GitHub Enterprise: GITHUB_SERVER_URL is used, and it must be https", (t) => {
  const sb = sandbox(t);
  sb.list(`${sb.publish("0.1.0", "keyrot-linux-x64")}  v0.1.0/keyrot-linux-x64`);
  assertOk(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", GITHUB_SERVER_URL: "https://ghe.example.com/" }));
  assert.equal(sb.curlCalls()[0].at(-1), "https://ghe.example.com/keyrot/keyrot/releases/download/v0.1.0/keyrot-linux-x64");
  sb.runner.resetOutputs();
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", GITHUB_SERVER_URL: "http://ghe.example.com", RUNNER_TOOL_CACHE: path.join(sb.dir, "c2") });
  assertError(r, "not https");
});

test("a failed download (404, network) is a clear error and installs nothing", (t) => {
  const sb = sandbox(t);
  sb.list(`${sha256("x")}  v0.1.0/keyrot-linux-x64`); // listed, but not published
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" });
  assertError(r, "download failed (curl exit 22)", "https://github.com/keyrot/keyrot/releases/download/v0.1.0/keyrot-linux-x64");
  assertNothingInstalled(sb, r);
  const r2 = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", FAKE_CURL_EXIT: "6" });
  assertError(r2, "curl exit 6");
  assertNothingInstalled(sb, r2);
});

test("macOS without sha256sum: shasum -a 256 is used", (t) => {
  const sb = sandbox(t, { os: "macOS", arch: "ARM64" });
  const sum = sb.publish("0.1.0", "keyrot-macos-arm64");
  sb.list(`${sum}  v0.1.0/keyrot-macos-arm64`);
  // A PATH of only the tools install.sh may use, with sha256sum replaced by a shasum that
  // records how it was called and hashes with sha256sum's real binary.
  const bin = path.join(sb.dir, "bin");
  fs.mkdirSync(bin);
  const real = (name) => run("bash", ["-c", `command -v ${name}`]).stdout.trim();
  for (const tool of ["bash", "awk", "sort", "tr", "cp", "mv", "rm", "mkdir", "mktemp", "chmod", "dirname", "basename", "cat"]) {
    fs.symlinkSync(real(tool), path.join(bin, tool));
  }
  fs.symlinkSync(path.join(FAKE_BIN, "curl"), path.join(bin, "curl"));
  const shasumLog = path.join(sb.dir, "shasum.log");
  fs.writeFileSync(
    path.join(bin, "shasum"),
    `#!${real("bash")}\necho "$*" >>'${shasumLog}'\n[ "$1 $2" = "-a 256" ] || exit 9\nexec '${real("sha256sum")}'\n`,
    { mode: 0o755 },
  );
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", PATH: bin });
  assertOk(r);
  assert.equal(fs.readFileSync(shasumLog, "utf8"), "-a 256\n");
  assert.equal(sha256(fs.readFileSync(sb.cached("0.1.0", "arm64"))), sum);
});

test("Windows: GITHUB_PATH gets a Windows path and outputs a mixed path (cygpath)", (t) => {
  const sb = sandbox(t, { os: "Windows", arch: "X64" });
  sb.list(`${sb.publish("0.1.0", "keyrot-windows-x64.exe")}  v0.1.0/keyrot-windows-x64.exe`);
  // A fake cygpath that tags its conversions, so the test sees which form went where.
  const bin = path.join(sb.dir, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, "cygpath"),
    '#!/usr/bin/env bash\ncase "$1" in -w) echo "WIN:$2" ;; -m) echo "MIXED:$2" ;; -u) echo "$2" ;; *) exit 2 ;; esac\n',
    { mode: 0o755 },
  );
  const r = sb.install({ KEYROT_INSTALL_VERSION: "0.1.0", PATH: `${bin}:${FAKE_BIN}:${process.env.PATH}` });
  assertOk(r);
  const exe = sb.cached("0.1.0", "x64", ".exe");
  assert.deepEqual(r.path, [`WIN:${path.dirname(exe)}`]);
  assert.equal(r.outputs.path, `MIXED:${exe}`);
});

test("outputs are written in the runner's file-command format", (t) => {
  const sb = sandbox(t);
  sb.list(`${sb.publish("0.1.0", "keyrot-linux-x64")}  v0.1.0/keyrot-linux-x64`);
  assertOk(sb.install({ KEYROT_INSTALL_VERSION: "0.1.0" }));
  const raw = fs.readFileSync(sb.runner.env.GITHUB_OUTPUT, "utf8");
  assert.match(raw, /^path=.*\ndir=.*\nversion=0\.1\.0\ncache-hit=false\n$/);
  assert.deepEqual(Object.keys(parseFileCommand(sb.runner.env.GITHUB_OUTPUT)), ["path", "dir", "version", "cache-hit"]);
});
