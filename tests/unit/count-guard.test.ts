// The rule that keeps a late count read from undoing an edit on screen (renderer/lib/count-guard.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountGuard } from '../../renderer/lib/count-guard.ts';

test('a read may start only once every shown edit is answered', () => {
  const g = new CountGuard();
  assert.notEqual(g.begin(), null);
  g.editShown();
  assert.equal(g.begin(), null, 'a write is unanswered: the server may not have it yet');
  g.editAnswered();
  const t = g.begin();
  assert.notEqual(t, null);
  assert.equal(g.fresh(t!), true);
});

test('a reply is stale when an edit was shown while the read travelled, even if that write is answered', () => {
  const g = new CountGuard();
  const t = g.begin()!;
  g.editShown();
  assert.equal(g.fresh(t), false);
  g.editAnswered();
  assert.equal(g.fresh(t), false, 'the read may have been answered before the write');
  const again = g.begin()!;
  assert.equal(g.fresh(again), true);
});

test('answers never go below zero (a refused write is answered once)', () => {
  const g = new CountGuard();
  g.editAnswered();
  g.editShown();
  assert.equal(g.busy, true);
  g.editAnswered();
  assert.equal(g.busy, false);
});
