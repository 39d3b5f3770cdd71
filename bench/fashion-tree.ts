/**
 * Debian's Fashion-MNIST as a user would have it: PNG files in train/<class>/ and test/<class>/ (the layout the
 * importer reads as splits), written once under bench/tmp/ and reused while the marker says it is complete.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadFashionMnist } from '../tests/helpers/fashion-mnist.ts';
import { benchTmp } from './support.ts';

export const FASHION_CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];

export interface FashionTree {
  dir: string;
  train: number;
  test: number;
  /** The test split's files in source order (index i is t10k image i). */
  testFiles: string[];
}

/** 8-bit grayscale (sharp writes one-band raw input as RGB unless told otherwise). */
function greyPng(pixels: Uint8Array, file: string): Promise<unknown> {
  return sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(file);
}

async function writeSplit(source: 'train' | 't10k', folder: string, count: number): Promise<string[]> {
  const set = loadFashionMnist(source);
  const n = Math.min(count, set.count);
  for (const c of FASHION_CLASSES) mkdirSync(join(folder, c), { recursive: true });
  const files = Array.from({ length: n }, (_, k) => join(folder, FASHION_CLASSES[set.labels[k]!]!, `${String(k).padStart(5, '0')}.png`));
  for (let i = 0; i < n; i += 64) {
    await Promise.all(files.slice(i, i + 64).map((file, j) => greyPng(set.images.subarray((i + j) * 784, (i + j + 1) * 784), file)));
  }
  return files;
}

/** The first `train` training and `test` test images of Fashion-MNIST as PNGs under bench/tmp/<name>-<train>-<test>/. */
export async function fashionTree(name: string, train: number, test: number): Promise<FashionTree> {
  const dir = join(benchTmp(), `${name}-${train}-${test}`);
  const marker = join(dir, '.complete');
  const testFolder = join(dir, 'test');
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true });
    await writeSplit('train', join(dir, 'train'), train);
    await writeSplit('t10k', testFolder, test);
    writeFileSync(marker, `${train} ${test}\n`);
  }
  const set = loadFashionMnist('t10k');
  const testFiles = Array.from({ length: Math.min(test, set.count) }, (_, k) => join(testFolder, FASHION_CLASSES[set.labels[k]!]!, `${String(k).padStart(5, '0')}.png`));
  return { dir, train, test, testFiles };
}
