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
const PLANTED = {
  'db-password': 'PLANTED-ado-db-password-3c9e1b',
  'api-key': 'PLANTED-ado-api-key-77f0d2',
  'old-token': 'PLANTED-ado-old-token-e5a413',
};
const SECRETS = [CLIENT_SECRET, ACCESS_TOKEN, MSI_HEADER, ...Object.values(PLANTED)];

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
async function runTask({ inputs, connection = connections.sp(), variables = {}, env = {}, dir = taskDir }) {
  await emulator.clearRequests();
  const runDir = path.join(work, 'runs', String(++runCount));
  fs.mkdirSync(runDir, { recursive: true });
  const scenario = {
    task: path.join(dir, 'index.js'),
    inputs: { ...defaults(), azureSubscription: connection.id, ...inputs },
    endpoints: {
      [connection.id]: connection,
      SystemVssConnection: { scheme: 'OAuth', auth: { AccessToken: ACCESS_TOKEN } },
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
