// Learning-rate schedules and early stopping on scripted metric sequences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EarlyStopping, LrSchedule } from '../../shared/schedules.ts';

const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;

test('constant and step schedules', () => {
  const c = new LrSchedule({ kind: 'constant' }, 0.01, 10);
  assert.deepEqual([0, 5, 9].map((e) => c.lrFor(e)), [0.01, 0.01, 0.01]);
  const s = new LrSchedule({ kind: 'step', everyEpochs: 3, gamma: 0.1 }, 1, 10);
  const lrs = [0, 1, 2, 3, 5, 6, 9].map((e) => s.lrFor(e));
  [1, 1, 1, 0.1, 0.1, 0.01, 0.001].forEach((v, i) => assert.ok(close(lrs[i]!, v), `${lrs}`));
});

test('cosine with warm-up rises linearly, then falls from the base rate to the floor', () => {
  const s = new LrSchedule({ kind: 'cosine', warmupEpochs: 2, minLrFactor: 0.1 }, 1, 12);
  assert.ok(close(s.lrFor(0), 1 / 3) && close(s.lrFor(1), 2 / 3));
  assert.ok(close(s.lrFor(2), 1), 'the first epoch after warm-up runs at the base rate');
  const after = [2, 4, 6, 8, 10, 11].map((e) => s.lrFor(e));
  for (let i = 1; i < after.length; i++) assert.ok(after[i]! < after[i - 1]!, `${after}`);
  assert.ok(close(s.lrFor(12), 0.1), 'ends at the floor');
  assert.ok(close(s.lrFor(7), 0.1 + 0.45 * (1 + Math.cos(Math.PI * 0.5))));
});

test('reduce-on-plateau lowers the rate after `patience` epochs without improvement, never below the floor', () => {
  const s = new LrSchedule({ kind: 'plateau', factor: 0.5, patience: 2, minLrFactor: 0.2 }, 1, 50);
  const seen: number[] = [];
  for (const loss of [1.0, 0.8, 0.81, 0.82, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76, 0.77]) {
    seen.push(s.lrFor(0));
    s.observe(loss);
  }
  assert.deepEqual(seen, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]);
  // The state survives a checkpoint: a schedule rebuilt from it continues where it was.
  const resumed = new LrSchedule({ kind: 'plateau', factor: 0.5, patience: 2, minLrFactor: 0.2 }, 1, 50, s.state);
  assert.equal(resumed.lrFor(0), 0.2);
  s.observe(NaN);
  assert.equal(s.lrFor(0), 0.2, 'NaN is ignored');
});

test('early stopping on val_loss and val_accuracy: best epoch, patience, resumed state', () => {
  const es = new EarlyStopping({ monitor: 'val_loss', patience: 2 });
  const out = [0.9, 0.7, 0.72, 0.69, 0.7, 0.71].map((v, epoch) => es.observe(epoch, { valLoss: v, valAccuracy: null }));
  assert.deepEqual(out.map((o) => o.improved), [true, true, false, true, false, false]);
  assert.deepEqual(out.map((o) => o.stop), [false, false, false, false, false, true]);
  assert.equal(es.state.bestEpoch, 3);
  const acc = new EarlyStopping({ monitor: 'val_accuracy', patience: 1 }, { best: 0.8, bestEpoch: 4, badEpochs: 0 });
  assert.deepEqual(acc.observe(5, { valLoss: 0.1, valAccuracy: 0.79 }), { improved: false, stop: true });
  // Without validation data every epoch counts as best and nothing stops early.
  const none = new EarlyStopping({ monitor: 'val_loss', patience: 1 });
  for (let e = 0; e < 5; e++) assert.deepEqual(none.observe(e, { valLoss: null, valAccuracy: null }), { improved: true, stop: false });
  const off = new EarlyStopping(null);
  for (let e = 0; e < 5; e++) assert.equal(off.observe(e, { valLoss: 1 + e, valAccuracy: 0 }).stop, false);
});
