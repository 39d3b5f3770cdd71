/**
 * `npm run bench:dicom`: `loupe import` of CT slices as a user runs it (a new process per round) against a bare
 * loop in this script over the same files (per file: read, parse, decode the frame through the same DICOM pixel
 * pipeline and windowing, the same 256 px WebP thumbnail with sharp, at the import's concurrency; nothing else),
 * for N 512×512 16-bit slices stored uncompressed and the same slices as JPEG-LS lossless (dcmtk's dcmcjpls).
 * Rounds alternate which side goes first; the ratio is the median of per-round import/baseline rates (target
 * ≥ 0.8). dcmtk converting the same files to PNG (dcmj2pnm; dcml2pnm for JPEG-LS, which 3.6.7's dcmj2pnm cannot
 * decode), one process per file at the same concurrency, is reported beside them.
 *   npm run bench:dicom -- [--slices 2000] [--rounds 5] [--tiny]
 * The slices come from pydicom's CT_small.dcm (bench/make_dicom_slices.py; needs /usr/bin/python3 with pydicom).
 * Results: bench/results/dicom.json.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { DEFAULT_LIMIT_INPUT_PIXELS, THUMB_SIZE, THUMB_WEBP } from '../electron/core/import/probe.ts';
import { readDicomFile, renderDisplayFrame } from '../electron/core/import/dicom-source.ts';
import { loupe } from './loupe-cli.ts';
import { BENCH_DIR, benchTmp, interleave, median, MIN_ROUNDS, ratioOf, roundsDir, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({ options: { slices: { type: 'string' }, rounds: { type: 'string' }, tiny: { type: 'boolean', default: false } } });
const SLICES = Number(values.slices ?? (TINY ? 20 : 2000));
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
// The importer's own default pool size (electron/core/import/importer.ts): the baseline and dcmtk get the same.
const CONCURRENCY = Math.max(2, availableParallelism());
const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);

/** The slices, uncompressed and as JPEG-LS lossless, made once per count under bench/tmp/. */
function slices(count: number): { plain: string; jpegLs: string } {
  const base = benchTmp(`dicom-ct-${count}`);
  const plain = join(base, 'plain');
  const jpegLs = join(base, 'jpeg-ls');
  const complete = (dir: string) => existsSync(dir) && readdirSync(dir).length === count;
  if (!complete(plain)) {
    rmSync(plain, { recursive: true, force: true });
    process.stderr.write(`making ${count} CT slices in ${plain}\n`);
    const r = spawnSync(PYTHON, [join(BENCH_DIR, 'make_dicom_slices.py'), plain, String(count)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make_dicom_slices.py failed (needs ${PYTHON} with pydicom): ${r.stderr}`);
  }
  if (!complete(jpegLs)) {
    rmSync(jpegLs, { recursive: true, force: true });
    mkdirSync(jpegLs);
    process.stderr.write(`compressing them with dcmcjpls into ${jpegLs}\n`);
    for (const f of readdirSync(plain)) {
      const r = spawnSync('dcmcjpls', [join(plain, f), join(jpegLs, f)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`dcmcjpls ${f} failed (CI installs dcmtk): ${r.stderr}`);
    }
  }
  return { plain, jpegLs };
}

async function pool(files: string[], each: (file: string, i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < files.length) {
        const i = next++;
        await each(files[i]!, i);
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** Seconds for the bare loop: parse, decode and window the display frame, the same thumbnail with sharp. */
function baseline(files: string[]): Promise<number> {
  return pool(files, async (f) => {
    const content = readDicomFile(readFileSync(f), DEFAULT_LIMIT_INPUT_PIXELS);
    if (content.kind !== 'image') throw new Error(`${f}: no image`);
    const frame = await renderDisplayFrame(content);
    await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: frame.channels } })
      .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp(THUMB_WEBP)
      .toBuffer();
  });
}

/** Seconds for dcmtk to convert every file to an 8-bit PNG with the file's first window, one process per file. */
function dcmtk(tool: string, files: string[], out: string): Promise<number> {
  mkdirSync(out, { recursive: true });
  return pool(files, (f, i) => run(tool, ['+on', '+Wi', '1', f, join(out, `${i}.png`)]));
}

/** The rounds' projects and PNGs, kept until the bench ends (support.ts: roundsDir says why). */
const work = roundsDir('dicom-import');

async function measure(label: string, dir: string, tool: string) {
  const files = readdirSync(dir).sort().map((f) => join(dir, f));
  process.stderr.write(`${label}: ${files.length} files; warm-up pass\n`);
  await baseline(files); // the page cache, warm for both sides
  const slug = label.replace(/\W+/g, '-');
  const rounds = await interleave(ROUNDS, {
    import: async (r) => {
      const project = join(work, `${slug}-project-${r}`);
      const res = await loupe(['import', project, dir, '--json']);
      const report = (res.lines.at(-1) as { report: { added: number; failed: number } }).report;
      if (report.added !== files.length || report.failed !== 0) throw new Error(`loupe import of ${dir} added ${report.added}/${files.length}, failed ${report.failed}`);
      return files.length / res.wallSeconds;
    },
    baseline: async () => files.length / (await baseline(files)),
    dcmtk: async (r) => files.length / (await dcmtk(tool, files, join(work, `${slug}-png-${r}`))),
  });
  const ratio = ratioOf(rounds.import, rounds.baseline);
  const vsDcmtk = ratioOf(rounds.import, rounds.dcmtk);
  const fmt = (xs: number[]) => xs.map((v) => v.toFixed(1)).join(', ');
  process.stderr.write(`  import ${fmt(rounds.import)}/s; baseline ${fmt(rounds.baseline)}/s; ${tool} ${fmt(rounds.dcmtk)}/s; median ratio ${ratio.median}\n`);
  const round1 = (xs: number[]) => xs.map((v) => +v.toFixed(1));
  return {
    files: files.length,
    importPerSecond: round1(rounds.import),
    baselinePerSecond: round1(rounds.baseline),
    dcmtkPerSecond: round1(rounds.dcmtk),
    medianImportPerSecond: +median(rounds.import).toFixed(1),
    ratio,
    importVsDcmtk: vsDcmtk,
    dcmtkTool: `${tool} +on +Wi 1 FILE OUT.png, one process per file, ${CONCURRENCY} at a time`,
    pass: ratio.median >= 0.8,
  };
}

await runBench('dicom', async (loadAtStart) => {
  const { plain, jpegLs } = slices(SLICES);
  const uncompressed = await measure('uncompressed', plain, 'dcmj2pnm');
  const jpegLsResult = await measure('JPEG-LS lossless', jpegLs, 'dcml2pnm');
  writeResult('dicom', {
    bench: 'dicom',
    ...runFacts(loadAtStart),
    sharp: sharp.versions.sharp,
    vips: sharp.versions.vips,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    slices: SLICES,
    loupeSide: 'node bin/loupe.js import <new project> <folder> --json, wall time of the whole process',
    baselineSide: 'in-process: read, readDicom, renderFrame (decode + modality LUT + first window), sharp 256 px WebP thumbnail',
    target: 'median import/baseline ratio >= 0.8 for each transfer syntax',
    uncompressed: { description: `${SLICES} CT slices 512×512, 16-bit signed, explicit VR little endian`, ...uncompressed },
    jpegLsLossless: { description: `the same ${SLICES} slices, JPEG-LS lossless (1.2.840.10008.1.2.4.80, dcmcjpls)`, ...jpegLsResult },
  });
  if (!uncompressed.pass || !jpegLsResult.pass) console.error('dicom: below the 0.8 target');
});
