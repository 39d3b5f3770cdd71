/**
 * The on-disk cache of decoded model inputs: each image decoded once per preprocessing (size, channels, resize
 * mode, DICOM windowing), stored as uint8 rows keyed by content hash, so later epochs and later runs never decode again. Batches
 * are read from it by offset, so memory stays bounded for datasets larger than RAM.
 *
 * Layout: cache/tensors/<key>/data.bin (rows, append-only) and index.bin (records of 32-byte sha256 + 8-byte
 * offset, appended after the row is written). A record pointing past the end of data.bin (a crash between the
 * two writes) is ignored on load.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { InputShape } from '../images/model-input.ts';

const RECORD = 40;
const FORMAT_VERSION = 1;

export function cacheKey(shape: InputShape): string {
  // The tags' window (the default) adds nothing, so caches made before the choice existed stay valid.
  const w = shape.dicomWindow && shape.dicomWindow.kind !== 'tags' ? { w: shape.dicomWindow } : {};
  const text = JSON.stringify({ v: FORMAT_VERSION, s: shape.imageSize, c: shape.channels, r: shape.resize, ...w });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export class TensorCache {
  readonly rowBytes: number;
  private readonly index = new Map<string, number>();
  private readonly dataFd: number;
  private readonly indexFd: number;
  private dataSize: number;

  /** Decoded images of one input shape, or (`rows`) other fixed-size rows under their own key, e.g. features. */
  constructor(cacheDir: string, shape: InputShape | { key: string; rowBytes: number }) {
    const dir = join(cacheDir, 'tensors', 'key' in shape ? shape.key : cacheKey(shape));
    mkdirSync(dir, { recursive: true });
    this.rowBytes = 'key' in shape ? shape.rowBytes : shape.imageSize * shape.imageSize * shape.channels;
    this.dataFd = openSync(join(dir, 'data.bin'), existsSync(join(dir, 'data.bin')) ? 'r+' : 'w+');
    this.dataSize = fstatSync(this.dataFd).size;
    const indexFile = join(dir, 'index.bin');
    if (existsSync(indexFile)) {
      const buf = readFileSync(indexFile);
      for (let p = 0; p + RECORD <= buf.length; p += RECORD) {
        const offset = Number(buf.readBigUInt64LE(p + 32));
        if (offset + this.rowBytes <= this.dataSize) this.index.set(buf.toString('hex', p, p + 32), offset);
      }
    }
    this.indexFd = openSync(indexFile, 'a');
  }

  has(sha256: string): boolean {
    return this.index.has(sha256);
  }

  get size(): number {
    return this.index.size;
  }

  /** Appends one decoded image (ignored if the hash is cached already). */
  put(sha256: string, pixels: Uint8Array): void {
    if (pixels.length !== this.rowBytes) throw new Error(`row of ${pixels.length} bytes, expected ${this.rowBytes}`);
    if (this.index.has(sha256)) return;
    const offset = this.dataSize;
    writeSync(this.dataFd, pixels, 0, pixels.length, offset);
    this.dataSize += pixels.length;
    const rec = Buffer.alloc(RECORD);
    rec.write(sha256, 0, 32, 'hex');
    rec.writeBigUInt64LE(BigInt(offset), 32);
    writeSync(this.indexFd, rec);
    this.index.set(sha256, offset);
  }

  /** Reads one image's row into `out` at `at`. */
  read(sha256: string, out: Uint8Array, at = 0): void {
    const offset = this.index.get(sha256);
    if (offset === undefined) throw new Error(`image ${sha256.slice(0, 12)} is not in the cache`);
    readSync(this.dataFd, out, at, this.rowBytes, offset);
  }

  close(): void {
    closeSync(this.dataFd);
    closeSync(this.indexFd);
  }
}
