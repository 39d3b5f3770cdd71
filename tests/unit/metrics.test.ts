/**
 * Issue 5 metrics against scikit-learn 1.2.1's numbers on the recorded prediction sets of
 * tests/fixtures/metrics (made by make_fixtures.py; these tests need no Python), plus the properties that
 * scikit-learn has no reference for: bootstrap determinism and exactness, calibration totals, threshold monotonicity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  aggregateFolds,
  checkPredictions,
  computeMetrics,
  MetricsInputError,
  operatingPoint,
  percentile,
  poolFolds,
  predictedClasses,
  thresholdModel,
  type EvaluationMetrics,
  type Predictions,
} from '../../shared/metrics.ts';
import { sortColumn } from '../../shared/metrics-roc.ts';
import { binomial } from '../../shared/metrics-bootstrap.ts';
import { seededRandom } from '../../shared/random.ts';

const dir = fileURLToPath(new URL('../fixtures/metrics/', import.meta.url));
const TOL = 1e-12;

interface Expected {
  predicted: number[];
  accuracy: number;
  balancedAccuracy: number;
  topK: number[];
  perClass: { precision: number; recall: number; specificity: number; f1: number; support: number }[];
  macro: Record<'precision' | 'recall' | 'specificity' | 'f1', number>;
  weighted: Record<'precision' | 'recall' | 'specificity' | 'f1', number>;
  kappa: number | null;
  confusionMatrix: number[][];
  confusionNormalized: number[][];
  roc: ({ fpr: number[]; tpr: number[]; thresholds: number[] } | null)[];
  aucPerClass: (number | null)[];
  aucMacro: number | null;
  sklearnAucMacro: number | null;
  sklearnAucError: string | null;
  calibration: { bins: { count: number; meanConfidence: number | null; accuracy: number | null }[]; ece: number };
  mostConfusedWith: { classIndex: number; count: number; fraction: number }[][];
  operatingPoints?: { threshold: number; tp: number; fp: number; tn: number; fn: number; sensitivity: number; specificity: number; precision: number }[];
}
interface Case {
  name: string;
  k: number;
  labels: number[];
  probs: number[];
  expected: Expected;
}

const load = <T>(file: string): T => JSON.parse(readFileSync(dir + file, 'utf8')) as T;
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'kfold.json' && f !== 'percentile.json')
  .map((f) => load<Case>(f));
const toPredictions = (c: { labels: number[]; probs: number[] }, k: number): Predictions => ({
  labels: Int32Array.from(c.labels),
  probs: Float32Array.from(c.probs),
  k,
});

function close(actual: number | null, expected: number | null, what: string, tol = TOL): void {
  if (expected === null || actual === null) {
    assert.equal(actual, expected, `${what}: ${actual} vs ${expected}`);
    return;
  }
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}
function closeAll(actual: readonly (number | null)[], expected: readonly (number | null)[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  expected.forEach((e, i) => close(actual[i]!, e, `${what}[${i}]`));
}

test('the fixtures cover the edge cases the issue names', () => {
  const names = cases.map((c) => c.name).sort();
  for (const name of ['binary-basic', 'binary-ties', 'three-class', 'ten-class', 'multiclass-ties', 'never-predicted', 'class-absent', 'perfect', 'all-wrong', 'imbalanced', 'single-class']) {
    assert.ok(names.includes(name), `missing fixture ${name}`);
  }
  const byName = new Map(cases.map((c) => [c.name, c.expected]));
  assert.ok(byName.get('never-predicted')!.confusionMatrix.every((row) => row[3] === 0));
  assert.equal(byName.get('class-absent')!.perClass[2]!.support, 0);
  assert.notEqual(byName.get('multiclass-ties')!.topK[0], byName.get('multiclass-ties')!.accuracy, 'top-1 tie rule exercised');
});

/** Every metric of `input` equals scikit-learn's numbers in `e`. */
function assertMatchesSklearn(input: Predictions, e: Expected): void {
  const m: EvaluationMetrics = computeMetrics(input, { bootstrap: false });
  assert.deepEqual(Array.from(predictedClasses(input.probs, m.n, m.k)), e.predicted, 'argmax');
  assert.deepEqual(m.confusionMatrix.matrix, e.confusionMatrix, 'confusion matrix');
  e.confusionNormalized.forEach((row, i) => closeAll(m.confusionMatrix.normalized[i]!, row, `normalized row ${i}`));
  close(m.accuracy, e.accuracy, 'accuracy');
  close(m.balancedAccuracy, e.balancedAccuracy, 'balanced accuracy');
  closeAll(m.topK, e.topK, 'top-k');
  close(m.kappa, e.kappa, 'kappa');
  e.perClass.forEach((pc, c) => {
    const ours = m.perClass[c]!;
    assert.equal(ours.support, pc.support, `support ${c}`);
    for (const key of ['precision', 'recall', 'specificity', 'f1'] as const) close(ours[key], pc[key], `${key} of class ${c}`);
  });
  for (const key of ['precision', 'recall', 'specificity', 'f1'] as const) {
    close(m.macro[key], e.macro[key], `macro ${key}`);
    close(m.weighted[key], e.weighted[key], `weighted ${key}`);
  }
  closeAll(m.auc.perClass, e.aucPerClass, 'AUC per class');
  close(m.auc.macro, e.aucMacro, 'AUC');
  if (e.sklearnAucMacro !== null) close(m.auc.macro, e.sklearnAucMacro, 'AUC vs roc_auc_score');
  else assert.match(e.sklearnAucError ?? '', /Only one class present/);
  e.roc.forEach((curve, c) => {
    const ours = m.roc[c]!;
    if (curve === null) return assert.equal(ours, null, `curve ${c} undefined`);
    closeAll(ours.fpr, curve.fpr, `fpr ${c}`);
    closeAll(ours.tpr, curve.tpr, `tpr ${c}`);
    closeAll(ours.thresholds, curve.thresholds, `thresholds ${c}`);
  });
  e.calibration.bins.forEach((bin, b) => {
    assert.equal(m.calibration.bins[b]!.count, bin.count, `bin ${b} count`);
    close(m.calibration.bins[b]!.meanConfidence, bin.meanConfidence, `bin ${b} confidence`);
    close(m.calibration.bins[b]!.accuracy, bin.accuracy, `bin ${b} accuracy`);
  });
  close(m.calibration.ece, e.calibration.ece, 'ECE');
  assert.deepEqual(m.mostConfusedWith.map((l) => l.map((x) => [x.classIndex, x.count])), e.mostConfusedWith.map((l) => l.map((x) => [x.classIndex, x.count])));
  m.mostConfusedWith.forEach((l, c) => closeAll(l.map((x) => x.fraction), e.mostConfusedWith[c]!.map((x) => x.fraction), `confused ${c}`));
  if (e.operatingPoints) {
    const model = thresholdModel(input.labels, input.probs, 2);
    for (const op of e.operatingPoints) {
      const ours = operatingPoint(model, op.threshold);
      assert.deepEqual([ours.tp, ours.fp, ours.tn, ours.fn], [op.tp, op.fp, op.tn, op.fn], `counts at ${op.threshold}`);
      close(ours.sensitivity, op.sensitivity, `sensitivity at ${op.threshold}`);
      close(ours.specificity, op.specificity, `specificity at ${op.threshold}`);
      close(ours.precision, op.precision, `precision at ${op.threshold}`);
    }
  }
}

