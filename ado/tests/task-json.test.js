'use strict';
// task.json against Microsoft's task schema (tests/fixtures/tasks.schema.json), and against the
// rest of the repository: the wrapper, keyrot's CLI, and the versions of the other manifests.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const Ajv = require('ajv-draft-04');

const { keyrotBin } = require('./support/emulator');
const wrapper = require('../wrapper');

const ADO = path.resolve(__dirname, '..');
const ROOT = path.resolve(ADO, '..');
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));

const task = readJson('task.json');
const schema = readJson('tests/fixtures/tasks.schema.json');

function compileSchema() {
  // unicodeRegExp: false — the schema's `connectedService\:` pattern is invalid in unicode mode.
  // allowUnionTypes: the schema types defaultValue as ["string", "boolean"].
  const ajv = new Ajv({ unicodeRegExp: false, allowUnionTypes: true, allErrors: true, strict: true });
  return ajv.compile(schema);
}

test('task.json is valid against tasks.schema.json', () => {
  const validate = compileSchema();
  const valid = validate(task);
  assert.ok(valid, `task.json is invalid:\n${JSON.stringify(validate.errors, null, 2)}`);
});

test("friendlyName fits tfx's limit (a required string of at most 40 characters)", () => {
  assert.equal(typeof task.friendlyName, 'string');
  assert.ok(task.friendlyName.length <= 40, `friendlyName is ${task.friendlyName.length} characters`);
});

test('the schema check rejects what the schema forbids (the validator is not a no-op)', () => {
  const validate = compileSchema();
  const mutations = {
    'an unknown top-level property': (t) => (t.bogus = true),
    'a name with a space': (t) => (t.name = 'key rot'),
    'an id that is not a GUID': (t) => (t.id = 'not-a-guid'),
    'an unknown execution handler': (t) => (t.execution.Node99 = { target: 'index.js' }),
    'an input without a label': (t) => delete t.inputs[0].label,
    'an input of an unknown type': (t) => (t.inputs[0].type = 'connectedservice'),
    'an output variable with an underscore': (t) => (t.outputVariables = [{ name: 'KEYROT_STATUS' }]),
  };
  for (const [what, mutate] of Object.entries(mutations)) {
    const copy = structuredClone(task);
    mutate(copy);
    assert.equal(validate(copy), false, `the schema accepted ${what}`);
  }
});

test('the schema fixture is the one PROVENANCE.md names', () => {
  assert.equal(schema.id, 'https://raw.githubusercontent.com/Microsoft/azure-pipelines-task-lib/master/tasks.schema.json');
  const provenance = fs.readFileSync(path.join(ROOT, 'tests/fixtures/PROVENANCE.md'), 'utf8');
  assert.match(provenance, /\| tasks\.schema\.json \| tasks\.schema\.json \| a5e7ee0f29dbcfd3772a8882795777d60b0198bf \|/);
});

test('execution: Node20_1 and Node24 run index.js, which exists', () => {
  assert.deepEqual(Object.keys(task.execution).sort(), ['Node20_1', 'Node24']);
  for (const handler of Object.values(task.execution)) {
    assert.equal(handler.target, 'index.js');
    assert.ok(fs.existsSync(path.join(ADO, handler.target)));
  }
  // The first agent with the Node20_1 handler; agents that know Node24 pick it.
  assert.equal(task.minimumAgentVersion, '3.232.1');
});

test('inputs: the service connection, and exactly the inputs the wrapper reads', () => {
  const byName = Object.fromEntries(task.inputs.map((i) => [i.name, i]));
  assert.equal(byName.azureSubscription.type, 'connectedService:AzureRM');
  assert.equal(byName.azureSubscription.required, true);
  assert.deepEqual(Object.keys(byName.command.options), ['check', 'fetch', 'rotate', 'sync']);
  assert.equal(byName.command.defaultValue, 'check');
  assert.equal(byName.strict.type, 'boolean');
  assert.equal(byName.allowExpired.type, 'boolean');
  assert.equal(byName.allowExpired.visibleRule, 'command = fetch');
  for (const name of ['kinds', 'warnWithin', 'failWithin', 'noExpiry']) {
    assert.equal(byName[name].visibleRule, 'command = check', `${name} applies to check only`);
  }
  // strict applies to check and fetch: warnings fail the gate; a skipped secret fails fetch.
  assert.equal(byName.strict.visibleRule, 'command = check || command = fetch');
  // rotate and sync read keyrot.toml, which names the vaults.
  assert.equal(byName.vaults.visibleRule, 'command = check || command = fetch');
  assert.equal(byName.configFile.type, 'filePath');
  assert.equal(byName.configFile.required, true);
  for (const name of ['configFile', 'dryRun', 'waitLock']) {
    assert.equal(byName[name].visibleRule, 'command = rotate || command = sync', `${name} applies to rotate and sync`);
  }
  assert.equal(byName.force.visibleRule, 'command = rotate');
  assert.equal(byName.trigger.visibleRule, 'command = sync');
  for (const name of ['dryRun', 'force', 'trigger']) {
    assert.equal(byName[name].type, 'boolean', name);
    assert.equal(byName[name].defaultValue, 'false', name);
  }
  // A disabled secret is never exported, whatever allowExpired says.
  assert.doesNotMatch(byName.allowExpired.helpMarkDown, /expired, disabled or not yet valid instead/);

  const read = [];
  const recorder = {
    getInput: (name) => (read.push(name), ''),
    getBoolInput: (name) => (read.push(name), false),
    getPathInput: (name) => (read.push(name), ''),
    filePathSupplied: (name) => (read.push(name), false),
  };
  wrapper.readInputs(recorder);
  assert.deepEqual(
    [...read, 'azureSubscription'].sort(),
    Object.keys(byName).sort(),
    'every task.json input is read by the wrapper, and the wrapper reads no other'
  );
});

