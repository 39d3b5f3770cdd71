/**
 * The window's size, position and maximized state, remembered across launches in the settings folder. A saved
 * position that is no longer on any display (a monitor was unplugged) is dropped, so the window never opens
 * off screen.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const DEFAULT_STATE: WindowState = { width: 1400, height: 900, maximized: false };
const MIN = { width: 900, height: 600 };

export function stateFile(configDir: string): string {
  return join(configDir, 'window-state.json');
}

/** Reads the saved state; anything unreadable or implausible falls back to the defaults. */
export function loadWindowState(configDir: string, displays: Rect[]): WindowState {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(stateFile(configDir), 'utf8'));
  } catch {
    return { ...DEFAULT_STATE };
  }
  const s = raw as Partial<WindowState>;
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!num(s.width) || !num(s.height)) return { ...DEFAULT_STATE };
  const state: WindowState = {
    width: Math.max(MIN.width, Math.round(s.width)),
    height: Math.max(MIN.height, Math.round(s.height)),
    maximized: s.maximized === true,
  };
  if (num(s.x) && num(s.y) && visibleOnSome({ x: s.x, y: s.y, width: state.width, height: state.height }, displays)) {
    state.x = Math.round(s.x);
    state.y = Math.round(s.y);
  }
  return state;
}

/** At least a 100×50 px corner of the title bar area must lie on one display's work area. */
export function visibleOnSome(win: Rect, displays: Rect[]): boolean {
  return displays.some((d) => {
    const w = Math.min(win.x + win.width, d.x + d.width) - Math.max(win.x, d.x);
    const h = Math.min(win.y + 50, d.y + d.height) - Math.max(win.y, d.y);
    return w >= 100 && h >= 50;
  });
}

export function saveWindowState(configDir: string, state: WindowState): void {
  const file = stateFile(configDir);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state));
  renameSync(tmp, file);
}

/** The minimal window surface tracking needs; Electron's BrowserWindow satisfies it. */
export interface TrackedWindow {
  getNormalBounds(): Rect;
  isMaximized(): boolean;
  on(event: 'resize' | 'move' | 'close', listener: () => void): unknown;
}

/** Saves the state when the window closes and, debounced, while it is moved or resized (a crash keeps it). */
export function trackWindowState(win: TrackedWindow, configDir: string, delayMs = 500): void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const save = () => {
    const b = win.getNormalBounds();
    saveWindowState(configDir, { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() });
  };
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, delayMs);
  };
  win.on('resize', later);
  win.on('move', later);
  win.on('close', () => {
    if (timer) clearTimeout(timer);
    save();
  });
}
