/**
 * `npm run bench:export`: issue 6's speed bars.
 *  1. `loupe predict` on the Fashion-MNIST test PNGs with an exported LeNet-5 bundle (its own process, wall time)
 *     vs the same model evaluated inside Loupe (`evaluations:run` on the imported test split through the training
 *     process, tensor cache cleared so both decode every PNG); rounds alternate which goes first, the ratio is the
 *     median of per-round predict/eval rates (target ≥ 0.9). PyTorch on the same bundle: `npm run bench:infer`.
 *  2. A 50-class report (synthetic evaluation, thumbnails on) rendered in under 5 s.
 *   npm run bench:export -- [--rounds 5] [--train 6000] [--test 10000] [--tiny]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LoupeCore } from '../electron/core/api/loupe-core.ts';
import { createReport } from '../electron/core/export/report/report.ts';
import type { ExportReport } from '../shared/contract.ts';
import { syntheticEvaluatedRun } from '../tests/helpers/synthetic-evaluation.ts';
import { fashionTree } from './fashion-tree.ts';
import { loupe } from './loupe-cli.ts';
import { RECIPES } from './recipes.ts';
import { benchTmp, interleave, MIN_ROUNDS, ratioOf, runBench, runFacts, stats, TINY, writeResult } from './support.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, train: { type: 'string' }, test: { type: 'string' }, tiny: { type: 'boolean', default: false } } });
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
const TRAIN = Number(values.train ?? (TINY ? 300 : 6000));
const TEST = Number(values.test ?? (TINY ? 100 : 10_000));

await runBench('export', async (loadAtStart) => {
  const tree = await fashionTree('fashion', TRAIN, TEST);
  const work = benchTmp(`export-${process.pid}`);
  const core = new LoupeCore({ face: 'cli', configDir: join(work, 'config') });
  try {
    const projectDir = join(work, 'project');
    await loupe(['import', projectDir, tree.dir, '--json']);
    const train = await loupe(['train', projectDir, ...RECIPES['lenet']!.flags, '--epochs', '1', '--seed', '1', '--json']);
    const runId = (train.lines.at(-1) as { runId: number }).runId;
    const bundle = join(work, 'bundle');
    await loupe(['export', projectDir, '--run', String(runId), '--out', bundle, '--json']);
    const project = core.openProject(projectDir);
    const csv = join(work, 'preds.csv');
    const n = tree.testFiles.length;

    const rounds = await interleave(ROUNDS, {
      eval: async () => {
        // Every PNG decoded again, as `loupe predict` does.
        rmSync(join(project.cacheDir, 'tensors'), { recursive: true, force: true });
        const t = performance.now();
        const ev = await core.jobs.wait((await core.dispatch('evaluations:run', { runId, split: 'test' })).jobId);
        if (ev.state !== 'succeeded') throw new Error(ev.message);
        return n / ((performance.now() - t) / 1000);
      },
      predict: async () => n / (await loupe(['predict', bundle, join(tree.dir, 'test'), '--out', csv, '--json'])).wallSeconds,
    });

    const synth = await syntheticEvaluatedRun(join(work, 'report50'), { classes: 50, perClass: TINY ? 2 : 20, thumbnails: true });
    const reportSeconds: number[] = [];
    let pages = 0;
    for (let r = 0; r < (TINY ? 1 : 3); r++) {
      const t = performance.now();
      const rep = (await createReport(synth.project, { runId: synth.runId, outPath: join(work, 'report50.pdf'), pageSize: 'A4', notes: 'bench', force: true, thumbnails: true, fileNames: false, appVersion: 'bench' })) as ExportReport;
      reportSeconds.push((performance.now() - t) / 1000);
      pages = rep.pages ?? 0;
    }
    synth.project.close();

    const ratio = ratioOf(rounds.predict, rounds.eval);
    console.error(`export: predict/eval ratio ${ratio.median} (${ratio.perRound.join(', ')}); report ${reportSeconds.map((s) => s.toFixed(2)).join(', ')} s`);
    writeResult('export', {
      bench: 'export',
      ...runFacts(loadAtStart),
      images: n,
      model: `LeNet-5, 28 px grey, trained 1 epoch on ${TRAIN} Fashion-MNIST images by loupe train`,
      loupeEvalImagesPerSecond: rounds.eval.map((v) => Math.round(v)),
      loupePredictImagesPerSecond: rounds.predict.map((v) => Math.round(v)),
      ratioPredictToEval: ratio,
      target: 0.9,
      report50Classes: { seconds: stats(reportSeconds), pages, targetSeconds: 5 },
      note: 'eval: evaluations:run through the training process (in this process\'s core), tensor cache cleared first; predict: the whole `loupe predict` process, start-up and CSV included.',
    });
  } finally {
    await core.shutdown();
    rmSync(work, { recursive: true, force: true });
  }
});
