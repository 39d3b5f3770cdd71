/**
 * The browser benches still run (tiny mode: a few hundred images, a quarter of the frames), against a real
 * `loupe serve` and Chromium, with the page-query bar measured over the page's WebSocket as the grid asks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTinyBench } from '../helpers/tiny-bench.ts';

test('bench:grid measures loads, page queries over the WebSocket, HTTP and in-process, and scroll frames', () => {
  const r = runTinyBench('grid');
  const query = r['query'] as Record<string, Record<string, { n: number; p95: number | null }>>;
  for (const transport of ['webSocketMs', 'httpMs', 'inProcessMs']) {
    const kinds = Object.values(query[transport]!);
    assert.equal(kinds.length, 6, transport);
    for (const s of kinds) assert.ok(s.n >= 20 && s.p95 !== null && s.p95 > 0, `${transport}: p95 from ${s.n} samples`);
  }
  assert.equal(typeof (r['targets'] as Record<string, boolean>)['filteredPageQueryUnder20ms'], 'boolean');
  // A few warm loads: too few for a percentile, so none is given.
  assert.equal((r['load'] as { warmFirstScreenMs: { p95: number | null } }).warmFirstScreenMs.p95, null);
});

test('bench:label-browser measures keystrokes and bulk labeling in the page', () => {
  const r = runTinyBench('label-browser');
  const k = r['keystroke'] as { paced: { doneMs: { n: number } } };
  assert.ok(k.paced.doneMs.n >= 20);
});
