// `npm run bench:export` — issue 6's speed bars, in one script on one machine state:
//  1. `loupe predict` on the 10,000 Fashion-MNIST test images (written as PNGs into bench/tmp) with an exported
//     LeNet-5 bundle, vs the same model evaluated inside Loupe (`evaluations:run` on the imported test split,
//     tensor cache cleared so both decode every PNG): wall time of each, ratio target ≥ 0.9;
//  2. the same model in PyTorch (Debian's /usr/bin/python3, weights read from the bundle) on the same PNGs,
//     with the agreement of its probabilities to `loupe predict`'s;
//  3. a 50-class report (synthetic evaluation, thumbnails on) rendered in under 5 s.
// Rounds alternate (Loupe eval, predict, PyTorch) so a busy neighbour slows all of them alike.
//   npm run bench:export -- [--rounds 2] [--train 6000]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { LoupeCore } from '../electron/core/api/loupe-core.ts';
import { createReport } from '../electron/core/export/report/report.ts';
import type { ExportReport } from '../shared/contract.ts';
import { loadFashionMnist } from '../tests/helpers/fashion-mnist.ts';
import { syntheticEvaluatedRun } from '../tests/helpers/synthetic-evaluation.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 2);
const TRAIN = arg('train', 6000);
const root = join(import.meta.dirname, '..');
const work = join(root, 'bench', 'tmp', 'export');
const CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];

/** An 8-bit grayscale PNG (sharp writes one-band raw input as RGB unless told otherwise). */
function greyPng(pixels: Uint8Array, file: string): Promise<unknown> {
  return sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(file);
}