for (const fixture of cases) {
  test(`${fixture.name}: every metric equals scikit-learn's`, () => assertMatchesSklearn(toPredictions(fixture, fixture.k), fixture.expected));
}

const loadKfold = () =>
  load<{
    k: number;
    folds: { labels: number[]; probs: number[]; expected: Record<string, number | null> }[];
    summary: Record<string, { mean: number; std: number }>;
    pooled: Expected;
  }>('kfold.json');

test('k-fold pooling: the out-of-fold predictions of every fold, scored as one set, equal scikit-learn on the concatenation', () => {
  const kfold = loadKfold();
  const folds = kfold.folds.map((f) => toPredictions(f, kfold.k));
  const pooled = poolFolds(folds);
  assert.equal(pooled.labels.length, kfold.folds.reduce((a, f) => a + f.labels.length, 0));
  assertMatchesSklearn(pooled, kfold.pooled);
  assert.throws(() => poolFolds([folds[0]!, { ...folds[1]!, k: 4 }]), MetricsInputError);
  assert.throws(() => poolFolds([]), MetricsInputError);
});

test('k-fold aggregation: per-fold metrics and mean ± sample std as numpy computes them', () => {
  const kfold = loadKfold();
  const agg = aggregateFolds(kfold.folds.map((f) => computeMetrics(toPredictions(f, kfold.k), { bootstrap: false })));
  const names = { accuracy: 'accuracy', balancedAccuracy: 'balancedAccuracy', kappa: 'kappa', aucMacro: 'auc', macroF1: 'macroF1' } as const;
  for (const [theirs, ours] of Object.entries(names)) {
    kfold.folds.forEach((f, i) => close(agg.perFold[i]![ours], f.expected[theirs]!, `fold ${i} ${ours}`));
    close(agg.summary[ours].mean, kfold.summary[theirs]!.mean, `mean ${ours}`);
    close(agg.summary[ours].std, kfold.summary[theirs]!.std, `std ${ours}`);
    assert.equal(agg.summary[ours].folds, 5);
  }
  const single = aggregateFolds([computeMetrics(toPredictions(kfold.folds[0]!, kfold.k), { bootstrap: false })]);
  assert.equal(single.summary.accuracy.std, null, 'no sample std from one fold');
});

