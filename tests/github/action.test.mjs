// action.yml: its shape, and its two steps run the way the runner runs a composite action's
// steps (run: text to a file, `bash --noprofile --norc -eo pipefail FILE`, env: evaluated from
// the inputs), against the real keyrot (KEYROT_BIN) and keyrot's emulator.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ACTION_YML,
  ASSETS,
  CHECKSUMS_TXT,
  HERE,
  PIN_MARKER,
  actionInputs,
  cleanEnv,
  emulatorAdmin,
  emulatorRequest,
  evaluateEnv,
  fakeRunner,
  findStep,
  keyrotBin,
  loadYaml,
  parseFileCommand,
  run,
  runBashStep,
  startEmulator,
  tempDir,
  vaultSecret,
} from "./lib.mjs";

const action = loadYaml(ACTION_YML);
const actionText = fs.readFileSync(ACTION_YML, "utf8");
const CLIENT_ID = "6a1f0c2e-4b3d-4e5f-8a9b-0c1d2e3f4a5b";
const OIDC_REQUEST_TOKEN = "action-test-request-token";
// The seed's second client: only the tests read the vault with it, never the action.
const READER = { clientId: "0d7e5b3a-8c2f-4a1e-9b6d-3f5a7c9e1b20", clientSecret: "action-test-reader-secret" };

