'use strict';
// Unit tests of the wrapper's pure parts: argument splitting, input → flag mapping, service
// connection → credential environment, platform folders and exit-code messages.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');

const wrapper = require('../wrapper');

test('splitArgs: whitespace, quotes and escapes', () => {
  const cases = [
    ['', []],
    ['   ', []],
    ['--tag owner=team-a', ['--tag', 'owner=team-a']],
    ['  --timeout\t2m \n --strict ', ['--timeout', '2m', '--strict']],
    [`--name 'a b'`, ['--name', 'a b']],
    [`--name "a b"`, ['--name', 'a b']],
    [`--name='a b'c`, ['--name=a bc']],
    [`--tag "k=say \\"hi\\""`, ['--tag', 'k=say "hi"']],
    [`"a\\\\b"`, ['a\\b']],
    [`"a\\nb"`, ['a\\nb']],
    [`'it''s'`, ['its']],
    [`'a "b" c'`, ['a "b" c']],
    [`"a 'b' c"`, ["a 'b' c"]],
    [`--ca-cert C:\\certs\\ca.pem`, ['--ca-cert', 'C:\\certs\\ca.pem']],
    [`--name ''`, ['--name', '']],
    ['$(Build.Var) *', ['$(Build.Var)', '*']],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(wrapper.splitArgs(input), expected, `splitArgs(${JSON.stringify(input)})`);
  }
});

