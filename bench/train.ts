/**
 * `npm run bench:train`: training speed on the path a user's click takes, against PyTorch on the same recipe.
 *
 * Loupe: Debian's Fashion-MNIST written as PNGs, imported with `loupe import`, then per round one
 * `loupe train <project> … --json` process (training process, tensor cache, fit loop, its data-parallel threads
 * at their default of one per core). Images/s per epoch are the run's own figures (first to last batch of the
 * epoch, from its `epoch` events); the whole command's wall time is timed too. Test accuracy after the last
 * round: `loupe eval --split test`.
 * PyTorch (bench/torch_train.py, /usr/bin/python3): the run's stored config and normalization, the same images,
 * timed the same way; once with torch.set_num_threads(cores) ("best") and once with its default threads.
 * Sides alternate order every round (Loupe, best, default; default, best, Loupe; …); ratios are medians of per-round
 * ratios.
 *
 * Recipes (issue 13's goals):
 *   lenet     LeNet-5, 28 px, batch 64, SGD lr 0.01 momentum 0.9, no dropout, no augmentation
 *   resnet    the compact ResNet (width 16, depth 2) on 64 px, batch 64, Adam lr 0.001, no augmentation
 *   defaults  the one-click defaults (`loupe train <project>` with only --epochs; augmentation on) vs PyTorch with
 *             the same torchvision augmentations in a DataLoader of 2 workers
 *
 *   npm run bench:train -- [--recipe lenet|resnet|defaults|all] [--epochs 2] [--rounds 5] [--train 60000] [--test 10000] [--tiny]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_MNIST_DIR } from '../tests/helpers/fashion-mnist.ts';
import { fashionTree } from './fashion-tree.ts';
import { loupe } from './loupe-cli.ts';
import { RECIPES } from './recipes.ts';
import { torchAvailable } from './torch-side.ts';
import { loupeTrainRound, torchTrainRound, type SideRound } from './train-sides.ts';
import { benchTmp, interleave, keptParts, median, MIN_ROUNDS, ratioOf, resultPath, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({
  options: {
    recipe: { type: 'string', default: 'all' },
    epochs: { type: 'string' },
    rounds: { type: 'string' },
    train: { type: 'string' },
    test: { type: 'string' },
    tiny: { type: 'boolean', default: false },
  },
});
const EPOCHS = Number(values.epochs ?? (TINY ? 1 : 2));
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
const TRAIN = Number(values.train ?? (TINY ? 300 : 60_000));
const TEST = Number(values.test ?? (TINY ? 100 : 10_000));

async function benchRecipe(name: string, project: string) {
  const recipe = RECIPES[name]!;
  let runConfig: Record<string, unknown> | null = null;
  let lastRunId = 0;
  const torchFacts: Record<string, unknown> = {};

  const loupeRound = async (): Promise<SideRound> => {
    const r = await loupeTrainRound(project, recipe.flags, EPOCHS, `bench ${name}`);
    lastRunId = r.runId;
    runConfig ??= r.runConfig;
    return r.round;
  };

  const torchRound = (threads: 'cores' | 'default') => async (): Promise<SideRound> => {
    if (!runConfig) throw new Error('the Loupe side goes first in round 1: PyTorch copies its run config');
    const r = await torchTrainRound(runConfig, { epochs: EPOCHS, train: TRAIN, test: TEST, threads });
    torchFacts[threads] = r.facts;
    return r.round;
  };

  console.error(`bench:train ${name}: ${ROUNDS} round(s) of ${EPOCHS} epoch(s) on ${TRAIN} images`);
  const rounds = await interleave(ROUNDS, { loupe: loupeRound, torchBest: torchRound('cores'), torchDefault: torchRound('default') });
  for (let r = 0; r < ROUNDS; r++) {
    console.error(`  round ${r + 1}: Loupe ${rounds.loupe[r]!.imagesPerSecond} img/s, PyTorch best ${rounds.torchBest[r]!.imagesPerSecond}, default ${rounds.torchDefault[r]!.imagesPerSecond}`);
  }
  const ev = JSON.parse((await loupe(['eval', project, '--run', String(lastRunId), '--split', 'test', '--json'])).stdout) as { accuracy: number; n?: number };
  const ips = (side: SideRound[]) => side.map((s) => s.imagesPerSecond);
  // Wall time as a speed: the same work in less time is a higher figure, so the ratio reads like the others.
  const wallSpeed = (side: SideRound[]) => side.map((s) => 1 / s.wallSeconds);
  return {
    description: recipe.description,
    loupeFlags: recipe.flags,
    runConfig,
    rounds,
    median: {
      loupeImagesPerSecond: median(ips(rounds.loupe)),
      torchBestImagesPerSecond: median(ips(rounds.torchBest)),
      torchDefaultImagesPerSecond: median(ips(rounds.torchDefault)),
      loupeWallSeconds: median(rounds.loupe.map((s) => s.wallSeconds)),
      torchBestWallSeconds: median(rounds.torchBest.map((s) => s.wallSeconds)),
    },
    ratio: ratioOf(ips(rounds.loupe), ips(rounds.torchBest)),
    ratioVsTorchDefault: ratioOf(ips(rounds.loupe), ips(rounds.torchDefault)),
    wallRatio: ratioOf(wallSpeed(rounds.loupe), wallSpeed(rounds.torchBest)),
    testAccuracy: { loupe: ev.accuracy, torchBest: torchFacts['cores'] && (torchFacts['cores'] as { testAccuracy: number }).testAccuracy, torchDefault: torchFacts['default'] && (torchFacts['default'] as { testAccuracy: number }).testAccuracy, afterEpochs: EPOCHS, testImages: TEST },
    torch: torchFacts,
  };
}

await runBench('train', async (loadAtStart) => {
  torchAvailable(['torch', 'torchvision']);
  const names = values.recipe === 'all' ? Object.keys(RECIPES) : [values.recipe];
  for (const n of names) if (!RECIPES[n]) throw new Error(`--recipe takes ${Object.keys(RECIPES).join(', ')} or all; got "${n}"`);
  const tree = await fashionTree('fashion', TRAIN, TEST);
  const work = benchTmp(`train-${process.pid}`);
  try {
    const project = join(work, 'project');
    // The tree's train/ and test/ folders become the project's splits.
    const imp = await loupe(['import', project, tree.dir, '--json']);
    console.error(`imported ${TRAIN} training and ${TEST} test images in ${imp.wallSeconds.toFixed(1)} s`);
    const doctor = JSON.parse((await loupe(['doctor', '--json'])).stdout) as { chosen: { name: string; detail: string }; threads: number };
    const data = { source: FASHION_MNIST_DIR, trainImages: TRAIN, testImages: TEST, epochsPerRound: EPOCHS };
    // Each recipe says what it ran on: a later partial run (--recipe) keeps the others, measured on other sizes.
    const recipes: Record<string, Awaited<ReturnType<typeof benchRecipe>> & { data: typeof data }> = {};
    for (const n of names) recipes[n] = { data, ...(await benchRecipe(n, project)) };
    const kept = TINY ? {} : keptParts(resultPath('train'), 'recipes', names);
    writeResult('train', {
      bench: 'train',
      ...runFacts(loadAtStart),
      loupe: { backend: doctor.chosen.detail, threads: doctor.threads, path: 'node bin/loupe.js train <project> … --json (a new run per round, tensor cache kept between rounds as for a user\'s second run)' },
      data,
      note: 'images/s: first to last batch of each epoch, as each run reports it. ratio: median of per-round Loupe/PyTorch-best ratios (threads = cores); ratioVsTorchDefault: against PyTorch with its default threads. Wall time: the whole command (process start, data loading, every epoch; Loupe decodes the PNGs into its tensor cache on its first round, PyTorch reads the IDX arrays).',
      recipes: { ...kept, ...recipes },
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
