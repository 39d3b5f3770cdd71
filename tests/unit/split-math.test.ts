import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assignBuckets,
  assignFolds,
  compileGroupRule,
  emptyCells,
  largestRemainder,
  ratiosProblem,
  type SplitItem,
} from '../../shared/split-math.ts';
import { seededRandom } from '../../shared/random.ts';

function makeItems(perClass: number[], groupSize = 0, seed = 1): SplitItem[] {
  const random = seededRandom(seed);
  const items: SplitItem[] = [];
  let id = 1;
  perClass.forEach((n, cls) => {
    for (let i = 0; i < n; i++) {
      const group = groupSize > 0 ? `c${cls}-p${Math.floor(i / groupSize)}` : null;
      items.push({ id: id++, cls, group });
    }
  });
  // Ids in a scrambled order, as rows might come from a database.
  return items.sort(() => random() - 0.5);
}

/** The positional result (bucket of items[i]) as bucket by image id. */
function byId(items: readonly SplitItem[], buckets: Uint8Array): Map<number, number> {
  assert.equal(buckets.length, items.length);
  return new Map(items.map((it, i) => [it.id, buckets[i]!]));
}

test('largestRemainder splits n into integers within 1 of the ideal that sum to n', () => {
  for (const n of [0, 1, 7, 10, 99, 1001]) {
    for (const w of [[0.7, 0.15, 0.15], [0.8, 0.2, 0], [1, 1, 1], [0.5, 0.25, 0.25]]) {
      const out = largestRemainder(n, w);
      assert.equal(out.reduce((a, b) => a + b, 0), n);
      const sum = w.reduce((a, b) => a + b, 0);
      out.forEach((k, i) => assert.ok(Math.abs(k - (n * w[i]!) / sum) < 1, `${n} ${w} -> ${out}`));
      out.forEach((k, i) => w[i] === 0 && assert.equal(k, 0));
    }
  }
});

test('ratios must be three shares in [0,1] summing to 1 with train above 0', () => {
  assert.equal(ratiosProblem([0.7, 0.15, 0.15]), null);
  assert.equal(ratiosProblem([0.8, 0.2, 0]), null);
  assert.match(ratiosProblem([0.7, 0.2, 0.2])!, /sum to 1/);
  assert.match(ratiosProblem([0.7, 0.3])!, /three/);
  assert.match(ratiosProblem([-0.1, 0.6, 0.5])!, /between 0 and 1/);
  assert.match(ratiosProblem([0, 0.5, 0.5])!, /train/);
  assert.match(ratiosProblem([NaN, 0.5, 0.5])!, /between/);
});

test('stratified split: every class within 1 image of its ideal share in every split', () => {
  const perClass = [500, 37, 1203, 8, 64];
  const items = makeItems(perClass);
  const w = [0.7, 0.15, 0.15];
  const a = byId(items, assignBuckets(items, w, 42));
  assert.equal(a.size, items.length);
  perClass.forEach((n, cls) => {
    const counts = [0, 0, 0];
    for (const it of items) if (it.cls === cls) counts[a.get(it.id)!]!++;
    counts.forEach((k, b) => assert.ok(Math.abs(k - n * w[b]!) <= 1, `class ${cls}: ${counts}`));
  });
});

test('same seed and same data give the same split; another seed a different one; input order does not matter', () => {
  const items = makeItems([300, 200, 100]);
  const a = byId(items, assignBuckets(items, [0.7, 0.15, 0.15], 7));
  const reversed = [...items].reverse();
  const b = byId(reversed, assignBuckets(reversed, [0.7, 0.15, 0.15], 7));
  const c = byId(items, assignBuckets(items, [0.7, 0.15, 0.15], 8));
  assert.deepEqual([...a.entries()].sort((x, y) => x[0] - y[0]), [...b.entries()].sort((x, y) => x[0] - y[0]));
  let differ = 0;
  for (const [id, s] of a) if (c.get(id) !== s) differ++;
  assert.ok(differ > 50, `only ${differ} images moved with another seed`);
});

test('group-aware: every group lands in one split, and classes stay roughly stratified', () => {
  const items = makeItems([600, 400, 200], 4);
  const a = byId(items, assignBuckets(items, [0.7, 0.15, 0.15], 3));
  const where = new Map<string, Set<number>>();
  for (const it of items) {
    const s = where.get(it.group!) ?? new Set();
    s.add(a.get(it.id)!);
    where.set(it.group!, s);
  }
  for (const [g, s] of where) assert.equal(s.size, 1, `group ${g} spans ${[...s]}`);
  [600, 400, 200].forEach((n, cls) => {
    const counts = [0, 0, 0];
    for (const it of items) if (it.cls === cls) counts[a.get(it.id)!]!++;
    // Groups of 4: within one group of the ideal.
    counts.forEach((k, b) => assert.ok(Math.abs(k - n * [0.7, 0.15, 0.15][b]!) <= 4, `class ${cls}: ${counts}`));
  });
});