describe("action.yml's shape", () => {
  test("a composite action whose steps all run in bash", () => {
    assert.equal(action.runs.using, "composite");
    assert.deepEqual(
      action.runs.steps.map((s) => [s.id, s.shell]),
      [
        ["install", "bash"],
        ["run", "bash"],
      ],
    );
  });

  test("no ${{ }} expression in any script text (inputs reach scripts only through env)", () => {
    for (const step of action.runs.steps) {
      assert.ok(!step.run.includes("${{"), `step ${step.id} interpolates an expression into its script`);
    }
  });

  test("every input is documented, and mapped into exactly one step env", () => {
    const used = new Map();
    for (const step of action.runs.steps) {
      for (const [name, value] of Object.entries(step.env)) {
        for (const m of String(value).matchAll(/inputs\.([\w-]+)/g)) {
          assert.ok(m[1] in action.inputs, `env ${name} uses undeclared input ${m[1]}`);
          used.set(m[1], (used.get(m[1]) || 0) + 1);
        }
      }
    }
    for (const [name, spec] of Object.entries(action.inputs)) {
      assert.ok(typeof spec.description === "string" && spec.description.length > 20, `input ${name} needs a description`);
      assert.equal(used.get(name), 1, `input ${name} must be mapped exactly once`);
    }
  });

  test("inputs mirror the CLI (the brief's list)", () => {
    assert.deepEqual(Object.keys(action.inputs).sort(), [
      "allow-expired",
      "args",
      "binary-path",
      "checksum",
      "client-id",
      "command",
      "config",
      "dry-run",
      "fail-within",
      "force",
      "kinds",
      "names",
      "no-expiry",
      "repository",
      "strict",
      "tenant-id",
      "trigger",
      "vaults",
      "version",
      "wait-lock",
      "warn-within",
    ]);
    assert.equal(action.inputs.command.default, "check");
  });

  test("outputs come from the run step (written by keyrot) and the install step", () => {
    const want = {
      status: "${{ steps.run.outputs.status }}",
      failed: "${{ steps.run.outputs.failed }}",
      warned: "${{ steps.run.outputs.warned }}",
      report: "${{ steps.run.outputs.report }}",
      rotated: "${{ steps.run.outputs.rotated }}",
      runs: "${{ steps.run.outputs.runs }}",
      path: "${{ steps.install.outputs.path }}",
    };
    assert.deepEqual(Object.keys(action.outputs).sort(), Object.keys(want).sort());
    // failed serves check (the gate) and rotate/sync (failed rotations and propagations).
    assert.match(action.outputs.failed.description, /gate/);
    assert.match(action.outputs.failed.description, /propagation/);
    for (const [name, value] of Object.entries(want)) {
      assert.equal(action.outputs[name]?.value, value, `output ${name}`);
      assert.ok(action.outputs[name].description, `output ${name} needs a description`);
    }
  });

  test("the pinned version is a release version, on the one line the release workflow rewrites", () => {
    const lines = actionText.split("\n").filter((l) => l.includes(PIN_MARKER));
    assert.equal(lines.length, 1);
    const m = /^ *default: '([^']*)' # keyrot-pinned-version/.exec(lines[0]);
    assert.ok(m, lines[0]);
    assert.equal(m[1], action.inputs.version.default);
    assert.match(m[1], /^\d+\.\d+\.\d+$/);
  });

  test("scripts/checksums.txt: well-formed, and every listed version has all five assets", () => {
    const byVersion = new Map();
    for (const line of fs.readFileSync(CHECKSUMS_TXT, "utf8").split("\n")) {
      if (/^\s*(#|$)/.test(line)) continue;
      const m = /^([0-9a-f]{64})  v(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\/(\S+)$/.exec(line);
      assert.ok(m, `malformed line: ${line}`);
      assert.ok(ASSETS.includes(m[3]), `unknown asset ${m[3]}`);
      const assets = byVersion.get(m[2]) || new Set();
      assert.ok(!assets.has(m[3]), `duplicate entry ${line}`);
      byVersion.set(m[2], assets.add(m[3]));
    }
    for (const [version, assets] of byVersion) assert.equal(assets.size, ASSETS.length, `v${version} is incomplete`);
    // Before the first release the pinned version has no entries; after it, all of them.
    const pinned = action.inputs.version.default;
    assert.ok(!byVersion.has(pinned) || byVersion.get(pinned).size === ASSETS.length);
  });

  test("the install step runs scripts/install.sh from the action's own folder", () => {
    const step = findStep(action.runs.steps, "install");
    assert.equal(step.run.trim(), 'bash "$GITHUB_ACTION_PATH/scripts/install.sh"');
    assert.deepEqual(Object.keys(step.env).sort(), [
      "KEYROT_INSTALL_ACTION_REPOSITORY",
      "KEYROT_INSTALL_BINARY_PATH",
      "KEYROT_INSTALL_CHECKSUM",
      "KEYROT_INSTALL_REPOSITORY",
      "KEYROT_INSTALL_VERSION",
    ]);
  });

  test("both scripts pass bash -n", (t) => {
    const dir = tempDir(t);
    for (const step of action.runs.steps) {
      const file = path.join(dir, `${step.id}.sh`);
      fs.writeFileSync(file, step.run);
      const r = run("bash", ["-n", file]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
});

/**
 * The composite action, step by step, as the runner runs it: inputs (given, else defaults),
 * the install step, then the run step with steps.install.outputs.path. `jobEnv` is what the job
 * sets (env: and, with id-token: write, the OIDC request variables).
 */
function runAction(t, inputs, jobEnv = {}, { dir = tempDir(t) } = {}) {
  const runner = fakeRunner(dir);
  const context = {
    inputs: actionInputs(action, inputs),
    github: { action_repository: "keyrot/keyrot" },
    steps: {},
  };
  const base = cleanEnv({ ...runner.env, GITHUB_ACTION_PATH: path.resolve(HERE, "..", ".."), ...jobEnv });

  const installStep = findStep(action.runs.steps, "install");
  const install = runBashStep(installStep, { ...base, ...evaluateEnv(installStep.env, context) }, { dir });
  const installOutputs = runner.outputs();
  context.steps.install = { outputs: installOutputs };
  if (install.code !== 0) return { install, code: install.code, stdout: install.stdout, stderr: install.stderr, outputs: {} };

  runner.resetOutputs();
  const runStep = findStep(action.runs.steps, "run");
  const r = runBashStep(runStep, { ...base, ...evaluateEnv(runStep.env, context) }, { dir });
  return { ...r, install, installOutputs, outputs: runner.outputs(), pathLines: runner.pathLines(), runner };
}

/**
 * A keyrot that records its argv (NUL-separated) and the Azure variables it sees, then runs the
 * real keyrot with the same arguments; or, with recordOnly, exits 0 without running it.
 */
function recorder(t, { recordOnly = false } = {}) {
  const dir = tempDir(t, "keyrot-rec-");
  const argvFile = path.join(dir, "argv");
  const envFile = path.join(dir, "env");
  const bin = path.join(dir, "keyrot");
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  fs.writeFileSync(
    bin,
    [
      "#!/usr/bin/env bash",
      `printf '%s\\0' "$@" >${q(argvFile)}`,
      `printf 'AZURE_CLIENT_ID=%s\\nAZURE_TENANT_ID=%s\\n' "\${AZURE_CLIENT_ID-<unset>}" "\${AZURE_TENANT_ID-<unset>}" >${q(envFile)}`,
      recordOnly ? "exit 0" : `exec ${q(keyrotBin())} "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return {
    bin,
    called: () => fs.existsSync(argvFile),
    argv: () => {
      const raw = fs.readFileSync(argvFile, "utf8");
      return raw === "" ? [] : raw.slice(0, -1).split("\0");
    },
    env: () => parseFileCommand(envFile),
  };
}

describe("the action's steps against keyrot and its emulator", () => {
  let emu;
  before(async () => {
    emu = await startEmulator(path.join(HERE, "emulator-seed.toml"));
  });
  after(async () => {
    await emu?.stop();
  });

  /** What a job with `permissions: id-token: write` has, pointed at the emulator. */
  const job = (extra = {}) => ({
    KEYROT_CA_CERT: emu.ca_path,
    AZURE_AUTHORITY_HOST: emu.authority_host,
    ACTIONS_ID_TOKEN_REQUEST_URL: emu.github_oidc_request_url,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: OIDC_REQUEST_TOKEN,
    ...extra,
  });
  const creds = () => ({ "client-id": CLIENT_ID, "tenant-id": emu.tenant_id });

  test("every check input becomes its flag, in order; names with spaces and quotes survive; unmatched names are refused", (t) => {
    const rec = recorder(t);
    const r = runAction(
      t,
      {
        "binary-path": rec.bin,
        vaults: `  ${emu.vaults.app} `,
        kinds: "secrets, certificates",
        names: "db-*\nit's a \"quoted\" name\n  spaced  name  \n\n",
        "warn-within": "30d",
        "fail-within": " 7d ",
        "no-expiry": "fail",
        strict: "true",
        args: `--timeout "20s" --log 'info'`,
        ...creds(),
      },
      job(),
    );
    assert.deepEqual(rec.argv(), [
      "check",
      `--vault=${emu.vaults.app}`,
      "--kinds=secrets,certificates",
      "--name=db-*",
      `--name=it's a "quoted" name`,
      "--name=spaced  name",
      "--warn-within=30d",
      "--fail-within=7d",
      "--no-expiry=fail",
      "--strict",
      "--timeout",
      "20s",
      "--log",
      "info",
    ]);
    assert.deepEqual(rec.env(), { AZURE_CLIENT_ID: CLIENT_ID, AZURE_TENANT_ID: emu.tenant_id });
    // The two names match no secret: a filter that selects nothing is a usage error (exit 2),
    // and keyrot's message quotes them exactly as the action passed them.
    assert.equal(r.code, 2, `names that select nothing are refused:\n${r.stdout}\n${r.stderr}`);
    assert.ok(
      r.stderr.includes(`--name "it's a \\"quoted\\" name", --name "spaced  name" selects no credential`),
      r.stderr,
    );
    assert.match(r.stderr, /GitHub Actions OIDC/, "signed in through GitHub OIDC");
    assert.match(r.stdout, /^keyrot check --vault=/m, "the command line is logged");
    assert.deepEqual(r.pathLines, [path.dirname(rec.bin)], "binary-path's folder is on PATH");
  });

  test("empty inputs are omitted: keyrot's defaults and the job's AZURE_* apply; the gate passes", (t) => {
    const rec = recorder(t);
    const r = runAction(t, { "binary-path": rec.bin, vaults: emu.vaults.app, names: "ok-*" }, job({ AZURE_CLIENT_ID: CLIENT_ID, AZURE_TENANT_ID: emu.tenant_id }));
    assert.deepEqual(rec.argv(), ["check", `--vault=${emu.vaults.app}`, "--name=ok-*"]);
    assert.deepEqual(rec.env(), { AZURE_CLIENT_ID: CLIENT_ID, AZURE_TENANT_ID: emu.tenant_id });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });

  test("no vaults input: nothing is passed and keyrot reads KEYROT_VAULTS from the job", (t) => {
    const rec = recorder(t);
    const r = runAction(t, { "binary-path": rec.bin, ...creds() }, job({ KEYROT_VAULTS: emu.vaults.app }));
    assert.deepEqual(rec.argv(), ["check"]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  });

  test("the step outputs keyrot writes become the action's outputs", (t) => {
    const rec = recorder(t);
    const r = runAction(t, { "binary-path": rec.bin, vaults: emu.vaults.app, ...creds() }, job());
    assert.equal(r.code, 1);
    // action.yml maps outputs.status etc. to steps.run.outputs.*: what keyrot wrote here.
    const outputs = evaluateEnv(
      Object.fromEntries(Object.entries(action.outputs).map(([k, v]) => [k, v.value])),
      { steps: { run: { outputs: r.outputs }, install: { outputs: r.installOutputs } } },
    );
    assert.equal(outputs.status, "fail");
    assert.equal(outputs.failed, "1");
    assert.equal(outputs.warned, "0");
    assert.ok(outputs.report && fs.existsSync(outputs.report), `report ${outputs.report}`);
    assert.equal(JSON.parse(fs.readFileSync(outputs.report, "utf8")).status, "fail");
    assert.equal(outputs.path, rec.bin);
  });

  test("args are split like shell words, quotes honoured, nothing expanded", (t) => {
    const rec = recorder(t);
    const r = runAction(
      t,
      {
        "binary-path": rec.bin,
        vaults: emu.vaults.app,
        args: `--tag "owner=team a"\n  --tag 'cost=$HOME' --tag x=\\"y\\" --timeout 20s`,
        ...creds(),
      },
      job(),
    );
    assert.deepEqual(rec.argv().slice(2), ["--tag", "owner=team a", "--tag", "cost=$HOME", "--tag", 'x="y"', "--timeout", "20s"]);
    // No secret has these tags: exit 2, and the message shows them unexpanded.
    assert.equal(r.code, 2, `tags that select nothing are refused:\n${r.stdout}\n${r.stderr}`);
    assert.ok(r.stderr.includes(`--tag "owner=team a" --tag "cost=$HOME" --tag "x=\\"y\\""`), r.stderr);
  });

  test("inputs are data, never code: command substitutions and backticks stay literal", (t) => {
    const rec = recorder(t);
    const dir = tempDir(t);
    const marker = path.join(dir, "pwned");
    const r = runAction(
      t,
      {
        "binary-path": rec.bin,
        vaults: emu.vaults.app,
        names: `$(touch ${marker})\n\`touch ${marker}\``,
        "warn-within": `30d$(touch ${marker})`,
        args: `"$(touch ${marker})"`,
        ...creds(),
      },
      job(),
      { dir },
    );
    assert.deepEqual(rec.argv(), [
      "check",
      `--vault=${emu.vaults.app}`,
      `--name=$(touch ${marker})`,
      `--name=\`touch ${marker}\``,
      `--warn-within=30d$(touch ${marker})`,
      `$(touch ${marker})`,
    ]);
    assert.ok(!fs.existsSync(marker), "an input was executed");
    assert.equal(r.code, 2, "keyrot rejects the odd duration and the stray argument as usage errors");
  });

  test("names and vaults: newline-separated lists keep commas inside items", (t) => {
    const rec = recorder(t, { recordOnly: true });
    runAction(t, { "binary-path": rec.bin, vaults: "a, b ,,c", names: "x,y\n  z  " });
    assert.deepEqual(rec.argv(), ["check", "--vault=a", "--vault=b", "--vault=c", "--name=x,y", "--name=z"]);
  });

  test("args: empty and bracketed arguments survive", (t) => {
    const rec = recorder(t, { recordOnly: true });
    runAction(t, { "binary-path": rec.bin, args: `--tag "" [x] "[y]" 'it'"'"'s'` });
    assert.deepEqual(rec.argv(), ["check", "--tag", "", "[x]", "[y]", "it's"]);
  });

  test("a value starting with '-' stays the flag's value", (t) => {
    const rec = recorder(t, { recordOnly: true });
    runAction(t, { "binary-path": rec.bin, vaults: "v", names: "-weird" });
    assert.deepEqual(rec.argv(), ["check", "--vault=v", "--name=-weird"]);
  });

  test("strict accepts true/false in any case; false and empty add nothing", (t) => {
    for (const [value, flag] of [
      ["TRUE", true],
      ["True", true],
      ["false", false],
      ["", false],
    ]) {
      const rec = recorder(t, { recordOnly: true });
      const r = runAction(t, { "binary-path": rec.bin, vaults: "v", strict: value });
      assert.equal(r.code, 0);
      assert.equal(rec.argv().includes("--strict"), flag, `strict: '${value}'`);
    }
  });

  test("fetch: vaults, names, strict and allow-expired map to keyrot fetch's flags", (t) => {
    const rec = recorder(t, { recordOnly: true });
    const r = runAction(t, {
      "binary-path": rec.bin,
      command: " fetch ",
      vaults: "kv1, kv2",
      names: "db-*, kv2/api-key=API_TOKEN",
      strict: "true",
      "allow-expired": "true",
    });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(rec.argv(), [
      "fetch",
      "--vault=kv1",
      "--vault=kv2",
      "--name=db-*",
      "--name=kv2/api-key=API_TOKEN",
      "--strict",
      "--allow-expired",
    ]);
  });

  test("fetch against the real keyrot: the value lands in $GITHUB_ENV, masked first", (t) => {
    const rec = recorder(t);
    const r = runAction(t, { "binary-path": rec.bin, command: "fetch", vaults: emu.vaults.app, names: "ok-*", ...creds() }, job());
    assert.deepEqual(rec.argv(), ["fetch", `--vault=${emu.vaults.app}`, "--name=ok-*"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^::add-mask::action-test-ok-value$/m);
    const env = parseFileCommand(r.runner.env.GITHUB_ENV);
    assert.equal(env.OK_TOKEN, "action-test-ok-value");
  });

  const refusals = [
    [{ command: "renew" }, "command must be check, fetch, rotate or sync, not 'renew'"],
    [{ strict: "yes" }, "strict must be true or false"],
    [{ "allow-expired": "true" }, "allow-expired applies to command fetch only"],
    [{ command: "fetch", "warn-within": "30d" }, "apply to command check only"],
    [{ command: "fetch", kinds: "keys" }, "kinds applies to command check only"],
    [{ args: `--tag "unbalanced` }, "args could not be split"],
  ];
  for (const [inputs, message] of refusals) {
    test(`refused before keyrot runs: ${JSON.stringify(inputs)}`, (t) => {
      const rec = recorder(t, { recordOnly: true });
      const r = runAction(t, { "binary-path": rec.bin, vaults: "v", ...inputs });
      assert.equal(r.code, 2, r.stdout);
      assert.ok(!rec.called(), "keyrot must not run");
      const errors = r.stdout.split("\n").filter((l) => l.startsWith("::error"));
      assert.equal(errors.length, 1, r.stdout);
      assert.ok(errors[0].includes(message), errors[0]);
    });
  }

  // --- rotate and sync ---------------------------------------------------------------------

  test("rotate: config, names, dry-run, force and wait-lock map to keyrot rotate's flags, in order", (t) => {
    const rec = recorder(t, { recordOnly: true });
    const r = runAction(t, {
      "binary-path": rec.bin,
      command: " rotate ",
      config: "  ops/keyrot prod.toml ",
      names: "db-*\n-odd name\n",
      "dry-run": "TRUE",
      force: "true",
      "wait-lock": " 2m ",
      args: `--lock-lease 30s --format 'json'`,
    });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(rec.argv(), [
      "rotate",
      "--config=ops/keyrot prod.toml",
      "--name=db-*",
      "--name=-odd name",
      "--dry-run",
      "--force",
      "--wait-lock=2m",
      "--lock-lease",
      "30s",
      "--format",
      "json",
    ]);
    assert.match(r.stdout, /^keyrot rotate --config=/m, "the command line is logged");
  });

  test("rotate: only config is needed; false and empty inputs add nothing", (t) => {
    const rec = recorder(t, { recordOnly: true });
    const r = runAction(t, { "binary-path": rec.bin, command: "rotate", config: "keyrot.toml", "dry-run": "false", force: "" });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(rec.argv(), ["rotate", "--config=keyrot.toml"]);
  });

  test("sync: config, names, dry-run, trigger and wait-lock map to keyrot sync's flags, in order", (t) => {
    const rec = recorder(t, { recordOnly: true });
    const r = runAction(t, {
      "binary-path": rec.bin,
      command: "sync",
      config: "keyrot.toml",
      names: "billing-*, api-key",
      "dry-run": "true",
      trigger: "True",
      "wait-lock": "90s",
      ...creds(),
    });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(rec.argv(), [
      "sync",
      "--config=keyrot.toml",
      "--name=billing-*",
      "--name=api-key",
      "--dry-run",
      "--trigger",
      "--wait-lock=90s",
    ]);
    assert.deepEqual(rec.env(), { AZURE_CLIENT_ID: CLIENT_ID, AZURE_TENANT_ID: emu.tenant_id });
  });

  test("rotate and sync inputs are data, never code", (t) => {
    const rec = recorder(t, { recordOnly: true });
    const dir = tempDir(t);
    const marker = path.join(dir, "pwned");
    const r = runAction(
      t,
      { "binary-path": rec.bin, command: "sync", config: `$(touch ${marker}).toml`, "wait-lock": `\`touch ${marker}\`` },
      {},
      { dir },
    );
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(rec.argv(), ["sync", `--config=$(touch ${marker}).toml`, `--wait-lock=\`touch ${marker}\``]);
    assert.ok(!fs.existsSync(marker), "an input was executed");
  });

  const rotationRefusals = [
    [{ command: "rotate" }, "input config is required for command rotate: the path of keyrot.toml"],
    [{ command: "sync", config: "   " }, "input config is required for command sync"],
    [{ command: "rotate", config: "k.toml", vaults: "v" }, "input vaults does not apply to command rotate: keyrot.toml names each credential's vault"],
    [{ command: "sync", config: "k.toml", vaults: "v" }, "input vaults does not apply to command sync"],
    [{ command: "rotate", config: "k.toml", kinds: "keys" }, "kinds applies to command check only"],
    [{ command: "sync", config: "k.toml", "fail-within": "7d" }, "apply to command check only"],
    [{ command: "rotate", config: "k.toml", strict: "true" }, "strict applies to commands check and fetch only"],
    [{ command: "sync", config: "k.toml", "allow-expired": "true" }, "allow-expired applies to command fetch only"],
    [{ command: "rotate", config: "k.toml", trigger: "true" }, "trigger applies to command sync only"],
    [{ command: "sync", config: "k.toml", force: "true" }, "force applies to command rotate only"],
    [{ command: "rotate", config: "k.toml", "dry-run": "yes" }, "input dry-run must be true or false, not 'yes'"],
    [{ command: "check", vaults: "v", config: "k.toml" }, "input config applies to commands rotate and sync only"],
    [{ command: "fetch", vaults: "v", "dry-run": "true" }, "input dry-run applies to commands rotate and sync only"],
    [{ command: "check", vaults: "v", force: "true" }, "input force applies to command rotate only"],
    [{ command: "fetch", vaults: "v", trigger: "true" }, "input trigger applies to command sync only"],
    [{ command: "check", vaults: "v", "wait-lock": "1m" }, "input wait-lock applies to commands rotate and sync only"],
  ];
  for (const [inputs, message] of rotationRefusals) {
    test(`refused before keyrot runs: ${JSON.stringify(inputs)}`, (t) => {
      const rec = recorder(t, { recordOnly: true });
      const r = runAction(t, { "binary-path": rec.bin, ...inputs });
      assert.equal(r.code, 2, r.stdout);
      assert.ok(!rec.called(), "keyrot must not run");
      const errors = r.stdout.split("\n").filter((l) => l.startsWith("::error"));
      assert.equal(errors.length, 1, r.stdout);
      assert.ok(errors[0].includes(message), errors[0]);
    });
  }

  test("rotate against the real keyrot: a dry run changes nothing, then the due secret is rotated once", async (t) => {
    const dir = tempDir(t);
    const config = path.join(dir, "keyrot.toml");
    fs.writeFileSync(
      config,
      [
        "[defaults]",
        `vault = "${emu.vaults.rot}"`,
        'rotate_within = "30d"',
        "",
        "[[credential]]",
        'name = "rotate-me"',
        'generator = "random"',
        "",
      ].join("\n"),
    );
    const inputs = { "binary-path": keyrotBin(), command: "rotate", config, ...creds() };
    // Each run gets a folder of its own (its own $GITHUB_OUTPUT).
    const once = (extra) => runAction(t, { ...inputs, ...extra }, job(), { dir: tempDir(t) });
    const outputsOf = (r) =>
      evaluateEnv(Object.fromEntries(Object.entries(action.outputs).map(([k, v]) => [k, v.value])), {
        steps: { run: { outputs: r.outputs }, install: { outputs: r.installOutputs } },
      });

    const dry = once({ "dry-run": "true" });
    assert.equal(dry.code, 0, `${dry.stdout}\n${dry.stderr}`);
    assert.match(dry.stdout, /^keyrot rotate --config=\S+ --dry-run$/m);

    const rotated = once({});
    assert.equal(rotated.code, 0, `${rotated.stdout}\n${rotated.stderr}`);
    const again = once({});
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);

    await t.test("(keyrot contract) outputs rotated, failed and runs", () => {
      const first = outputsOf(rotated);
      assert.equal(first.rotated, "1", `the dry run rotated nothing, this run the one due secret:\n${rotated.stdout}`);
      assert.equal(first.failed, "0");
      assert.deepEqual(JSON.parse(first.runs), [], "no trigger in keyrot.toml: no run started");
      const second = outputsOf(again);
      assert.equal(second.rotated, "0", `the secret is no longer due:\n${again.stdout}`);
      assert.equal(second.failed, "0");
      const planned = outputsOf(dry);
      assert.notEqual(planned.rotated, "1", "a dry run reports nothing rotated");
    });
  });

  test("rotate against the real keyrot: a storage account key, through the Resource Manager in the job's env (KEYROT_ARM_URL)", async (t) => {
    const armUrl = emu.env.KEYROT_ARM_URL;
    assert.match(armUrl, /^https:\/\/management\.localhost:\d+$/, "keyrot emulator exports its Resource Manager");
    const arm = await emulatorAdmin(emu, "/arm");
    const dir = tempDir(t);
    const config = path.join(dir, "keyrot.toml");
    fs.writeFileSync(
      config,
      [
        "[defaults]",
        `vault = "${emu.vaults.res}"`,
        "",
        "[[credential]]",
        'name = "orders-storage"',
        'generator = "storage-account-key"',
        `resource = "/subscriptions/${arm.subscription_id}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/orders"`,
        'value = "connection-string"',
        "",
      ].join("\n"),
    );
    const account = async () => {
      const found = (await emulatorAdmin(emu, "/arm")).storage_accounts.find((a) => a.name === "orders");
      return { ...Object.fromEntries(found.keys.map((k) => [k.keyName, k.value])), regenerations: found.regenerations };
    };
    const before = await account();
    await emulatorRequest(emu, "DELETE", `${emu.admin_url}/requests`);

    // As a workflow sets it: `env: KEYROT_ARM_URL: …` on the job or the step (no action input).
    const r = runAction(t, { "binary-path": keyrotBin(), command: "rotate", config, ...creds() }, job({ KEYROT_ARM_URL: armUrl }));
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /GitHub Actions OIDC/, "signed in through GitHub OIDC");

    // Exactly one key regenerated, at the emulator's Resource Manager: key2 (no secret yet, so
    // key1 is taken as the one in use).
    const after = await account();
    assert.deepEqual(after.regenerations, [...before.regenerations, "key2"]);
    assert.equal(after.key1, before.key1, "key1 is untouched");
    assert.notEqual(after.key2, before.key2, "key2 is regenerated");
    const requests = await emulatorAdmin(emu, "/requests");
    const regenerations = requests.filter((q) => q.route === "arm.storage.regenerateKey");
    assert.equal(regenerations.length, 1);
    assert.equal(regenerations[0].host, new URL(armUrl).host);

    // The vault's new version: the connection string with the regenerated key, named by its tag.
    const secret = await vaultSecret(emu, emu.vaults.res, "orders-storage", READER);
    assert.equal(secret.versions.length, 1, "one version written");
    assert.equal(secret.tags.CredentialId, "key2");
    assert.ok(secret.value.startsWith("DefaultEndpointsProtocol=https;AccountName=orders;"), "a connection string");
    assert.ok(secret.value.includes(`AccountKey=${after.key2};`), "it holds the regenerated key");

    // No key, old or new, nor the connection string, in anything the job shows or keeps.
    const shown = [r.stdout, r.stderr, r.install.stdout, r.install.stderr, JSON.stringify(r.outputs)];
    for (const value of [before.key1, before.key2, after.key2, secret.value]) {
      for (const text of shown) assert.ok(!text.includes(value), "a key or the connection string appeared in the job's output");
    }

    await t.test("(keyrot contract) outputs rotated=1, failed=0", () => {
      assert.equal(r.outputs.rotated, "1", r.stdout);
      assert.equal(r.outputs.failed, "0", r.stdout);
    });
  });

  test("an error message with a newline is escaped as the runner requires", (t) => {
    const rec = recorder(t, { recordOnly: true });
    const r = runAction(t, { "binary-path": rec.bin, command: "bad\nline 100%" });
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^::error title=keyrot action::input command must be check, fetch, rotate or sync, not 'bad%0Aline 100%25'$/m);
  });

  test("without binary-path the install step downloads, and stops the action on a missing checksum", (t) => {
    const r = runAction(t, { version: "0.0.0-unlisted", vaults: "v" });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^::error title=keyrot install::no checksum for v0\.0\.0-unlisted\/keyrot-linux-x64/m);
    assert.equal(r.installOutputs, undefined, "the run step never ran");
  });
});
