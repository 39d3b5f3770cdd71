/**
 * Class management from the sidebar: add, rename, recolor, hotkey, reorder (drag), merge and delete (which ask
 * what happens to the labeled images). Each call is one transaction in core; the lists and counts follow at
 * once (and again from project:changed, for the other windows).
 */
import type { ClassInfo } from '../../shared/contract.ts';
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';
import { labeling } from './labeling.svelte.ts';

export type ClassDialog = { kind: 'merge'; source: ClassInfo } | { kind: 'delete'; source: ClassInfo };

class ClassAdmin {
  /** The row being edited in place, and what. */
  editing = $state<{ id: number; field: 'name' | 'hotkey' } | null>(null);
  adding = $state(false);
  dialog = $state<ClassDialog | null>(null);
  /** The last refusal (duplicate name, bad hotkey…), shown where the user typed. */
  error = $state<string | null>(null);

  private async call<T>(action: () => Promise<T>): Promise<T | null> {
    try {
      const r = await action();
      this.error = null;
      labeling.reconcileNow();
      return r;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      return null;
    }
  }

  async create(name: string): Promise<boolean> {
    const r = await this.call(() => api['classes:create']({ name }));
    if (r) labeling.toast(`Added class ${r.name} (key ${r.hotkey.toUpperCase()})`);
    return r !== null;
  }

  async rename(id: number, name: string): Promise<boolean> {
    return (await this.call(() => api['classes:update']({ id, name }))) !== null;
  }

  async recolor(id: number, color: string): Promise<boolean> {
    const c = app.classes.find((x) => x.id === id);
    if (c) c.color = color; // shown at once; the reply confirms it
    return (await this.call(() => api['classes:update']({ id, color }))) !== null;
  }

  /** A digit or lowercase letter; empty goes back to the default key by position. */
  async setHotkey(id: number, key: string): Promise<boolean> {
    const k = key.trim().toLowerCase();
    if (k && !/^[0-9a-z]$/.test(k)) {
      this.error = 'A hotkey is one digit or letter';
      return false;
    }
    return (await this.call(() => api['classes:update']({ id, hotkey: k || null }))) !== null;
  }

  /** Moves `id` to the place of `beforeId` (or the end), then stores the whole order. */
  async moveBefore(id: number, beforeId: number | null): Promise<void> {
    const ids = app.classes.map((c) => c.id).filter((x) => x !== id);
    const at = beforeId === null ? ids.length : ids.indexOf(beforeId);
    ids.splice(at < 0 ? ids.length : at, 0, id);
    if (ids.join() === app.classes.map((c) => c.id).join()) return;
    // Reordered at once; the reply brings the new default hotkeys (they follow the order).
    const byId = new Map(app.classes.map((c) => [c.id, c]));
    app.classes = ids.map((x) => byId.get(x)!);
    const r = await this.call(() => api['classes:reorder']({ ids }));
    if (r) app.classes = r;
  }

  async merge(sourceId: number, targetId: number): Promise<boolean> {
    const r = await this.call(() => api['classes:merge']({ sourceId, targetId }));
    if (r) labeling.toast(`Merged: ${r.moved} image${r.moved === 1 ? '' : 's'} moved`);
    return r !== null;
  }

  async remove(id: number, labeledImages: 'unlabel' | 'move', moveTo?: number): Promise<boolean> {
    const r = await this.call(() => api['classes:delete']({ id, labeledImages, ...(moveTo !== undefined ? { moveTo } : {}) }));
    if (r) labeling.toast(r.moved ? `Deleted the class; ${r.moved} images moved` : `Deleted the class; ${r.unlabeled} images unlabeled`);
    return r !== null;
  }
}

export const classAdmin = new ClassAdmin();
