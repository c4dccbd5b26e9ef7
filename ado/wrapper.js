'use strict';
// The Azure Pipelines task around keyrot: reads the task's inputs and its Azure Resource Manager
// service connection, turns them into keyrot's flags and environment, and runs the keyrot binary
// bundled for the agent's OS and architecture (bin/<os>-<arch>/keyrot[.exe] next to this file).
// Commands: check (the gate), fetch (secret variables), rotate and sync (keyrot.toml; Azure
// DevOps targets get the job's access token as SYSTEM_ACCESSTOKEN).
//
// keyrot itself speaks the agent's logging commands (##vso[...]) on stdout, so its stdio is
// inherited. On exit 0 the task result is left alone (keyrot may have set SucceededWithIssues);
// any other exit fails the task with the meaning of the code.
//
// The connection's cloud reaches keyrot too: its authority (AZURE_AUTHORITY_HOST) and its
// Resource Manager (KEYROT_ARM_URL, unless the step's environment sets it), for resource keys.
//
// Secrets (a service principal's key, the job's access token) reach keyrot through its
// environment only, never its command line, and are registered with tl.setSecret first.

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const OS_NAMES = { linux: 'linux', darwin: 'macos', win32: 'windows' };
const ARCH_NAMES = { x64: 'x64', arm64: 'arm64' };

/** `linux-x64`, `macos-arm64`, `windows-x64`, …: the folder under bin/ for this platform. */
function platformDir(platform = process.platform, arch = process.arch) {
  const os = OS_NAMES[platform];
  const cpu = ARCH_NAMES[arch];
  if (!os || !cpu) {
    throw new Error(
      `keyrot has no build for ${platform}/${arch}; supported agents: ` +
        'Linux, macOS and Windows on x64 or arm64'
    );
  }
  return `${os}-${cpu}`;
}

/** Path of the bundled binary for this platform; throws a clear error when it is missing. */
function bundledBinary(taskDir, platform = process.platform, arch = process.arch) {
  const dir = platformDir(platform, arch);
  const file = path.join(taskDir, 'bin', dir, platform === 'win32' ? 'keyrot.exe' : 'keyrot');
  if (!fs.existsSync(file)) {
    const binRoot = path.join(taskDir, 'bin');
    const present = fs.existsSync(binRoot) ? fs.readdirSync(binRoot).sort() : [];
    throw new Error(
      `this task has no keyrot binary for ${dir} (expected ${file}); ` +
        `it was packaged for: ${present.length ? present.join(', ') : 'no platform at all'}`
    );
  }
  return file;
}

/** Splits a list input on commas, semicolons and whitespace (line breaks included); drops empties. */
function splitList(value) {
  return String(value || '')
    .split(/[\s,;]+/)
    .filter((item) => item.length > 0);
}

/**
 * Splits the `args` input into arguments, shell-like but without any expansion: whitespace
 * separates arguments; '…' keeps everything literally; "…" keeps spaces, with \" and \\ as the
 * only escapes; outside quotes a backslash is an ordinary character (Windows paths stay intact).
 * Adjacent quoted and unquoted parts join (--name='a b' is one argument).
 */
function splitArgs(value) {
  const text = String(value || '');
  const args = [];
  let current = '';
  let started = false;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else current += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) current += text[++i];
      else current += c;
    } else if (/\s/.test(c)) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else {
      current += c;
      started = true;
    }
  }
  if (quote) {
    throw new Error(`the args input has an unterminated ${quote} quote`);
  }
  if (started) args.push(current);
  return args;
}

/**
 * A vault entry as keyrot takes it. A bare name becomes a URL under the connection's Key Vault
 * DNS suffix when that is not the public cloud's (keyrot maps bare names to vault.azure.net).
 */
function vaultArgument(vault, dnsSuffix) {
  const suffix = String(dnsSuffix || '').trim().replace(/^\.+/, '').replace(/\/+$/, '');
  const bare = !vault.includes('://') && !vault.includes('.');
  if (bare && suffix && suffix.toLowerCase() !== 'vault.azure.net') {
    return `https://${vault}.${suffix}`;
  }
  return vault;
}

const COMMANDS = ['check', 'fetch', 'rotate', 'sync'];
const CHECK_ONLY = ['kinds', 'warnWithin', 'failWithin', 'noExpiry'];
const FETCH_ONLY = ['allowExpired'];
const GATE_ONLY = ['strict']; // check and fetch
const ROTATION = ['configFile', 'dryRun', 'waitLock']; // rotate and sync
const ROTATE_ONLY = ['force'];
const SYNC_ONLY = ['trigger'];

