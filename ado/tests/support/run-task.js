'use strict';
// The script MockTestRunner runs in a child node: it plays the agent for one scenario (inputs,
// service connections, variables, environment) and then runs the task's entry point with the
// real azure-pipelines-task-lib (TaskMockRunner.run(true): nothing of the task is mocked).
//
// The scenario is a JSON file named by KEYROT_ADO_SCENARIO:
//   { "task": "/abs/path/index.js",
//     "inputs": { "command": "check", … },
//     "endpoints": { "<id>": { "scheme": "…", "auth": { "serviceprincipalid": "…" }, "data": { … } } },
//     "variables": { "System.OidcRequestUri": "…" },   (pipeline variables)
//     "env": { "TF_BUILD": "True", … } }

const fs = require('fs');

const scenarioPath = process.env.KEYROT_ADO_SCENARIO;
if (!scenarioPath) {
  throw new Error('KEYROT_ADO_SCENARIO is not set');
}
const scenario = JSON.parse(fs.readFileSync(scenarioPath, 'utf8'));

// An agent-like environment: nothing from the developer's Azure login or from CI leaks in.
const LEAKY = /^(AZURE|AZURESUBSCRIPTION_|KEYROT_|SYSTEM_|ENDPOINT_|INPUT_|SECRET_|VSTS_|AGENT_|BUILD_|RELEASE_|ACTIONS_|GITHUB_|IDENTITY_|MSI_|TF_BUILD|SSL_CERT_)/i;
for (const name of Object.keys(process.env)) {
  if (LEAKY.test(name)) delete process.env[name];
}
Object.assign(process.env, scenario.env || {});

// Service connections the way the agent passes them to a task: keyed by the connection's id as
// it is (a lower-case GUID; task-lib reads URL and data variables case-sensitively), except the
// job's own SystemVssConnection, which has no id, is upper-cased and carries no data.
const envKey = (name) => name.replace(/ /g, '_').toUpperCase();
for (const [id, endpoint] of Object.entries(scenario.endpoints || {})) {
  const system = id.toLowerCase() === 'systemvssconnection';
  const key = system ? 'SYSTEMVSSCONNECTION' : id;
  if (endpoint.url) process.env[`ENDPOINT_URL_${key}`] = endpoint.url;
  const parameters = endpoint.auth || {};
  process.env[`ENDPOINT_AUTH_${key}`] = JSON.stringify({ parameters, scheme: endpoint.scheme });
  if (endpoint.scheme) {
    process.env[`ENDPOINT_AUTH_SCHEME_${key}`] = endpoint.scheme;
    for (const [name, value] of Object.entries(parameters)) {
      process.env[`ENDPOINT_AUTH_PARAMETER_${key}_${envKey(name)}`] = value;
    }
  }
  if (!system) {
    const data = endpoint.data || {};
    process.env[`ENDPOINT_DATA_${key}`] = JSON.stringify(data);
    for (const [name, value] of Object.entries(data)) {
      process.env[`ENDPOINT_DATA_${key}_${envKey(name)}`] = value;
    }
  }
}

// Pipeline variables reach a task as environment variables: System.OidcRequestUri → SYSTEM_OIDCREQUESTURI.
for (const [name, value] of Object.entries(scenario.variables || {})) {
  process.env[name.replace(/\./g, '_').toUpperCase()] = value;
}

// Required only now: task-lib reads some variables (system.debug) when it loads.
const { TaskMockRunner } = require('azure-pipelines-task-lib/mock-run');
const runner = new TaskMockRunner(scenario.task);
for (const [name, value] of Object.entries(scenario.inputs || {})) {
  runner.setInput(name, value);
}
runner.run(true);
