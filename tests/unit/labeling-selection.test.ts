// Unit: the labeling UI's plain logic (issue 3): the id-based selection model, rubber-band hit testing on the
// grid layout model, index → id resolution across unloaded pages, the key map and its cheat sheet, count deltas
// of an optimistic edit, and the split form's checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SelectionModel, bandIndices, idsAt, indexRange } from '../../renderer/lib/selection.ts';
import { GridLayout } from '../../renderer/lib/grid-layout.ts';
import { cheatSheet, keyAction, type KeyInput } from '../../renderer/lib/keymap.ts';
import { countDeltas, nextFlagValue } from '../../renderer/lib/label-deltas.ts';
import { groupRuleOf, splitProblem, foldsProblem, type SplitForm } from '../../renderer/lib/split-form.ts';
import type { ImageSummary } from '../../shared/contract.ts';

test('an empty selection means the focused image; a plain click collapses a multi-selection', () => {
  const s = new SelectionModel();
  assert.deepEqual(s.targets(7), [7]);
  assert.deepEqual(s.targets(null), []);
  s.setAll([1, 2, 3]);
  assert.deepEqual(s.targets(7).sort(), [1, 2, 3]);
  s.collapse(4);
  assert.equal(s.size, 0);
  assert.equal(s.anchor, 4);
  assert.deepEqual(s.targets(9), [9]);
});

test('ctrl-click keeps the image focused before, toggles, and moves the anchor', () => {
  const s = new SelectionModel();
  s.toggle(20, 2, 10); // focused 10, ctrl-click 20
  assert.deepEqual(s.ids().sort(), [10, 20]);
  assert.equal(s.anchor, 2);
  s.toggle(20, 2, 20);
  assert.deepEqual(s.ids(), [10]);
  s.toggle(30, 3, 20);
  assert.deepEqual(s.ids().sort(), [10, 30], 'the focused image is only added on the first toggle');
  const v = s.version;
  s.clear();
  assert.equal(s.size, 0);
  assert.ok(s.version > v, 'changes bump the version');
  s.clear();
  assert.equal(s.version, v + 1, 'clearing nothing is no change');
});

test('ranges replace the selection, or add to it (ctrl+shift)', () => {
  const s = new SelectionModel();
  s.setRange([1, 2, 3], false);
  s.setRange([5, 6], false);
  assert.deepEqual(s.ids(), [5, 6]);
  s.setRange([1, 5], true);
  assert.deepEqual(s.ids().sort(), [1, 5, 6]);
  assert.deepEqual(indexRange(5, 2), [2, 3, 4, 5]);
  assert.deepEqual(indexRange(3, 3), [3]);
});

function layout(n: number): GridLayout {
  const l = new GridLayout({ minCellWidth: 100, captionHeight: 20, gap: 10, padding: 10, pageSize: 50 });
  l.setViewport(450, 400); // 4 columns of 100 px (stretched to 100), rows of 130 px
  l.setCount(n);
  return l;
}

test('a rubber band selects every cell its rectangle touches, rows never rendered included', () => {
  const l = layout(30);
  assert.equal(l.columns, 4);
  const w = l.cellWidth;
  // From the top-left padding to the middle of cell 5 (row 1, col 1): cells 0, 1, 4, 5.
  const c5 = l.cellRect(5);
  assert.deepEqual(bandIndices(l, { x0: 2, y0: 2, x1: c5.x + w / 2, y1: c5.y + 10 }), [0, 1, 4, 5]);
  // Dragged upwards and leftwards: same cells.
  assert.deepEqual(bandIndices(l, { x1: 2, y1: 2, x0: c5.x + w / 2, y0: c5.y + 10 }), [0, 1, 4, 5]);
  // Inside the gap between columns 0 and 1 only: touches no cell horizontally.
  const gapX = l.cellRect(0).x + w + 3;
  assert.deepEqual(bandIndices(l, { x0: gapX, y0: 0, x1: gapX + 2, y1: 500 }), []);
  // Down past the last, short row: only existing items.
  const last = bandIndices(l, { x0: 0, y0: l.cellRect(24).y, x1: 1000, y1: 100_000 });
  assert.deepEqual(last, [24, 25, 26, 27, 28, 29]);
  assert.deepEqual(bandIndices(layout(0), { x0: 0, y0: 0, x1: 100, y1: 100 }), []);
});

test('ids for indices come from loaded pages, or from one images:ids call when a page is missing', async () => {
  const loaded = new Map([
    [0, 100],
    [1, 101],
    [2, 102],
  ]);
  let calls = 0;
  const all = async () => {
    calls++;
    return [100, 101, 102, 103, 104];
  };
  assert.deepEqual(await idsAt([0, 1, 2], (i) => loaded.get(i), all), [100, 101, 102]);
  assert.equal(calls, 0, 'nothing fetched when the pages are there');
  assert.deepEqual(await idsAt([1, 2, 3, 4, 9], (i) => loaded.get(i), all), [101, 102, 103, 104]);
  assert.equal(calls, 1);
});