test('zero-weight buckets receive nothing', () => {
  const items = makeItems([50, 50]);
  const a = byId(items, assignBuckets(items, [0.8, 0.2, 0], 1));
  assert.ok([...a.values()].every((b) => b !== 2));
});

test('emptyCells reports classes left out of a split', () => {
  const items = makeItems([100, 2]);
  const empty = emptyCells(items, assignBuckets(items, [0.7, 0.15, 0.15], 1), [0.7, 0.15, 0.15]);
  assert.ok(empty.length >= 1);
  assert.ok(empty.every((e) => e.cls === 1 && e.classSize === 2));
});

test('k-fold covers every image exactly once, folds balanced per class, groups intact', () => {
  for (const k of [2, 5, 10]) {
    const items = makeItems([103, 57, 20], 0, k);
    const f = byId(items, assignFolds(items, k, 11));
    assert.equal(f.size, items.length);
    assert.ok([...f.values()].every((v) => Number.isInteger(v) && v >= 0 && v < k));
    [103, 57, 20].forEach((n, cls) => {
      const counts = new Array(k).fill(0);
      for (const it of items) if (it.cls === cls) counts[f.get(it.id)!]++;
      counts.forEach((c) => assert.ok(Math.abs(c - n / k) <= 1, `k=${k} class ${cls}: ${counts}`));
    });
  }
  const grouped = makeItems([90, 60], 3);
  const f = byId(grouped, assignFolds(grouped, 5, 2));
  const where = new Map<string, Set<number>>();
  for (const it of grouped) where.set(it.group!, (where.get(it.group!) ?? new Set()).add(f.get(it.id)!));
  for (const s of where.values()) assert.equal(s.size, 1);
  assert.throws(() => assignFolds(grouped, 1, 1), /2 to 10/);
  assert.throws(() => assignFolds(grouped, 11, 1), /2 to 10/);
});

test('k-fold with groups: classes leave their leftover groups in different folds, so fold sizes stay even', () => {
  // Two classes of 9 patients × 3 images into 4 folds: each class has one patient too many for an even share.
  const items: SplitItem[] = [];
  for (const cls of [0, 1]) for (let p = 0; p < 9; p++) for (let n = 0; n < 3; n++) items.push({ id: items.length + 1, cls, group: `c${cls}p${p}` });
  for (const seed of [1, 2, 3, 42]) {
    const f = assignFolds(items, 4, seed);
    const sizes = [0, 0, 0, 0];
    for (const b of f) sizes[b]!++;
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 3, `seed ${seed}: fold sizes ${sizes}`);
  }
});

test('k-fold without groups: classes take turns at rounding up, so fold sizes stay within one image', () => {
  // Three classes of 8 images into 5 folds: 1.6 per class and fold. Rounded alike, every class put its extra images
  // in folds 1-3 (6/6/6/3/3); they must spread (5/5/5/5/4), each class still within one image of its share.
  for (const [perClass, k] of [[[8, 8, 8], 5], [[10, 7, 13, 4], 3], [[11, 11], 4]] as const) {
    for (const seed of [1, 2, 42]) {
      const f = assignFolds(makeItems([...perClass]), k, seed);
      const sizes = new Array<number>(k).fill(0);
      for (const b of f) sizes[b]!++;
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${perClass} in ${k} folds, seed ${seed}: fold sizes ${sizes}`);
    }
  }
});

test('group rules: folder level, filename regex with or without a capture group, bad regex', () => {
  const lvl = compileGroupRule({ kind: 'folder', level: 2 });
  assert.equal(lvl('train/patient07/img1.png'), 'patient07');
  assert.equal(lvl('img1.png'), null);
  const re = compileGroupRule({ kind: 'regex', pattern: '^(P\\d+)_' });
  assert.equal(re('normal/P0042_scan3.png'), 'P0042');
  assert.equal(re('normal/x.png'), null);
  const whole = compileGroupRule({ kind: 'regex', pattern: 'P\\d+' });
  assert.equal(whole('a/xP12y.png'), 'P12');
  assert.throws(() => compileGroupRule({ kind: 'regex', pattern: '(' }), /does not compile/);
});