/** rotate and sync work from keyrot.toml; check and fetch from the vaults input. */
function isRotation(command) {
  return command === 'rotate' || command === 'sync';
}

/**
 * keyrot's arguments from the task inputs. An empty input adds no flag (keyrot's default or
 * its KEYROT_* environment variable applies). Returns { args, ignored, warnings }: ignored names
 * the inputs that do not apply to the command (a hidden input of the classic editor keeps its
 * value, so they are reported, not refused); warnings are messages for inputs whose being
 * ignored could surprise (vaults with rotate or sync).
 */
function buildArgs(inputs, { auth, dnsSuffix } = {}) {
  const command = String(inputs.command || 'check').trim();
  if (!COMMANDS.includes(command)) {
    throw new Error(`unknown command '${command}': use check, fetch, rotate or sync`);
  }
  const given = (name) => {
    const value = inputs[name];
    return value === true || (typeof value === 'string' && value.trim() !== '');
  };
  const args = [command];
  const ignored = [];
  const warnings = [];
  if (isRotation(command)) {
    if (!given('configFile')) {
      throw new Error(`command ${command} needs the configFile input: the path of keyrot.toml`);
    }
    if (auth) args.push('--auth', auth);
    args.push('--config', inputs.configFile.trim());
    for (const name of splitList(inputs.names)) {
      args.push('--name', name);
    }
    if (inputs.dryRun === true) args.push('--dry-run');
    if (command === 'rotate' && inputs.force === true) args.push('--force');
    if (command === 'sync' && inputs.trigger === true) args.push('--trigger');
    if (given('waitLock')) args.push('--wait-lock', inputs.waitLock.trim());
    if (splitList(inputs.vaults).length) {
      warnings.push(
        `input vaults does not apply to ${command}: keyrot.toml names each credential's vault; ignored`
      );
    }
    const other = command === 'rotate' ? SYNC_ONLY : ROTATE_ONLY;
    ignored.push(
      ...[...CHECK_ONLY, ...FETCH_ONLY, ...GATE_ONLY, ...other].filter(
        // noExpiry always has a value (a pickList with a default), as in fetch.
        (name) => given(name) && name !== 'noExpiry'
      )
    );
    args.push(...splitArgs(inputs.args));
    return { args, ignored, warnings };
  }
  if (auth) args.push('--auth', auth);
  for (const vault of splitList(inputs.vaults)) {
    args.push('--vault', vaultArgument(vault, dnsSuffix));
  }
  for (const name of splitList(inputs.names)) {
    args.push('--name', name);
  }
  const rotationGiven = [...ROTATION, ...ROTATE_ONLY, ...SYNC_ONLY].filter(given);
  if (command === 'check') {
    const kinds = splitList(inputs.kinds);
    if (kinds.length) args.push('--kinds', kinds.join(','));
    if (given('warnWithin')) args.push('--warn-within', inputs.warnWithin.trim());
    if (given('failWithin')) args.push('--fail-within', inputs.failWithin.trim());
    if (given('noExpiry')) args.push('--no-expiry', inputs.noExpiry.trim());
    if (inputs.strict === true) args.push('--strict');
    ignored.push(...FETCH_ONLY.filter(given), ...rotationGiven);
  } else {
    if (inputs.allowExpired === true) args.push('--allow-expired');
    if (inputs.strict === true) args.push('--strict');
    ignored.push(...CHECK_ONLY.filter((name) => given(name) && !(name === 'noExpiry')), ...rotationGiven);
  }
  args.push(...splitArgs(inputs.args));
  return { args, ignored, warnings };
}

/**
 * keyrot's credential for a service connection: { auth, env, unset, secrets }. `env` is added to
 * keyrot's environment, `unset` removed from it (so a stray variable of the agent cannot pick
 * another identity), `secrets` are the values to mask.
 */
