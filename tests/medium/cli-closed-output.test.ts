/**
 * `loupe import … --json | head -1`: the reader of the CLI's output goes away while the import runs. Node raised the
 * write's EPIPE as an unhandled 'error' event, and the CLI crashed with a stack trace in the middle of the import.
 * Now it ends as with Ctrl-C (the job canceled, what it committed kept) with exit code 141, and the same command
 * run again completes the import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { greyPngSync, writeTree } from '../fixtures/images.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FILES = 1500;

/** The CLI with its stdout closed by the reader right after the first chunk it prints. */
function withOutputClosedEarly(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string; lines: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/loupe.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let lines = 0;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', (d: Buffer) => {
      lines = d.toString().split('\n').length - 1;
      child.stdout.destroy();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, lines }));
  });
}

function imagesIn(project: string): number {
  const db = new Database(join(project, 'project.db'), { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('an import whose output is closed mid-run ends with 141, keeps what it committed, and the next run completes it', async () => {
  const home = tempDir('loupe-closed-output-');
  const images = join(home, 'scans');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < FILES; i++) files[`${['normal', 'effusion'][i % 2]}/P${i}.png`] = greyPngSync({ width: 10 + (i % 9), height: 10, seed: i + 1 });
  writeTree(images, files);
  const project = join(home, 'project');

  const first = await withOutputClosedEarly(['import', project, images, '--json']);
  assert.ok(first.lines >= 1, 'the import printed a progress line before its reader left');
  assert.doesNotMatch(first.stderr, /EPIPE|Unhandled|at .*\(.*:\d+:\d+\)/, 'no crash, no stack trace');
  const kept = imagesIn(project);
  // Closed while the import ran (the usual case: 1,500 files, closed at the first progress line): canceled with
  // 141 and a message. If the import had already printed its last line, nothing was written to the closed pipe.
  if (kept < FILES) {
    assert.equal(first.code, 141, first.stderr);
    assert.match(first.stderr, /output was closed: canceling/);
  } else assert.ok(first.code === 0 || first.code === 141, `exit ${first.code}: ${first.stderr}`);

  const again = spawnSync(process.execPath, ['bin/loupe.js', 'import', project, images, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(again.status, 0, again.stderr);
  const report = (JSON.parse(again.stdout.trim().split('\n').at(-1)!) as { report: { added: number; unchanged: number; failed: number } }).report;
  assert.equal(report.failed, 0);
  assert.equal(report.added + report.unchanged, FILES);
  assert.equal(report.unchanged, kept, 'what the first run committed is kept as it was');
  assert.equal(imagesIn(project), FILES);
});

test('a command with no job ends at once with 141 when its reader is gone before it writes', async () => {
  // The read end is closed right after the spawn, long before the child's Node has started and written its help.
  const child = spawn(process.execPath, ['bin/loupe.js', '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/, stderr);
  assert.equal(code, 141, stderr);
});

test('a training run whose output is closed mid-run ends with 141 and leaves the run stopped (resumable), not failed', async () => {
  const home = tempDir('loupe-closed-train-');
  const project = join(home, 'sample');
  const made = spawnSync(process.execPath, ['bin/loupe.js', 'sample', project, '--per-class', '10', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(made.status, 0, made.stderr);
  // Far more epochs than the test waits for: the run is stopped by the closed output, not by its end.
  const child = spawn(process.execPath, ['bin/loupe.js', 'train', project, '--arch', 'lenet5', '--image-size', '16', '--channels', '1', '--epochs', '500', '--no-early-stop', '--batch', '8', '--seed', '3', '--json'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // `loupe train … --json 2>&1 | head`: both streams lose their reader once the first epoch is reported.
  await new Promise<void>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/"kind":"epoch"/.test(out)) resolve();
    });
    child.on('exit', () => resolve());
  });
  child.stdout.destroy();
  child.stderr.destroy();
  assert.equal(await exited, 141);
  const runs = spawnSync(process.execPath, ['bin/loupe.js', 'runs', project, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(runs.status, 0, runs.stderr);
  const [run] = JSON.parse(runs.stdout) as { status: string }[];
  assert.equal(run?.status, 'stopped', runs.stdout);
});

test('loupe serve still stops cleanly on Ctrl-C (its stop now also follows a closed output)', async () => {
  const child = spawn(process.execPath, ['bin/loupe.js', 'serve', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/Press Ctrl-C to stop/.test(out)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`loupe serve exited (${code}): ${out}${stderr}`)));
  });
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /Stopping…/);
});
