// The grid's page cache: fetches only what is wanted, aborts pages scrolled away, ignores late replies,
// keeps stale pages on screen during a refresh, evicts far pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageCache, type PageResult } from '../../renderer/lib/page-cache.ts';

interface Pending {
  offset: number;
  limit: number;
  signal: AbortSignal;
  resolve: (r: PageResult<number>) => void;
  reject: (e: unknown) => void;
}

/** A fetcher whose replies the test releases by hand, over a list of `total` numbers. */
function harness(total: number, keepPages = 20) {
  const pending: Pending[] = [];
  let changes = 0;
  const errors: unknown[] = [];
  const cache = new PageCache<number>({
    pageSize: 10,
    keepPages,
    fetcher: (offset, limit, signal) =>
      new Promise((resolve, reject) => pending.push({ offset, limit, signal, resolve, reject })),
    onChange: () => changes++,
    onError: (e) => errors.push(e),
  });
  const reply = async (p: Pending, data = (i: number) => i, n = total) => {
    const items: number[] = [];
    for (let i = p.offset; i < Math.min(n, p.offset + p.limit); i++) items.push(data(i));
    p.resolve({ total: n, items });
    await new Promise((r) => setImmediate(r));
  };
  return { cache, pending, reply, errors, changes: () => changes };
}

test('fetches each wanted page once and serves items by index', async () => {
  const h = harness(95);
  assert.equal(h.cache.total, null);
  h.cache.ensure([0, 1]);
  h.cache.ensure([0, 1]); // no duplicate requests while in flight
  assert.deepEqual(h.pending.map((p) => p.offset), [0, 10]);
  assert.equal(h.cache.get(3), undefined);
  await h.reply(h.pending[0]!);
  await h.reply(h.pending[1]!);
  assert.equal(h.changes(), 2);
  assert.equal(h.cache.total, 95);
  assert.equal(h.cache.get(3), 3);
  assert.equal(h.cache.get(19), 19);
  assert.equal(h.cache.get(20), undefined);
  h.cache.ensure([1]);
  assert.equal(h.pending.length, 2, 'loaded pages are not fetched again');
});

test('pages no longer wanted are aborted and their late replies ignored', async () => {
  const h = harness(1000);
  h.cache.ensure([5, 6]);
  h.cache.ensure([40]); // scrolled far away before the replies came
  assert.equal(h.pending[0]!.signal.aborted, true);
  assert.equal(h.pending[1]!.signal.aborted, true);
  assert.equal(h.pending[2]!.signal.aborted, false);
  await h.reply(h.pending[0]!);
  assert.equal(h.cache.get(50), undefined, 'a reply for an aborted page is dropped');
  assert.equal(h.changes(), 0);
  await h.reply(h.pending[2]!);
  assert.equal(h.cache.get(400), 400);
});

test('refresh keeps the old items visible until the new page lands, and drops old replies', async () => {
  const h = harness(30);
  h.cache.ensure([0]);
  await h.reply(h.pending[0]!);
  h.cache.ensure([1]);
  h.cache.refresh(); // e.g. an import batch landed while page 1 was in flight
  assert.equal(h.pending[1]!.signal.aborted, true);
  assert.equal(h.cache.get(4), 4, 'stale page still served');
  assert.equal(h.cache.isFresh(0), false);
  h.cache.ensure([0]);
  const again = h.pending[2]!;
  assert.equal(again.offset, 0);
  await h.reply(again, (i) => i + 1000, 60);
  assert.equal(h.cache.get(4), 1004);
  assert.equal(h.cache.total, 60);
  assert.equal(h.cache.isFresh(0), true);
});

test('reset forgets everything (new filter or sort)', async () => {
  const h = harness(30);
  h.cache.ensure([0]);
  await h.reply(h.pending[0]!);
  h.cache.reset();
  assert.equal(h.cache.get(0), undefined);
  assert.equal(h.cache.total, null);
});

test('a shrinking total drops pages past the new end', async () => {
  const h = harness(100);
  h.cache.ensure([0, 5]);
  await h.reply(h.pending[0]!);
  await h.reply(h.pending[1]!);
  assert.equal(h.cache.get(55), 55);
  h.cache.refresh();
  h.cache.ensure([0]);
  await h.reply(h.pending[2]!, (i) => i, 20);
  assert.equal(h.cache.get(55), undefined);
  assert.equal(h.cache.total, 20);
});

test('far pages are evicted, recently wanted ones kept', async () => {
  const h = harness(10_000, 2);
  for (const page of [0, 1, 2, 3, 4]) {
    h.cache.ensure([page]);
    await h.reply(h.pending[h.pending.length - 1]!);
  }
  // wanted: 4; kept besides: the two most recently wanted (3, 2)
  assert.equal(h.cache.get(45), 45);
  assert.equal(h.cache.get(35), 35);
  assert.equal(h.cache.get(25), 25);
  assert.equal(h.cache.get(15), undefined);
  assert.equal(h.cache.get(5), undefined);
});

test('errors reach onError, and the page can be asked for again', async () => {
  const h = harness(10);
  h.cache.ensure([0]);
  h.pending[0]!.reject(new Error('boom'));
  await new Promise((r) => setImmediate(r));
  assert.equal(h.errors.length, 1);
  assert.equal(h.cache.inFlightCount, 0);
  h.cache.ensure([0]);
  assert.equal(h.pending.length, 2);
});

test('optimistic edits: patch rewrites loaded items in place, findIndex and loaded() see them (issue 3)', async () => {
  const h = harness(30);
  h.cache.ensure([0, 2]);
  for (const p of [...h.pending]) await h.reply(p);
  assert.equal(h.cache.findIndex((v) => v === 25), 25);
  assert.equal(h.cache.findIndex((v) => v === 15), -1, 'page 1 is not loaded');
  const changesBefore = h.changes();
  assert.equal(h.cache.patch((v) => (v % 2 === 0 ? v + 1000 : undefined)), true);
  assert.equal(h.cache.get(4), 1004);
  assert.equal(h.cache.get(5), 5);
  assert.equal(h.cache.get(24), 1024);
  assert.equal(h.changes(), changesBefore, 'patching does not announce a page load');
  assert.equal(h.cache.patch(() => undefined), false);
  assert.equal([...h.cache.loaded()].length, 20);
});