const key = (k: string, over: Partial<KeyInput> = {}): KeyInput => ({
  key: k,
  code: k.length === 1 && /[a-z]/i.test(k) ? `Key${k.toUpperCase()}` : k,
  shiftKey: false,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  ...over,
});

test('keys: class hotkeys label, commands never collide with a class letter', () => {
  const classes = [
    { id: 1, name: 'normal', hotkey: '1' },
    { id: 2, name: 'pneumonia', hotkey: '2' },
    { id: 3, name: 'tenth', hotkey: 'a' },
    { id: 4, name: 'fifteenth', hotkey: 'f' },
  ];
  assert.deepEqual(keyAction(key('2'), classes), { kind: 'label', classId: 2 });
  assert.deepEqual(keyAction(key('A', { shiftKey: false }), classes), { kind: 'label', classId: 3 });
  assert.deepEqual(keyAction(key('0'), classes), { kind: 'clear' });
  assert.deepEqual(keyAction(key('Backspace'), classes), { kind: 'clear' });
  // F toggles the mode, unless a class owns it.
  assert.deepEqual(keyAction(key('f'), classes), { kind: 'label', classId: 4 });
  assert.deepEqual(keyAction(key('f'), classes.slice(0, 3)), { kind: 'toggleMode' });
  assert.deepEqual(keyAction(key('Enter'), classes), { kind: 'toggleMode' });
  // Shift+letters are flags, Shift+digits (by code, whatever they type) move to a split.
  assert.deepEqual(keyAction(key('U', { shiftKey: true, code: 'KeyU' }), classes), { kind: 'flag', flag: 'unsure' });
  assert.deepEqual(keyAction(key('X', { shiftKey: true, code: 'KeyX' }), classes), { kind: 'flag', flag: 'excluded' });
  assert.deepEqual(keyAction(key('!', { shiftKey: true, code: 'Digit1' }), classes), { kind: 'split', split: 'train' });
  assert.deepEqual(keyAction(key('#', { shiftKey: true, code: 'Digit3' }), classes), { kind: 'split', split: 'test' });
  assert.deepEqual(keyAction(key(')', { shiftKey: true, code: 'Digit0' }), classes), { kind: 'split', split: null });
  assert.deepEqual(keyAction(key('?', { shiftKey: true, code: 'Slash' }), classes), { kind: 'help' });
  // Undo/redo/select all on Ctrl and on Cmd.
  assert.deepEqual(keyAction(key('z', { ctrlKey: true }), classes), { kind: 'undo' });
  assert.deepEqual(keyAction(key('Z', { metaKey: true, shiftKey: true }), classes), { kind: 'redo' });
  assert.deepEqual(keyAction(key('y', { ctrlKey: true }), classes), { kind: 'redo' });
  assert.deepEqual(keyAction(key('a', { ctrlKey: true }), classes), { kind: 'selectAll' });
  assert.equal(keyAction(key('c', { ctrlKey: true }), classes), null, 'copy stays the browser’s');
  assert.deepEqual(keyAction(key('ArrowDown', { shiftKey: true }), classes), { kind: 'move', how: 'down', extend: true });
  assert.equal(keyAction(key('q'), classes), null);
  assert.equal(keyAction(key('1', { altKey: true }), classes), null);
});

test('the cheat sheet lists every class key and the flag keys', () => {
  const classes = [
    { id: 1, name: 'normal', hotkey: '1' },
    { id: 2, name: 'effusion', hotkey: 'f' },
  ];
  const rows = cheatSheet(classes).flatMap((g) => g.rows);
  assert.ok(rows.some((r) => r.keys === '1' && r.what === 'normal'));
  assert.ok(rows.some((r) => r.keys === 'F' && r.what === 'effusion'));
  const mode = rows.find((r) => r.what.startsWith('Grid'))!;
  assert.equal(mode.keys, 'Enter', 'F is not offered when a class owns it');
  for (const k of ['Shift+U', 'Shift+X', 'Ctrl+Z', 'Ctrl+A']) assert.ok(rows.some((r) => r.keys.includes(k)), k);
});

/** A key as the cheat sheet writes it ("Ctrl+Shift+Z", "PgDn", "←", "Shift+2"), as the browser would send it. */
function pressOf(written: string): KeyInput {
  const parts = written.split('+');
  const name = parts.pop()!;
  const named: Record<string, string> = { '←': 'ArrowLeft', '→': 'ArrowRight', '↑': 'ArrowUp', '↓': 'ArrowDown', PgUp: 'PageUp', PgDn: 'PageDown', Esc: 'Escape', Space: ' ' };
  const key = named[name] ?? (name.length === 1 ? name.toLowerCase() : name);
  const code = /^[0-9]$/.test(name) ? `Digit${name}` : /^[A-Za-z]$/.test(name) ? `Key${name.toUpperCase()}` : name === '/' ? 'Slash' : key;
  return { key, code, shiftKey: parts.includes('Shift') || name === '?', ctrlKey: parts.includes('Ctrl'), metaKey: false, altKey: false };
}

