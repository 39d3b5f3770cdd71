/**
 * `npm run bench:import`: import throughput against a bare sharp loop over the same files, in one process,
 * interleaved per tenth of the set (baseline, import, import, baseline, …) so both see the same machine state.
 *   baseline: per file, sharp(file) with the import's input options → the same 256 px WebP thumbnail, in a pool
 *             of the same concurrency; nothing else.
 *   import:   runImport into a fresh project (scan, stat, read, SHA-256, header, thumbnail, cache write, SQLite).
 * Target: import rate / baseline rate ≥ 0.8 for 10,000 small PNGs and for 1,000 large JPEGs (≥ 2000 px).
 * Results: bench/results/import.json. Run alone (2-core machines): `ROUNDS=3 npm run bench:import`.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { runImport } from '../electron/core/import/importer.ts';
import { DEFAULT_LIMIT_INPUT_PIXELS, FAIL_ON, THUMB_SIZE, THUMB_WEBP } from '../electron/core/import/probe.ts';
import { Project } from '../electron/core/project/project.ts';
import { BENCH_TMP, largeJpegs, listChunks, smallPngs } from './import-data.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const CONCURRENCY = Math.max(2, availableParallelism());
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Seconds for the bare loop over `files`: sharp(file) → the import's thumbnail, CONCURRENCY at a time. */
async function baseline(files: string[]): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < files.length) {
        const f = files[next++]!;
        await sharp(f, { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, failOn: FAIL_ON, autoOrient: true })
          .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
          .webp(THUMB_WEBP)
          .toBuffer();
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** Seconds to import one folder into `project` (a new root each time, so every file is new work). */
async function importChunk(project: Project, folder: string, expected: number): Promise<number> {
  const ctx = { signal: new AbortController().signal, progress: () => {} };
  const t0 = performance.now();
  const report = await runImport(project, [folder], 'folders', ctx, undefined, { concurrency: CONCURRENCY });
  const seconds = (performance.now() - t0) / 1000;
  if (report.added !== expected || report.failed !== 0) {
    throw new Error(`import of ${folder} added ${report.added}/${expected}, failed ${report.failed}`);
  }
  return seconds;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Each round imports the whole set into a fresh project, one tenth at a time, and runs the baseline over the
 * same tenth right before or after it (alternating). Other work on a shared machine then hits both sides alike.
 */
async function measure(label: string, dir: string) {
  const chunks = listChunks(dir);
  const total = chunks.reduce((n, c) => n + c.files.length, 0);
  process.stderr.write(`${label}: ${total} files in ${chunks.length} chunks; warm-up pass\n`);
  for (const c of chunks) await baseline(c.files); // warms the page cache for both sides
  const baselineRates: number[] = [];
  const importRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const projectDir = join(BENCH_TMP, `bench-project-${process.pid}-${r}`);
    rmSync(projectDir, { recursive: true, force: true });
    const project = Project.create(projectDir);
    let tBase = 0;
    let tImport = 0;
    try {
      for (const [i, c] of chunks.entries()) {
        if ((i + r) % 2 === 0) {
          tBase += await baseline(c.files);
          tImport += await importChunk(project, c.folder, c.files.length);
        } else {
          tImport += await importChunk(project, c.folder, c.files.length);
          tBase += await baseline(c.files);
        }
      }
    } finally {
      project.close();
      rmSync(projectDir, { recursive: true, force: true });
    }
    baselineRates.push(total / tBase);
    importRates.push(total / tImport);
    process.stderr.write(
      `  round ${r + 1}: baseline ${baselineRates[r]!.toFixed(1)}/s, import ${importRates[r]!.toFixed(1)}/s, ` +
        `ratio ${(importRates[r]! / baselineRates[r]!).toFixed(3)}\n`,
    );
  }
  const ratios = importRates.map((v, i) => v / baselineRates[i]!);
  return {
    files: total,
    baselinePerSecond: baselineRates.map((v) => +v.toFixed(1)),
    importPerSecond: importRates.map((v) => +v.toFixed(1)),
    ratios: ratios.map((v) => +v.toFixed(3)),
    medianRatio: +median(ratios).toFixed(3),
    pass: median(ratios) >= 0.8,
  };
}

const only = process.env['BENCH_ONLY'];
const small = await smallPngs('import-small-png', 10_000, 96);
const large = await largeJpegs('import-large-jpeg', 1_000, 2400, 1800);
const skipped = { skipped: true, pass: true };
const results = {
  bench: 'import',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips },
  concurrency: CONCURRENCY,
  rounds: ROUNDS,
  target: 'median import/baseline ratio >= 0.8',
  smallPng: { description: '10,000 PNG, 96×96 RGB', ...(only === 'large' ? skipped : await measure('small PNG', small)) },
  largeJpeg: { description: '1,000 JPEG, 2400×1800', ...(only === 'small' ? skipped : await measure('large JPEG', large)) },
};
// Partial runs (BENCH_ONLY) are for profiling; only a full run is recorded.
if (!only) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'import.json'), `${JSON.stringify(results, null, 2)}\n`);
}
console.log(JSON.stringify(results, null, 2));
if (!results.smallPng.pass || !results.largeJpeg.pass) process.exitCode = 1;
