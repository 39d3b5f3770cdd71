/**
 * `npm run bench:import`: `loupe import` as a user runs it (a new process per round: start, scan, stat, read,
 * SHA-256, header, thumbnail, cache write, SQLite) against a bare sharp loop over the same files in this script
 * (per file: sharp(file) with the import's input options → the same 256 px WebP thumbnail, at the import's
 * concurrency; nothing else). Rounds alternate which goes first; the ratio is the median of per-round
 * import/baseline rates. Target (issue 13): ≥ 0.9 for 10,000 small PNGs and for 1,000 large JPEGs (≥ 2000 px).
 * Also Debian's Fashion-MNIST as PNG files (22,000 of 28×28 px, train/ and test/ by class), the small-image
 * dataset users bring most.
 *   npm run bench:import -- [--rounds 5] [--only small|large|fashion] [--tiny]
 * Results: bench/results/import.json (a partial --only run is printed, not recorded).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { defaultImportConcurrency } from '../electron/core/import/importer.ts';
import { DEFAULT_LIMIT_INPUT_PIXELS, FAIL_ON, THUMB_SIZE, THUMB_WEBP } from '../electron/core/import/probe.ts';
import { largeJpegs, listFiles, smallPngs } from './import-data.ts';
import { fashionTree } from './fashion-tree.ts';
import { loupe } from './loupe-cli.ts';
import { interleave, median, MIN_ROUNDS, ratioOf, roundsDir, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, only: { type: 'string' }, tiny: { type: 'boolean', default: false } } });
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
// The importer's own default pool size (electron/core/import/importer.ts): the baseline gets the same.
const CONCURRENCY = defaultImportConcurrency();
/** Issue 13's goal for the whole command against the bare loop. */
const TARGET = 0.9;

/** Seconds for the bare loop over `files`, CONCURRENCY at a time. */
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

/** The rounds' projects, kept until the bench ends (support.ts: roundsDir says why). */
const work = roundsDir('import');

async function measure(label: string, dir: string) {
  const files = listFiles(dir);
  process.stderr.write(`${label}: ${files.length} files; warm-up pass\n`);
  await baseline(files); // the page cache, warm for both sides
  const rounds = await interleave(ROUNDS, {
    import: async (r) => {
      const project = join(work, `${label.replace(/\W+/g, '-')}-${r}`);
      const run = await loupe(['import', project, dir, '--json']);
      const report = (run.lines.at(-1) as { report: { added: number; failed: number } }).report;
      if (report.added !== files.length || report.failed !== 0) throw new Error(`loupe import of ${dir} added ${report.added}/${files.length}, failed ${report.failed}`);
      return files.length / run.wallSeconds;
    },
    baseline: async () => files.length / (await baseline(files)),
  });
  const ratio = ratioOf(rounds.import, rounds.baseline);
  process.stderr.write(`  import ${rounds.import.map((v) => v.toFixed(1)).join(', ')}/s; baseline ${rounds.baseline.map((v) => v.toFixed(1)).join(', ')}/s; median ratio ${ratio.median}\n`);
  return {
    files: files.length,
    importPerSecond: rounds.import.map((v) => +v.toFixed(1)),
    baselinePerSecond: rounds.baseline.map((v) => +v.toFixed(1)),
    medianImportPerSecond: +median(rounds.import).toFixed(1),
    ratio,
    pass: ratio.median >= TARGET,
  };
}

await runBench('import', async (loadAtStart) => {
  const only = values.only;
  const [smallCount, largeCount] = TINY ? [200, 10] : [10_000, 1_000];
  const skipped = { skipped: true, pass: true };
  const [fashionTrain, fashionTest] = TINY ? [300, 100] : [20_000, 2_000];
  const runs = (name: string) => !only || only === name;
  const small = runs('small') ? await measure('small PNG', await smallPngs(`import-small-png-${smallCount}`, smallCount, 96)) : skipped;
  const large = runs('large') ? await measure('large JPEG', await largeJpegs(`import-large-jpeg-${largeCount}`, largeCount, 2400, 1800)) : skipped;
  const fashion = runs('fashion') ? await measure('Fashion-MNIST PNG', (await fashionTree('fashion', fashionTrain, fashionTest)).dir) : skipped;
  const results = {
    bench: 'import',
    ...runFacts(loadAtStart),
    sharp: sharp.versions.sharp,
    vips: sharp.versions.vips,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    loupeSide: 'node bin/loupe.js import <new project> <folder> --json, wall time of the whole process',
    target: `median import/baseline ratio >= ${TARGET}`,
    smallPng: { description: `${smallCount} PNG, 96×96 RGB`, ...small },
    largeJpeg: { description: `${largeCount} JPEG, 2400×1800`, ...large },
    fashionMnistPng: { description: `${fashionTrain + fashionTest} PNG, 28×28 grey (Debian's Fashion-MNIST, train/ and test/ by class)`, ...fashion },
  };
  if (only) console.log(JSON.stringify(results, null, 2));
  else writeResult('import', results);
  if (!small.pass || !large.pass || !fashion.pass) console.error(`import: below the ${TARGET} target`);
});
