'use strict';
// Starts `keyrot emulator` (the real binary named by KEYROT_BIN) as a child process and talks to
// its admin API. The emulator prints one JSON line on stdout with everything a client needs.

const fs = require('fs');
const https = require('https');
const path = require('path');
const { spawn } = require('child_process');

function keyrotBin() {
  const bin = process.env.KEYROT_BIN;
  if (!bin) {
    throw new Error('KEYROT_BIN must name a keyrot binary (scripts/test-ado sets it)');
  }
  if (!fs.existsSync(bin)) {
    throw new Error(`KEYROT_BIN=${bin} does not exist`);
  }
  return path.resolve(bin);
}

/** Starts an emulator with the seed text; resolves to { info, requests(), clearRequests(), stop() }. */
function startEmulator(seed, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const seedPath = path.join(dir, 'seed.toml');
  fs.writeFileSync(seedPath, seed);
  const log = fs.openSync(path.join(dir, 'emulator.log'), 'w');
  const child = spawn(
    keyrotBin(),
    ['emulator', '--seed', seedPath, '--port', '0', '--state-dir', path.join(dir, 'state')],
    // stderr to a file: a pipe nobody reads could fill while a test blocks in spawnSync.
    { stdio: ['ignore', 'pipe', log], env: { PATH: process.env.PATH, HOME: process.env.HOME } }
  );
  fs.closeSync(log);
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(new Error('the emulator printed no JSON line within 30 s')), 30000);
    const fail = (error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      const logText = fs.readFileSync(path.join(dir, 'emulator.log'), 'utf8');
      reject(new Error(`${error.message}\nemulator log:\n${logText}`));
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`the emulator exited early with code ${code}`)));
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.resume();
      let info;
      try {
        info = JSON.parse(buffered.slice(0, newline));
      } catch (error) {
        fail(new Error(`the emulator's first line is not JSON: ${error.message}`));
        return;
      }
      resolve(emulatorHandle(child, info));
    });
  });
}

function emulatorHandle(child, info) {
  const ca = fs.readFileSync(info.ca_path);
  /** A request to one of the emulator's hosts (vault.localhost, login.localhost, …) on its port. */
  const call = (method, url, { headers = {}, body } = {}) =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const request = https.request(
        {
          host: '127.0.0.1',
          port: info.port,
          servername: target.hostname,
          headers: { host: target.host, ...headers },
          path: `${target.pathname}${target.search}`,
          method,
          ca,
        },
        (response) => {
          const chunks = [];
          response.on('data', (c) => chunks.push(c));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            // The route only: the body may hold a secret.
            if (response.statusCode >= 300) reject(new Error(`${method} ${target.pathname}: HTTP ${response.statusCode}`));
            else resolve(text ? JSON.parse(text) : null);
          });
        }
      );
      request.on('error', reject);
      if (body) request.write(body);
      request.end();
    });
  /** A Key Vault token for a client with a secret (client credentials at the emulator's Entra). */
  const vaultToken = async (clientId, clientSecret) => {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
      scope: 'https://vault.localhost/.default',
    }).toString();
    const answer = await call('POST', `${info.authority_host}/${info.tenant_id}/oauth2/v2.0/token`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      body,
    });
    return answer.access_token;
  };
  const admin = (method, route) =>
    new Promise((resolve, reject) => {
      const request = https.request(
        {
          host: '127.0.0.1',
          port: info.port,
          servername: 'localhost',
          headers: { host: `localhost:${info.port}` },
          path: `/_admin${route}`,
          method,
          ca,
        },
        (response) => {
          const chunks = [];
          response.on('data', (c) => chunks.push(c));
          response.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode >= 300) {
              reject(new Error(`admin ${method} ${route}: HTTP ${response.statusCode}`));
            } else {
              resolve(body ? JSON.parse(body) : null);
            }
          });
        }
      );
      request.on('error', reject);
      request.end();
    });
  return {
    info,
    /** The emulator's request log (holds credentials: assert on it, never print it). */
    requests: () => admin('GET', '/requests'),
    clearRequests: () => admin('DELETE', '/requests'),
    /** Every Azure DevOps variable group with its values (holds secrets: never print it). */
    devops: () => admin('GET', '/devops'),
    /** Every emulated ARM resource with its keys and regenerations (holds keys: never print it). */
    arm: () => admin('GET', '/arm'),
    /**
     * A secret as Key Vault serves it ({ value, tags, id, … }) and its versions, read with the
     * given client's secret (holds the value: never print it).
     */
    vaultSecret: async (vaultUrl, name, { clientId, clientSecret }) => {
      const headers = { authorization: `Bearer ${await vaultToken(clientId, clientSecret)}` };
      const base = `${vaultUrl.replace(/\/+$/, '')}/secrets/${encodeURIComponent(name)}`;
      const current = await call('GET', `${base}?api-version=7.4`, { headers });
      const versions = await call('GET', `${base}/versions?api-version=7.4`, { headers });
      return { ...current, versions: versions.value };
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

module.exports = { keyrotBin, startEmulator };
