/**
 * The thumbnail cache: `cache/thumbs/<sha[0..2]>/<sha>.webp`, keyed by content hash so that exact duplicates
 * share one file. Most are WebP; a small PNG's is the PNG itself (probe.ts), under the same name, so a thumbnail is
 * served as what its bytes are (thumbContentType). Writes go through a temporary name and a rename, so an import killed mid-write never leaves a
 * half-written thumbnail under the final name. Sync writes: thumbnails are a few kB, and a thread-pool round
 * trip per file costs more than the write itself.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sniffFormat } from './formats.ts';

export function thumbPath(thumbDir: string, sha256: string): string {
  return join(thumbDir, sha256.slice(0, 2), `${sha256}.webp`);
}

/** The media type of a cached thumbnail, from its first bytes (anything but a PNG is served as WebP, as before). */
export function thumbContentType(body: Buffer): string {
  return sniffFormat(body.subarray(0, 16)) === 'png' ? 'image/png' : 'image/webp';
}

export class ThumbCache {
  private readonly made = new Set<string>();
  private readonly dirs = new Set<string>();
  private seq = 0;

  constructor(readonly dir: string) {}

  /** True when a thumbnail for this hash is on disk (or being made by this import right now). */
  has(sha256: string): boolean {
    return this.made.has(sha256) || existsSync(thumbPath(this.dir, sha256));
  }

  /** Claims a hash before its thumbnail is made, so two duplicates in flight do not both render it. */
  claim(sha256: string): boolean {
    if (this.has(sha256)) return false;
    this.made.add(sha256);
    return true;
  }

  /** Gives a claim back when the thumbnail could not be made. */
  release(sha256: string): void {
    this.made.delete(sha256);
  }

  write(sha256: string, body: Buffer): void {
    const sub = join(this.dir, sha256.slice(0, 2));
    if (!this.dirs.has(sub)) {
      mkdirSync(sub, { recursive: true });
      this.dirs.add(sub);
    }
    const final = thumbPath(this.dir, sha256);
    const tmp = `${final}.${process.pid}.${this.seq++}.tmp`;
    writeFileSync(tmp, body);
    renameSync(tmp, final);
    // On disk now: existsSync answers from here on, and the set stays as small as the files in flight.
    this.made.delete(sha256);
  }
}
