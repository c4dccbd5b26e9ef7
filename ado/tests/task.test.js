'use strict';
// The task end to end under MockTestRunner: the agent is simulated (inputs, service connections,
// variables), everything else is real — azure-pipelines-task-lib, the wrapper, the keyrot binary
// (KEYROT_BIN) and `keyrot emulator` serving Key Vault and Entra ID over HTTPS.
//
// By default the task is staged from the source tree with KEYROT_BIN at bin/<os>-<arch>/keyrot.
// KEYROT_ADO_TASK_DIR=<dir> runs the same scenarios against a packaged task instead (the task
// folder of an unpacked .vsix; scripts/test-ado does this after scripts/package-ado).
//
// Scenarios marked "(keyrot contract)" assert what keyrot itself prints under Azure Pipelines
// (##vso logissue, task.complete, output and secret variables); the others need only the wrapper.
// The rotate and sync scenarios also run the wrapper with a stand-in keyrot (a script recording
// its argv and environment) and the real keyrot against the emulator's Azure DevOps.
// KEYROT_ADO_TEST_VERBOSE=1 prints each run's stdout and stderr (with every secret redacted).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { MockTestRunner } = require('azure-pipelines-task-lib/mock-test');
const { commandFromString } = require('azure-pipelines-task-lib/taskcommand');

const { keyrotBin, startEmulator } = require('./support/emulator');
const wrapper = require('../wrapper');

const ADO = path.resolve(__dirname, '..');
const ROOT = path.resolve(ADO, '..');
const RUN_TASK = path.join(__dirname, 'support', 'run-task.js');

// Credentials of the simulated Azure: distinctive, so a leak is easy to find.
const CLIENT_ID = 'keyrot-ado-app';
const CLIENT_SECRET = 'ado-sp-secret-Vq81Lm';
const ACCESS_TOKEN = 'ado-job-access-token-Z4pW2c';
const MSI_HEADER = 'ado-msi-header-Jd63';
const WIF_CONNECTION = '5e0f3c2a-9b1d-4f7e-8a6c-2d4b6f8a0c1e';
const SP_CONNECTION = 'b7d2e9f4-3a5c-4e1b-9f0d-7c8a6b4e2d10';
const PAT = 'ado-pipeline-pat-Q7r2Xk';
const PLANTED = {
  'db-password': 'PLANTED-ado-db-password-3c9e1b',
  'api-key': 'PLANTED-ado-api-key-77f0d2',
  'old-token': 'PLANTED-ado-old-token-e5a413',
  'rotate-me': 'PLANTED-ado-rotate-me-old-9a4c',
  'synced-token': 'PLANTED-ado-synced-token-2f6b',
  'stale-copy': 'PLANTED-ado-stale-copy-81d3',
  'kept-secret': 'PLANTED-ado-kept-secret-c05e',
};
// The storage account's seeded keys (base64, like the service's; its data plane decodes them).
const STORAGE_KEYS = {
  key1: Buffer.from('ADO-storage-key1-planted-0123456789abcdef0123456789abcdef01234567').toString('base64'),
  key2: Buffer.from('ADO-storage-key2-planted-0123456789abcdef0123456789abcdef01234567').toString('base64'),
};
const SECRETS = [CLIENT_SECRET, ACCESS_TOKEN, MSI_HEADER, PAT, ...Object.values(PLANTED), ...Object.values(STORAGE_KEYS)];

const SEED = `
[[client]]
client_id = "${CLIENT_ID}"
display_name = "release-pipeline"
secrets = [{ value = "${CLIENT_SECRET}", expires = "+90d" }]
federated_subjects = ["sc://keyrot/keyrot/${WIF_CONNECTION}"]

[azure_pipelines]
access_token = "${ACCESS_TOKEN}"

[managed_identity]
client_id = "${CLIENT_ID}"
header = "${MSI_HEADER}"

[[vault]]
name = "clean"
[[vault.secret]]
name = "fine"
value = "v"
exp = "+365d"

[[vault]]
name = "expiring"
[[vault.secret]]
name = "old-password"
value = "v"
exp = "-2d"
[[vault.secret]]
name = "fine"
value = "v"
exp = "+365d"

[[vault]]
name = "soon"
[[vault.secret]]
name = "in-warn-window"
value = "v"
exp = "+20d"

[[vault]]
name = "store"
[[vault.secret]]
name = "db-password"
value = "${PLANTED['db-password']}"
exp = "+90d"
[[vault.secret]]
name = "api-key"
value = "${PLANTED['api-key']}"
exp = "+120d"
[[vault.secret]]
name = "unrelated"
value = "v"
exp = "+120d"

[[vault]]
name = "stale"
[[vault.secret]]
name = "old-token"
value = "${PLANTED['old-token']}"
exp = "-1d"

# rotate and sync: rotate-me is due (expires within 30d), synced-token is not; both have a copy
# in the variable group billing-prod, whose pipeline billing-deploy keyrot starts.
[[vault]]
name = "rotation"
[[vault.secret]]
name = "rotate-me"
value = "${PLANTED['rotate-me']}"
exp = "+5d"
[[vault.secret]]
name = "synced-token"
value = "${PLANTED['synced-token']}"
exp = "+200d"

[[devops.identity]]
display_name = "payments Build Service (contoso)"
unique_name = "build-service@contoso"

[[devops.identity]]
display_name = "Release Ops"
unique_name = "ops@contoso.com"

# The job access token (System.AccessToken) the agent hands the task, as the build service.
[[devops.job_token]]
token = "${ACCESS_TOKEN}"
identity = "build-service@contoso"

[[devops.pat]]
token = "${PAT}"
identity = "ops@contoso.com"

[[devops.organization]]
name = "contoso"
[[devops.organization.project]]
name = "payments"
[[devops.organization.project.variable_group]]
id = 7
name = "billing-prod"
variables = { ROTATE_ME = { value = "${PLANTED['rotate-me']}", secret = true }, SYNCED_TOKEN = { value = "${PLANTED['stale-copy']}", secret = true }, KEPT_SECRET = { value = "${PLANTED['kept-secret']}", secret = true }, REGION = { value = "westeurope" } }
[[devops.organization.project.pipeline]]
id = 12
name = "billing-deploy"
variable_groups = ["billing-prod"]

# Resource keys (rotate): the storage account orders, whose connection string keyrot keeps in
# the vault resources, through the emulator's Resource Manager.
[[vault]]
name = "resources"

[arm]

[[arm.storage_account]]
resource_group = "rg"
name = "orders"
key1 = "${STORAGE_KEYS.key1}"
key2 = "${STORAGE_KEYS.key2}"
`;

let work;
let emulator;
let taskDir;
let sourceTaskDir;
let runCount = 0;

