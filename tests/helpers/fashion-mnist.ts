// Reads Debian's dataset-fashion-mnist (gzipped IDX files) for tests and benches. IDX: big-endian magic
// (0x0803 images / 0x0801 labels), then the dimension sizes, then uint8 data.
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface IdxSet {
  readonly images: Uint8Array; // n × rows × cols
  readonly labels: Uint8Array;
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
}

function readIdx(path: string, expectedMagic: number): { dims: number[]; data: Uint8Array } {
  const buf = gunzipSync(readFileSync(path));
  const magic = buf.readUInt32BE(0);
  if (magic !== expectedMagic) throw new Error(`${path}: not an IDX file of the expected kind (magic ${magic.toString(16)})`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== offset + size) throw new Error(`${path}: truncated (${buf.length} bytes, want ${offset + size})`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, size) };
}

export function loadFashionMnist(split: 'train' | 't10k', dir = FASHION_MNIST_DIR): IdxSet {
  const imagesPath = join(dir, `${split}-images-idx3-ubyte.gz`);
  if (!existsSync(imagesPath)) throw new Error(`Fashion-MNIST not found at ${dir} (apt install dataset-fashion-mnist)`);
  const images = readIdx(imagesPath, 0x0803);
  const labels = readIdx(join(dir, `${split}-labels-idx1-ubyte.gz`), 0x0801);
  const [count = 0, rows = 0, cols = 0] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`Fashion-MNIST ${split}: ${count} images but ${labels.dims[0]} labels`);
  return { images: images.data, labels: labels.data, count, rows, cols };
}

/** Writes `perClass` train and `valPerClass` val images of each class as PNGs, in ImageFolder layout. */
export async function writeFashionSubset(root: string, classes: number[], perClass: number, valPerClass: number, offset: number): Promise<void> {
  const data = loadFashionMnist('train');
  const want = new Map(classes.map((c) => [c, { train: perClass, val: valPerClass }]));
  let i = offset;
  const jobs: Promise<unknown>[] = [];
  while ([...want.values()].some((w) => w.train + w.val > 0) && i < data.count) {
    const label = data.labels[i]!;
    const w = want.get(label);
    if (w && w.train + w.val > 0) {
      const split = w.train > 0 ? 'train' : 'val';
      w[split]--;
      const folder = join(root, split, `class${label}`);
      mkdirSync(folder, { recursive: true });
      const file = join(folder, `${i}.png`);
      const pixels = Buffer.from(data.images.subarray(i * 784, (i + 1) * 784));
      jobs.push(sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer().then((b) => writeFileSync(file, b)));
    }
    i++;
  }
  await Promise.all(jobs);
}

/** The training recipe the Fashion-MNIST transfer tests share (seeded, no augmentation, Adam 0.002). */
export const fashionRecipe = {
  batchSize: 32,
  dropout: 0,
  optimizer: { kind: 'adam' as const, lr: 0.002 },
  augment: {},
  earlyStopping: null,
  seed: 3,
};