test('percentile is numpy.percentile (linear)', () => {
  const p = load<{ q: number[]; cases: { values: number[]; expected: number[] }[] }>('percentile.json');
  for (const c of p.cases) {
    const sorted = Float64Array.from(c.values).sort();
    p.q.forEach((q, i) => close(percentile(sorted, q), c.expected[i]!, `q${q} of ${c.values.length}`, 1e-15));
  }
});

const threeClass = cases.find((c) => c.name === 'three-class')!;
const tenClass = cases.find((c) => c.name === 'ten-class')!;
const binary = cases.find((c) => c.name === 'binary-basic')!;

test('bootstrap: same seed same intervals, another seed others, intervals contain the estimates', () => {
  for (const fixture of [threeClass, binary]) {
    const input = toPredictions(fixture, fixture.k);
    const a = computeMetrics(input, { bootstrap: { seed: 7, resamples: 300 } }).confidenceIntervals!;
    const b = computeMetrics(input, { bootstrap: { seed: 7, resamples: 300 } }).confidenceIntervals!;
    const c = computeMetrics(input, { bootstrap: { seed: 8, resamples: 300 } }).confidenceIntervals!;
    assert.deepEqual(a, b);
    assert.notDeepEqual([a.accuracy.lower, a.accuracy.upper, a.auc!.lower], [c.accuracy.lower, c.accuracy.upper, c.auc!.lower]);
    for (const ci of [a.accuracy, a.auc!]) {
      assert.ok(ci.lower < ci.estimate && ci.estimate < ci.upper, `${ci.lower} < ${ci.estimate} < ${ci.upper}`);
      assert.ok(ci.upper - ci.lower < 0.25);
    }
    assert.equal(a.method, 'exact');
    assert.equal(a.accuracy.estimate, fixture.expected.accuracy);
    assert.equal(a.auc!.estimate, fixture.expected.aucMacro);
  }
});

test('bootstrap exact path: every resample value is the metric recomputed on the explicitly drawn rows', () => {
  // rare: 30 rows with a single row of class 2, so many resamples lack it and average the other two AUCs.
  let firstTwo = true;
  const rareLabels = threeClass.labels.slice(0, 30).map((y) => (y !== 2 ? y : firstTwo ? ((firstTwo = false), 2) : 0));
  const rare = { ...threeClass, labels: rareLabels, probs: threeClass.probs.slice(0, 90) };
  let lackingRare = 0;
  for (const fixture of [threeClass, binary, rare]) {
    const input = toPredictions(fixture, fixture.k);
    const n = fixture.labels.length;
    const B = 25;
    const ci = computeMetrics(input, { bootstrap: { seed: 3, resamples: B, keepSamples: true, aucMethod: 'exact' } }).confidenceIntervals!;
    assert.equal(ci.auc!.resamples, B);
    const random = seededRandom(3);
    for (let b = 0; b < B; b++) {
      const rows = Array.from({ length: n }, () => Math.floor(random() * n));
      const resample = computeMetrics(
        {
          k: fixture.k,
          labels: rows.map((r) => fixture.labels[r]!),
          probs: Float32Array.from(rows.flatMap((r) => Array.from(input.probs.subarray(r * fixture.k, (r + 1) * fixture.k)))),
        },
        { bootstrap: false },
      );
      close(ci.accuracy.samples![b]!, resample.accuracy, `accuracy of resample ${b}`);
      close(ci.auc!.samples![b]!, resample.auc.macro, `AUC of resample ${b}`);
      if (fixture === rare && resample.auc.perClass[2] === null) lackingRare++;
    }
  }
  assert.ok(lackingRare > 0, 'some resamples lack the rare class');
});

