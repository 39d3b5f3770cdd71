/**
 * A training process that kill -9s itself at a chosen step of its checkpoint writes, for the durability tests
 * (issue 14): `tsx train-until-killed.ts <project> <runId> <start|resume> <regex> <n>` trains the run in this
 * process and sends itself SIGKILL right after the n-th rename whose destination's name matches the regex (e.g.
 * `^last$` kills between writing the last checkpoint and recording the epoch in project.db). With no match it
 * trains to the end and prints the result.
 */
import fs from 'node:fs';
import { basename } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { Project } from '../../electron/core/project/project.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { TRAINING_STARTED } from './run-invariants.ts';

const [projectDir, runId, mode, pattern, nth] = process.argv.slice(2) as [string, string, 'start' | 'resume', string, string];
const match = new RegExp(pattern);
let seen = 0;
const rename = fs.renameSync;
// ESM importers of node:fs see the patched function once the builtin's exports are synced.
fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
  rename(from, to);
  if (match.test(basename(String(to))) && ++seen === Number(nth)) process.kill(process.pid, 'SIGKILL');
};
syncBuiltinESMExports();

await tf.setBackend('wasm');
registerWasmTrainingKernels();
const project = Project.open(projectDir);
// As in the real training process: the test that queued the run (our parent) hands it over.
// Tells a parent that times its kill from the start of training (not from process start, whose length varies).
process.stderr.write(`${TRAINING_STARTED}\n`);
const result = await runTraining(project, Number(runId), { mode, backend: 'wasm', supervisorPid: process.ppid });
project.close();
process.stdout.write(JSON.stringify(result) + '\n');
