/**
 * Imports a Fashion-MNIST folder tree built from Debian's dataset-fashion-mnist (idx files decoded here, PNGs
 * written into train/<class>/ and test/<class>/) and checks every count, class and split against the source labels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeRaw } from '../../shared/transport.ts';
import { runImport, previewImport } from '../../electron/core/import/importer.ts';
import { renderMedia } from '../../electron/core/images/media.ts';
import { summarizeProject } from '../../electron/core/images/queries.ts';
import { newProject, recordingContext, rows } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../helpers/fashion-mnist.ts';

const DATA = FASHION_MNIST_DIR;
const CLASSES = ['T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle_boot'];
const PER_SPLIT = 1000;

const present = existsSync(join(DATA, 'train-images-idx3-ubyte.gz'));

test('Fashion-MNIST tree imports with every count and class matching the source labels', { skip: present ? false : `dataset-fashion-mnist is not installed (${DATA}); CI installs it with apt` }, async () => {
  const dir = tempDir();
  const src = join(dir, 'fashion');
  const expected = new Map<string, { split: string; label: number; pixels: Buffer }>();
  for (const [split, prefix] of [['train', 'train'], ['test', 't10k']] as const) {
    const set = loadFashionMnist(prefix, DATA);
    const images = { data: set.images };
    const labels = { data: set.labels };
    const [h, w] = [set.rows, set.cols];
    assert.deepEqual([h, w], [28, 28]);
    for (const c of CLASSES) await mkdir(join(src, split, c), { recursive: true });
    for (let i = 0; i < PER_SPLIT; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, k) => {
          const idx = i + k;
          const label = labels.data[idx]!;
          const pixels = Buffer.from(images.data.subarray(idx * h * w, (idx + 1) * h * w));
          const rel = `${split}/${CLASSES[label]}/${String(idx).padStart(5, '0')}.png`;
          expected.set(rel, { split, label, pixels });
          const png = await sharp(pixels, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toBuffer();
          await writeFile(join(src, ...rel.split('/')), png);
        }),
      );
    }
  }

  const preview = await previewImport([src]);
  assert.equal(preview.layout, 'splits');
  assert.equal(preview.files, 2 * PER_SPLIT);
  assert.deepEqual(preview.splits, { train: PER_SPLIT, val: 0, test: PER_SPLIT, unassigned: 0 });

  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([report.added, report.failed, report.ignored], [2 * PER_SPLIT, 0, 0]);

  // Every image: its class and split are its source label's, 28×28 8-bit grey.
  const all = rows(p);
  assert.equal(all.length, 2 * PER_SPLIT);
  for (const r of all) {
    const e = expected.get(r.rel_path);
    assert.ok(e, r.rel_path);
    assert.equal(r.class_name, CLASSES[e.label], r.rel_path);
    assert.equal(r.split, e.split, r.rel_path);
    assert.deepEqual([r.width, r.height, r.channels, r.bit_depth, r.status], [28, 28, 1, 8, 'ok'], r.rel_path);
  }

  // Per class and split counts equal the label histogram of the source.
  const s = summarizeProject(p);
  const want = new Map<string, number>();
  for (const e of expected.values()) want.set(CLASSES[e.label]!, (want.get(CLASSES[e.label]!) ?? 0) + 1);
  assert.deepEqual(
    s.classes.map((c) => [c.name, c.count]).sort(),
    [...want.entries()].sort(),
  );
  assert.equal(s.classes.length, 10);
  assert.deepEqual(s.splits, { train: PER_SPLIT, val: 0, test: PER_SPLIT, unassigned: 0 });
  assert.equal(s.labeled, 2 * PER_SPLIT);

  // Duplicates: exactly the groups of identical source pixel arrays (the PNG encoder is deterministic).
  const byPixels = new Map<string, string[]>();
  for (const [rel, e] of expected) {
    const k = createHash('sha256').update(e.pixels).digest('hex');
    byPixels.set(k, [...(byPixels.get(k) ?? []), rel]);
  }
  const wantGroups = [...byPixels.values()].filter((g) => g.length > 1).map((g) => g.sort().join('|')).sort();
  const gotGroups = s.duplicates.map((g) => g.map((x) => x.slice(src.length + 1)).sort().join('|')).sort();
  assert.deepEqual(gotGroups, wantGroups);

  // Pixels survive: the raw media of a few images equals the source bytes.
  for (const r of all.slice(0, 20)) {
    const raw = decodeRaw(new Uint8Array((await renderMedia(p, 'raw', r.id)).body).buffer);
    assert.deepEqual(Buffer.from(raw.data as Uint8Array), expected.get(r.rel_path)!.pixels, r.rel_path);
  }
});
