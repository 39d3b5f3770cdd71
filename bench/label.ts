// `npm run bench:label` — issue 3's speed bars on a project of 100,000 images, measured through LoupeCore.dispatch
// (what every face calls): one label keystroke with what the UI reloads after it (the class counts and the
// visible grid page), bulk-labeling 10,000 selected images (one transaction, one undo step), and a stratified
// group split of 100,000 images (the first run also derives and stores 100,000 group keys). The in-browser keystroke bar (Chromium against the host) is measured by
// tests/e2e and bench/label-browser.ts once the labeling UI exists.
//   npm run bench:label -- [--images 100000] [--tiny]
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeCore } from '../electron/core/api/loupe-core.ts';
import { seedProject } from '../tests/helpers/seed-project.ts';
import { benchTmp, median, runBench, runFacts, stats, TINY, writeResult } from './support.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('images', TINY ? 1000 : 100_000);
const CLASSES = 10;
/** Images per bulk relabel: 10,000, or a fifth of a smaller project (five bulk rounds). */
const BULK = Math.min(10_000, Math.floor(N / 5));
const ms = (v: number) => Math.round(v * 100) / 100;

async function main(loadAtStart: number[]) {
  const dir = mkdtempSync(join(benchTmp(), 'label-'));
  try {
    const t0 = performance.now();
    // Patients of 1–6 images each, named P<id>_<n>.png, in class folders; a tenth left unlabeled.
    const perClass = new Array(CLASSES).fill(Math.floor((N * 0.9) / CLASSES));
    const { project } = seedProject(dir, {
      perClass,
      unlabeled: N - perClass.reduce((a, b) => a + b, 0),
      path: (c, i) => `c${c}/P${c}${String(Math.floor(i / 4)).padStart(6, '0')}_${i % 4}.png`,
    });
    project.close();
    const setupSeconds = (performance.now() - t0) / 1000;
    const core = new LoupeCore({ face: 'host', configDir: join(dir, 'config') });
    core.openProject(join(dir, 'project'));
    const classes = await core.dispatch('classes:list', {});
    const unlabeled = (await core.dispatch('images:ids', { filter: { unlabeled: true } })).ids;

    // One keystroke: label the selected image, then what the UI refreshes (counts and the page in view).
    const keystroke: number[] = [];
    for (let i = 0; i < (TINY ? 30 : 300); i++) {
      const s = performance.now();
      await core.dispatch('labels:set', { imageIds: [unlabeled[i]!], classId: classes[i % CLASSES]!.id });
      await core.dispatch('classes:list', {});
      await core.dispatch('images:query', { filter: { unlabeled: true }, offset: 0, limit: 200 });
      keystroke.push(performance.now() - s);
    }

    const bulk: number[] = [];
    const undoBulk: number[] = [];
    // Bulk: relabel 10,000 images spread over several classes (as a select-all in a filter would give).
    const all = (await core.dispatch('images:ids', {})).ids;
    for (let r = 0; r < 5; r++) {
      const ids = all.slice(r * BULK, (r + 1) * BULK);
      const target = classes[(r + 5) % CLASSES]!.id;
      const already = ids.filter((id) => core.requireProject().db.prepare('SELECT class_id FROM images WHERE id = ?').pluck().get(id) === target).length;
      const s = performance.now();
      const res = await core.dispatch('labels:set', { imageIds: ids, classId: target });
      bulk.push(performance.now() - s);
      if (res.changed !== ids.length - already) throw new Error(`bulk changed ${res.changed}, expected ${ids.length - already}`);
      const u = performance.now();
      await core.dispatch('labels:undo', {});
      undoBulk.push(performance.now() - u);
    }

    // A re-split is a deliberate act: the user reads the summary before the next one. The pause lets the background
    // checkpoint (electron/core/db/checkpointer.ts) finish, as it would between a user's splits; back to back, each
    // split also pays for the log the previous one left (~0.1 s more).
    const split: number[] = [];
    for (let r = 0; r < (TINY ? 1 : 5); r++) {
      await new Promise((done) => setTimeout(done, TINY ? 0 : 2000));
      const s = performance.now();
      await core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: r, groupBy: { kind: 'regex', pattern: '^(P\\d+)_' } });
      split.push(performance.now() - s);
    }
    const summary = await core.dispatch('splits:summary', {});
    await core.shutdown();

    const result = {
      bench: 'label',
      ...runFacts(loadAtStart),
      images: N,
      setupSeconds: ms(setupSeconds),
      keystroke: { ...stats(keystroke), target95: 30 },
      bulkLabel: { images: BULK, medianMs: ms(median(bulk)), maxMs: ms(Math.max(...bulk)), undoMedianMs: ms(median(undoBulk)), targetMs: 500 },
      groupSplit: { medianMs: ms(median(split)), maxMs: ms(Math.max(...split)), firstMs: ms(split[0]!), runsMs: split.map(ms), groups: summary.groups, targetMs: 1000 },
    };
    console.log(JSON.stringify(result, null, 2));
    writeResult('label', result);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBench('label', main);