/** A task folder built from the source tree, the way package-ado lays it out. */
function stageTask(dir, { withBinary = true } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'task.json'), path.join(dir, 'task.json'));
  for (const file of ['index.js', 'wrapper.js']) {
    fs.copyFileSync(path.join(ADO, file), path.join(dir, file));
  }
  fs.symlinkSync(path.join(ADO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  if (withBinary) {
    const binDir = path.join(dir, 'bin', wrapper.platformDir());
    fs.mkdirSync(binDir, { recursive: true });
    const name = process.platform === 'win32' ? 'keyrot.exe' : 'keyrot';
    fs.symlinkSync(keyrotBin(), path.join(binDir, name));
  }
  return dir;
}

test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrot-ado-test-'));
  sourceTaskDir = stageTask(path.join(work, 'task'));
  taskDir = process.env.KEYROT_ADO_TASK_DIR ? path.resolve(process.env.KEYROT_ADO_TASK_DIR) : sourceTaskDir;
  assert.ok(fs.existsSync(path.join(taskDir, 'task.json')), `no task.json in ${taskDir}`);
  emulator = await startEmulator(SEED, path.join(work, 'emulator'));
});

test.after(async () => {
  if (emulator) await emulator.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const info = () => emulator.info;
const vaultUrl = (name) => info().vaults[name];

/** The AzureRM service connections of the scenarios. */
const connections = {
  sp: () => ({
    id: SP_CONNECTION,
    scheme: 'ServicePrincipal',
    auth: {
      serviceprincipalid: CLIENT_ID,
      serviceprincipalkey: CLIENT_SECRET,
      tenantid: info().tenant_id,
      authenticationType: 'spnKey',
    },
    data: { environmentAuthorityUrl: `${info().authority_host}/`, environment: 'AzureCloud' },
  }),
  wif: () => ({
    id: WIF_CONNECTION,
    scheme: 'WorkloadIdentityFederation',
    auth: {
      serviceprincipalid: CLIENT_ID,
      tenantid: info().tenant_id,
      workloadIdentityFederationSubject: `sc://keyrot/keyrot/${WIF_CONNECTION}`,
      workloadIdentityFederationIssuer: 'https://vstoken.dev.azure.com/keyrot',
    },
    data: {
      environmentAuthorityUrl: `${info().authority_host}/`,
      environment: 'AzureCloud',
      // Bare vault names resolve under this suffix (the emulator's vault host and port).
      AzureKeyVaultDnsSuffix: `vault.localhost:${info().port}`,
    },
  }),
  msi: () => ({
    id: '0c4a8e2f-6b1d-4d3e-a5f7-9e2c4b6d8f01',
    scheme: 'ManagedServiceIdentity',
    auth: { tenantid: info().tenant_id },
    data: { environmentAuthorityUrl: `${info().authority_host}/` },
  }),
};

/** What an agent passes for inputs the pipeline leaves out: task.json's defaults. */
function defaults() {
  const task = JSON.parse(fs.readFileSync(path.join(taskDir, 'task.json'), 'utf8'));
  return Object.fromEntries(task.inputs.filter((i) => i.defaultValue !== undefined).map((i) => [i.name, String(i.defaultValue)]));
}

/** Runs the task once; resolves to a Result. */
async function runTask({ inputs, connection = connections.sp(), variables = {}, env = {}, dir = taskDir, jobToken = ACCESS_TOKEN }) {
  await emulator.clearRequests();
  const runDir = path.join(work, 'runs', String(++runCount));
  fs.mkdirSync(runDir, { recursive: true });
  const scenario = {
    task: path.join(dir, 'index.js'),
    inputs: { ...defaults(), azureSubscription: connection.id, ...inputs },
    endpoints: {
      [connection.id]: connection,
      ...(jobToken ? { SystemVssConnection: { scheme: 'OAuth', auth: { AccessToken: jobToken } } } : {}),
    },
    variables,
    env: {
      TF_BUILD: 'True',
      AGENT_TEMPDIRECTORY: runDir,
      KEYROT_CA_CERT: info().ca_path,
      KEYROT_TIMEOUT: '20s',
      // task-lib would print endpoint parameters in debug lines (the agent masks those).
      DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF: 'true',
      ...env,
    },
  };
  const scenarioPath = path.join(runDir, 'scenario.json');
  fs.writeFileSync(scenarioPath, JSON.stringify(scenario));
  process.env.KEYROT_ADO_SCENARIO = scenarioPath;
  const runner = new MockTestRunner(RUN_TASK, path.join(dir, 'task.json'));
  runner.nodePath = process.execPath; // never download a Node (offline)
  try {
    await runner.runAsync();
  } finally {
    delete process.env.KEYROT_ADO_SCENARIO;
  }
  const result = new Result(runner, await emulator.requests(), dir);
  if (process.env.KEYROT_ADO_TEST_VERBOSE) console.log(result.transcript); // secrets redacted
  return result;
}

class Result {
  constructor(runner, requests, dir) {
    this.runner = runner;
    this.stdout = runner.stdout;
    this.stderr = runner.stderr;
    this.requests = requests;
    this.dir = dir;
    this.commands = [];
    for (const line of this.stdout.split(/\r?\n/)) {
      const at = line.indexOf('##vso[');
      if (at >= 0) this.commands.push({ ...commandFromString(line.slice(at)), line });
    }
  }
  /** Both streams with every known secret replaced, for assertion messages. */
  get transcript() {
    let text = `--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`;
    for (const secret of SECRETS) text = text.split(secret).join('***');
    return text;
  }
  completions() {
    return this.commands.filter((c) => c.command === 'task.complete').map((c) => ({ result: c.properties.result, message: c.message }));
  }
  failed() {
    return this.completions().some((c) => c.result === 'Failed');
  }
  /** Issues of one type, from keyrot (task.logissue) or task-lib (task.issue). */
  issues(type) {
    return this.commands
      .filter((c) => (c.command === 'task.logissue' || c.command === 'task.issue') && c.properties.type === type)
      .map((c) => c.message);
  }
  variable(name) {
    const found = this.commands.filter((c) => c.command === 'task.setvariable' && c.properties.variable === name);
    return found.length ? found[found.length - 1] : undefined;
  }
  /** The keyrot command lines the wrapper logged ([command] lines, as ToolRunner does). */
  commandLines() {
    return Object.keys(this.runner.cmdlines);
  }
  routes(route) {
    return this.requests.filter((r) => r.route === route);
  }
  /** Requests to the emulator's Azure DevOps (variable groups, pipelines, releases). */
  devopsRequests() {
    return this.requests.filter((r) => String(r.route).startsWith('devops.'));
  }
  bin() {
    return path.join(this.dir, 'bin', wrapper.platformDir(), process.platform === 'win32' ? 'keyrot.exe' : 'keyrot');
  }
}

function assertSucceeded(result) {
  assert.ok(!result.failed(), `the task failed:\n${result.transcript}`);
  assert.equal(result.commandLines().length, 1, `keyrot should have run once:\n${result.transcript}`);
}

function assertFailedWith(result, message) {
  const failures = result.completions().filter((c) => c.result === 'Failed');
  assert.equal(failures.length, 1, `expected one Failed result:\n${result.transcript}`);
  if (message instanceof RegExp) assert.match(failures[0].message, message, result.transcript);
  else assert.equal(failures[0].message, message, result.transcript);
}

/** Secrets appear on stdout only where the agent expects them (it masks them from then on). */
function assertNoLeaks(result) {
  for (const secret of SECRETS) {
    assert.ok(!result.stderr.includes(secret), `a secret leaked to stderr:\n${result.transcript}`);
    for (const line of result.stdout.split(/\r?\n/)) {
      if (!line.includes(secret)) continue;
      const allowed =
        line.startsWith('##vso[task.setsecret]') ||
        (line.startsWith('##vso[task.setvariable ') && /;issecret=true[;\]]/i.test(line));
      assert.ok(allowed, `a secret leaked on stdout outside setsecret/setvariable issecret=true:\n${result.transcript}`);
    }
  }
}

/** The line keyrot logs on stderr once it has a token: "auth: using <description>". */
function assertAuthUsed(result, description) {
  assert.ok(result.stderr.includes(`auth: using ${description}`), `keyrot did not authenticate with ${description}:\n${result.transcript}`);
}

function assertListed(result, vault) {
  const host = new URL(vaultUrl(vault)).host;
  const lists = result.routes('secrets.list').filter((r) => r.host === host && r.status === 200);
  assert.ok(lists.length > 0, `keyrot listed no secrets of ${vault}:\n${result.transcript}`);
}

// --- check ------------------------------------------------------------------------------------

test('check pass: the task succeeds and leaves the result to keyrot', async (t) => {
  const result = await runTask({ inputs: { command: 'check', vaults: vaultUrl('clean') } });
  assertSucceeded(result);
  assert.deepEqual(
    result.commandLines(),
    [`${result.bin()} check --auth client-secret --vault ${vaultUrl('clean')} --no-expiry warn`]
  );
  assert.deepEqual(result.completions(), [], `the wrapper must not set a result on exit 0:\n${result.transcript}`);
  assertListed(result, 'clean');
  assertNoLeaks(result);

  await t.test('(keyrot contract) output variables: KEYROT_STATUS=pass, no failures or warnings', () => {
    for (const [name, value] of [['KEYROT_STATUS', 'pass'], ['KEYROT_FAILED', '0'], ['KEYROT_WARNED', '0']]) {
      const variable = result.variable(name);
      assert.ok(variable, `keyrot set no ${name}:\n${result.transcript}`);
      assert.equal(variable.message, value, name);
      assert.equal(String(variable.properties.isOutput).toLowerCase(), 'true', `${name} is an output variable`);
    }
    const report = result.variable('KEYROT_REPORT');
    assert.ok(report && report.message.trim() !== '', `keyrot set no KEYROT_REPORT:\n${result.transcript}`);
  });
});

test('(keyrot contract) the task makes keyrot speak Azure Pipelines even without TF_BUILD', async () => {
  const result = await runTask({ inputs: { command: 'check', vaults: vaultUrl('soon') }, env: { TF_BUILD: '' } });
  assertSucceeded(result);
  assert.equal(result.variable('KEYROT_STATUS')?.message, 'warn', `no Azure Pipelines output:\n${result.transcript}`);
  assert.deepEqual(result.completions().map((c) => c.result), ['SucceededWithIssues'], result.transcript);
});

test('check fail: exit 1 fails the task with the meaning of the code', async (t) => {
  const result = await runTask({ inputs: { command: 'check', vaults: vaultUrl('expiring') } });
  assertFailedWith(result, wrapper.exitMessage('check', 1));
  assertListed(result, 'expiring');
  assertNoLeaks(result);

  await t.test('(keyrot contract) one error per failing credential, KEYROT_STATUS=fail', () => {
    const errors = result.issues('error').filter((m) => m.includes('old-password'));
    assert.equal(errors.length, 1, `keyrot logged no error naming old-password:\n${result.transcript}`);
    assert.ok(!result.issues('error').some((m) => m.includes('fine')), 'a valid credential is no error');
    assert.equal(result.variable('KEYROT_STATUS')?.message, 'fail', result.transcript);
    assert.equal(result.variable('KEYROT_FAILED')?.message, '1', result.transcript);
  });
});

test('warnings only: the task is not failed by the wrapper', async (t) => {
  const result = await runTask({ inputs: { command: 'check', vaults: vaultUrl('soon') } });
  assertSucceeded(result);
  assert.ok(
    result.completions().every((c) => c.result === 'SucceededWithIssues'),
    `only keyrot's SucceededWithIssues may be set:\n${result.transcript}`
  );
  assertNoLeaks(result);

  await t.test('(keyrot contract) warnings → SucceededWithIssues, a warning per credential', () => {
    const results = result.completions().map((c) => c.result);
    assert.deepEqual(results, ['SucceededWithIssues'], `keyrot did not complete with issues:\n${result.transcript}`);
    const warnings = result.issues('warning').filter((m) => m.includes('in-warn-window'));
    assert.equal(warnings.length, 1, `keyrot logged no warning naming in-warn-window:\n${result.transcript}`);
    assert.equal(result.variable('KEYROT_STATUS')?.message, 'warn', result.transcript);
    assert.equal(result.variable('KEYROT_WARNED')?.message, '1', result.transcript);
  });
});

test('every check input reaches keyrot: strict with the windows turns the warning into a failure', async () => {
  const inputs = {
    command: 'check',
    vaults: vaultUrl('soon'),
    names: 'in-*',
    kinds: 'secrets',
    warnWithin: '30d',
    failWithin: '7d',
    noExpiry: 'fail',
    strict: 'true',
    args: `--timeout '25s' --tag "owner=team a"`,
  };
  // The tag filter selects nothing (exit 2); without it, strict fails the gate.
  const tagged = await runTask({ inputs });
  assert.deepEqual(tagged.commandLines(), [
    `${tagged.bin()} check --auth client-secret --vault ${vaultUrl('soon')} --name in-* --kinds secrets ` +
      `--warn-within 30d --fail-within 7d --no-expiry fail --strict --timeout 25s --tag "owner=team a"`,
  ]);
  // No credential carries the tag: a filter that selects nothing is a usage error (exit 2),
  // never a passing gate, so a typo cannot wave a release through.
  assertFailedWith(tagged, wrapper.exitMessage('check', 2));
  assert.match(tagged.transcript, /selects no credential/);

  const strict = await runTask({ inputs: { ...inputs, args: '' } });
  assertFailedWith(strict, wrapper.exitMessage('check', 1));

  const lenient = await runTask({ inputs: { ...inputs, args: '', strict: 'false' } });
  assert.ok(!lenient.failed(), `without strict the warning passes:\n${lenient.transcript}`);
});

test('exit 2 and 3: usage and runtime errors fail the task with their meaning', async () => {
  const usage = await runTask({ inputs: { command: 'check', vaults: vaultUrl('clean'), warnWithin: 'soonish' } });
  assertFailedWith(usage, wrapper.exitMessage('check', 2));
  const runtime = await runTask({ inputs: { command: 'check', vaults: vaultUrl('clean').replace('clean', 'missing') } });
  assertFailedWith(runtime, wrapper.exitMessage('check', 3));
  assertNoLeaks(runtime);
});

// --- fetch ------------------------------------------------------------------------------------

test('(keyrot contract) fetch → one secret variable per secret, named like the secret', async () => {
  const result = await runTask({ inputs: { command: 'fetch', vaults: vaultUrl('store'), names: 'db-*, api-key' } });
  assert.deepEqual(result.commandLines(), [
    `${result.bin()} fetch --auth client-secret --vault ${vaultUrl('store')} --name db-* --name api-key`,
  ]);
  assertSucceeded(result);
  for (const name of ['db-password', 'api-key']) {
    const variable = result.variable(name);
    assert.ok(variable, `keyrot set no variable ${name}:\n${result.transcript}`);
    assert.equal(String(variable.properties.issecret).toLowerCase(), 'true', `${name} must be a secret variable`);
    assert.ok(variable.message === PLANTED[name], `${name} does not hold the secret's value`);
  }
  assert.equal(result.variable('unrelated'), undefined, 'a secret the names do not match was exported');
  assertNoLeaks(result);
});

test('(keyrot contract) fetch refuses an expired secret named exactly, skips one a pattern selects, unless allowExpired', async () => {
  const refused = await runTask({ inputs: { command: 'fetch', vaults: vaultUrl('stale'), names: 'old-token' } });
  assertFailedWith(refused, wrapper.exitMessage('fetch', 1));
  assert.equal(refused.variable('old-token'), undefined, `an expired secret was exported:\n${refused.transcript}`);
  assertNoLeaks(refused);

  // Every secret (AzureKeyVault@2's `*`): the expired one is skipped with a warning.
  const skipped = await runTask({ inputs: { command: 'fetch', vaults: vaultUrl('stale') } });
  assertSucceeded(skipped);
  assert.equal(skipped.variable('old-token'), undefined, `an expired secret was exported:\n${skipped.transcript}`);
  assert.ok(skipped.issues('warning').some((m) => m.includes('old-token')), `no warning:\n${skipped.transcript}`);
  assert.deepEqual(skipped.completions().map((c) => c.result), ['SucceededWithIssues'], skipped.transcript);
  assertNoLeaks(skipped);

  // strict: a skip fails the task.
  const strict = await runTask({ inputs: { command: 'fetch', vaults: vaultUrl('stale'), strict: 'true' } });
  assertFailedWith(strict, wrapper.exitMessage('fetch', 1));
  assertNoLeaks(strict);

  const allowed = await runTask({ inputs: { command: 'fetch', vaults: vaultUrl('stale'), allowExpired: 'true' } });
  assert.deepEqual(allowed.commandLines(), [
    `${allowed.bin()} fetch --auth client-secret --vault ${vaultUrl('stale')} --allow-expired`,
  ]);
  assertSucceeded(allowed);
  assert.ok(allowed.variable('old-token')?.message === PLANTED['old-token'], `old-token was not exported:\n${allowed.transcript}`);
  assertNoLeaks(allowed);
});

// --- service connections ----------------------------------------------------------------------

test('workload identity federation: keyrot signs in through the pipeline OIDC token', async () => {
  const result = await runTask({
    connection: connections.wif(),
    inputs: { command: 'check', vaults: 'clean' },
    variables: {
      'System.OidcRequestUri': info().azure_pipelines_oidc_url,
      // The agent's own CA (Agent.CAInfo) stands in for KEYROT_CA_CERT here.
      'Agent.CAInfo': info().ca_path,
    },
    env: { KEYROT_CA_CERT: '' },
  });
  assertSucceeded(result);
  assert.deepEqual(result.commandLines(), [
    `${result.bin()} check --auth azure-pipelines --vault ${vaultUrl('clean')} --no-expiry warn`,
  ]);
  assertAuthUsed(result, `Azure Pipelines service connection ${WIF_CONNECTION} for client ${CLIENT_ID}`);

  const oidc = result.routes('azure-pipelines-oidc');
  assert.equal(oidc.length, 1, `keyrot made no OIDC token request:\n${result.transcript}`);
  assert.equal(oidc[0].status, 200);
  assert.equal(oidc[0].method, 'POST');
  assert.ok(oidc[0].path_and_query.includes(`serviceConnectionId=${WIF_CONNECTION}`), 'the OIDC request names the service connection');
  const authorization = oidc[0].headers.find(([k]) => k.toLowerCase() === 'authorization');
  assert.ok(authorization && authorization[1] === `Bearer ${ACCESS_TOKEN}`, 'the OIDC request carries the job access token');

  const tokens = result.routes('token');
  assert.equal(tokens.length, 1, result.transcript);
  assert.equal(tokens[0].status, 200);
  assert.ok(tokens[0].body.includes('client_assertion='), 'the token request exchanges the OIDC token');
  assert.ok(!tokens[0].body.includes('client_secret='), 'no client secret is used');
  assertListed(result, 'clean');
  assertNoLeaks(result);
});

test('service principal with a secret: keyrot signs in with the client secret', async () => {
  const result = await runTask({ inputs: { command: 'check', vaults: vaultUrl('clean') } });
  assertSucceeded(result);
  assertAuthUsed(result, `client secret for client ${CLIENT_ID}`);
  const tokens = result.routes('token');
  assert.equal(tokens.length, 1, result.transcript);
  assert.equal(tokens[0].status, 200);
  assert.ok(tokens[0].body.includes('grant_type=client_credentials'));
  assert.ok(tokens[0].body.includes(`client_id=${CLIENT_ID}`));
  assert.ok(tokens[0].body.includes('client_secret='), 'the token request carries the secret');
  assert.ok(!tokens[0].body.includes('client_assertion='));
  assert.equal(result.routes('azure-pipelines-oidc').length, 0, 'no OIDC request with a secret connection');
  assert.ok(
    result.stdout.split(/\r?\n/).includes(`##vso[task.setsecret]${CLIENT_SECRET}`),
    'the wrapper registers the key as a secret with the agent'
  );
  assertNoLeaks(result);
});

test('managed identity: keyrot asks the identity endpoint', async () => {
  const result = await runTask({
    connection: connections.msi(),
    inputs: { command: 'check', vaults: vaultUrl('clean') },
    // An App Service-hosted agent; a stray client id must not turn into a user-assigned identity.
    env: { IDENTITY_ENDPOINT: info().msi_endpoint, IDENTITY_HEADER: MSI_HEADER, AZURE_CLIENT_ID: 'someone-else' },
  });
  assertSucceeded(result);
  assert.deepEqual(result.commandLines(), [
    `${result.bin()} check --auth managed-identity --vault ${vaultUrl('clean')} --no-expiry warn`,
  ]);
  assertAuthUsed(result, 'managed identity (system-assigned identity)');
  const msi = result.routes('msi');
  assert.equal(msi.length, 1, result.transcript);
  assert.equal(msi[0].status, 200);
  assert.ok(!msi[0].path_and_query.includes('client_id='), 'system-assigned: no client id');
  assertListed(result, 'clean');
  assertNoLeaks(result);
});

test('a certificate service principal fails clearly before keyrot runs', async () => {
  const connection = connections.sp();
  connection.auth = {
    serviceprincipalid: CLIENT_ID,
    tenantid: info().tenant_id,
    authenticationType: 'spnCertificate',
    servicePrincipalCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
  };
  const result = await runTask({ connection, inputs: { command: 'check', vaults: vaultUrl('clean') } });
  assertFailedWith(result, /service principal with a certificate, which keyrot does not support/);
  assert.deepEqual(result.commandLines(), [], 'keyrot must not run');
  assert.equal(result.requests.length, 0, 'nothing reached the emulator');
});

test('an unsupported authentication scheme fails clearly', async () => {
  const connection = { id: '7f3e1d5c-2b4a-4c6e-8d0f-1a3c5e7b9d2f', scheme: 'PublishProfile', auth: { tenantid: info().tenant_id }, data: {} };
  const result = await runTask({ connection, inputs: { command: 'check', vaults: vaultUrl('clean') } });
  assertFailedWith(result, /authentication scheme PublishProfile, which keyrot does not support/);
  assert.deepEqual(result.commandLines(), []);
});

// --- the task itself --------------------------------------------------------------------------

test('a task without a binary for this platform fails clearly', async () => {
  const bare = stageTask(path.join(work, 'task-without-binary'), { withBinary: false });
  const result = await runTask({ dir: bare, inputs: { command: 'check', vaults: vaultUrl('clean') } });
  assertFailedWith(result, new RegExp(`no keyrot binary for ${wrapper.platformDir()}.*packaged for: no platform at all`));
  assert.deepEqual(result.commandLines(), []);
});

test('a binary that lost its mode bits in the package is made executable and runs', async () => {
  if (process.platform === 'win32') return; // no mode bits to lose
  const dir = stageTask(path.join(work, 'task-without-mode-bits'), { withBinary: false });
  const source = path.join(taskDir, 'bin', wrapper.platformDir(), 'keyrot');
  const file = path.join(dir, 'bin', wrapper.platformDir(), 'keyrot');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.copyFileSync(source, file);
  fs.chmodSync(file, 0o644); // what unpacking a .vsix (zip without unix modes) leaves
  const result = await runTask({ dir, inputs: { command: 'check', vaults: vaultUrl('clean') } });
  assertSucceeded(result);
  assert.equal(fs.statSync(file).mode & 0o111, 0o111, 'the wrapper made the binary executable');
});

test('an unterminated quote in args fails before keyrot runs', async () => {
  const result = await runTask({ inputs: { command: 'check', vaults: vaultUrl('clean'), args: `--name 'oops` } });
  assertFailedWith(result, /unterminated ' quote/);
  assert.deepEqual(result.commandLines(), []);
});

// --- rotate and sync: the wrapper, with a stand-in keyrot ---------------------------------------
//
// A task folder like the one under test (source tree or package) whose bin/ holds a script that
// records its arguments and the Azure DevOps credentials in its environment to a file, prints
// what KEYROT_FAKE_STDOUT holds (as keyrot prints its ##vso commands) and exits KEYROT_FAKE_EXIT.

const FAKE_KEYROT = `#!/usr/bin/env bash
printf '%s\\0' "$@" >"$KEYROT_FAKE_OUT/argv"
{
  printf 'SYSTEM_ACCESSTOKEN=%s\\n' "\${SYSTEM_ACCESSTOKEN-<unset>}"
  printf 'AZURE_DEVOPS_EXT_PAT=%s\\n' "\${AZURE_DEVOPS_EXT_PAT-<unset>}"
} >"$KEYROT_FAKE_OUT/env"
if [ -n "\${KEYROT_FAKE_STDOUT:-}" ]; then cat "$KEYROT_FAKE_STDOUT"; fi
exit "\${KEYROT_FAKE_EXIT:-0}"
`;

let fakeTaskDir;
function fakeTask() {
  if (!fakeTaskDir) {
    const dir = path.join(work, 'task-with-fake-keyrot');
    fs.mkdirSync(dir, { recursive: true });
    for (const file of ['task.json', 'index.js', 'wrapper.js']) {
      fs.copyFileSync(path.join(taskDir, file), path.join(dir, file));
    }
    fs.symlinkSync(fs.realpathSync(path.join(taskDir, 'node_modules')), path.join(dir, 'node_modules'), 'dir');
    const bin = path.join(dir, 'bin', wrapper.platformDir());
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'keyrot'), FAKE_KEYROT, { mode: 0o755 });
    fakeTaskDir = dir;
  }
  return fakeTaskDir;
}

