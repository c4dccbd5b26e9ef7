// .github/workflows/ci.yml and release.yml: their shape, the release steps that compute things
// (run here as the runner runs them), and proof that the validator scripts/test-github relies
// on rejects broken files.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import YAML from "yaml";
import {
  ACTION_YML,
  ASSETS,
  CHECKSUMS_TXT,
  FAKE_BIN,
  INSTALL_SH,
  PIN_MARKER,
  ROOT,
  VALIDATOR,
  allRunScripts,
  cleanEnv,
  fakeRunner,
  findStep,
  loadYaml,
  parseFileCommand,
  run,
  runBashStep,
  sha256,
  tempDir,
  workflowFiles,
} from "./lib.mjs";

const [CI_YML, RELEASE_YML] = workflowFiles();
const ci = loadYaml(CI_YML);
const release = loadYaml(RELEASE_YML);

function allSteps(doc) {
  return Object.entries(doc.jobs).flatMap(([job, j]) => (j.steps || []).map((s) => ({ job, ...s })));
}

describe("both workflows", () => {
  for (const [name, doc] of [
    ["ci.yml", ci],
    ["release.yml", release],
  ]) {
    test(`${name}: third-party actions pinned to a full commit SHA; local ones are ./`, () => {
      const text = fs.readFileSync(name === "ci.yml" ? CI_YML : RELEASE_YML, "utf8");
      for (const step of allSteps(doc)) {
        if (!step.uses) continue;
        if (step.uses === "./") continue;
        assert.match(step.uses, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${step.job}: ${step.uses}`);
        assert.match(text, new RegExp(`${step.uses.replace(/[.]/g, "\\.")} # v\\d+\\.\\d+\\.\\d+`), `${step.uses} needs a # vX.Y.Z comment`);
      }
    });

    test(`${name}: bash everywhere, and no \${{ }} inside any script text`, () => {
      assert.equal(doc.defaults?.run?.shell, "bash");
      for (const step of allSteps(doc)) {
        if (!step.run) continue;
        assert.ok(!step.shell || step.shell === "bash", `${step.job}/${step.name}: shell ${step.shell}`);
        assert.ok(!step.run.includes("${{"), `${step.job}/${step.name || step.id} interpolates an expression into its script`);
      }
    });

    test(`${name}: least privilege (workflow-wide read-only or none; writes per job)`, () => {
      const top = doc.permissions;
      assert.ok(
        (typeof top === "object" && Object.keys(top).length === 0) || (top && top.contents === "read" && Object.keys(top).length === 1),
        `top-level permissions ${JSON.stringify(top)}`,
      );
    });
  }

  test("every run: script of action.yml and the workflows passes bash -n", (t) => {
    const dir = tempDir(t);
    const scripts = allRunScripts();
    assert.ok(scripts.length >= 15, `found only ${scripts.length} scripts`);
    scripts.forEach((s, i) => {
      assert.equal(s.shell, "bash", `${s.file} ${s.where}`);
      const file = path.join(dir, `${i}.sh`);
      fs.writeFileSync(file, s.run);
      const r = run("bash", ["-n", file]);
      assert.equal(r.code, 0, `${s.file} ${s.where}: ${r.stderr}`);
    });
  });
});

describe("ci.yml", () => {
  test("runs scripts/test on ubuntu with a Rust toolchain and caches", () => {
    const steps = ci.jobs.test.steps;
    assert.match(ci.jobs.test["runs-on"], /^ubuntu-/);
    assert.ok(steps.some((s) => /rustup toolchain install/.test(s.run || "")));
    assert.ok(steps.some((s) => s.uses?.startsWith("actions/cache@") && /Cargo\.lock/.test(s.with.key)));
    assert.ok(steps.some((s) => s.run?.trim() === "bash scripts/test"));
    assert.ok(ci.on.push && "pull_request" in ci.on);
  });

  test("runs the action itself (uses: ./) on Linux, macOS and Windows", () => {
    const job = ci.jobs.action;
    assert.deepEqual(job.strategy.matrix.os.map((o) => o.split("-")[0]).sort(), ["macos", "ubuntu", "windows"]);
    const uses = job.steps.filter((s) => s.uses === "./");
    assert.equal(uses.length, 2);
    for (const s of uses) assert.ok(s.with["binary-path"] && s.with["client-id"] && s.with["tenant-id"]);
  });
});

describe("release.yml", () => {
  test("runs on version tags only (a moved major tag like v1 does not trigger it)", () => {
    const patterns = release.on.push.tags;
    const toRegex = (p) => new RegExp(`^${p.replace(/\./g, "\\.").replace(/\*/g, ".*")}$`);
    const matches = (tag) => patterns.some((p) => toRegex(p).test(tag));
    for (const tag of ["v0.1.0", "v12.3.45", "v1.0.0-rc.1"]) assert.ok(matches(tag), tag);
    for (const tag of ["v1", "v0", "latest", "v1.2"]) assert.ok(!matches(tag), tag);
  });

  test("builds the five assets: Linux on musl, natively per architecture", () => {
    const include = release.jobs.build.strategy.matrix.include;
    assert.deepEqual(include.map((e) => e.asset).sort(), [...ASSETS].sort());
    const byAsset = Object.fromEntries(include.map((e) => [e.asset, e]));
    assert.equal(byAsset["keyrot-linux-x64"].target, "x86_64-unknown-linux-musl");
    assert.equal(byAsset["keyrot-linux-arm64"].target, "aarch64-unknown-linux-musl");
    assert.match(byAsset["keyrot-linux-arm64"].os, /-arm$/);
    assert.equal(byAsset["keyrot-macos-x64"].target, "x86_64-apple-darwin");
    assert.equal(byAsset["keyrot-macos-arm64"].target, "aarch64-apple-darwin");
    assert.equal(byAsset["keyrot-windows-x64.exe"].target, "x86_64-pc-windows-msvc");
    assert.deepEqual(release.env.ASSETS.split(" ").sort(), [...ASSETS].sort());
  });

  test("publish: attests the release files with the permissions attestation needs", () => {
    const job = release.jobs.publish;
    assert.deepEqual(job.permissions, { contents: "write", "id-token": "write", attestations: "write" });
    const attest = job.steps.find((s) => s.uses?.startsWith("actions/attest-build-provenance@"));
    assert.equal(attest.with["subject-path"], "release/*");
    const names = job.steps.map((s) => s.id || s.name || s.uses);
    const at = (pred) => job.steps.findIndex(pred);
    assert.ok(at((s) => s.id === "checksums") < at((s) => s === attest), "checksums before attestation");
    assert.ok(at((s) => s === attest) < at((s) => /gh release create/.test(s.run || "")), `attest before release: ${names}`);
    assert.ok(job.steps.some((s) => /scripts\/package-ado --bin-dir dist/.test(s.run || "")));
  });

  test("pin: only the pin job can push, after publish", () => {
    assert.deepEqual(release.jobs.pin.needs, ["plan", "publish"]);
    assert.deepEqual(release.jobs.pin.permissions, { contents: "write" });
    for (const [name, job] of Object.entries(release.jobs)) {
      for (const s of job.steps || []) {
        if (/git push/.test(s.run || "")) assert.equal(name, "pin");
      }
    }
  });

  // --- the computing steps, run as the runner runs them ---------------------------------

  function runReleaseStep(t, job, id, env, cwd) {
    const dir = tempDir(t);
    const runner = fakeRunner(dir);
    const step = findStep(release.jobs[job].steps, id);
    // shell: from defaults.run (explicit bash: the runner's `bash --noprofile --norc -eo pipefail`)
    const r = runBashStep({ ...step, shell: step.shell || release.defaults.run.shell }, cleanEnv({ ...runner.env, ASSETS: release.env.ASSETS, ...env }), { cwd, dir });
    return { ...r, outputs: runner.outputs() };
  }

  test("plan: the version comes from the tag and must match Cargo.toml", (t) => {
    const ok = runReleaseStep(t, "plan", "version", { TAG: `v${cargoVersion()}` }, ROOT);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.deepEqual(ok.outputs, { version: cargoVersion(), prerelease: String(cargoVersion().includes("-")) });

    const bad = runReleaseStep(t, "plan", "version", { TAG: "v99.0.0" }, ROOT);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /::error::tag v99\.0\.0 does not match Cargo\.toml's version/);

    const dir = tempDir(t);
    fs.writeFileSync(path.join(dir, "Cargo.toml"), '[workspace]\nmembers = ["."]\n[workspace.package]\nversion = "9.9.9"\n\n[package]\nname = "keyrot"\nversion = "1.2.0-rc.1"\n\n[dependencies]\nx = { version = "1" }\n');
    const pre = runReleaseStep(t, "plan", "version", { TAG: "v1.2.0-rc.1" }, dir);
    assert.equal(pre.code, 0, pre.stdout);
    assert.deepEqual(pre.outputs, { version: "1.2.0-rc.1", prerelease: "true" });
    assert.equal(runReleaseStep(t, "plan", "version", { TAG: "v1.2" }, dir).code, 1);
  });

  /** A fake dist/ as download-artifact leaves it, then the checksums step over it. */
  function publishChecksums(t, version) {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, "dist"));
    const sums = {};
    for (const a of ASSETS) {
      const content = `#!/bin/sh\necho "keyrot ${version} (${a})"\n`;
      fs.writeFileSync(path.join(dir, "dist", a), content);
      sums[a] = sha256(content);
    }
    const r = runReleaseStep(t, "publish", "checksums", {}, dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return { dir, sums };
  }

  test("publish: checksums.txt is sha256sum's format over every release file", (t) => {
    const { dir, sums } = publishChecksums(t, "0.2.0");
    const lines = fs.readFileSync(path.join(dir, "release", "checksums.txt"), "utf8").trim().split("\n");
    assert.deepEqual(lines.sort(), ASSETS.map((a) => `${sums[a]}  ${a}`).sort());
    const check = run("sha256sum", ["-c", "checksums.txt"], { cwd: path.join(dir, "release") });
    assert.equal(check.code, 0, check.stdout);
    for (const a of ASSETS.filter((a) => !a.endsWith(".exe"))) {
      assert.ok(fs.statSync(path.join(dir, "release", a)).mode & 0o100, `${a} executable`);
    }
  });

  test("publish: a missing asset stops the release", (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, "dist"));
    for (const a of ASSETS.slice(1)) fs.writeFileSync(path.join(dir, "dist", a), a);
    const r = runReleaseStep(t, "publish", "checksums", {}, dir);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /::error::release asset keyrot-linux-x64 was not built/);
  });

  /** A checkout of the default branch (action.yml + scripts/) with a release's checksums. */
  function checkout(t, fromDir) {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, "scripts"));
    fs.copyFileSync(ACTION_YML, path.join(dir, "action.yml"));
    fs.copyFileSync(CHECKSUMS_TXT, path.join(dir, "scripts", "checksums.txt"));
    fs.copyFileSync(INSTALL_SH, path.join(dir, "scripts", "install.sh"));
    fs.mkdirSync(path.join(dir, "release"));
    if (fromDir) fs.copyFileSync(path.join(fromDir, "release", "checksums.txt"), path.join(dir, "release", "checksums.txt"));
    return dir;
  }
  const pinnedIn = (dir) => YAML.parse(fs.readFileSync(path.join(dir, "action.yml"), "utf8")).inputs.version.default;
  const updatePin = (t, dir, version) => runReleaseStep(t, "pin", "update-pin", { VERSION: version, RELEASE_CHECKSUMS: "release/checksums.txt" }, dir);

  test("pin: a new release is pinned, and install.sh then installs it from the new entries", (t) => {
    const { dir: pub, sums } = publishChecksums(t, "7.0.0");
    const repo = checkout(t, pub);
    const before = fs.readFileSync(path.join(repo, "action.yml"), "utf8").split("\n");

    const r = updatePin(t, repo, "7.0.0");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.outputs, { changed: "true", pinned: "true", "major-tag": "v7" });
    assert.equal(pinnedIn(repo), "7.0.0");
    const after = fs.readFileSync(path.join(repo, "action.yml"), "utf8").split("\n");
    const diff = after.filter((l, i) => l !== before[i]);
    assert.equal(diff.length, 1, `exactly one line of action.yml changes: ${diff}`);
    assert.ok(diff[0].includes(PIN_MARKER));
    const listed = fs.readFileSync(path.join(repo, "scripts", "checksums.txt"), "utf8");
    for (const a of ASSETS) assert.ok(listed.includes(`${sums[a]}  v7.0.0/${a}\n`), a);

    // The action, as pinned now, installs each asset through install.sh from those entries.
    for (const [runnerOs, arch, asset] of [
      ["Linux", "X64", "keyrot-linux-x64"],
      ["Linux", "ARM64", "keyrot-linux-arm64"],
      ["macOS", "X64", "keyrot-macos-x64"],
      ["macOS", "ARM64", "keyrot-macos-arm64"],
      ["Windows", "X64", "keyrot-windows-x64.exe"],
    ]) {
      const sandbox = tempDir(t);
      const runner = fakeRunner(sandbox, { os: runnerOs, arch });
      fs.mkdirSync(path.join(sandbox, "assets", "v7.0.0"), { recursive: true });
      fs.copyFileSync(path.join(pub, "release", asset), path.join(sandbox, "assets", "v7.0.0", asset));
      const inst = run("bash", [path.join(repo, "scripts", "install.sh")], {
        env: cleanEnv({
          ...runner.env,
          PATH: `${FAKE_BIN}:${process.env.PATH}`,
          FAKE_CURL_ASSETS: path.join(sandbox, "assets"),
          KEYROT_INSTALL_VERSION: pinnedIn(repo),
          KEYROT_INSTALL_REPOSITORY: "keyrot/keyrot",
        }),
      });
      assert.equal(inst.code, 0, `${asset}: ${inst.stdout}`);
      assert.equal(sha256(fs.readFileSync(runner.outputs().path)), sums[asset]);
    }
  });

  test("pin: running it again for the same release changes nothing", (t) => {
    const { dir: pub } = publishChecksums(t, "7.0.0");
    const repo = checkout(t, pub);
    assert.equal(updatePin(t, repo, "7.0.0").code, 0);
    const snapshot = fs.readFileSync(path.join(repo, "scripts", "checksums.txt"), "utf8");
    const again = updatePin(t, repo, "7.0.0");
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(again.outputs, { changed: "false", pinned: "false", "major-tag": "v7" });
    assert.equal(fs.readFileSync(path.join(repo, "scripts", "checksums.txt"), "utf8"), snapshot);
  });

  test("pin: different checksums for a version already listed are refused", (t) => {
    const repo = checkout(t, publishChecksums(t, "7.0.0").dir);
    assert.equal(updatePin(t, repo, "7.0.0").code, 0);
    fs.copyFileSync(path.join(publishChecksums(t, "rebuilt").dir, "release", "checksums.txt"), path.join(repo, "release", "checksums.txt"));
    const r = updatePin(t, repo, "7.0.0");
    assert.equal(r.code, 1);
    assert.match(r.stdout, /already lists other checksums for v7\.0\.0/);
  });

  test("pin: an older release or a pre-release adds its checksums but keeps the pin", (t) => {
    const repo = checkout(t, publishChecksums(t, "7.0.0").dir);
    assert.equal(updatePin(t, repo, "7.0.0").code, 0);
    for (const version of ["6.9.9", "7.1.0-rc.1"]) {
      fs.copyFileSync(path.join(publishChecksums(t, version).dir, "release", "checksums.txt"), path.join(repo, "release", "checksums.txt"));
      const r = updatePin(t, repo, version);
      assert.equal(r.code, 0, r.stdout);
      assert.deepEqual(r.outputs, { changed: "true", pinned: "false", "major-tag": `v${version.split(".")[0]}` });
      assert.equal(pinnedIn(repo), "7.0.0");
      assert.match(fs.readFileSync(path.join(repo, "scripts", "checksums.txt"), "utf8"), new RegExp(`  v${version.replaceAll(".", "\\.")}/keyrot-windows-x64\\.exe\\n`));
    }
    // Versions compare as versions, not as text: 7.0.10 is newer than 7.0.9.
    for (const version of ["7.0.9", "7.0.10"]) {
      fs.copyFileSync(path.join(publishChecksums(t, version).dir, "release", "checksums.txt"), path.join(repo, "release", "checksums.txt"));
      assert.equal(updatePin(t, repo, version).outputs.pinned, "true", version);
      assert.equal(pinnedIn(repo), version);
    }
  });

  // --- the pinned toolchain, --locked, and the SBOM ---------------------------------------

  test("every build uses rust-toolchain.toml's pinned toolchain and the reviewed Cargo.lock", () => {
    const toolchain = fs.readFileSync(path.join(ROOT, "rust-toolchain.toml"), "utf8");
    assert.match(toolchain, /^channel = "\d+\.\d+\.\d+"$/m, "a pinned release, not stable");
    assert.match(toolchain, /^components = \[.*"rustfmt".*\]$/m);
    assert.match(toolchain, /^components = \[.*"clippy".*\]$/m);
    for (const [file, doc] of [
      ["ci.yml", ci],
      ["release.yml", release],
    ]) {
      for (const step of allSteps(doc)) {
        const text = step.run || "";
        // A toolchain named here would not be the one rust-toolchain.toml makes cargo use.
        assert.doesNotMatch(text, /rustup (default|toolchain install \S*stable|override)/, `${file} ${step.job}: ${text}`);
        for (const line of text.split("\n")) {
          if (/\bcargo (build|clippy|test|deny)\b/.test(line)) assert.match(line, /--locked/, `${file} ${step.job}: ${line}`);
        }
      }
    }
    const build = findStep(release.jobs.build.steps, "Rust toolchain and target").run;
    assert.match(build, /rustup toolchain install --profile minimal\n/);
    assert.match(build, /rustup target add "\$TARGET"/);
  });

  test("ci.yml installs the cargo-deny version .ci/run pins, and checks everything", () => {
    const pinned = /^CARGO_DENY_VERSION=(\S+)$/m.exec(fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8"))[1];
    const step = findStep(ci.jobs.test.steps, "cargo deny");
    assert.match(step.run, new RegExp(`cargo install cargo-deny --version ${pinned.replaceAll(".", "\\.")} --locked`));
    assert.match(step.run, /cargo deny --locked check\n/);
  });

  test("the SBOM is built once, published beside the binaries, summed and attested", () => {
    const sbom = release.jobs.sbom;
    assert.deepEqual(sbom.permissions, { contents: "read" });
    const upload = sbom.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
    assert.equal(upload.with.path, "dist/keyrot.cdx.json");
    const download = release.jobs.publish.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"));
    const pattern = new RegExp(`^${download.with.pattern.replaceAll("*", ".*")}$`);
    assert.match(upload.with.name, pattern, "publish downloads the SBOM with the binaries");
    assert.ok(release.jobs.publish.needs.includes("sbom"));

    const steps = release.jobs.publish.steps;
    const at = (pred) => steps.findIndex(pred);
    const attestSbom = steps.find((s) => s.uses?.startsWith("actions/attest-sbom@"));
    assert.ok(attestSbom, "an SBOM attestation");
    assert.equal(attestSbom.with["sbom-path"], "release/keyrot.cdx.json");
    assert.deepEqual(attestSbom.with["subject-path"].trim().split("\n").sort(), ASSETS.map((a) => `release/${a}`).sort());
    const provenance = steps.find((s) => s.uses?.startsWith("actions/attest-build-provenance@"));
    assert.equal(provenance.with["subject-path"], "release/*", "the SBOM file's own provenance too");
    assert.ok(at((s) => s.id === "sbom") < at((s) => s.id === "checksums"), "the SBOM is in checksums.txt");
    const create = at((s) => /gh release create/.test(s.run || ""));
    assert.ok(at((s) => s === attestSbom) > at((s) => s.id === "checksums") && at((s) => s === attestSbom) < create);
    assert.match(steps[create].run, /gh release create "\$TAG" release\/\*/, "every file of release/ is published");
  });

  /** The sbom job's step with a fake `cargo cyclonedx` that writes `doc` as keyrot.cdx.json. */
  function runSbomStep(t, doc) {
    const dir = tempDir(t);
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(dir, "fake.cdx.json"), JSON.stringify(doc));
    fs.writeFileSync(
      path.join(bin, "cargo"),
      `#!/usr/bin/env bash\nprintf '%s\\n' "$@" >"${dir}/cargo-args"\n[[ "$1" == cyclonedx ]] || exit 99\necho "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" >>"${dir}/cargo-args"\ncp "${dir}/fake.cdx.json" keyrot.cdx.json\n`,
      { mode: 0o755 },
    );
    const repo = path.join(dir, "repo");
    fs.mkdirSync(repo);
    const git = (...args) => assert.equal(run("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo }).code, 0);
    git("init", "-q");
    git("commit", "-q", "--allow-empty", "-m", "tagged", "--date", "2026-01-02T03:04:05Z");
    const r = runReleaseStep(t, "sbom", "sbom", { PATH: `${bin}:${process.env.PATH}`, VERSION: "7.0.0", GIT_COMMITTER_DATE: "" }, repo);
    return { ...r, repo, args: fs.existsSync(path.join(dir, "cargo-args")) ? fs.readFileSync(path.join(dir, "cargo-args"), "utf8") : "" };
  }

  const cdx = (version, components = ["aws-lc-rs", "rustls"]) => ({
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    metadata: { component: { name: "keyrot", version } },
    components: components.map((name) => ({ name, version: "1.0.0" })),
  });

  test("sbom: CycloneDX 1.5 JSON for every target, checked, into dist/", (t) => {
    const ok = runSbomStep(t, cdx("7.0.0"));
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.deepEqual(ok.args.trim().split("\n").slice(0, -1), ["cyclonedx", "--format", "json", "--spec-version", "1.5", "--target", "all", "--override-filename", "keyrot.cdx"]);
    assert.match(ok.args, /SOURCE_DATE_EPOCH=\d+\n$/, "the tagged commit's time, for a reproducible document");
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(ok.repo, "dist", "keyrot.cdx.json"), "utf8")), cdx("7.0.0"));
    assert.match(ok.stdout, /keyrot\.cdx\.json: 2 components/);

    for (const [why, doc] of [
      ["another version", cdx("6.9.9")],
      ["no aws-lc-rs", cdx("7.0.0", ["rustls"])],
      ["another spec", { ...cdx("7.0.0"), specVersion: "1.3" }],
    ]) {
      const bad = runSbomStep(t, doc);
      assert.equal(bad.code, 1, why);
      assert.match(bad.stdout, /::error::keyrot\.cdx\.json is not a CycloneDX 1\.5 SBOM of keyrot 7\.0\.0/, why);
      assert.ok(!fs.existsSync(path.join(bad.repo, "dist", "keyrot.cdx.json")), why);
    }
  });

  test("publish: the SBOM is a release file in checksums.txt; without it the release stops", (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, "dist"));
    for (const a of ASSETS) fs.writeFileSync(path.join(dir, "dist", a), a);
    const missing = runReleaseStep(t, "publish", "sbom", {}, dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /::error::the SBOM keyrot\.cdx\.json was not built/);

    fs.writeFileSync(path.join(dir, "dist", "keyrot.cdx.json"), JSON.stringify(cdx("7.0.0")));
    assert.equal(runReleaseStep(t, "publish", "sbom", {}, dir).code, 0);
    const sums = runReleaseStep(t, "publish", "checksums", {}, dir);
    assert.equal(sums.code, 0, sums.stdout + sums.stderr);
    const listed = fs.readFileSync(path.join(dir, "release", "checksums.txt"), "utf8");
    assert.ok(listed.includes(`${sha256(JSON.stringify(cdx("7.0.0")))}  keyrot.cdx.json\n`), listed);
  });

  test("pin: a release checksums.txt lacking an asset is refused", (t) => {
    const { dir: pub } = publishChecksums(t, "7.0.0");
    const file = path.join(pub, "release", "checksums.txt");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").split("\n").filter((l) => !l.endsWith("keyrot-macos-x64")).join("\n"));
    const r = updatePin(t, checkout(t, pub), "7.0.0");
    assert.equal(r.code, 1);
    assert.match(r.stdout, /no single SHA-256 for keyrot-macos-x64/);
  });
});

