/**
 * Generated inputs for the import benchmarks, cached under bench/tmp/ (gitignored) and reused: every file has
 * unique content, so no thumbnail is shared and the import does the full work for each one.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { BENCH_TMP } from './support.ts';

async function pool<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** A colourful pattern that depends on the seed everywhere (no two files alike). */
function pattern(width: number, height: number, seed: number): Buffer {
  const px = Buffer.allocUnsafe(width * height * 3);
  const a = (seed * 7919) % 251;
  const b = (seed * 104729) % 241;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (x + a + ((x * y) >> 6)) & 0xff;
      px[i + 1] = (y * 2 + b) & 0xff;
      px[i + 2] = ((x ^ y) + seed) & 0xff;
    }
  }
  return px;
}

/** `count` PNGs of `size`×`size` px in 10 class folders; returns the folder. */
export async function smallPngs(name: string, count: number, size: number): Promise<string> {
  const dir = join(BENCH_TMP, name);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  const jobs = Array.from({ length: count }, (_, i) => i);
  for (let c = 0; c < 10; c++) mkdirSync(join(dir, `class${c}`), { recursive: true });
  let done = 0;
  await pool(jobs, 4, async (i) => {
    const body = await sharp(pattern(size, size, i + 1), { raw: { width: size, height: size, channels: 3 } })
      .png({ compressionLevel: 6 })
      .toBuffer();
    await writeFile(join(dir, `class${i % 10}`, `img-${String(i).padStart(6, '0')}.png`), body);
    if (++done % 5000 === 0) process.stderr.write(`  generated ${done}/${count} ${name}\n`);
  });
  writeFileSync(marker, String(count));
  return dir;
}

/** `count` photo-like JPEGs of `width`×`height` px (a shared base with a unique stamp per file). */
export async function largeJpegs(name: string, count: number, width: number, height: number): Promise<string> {
  const dir = join(BENCH_TMP, name);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  for (let c = 0; c < 10; c++) mkdirSync(join(dir, `photos${c}`), { recursive: true });
  const base = pattern(width, height, 12345);
  let done = 0;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    2,
    async (i) => {
      const px = Buffer.from(base);
      // A unique stamp: a band of rows whose position and values depend on i.
      const row0 = (i * 37) % (height - 16);
      for (let y = row0; y < row0 + 16; y++) px.fill((i * 13) & 0xff, y * width * 3, (y + 1) * width * 3);
      const body = await sharp(px, { raw: { width, height, channels: 3 } }).jpeg({ quality: 88 }).toBuffer();
      await writeFile(join(dir, `photos${i % 10}`, `photo-${String(i).padStart(5, '0')}.jpg`), body);
      if (++done % 200 === 0) process.stderr.write(`  generated ${done}/${count} ${name}\n`);
    },
  );
  writeFileSync(marker, String(count));
  return dir;
}

/** The ten sub-folders of a generated set, each with its files (the benchmark interleaves per chunk). */
/** Every file under `dir`, sorted by path (dot-files, such as the completion markers, left out). */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => !d.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((d) => (d.isDirectory() ? listFiles(join(dir, d.name)) : [join(dir, d.name)]));
}
