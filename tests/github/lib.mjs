// Shared helpers of the GitHub Action tests: paths, clean environments, processes, the runner's
// file commands, and running a step of action.yml or a workflow the way the runner does.
import { spawn, spawnSync } from "node:child_process";
import https from "node:https";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..", "..");
export const INSTALL_SH = path.join(ROOT, "scripts", "install.sh");
export const CHECKSUMS_TXT = path.join(ROOT, "scripts", "checksums.txt");
export const ACTION_YML = path.join(ROOT, "action.yml");
export const FAKE_BIN = path.join(HERE, "fake-bin");
export const VALIDATOR = path.join(HERE, "node_modules", ".bin", "action-validator");
export const ASSETS = [
  "keyrot-linux-x64",
  "keyrot-linux-arm64",
  "keyrot-macos-x64",
  "keyrot-macos-arm64",
  "keyrot-windows-x64.exe",
];
export const PIN_MARKER = "# keyrot-pinned-version";

/** The debug keyrot binary under test (scripts/test passes KEYROT_BIN). */
export function keyrotBin() {
  const bin =
    process.env.KEYROT_BIN ||
    path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, "target"), "debug", "keyrot");
  if (!fs.existsSync(bin)) {
    throw new Error(`keyrot binary not found at ${bin}: build it (cargo build) or set KEYROT_BIN`);
  }
  return bin;
}

