/**
 * `npm run bench:gpu` (issue 16): training speed through the GPU host, against the wasm path and PyTorch, on the path
 * a user's click takes: per round one `loupe train … --gpu-host chromium:PATH --backend <chosen>` process and one
 * `loupe train … --backend wasm` process (its gradient threads at their default), and bench/torch_train.py on the
 * same run config, with CUDA when this machine has it and otherwise the CPU at threads = cores. Images/s are each
 * run's own first-to-last-batch figures; sides alternate order every round; ratios are medians of per-round ratios.
 *
 * The GPU backend is `loupe doctor`'s choice for that browser (or --backend). A machine with only a software GPU
 * (SwiftShader, as here) is measured with --allow-software-gpu, and the result says so: those figures show that the
 * path works and what it costs, not what a GPU does.
 *
 * Recipes: bench:train's lenet (28 px) and resnet (the compact ResNet, 64 px), and resnet18: torchvision's ResNet-18
 * (random weights) imported from ONNX and fine-tuned whole at 224 px, batch 32, Adam (bench:transfer's setup;
 * PyTorch: bench/torch_transfer.py). `all` leaves resnet18 out on a software GPU, where one image takes minutes.
 *
 *   npm run bench:gpu -- [--recipe lenet|resnet|resnet18|all] [--gpu-host chromium:PATH] [--backend webgpu|webgl]
 *                        [--epochs 1] [--rounds 5] [--train 6000] [--test 1000] [--finetune-images 96] [--tiny]
 */
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendReport } from '../shared/worker-protocol.ts';
import { FASHION_MNIST_DIR } from '../tests/helpers/fashion-mnist.ts';
import { fashionTree } from './fashion-tree.ts';
import { loupe } from './loupe-cli.ts';
import { RECIPES } from './recipes.ts';
import { torchAvailable } from './torch-side.ts';
import { loupeTrainRound, torchTrainRound, type SideRound } from './train-sides.ts';
import { runTorch } from './torch-side.ts';
import { finetunePreset, transferProject, TRANSFER_BATCH, TRANSFER_NET } from './transfer-project.ts';
import { fullNetsDir } from '../tests/helpers/onnx-full.ts';
import { chromiumCandidates, installedChromium } from '../electron/core/training/gpu-host/setting.ts';
import { benchTmp, interleave, keptParts, median, MIN_ROUNDS, ratioOf, resultPath, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({
  options: {
    recipe: { type: 'string', default: 'all' },
    'gpu-host': { type: 'string' },
    backend: { type: 'string' },
    epochs: { type: 'string' },
    rounds: { type: 'string' },
    train: { type: 'string' },
    test: { type: 'string' },
    'finetune-images': { type: 'string' },
    tiny: { type: 'boolean', default: false },
  },
});
const EPOCHS = Number(values.epochs ?? 1);
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
const TRAIN = Number(values.train ?? (TINY ? 200 : 6_000));
const TEST = Number(values.test ?? (TINY ? 100 : 1_000));
// 32: the first Fashion-MNIST images that hold every class (a run needs training images of each).
const FT_IMAGES = Number(values['finetune-images'] ?? (TINY ? 32 : 96));
const GPU_RECIPES = ['lenet', 'resnet', 'resnet18'];

function gpuHostSpec(): string {
  if (values['gpu-host'] && values['gpu-host'] !== 'auto') return values['gpu-host'];
  // As `--gpu-host auto` finds it, named in the result.
  const found = installedChromium();
  if (!found) throw new Error(`no Chrome or Chromium at ${chromiumCandidates().join(', ')}: give one with --gpu-host chromium:PATH`);
  return `chromium:${found}`;
}

/** The flags that put `loupe train` on the GPU host, and what `loupe doctor` found there. */
async function gpuSide(spec: string): Promise<{ flags: string[]; report: BackendReport; software: boolean }> {
  const forced = values.backend ? ['--backend', values.backend] : [];
  const ask = async (extra: string[]) => JSON.parse((await loupe(['doctor', '--json', '--gpu-host', spec, ...forced, ...extra])).stdout) as BackendReport;
  const onGpu = (r: BackendReport) => r.chosen.name === 'webgpu' || r.chosen.name === 'webgl';
  // A forced backend with no hardware under it fails the doctor outright: that is a "no" too.
  const first = await ask([]).catch((e: Error) => e);
  let report = first instanceof Error ? null : first;
  let software = false;
  if (!report || !onGpu(report)) {
    // No hardware GPU: Chromium's software one (started only when allowed) still shows that the path works.
    const soft = await ask(['--allow-software-gpu']);
    software = onGpu(soft);
    report = software || !report ? soft : report;
  }
  if (!onGpu(report)) throw new Error(`no GPU backend in ${spec}: ${report.rejected.map((r) => `${r.name}: ${r.reason}`).join('; ')}`);
  return { flags: ['--gpu-host', spec, '--backend', report.chosen.name, ...(software ? ['--allow-software-gpu'] : [])], report, software };
}

async function benchRecipe(name: string, project: string, gpuFlags: string[]) {
  const recipe = RECIPES[name]!;
  let runConfig: Record<string, unknown> | null = null;
  let lastGpuRun = 0;
  let torchFacts: Record<string, unknown> = {};
  const sides = {
    gpu: async (): Promise<SideRound> => {
      const r = await loupeTrainRound(project, [...recipe.flags, ...gpuFlags], EPOCHS, `bench:gpu ${name}`);
      lastGpuRun = r.runId;
      runConfig ??= r.runConfig;
      return r.round;
    },
    wasm: async (): Promise<SideRound> => {
      const r = await loupeTrainRound(project, [...recipe.flags, '--backend', 'wasm'], EPOCHS, `bench:gpu ${name} wasm`);
      runConfig ??= r.runConfig;
      return r.round;
    },
    torch: async (): Promise<SideRound> => {
      if (!runConfig) throw new Error('a Loupe side goes first in round 1: PyTorch copies its run config');
      const r = await torchTrainRound(runConfig, { epochs: EPOCHS, train: TRAIN, test: TEST, threads: 'cores', device: 'auto' });
      torchFacts = r.facts;
      return r.round;
    },
  };
  console.error(`bench:gpu ${name}: ${ROUNDS} round(s) of ${EPOCHS} epoch(s) on ${TRAIN} images`);
  const rounds = await interleave(ROUNDS, sides);
  for (let r = 0; r < ROUNDS; r++) {
    console.error(`  round ${r + 1}: GPU host ${rounds.gpu[r]!.imagesPerSecond} img/s, wasm ${rounds.wasm[r]!.imagesPerSecond}, PyTorch ${rounds.torch[r]!.imagesPerSecond}`);
  }
  const ev = JSON.parse((await loupe(['eval', project, '--run', String(lastGpuRun), '--split', 'test', '--json'])).stdout) as { accuracy: number };
  const ips = (side: SideRound[]) => side.map((s) => s.imagesPerSecond);
  return {
    description: recipe.description,
    data: { trainImages: TRAIN, testImages: TEST, epochsPerRound: EPOCHS },
    rounds,
    median: { gpuImagesPerSecond: median(ips(rounds.gpu)), wasmImagesPerSecond: median(ips(rounds.wasm)), torchImagesPerSecond: median(ips(rounds.torch)) },
    gpuVsWasm: ratioOf(ips(rounds.gpu), ips(rounds.wasm)),
    gpuVsTorch: ratioOf(ips(rounds.gpu), ips(rounds.torch)),
    wasmVsTorch: ratioOf(ips(rounds.wasm), ips(rounds.torch)),
    gpuRunTestAccuracy: { accuracy: ev.accuracy, afterEpochs: EPOCHS, testImages: TEST },
    torch: torchFacts,
  };
}

/** ResNet-18 fine-tuned whole at 224 px: the network a hospital brings, on the GPU host vs wasm vs PyTorch. */
async function benchResnet18(work: string, gpuFlags: string[]) {
  const onnx = join(fullNetsDir([TRANSFER_NET], benchTmp('onnx-full')), `${TRANSFER_NET}.onnx`);
  const project = await transferProject(work, 'resnet18', FT_IMAGES, onnx, { finetune: finetunePreset(availableParallelism()) });
  const flags = ['--preset', 'finetune'];
  let torchFacts: Record<string, unknown> = {};
  const sides = {
    gpu: async () => (await loupeTrainRound(project, [...flags, ...gpuFlags], 1, 'bench:gpu resnet18')).round,
    wasm: async () => (await loupeTrainRound(project, [...flags, '--backend', 'wasm'], 1, 'bench:gpu resnet18 wasm')).round,
    torch: async (): Promise<SideRound> => {
      const r = await runTorch('torch_transfer.py', ['finetune', '--data-dir', FASHION_MNIST_DIR, '--train', String(FT_IMAGES), '--epochs', '1', '--batch', String(TRANSFER_BATCH), '--device', 'auto']);
      const e = r.lines.find((l) => 'epoch' in l)!;
      torchFacts = r.lines.at(-1)!;
      const imagesPerSecond = +(Number(e['images']) / Number(e['seconds'])).toFixed(2);
      return { imagesPerSecond, wallSeconds: +r.wallSeconds.toFixed(2), epochs: [{ imagesPerSecond, seconds: +Number(e['seconds']).toFixed(3), loss: +Number(e['loss']).toFixed(4) }] };
    },
  };
  console.error(`bench:gpu resnet18: ${ROUNDS} round(s) of 1 epoch on ${FT_IMAGES} images at 224 px`);
  const rounds = await interleave(ROUNDS, sides);
  const ips = (side: SideRound[]) => side.map((s) => s.imagesPerSecond);
  return {
    description: `torchvision ${TRANSFER_NET} (random weights) imported from ONNX, every layer fine-tuned, 224 px RGB, batch ${TRANSFER_BATCH}, Adam lr 0.001`,
    data: { trainImages: FT_IMAGES, epochsPerRound: 1 },
    rounds,
    median: { gpuImagesPerSecond: median(ips(rounds.gpu)), wasmImagesPerSecond: median(ips(rounds.wasm)), torchImagesPerSecond: median(ips(rounds.torch)) },
    gpuVsWasm: ratioOf(ips(rounds.gpu), ips(rounds.wasm)),
    gpuVsTorch: ratioOf(ips(rounds.gpu), ips(rounds.torch)),
    wasmVsTorch: ratioOf(ips(rounds.wasm), ips(rounds.torch)),
    torch: torchFacts,
  };
}

await runBench('gpu', async (loadAtStart) => {
  torchAvailable(['torch', 'torchvision']);
  let names = values.recipe === 'all' ? GPU_RECIPES : [values.recipe];
  for (const n of names) if (!GPU_RECIPES.includes(n)) throw new Error(`--recipe takes ${GPU_RECIPES.join(', ')} or all; got "${n}"`);
  const spec = gpuHostSpec();
  const gpu = await gpuSide(spec);
  const chosen = gpu.report.gpu?.adapters.find((a) => a.backend === gpu.report.chosen.name);
  console.error(`GPU host: ${gpu.report.chosen.detail}${gpu.software ? ' — a SOFTWARE GPU: these figures are not a GPU\'s' : ''}`);
  const skipped: Record<string, string> = {};
  if (values.recipe === 'all' && gpu.software) {
    names = names.filter((n) => n !== 'resnet18');
    skipped['resnet18'] = 'a software GPU takes minutes per 224 px image; --recipe resnet18 runs it anyway';
  }
  const work = benchTmp(`gpu-${process.pid}`);
  try {
    const project = join(work, 'project');
    if (names.some((n) => n !== 'resnet18')) await loupe(['import', project, (await fashionTree('fashion', TRAIN, TEST)).dir, '--json']);
    const recipes: Record<string, unknown> = {};
    for (const n of names) recipes[n] = n === 'resnet18' ? await benchResnet18(work, gpu.flags) : await benchRecipe(n, project, gpu.flags);
    const kept = TINY ? {} : keptParts(resultPath('gpu'), 'recipes', names);
    writeResult('gpu', {
      bench: 'gpu',
      ...runFacts(loadAtStart),
      gpuHost: {
        browser: spec.slice('chromium:'.length),
        backend: gpu.report.chosen.name,
        adapter: chosen?.adapter ?? null,
        driver: chosen?.driver ?? null,
        limits: chosen?.limits ?? null,
        softwareGpu: gpu.software,
        detail: gpu.report.chosen.detail,
      },
      loupe: { path: `node bin/loupe.js train <project> … ${gpu.flags.join(' ')} --json, and the same with --backend wasm (a new run per round)` },
      // Each recipe says how many images it ran on.
      data: { source: FASHION_MNIST_DIR },
      note:
        'images/s: first to last batch of each epoch, as each run reports it. Ratios: medians of per-round ratios. PyTorch: CUDA when torch.cuda.is_available(), else the CPU with threads = cores (see torch.device).' +
        (gpu.software ? ' The GPU host rendered with a software GPU (no GPU on this machine): its figures measure the path, not a GPU.' : ''),
      skipped,
      recipes: { ...kept, ...recipes },
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
