'use strict';
// Entry point of the keyrot Azure Pipelines task (task.json: execution.Node20_1 / Node24).
const tl = require('azure-pipelines-task-lib/task');
const { run } = require('./wrapper');

run(tl, __dirname);