function connectionAuth(tl, connection) {
  const scheme = tl.getEndpointAuthorizationScheme(connection, true) || 'ServicePrincipal';
  const param = (key) => (tl.getEndpointAuthorizationParameter(connection, key, true) || '').trim();
  const data = (key) => (tl.getEndpointDataParameter(connection, key, true) || '').trim();
  const need = (value, what) => {
    if (!value) throw new Error(`service connection ${connection} has no ${what}`);
    return value;
  };
  const env = {};
  const unset = [];
  const secrets = [];
  let auth;
  switch (scheme.toLowerCase()) {
    case 'workloadidentityfederation': {
      const clientId = need(param('serviceprincipalid'), 'service principal id (serviceprincipalid)');
      const tenantId = need(param('tenantid'), 'tenant id (tenantid)');
      const oidcUri = tl.getVariable('System.OidcRequestUri');
      if (!oidcUri) {
        throw new Error(
          'workload identity federation needs the System.OidcRequestUri variable, which this ' +
            'agent did not provide; update the agent or use a service connection with a secret'
        );
      }
      const accessToken = tl.getEndpointAuthorizationParameter('SystemVssConnection', 'AccessToken', true);
      if (!accessToken) {
        throw new Error(
          'workload identity federation needs the job access token (SystemVssConnection), ' +
            'which this job does not have'
        );
      }
      secrets.push(accessToken);
      Object.assign(env, {
        AZURESUBSCRIPTION_CLIENT_ID: clientId,
        AZURESUBSCRIPTION_TENANT_ID: tenantId,
        AZURESUBSCRIPTION_SERVICE_CONNECTION_ID: connection,
        AZURE_CLIENT_ID: clientId,
        AZURE_TENANT_ID: tenantId,
        SYSTEM_OIDCREQUESTURI: oidcUri,
        SYSTEM_ACCESSTOKEN: accessToken,
      });
      unset.push('AZURE_CLIENT_SECRET', 'AZURE_FEDERATED_TOKEN_FILE', 'KEYROT_SERVICE_CONNECTION_ID');
      auth = 'azure-pipelines';
      break;
    }
    case 'serviceprincipal': {
      const kind = param('authenticationType').toLowerCase();
      if (kind === 'spncertificate') {
        throw new Error(
          `service connection ${connection} is a service principal with a certificate, which ` +
            'keyrot does not support; use workload identity federation (recommended) or a secret'
        );
      }
      const clientId = need(param('serviceprincipalid'), 'service principal id (serviceprincipalid)');
      const tenantId = need(param('tenantid'), 'tenant id (tenantid)');
      const key = need(
        tl.getEndpointAuthorizationParameter(connection, 'serviceprincipalkey', true),
        'service principal key (serviceprincipalkey)'
      );
      secrets.push(key);
      Object.assign(env, {
        AZURE_CLIENT_ID: clientId,
        AZURE_TENANT_ID: tenantId,
        AZURE_CLIENT_SECRET: key,
      });
      auth = 'client-secret';
      break;
    }
    case 'managedserviceidentity': {
      const clientId = data('msiclientId');
      const tenantId = param('tenantid');
      if (clientId) env.AZURE_CLIENT_ID = clientId;
      else unset.push('AZURE_CLIENT_ID', 'AZURESUBSCRIPTION_CLIENT_ID');
      if (tenantId) env.AZURE_TENANT_ID = tenantId;
      unset.push('AZURE_CLIENT_SECRET');
      auth = 'managed-identity';
      break;
    }
    default:
      throw new Error(
        `service connection ${connection} uses the authentication scheme ${scheme}, which keyrot ` +
          'does not support (supported: WorkloadIdentityFederation, ServicePrincipal with a secret, ' +
          'ManagedServiceIdentity)'
      );
  }
  const authority = data('environmentAuthorityUrl') || data('activeDirectoryAuthority');
  if (authority) env.AZURE_AUTHORITY_HOST = authority;
  return { auth, env, unset, secrets };
}

/**
 * Where an AzureRM service connection names its cloud's Resource Manager, in the order read:
 * the endpoint data's environmentUrl (documented for AzureRM connections) and resourceManagerUrl,
 * then the endpoint's own URL, which Microsoft's tasks use as Resource Manager's base
 * (azure-pipelines-tasks' AzureRMEndpoint: `url: tl.getEndpointUrl(…)`).
 */
const ARM_URL_SOURCES = ['environmentUrl', 'resourceManagerUrl'];

/**
 * An https origin (scheme, host, port) from outside text, or null: no credentials, path (a lone
 * `/` aside), query, fragment, whitespace or control characters. What keyrot receives is the
 * URL's serialized origin, never the text as given.
 */