async function writePngs(split: 'train' | 't10k', folder: string, limit: number): Promise<string[]> {
  const set = loadFashionMnist(split);
  const files: string[] = [];
  const n = Math.min(limit, set.count);
  for (const c of CLASSES) mkdirSync(join(folder, c), { recursive: true });
  for (let i = 0; i < n; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, n - i) }, async (_, j) => {
        const k = i + j;
        const file = join(folder, CLASSES[set.labels[k]!]!, `${String(k).padStart(5, '0')}.png`);
        files[k] = file;
        if (!existsSync(file)) await greyPng(set.images.subarray(k * 784, (k + 1) * 784), file);
      }),
    );
  }
  return files;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const started = Date.now();
  rmSync(join(work, 'project'), { recursive: true, force: true });
  rmSync(join(work, 'bundle'), { recursive: true, force: true });
  const data = join(work, 'fmnist-grey');
  console.log('writing PNGs…');
  await writePngs('train', join(data, 'train'), TRAIN);
  await writePngs('train', join(data, 'val'), 0);
  const testFiles = await writePngs('t10k', join(data, 'test'), 10_000);
  // Validation images: the last 1,000 training images, their own files.
  const set = loadFashionMnist('train');
  for (let k = set.count - 1000; k < set.count; k++) {
    const file = join(data, 'val', CLASSES[set.labels[k]!]!, `${k}.png`);
    if (!existsSync(file)) await greyPng(set.images.subarray(k * 784, (k + 1) * 784), file);
  }

  const core = new LoupeCore({ face: 'cli', configDir: join(work, 'config') });
  const project = core.openProject(join(work, 'project'), { create: true, name: 'Fashion-MNIST bench' });
  console.log('importing…');
  const imp = await core.jobs.wait((await core.dispatch('import:start', { folders: [data], labels: 'folders' })).jobId);
  if (imp.state !== 'succeeded') throw new Error(imp.message);
  console.log('training LeNet-5 (2 epochs)…');
  const [run] = await core.dispatch('training:start', {
    config: { arch: 'lenet5', imageSize: 28, channels: 1, epochs: 2, batchSize: 64, dropout: 0, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 }, earlyStopping: null, augment: {}, seed: 1 },
  });
  const status = await core.requireTrainer().waitFor(run!.id);
  if (status !== 'finished') throw new Error(`training ${status}`);
  const bundle = join(work, 'bundle');
  const ex = await core.jobs.wait((await core.dispatch('export:model', { runId: run!.id, outDir: bundle })).jobId);
  if (ex.state !== 'succeeded') throw new Error(ex.message);
  const listFile = join(work, 'test-files.txt');
  writeFileSync(listFile, testFiles.join('\n') + '\n');

  const evalSeconds: number[] = [];
  const predictSeconds: number[] = [];
  const predictInner: number[] = [];
  const torchSeconds: number[] = [];
  const torchInfer: number[] = [];
  let predictCsv = '';
  let torch: { probs: number[][]; threads: number; torch: string } | null = null;
  for (let r = 0; r < ROUNDS; r++) {
    // In Loupe: the test split through the training process, decoding every PNG (cache cleared).
    rmSync(join(project.cacheDir, 'tensors'), { recursive: true, force: true });
    let t = performance.now();
    const ev = await core.jobs.wait((await core.dispatch('evaluations:run', { runId: run!.id, split: 'test' })).jobId);
    if (ev.state !== 'succeeded') throw new Error(ev.message);
    evalSeconds.push((performance.now() - t) / 1000);

    const csv = join(work, 'preds.csv');
    t = performance.now();
    const p = spawnSync(process.execPath, [join(root, 'bin', 'loupe.js'), 'predict', bundle, join(data, 'test'), '--out', csv, '--json'], { encoding: 'utf8', cwd: root });
    predictSeconds.push((performance.now() - t) / 1000);
    if (p.status !== 0) throw new Error(`loupe predict: ${p.stderr}`);
    predictInner.push((JSON.parse(p.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds);
    predictCsv = readFileSync(csv, 'utf8');

    t = performance.now();
    const py = spawnSync('/usr/bin/python3', [join(root, 'bench', 'export_torch.py'), bundle, listFile], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    torchSeconds.push((performance.now() - t) / 1000);
    if (py.status !== 0) throw new Error(`PyTorch side: ${py.stderr}`);
    torch = JSON.parse(py.stdout) as typeof torch & { inferSeconds: number };
    torchInfer.push((torch as unknown as { inferSeconds: number }).inferSeconds);
    console.log(`round ${r + 1}: Loupe eval ${evalSeconds[r]!.toFixed(1)} s, loupe predict ${predictSeconds[r]!.toFixed(1)} s (${predictInner[r]!.toFixed(1)} s predicting), PyTorch ${torchSeconds[r]!.toFixed(1)} s`);
  }

  // Agreement of loupe predict and PyTorch on every image.
  const byPath = new Map(predictCsv.trim().split('\n').slice(1).map((l) => {
    const f = l.split(',');
    return [f[0]!, f.slice(3, 13).map(Number)] as const;
  }));
  let maxDiff = 0;
  let argmaxAgree = 0;
  testFiles.forEach((file, i) => {
    const a = byPath.get(file)!;
    const b = torch!.probs[i]!;
    a.forEach((v, c) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[c]!))));
    if (a.indexOf(Math.max(...a)) === b.indexOf(Math.max(...b))) argmaxAgree++;
  });

  console.log('50-class report…');
  const synth = await syntheticEvaluatedRun(join(work, 'report50'), { classes: 50, perClass: 20, thumbnails: true });
  const reportSeconds: number[] = [];
  let pages = 0;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    const rep = (await createReport(synth.project, { runId: synth.runId, outPath: join(work, 'report50.pdf'), pageSize: 'A4', notes: 'bench', force: true, thumbnails: true, fileNames: false, appVersion: 'bench' })) as ExportReport;
    reportSeconds.push((performance.now() - t) / 1000);
    pages = rep.pages ?? 0;
  }
  synth.project.close();
  await core.shutdown();
  rmSync(join(work, 'report50'), { recursive: true, force: true });

  const n = testFiles.length;
  const evalRate = n / median(evalSeconds);
  const predictRate = n / median(predictSeconds);
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, loadAverage: loadavg().map((v) => Math.round(v * 100) / 100) },
    images: n,
    model: 'LeNet-5, 28×28 grayscale, trained 2 epochs on Fashion-MNIST through Loupe',
    loupeEval: { seconds: evalSeconds, imagesPerSecond: Math.round(evalRate) },
    loupePredict: { seconds: predictSeconds, predictingSeconds: predictInner, imagesPerSecond: Math.round(predictRate) },
    ratioPredictToEval: Math.round((predictRate / evalRate) * 100) / 100,
    pytorch: {
      seconds: torchSeconds,
      inferSeconds: torchInfer,
      imagesPerSecond: Math.round(n / median(torchSeconds)),
      threads: torch!.threads,
      version: torch!.torch,
    },
    ratioPredictToPytorch: Math.round((predictRate / (n / median(torchSeconds))) * 100) / 100,
    agreement: { maxAbsProbabilityDifference: Number(maxDiff.toExponential(2)), argmaxAgreement: argmaxAgree / n },
    report50Classes: { seconds: reportSeconds.map((s) => Math.round(s * 100) / 100), pages },
    note: 'Wall times include process start and backend selection on both Loupe sides (eval: the training process; predict: the CLI process); PyTorch: the python process incl. torch import. Tensor cache cleared before each Loupe eval so both decode every PNG.',
    benchSeconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'export.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
}

await main();
