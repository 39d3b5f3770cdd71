/**
 * `npm run bench:eval-metrics`: every metric of issue 5 for 100,000 predictions and 50 classes, bootstrap
 * included (B = 1000), against the 2 s budget.
 *
 * Data: seeded synthetic softmax probabilities (float32, as stored) with a true-class bonus (about 80% accuracy).
 * Measured, median of --repeats runs (default 3):
 *   - total: computeMetrics with its default bootstrap (the timed target, < 2000 ms);
 *   - the same without the bootstrap, and the bootstrap's share;
 *   - a two-class set of the same size (its bootstrap also takes the linearized path at this size);
 *   - the exact AUC bootstrap on the 50-class set with B = 10, extrapolated to B = 1000, showing why the
 *     default switches to the linearized path there;
 *   - baseline: one argmax pass over the same probabilities, the machine-speed yardstick the totals are
 *     expressed against (ratios), since the machine is shared and loaded.
 * Writes bench/results/eval-metrics.json. Options: --rows N, --classes K, --repeats R, --tiny (2,000 rows, one repeat).
 */
import { parseArgs } from 'node:util';
import { computeMetrics, predictedClasses, type Predictions } from '../shared/metrics.ts';
import { seededRandom } from '../shared/random.ts';
import { median as medianOf, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    classes: { type: 'string', default: '50' },
    repeats: { type: 'string' },
    tiny: { type: 'boolean', default: false },
  },
});
const N = Number(values.rows ?? (TINY ? 2000 : 100_000));
const K = Number(values.classes);
const REPEATS = Number(values.repeats ?? (TINY ? 1 : 3));

function makePredictions(n: number, k: number, seed: number): Predictions {
  const random = seededRandom(seed);
  const labels = new Int32Array(n);
  const probs = new Float32Array(n * k);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const y = Math.floor(random() * k);
    labels[i] = y;
    let sum = 0;
    for (let c = 0; c < k; c++) {
      // Box–Muller normal logits plus a bonus for the true class.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      row[c] = Math.exp(z + (c === y ? 3.2 : 0));
      sum += row[c]!;
    }
    for (let c = 0; c < k; c++) probs[i * k + c] = row[c]! / sum;
  }
  return { labels, probs, k };
}

/** Wall time, and this process's CPU time (user + system): the machine is shared, so both are recorded. */
function time<T>(fn: () => T): { ms: number; cpuMs: number; value: T } {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = fn();
  const cpu = process.cpuUsage(cpu0);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, value };
}

function median<T>(fn: () => T): { ms: number; cpuMs: number; runs: number[]; value: T } {
  const results = Array.from({ length: REPEATS }, () => time(fn));
  const runs = results.map((r) => Math.round(r.ms));
  return { ms: medianOf(runs), cpuMs: Math.round(medianOf(results.map((r) => r.cpuMs))), runs, value: results[0]!.value };
}

await runBench('eval-metrics', async (loadAtStart) => {
  const data = makePredictions(N, K, 1);
  const binary = makePredictions(N, 2, 2);
  time(() => computeMetrics(makePredictions(2000, K, 3))); // warm up the JIT on a small set

  const baseline = median(() => predictedClasses(data.probs, N, K));
  const total = median(() => computeMetrics(data));
  const noBootstrap = median(() => computeMetrics(data, { bootstrap: false }));
  const binaryTotal = median(() => computeMetrics(binary));
  const exactB10 = time(() => computeMetrics(data, { bootstrap: { resamples: 10, aucMethod: 'exact' } }));

  const ci = total.value.confidenceIntervals!;
  const result = {
    bench: 'eval-metrics',
    ...runFacts(loadAtStart),
    rows: N,
    classes: K,
    resamples: ci.resamples,
    repeats: REPEATS,
    accuracy: total.value.accuracy,
    auc: total.value.auc.macro,
    intervals: {
      accuracy: [ci.accuracy.lower, ci.accuracy.upper],
      auc: [ci.auc?.lower, ci.auc?.upper],
      method: ci.method,
    },
    ms: {
      baselineArgmaxPass: baseline.ms,
      total: total.ms,
      totalRuns: total.runs,
      totalCpu: total.cpuMs,
      withoutBootstrap: noBootstrap.ms,
      bootstrap: total.ms - noBootstrap.ms,
      binaryTotal: binaryTotal.ms,
      binaryMethod: binaryTotal.value.confidenceIntervals!.method,
      exactBootstrapB10: Math.round(exactB10.ms - noBootstrap.ms),
      exactBootstrapB1000Extrapolated: Math.round((exactB10.ms - noBootstrap.ms) * 100),
    },
    ratios: {
      totalOverBaseline: Math.round((total.ms / Math.max(baseline.ms, 1)) * 10) / 10,
      binaryOverBaseline: Math.round((binaryTotal.ms / Math.max(baseline.ms, 1)) * 10) / 10,
    },
    targets: { totalUnder2000ms: total.ms < 2000, binaryUnder2000ms: binaryTotal.ms < 2000 },
  };
  writeResult('eval-metrics', result);
  console.log(JSON.stringify(result.ms), JSON.stringify(result.targets));
});
