/**
 * `npm run bench:infer`: inference speed against PyTorch on the same exported models (issue 13's goals).
 *
 * Models: LeNet-5 (28 px) and the compact ResNet (64 px), each trained one epoch on Fashion-MNIST by `loupe train`
 * and exported by `loupe export` (the bundle a user ships). PyTorch (bench/torch_infer.py) runs the same bundle's
 * graph with its weights, at threads = cores ("best") and, for the rows, its default too.
 *   rows   no decoding, batch 256: the test images as uint8 rows at the model's size, through the product's
 *          loadBundleModel + openPredictor (what `loupe predict` and evaluations run batch after batch: onnxruntime
 *          on every core, checked against TF.js on the first images) vs PyTorch's forward on the same rows; each
 *          side timed around its batch loop only, a new predictor each round, its opening timed.
 *   files  `loupe predict <bundle> <test folder> --out preds.csv --json` (its own process: sharp decodes 4 at a time,
 *          one batch ahead) vs PyTorch + PIL decoding 4 at a time one batch ahead, writing the same CSV; both timed
 *          as whole processes, so start-up and writing the predictions count on both sides and nothing is printed.
 * Sides alternate order every round; ratios are medians of per-round Loupe/PyTorch rates. Agreement: the same
 * predicted classes on both sides (sum of predicted class indices, and per file for `files`).
 *   npm run bench:infer -- [--models lenet,resnet] [--rounds 5] [--train 10000] [--test 10000] [--tiny]
 * --models measures only those (the ResNet side takes most of an hour); the others keep their last figures.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { verifyBundle } from '../electron/core/export/bundle-format.ts';
import { loadBundleModel } from '../electron/core/export/bundle-predict.ts';
import { selectBackend } from '../electron/core/training/backend.ts';
import { openPredictor, PREDICT_BATCH } from '../electron/core/training/predict.ts';
import { loadFashionMnist } from '../tests/helpers/fashion-mnist.ts';
import { fashionTree } from './fashion-tree.ts';
import { loupe } from './loupe-cli.ts';
import { RECIPES } from './recipes.ts';
import { runTorch, torchAvailable } from './torch-side.ts';
import { benchTmp, interleave, keptParts, median, MIN_ROUNDS, ratioOf, resultPath, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({
  options: { models: { type: 'string', default: 'lenet,resnet' }, rounds: { type: 'string' }, train: { type: 'string' }, test: { type: 'string' }, tiny: { type: 'boolean', default: false } },
});
const MODELS = ['lenet', 'resnet'] as const;
type ModelName = (typeof MODELS)[number];
const isModel = (n: string): n is ModelName => (MODELS as readonly string[]).includes(n);
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
const TRAIN = Number(values.train ?? (TINY ? 300 : 10_000));
const TEST = Number(values.test ?? (TINY ? 100 : 10_000));
/** bundle-predict.ts decodes this many files at a time; PyTorch gets the same. */
const DECODERS = 4;