test('every key the cheat sheet names does what its row says', () => {
  const classes = [
    { id: 1, name: 'normal', hotkey: '1' },
    { id: 2, name: 'effusion', hotkey: 'f' },
  ];
  const expected: Record<string, string> = {
    normal: 'label', effusion: 'label', 'Clear the label': 'clear', Undo: 'undo', Redo: 'redo', Move: 'move', Jump: 'move',
    'Select a range': 'move', 'Select all in this view': 'selectAll', 'Clear the selection': 'escape', 'Toggle unsure': 'flag',
    'Toggle excluded from training': 'flag', 'Edit the note': 'note', 'Move to train / validation / test': 'split',
    'Unassign the split': 'split', 'Grid ⇄ focused single image': 'toggleMode', 'Open the viewer (zoom, window/level)': 'viewer',
    'Search by path': 'search', 'This sheet': 'help',
  };
  let pressed = 0;
  for (const row of cheatSheet(classes).flatMap((g) => g.rows)) {
    // "Shift+1 / 2 / 3" is three keys; "A · B" two ways; "← → ↑ ↓" four; mouse gestures are not keys.
    const ways = row.keys.split(' · ').flatMap((w) => (w.includes(' / ') ? w.split(' / ').map((k, i) => (i ? `Shift+${k}` : k)) : w.split(' ')));
    for (const way of ways.filter((w) => !/click|Drag|arrows/.test(w))) {
      const action = keyAction(pressOf(way), classes);
      assert.equal(action?.kind, expected[row.what], `${way} (${row.what})`);
      pressed++;
    }
  }
  assert.ok(pressed >= 25, `${pressed} keys pressed`);
});

const img = (id: number, o: Partial<ImageSummary> = {}): ImageSummary => ({
  id,
  name: `${id}.png`,
  classId: null,
  split: null,
  status: 'ok',
  sha256: 'x',
  width: 1,
  height: 1,
  excluded: false,
  unsure: false,
  ...o,
});

test('count deltas of an edit: only images whose value changes count', () => {
  const items = [img(1, { classId: 5 }), img(2, { classId: 5 }), img(3), img(4, { classId: 6 })];
  const d = countDeltas(items, { classId: 6 });
  assert.equal(d.changed, 3);
  assert.equal(d.classes.get(5), -2);
  assert.equal(d.classes.get(null), -1);
  assert.equal(d.classes.get(6), 3);
  const s = countDeltas([img(1, { split: 'train' }), img(2)], { split: 'val' });
  assert.deepEqual(s.splits, { train: -1, val: 2, test: 0, unassigned: -1 });
  const f = countDeltas([img(1, { unsure: true }), img(2)], { unsure: true });
  assert.deepEqual([f.unsure, f.changed], [1, 1]);
  assert.equal(nextFlagValue([img(1, { excluded: true }), img(2)], 'excluded'), true, 'some without: set on all');
  assert.equal(nextFlagValue([img(1, { excluded: true })], 'excluded'), false, 'all with: clear');
});

const form = (o: Partial<SplitForm> = {}): SplitForm => ({
  train: 70,
  val: 15,
  test: 15,
  seed: 42,
  group: 'none',
  level: 1,
  pattern: '',
  k: 5,
  lockTest: false,
  ...o,
});

test('the split form refuses bad input with a reason', () => {
  assert.equal(splitProblem(form(), false), null);
  assert.match(splitProblem(form({ val: 25 }), false)!, /add up to 110%/);
  assert.match(splitProblem(form({ train: 0, val: 50, test: 50 }), false)!, /training split cannot be empty/);
  assert.match(splitProblem(form({ train: 80, val: 10, test: 10 }), true)!, /locked/);
  assert.equal(splitProblem(form({ train: 80, val: 20, test: 0 }), true), null);
  assert.match(splitProblem(form({ seed: -1 }), false)!, /seed/);
  assert.match(splitProblem(form({ train: NaN }), false)!, /percentage/);
  assert.match(splitProblem(form({ group: 'regex', pattern: '(' }), false)!, /does not compile/);
  assert.match(splitProblem(form({ group: 'regex', pattern: ' ' }), false)!, /Give a pattern/);
  assert.match(splitProblem(form({ group: 'folder', level: 0 }), false)!, /folder level/);
  assert.deepEqual(groupRuleOf(form({ group: 'regex', pattern: '^(P\\d+)_' })).rule, { kind: 'regex', pattern: '^(P\\d+)_' });
  assert.deepEqual(groupRuleOf(form({ group: 'folder', level: 2 })).rule, { kind: 'folder', level: 2 });
  assert.equal(groupRuleOf(form()).rule, undefined);
  assert.equal(foldsProblem(form({ k: 5 })), null);
  assert.match(foldsProblem(form({ k: 11 }))!, /2 to 10/);
});
