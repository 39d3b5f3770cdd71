/**
 * The pydicom test files Debian's python3-pydicom installs, and the reference tests/fixtures/dicom/make-reference.py
 * recorded from them. CI installs the package: a missing install is a failure, not a skip.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredArray } from '../../electron/core/dicom/pixels.ts';

export const PYDICOM_DATA = '/usr/lib/python3/dist-packages/pydicom/data';
export const PYDICOM_FILES = join(PYDICOM_DATA, 'test_files');

export interface PixelReference {
  frames: number;
  valuesPerFrame: number;
  sha256: string;
  frameSha256: string[];
  min: number;
  max: number;
  mean: number;
  stride: number;
  sampled: number[];
}

export interface FileReference {
  kind: 'image' | 'no-image' | 'dicomdir' | 'unreadable';
  transferSyntax?: string | null;
  sopClassUid?: string | null;
  pixels?: PixelReference | null;
  pixelError?: string;
  files?: string[];
  [field: string]: unknown;
}

export interface Reference {
  pydicom: string;
  files: Record<string, FileReference>;
  charsets: Record<string, { charset: string | string[]; PatientName: string | null }>;
}

export function loadReference(): Reference {
  if (!existsSync(PYDICOM_FILES)) {
    throw new Error(`${PYDICOM_FILES} is missing: install Debian's python3-pydicom (CI does; these tests need its files)`);
  }
  return JSON.parse(readFileSync(new URL('../fixtures/dicom/pydicom-reference.json', import.meta.url), 'utf8')) as Reference;
}

/** SHA-256 of values as little-endian int64, as the reference script hashes numpy arrays. */
export function valuesSha256(values: ArrayLike<number>): string {
  const buf = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) buf.writeBigInt64LE(BigInt(values[i]!), i * 8);
  return createHash('sha256').update(buf).digest('hex');
}

export function concatValues(frames: readonly StoredArray[]): number[] {
  const out: number[] = [];
  for (const f of frames) for (let i = 0; i < f.length; i++) out.push(f[i]!);
  return out;
}
