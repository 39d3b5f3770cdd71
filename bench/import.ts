/**
 * `npm run bench:import`: import throughput against a bare sharp loop over the same files, in one process,
 * interleaved (baseline, import, baseline, import, …) so both see the same machine state.
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
import { BENCH_TMP, largeJpegs, listFiles, smallPngs } from './import-data.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const CONCURRENCY = Math.max(2, availableParallelism());
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

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
  return files.length / ((performance.now() - t0) / 1000);
}

async function importOnce(dir: string, expected: number, round: number): Promise<number> {
  const projectDir = join(BENCH_TMP, `bench-project-${process.pid}-${round}`);
  rmSync(projectDir, { recursive: true, force: true });
  const project = Project.create(projectDir);
  try {
    const ctx = { signal: new AbortController().signal, progress: () => {} };
    const t0 = performance.now();
    const report = await runImport(project, [dir], 'folders', ctx, undefined, { concurrency: CONCURRENCY });
    const seconds = (performance.now() - t0) / 1000;
    if (report.added !== expected || report.failed !== 0) {
      throw new Error(`import added ${report.added}/${expected}, failed ${report.failed}`);
    }
    return expected / seconds;
  } finally {
    project.close();
    rmSync(projectDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function measure(label: string, dir: string) {
  const files = listFiles(dir);
  process.stderr.write(`${label}: ${files.length} files; warm-up pass\n`);
  await baseline(files); // warms the page cache for both sides
  const baselineRates: number[] = [];
  const importRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    baselineRates.push(await baseline(files));
    importRates.push(await importOnce(dir, files.length, r));
    process.stderr.write(
      `  round ${r + 1}: baseline ${baselineRates[r]!.toFixed(1)}/s, import ${importRates[r]!.toFixed(1)}/s, ` +
        `ratio ${(importRates[r]! / baselineRates[r]!).toFixed(3)}\n`,
    );
  }
  const ratios = importRates.map((v, i) => v / baselineRates[i]!);
  return {
    files: files.length,
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
