/**
 * The sample project's images, made on the spot (no download): synthetic chest X-ray-like radiographs in three
 * class folders: `normal`, `pneumonia` (diffuse patchy opacities in the lungs) and `effusion` (a fluid level with
 * a meniscus at a lung base). Grayscale; mostly 8-bit PNG, with some 16-bit PNG and 16-bit TIFF (12-bit detector
 * range with an offset, as real DR images have) so the 16-bit paths get exercised. Deterministic: a seeded PRNG
 * per image, so the same call always writes the same bytes.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CanceledError } from '../jobs/jobs.ts';
import { encodePixels } from '../import/probe.ts';
import { seededRandom } from '../../../shared/random.ts';

export const SAMPLE_CLASSES = ['normal', 'pneumonia', 'effusion'] as const;
export type SampleClass = (typeof SAMPLE_CLASSES)[number];
const SIZE = 256;
const ENCODE_POOL = 4;


interface Blob {
  x: number;
  y: number;
  r2: number;
  amp: number;
}

/** Renders one radiograph as attenuation values in [0, 1] (bright = dense, like bone). */
export function renderRadiograph(cls: SampleClass, seed: number, size = SIZE): Float32Array {
  const rnd = seededRandom(seed);
  const jitter = (s: number) => (rnd() - 0.5) * 2 * s;
  const out = new Float32Array(size * size);
  const cx = 0.5 + jitter(0.03);
  const bodyRx = 0.42 + jitter(0.03);
  const bodyRy = 0.55 + jitter(0.03);
  const lungRx = 0.14 + jitter(0.015);
  const lungRy = 0.3 + jitter(0.03);
  const lungY = 0.46 + jitter(0.03);
  const lungDx = 0.17 + jitter(0.015);
  const heartX = cx + 0.05 + jitter(0.02);
  const heartY = 0.62 + jitter(0.03);
  const ribGap = 0.065 + jitter(0.006);
  const ribBend = 1.6 + jitter(0.3);
  const blobs: Blob[] = [];
  if (cls === 'pneumonia') {
    const n = 4 + Math.floor(rnd() * 5);
    for (let i = 0; i < n; i++) {
      const side = rnd() < 0.5 ? -1 : 1;
      blobs.push({
        x: cx + side * lungDx + jitter(lungRx * 0.7),
        y: lungY + jitter(lungRy * 0.7),
        r2: (0.03 + rnd() * 0.05) ** 2,
        amp: 0.18 + rnd() * 0.22,
      });
    }
  }
  const effSide = rnd() < 0.5 ? -1 : 1;
  const fluidLevel = lungY + lungRy * (0.15 + rnd() * 0.4);
  for (let py = 0; py < size; py++) {
    const y = py / size;
    for (let px = 0; px < size; px++) {
      const x = px / size;
      const bx = (x - cx) / bodyRx;
      const by = (y - 0.62) / bodyRy;
      let v = 0.04;
      const inBody = bx * bx + by * by < 1;
      if (inBody) v = 0.32 + 0.08 * (1 - bx * bx);
      // Clavicles: two slanted bright bands near the top.
      const clav = Math.abs(y - (0.17 + Math.abs(x - cx) * 0.25));
      if (inBody && clav < 0.012 && Math.abs(x - cx) < 0.3) v += 0.25;
      for (const side of [-1, 1]) {
        const lx = (x - (cx + side * lungDx)) / lungRx;
        const ly = (y - lungY) / lungRy;
        const d = lx * lx + ly * ly;
        if (d < 1) {
          // Lungs are dark (air), with soft edges.
          v -= 0.2 * Math.min(1, (1 - d) * 4);
          // Posterior ribs: arcs that sag towards the side.
          const arc = y - ribBend * 0.05 * (lx * lx);
          const phase = (arc - 0.2) / ribGap;
          if (phase > 0) v += 0.13 * Math.max(0, Math.sin(phase * Math.PI * 2)) ** 3;
          if (cls === 'effusion' && side === effSide) {
            // Fluid fills the base up to a meniscus that climbs at the lateral edge.
            const meniscus = fluidLevel - 0.06 * Math.max(0, side * lx) ** 2;
            if (y > meniscus) v += 0.3;
          }
        }
      }
      // Spine and mediastinum.
      const sx = Math.abs(x - cx);
      if (inBody && sx < 0.045) v += 0.22 * (1 - sx / 0.045);
      const hx = (x - heartX) / 0.13;
      const hy = (y - heartY) / 0.12;
      const hd = hx * hx + hy * hy;
      if (hd < 1) v += 0.17 * Math.sqrt(1 - hd);
      for (const b of blobs) {
        const dx = x - b.x;
        const dy = y - b.y;
        v += b.amp * Math.exp(-(dx * dx + dy * dy) / b.r2);
      }
      v += (rnd() - 0.5) * 0.05;
      out[py * size + px] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

type SampleFormat = 'png8' | 'png16' | 'tiff16';

function formatFor(index: number): SampleFormat {
  const r = index % 10;
  if (r === 3) return 'tiff16';
  if (r === 7) return 'png16';
  return 'png8';
}

async function encode(values: Float32Array, format: SampleFormat): Promise<Buffer> {
  if (format === 'png8') {
    const px = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) px[i] = Math.round(values[i]! * 255);
    return encodePixels(px, SIZE, SIZE, 1, 'png');
  }
  // A 12-bit detector range with an offset: the display must scale by the image's own range.
  const px = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) px[i] = 200 + Math.round(values[i]! * 3800);
  return encodePixels(px, SIZE, SIZE, 1, format === 'png16' ? 'png' : 'tiff');
}

/** Writes `perClass` images into `<dir>/<class>/`; honours the signal between images. */
export async function writeSampleImages(
  dir: string,
  opts: { perClass: number; signal: AbortSignal; progress: (done: number, total: number, message?: string) => void },
): Promise<void> {
  const jobs: { cls: SampleClass; index: number }[] = [];
  for (const cls of SAMPLE_CLASSES) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < opts.perClass; i++) jobs.push({ cls, index: i });
  }
  const total = jobs.length;
  let done = 0;
  let next = 0;
  opts.progress(0, total, 'Generating sample images');
  const worker = async () => {
    while (next < jobs.length) {
      if (opts.signal.aborted) throw new CanceledError();
      const { cls, index } = jobs[next++]!;
      const seed = (SAMPLE_CLASSES.indexOf(cls) + 1) * 100_003 + index;
      const format = formatFor(index);
      const body = await encode(renderRadiograph(cls, seed), format);
      const ext = format === 'tiff16' ? 'tif' : 'png';
      await writeFile(join(dir, cls, `${cls}-${String(index + 1).padStart(4, '0')}.${ext}`), body);
      done++;
      opts.progress(done, total, `Generating sample images (${done}/${total})`);
    }
  };
  await Promise.all(Array.from({ length: ENCODE_POOL }, worker));
}