test('bootstrap linearized path stays close to the exact one', () => {
  const input = toPredictions(tenClass, 10);
  const opts = { seed: 11, resamples: 2000 } as const;
  const exactResult = computeMetrics(input, { bootstrap: { ...opts, aucMethod: 'exact' } }).confidenceIntervals!;
  const linResult = computeMetrics(input, { bootstrap: { ...opts, aucMethod: 'linearized' } }).confidenceIntervals!;
  assert.equal(linResult.method, 'linearized');
  const [exact, lin] = [exactResult.auc!, linResult.auc!];
  const halfWidth = (exact.upper - exact.lower) / 2;
  assert.ok(Math.abs(lin.lower - exact.lower) < 0.15 * halfWidth, `lower ${lin.lower} vs ${exact.lower}`);
  assert.ok(Math.abs(lin.upper - exact.upper) < 0.15 * halfWidth, `upper ${lin.upper} vs ${exact.upper}`);
  // 'auto' switches to the linearized path above the work limit.
  const auto = computeMetrics(input, { bootstrap: { ...opts, exactWorkLimit: 1000 } }).confidenceIntervals!;
  assert.deepEqual(auto, linResult);
  // Accuracy on this path is drawn as a binomial count: the same distribution as drawing rows.
  const exactAcc = exactResult.accuracy;
  const linAcc = linResult.accuracy;
  const accHalf = (exactAcc.upper - exactAcc.lower) / 2;
  assert.ok(Math.abs(linAcc.lower - exactAcc.lower) < 0.2 * accHalf && Math.abs(linAcc.upper - exactAcc.upper) < 0.2 * accHalf);
});

test('bootstrap with an undefined AUC gives an accuracy interval and no AUC interval', () => {
  const single = cases.find((c) => c.name === 'single-class')!;
  const ci = computeMetrics(toPredictions(single, single.k), { bootstrap: { resamples: 50 } }).confidenceIntervals!;
  assert.equal(ci.auc, null);
  assert.deepEqual([ci.accuracy.lower, ci.accuracy.upper], [1, 1]);
});

test('calibration bins hold every prediction once and reproduce accuracy', () => {
  for (const fixture of cases) {
    const m = computeMetrics(toPredictions(fixture, fixture.k), { bootstrap: false });
    assert.equal(m.calibration.bins.reduce((a, b) => a + b.count, 0), m.n);
    const hits = m.calibration.bins.reduce((a, b) => a + (b.accuracy ?? 0) * b.count, 0);
    close(hits / m.n, m.accuracy, `${fixture.name}: accuracy from bins`, 1e-9);
    assert.ok(m.calibration.ece >= 0 && m.calibration.ece <= 1);
  }
});

test('operating threshold: sensitivity falls and specificity rises with the threshold, matching the ROC points', () => {
  for (const fixture of [binary, cases.find((c) => c.name === 'binary-ties')!]) {
    const input = toPredictions(fixture, 2);
    const model = thresholdModel(input.labels, input.probs, 2);
    let previous = operatingPoint(model, -0.01);
    assert.equal(previous.sensitivity, 1);
    for (let t = 0; t <= 1.01; t += 0.005) {
      const point = operatingPoint(model, t);
      assert.ok(point.sensitivity <= previous.sensitivity && point.specificity >= previous.specificity, `at ${t}`);
      assert.equal(point.tp + point.fn + point.fp + point.tn, fixture.labels.length);
      previous = point;
    }
    const curve = fixture.expected.roc[1]!;
    curve.thresholds.forEach((t, i) => {
      const point = operatingPoint(model, t);
      close(point.sensitivity, curve.tpr[i]!, `tpr at ${t}`);
      close(1 - point.specificity, curve.fpr[i]!, `fpr at ${t}`);
    });
  }
  assert.throws(() => thresholdModel([0, 1, 2], new Float32Array(9), 3), RangeError);
});