function httpsOrigin(text) {
  const value = String(text || '').trim();
  if (!value || /[\s\u0000-\u001f\u007f]/.test(value)) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' || !url.hostname || url.username || url.password) return null;
  if (url.pathname !== '/' || url.search || url.hash || value.includes('?') || value.includes('#')) return null;
  return url.origin;
}

/**
 * keyrot's KEYROT_ARM_URL from the service connection, for resource keys (storage accounts,
 * Service Bus, Event Hubs, Cosmos DB) in the connection's cloud: { value, message }. `value` is
 * the origin to set, undefined when nothing is to be set: the step's environment already sets
 * KEYROT_ARM_URL (the pipeline's explicit choice wins), or the connection names no usable URL
 * (keyrot's default, the public cloud, applies). `message` says why a URL was not used; it never
 * repeats the connection's text.
 */
function armUrlFor(tl, connection, stepEnv = process.env) {
  if (String(stepEnv.KEYROT_ARM_URL || '').trim()) {
    return { value: undefined, message: undefined };
  }
  const candidates = ARM_URL_SOURCES.map((key) => [
    `data ${key}`,
    tl.getEndpointDataParameter(connection, key, true),
  ]);
  if (typeof tl.getEndpointUrl === 'function') candidates.push(['URL', tl.getEndpointUrl(connection, true)]);
  for (const [where, raw] of candidates) {
    if (!String(raw || '').trim()) continue;
    const origin = httpsOrigin(raw);
    if (origin) return { value: origin, message: undefined };
    return {
      value: undefined,
      message:
        `keyrot: the ${where} of service connection ${connection} is not an https URL of ` +
        "Resource Manager's origin; KEYROT_ARM_URL not set from it (set it in the step's env for another cloud)",
    };
  }
  return { value: undefined, message: undefined };
}

/** What keyrot's exit code means, as the task's failure message. */
function exitMessage(command, code, signal) {
  if (signal) return `keyrot was stopped by ${signal}`;
  const rotation = isRotation(command);
  switch (code) {
    case 1:
      if (command === 'rotate') {
        return 'keyrot rotate: a rotation or propagation failed (a rotation failed after its work began, a copy could not be updated, or a run could not be started); its journal lets the next run finish it without rotating again';
      }
      if (command === 'sync') {
        return 'keyrot sync: a propagation failed (a copy could not be updated, or a run could not be started); the next run retries it';
      }
      return command === 'fetch'
        ? 'keyrot fetch refused: a secret named exactly is expired, disabled or not yet valid, or strict is on and a secret was skipped; nothing was exported (allowExpired exports expired and not-yet-valid secrets, never disabled ones)'
        : 'keyrot check: the gate failed (a credential is expired, expires inside the fail window, or has a warning under strict)';
    case 2:
      return rotation
        ? `keyrot ${command}: usage or configuration error (an input, keyrot.toml, a vault or a duration); see the message above`
        : 'keyrot: usage or configuration error (an input, vault name, duration or CA file); see the message above';
    case 3:
      return rotation
        ? `keyrot ${command}: runtime error before anything changed (authentication, network, TLS, permission, a vault, variable group, pipeline or release definition keyrot cannot see); see the message above`
        : 'keyrot: runtime error (authentication, network, TLS, permission, vault not found or a malformed answer); see the message above';
    case 4:
      return rotation
        ? `keyrot ${command}: locked by another run (it holds a credential's lock; nothing was changed there; waitLock waits for it)`
        : 'keyrot: a rotation is in progress';
    default:
      return `keyrot exited with code ${code}`;
  }
}

