/**
 * The viewer's state for one DICOM image: its header (presets from the tags, CT presets for CT), its raw samples and
 * the current window. Presets are picked from the menu or cycled with a key, the window is dragged freely, and
 * reset goes back to the first preset (what the thumbnail and training show).
 */
import type { DicomHeader, DicomWindowPreset } from '../../shared/contract.ts';
import { decodeRaw, type RawImage } from '../../shared/transport.ts';
import { api, mediaUrl } from './api.ts';
import { dragWindow, fullRangeWindow, initialDicomWindow, presetIndex, type DicomWindow } from './dicom-window.ts';

export class DicomViewer {
  header = $state.raw<DicomHeader | null>(null);
  raw = $state.raw<RawImage | null>(null);
  window = $state<DicomWindow>({ center: 0, width: 1, fn: 'LINEAR' });
  /** The image's full range of modality values, for the drag rate. */
  private range = 1;
  private dragStart: { x: number; y: number; window: DicomWindow } | null = null;

  get presets(): DicomWindowPreset[] {
    return this.header?.presets ?? [];
  }

  /** Index of the current window in `presets`, or -1 once dragged. */
  get current(): number {
    return presetIndex(this.presets, this.window);
  }

  clear(): void {
    this.header = null;
    this.raw = null;
    this.dragStart = null;
  }

  /** Loads the header and, when the viewer can window the image itself, its raw samples. `stale` stops a late answer. */
  async load(id: number, stale: () => boolean): Promise<void> {
    const header = await api['dicom:header']({ id });
    if (stale()) return;
    if (!header.raw) {
      this.header = header;
      return;
    }
    const res = await fetch(mediaUrl('raw', id));
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    const raw = decodeRaw(await res.arrayBuffer());
    if (stale()) return;
    this.range = fullRangeWindow(raw, header.raw).width;
    this.header = header;
    this.raw = raw;
    this.window = initialDicomWindow(header.presets, raw, header.raw);
  }

  choose(index: number): void {
    const p = this.presets[index];
    if (p) this.window = { center: p.center, width: p.width, fn: p.fn };
  }

  /** The next (or previous) preset; from a dragged window, the first (or last). */
  cycle(step: 1 | -1): void {
    const n = this.presets.length;
    if (n === 0) return;
    const at = this.current;
    this.choose(at < 0 ? (step === 1 ? 0 : n - 1) : (at + step + n) % n);
  }

  reset(): void {
    if (this.header?.raw && this.raw) this.window = initialDicomWindow(this.header.presets, this.raw, this.header.raw);
  }

  startDrag(x: number, y: number): void {
    this.dragStart = { x, y, window: { ...this.window } };
  }

  drag(x: number, y: number): void {
    const s = this.dragStart;
    if (s) this.window = dragWindow(s.window, x - s.x, y - s.y, this.range);
  }

  endDrag(): void {
    this.dragStart = null;
  }
}