/** Runs the task with the stand-in keyrot; resolves to { result, argv(), env(), called() }. */
async function runFake({ stdout = '', exit = 0, env = {}, ...options }) {
  const out = fs.mkdtempSync(path.join(work, 'fake-'));
  const stdoutFile = path.join(out, 'stdout');
  fs.writeFileSync(stdoutFile, stdout);
  const result = await runTask({
    ...options,
    dir: fakeTask(),
    env: { KEYROT_FAKE_OUT: out, KEYROT_FAKE_STDOUT: stdoutFile, KEYROT_FAKE_EXIT: String(exit), ...env },
  });
  const argvFile = path.join(out, 'argv');
  return {
    result,
    called: () => fs.existsSync(argvFile),
    argv: () => fs.readFileSync(argvFile, 'utf8').split('\0').slice(0, -1),
    env: () =>
      Object.fromEntries(
        fs.readFileSync(path.join(out, 'env'), 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
      ),
  };
}

/** The sources folder of the simulated job, with a keyrot.toml (the stand-in never reads it). */
function sources() {
  const dir = fs.mkdtempSync(path.join(work, 'sources-'));
  fs.writeFileSync(path.join(dir, 'keyrot.toml'), '# read by keyrot, not by the stand-in\n');
  return { dir, config: path.join(dir, 'keyrot.toml'), variables: { 'Build.SourcesDirectory': dir } };
}

const OUTPUTS_STDOUT = [
  '##vso[task.setvariable variable=KEYROT_ROTATED;isOutput=true;]2',
  '##vso[task.setvariable variable=KEYROT_FAILED;isOutput=true;]0',
  '##vso[task.setvariable variable=KEYROT_RUNS;isOutput=true;][{"kind":"azure-devops-pipeline","target":"pipeline \\"billing-deploy\\" (contoso/payments)","id":"41","url":"https://dev.azure.com/contoso/payments/_build/results?buildId=41","credentials":["db-password","api-key"]}]',
  '',
].join('\n');

test('rotate: inputs become keyrot rotate flags; the job token reaches keyrot in its environment only; outputs pass through', async () => {
  if (process.platform === 'win32') return; // the stand-in is a bash script
  const src = sources();
  const run = await runFake({
    inputs: { command: 'rotate', configFile: src.config, names: 'db-*, api-key', dryRun: 'true', force: 'true', waitLock: ' 2m ', args: '--lock-lease 30s' },
    variables: src.variables,
    stdout: OUTPUTS_STDOUT,
  });
  const { result } = run;
  assertSucceeded(result);
  assert.deepEqual(result.completions(), [], `the wrapper must not set a result on exit 0:\n${result.transcript}`);
  const argv = ['rotate', '--auth', 'client-secret', '--config', src.config, '--name', 'db-*', '--name', 'api-key', '--dry-run', '--force', '--wait-lock', '2m', '--lock-lease', '30s'];
  assert.deepEqual(run.argv(), argv);
  assert.deepEqual(result.commandLines(), [`${result.bin()} ${argv.join(' ')}`]);

  // The token: masked with the agent first, handed over in the environment, never on the command line.
  const lines = result.stdout.split(/\r?\n/);
  const masked = lines.indexOf(`##vso[task.setsecret]${ACCESS_TOKEN}`);
  const started = lines.findIndex((l) => l.startsWith('[command]'));
  assert.ok(masked >= 0 && masked < started, `the job token is not registered as a secret before keyrot runs:\n${result.transcript}`);
  assert.deepEqual(run.env(), { SYSTEM_ACCESSTOKEN: ACCESS_TOKEN, AZURE_DEVOPS_EXT_PAT: '<unset>' });
  assert.ok(!run.argv().some((a) => a.includes(ACCESS_TOKEN)));
  assertNoLeaks(result);

  // What keyrot prints reaches the agent unchanged: the output variables are keyrot's.
  for (const [name, value] of [['KEYROT_ROTATED', '2'], ['KEYROT_FAILED', '0']]) {
    assert.equal(result.variable(name)?.message, value, `${name}:\n${result.transcript}`);
    assert.equal(String(result.variable(name).properties.isOutput).toLowerCase(), 'true');
  }
  const runs = JSON.parse(result.variable('KEYROT_RUNS').message);
  assert.deepEqual(runs.map((r) => [r.kind, r.id, r.credentials]), [['azure-devops-pipeline', '41', ['db-password', 'api-key']]]);
});

test('sync: inputs become keyrot sync flags; a pipeline AZURE_DEVOPS_EXT_PAT stays in keyrot\'s environment beside the job token', async () => {
  if (process.platform === 'win32') return;
  const src = sources();
  const run = await runFake({
    inputs: { command: 'sync', configFile: src.config, names: 'billing-*', dryRun: 'false', trigger: 'true', waitLock: '90s' },
    variables: src.variables,
    env: { AZURE_DEVOPS_EXT_PAT: PAT },
  });
  assertSucceeded(run.result);
  assert.deepEqual(run.argv(), ['sync', '--auth', 'client-secret', '--config', src.config, '--name', 'billing-*', '--trigger', '--wait-lock', '90s']);
  // keyrot's rule picks AZURE_DEVOPS_EXT_PAT over SYSTEM_ACCESSTOKEN; the task passes both as they are.
  assert.deepEqual(run.env(), { SYSTEM_ACCESSTOKEN: ACCESS_TOKEN, AZURE_DEVOPS_EXT_PAT: PAT });
  assertNoLeaks(run.result);
});

test('sync and rotate with only the config: no other flag; a job without an access token runs keyrot without one', async () => {
  if (process.platform === 'win32') return;
  const src = sources();
  const run = await runFake({ inputs: { command: 'sync', configFile: src.config }, variables: src.variables, jobToken: null });
  assertSucceeded(run.result);
  assert.deepEqual(run.argv(), ['sync', '--auth', 'client-secret', '--config', src.config]);
  assert.deepEqual(run.env(), { SYSTEM_ACCESSTOKEN: '<unset>', AZURE_DEVOPS_EXT_PAT: '<unset>' });
  assert.match(run.result.stdout, /this job has no access token \(SystemVssConnection\)/);
});

test('check and fetch do not hand the job token to keyrot (only rotate and sync need it)', async () => {
  if (process.platform === 'win32') return;
  for (const command of ['check', 'fetch']) {
    const run = await runFake({ inputs: { command, vaults: 'v' } });
    assertSucceeded(run.result);
    assert.equal(run.argv()[0], command);
    assert.deepEqual(run.env(), { SYSTEM_ACCESSTOKEN: '<unset>', AZURE_DEVOPS_EXT_PAT: '<unset>' }, command);
  }
});

test('rotate and sync: exit codes 1 to 4 fail the task with their meaning', async () => {
  if (process.platform === 'win32') return;
  const src = sources();
  for (const command of ['rotate', 'sync']) {
    for (const exit of [1, 2, 3, 4]) {
      const run = await runFake({ inputs: { command, configFile: src.config }, variables: src.variables, exit });
      assertFailedWith(run.result, wrapper.exitMessage(command, exit));
      assertNoLeaks(run.result);
    }
  }
  assert.match(wrapper.exitMessage('rotate', 4), /locked by another run/);
});

test('rotate and sync: an empty configFile (the agent passes the sources folder) fails before keyrot runs', async () => {
  if (process.platform === 'win32') return;
  const src = sources();
  for (const command of ['rotate', 'sync']) {
    const run = await runFake({ inputs: { command, configFile: src.dir }, variables: src.variables });
    assertFailedWith(run.result, `command ${command} needs the configFile input: the path of keyrot.toml`);
    assert.ok(!run.called(), 'keyrot must not run');
    assert.deepEqual(run.result.commandLines(), []);
  }
});

test('rotate: vaults are not passed (keyrot.toml names them), with a warning', async () => {
  if (process.platform === 'win32') return;
  const src = sources();
  const run = await runFake({ inputs: { command: 'rotate', configFile: src.config, vaults: 'myvault' }, variables: src.variables });
  assertSucceeded(run.result);
  assert.ok(!run.argv().some((a) => a.includes('vault')), run.argv().join(' '));
  assert.deepEqual(run.result.issues('warning'), ["keyrot: input vaults does not apply to rotate: keyrot.toml names each credential's vault; ignored"]);
});

// --- rotate and sync: the real keyrot against the emulator's Key Vault and Azure DevOps --------

/** keyrot.toml for the emulator: both credentials, a copy each in billing-prod, its pipeline. */
function rotationConfig() {
  const dir = fs.mkdtempSync(path.join(work, 'rotation-'));
  const file = path.join(dir, 'keyrot.toml');
  const copy = (variable) => `
  [[credential.propagate]]
  to = "azure-devops-variable-group"
  organization = "contoso"
  project = "payments"
  group = "billing-prod"
  variable = "${variable}"

  [[credential.trigger]]
  to = "azure-devops-pipeline"
  organization = "contoso"
  project = "payments"
  pipeline = "billing-deploy"
  branch = "main"
`;
  fs.writeFileSync(
    file,
    `[defaults]
vault = "${vaultUrl('rotation')}"
rotate_within = "30d"

[[credential]]
name = "rotate-me"
generator = "random"
${copy('ROTATE_ME')}
[[credential]]
name = "synced-token"
generator = "random"
${copy('SYNCED_TOKEN')}`
  );
  return { file, variables: { 'Build.SourcesDirectory': dir } };
}

/** billing-prod's variables, values included (from the emulator's admin API). */
async function billingProd() {
  const all = await emulator.devops();
  const group = all.contoso.variableGroups.find((g) => g.name === 'billing-prod');
  return Object.fromEntries(Object.entries(group.variables).map(([name, v]) => [name, v.value]));
}

const rotationEnv = () => ({ KEYROT_AZURE_DEVOPS_URL: info().azure_devops_url });

function authorizationOf(request) {
  const header = request.headers.find(([k]) => k.toLowerCase() === 'authorization');
  return header ? header[1] : '';
}

test('rotate with dryRun, real keyrot: plans with reads only', async () => {
  const config = rotationConfig();
  const result = await runTask({
    inputs: { command: 'rotate', configFile: config.file, names: 'rotate-me', dryRun: 'true' },
    variables: config.variables,
    env: rotationEnv(),
  });
  assertSucceeded(result);
  assert.deepEqual(result.commandLines(), [`${result.bin()} rotate --auth client-secret --config ${config.file} --name rotate-me --dry-run`]);
  const writes = result.requests.filter((r) => !['GET', 'HEAD'].includes(r.method) && r.route !== 'token' && r.route !== 'challenge');
  assert.deepEqual(writes.map((r) => `${r.method} ${r.route}`), [], 'a dry run sends reads only');
  assert.ok(result.devopsRequests().length > 0, `the plan resolved nothing in Azure DevOps:\n${result.transcript}`);
  assert.equal((await billingProd()).ROTATE_ME, PLANTED['rotate-me']);
  assertNoLeaks(result);
});

test('rotate, real keyrot: the due secret is rotated, its variable-group copy updated and its pipeline started with the job access token', async (t) => {
  const config = rotationConfig();
  const result = await runTask({
    inputs: { command: 'rotate', configFile: config.file, names: 'rotate-me' },
    variables: config.variables,
    env: rotationEnv(),
  });
  assertSucceeded(result);
  assertNoLeaks(result);

  const group = await billingProd();
  assert.notEqual(group.ROTATE_ME, PLANTED['rotate-me'], `the copy still holds the old value:\n${result.transcript}`);
  assert.equal(group.KEPT_SECRET, PLANTED['kept-secret'], 'another secret of the group was lost');
  assert.equal(group.REGION, 'westeurope');
  assert.equal(group.SYNCED_TOKEN, PLANTED['stale-copy'], 'a credential the names do not select was touched');
  for (const text of [result.stdout, result.stderr]) {
    assert.ok(!text.includes(group.ROTATE_ME), 'the new value appeared in the task output');
  }

  // Azure DevOps saw the job's access token (the task's SYSTEM_ACCESSTOKEN), nothing else.
  const devops = result.devopsRequests();
  assert.ok(devops.some((r) => r.route === 'devops.variablegroups.put'), `no variable group write:\n${result.transcript}`);
  assert.ok(devops.some((r) => r.route === 'devops.runs.post'), `no pipeline run:\n${result.transcript}`);
  for (const request of devops) {
    assert.equal(authorizationOf(request), `Bearer ${ACCESS_TOKEN}`, `${request.method} ${request.route} did not use the job token`);
  }

  await t.test('(keyrot contract) KEYROT_ROTATED=1, KEYROT_FAILED=0, KEYROT_RUNS names the pipeline run', () => {
    for (const [name, value] of [['KEYROT_ROTATED', '1'], ['KEYROT_FAILED', '0']]) {
      const variable = result.variable(name);
      assert.ok(variable, `keyrot set no ${name}:\n${result.transcript}`);
      assert.equal(variable.message, value, name);
      assert.equal(String(variable.properties.isOutput).toLowerCase(), 'true', `${name} is an output variable`);
    }
    const runs = JSON.parse(result.variable('KEYROT_RUNS')?.message ?? 'null');
    assert.ok(Array.isArray(runs) && runs.length === 1, `KEYROT_RUNS: ${JSON.stringify(runs)}`);
    assert.equal(runs[0].kind, 'azure-devops-pipeline');
    assert.deepEqual(runs[0].credentials, ['rotate-me']);
    assert.match(runs[0].target, /billing-deploy/);
    assert.ok(runs[0].id, 'the run has an id');
    assert.match(runs[0].url, /_build\/results\?buildId=/);
  });
});

test('sync, real keyrot, AZURE_DEVOPS_EXT_PAT in the step env: the stale copy gets the vault value, nothing rotates, keyrot uses the PAT', async (t) => {
  const config = rotationConfig();
  const result = await runTask({
    inputs: { command: 'sync', configFile: config.file, names: 'synced-token', trigger: 'true' },
    variables: config.variables,
    env: { ...rotationEnv(), AZURE_DEVOPS_EXT_PAT: PAT },
  });
  assertSucceeded(result);
  assert.deepEqual(result.commandLines(), [`${result.bin()} sync --auth client-secret --config ${config.file} --name synced-token --trigger`]);
  assertNoLeaks(result);
  const group = await billingProd();
  // The copy holds the value the vault served before: it was pushed, not rotated. (sync does
  // write to the vault, its lock bids; the served value stays.)
  assert.equal(group.SYNCED_TOKEN, PLANTED['synced-token'], `the copy does not hold the vault's value:\n${result.transcript}`);
  assert.equal(group.KEPT_SECRET, PLANTED['kept-secret']);
  const devops = result.devopsRequests();
  assert.ok(devops.length > 0, result.transcript);
  for (const request of devops) {
    const authorization = authorizationOf(request);
    assert.ok(authorization.startsWith('Basic '), `${request.method} ${request.route} did not use the PAT`);
    assert.ok(!authorization.includes(ACCESS_TOKEN));
  }

  await t.test('(keyrot contract) KEYROT_ROTATED=0, KEYROT_FAILED=0, KEYROT_RUNS has the run --trigger started', () => {
    assert.equal(result.variable('KEYROT_ROTATED')?.message, '0', result.transcript);
    assert.equal(result.variable('KEYROT_FAILED')?.message, '0', result.transcript);
    const runs = JSON.parse(result.variable('KEYROT_RUNS')?.message ?? 'null');
    assert.ok(Array.isArray(runs) && runs.length === 1, `KEYROT_RUNS: ${JSON.stringify(runs)}`);
    assert.deepEqual(runs[0].credentials, ['synced-token']);
  });
});

// --- rotate: resource keys through the service connection's Resource Manager -------------------

/** keyrot.toml with the storage account key of orders, as a connection string in resources. */
async function storageKeyConfig() {
  const { subscription_id: subscription } = await emulator.arm();
  const dir = fs.mkdtempSync(path.join(work, 'storage-key-'));
  const file = path.join(dir, 'keyrot.toml');
  fs.writeFileSync(
    file,
    `[defaults]
vault = "${vaultUrl('resources')}"

[[credential]]
name = "orders-storage"
generator = "storage-account-key"
resource = "/subscriptions/${subscription}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/orders"
value = "connection-string"
grace = "0d"
`
  );
  return { file, variables: { 'Build.SourcesDirectory': dir } };
}

/** The storage account orders as the emulator's admin API shows it: { key1, key2, regenerations }. */
async function ordersAccount() {
  const account = (await emulator.arm()).storage_accounts.find((a) => a.name === 'orders');
  const keys = Object.fromEntries(account.keys.map((k) => [k.keyName, k.value]));
  return { key1: keys.key1, key2: keys.key2, regenerations: account.regenerations };
}

/**
 * One rotation of orders-storage through the task: exactly one key regenerated (`expected`),
 * at the emulator's Resource Manager; the vault's new version holds that key's connection string
 * and names it in CredentialId; no key, old or new, and no connection string in the task's output.
 */
async function assertStorageKeyRotated(result, before, expected) {
  assertSucceeded(result);
  assertNoLeaks(result);
  const after = await ordersAccount();
  assert.deepEqual(after.regenerations, [...before.regenerations, expected], `regenerations:\n${result.transcript}`);
  const changed = ['key1', 'key2'].filter((k) => after[k] !== before[k]);
  assert.deepEqual(changed, [expected], 'exactly the regenerated key changed');

  const armHost = new URL(info().env.KEYROT_ARM_URL).host;
  const regenerations = result.routes('arm.storage.regenerateKey');
  assert.equal(regenerations.length, 1, `one regenerateKey call:\n${result.transcript}`);
  assert.equal(regenerations[0].host, armHost, "keyrot called the connection's Resource Manager");

  const secret = await emulator.vaultSecret(vaultUrl('resources'), 'orders-storage', { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  assert.equal(secret.tags.CredentialId, expected, 'CredentialId names the key the version holds');
  assert.ok(secret.value.startsWith('DefaultEndpointsProtocol=https;AccountName=orders;'), 'the value is the connection string');
  assert.ok(secret.value.includes(`AccountKey=${after[expected]};`), 'the connection string holds the regenerated key');
  for (const text of [result.stdout, result.stderr]) {
    for (const value of [before.key1, before.key2, after.key1, after.key2, secret.value]) {
      assert.ok(!text.includes(value), `a key or the connection string appeared in the task output:\n${result.transcript}`);
    }
  }
  assert.equal(result.variable('KEYROT_ROTATED')?.message, '1', result.transcript);
  assert.equal(result.variable('KEYROT_FAILED')?.message, '0', result.transcript);
  return secret;
}

test('rotate, real keyrot: a storage account key, through the Resource Manager the service connection names (environmentUrl)', async () => {
  const config = await storageKeyConfig();
  const connection = connections.sp();
  // The emulator's Resource Manager, as an AzureRM connection's data gives its cloud's (trailing /).
  connection.data.environmentUrl = `${info().env.KEYROT_ARM_URL}/`;
  const before = await ordersAccount();
  const result = await runTask({
    connection,
    inputs: { command: 'rotate', configFile: config.file, names: 'orders-storage' },
    variables: config.variables,
  });
  // The first rotation: no secret yet, key1 taken as the one in use, key2 regenerated.
  const secret = await assertStorageKeyRotated(result, before, 'key2');
  assert.equal(secret.versions.length, 1, 'one version written');
});

test('rotate, real keyrot: KEYROT_ARM_URL in the step\'s environment wins over the service connection\'s', async () => {
  const config = await storageKeyConfig();
  const connection = connections.sp();
  // Another cloud's Resource Manager, which the emulated Entra would refuse a token for.
  connection.data.environmentUrl = 'https://management.usgovcloudapi.net/';
  const before = await ordersAccount();
  const served = await emulator.vaultSecret(vaultUrl('resources'), 'orders-storage', { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const held = served.tags.CredentialId; // the earlier scenario's rotation
  const expected = held === 'key1' ? 'key2' : 'key1';
  const result = await runTask({
    connection,
    inputs: { command: 'rotate', configFile: config.file, names: 'orders-storage', force: 'true' },
    variables: config.variables,
    env: { KEYROT_ARM_URL: info().env.KEYROT_ARM_URL },
  });
  // Alternation: the key the served version does not hold.
  const secret = await assertStorageKeyRotated(result, before, expected);
  assert.equal(secret.versions.length, served.versions.length + 1, 'one version written');
});
