// Issue 15: `loupe train --help` was "Unknown option '--help'". Every command answers --help, -h and
// `loupe help <command>` with its own usage, options, defaults and an example, exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { main } from '../../electron/cli/main.ts';
import { asksForHelp, COMMAND_HELP } from '../../electron/cli/help.ts';

/** Runs the CLI in this process, capturing what it prints. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

// Which source file parses each command's options.
const SOURCES: Record<string, string[]> = {
  'electron/cli/commands/serve.ts': ['serve'],
  'electron/cli/commands/project.ts': ['import', 'info', 'sample'],
  'electron/cli/commands/split.ts': ['split'],
  'electron/cli/commands/labels.ts': ['labels', 'history'],
  'electron/cli/commands/train.ts': ['train', 'runs', 'doctor', 'backbone'],
  'electron/cli/commands/eval.ts': ['eval', 'predict-unlabeled', 'label-errors'],
  'electron/cli/commands/export.ts': ['export', 'export-dataset', 'report'],
  'electron/cli/commands/predict.ts': ['predict'],
};

test('every command answers --help, -h and `loupe help <command>` with usage, options and an example, exit 0', async () => {
  const commands = Object.values(SOURCES).flat().sort();
  assert.deepEqual(Object.keys(COMMAND_HELP).sort(), commands, 'every command has help, and only commands do');
  for (const command of commands) {
    const viaFlag = await cli([command, '--help']);
    assert.equal(viaFlag.code, 0, `${command} --help: ${viaFlag.err}`);
    assert.match(viaFlag.out, new RegExp(`^Usage: loupe ${command} `), command);
    assert.match(viaFlag.out, /\nOptions:\n {2}-/, command);
    assert.match(viaFlag.out, new RegExp(`\\nExample:\\n {2}loupe ${command}\\b`), command);
    assert.equal((await cli([command, 'some-project', '-h'])).out, viaFlag.out, `${command} -h after an argument`);
    const viaHelp = await cli(['help', command]);
    assert.equal(viaHelp.code, 0);
    assert.equal(viaHelp.out, viaFlag.out, `loupe help ${command}`);
  }
});

test('the option the user trips over: `loupe train --help` through the real binary', () => {
  const r = spawnSync(process.execPath, ['bin/loupe.js', 'train', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /--epochs N +most epochs to train \(default: 30/);
});

test('every option a command parses is in its help', () => {
  for (const [file, commands] of Object.entries(SOURCES)) {
    const source = readFileSync(file, 'utf8');
    const parsed = [...source.matchAll(/'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/g)].map((m) => m[1]!);
    assert.ok(parsed.length > 0, `no options found in ${file}`);
    const documented = commands.map((c) => COMMAND_HELP[c]!.options.map(([flag]) => flag).join(' ')).join(' ');
    for (const option of parsed) assert.match(documented, new RegExp(`--${option}\\b`), `${file}: --${option} is not in the help of ${commands.join(', ')}`);
  }
});

test('help for an unknown command is bad usage; a `--help` after `--` is an argument, not a request for help', async () => {
  const unknown = await cli(['help', 'trian']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command 'trian'/);
  assert.equal(asksForHelp(['predict', 'bundle', '--', '--help']), false);
  assert.equal(asksForHelp(['bundle', '-h', '--', 'x']), true);
});
