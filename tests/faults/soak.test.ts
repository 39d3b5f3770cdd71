// The fault suite's soak (issue 14): a live `loupe serve` and three CLI processes share one project for SOAK_MS
// (60 s with LOUPE_FAULTS=full): a client labels through the host, one CLI process labels in a loop (labels
// import), one imports new folders in a loop, one trains in a loop. No caller may see SQLITE_BUSY or "database is
// locked", every command and call must succeed, and project.db must hold every acknowledged edit (an oracle log
// of what each client was told was saved, replayed in order) and every acknowledged import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { greyPngSync, writeTree } from '../fixtures/images.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startServe } from '../e2e/support/serve.ts';
import { loupeCli } from '../e2e/support/cli.ts';
import { post } from './support/live-host.ts';
import { SOAK_MS } from './support/scale.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUSY = /SQLITE_BUSY|database is locked/i;
const CLASSES = ['normal', 'pneumonia'];

function pngs(dir: string, n: number, prefix: string, seed: number): void {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < n; i++) files[`${CLASSES[i % 2]}/${prefix}${i}.png`] = greyPngSync({ width: 20 + (i % 4), height: 20, seed: seed + i });
  writeTree(dir, files);
}

function idOf(project: string, relPath: string): number {
  const db = new Database(join(project, 'project.db'), { readonly: true });
  try {
    return db.prepare('SELECT id FROM images WHERE rel_path = ?').pluck().get(relPath) as number;
  } finally {
    db.close();
  }
}

interface Outcome {
  code: number | null;
  out: string;
}

function loupe(home: string, args: string[]): Promise<Outcome> {
  const child = spawn(process.execPath, ['bin/loupe.js', ...args], { cwd: ROOT, env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

test(`a host and three CLI processes on one project for ${SOAK_MS / 1000} s: no SQLITE_BUSY, no lost edit`, async (t) => {
  const home = tempDir('loupe-faults-soak-');
  const project = join(home, 'project');
  pngs(join(home, 'scans'), 300, 'P', 1);
  loupeCli(['import', project, join(home, 'scans')], home);
  loupeCli(['split', project, '--ratios', '0.7,0.3,0', '--seed', '1'], home);
  const served = await startServe({ home, project, ui: false });
  const failures: string[] = [];
  const counts = { hostEdits: 0, csvEdits: 0, imports: 0, trainings: 0 };
  // The oracle: every image's last acknowledged label, in the order each client was told.
  const oracle = new Map<string, number | string>();
  let importedFiles = 300;
  try {
    const classes = (await post(served, 'classes:list', {})).json.data as { id: number; name: string }[];
    // P0–P149 are labelled through the host, P150–P299 by the CLI: each image has one writer, so its last
    // acknowledged label is known.
    const byHost = Array.from({ length: 150 }, (_, i) => idOf(project, `${CLASSES[i % 2]}/P${i}.png`));
    const end = Date.now() + SOAK_MS;
    const untilEnd = async (step: () => Promise<void>) => {
      while (Date.now() < end) await step();
    };

    const hostLabels = untilEnd(async () => {
      const k = counts.hostEdits++;
      const some = byHost.filter((_, i) => (i + k) % 3 !== 0);
      const cls = classes[k % classes.length]!;
      const r = await post(served, 'labels:set', { imageIds: some, classId: cls.id });
      if (r.status !== 200 || !r.json?.ok) failures.push(`host labels:set: ${r.text.slice(0, 300)}`);
      else for (const id of some) oracle.set(`id:${id}`, cls.id);
    });
    const csvLabels = untilEnd(async () => {
      const k = counts.csvEdits++;
      const rows = Array.from({ length: 150 }, (_, i) => 150 + i).filter((i) => (i + k) % 2 === 0);
      const csv = join(home, `labels-${k}.csv`);
      const cls = CLASSES[k % 2]!;
      writeFileSync(csv, ['path,label', ...rows.map((i) => `${CLASSES[i % 2]}/P${i}.png,${cls}`)].join('\n') + '\n');
      const r = await loupe(home, ['labels', 'import', project, csv]);
      if (r.code !== 0 || BUSY.test(r.out)) failures.push(`labels import: ${r.out.slice(0, 300)}`);
      else for (const i of rows) oracle.set(`path:${CLASSES[i % 2]}/P${i}.png`, cls);
    });
    const imports = untilEnd(async () => {
      const k = counts.imports++;
      const dir = join(home, `batch${k}`);
      pngs(dir, 40, `B${k}_`, 100_000 + k * 100);
      const r = await loupe(home, ['import', project, dir]);
      if (r.code !== 0 || BUSY.test(r.out)) failures.push(`import: ${r.out.slice(0, 300)}`);
      else importedFiles += 40;
    });
    const training = untilEnd(async () => {
      counts.trainings++;
      const r = await loupe(home, ['train', project, '--arch', 'lenet5', '--epochs', '2', '--image-size', '16', '--channels', '1', '--batch', '32']);
      if (r.code !== 0 || BUSY.test(r.out)) failures.push(`train: ${r.out.slice(0, 500)}`);
    });
    // The page's reads go on meanwhile: a grid query and the info call, each timed.
    let slowest = 0;
    const reads = untilEnd(async () => {
      const t0 = performance.now();
      const r = await post(served, 'images:query', { limit: 200 });
      slowest = Math.max(slowest, performance.now() - t0);
      if (r.status !== 200) failures.push(`images:query: ${r.text.slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 50));
    });
    await Promise.all([hostLabels, csvLabels, imports, training, reads]);
    t.diagnostic(
      `${counts.hostEdits} host label edits, ${counts.csvEdits} CLI label imports, ${counts.imports} CLI imports, ${counts.trainings} trainings; ` +
        `slowest grid query ${slowest.toFixed(0)} ms`,
    );
    assert.equal((await post(served, 'app:info', {})).status, 200);
  } finally {
    await served.stop();
  }
  assert.doesNotMatch(served.log(), BUSY, 'the host logged no SQLITE_BUSY');
  assert.deepEqual(failures, []);
  assert.ok(counts.trainings >= 1 && counts.imports >= 1 && counts.csvEdits >= 1 && counts.hostEdits >= 10);

  const db = new Database(join(project, 'project.db'), { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const rows = db.prepare('SELECT i.id, i.rel_path, c.name AS label, i.class_id FROM images i LEFT JOIN classes c ON c.id = i.class_id').all() as {
      id: number;
      rel_path: string;
      label: string | null;
      class_id: number | null;
    }[];
    assert.equal(rows.length, importedFiles, 'every acknowledged import is there');
    const lost: string[] = [];
    for (const r of rows) {
      const want = oracle.get(`id:${r.id}`) ?? oracle.get(`path:${r.rel_path}`);
      const have = typeof want === 'number' ? r.class_id : r.label;
      if (want !== undefined && have !== want) lost.push(`${r.rel_path}: ${String(have)}, acknowledged ${String(want)}`);
    }
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged edits lost`);
    const runs = db.prepare('SELECT status, COUNT(*) AS n FROM runs GROUP BY status').all();
    assert.deepEqual(runs, [{ status: 'finished', n: counts.trainings }]);
  } finally {
    db.close();
  }
});