/** The first n test images as uint8 rows at `size` px (grey), resized once here: neither side decodes. */
async function testRows(n: number, size: number): Promise<Uint8Array> {
  const set = loadFashionMnist('t10k');
  if (size === set.rows) return set.images.slice(0, n * 784);
  const out = new Uint8Array(n * size * size);
  for (let i = 0; i < n; i++) {
    const px = await sharp(Buffer.from(set.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(size, size, { fit: 'fill' })
      .toColourspace('b-w')
      .raw()
      .toBuffer();
    out.set(px, i * size * size);
  }
  return out;
}

function predictedClasses(csv: string): Map<string, string> {
  return new Map(csv.trim().split('\n').slice(1).map((l) => {
    const f = l.split(',');
    return [f[0]!, f[1]!] as const;
  }));
}

async function benchModel(name: ModelName, project: string, tree: Awaited<ReturnType<typeof fashionTree>>, work: string) {
  const train = await loupe(['train', project, ...RECIPES[name]!.flags, '--epochs', '1', '--seed', '1', '--name', `infer ${name}`, '--json']);
  const runId = (train.lines.at(-1) as { runId: number }).runId;
  const bundleDir = join(work, `bundle-${name}`);
  await loupe(['export', project, '--run', String(runId), '--out', bundleDir, '--json']);
  const bundle = verifyBundle(bundleDir);
  const p = bundle.preprocessing;
  const model = await loadBundleModel(bundle);
  const n = tree.testFiles.length;
  const rows = await testRows(n, p.imageSize);
  const rowsFile = join(work, `rows-${name}.u8`);
  writeFileSync(rowsFile, rows);
  const per = p.imageSize * p.imageSize * p.channels;
  const k = bundle.labels.length;
  let loupeSum = 0;
  const torchSums: number[] = [];

  const engines: string[] = [];
  const loupeRows = async () => {
    // Opening the predictor (onnxruntime converts and loads the model) is timed: every evaluation pays it.
    const t0 = performance.now();
    const predictor = await openPredictor(model, p, k);
    let sum = 0;
    for (let s = 0; s < n; s += PREDICT_BATCH) {
      const m = Math.min(PREDICT_BATCH, n - s);
      const probs = await predictor.predict(rows.subarray(s * per, (s + m) * per), m, n - s - m);
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
        sum += best;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    engines.push(predictor.engine);
    await predictor.close();
    loupeSum = sum;
    return n / seconds;
  };
  const torchRows = (threads: 'cores' | 'default') => async () => {
    const r = (await runTorch('torch_infer.py', [bundleDir, '--rows', rowsFile, '--n', String(n), '--threads', threads])).lines.at(-1)!;
    torchSums.push(Number(r['predictedSum']));
    return n / Number(r['seconds']);
  };
  const rowRounds = await interleave(ROUNDS, { loupe: loupeRows, torchBest: torchRows('cores'), torchDefault: torchRows('default') });
  model.dispose();

  const listFile = join(work, `files-${name}.txt`);
  writeFileSync(listFile, tree.testFiles.join('\n') + '\n');
  const loupeCsv = join(work, `loupe-${name}.csv`);
  const torchCsv = join(work, `torch-${name}.csv`);
  let torchThreads = 0;
  const fileRounds = await interleave(ROUNDS, {
    loupe: async () => n / (await loupe(['predict', bundleDir, join(tree.dir, 'test'), '--out', loupeCsv, '--json', '--full-paths'])).wallSeconds,
    torchBest: async () => {
      const r = await runTorch('torch_infer.py', [bundleDir, '--files', listFile, '--out', torchCsv, '--decoders', String(DECODERS), '--threads', 'cores']);
      torchThreads = Number(r.lines.at(-1)!['threads']);
      return n / r.wallSeconds;
    },
  });
  const a = predictedClasses(readFileSync(loupeCsv, 'utf8'));
  const b = predictedClasses(readFileSync(torchCsv, 'utf8'));
  const agree = tree.testFiles.filter((f) => a.get(f) !== undefined && a.get(f) === b.get(f)).length;
  const round = (xs: number[]) => xs.map((v) => Math.round(v));
  return {
    runId,
    imageSize: p.imageSize,
    images: n,
    rows: {
      batch: PREDICT_BATCH,
      imagesPerSecond: { loupe: round(rowRounds.loupe), torchBest: round(rowRounds.torchBest), torchDefault: round(rowRounds.torchDefault) },
      median: { loupe: Math.round(median(rowRounds.loupe)), torchBest: Math.round(median(rowRounds.torchBest)), torchDefault: Math.round(median(rowRounds.torchDefault)) },
      ratio: ratioOf(rowRounds.loupe, rowRounds.torchBest),
      ratioVsTorchDefault: ratioOf(rowRounds.loupe, rowRounds.torchDefault),
      samePredictions: torchSums.every((s) => s === loupeSum),
      /** Per round: the engine that predicted (onnxruntime, or TF.js with the inference threads that joined). */
      engines,
    },
    files: {
      decoders: DECODERS,
      torchThreads,
      imagesPerSecond: { loupe: round(fileRounds.loupe), torchBest: round(fileRounds.torchBest) },
      median: { loupe: Math.round(median(fileRounds.loupe)), torchBest: Math.round(median(fileRounds.torchBest)) },
      ratio: ratioOf(fileRounds.loupe, fileRounds.torchBest),
      predictedClassAgreement: agree / n,
    },
  };
}

await runBench('infer', async (loadAtStart) => {
  torchAvailable(['torch', 'PIL']);
  const asked = values.models.split(',');
  const names = asked.filter(isModel);
  for (const n of asked) if (!isModel(n)) throw new Error(`--models takes ${MODELS.join(', ')} (comma-separated); got "${n}"`);
  const backend = await selectBackend();
  const tree = await fashionTree('fashion', TRAIN, TEST);
  const work = benchTmp(`infer-${process.pid}`);
  try {
    const project = join(work, 'project');
    await loupe(['import', project, tree.dir, '--json']);
    const models: Record<string, Awaited<ReturnType<typeof benchModel>>> = {};
    for (const n of names) models[n] = await benchModel(n, project, tree, work);
    for (const [m, r] of Object.entries(models)) console.error(`${m}: rows ratio ${r.rows.ratio.median}, files ratio ${r.files.ratio.median}`);
    const kept = TINY ? {} : keptParts(resultPath('infer'), 'models', names);
    writeResult('infer', {
      bench: 'infer',
      ...runFacts(loadAtStart),
      backend: backend.chosen.detail,
      rounds: ROUNDS,
      note: 'rows: the batch loop only on both sides, no decoding. files: whole processes (start-up, decoding 4 at a time, predicting, writing the CSV) on both sides. ratio: median of per-round Loupe/PyTorch (threads = cores) rates.',
      models: { ...kept, ...models },
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