export function tempDir(t, prefix = "keyrot-gh-") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256(data) {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A clean environment: nothing inherited from the machine or from an enclosing GitHub runner
 * (whose RUNNER_*, GITHUB_* and AZURE_* variables would change what the scripts do).
 */
export function cleanEnv(extra = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME || os.homedir(),
    LANG: "C.UTF-8",
    TMPDIR: os.tmpdir(),
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v !== undefined && v !== null) env[k] = String(v);
  }
  return env;
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Parses a runner file command ($GITHUB_OUTPUT, $GITHUB_ENV): NAME=VALUE and NAME<<DELIM forms. */
export function parseFileCommand(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  const lines = fs.readFileSync(file, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc && !line.includes("=")) {
      const [, name, delim] = heredoc;
      const value = [];
      i++;
      while (i < lines.length && lines[i] !== delim) value.push(lines[i++]);
      if (i >= lines.length) throw new Error(`unterminated ${name}<<${delim} in ${file}`);
      out[name] = value.join("\n");
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`malformed line in ${file}: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function loadYaml(file) {
  return YAML.parse(fs.readFileSync(file, "utf8"));
}

/** The step with this id (or name) of a composite action or of a workflow job's steps. */
export function findStep(steps, idOrName) {
  const step = steps.find((s) => s.id === idOrName || s.name === idOrName);
  if (!step) throw new Error(`no step ${idOrName}`);
  return step;
}

const EXPRESSION = /^\$\{\{\s*([^}]*?)\s*\}\}$/;

/**
 * Evaluates a step's env: map as the runner would, for the forms this repository uses: each
 * value is either a literal or exactly one ${{ path.to.value }} expression, looked up in
 * `context` (e.g. {inputs: {...}, steps: {install: {outputs: {...}}}, github: {...}}).
 * Anything else throws, so that a construct this model does not cover cannot pass unnoticed.
 */
export function evaluateEnv(envMap, context) {
  const env = {};
  for (const [name, raw] of Object.entries(envMap || {})) {
    const value = String(raw);
    if (!value.includes("${{")) {
      env[name] = value;
      continue;
    }
    const m = EXPRESSION.exec(value);
    if (!m || !/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(m[1])) {
      throw new Error(`env ${name}: unsupported expression ${value}`);
    }
    let v = context;
    for (const part of m[1].split(".")) v = v == null ? undefined : v[part];
    env[name] = v == null ? "" : String(v); // the runner turns a missing value into ''
  }
  return env;
}

/** The inputs a composite action sees: the given ones, else each input's default, else ''. */
export function actionInputs(action, given = {}) {
  for (const name of Object.keys(given)) {
    if (!(name in action.inputs)) throw new Error(`action.yml has no input ${name}`);
  }
  const inputs = {};
  for (const [name, spec] of Object.entries(action.inputs)) {
    inputs[name] = name in given ? String(given[name]) : spec.default == null ? "" : String(spec.default);
  }
  return inputs;
}

let stepCounter = 0;

/**
 * Runs a `shell: bash` step the way the runner does: the run text written to a file and run by
 * `bash --noprofile --norc -eo pipefail FILE`, with the given environment.
 */
export function runBashStep(step, env, { cwd = ROOT, dir } = {}) {
  if (step.shell !== "bash") throw new Error(`step ${step.id || step.name} is not shell: bash`);
  const script = path.join(dir || os.tmpdir(), `keyrot-step-${process.pid}-${++stepCounter}.sh`);
  fs.writeFileSync(script, step.run);
  try {
    return run("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], { env, cwd });
  } finally {
    fs.rmSync(script, { force: true });
  }
}

/** A fake runner around one job: the runner's own variables and file-command files. */
export function fakeRunner(dir, { os: runnerOs = "Linux", arch = "X64" } = {}) {
  const f = (name) => path.join(dir, name);
  fs.mkdirSync(f("runner-temp"), { recursive: true });
  fs.mkdirSync(f("tool-cache"), { recursive: true });
  for (const name of ["github_output", "github_env", "github_path", "step_summary"]) {
    fs.writeFileSync(f(name), "");
  }
  return {
    env: {
      CI: "true",
      GITHUB_ACTIONS: "true",
      RUNNER_OS: runnerOs,
      RUNNER_ARCH: arch,
      RUNNER_TEMP: f("runner-temp"),
      RUNNER_TOOL_CACHE: f("tool-cache"),
      GITHUB_OUTPUT: f("github_output"),
      GITHUB_ENV: f("github_env"),
      GITHUB_PATH: f("github_path"),
      GITHUB_STEP_SUMMARY: f("step_summary"),
    },
    outputs: () => parseFileCommand(f("github_output")),
    pathLines: () => fs.readFileSync(f("github_path"), "utf8").split("\n").filter(Boolean),
    resetOutputs: () => fs.writeFileSync(f("github_output"), ""),
    toolCache: f("tool-cache"),
    temp: f("runner-temp"),
  };
}

/** Starts `keyrot emulator` with a seed; resolves to its JSON line plus stop(). */
export async function startEmulator(seed) {
  const child = spawn(keyrotBin(), ["emulator", "--seed", seed], {
    stdio: ["ignore", "pipe", "pipe"],
    env: cleanEnv({ KEYROT_LOG: "warn" }),
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const info = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`emulator did not start: ${stderr}`)), 30000);
    child.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch (e) {
          reject(e);
        }
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}: ${stderr}`));
    });
  });
  return {
    ...info,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.removeAllListeners("exit");
        child.on("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** The "run:" texts of action.yml and the workflows, with where they come from. */
export function allRunScripts() {
  const scripts = [];
  const action = loadYaml(ACTION_YML);
  for (const step of action.runs.steps) {
    if (step.run) scripts.push({ file: "action.yml", where: step.id || step.name, shell: step.shell, run: step.run });
  }
  for (const wf of workflowFiles()) {
    const doc = loadYaml(wf);
    for (const [jobName, job] of Object.entries(doc.jobs)) {
      for (const step of job.steps || []) {
        if (!step.run) continue;
        const shell = step.shell || job.defaults?.run?.shell || doc.defaults?.run?.shell;
        scripts.push({ file: path.relative(ROOT, wf), where: `${jobName}/${step.id || step.name}`, shell, run: step.run });
      }
    }
  }
  return scripts;
}

export function workflowFiles() {
  const dir = path.join(ROOT, ".github", "workflows");
  return ["ci.yml", "release.yml"].map((f) => path.join(dir, f));
}

/**
 * A request to one of the emulator's hosts (localhost for its admin API, vault.localhost,
 * login.localhost, …) on its port, trusting its CA; resolves to the JSON answer. A failure names
 * the method and path only (an answer may hold a secret).
 */
export function emulatorRequest(emu, method, url, { headers = {}, body } = {}) {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        port: emu.port,
        servername: target.hostname,
        headers: { host: target.host, ...headers },
        path: `${target.pathname}${target.search}`,
        method,
        ca: fs.readFileSync(emu.ca_path),
      },
      (response) => {
        const chunks = [];
        response.on("data", (c) => chunks.push(c));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode >= 300) reject(new Error(`${method} ${target.pathname}: HTTP ${response.statusCode}`));
          else resolve(text ? JSON.parse(text) : null);
        });
      },
    );
    request.on("error", reject);
    if (body) request.write(body);
    request.end();
  });
}

/** The emulator's admin API: GET {admin_url}{route} (holds keys and secrets: never print it). */
export function emulatorAdmin(emu, route) {
  return emulatorRequest(emu, "GET", `${emu.admin_url}${route}`);
}

/**
 * A secret as the emulator's Key Vault serves it ({ value, tags, … }) with its versions, read
 * as a client with a secret (client credentials). Holds the value: never print it.
 */
export async function vaultSecret(emu, vaultUrl, name, { clientId, clientSecret }) {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: clientId,
    client_secret: clientSecret,
    scope: "https://vault.localhost/.default",
  }).toString();
  const token = await emulatorRequest(emu, "POST", `${emu.authority_host}/${emu.tenant_id}/oauth2/v2.0/token`, {
    headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(form) },
    body: form,
  });
  const headers = { authorization: `Bearer ${token.access_token}` };
  const base = `${vaultUrl.replace(/\/+$/, "")}/secrets/${encodeURIComponent(name)}`;
  const current = await emulatorRequest(emu, "GET", `${base}?api-version=7.4`, { headers });
  const versions = await emulatorRequest(emu, "GET", `${base}/versions?api-version=7.4`, { headers });
  return { ...current, versions: versions.value };
}