test('column sort orders floats like a comparator sort, stably (negatives, -0, ties)', () => {
  const random = seededRandom(5);
  const n = 5000;
  const k = 3;
  const probs = new Float32Array(n * k);
  for (let i = 0; i < probs.length; i++) {
    const r = random();
    probs[i] = r < 0.1 ? -0 : r < 0.2 ? 0 : r < 0.3 ? Math.round(random() * 4) / 4 : (random() - 0.3) * 1e3 * random() ** 8;
  }
  for (let c = 0; c < k; c++) {
    const ours = Array.from(sortColumn(probs, n, k, c));
    const reference = Array.from({ length: n }, (_, i) => i).sort((a, b) => probs[a * k + c]! - probs[b * k + c]! || a - b);
    // -0 and +0 are equal scores (one tie group); compare them as equal.
    const value = (i: number) => probs[i * k + c]! + 0;
    assert.deepEqual(ours.map(value), reference.map(value));
    for (let t = 1; t < n; t++) {
      if (Object.is(probs[ours[t]! * k + c], probs[ours[t - 1]! * k + c])) assert.ok(ours[t]! > ours[t - 1]!, 'stable');
    }
  }
});

test('malformed predictions are refused with a reason', () => {
  const ok = { labels: [0, 1], probs: Float32Array.from([0.2, 0.8, 0.6, 0.4]), k: 2 };
  assert.equal(checkPredictions(ok), 2);
  const bad: [Predictions, RegExp][] = [
    [{ ...ok, labels: [] , probs: new Float32Array(0) }, /no predictions/],
    [{ ...ok, k: 1 }, /at least 2 classes/],
    [{ ...ok, probs: new Float32Array(3) }, /expected 2 × 2 = 4/],
    [{ ...ok, labels: [0, 2] }, /label 2/],
    [{ ...ok, labels: [0, 0.5] }, /label 0.5/],
    [{ ...ok, probs: Float32Array.from([0.2, Number.NaN, 0.6, 0.4]) }, /row 0: probability NaN/],
  ];
  for (const [input, message] of bad) {
    assert.throws(() => computeMetrics(input), (e: unknown) => e instanceof MetricsInputError && message.test(e.message));
  }
});

test('binomial sampler: frequencies match the binomial probabilities', () => {
  const random = seededRandom(21);
  for (const [trials, p] of [[20, 0.35], [30, 0.9], [5000, 0.02], [100000, 0.7]] as const) {
    const draws = 40000;
    const mean = trials * p;
    const sd = Math.sqrt(trials * p * (1 - p));
    let sum = 0;
    let squares = 0;
    const freq = new Map<number, number>();
    for (let i = 0; i < draws; i++) {
      const x = binomial(trials, p, random);
      assert.ok(Number.isInteger(x) && x >= 0 && x <= trials);
      sum += x;
      squares += (x - mean) ** 2;
      freq.set(x, (freq.get(x) ?? 0) + 1);
    }
    assert.ok(Math.abs(sum / draws - mean) < (4 * sd) / Math.sqrt(draws), `mean of Bin(${trials}, ${p})`);
    assert.ok(Math.abs(Math.sqrt(squares / draws) / sd - 1) < 0.03, `sd of Bin(${trials}, ${p})`);
    if (trials === 20) {
      let pmf = (1 - p) ** trials;
      for (let x = 0; x <= trials; x++) {
        const observed = (freq.get(x) ?? 0) / draws;
        assert.ok(Math.abs(observed - pmf) < 4 * Math.sqrt(pmf / draws) + 1e-4, `P(X = ${x})`);
        pmf *= ((trials - x) / (x + 1)) * (p / (1 - p));
      }
    }
  }
  assert.equal(binomial(0, 0.5, random), 0);
  assert.equal(binomial(10, 0, random), 0);
  assert.equal(binomial(10, 1, random), 10);
});

test('-0 and +0 scores are one tie group', () => {
  const labels = [0, 1, 1, 0, 1, 0, 0, 1];
  const plus = Float32Array.from([1, 0, 0.5, 0.5, 1, 0, 0, 1, 0.75, 0.25, 1, 0, 0.25, 0.75, 0.5, 0.5]);
  const mixed = plus.map((v, i) => (v === 0 && i % 4 === 1 ? -0 : v));
  assert.ok(mixed.some((v) => Object.is(v, -0)));
  const a = computeMetrics({ labels, probs: plus, k: 2 }, { bootstrap: false });
  const b = computeMetrics({ labels, probs: mixed, k: 2 }, { bootstrap: false });
  assert.deepEqual(b.auc, a.auc);
  assert.deepEqual(b.roc.map((c) => [c!.fpr, c!.tpr]), a.roc.map((c) => [c!.fpr, c!.tpr]));
});
