/**
 * The labeling keyboard: one pure function from a key press to an action, and the cheat sheet beside it (a unit
 * test presses every key the sheet names and checks it does what its row says). Class hotkeys are digits and
 * lowercase letters (the core gives 1–9, then a–z); every other command uses a key no class can have
 * (arrows, Enter, symbols, Shift+letter, Ctrl/Cmd+letter), except F, which yields to a class that owns `f`.
 */
import type { GridMove } from './grid-layout.ts';
import type { SplitName } from '../../shared/domain.ts';

export type KeyAction =
  | { kind: 'label'; classId: number }
  | { kind: 'clear' }
  | { kind: 'move'; how: GridMove; extend: boolean }
  | { kind: 'undo' }
  | { kind: 'redo' }
  | { kind: 'selectAll' }
  | { kind: 'escape' }
  | { kind: 'toggleMode' }
  | { kind: 'viewer' }
  | { kind: 'help' }
  | { kind: 'flag'; flag: 'unsure' | 'excluded' }
  | { kind: 'note' }
  | { kind: 'split'; split: SplitName | null }
  | { kind: 'search' };

export interface KeyInput {
  key: string;
  code: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
}

export interface HotkeyClass {
  id: number;
  name: string;
  hotkey: string;
}

const MOVES: Record<string, GridMove> = {
  ArrowLeft: 'left',
  ArrowRight: 'right',
  ArrowUp: 'up',
  ArrowDown: 'down',
  PageUp: 'pageUp',
  PageDown: 'pageDown',
  Home: 'home',
  End: 'end',
};

/** Shift + a digit moves the selection to a split; by `code`, since Shift+1 types `!` on most layouts. */
const SPLIT_CODES: Record<string, SplitName | null> = { Digit1: 'train', Digit2: 'val', Digit3: 'test', Digit0: null };

export function keyAction(e: KeyInput, classes: readonly HotkeyClass[]): KeyAction | null {
  if (e.altKey) return null;
  const mod = e.ctrlKey || e.metaKey;
  const lower = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (mod) {
    if (lower === 'z') return e.shiftKey ? { kind: 'redo' } : { kind: 'undo' };
    if (lower === 'y' && !e.shiftKey) return { kind: 'redo' };
    if (lower === 'a' && !e.shiftKey) return { kind: 'selectAll' };
    return null;
  }
  const move = MOVES[e.key];
  if (move) return { kind: 'move', how: move, extend: e.shiftKey };
  if (e.key === '?') return { kind: 'help' };
  if (e.key === 'Escape') return { kind: 'escape' };
  if (e.key === 'Enter') return { kind: 'toggleMode' };
  if (e.key === ' ') return { kind: 'viewer' };
  if (e.key === '/') return { kind: 'search' };
  if (e.key === 'Backspace' || e.key === 'Delete') return { kind: 'clear' };
  if (e.shiftKey) {
    const split = SPLIT_CODES[e.code];
    if (split !== undefined) return { kind: 'split', split };
    if (e.code === 'KeyU') return { kind: 'flag', flag: 'unsure' };
    if (e.code === 'KeyX') return { kind: 'flag', flag: 'excluded' };
    if (e.code === 'KeyN') return { kind: 'note' };
    return null;
  }
  if (e.key.length !== 1) return null;
  const cls = classes.find((c) => c.hotkey === lower);
  if (cls) return { kind: 'label', classId: cls.id };
  if (lower === '0') return { kind: 'clear' };
  if (lower === 'f') return { kind: 'toggleMode' };
  return null;
}

export interface CheatRow {
  keys: string;
  what: string;
}

export interface CheatGroup {
  title: string;
  rows: CheatRow[];
}

/** The `?` overlay: every key, the class hotkeys included. */
export function cheatSheet(classes: readonly HotkeyClass[]): CheatGroup[] {
  const ownsF = classes.some((c) => c.hotkey === 'f');
  const ownsZero = classes.some((c) => c.hotkey === '0');
  return [
    {
      title: 'Label',
      rows: [
        ...classes.filter((c) => c.hotkey).map((c) => ({ keys: c.hotkey.toUpperCase(), what: c.name })),
        { keys: ownsZero ? 'Backspace' : '0 · Backspace', what: 'Clear the label' },
        { keys: 'Ctrl+Z', what: 'Undo' },
        { keys: 'Ctrl+Shift+Z · Ctrl+Y', what: 'Redo' },
      ],
    },
    {
      title: 'Move and select',
      rows: [
        { keys: '← → ↑ ↓', what: 'Move' },
        { keys: 'PgUp PgDn Home End', what: 'Jump' },
        { keys: 'Shift+arrows · Shift+click', what: 'Select a range' },
        { keys: 'Ctrl+click', what: 'Add or remove one image' },
        { keys: 'Drag', what: 'Rubber-band select' },
        { keys: 'Ctrl+A', what: 'Select all in this view' },
        { keys: 'Esc', what: 'Clear the selection' },
      ],
    },
    {
      title: 'Flags and splits',
      rows: [
        { keys: 'Shift+U', what: 'Toggle unsure' },
        { keys: 'Shift+X', what: 'Toggle excluded from training' },
        { keys: 'Shift+N', what: 'Edit the note' },
        { keys: 'Shift+1 / 2 / 3', what: 'Move to train / validation / test' },
        { keys: 'Shift+0', what: 'Unassign the split' },
      ],
    },
    {
      title: 'View',
      rows: [
        { keys: ownsF ? 'Enter' : 'Enter · F', what: 'Grid ⇄ focused single image' },
        { keys: 'Space', what: 'Open the viewer (zoom, window/level)' },
        { keys: '/', what: 'Search by path' },
        { keys: '?', what: 'This sheet' },
      ],
    },
  ];
}