/** A command line for the log; arguments hold no secrets (those travel in the environment). */
function displayCommand(file, args) {
  const quote = (arg) => (arg === '' || /[\s"'\\]/.test(arg) ? JSON.stringify(arg) : arg);
  return [file, ...args].map(quote).join(' ');
}

/** Makes the binary executable when packaging lost its mode bits (not needed on Windows). */
function ensureExecutable(file) {
  if (process.platform === 'win32') return;
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    fs.chmodSync(file, 0o755);
  }
}

function readInputs(tl) {
  return {
    command: (tl.getInput('command', false) || 'check').trim(),
    vaults: tl.getInput('vaults', false),
    names: tl.getInput('names', false),
    kinds: tl.getInput('kinds', false),
    warnWithin: tl.getInput('warnWithin', false),
    failWithin: tl.getInput('failWithin', false),
    noExpiry: tl.getInput('noExpiry', false),
    strict: tl.getBoolInput('strict', false),
    allowExpired: tl.getBoolInput('allowExpired', false),
    // A filePath input left empty reaches the task as the sources folder: not a keyrot.toml.
    configFile: tl.filePathSupplied('configFile') ? tl.getPathInput('configFile', false, false) || '' : '',
    dryRun: tl.getBoolInput('dryRun', false),
    force: tl.getBoolInput('force', false),
    trigger: tl.getBoolInput('trigger', false),
    waitLock: tl.getInput('waitLock', false),
    args: tl.getInput('args', false),
  };
}

function runChild(file, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit', env, windowsHide: true });
    const forward = (signal) => () => child.kill(signal);
    const handlers = { SIGINT: forward('SIGINT'), SIGTERM: forward('SIGTERM') };
    for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);
    const done = () => {
      for (const [signal, handler] of Object.entries(handlers)) process.removeListener(signal, handler);
    };
    child.on('error', (error) => {
      done();
      reject(new Error(`cannot run ${file}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      done();
      resolve({ code, signal });
    });
  });
}

/** The task. `taskDir` is where task.json and bin/ are (this file's folder when packaged). */
async function run(tl, taskDir = __dirname) {
  try {
    const inputs = readInputs(tl);
    const connection = tl.getInput('azureSubscription', true);
    const { auth, env, unset, secrets } = connectionAuth(tl, connection);
    for (const secret of secrets) tl.setSecret(secret);
    const dnsSuffix = tl.getEndpointDataParameter(connection, 'AzureKeyVaultDnsSuffix', true);
    const { args, ignored, warnings } = buildArgs(inputs, { auth, dnsSuffix });
    for (const name of ignored) {
      console.log(`keyrot: input ${name} does not apply to ${inputs.command}; ignored`);
    }
    for (const message of warnings) tl.warning(`keyrot: ${message}`);

    const childEnv = { ...process.env, ...env };
    for (const name of unset) delete childEnv[name];
    // Resource Manager of the connection's cloud (resource keys); the step's own setting wins.
    const arm = armUrlFor(tl, connection, process.env);
    if (arm.value) childEnv.KEYROT_ARM_URL = arm.value;
    if (arm.message) console.log(arm.message);
    if (isRotation(inputs.command)) {
      // Azure DevOps targets (variable groups, pipelines, releases) with the job's own identity:
      // keyrot uses AZURE_DEVOPS_EXT_PAT when the pipeline sets it, else SYSTEM_ACCESSTOKEN,
      // else an Entra token. The token travels in the environment only, masked first.
      const jobToken = tl.getEndpointAuthorizationParameter('SystemVssConnection', 'AccessToken', true);
      if (jobToken) {
        tl.setSecret(jobToken);
        childEnv.SYSTEM_ACCESSTOKEN = jobToken;
      } else {
        console.log(
          'keyrot: this job has no access token (SystemVssConnection); Azure DevOps targets use ' +
            'AZURE_DEVOPS_EXT_PAT if set, else the service connection\'s Entra identity'
        );
      }
    }
    // keyrot detects Azure Pipelines from TF_BUILD; the task runs nowhere else, so say it.
    if (!childEnv.KEYROT_CI) childEnv.KEYROT_CI = 'azure';
    // An agent configured with its own CA (a TLS-inspecting proxy) needs keyrot to trust it too.
    const certs = typeof tl.getHttpCertConfiguration === 'function' ? tl.getHttpCertConfiguration() : null;
    if (certs && certs.caFile && !childEnv.KEYROT_CA_CERT) childEnv.KEYROT_CA_CERT = certs.caFile;

    const file = bundledBinary(taskDir);
    ensureExecutable(file);
    console.log(`[command]${displayCommand(file, args)}`);
    const { code, signal } = await runChild(file, args, childEnv);
    if (code !== 0) {
      tl.setResult(tl.TaskResult.Failed, exitMessage(inputs.command, code, signal));
    }
  } catch (error) {
    tl.setResult(tl.TaskResult.Failed, error && error.message ? error.message : String(error));
  }
}

module.exports = {
  platformDir,
  bundledBinary,
  splitList,
  splitArgs,
  vaultArgument,
  buildArgs,
  isRotation,
  connectionAuth,
  httpsOrigin,
  armUrlFor,
  exitMessage,
  displayCommand,
  readInputs,
  run,
};