describe("the validator rejects broken files (so its passing means something)", () => {
  function validate(t, name, text) {
    const dir = tempDir(t);
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return run(VALIDATOR, [file], { cwd: ROOT });
  }

  test("action.yml as it is passes", () => {
    const r = run(VALIDATOR, [path.join(ROOT, "action.yml")], { cwd: ROOT });
    assert.equal(r.code, 0, r.stderr);
  });

  test("an action step without shell fails", (t) => {
    const doc = loadYaml(ACTION_YML);
    delete doc.runs.steps[1].shell;
    const r = validate(t, "action.yml", YAML.stringify(doc));
    assert.equal(r.code, 1, "the validator accepted a composite run step without shell");
  });

  test("an action with an unknown runs.using fails", (t) => {
    const doc = loadYaml(ACTION_YML);
    doc.runs.using = "bash";
    assert.equal(validate(t, "action.yml", YAML.stringify(doc)).code, 1);
  });

  test("a workflow job without runs-on fails", (t) => {
    const doc = loadYaml(CI_YML);
    delete doc.jobs.test["runs-on"];
    assert.equal(validate(t, "ci.yml", YAML.stringify(doc)).code, 1);
  });

  test("a workflow with a misspelt key fails", (t) => {
    const doc = loadYaml(CI_YML);
    doc.jobs.test["timeout-minute"] = 5;
    assert.equal(validate(t, "ci.yml", YAML.stringify(doc)).code, 1);
  });
});

function cargoVersion() {
  const text = fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
  const pkg = text.slice(text.indexOf("[package]"));
  return /^version\s*=\s*"([^"]+)"/m.exec(pkg)[1];
}


