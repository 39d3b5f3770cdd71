/**
 * Every bench still runs: each one in its --tiny mode (a few hundred images, one round), as after a fresh clone
 * (its data folder does not exist yet), and its result JSON carries the facts a figure needs (date, commit, load
 * at start and end, rounds and ratios). Tiny results go to a temp folder: bench/results/ is never touched.
 * The browser benches (grid, label-browser) are in tests/e2e/benches.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runTinyBench, type BenchResult } from '../helpers/tiny-bench.ts';

const resultsDir = join(import.meta.dirname, '..', '..', 'bench', 'results');
const snapshot = () => readdirSync(resultsDir).map((f) => `${f}:${statSync(join(resultsDir, f)).mtimeMs}`).sort();
const before = snapshot();

const PYTHON = '/usr/bin/python3';
const torch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, PIL'], { encoding: 'utf8' });

function assertRatio(r: unknown, where: string): void {
  const ratio = r as { perRound: number[]; median: number; rounds: number; enoughRounds: boolean };
  assert.equal(ratio.rounds, 1, `${where}: one round in tiny mode`);
  assert.equal(ratio.perRound.length, 1, where);
  assert.ok(Number.isFinite(ratio.median) && ratio.median > 0, `${where}: a ratio (${ratio.median})`);
  assert.equal(ratio.enoughRounds, false, `${where}: one round is not enough for a figure, and says so`);
}

test('the PyTorch side can run (CI: apt install python3-torch python3-torchvision python3-pil)', () => {
  assert.equal(torch.status, 0, `${PYTHON} cannot import torch, torchvision and PIL: ${torch.stderr}`);
});

test('bench:train runs each recipe through loupe train and PyTorch at best and default threads', () => {
  const r: BenchResult = runTinyBench('train');
  const recipes = r['recipes'] as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(recipes).sort(), ['defaults', 'lenet', 'resnet']);
  for (const [name, rec] of Object.entries(recipes)) {
    assertRatio(rec['ratio'], `${name} ratio`);
    assertRatio(rec['ratioVsTorchDefault'], `${name} ratio vs default`);
    assertRatio(rec['wallRatio'], `${name} wall ratio`);
    const rounds = rec['rounds'] as Record<string, { imagesPerSecond: number; wallSeconds: number; epochs: unknown[] }[]>;
    for (const side of ['loupe', 'torchBest', 'torchDefault']) {
      assert.equal(rounds[side]!.length, 1, `${name} ${side}`);
      assert.equal(rounds[side]![0]!.epochs.length, 1, `${name} ${side}: one epoch as reported by the run`);
      assert.ok(rounds[side]![0]!.imagesPerSecond > 0 && rounds[side]![0]!.wallSeconds > 0, `${name} ${side}`);
    }
    const acc = rec['testAccuracy'] as Record<string, number>;
    for (const side of ['loupe', 'torchBest', 'torchDefault']) assert.ok(acc[side]! >= 0 && acc[side]! <= 1, `${name} ${side} test accuracy`);
    const threads = rec['torch'] as Record<string, { threads: number }>;
    assert.equal(threads['cores']!.threads, (r['machine'] as { cpus: number }).cpus, `${name}: "best" PyTorch runs one thread per core`);
  }
  // The one-click defaults are what the user gets: augmentation on.
  const defaults = recipes['defaults']!['runConfig'] as { augment: { cropScale: number } };
  assert.ok(defaults.augment.cropScale > 0);
  assert.equal((recipes['resnet']!['runConfig'] as { depth: number }).depth, 2);
});

// SwiftShader's WebGPU trains LeNet-5 at a few images/s: the tiny run takes WebGL, and LeNet alone.
test('bench:gpu runs LeNet-5 through the GPU host, the wasm path and PyTorch, and says the GPU was software', () => {
  const r = runTinyBench('gpu', ['--backend', 'webgl', '--recipe', 'lenet']);
  const host = r['gpuHost'] as { backend: string; adapter: string; softwareGpu: boolean; limits: Record<string, number> };
  assert.equal(host.backend, 'webgl');
  assert.match(host.adapter, /SwiftShader/);
  assert.equal(host.softwareGpu, true);
  assert.match(String(r['note']), /software GPU/);
  assert.ok(host.limits['maxTextureSize']! > 0);
  const lenet = (r['recipes'] as Record<string, Record<string, unknown>>)['lenet']!;
  for (const k of ['gpuVsWasm', 'gpuVsTorch', 'wasmVsTorch']) assertRatio(lenet[k], `lenet ${k}`);
  const torchFacts = lenet['torch'] as { device: string; threads: number };
  assert.equal(torchFacts.device, 'cpu');
  assert.equal(torchFacts.threads, (r['machine'] as { cpus: number }).cpus);
});

test('bench:step-profile times every kernel and every phase of a LeNet and a ResNet step, on one thread and on all', () => {
  const r = runTinyBench('step-profile');
  const recipes = r['recipes'] as Record<string, { kernels: { kernels: { kernel: string; msPerStep: number; callsPerStep: number }[]; kernelCallsPerStep: number }; phases: { threads: number; fitLoopThread: Record<string, number>; gradientThreads: Record<string, number> }[] }>;
  assert.deepEqual(Object.keys(recipes).sort(), ['defaults', 'lenet', 'resnet']);
  for (const [name, rec] of Object.entries(recipes)) {
    const kernels = rec.kernels.kernels.map((k) => k.kernel);
    const own = name === 'resnet' ? ['LoupeBatchNormTrain', 'LoupeBatchNormGrad'] : ['MaxPoolGrad'];
    for (const k of ['Conv2D', 'Conv2DBackpropFilter', 'BatchMatMul', ...own]) assert.ok(kernels.some((n) => n.startsWith(k)), `${name}: ${k} profiled`);
    assert.ok(rec.kernels.kernels.every((k) => k.msPerStep >= 0 && k.callsPerStep > 0), name);
    assert.ok(rec.kernels.kernelCallsPerStep > 50, `${name}: every kernel call counted`);
    const cpus = (r['machine'] as { cpus: number }).cpus;
    assert.deepEqual(rec.phases.map((p) => p.threads), cpus > 1 ? [1, cpus] : [1], name);
    for (const p of rec.phases) assert.ok(p.fitLoopThread['own']! > 0, `${name}: the fit loop's own shard timed`);
    if (cpus > 1) assert.ok(rec.phases[1]!.gradientThreads['compute']! > 0, `${name}: the gradient threads' shards timed`);
  }
});

test('bench:infer runs both models on rows and files, and both engines predict the same classes', () => {
  const r = runTinyBench('infer');
  const models = r['models'] as Record<string, { rows: Record<string, unknown>; files: Record<string, unknown> }>;
  for (const name of ['lenet', 'resnet']) {
    const m = models[name]!;
    assertRatio(m.rows['ratio'], `${name} rows`);
    assertRatio(m.rows['ratioVsTorchDefault'], `${name} rows vs default`);
    assertRatio(m.files['ratio'], `${name} files`);
    assert.equal(m.rows['samePredictions'], true, `${name}: PyTorch runs the bundle's graph to the same classes`);
    // LeNet reads the PNGs at their own size; the ResNet's 28 → 64 px resize is sharp's on one side and PIL's on the
    // other, which tips a few near-ties of a one-epoch model.
    const agreement = m.files['predictedClassAgreement'] as number;
    assert.ok(agreement >= (name === 'lenet' ? 0.99 : 0.9), `${name}: loupe predict and PyTorch + PIL agree per file (${agreement})`);
    assert.equal(m.files['decoders'], 4);
  }
});

test('bench:import times loupe import, whole process, against a bare sharp loop', () => {
  const r = runTinyBench('import');
  for (const set of ['smallPng', 'largeJpeg']) {
    const s = r[set] as { ratio: unknown; files: number };
    assertRatio(s.ratio, set);
    assert.ok(s.files > 0);
  }
});

test('bench:export compares loupe predict with evaluation and renders the 50-class report', () => {
  const r = runTinyBench('export');
  assertRatio(r['ratioPredictToEval'], 'predict/eval');
  assert.ok((r['report50Classes'] as { pages: number }).pages > 0);
});

test('bench:import-memory, bench:label, bench:eval-metrics and bench:kernels run', () => {
  const memory = runTinyBench('import-memory');
  assert.equal(memory['added'], memory['files']);
  const label = runTinyBench('label');
  // 30 keystrokes: enough for a p95.
  assert.ok((label['keystroke'] as { p95: number | null }).p95 !== null);
  const metrics = runTinyBench('eval-metrics');
  assert.equal(metrics['rows'], 2000);
  const kernels = runTinyBench('kernels');
  assert.equal((kernels['rows'] as unknown[]).length, 2);
});

test('tiny runs leave bench/results/ as it was', () => {
  assert.deepEqual(snapshot(), before);
  assert.ok(readFileSync(join(resultsDir, '..', '..', '.gitignore'), 'utf8').includes('bench/tmp/'));
});