test('the output variables keyrot sets are documented (the schema forbids declaring them)', () => {
  // Microsoft's schema allows only [A-Za-z][A-Za-z0-9]* in outputVariables names, and keyrot's
  // are KEYROT_*: so task.json declares none, and its help names them instead.
  assert.equal(task.outputVariables, undefined);
  for (const name of ['KEYROT_STATUS', 'KEYROT_FAILED', 'KEYROT_WARNED', 'KEYROT_REPORT', 'KEYROT_ROTATED', 'KEYROT_RUNS']) {
    assert.ok(task.helpMarkDown.includes(`\`${name}\``), `helpMarkDown does not name ${name}`);
  }
  const validate = compileSchema();
  const declared = structuredClone(task);
  declared.outputVariables = [{ name: 'KEYROT_ROTATED' }, { name: 'KEYROT_FAILED' }, { name: 'KEYROT_RUNS' }];
  assert.equal(validate(declared), false, 'the schema now accepts KEYROT_* names: declare them in outputVariables');
});

test('every command pickList option is a keyrot subcommand', () => {
  const help = execFileSync(keyrotBin(), ['--help'], { encoding: 'utf8' });
  const command = task.inputs.find((i) => i.name === 'command');
  for (const name of Object.keys(command.options)) {
    assert.match(help, new RegExp(`^  ${name} `, 'm'), `keyrot --help lists no ${name}`);
  }
});

test('every flag the wrapper passes to rotate and sync is one keyrot rotate/sync --help lists', () => {
  for (const command of ['rotate', 'sync']) {
    const help = execFileSync(keyrotBin(), [command, '--help'], { encoding: 'utf8' });
    const { args } = wrapper.buildArgs(
      { command, configFile: 'keyrot.toml', names: 'a', dryRun: true, force: true, trigger: true, waitLock: '1m' },
      { auth: 'client-secret' }
    );
    const flags = args.filter((a) => a.startsWith('--'));
    assert.ok(flags.length >= 5, args.join(' '));
    for (const flag of flags) {
      assert.match(help, new RegExp(`^\\s+${flag}\\b`, 'm'), `keyrot ${command} --help has no ${flag}`);
    }
  }
});

/** The "Possible values" clap prints for a flag of `keyrot check --help`. */
function possibleValues(help, flag) {
  const start = help.indexOf(`\n      ${flag} `);
  assert.ok(start >= 0, `keyrot check --help has no ${flag}`);
  const rest = help.slice(start + 1);
  const next = rest.slice(1).search(/\n {6}--/);
  const section = next < 0 ? rest : rest.slice(0, next + 1);
  return [...section.matchAll(/^\s+- ([a-z-]+):/gm)].map((m) => m[1]);
}

test('pickList options and the credential kinds match keyrot check --help', () => {
  const help = execFileSync(keyrotBin(), ['check', '--help'], { encoding: 'utf8' });
  const noExpiry = task.inputs.find((i) => i.name === 'noExpiry');
  assert.deepEqual(Object.keys(noExpiry.options).sort(), possibleValues(help, '--no-expiry').sort());
  assert.ok(Object.keys(noExpiry.options).includes(noExpiry.defaultValue));
  const kinds = possibleValues(help, '--auth');
  for (const kind of ['azure-pipelines', 'client-secret', 'managed-identity']) {
    assert.ok(kinds.includes(kind), `keyrot --auth has no ${kind} (it has ${kinds.join(', ')})`);
  }
});

test('versions agree: Cargo.toml, task.json, vss-extension.json, ado/package.json', () => {
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  const pkg = cargo.slice(cargo.indexOf('\n[package]'));
  const crate = pkg.match(/^version\s*=\s*"([^"]+)"/m)[1];
  const { Major, Minor, Patch } = task.version;
  assert.equal(`${Major}.${Minor}.${Patch}`, crate);
  assert.equal(readJson('vss-extension.json').version, crate);
  assert.equal(readJson('ado/package.json').version, crate);
});

test('vss-extension.json contributes the task folder package-ado stages', () => {
  const manifest = readJson('vss-extension.json');
  const [contribution] = manifest.contributions;
  assert.equal(contribution.type, 'ms.vss-distributed-task.task');
  assert.deepEqual(contribution.targets, ['ms.vss-distributed-task.tasks']);
  assert.deepEqual(manifest.files, [{ path: contribution.properties.name }]);
  const script = fs.readFileSync(path.join(ROOT, 'scripts/package-ado'), 'utf8');
  assert.match(script, new RegExp(`^TASK=${contribution.properties.name}\\b`, 'm'));
  assert.ok(fs.existsSync(path.join(ROOT, manifest.icons.default)));
});
