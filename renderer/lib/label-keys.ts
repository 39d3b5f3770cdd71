/**
 * The labeling keyboard at the window level: which key presses are the labeling surface's (not a text field's,
 * not a dialog's, not another workspace's) and what each action does. The key → action table is keymap.ts.
 */
import { app } from './app-state.svelte.ts';
import { keyAction, type KeyAction } from './keymap.ts';
import type { LabelingState } from './labeling.svelte.ts';

/** Inputs that take no text: a class key typed while one has the focus still labels. */
const PRESSABLE_INPUTS = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'color', 'file']);

function isPressable(t: HTMLElement): boolean {
  return t.tagName === 'BUTTON' || (t instanceof HTMLInputElement && PRESSABLE_INPUTS.has(t.type));
}

/** Keys belong to the field: text inputs, text areas, selects, editable content, sliders. */
export function isTyping(t: HTMLElement): boolean {
  if (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return true;
  return t instanceof HTMLInputElement && !PRESSABLE_INPUTS.has(t.type);
}

/** The window's keydown: labeling keys, unless typing, a dialog is open, or no labeling surface is shown. */
export function handleLabelKey(l: LabelingState, e: KeyboardEvent): void {
  if (e.defaultPrevented || e.isComposing) return;
  const t = e.target as HTMLElement | null;
  if (t && isTyping(t)) return;
  if (app.overlay !== 'none' || l.confirm || l.modal || l.surfaces === 0) return;
  if (l.help) {
    if (e.key === 'Escape' || e.key === '?') {
      e.preventDefault();
      l.help = false;
    }
    return;
  }
  const action = keyAction(e, app.classes);
  if (!action) return;
  // Enter and Space on a focused button or checkbox press it.
  if (t && isPressable(t) && (e.key === 'Enter' || e.key === ' ')) return;
  e.preventDefault();
  runKeyAction(l, action);
}

/** What a key does. */
export function runKeyAction(l: LabelingState, action: KeyAction): void {
  switch (action.kind) {
    case 'label':
      return l.applyClass(action.classId);
    case 'clear':
      return l.applyClass(null);
    case 'move':
      return l.move(action.how, action.extend);
    case 'undo':
      return l.undo();
    case 'redo':
      return l.redo();
    case 'selectAll':
      return void l.selectAll();
    case 'escape':
      if (l.model.size) l.clearSelection();
      else if (l.mode === 'focus') l.mode = 'grid';
      else app.grid.clearFocus();
      return;
    case 'toggleMode':
      return l.toggleMode();
    case 'viewer':
      if (app.grid.selected) app.overlay = 'viewer';
      return;
    case 'help':
      l.help = true;
      return;
    case 'flag':
      return l.toggleFlag(action.flag);
    case 'note':
      l.noteRequest++;
      return;
    case 'split':
      return l.moveToSplit(action.split);
    case 'search':
      document.querySelector<HTMLInputElement>('[data-testid="search"]')?.focus();
      return;
  }
}