test('splitArgs: an unterminated quote is an error', () => {
  assert.throws(() => wrapper.splitArgs(`--name 'oops`), /unterminated ' quote/);
  assert.throws(() => wrapper.splitArgs(`--name "oops`), /unterminated " quote/);
  assert.throws(() => wrapper.splitArgs(`--name "a\\"`), /unterminated " quote/);
});

test('splitList: commas, semicolons, spaces and lines', () => {
  assert.deepEqual(wrapper.splitList('a, b;c\n d\r\ne  '), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(wrapper.splitList(''), []);
  assert.deepEqual(wrapper.splitList(undefined), []);
  assert.deepEqual(wrapper.splitList(' , ,'), []);
});

test('buildArgs: every check input maps to its flag', () => {
  const { args, ignored } = wrapper.buildArgs(
    {
      command: 'check',
      vaults: 'one, https://two.vault.azure.net',
      names: 'db-*\napi-key',
      kinds: 'secrets, certificates,keys',
      warnWithin: ' 45d ',
      failWithin: '10d',
      noExpiry: 'fail',
      strict: true,
      allowExpired: false,
      args: `--tag owner=team-a --timeout '1m'`,
    },
    { auth: 'client-secret' }
  );
  assert.deepEqual(args, [
    'check',
    '--auth', 'client-secret',
    '--vault', 'one',
    '--vault', 'https://two.vault.azure.net',
    '--name', 'db-*',
    '--name', 'api-key',
    '--kinds', 'secrets,certificates,keys',
    '--warn-within', '45d',
    '--fail-within', '10d',
    '--no-expiry', 'fail',
    '--strict',
    '--tag', 'owner=team-a',
    '--timeout', '1m',
  ]);
  assert.deepEqual(ignored, []);
});

test('buildArgs: empty inputs add no flag', () => {
  const { args } = wrapper.buildArgs({
    command: 'check',
    vaults: 'v',
    names: '',
    kinds: ' ',
    warnWithin: '',
    failWithin: undefined,
    noExpiry: '',
    strict: false,
    allowExpired: false,
    args: '',
  });
  assert.deepEqual(args, ['check', '--vault', 'v']);
});

test('buildArgs: fetch takes names, allowExpired and strict, and names the check-only inputs it ignores', () => {
  const { args, ignored } = wrapper.buildArgs(
    {
      command: 'fetch',
      vaults: 'v',
      names: 'db-password',
      kinds: 'keys',
      warnWithin: '30d',
      failWithin: '',
      noExpiry: 'warn',
      strict: true,
      allowExpired: true,
      args: '',
    },
    { auth: 'azure-pipelines' }
  );
  assert.deepEqual(args, ['fetch', '--auth', 'azure-pipelines', '--vault', 'v', '--name', 'db-password', '--allow-expired', '--strict']);
  // noExpiry always has its default (warn), so it is not worth a remark.
  assert.deepEqual(ignored, ['kinds', 'warnWithin']);
});

test('buildArgs: allowExpired is ignored by check, and an unknown command is refused', () => {
  const { args, ignored } = wrapper.buildArgs({ command: 'check', vaults: 'v', allowExpired: true });
  assert.ok(!args.includes('--allow-expired'));
  assert.deepEqual(ignored, ['allowExpired']);
  assert.throws(() => wrapper.buildArgs({ command: 'renew', vaults: 'v' }), /unknown command 'renew': use check, fetch, rotate or sync/);
});

test('buildArgs: rotate maps configFile, names, dryRun, force and waitLock, in order', () => {
  const { args, ignored, warnings } = wrapper.buildArgs(
    {
      command: 'rotate',
      configFile: ' /s/ops/keyrot prod.toml ',
      names: 'db-*, api-key',
      dryRun: true,
      force: true,
      trigger: false,
      waitLock: ' 2m ',
      noExpiry: 'warn',
      strict: false,
      allowExpired: false,
      args: `--lock-lease 30s`,
    },
    { auth: 'client-secret' }
  );
  assert.deepEqual(args, [
    'rotate',
    '--auth', 'client-secret',
    '--config', '/s/ops/keyrot prod.toml',
    '--name', 'db-*',
    '--name', 'api-key',
    '--dry-run',
    '--force',
    '--wait-lock', '2m',
    '--lock-lease', '30s',
  ]);
  assert.deepEqual(ignored, []);
  assert.deepEqual(warnings, []);
});

test('buildArgs: sync maps configFile, names, dryRun, trigger and waitLock; only configFile is needed', () => {
  const full = wrapper.buildArgs({ command: 'sync', configFile: 'k.toml', names: 'b-*', dryRun: true, trigger: true, waitLock: '90s' });
  assert.deepEqual(full.args, ['sync', '--config', 'k.toml', '--name', 'b-*', '--dry-run', '--trigger', '--wait-lock', '90s']);
  const bare = wrapper.buildArgs({ command: 'sync', configFile: 'k.toml', dryRun: false, trigger: false, waitLock: '' });
  assert.deepEqual(bare.args, ['sync', '--config', 'k.toml']);
});

test('buildArgs: rotate and sync need configFile', () => {
  for (const command of ['rotate', 'sync']) {
    for (const configFile of [undefined, '', '   ']) {
      assert.throws(
        () => wrapper.buildArgs({ command, configFile }),
        new RegExp(`command ${command} needs the configFile input: the path of keyrot.toml`)
      );
    }
  }
});

test('buildArgs: rotate and sync warn about vaults and name the other inputs they ignore', () => {
  const rotate = wrapper.buildArgs({
    command: 'rotate',
    configFile: 'k.toml',
    vaults: 'v1, v2',
    kinds: 'keys',
    warnWithin: '30d',
    noExpiry: 'warn',
    strict: true,
    allowExpired: true,
    trigger: true,
  });
  assert.deepEqual(rotate.args, ['rotate', '--config', 'k.toml']);
  assert.deepEqual(rotate.warnings, ["input vaults does not apply to rotate: keyrot.toml names each credential's vault; ignored"]);
  assert.deepEqual(rotate.ignored, ['kinds', 'warnWithin', 'allowExpired', 'strict', 'trigger']);
  const sync = wrapper.buildArgs({ command: 'sync', configFile: 'k.toml', force: true });
  assert.deepEqual(sync.args, ['sync', '--config', 'k.toml']);
  assert.deepEqual(sync.ignored, ['force']);
  assert.deepEqual(sync.warnings, []);
});

test('buildArgs: check and fetch name the rotation inputs they ignore', () => {
  const { args, ignored } = wrapper.buildArgs({
    command: 'check',
    vaults: 'v',
    configFile: 'k.toml',
    dryRun: true,
    force: true,
    trigger: true,
    waitLock: '1m',
  });
  assert.deepEqual(args, ['check', '--vault', 'v']);
  assert.deepEqual(ignored, ['configFile', 'dryRun', 'waitLock', 'force', 'trigger']);
});

test('vaultArgument: bare names follow a sovereign cloud DNS suffix; URLs and public cloud stay', () => {
  assert.equal(wrapper.vaultArgument('kv', 'vault.usgovcloudapi.net'), 'https://kv.vault.usgovcloudapi.net');
  assert.equal(wrapper.vaultArgument('kv', '.vault.azure.cn/'), 'https://kv.vault.azure.cn');
  assert.equal(wrapper.vaultArgument('kv', 'vault.azure.net'), 'kv');
  assert.equal(wrapper.vaultArgument('kv', 'VAULT.AZURE.NET'), 'kv');
  assert.equal(wrapper.vaultArgument('kv', ''), 'kv');
  assert.equal(wrapper.vaultArgument('kv', undefined), 'kv');
  assert.equal(wrapper.vaultArgument('https://kv.vault.azure.net', 'vault.azure.cn'), 'https://kv.vault.azure.net');
  assert.equal(wrapper.vaultArgument('kv.vault.azure.cn', 'vault.usgovcloudapi.net'), 'kv.vault.azure.cn');
});

test('platformDir: agent platforms map to the release layout', () => {
  assert.equal(wrapper.platformDir('linux', 'x64'), 'linux-x64');
  assert.equal(wrapper.platformDir('linux', 'arm64'), 'linux-arm64');
  assert.equal(wrapper.platformDir('darwin', 'x64'), 'macos-x64');
  assert.equal(wrapper.platformDir('darwin', 'arm64'), 'macos-arm64');
  assert.equal(wrapper.platformDir('win32', 'x64'), 'windows-x64');
  assert.throws(() => wrapper.platformDir('linux', 'ia32'), /no build for linux\/ia32/);
  assert.throws(() => wrapper.platformDir('freebsd', 'x64'), /no build for freebsd\/x64/);
});

test('bundledBinary: finds bin/<os>-<arch>/keyrot[.exe] and names what is there when missing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrot-bin-'));
  try {
    fs.mkdirSync(path.join(dir, 'bin', 'linux-x64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'bin', 'linux-x64', 'keyrot'), '');
    fs.mkdirSync(path.join(dir, 'bin', 'windows-x64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'bin', 'windows-x64', 'keyrot.exe'), '');
    assert.equal(wrapper.bundledBinary(dir, 'linux', 'x64'), path.join(dir, 'bin', 'linux-x64', 'keyrot'));
    assert.equal(wrapper.bundledBinary(dir, 'win32', 'x64'), path.join(dir, 'bin', 'windows-x64', 'keyrot.exe'));
    assert.throws(
      () => wrapper.bundledBinary(dir, 'darwin', 'arm64'),
      /no keyrot binary for macos-arm64 .*packaged for: linux-x64, windows-x64/
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('exitMessage: each exit code has its meaning', () => {
  assert.match(wrapper.exitMessage('check', 1), /gate failed/);
  assert.match(wrapper.exitMessage('fetch', 1), /expired, disabled or not yet valid/);
  assert.match(wrapper.exitMessage('check', 2), /usage or configuration error/);
  assert.match(wrapper.exitMessage('fetch', 3), /runtime error/);
  assert.match(wrapper.exitMessage('check', 4), /rotation is in progress/);
  assert.match(wrapper.exitMessage('rotate', 1), /^keyrot rotate: a rotation or propagation failed/);
  assert.match(wrapper.exitMessage('sync', 1), /^keyrot sync: a propagation failed/);
  for (const command of ['rotate', 'sync']) {
    assert.match(wrapper.exitMessage(command, 2), new RegExp(`^keyrot ${command}: usage or configuration error .*keyrot\\.toml`));
    assert.match(wrapper.exitMessage(command, 3), new RegExp(`^keyrot ${command}: runtime error`));
    assert.match(wrapper.exitMessage(command, 4), new RegExp(`^keyrot ${command}: locked by another run`));
  }
  assert.equal(wrapper.exitMessage('check', 101), 'keyrot exited with code 101');
  assert.equal(wrapper.exitMessage('check', null, 'SIGKILL'), 'keyrot was stopped by SIGKILL');
});

test('displayCommand: quotes what a reader would misread', () => {
  assert.equal(
    wrapper.displayCommand('/t/keyrot', ['check', '--name', 'a b', '--tag', '']),
    '/t/keyrot check --name "a b" --tag ""'
  );
});

/** A stand-in for azure-pipelines-task-lib's endpoint functions. */
function fakeTl({ scheme, auth = {}, data = {}, variables = {}, accessToken, url }) {
  const lower = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
  const a = lower(auth);
  const d = lower(data);
  const v = lower(variables);
  return {
    getEndpointAuthorizationScheme: (id) => (id === 'conn' ? scheme : undefined),
    getEndpointAuthorizationParameter: (id, key) => {
      if (id === 'SystemVssConnection' && key === 'AccessToken') return accessToken;
      return id === 'conn' ? a[key.toLowerCase()] : undefined;
    },
    getEndpointDataParameter: (id, key) => (id === 'conn' ? d[key.toLowerCase()] : undefined),
    getVariable: (name) => v[name.toLowerCase()],
    getEndpointUrl: (id) => (id === 'conn' ? url : undefined),
  };
}

test('connectionAuth: workload identity federation → the Azure Pipelines credential', () => {
  const tl = fakeTl({
    scheme: 'WorkloadIdentityFederation',
    auth: { serviceprincipalid: 'app-1', tenantid: 'tenant-1', workloadIdentityFederationSubject: 'sc://o/p/conn' },
    data: { environmentAuthorityUrl: 'https://login.example/' },
    variables: { 'System.OidcRequestUri': 'https://oidc.example/x' },
    accessToken: 'job-token',
  });
  const result = wrapper.connectionAuth(tl, 'conn');
  assert.equal(result.auth, 'azure-pipelines');
  assert.deepEqual(result.env, {
    AZURESUBSCRIPTION_CLIENT_ID: 'app-1',
    AZURESUBSCRIPTION_TENANT_ID: 'tenant-1',
    AZURESUBSCRIPTION_SERVICE_CONNECTION_ID: 'conn',
    AZURE_CLIENT_ID: 'app-1',
    AZURE_TENANT_ID: 'tenant-1',
    SYSTEM_OIDCREQUESTURI: 'https://oidc.example/x',
    SYSTEM_ACCESSTOKEN: 'job-token',
    AZURE_AUTHORITY_HOST: 'https://login.example/',
  });
  assert.deepEqual(result.secrets, ['job-token']);
  assert.ok(result.unset.includes('AZURE_CLIENT_SECRET'));
});

test('connectionAuth: workload identity federation without the OIDC URI or the job token fails clearly', () => {
  const base = { scheme: 'WorkloadIdentityFederation', auth: { serviceprincipalid: 'a', tenantid: 't' } };
  assert.throws(
    () => wrapper.connectionAuth(fakeTl({ ...base, accessToken: 'x' }), 'conn'),
    /System\.OidcRequestUri/
  );
  assert.throws(
    () => wrapper.connectionAuth(fakeTl({ ...base, variables: { 'System.OidcRequestUri': 'u' } }), 'conn'),
    /SystemVssConnection/
  );
});

test('connectionAuth: service principal with a key → client secret; missing scheme means the same', () => {
  for (const scheme of ['ServicePrincipal', undefined]) {
    const tl = fakeTl({
      scheme,
      auth: { serviceprincipalid: 'app-2', tenantid: 't-2', serviceprincipalkey: 'sp-key', authenticationType: 'spnKey' },
    });
    const result = wrapper.connectionAuth(tl, 'conn');
    assert.equal(result.auth, 'client-secret');
    assert.deepEqual(result.env, { AZURE_CLIENT_ID: 'app-2', AZURE_TENANT_ID: 't-2', AZURE_CLIENT_SECRET: 'sp-key' });
    assert.deepEqual(result.secrets, ['sp-key']);
  }
});

test('connectionAuth: a certificate service principal, a missing key and other schemes fail clearly', () => {
  assert.throws(
    () =>
      wrapper.connectionAuth(
        fakeTl({
          scheme: 'ServicePrincipal',
          auth: { serviceprincipalid: 'a', tenantid: 't', authenticationType: 'spnCertificate', servicePrincipalCertificate: 'PEM' },
        }),
        'conn'
      ),
    /service principal with a certificate, which keyrot does not support/
  );
  assert.throws(
    () => wrapper.connectionAuth(fakeTl({ scheme: 'ServicePrincipal', auth: { serviceprincipalid: 'a', tenantid: 't' } }), 'conn'),
    /no service principal key/
  );
  assert.throws(
    () => wrapper.connectionAuth(fakeTl({ scheme: 'PublishProfile' }), 'conn'),
    /authentication scheme PublishProfile, which keyrot does not support/
  );
});

test('connectionAuth: managed identity, system- or user-assigned', () => {
  const system = wrapper.connectionAuth(fakeTl({ scheme: 'ManagedServiceIdentity', auth: { tenantid: 't' } }), 'conn');
  assert.equal(system.auth, 'managed-identity');
  assert.deepEqual(system.env, { AZURE_TENANT_ID: 't' });
  assert.ok(system.unset.includes('AZURE_CLIENT_ID'), 'a stray AZURE_CLIENT_ID must not pick a user-assigned identity');
  assert.deepEqual(system.secrets, []);
  const user = wrapper.connectionAuth(
    fakeTl({ scheme: 'ManagedServiceIdentity', auth: { tenantid: 't' }, data: { msiclientId: 'uami' } }),
    'conn'
  );
  assert.equal(user.env.AZURE_CLIENT_ID, 'uami');
  assert.ok(!user.unset.includes('AZURE_CLIENT_ID'));
});

test('httpsOrigin: an https origin only, serialized; anything else is null', () => {
  const ok = {
    'https://management.azure.com/': 'https://management.azure.com',
    'https://management.usgovcloudapi.net': 'https://management.usgovcloudapi.net',
    ' https://MANAGEMENT.chinacloudapi.cn:443/ ': 'https://management.chinacloudapi.cn',
    'https://management.localhost:8443': 'https://management.localhost:8443',
    // Surrounding whitespace (a pasted line end) is trimmed; inside, it is refused.
    'https://management.azure.com/\r\n': 'https://management.azure.com',
  };
  for (const [input, origin] of Object.entries(ok)) assert.equal(wrapper.httpsOrigin(input), origin, input);
  for (const bad of [
    '',
    undefined,
    'management.azure.com',
    'http://management.azure.com/',
    'ftp://management.azure.com/',
    'https://user:pw@management.azure.com/',
    'https://management.azure.com/subscriptions',
    'https://management.azure.com/?api-version=1',
    'https://management.azure.com/?',
    'https://management.azure.com/#x',
    'https://management.azure.com/\n##vso[task.setvariable variable=X]y',
    'https://management.azure.com/ ##vso[task.complete result=Succeeded]',
    'https://evil\u0000.example/',
    'javascript:alert(1)',
  ]) {
    assert.equal(wrapper.httpsOrigin(bad), null, JSON.stringify(bad));
  }
});

test('armUrlFor: the connection\'s Resource Manager becomes KEYROT_ARM_URL (environmentUrl, resourceManagerUrl, then the endpoint URL)', () => {
  const sp = { scheme: 'ServicePrincipal' };
  const of = (options, env = {}) => wrapper.armUrlFor(fakeTl({ ...sp, ...options }), 'conn', env);
  assert.deepEqual(of({ data: { environmentUrl: 'https://management.usgovcloudapi.net/' } }), {
    value: 'https://management.usgovcloudapi.net',
    message: undefined,
  });
  // environmentUrl first; resourceManagerUrl, then the endpoint's URL, when it is absent.
  assert.equal(
    of({ data: { environmentUrl: 'https://management.chinacloudapi.cn/', resourceManagerUrl: 'https://management.azure.com/' } }).value,
    'https://management.chinacloudapi.cn'
  );
  assert.equal(of({ data: { resourceManagerUrl: 'https://management.chinacloudapi.cn/' } }).value, 'https://management.chinacloudapi.cn');
  assert.equal(of({ url: 'https://management.azure.com/' }).value, 'https://management.azure.com');
  assert.equal(of({ data: { environmentUrl: '  ' }, url: 'https://management.azure.com/' }).value, 'https://management.azure.com');
  // Nothing named: nothing set (keyrot's default, the public cloud).
  assert.deepEqual(of({}), { value: undefined, message: undefined });
});

test('armUrlFor: the step\'s KEYROT_ARM_URL wins over the connection', () => {
  const tl = fakeTl({ scheme: 'ServicePrincipal', data: { environmentUrl: 'https://management.usgovcloudapi.net/' } });
  assert.deepEqual(wrapper.armUrlFor(tl, 'conn', { KEYROT_ARM_URL: 'https://management.localhost:8443' }), {
    value: undefined,
    message: undefined,
  });
  // Even a bad connection URL is then not reported: it is not used.
  const bad = fakeTl({ scheme: 'ServicePrincipal', data: { environmentUrl: 'http://x/' } });
  assert.deepEqual(wrapper.armUrlFor(bad, 'conn', { KEYROT_ARM_URL: 'https://management.azure.com' }), { value: undefined, message: undefined });
  // An empty or blank step value is no choice.
  assert.equal(wrapper.armUrlFor(tl, 'conn', { KEYROT_ARM_URL: ' ' }).value, 'https://management.usgovcloudapi.net');
});

test('armUrlFor: a URL that is not an https origin is not used, and the message never repeats it', () => {
  const injected = 'https://management.azure.com/\n##vso[task.setvariable variable=KEYROT_ARM_URL]https://attacker.example';
  for (const raw of ['http://management.azure.com/', 'https://management.azure.com/subscriptions/x', injected, 'not a url']) {
    const result = wrapper.armUrlFor(fakeTl({ scheme: 'ServicePrincipal', data: { environmentUrl: raw }, url: 'https://management.azure.com/' }), 'conn', {});
    assert.equal(result.value, undefined, raw);
    assert.match(result.message, /data environmentUrl of service connection conn is not an https URL/, raw);
    assert.ok(!result.message.includes('##vso') && !result.message.includes('\n'), result.message);
    assert.ok(!result.message.includes(raw), result.message);
  }
  const url = wrapper.armUrlFor(fakeTl({ scheme: 'ServicePrincipal', url: 'http://management.azure.com/' }), 'conn', {});
  assert.equal(url.value, undefined);
  assert.match(url.message, /the URL of service connection conn/);
});
