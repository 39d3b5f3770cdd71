/**
 * Image bytes for the faces' media routes (`/media/<kind>/<id>`, `loupe://<kind>/<id>`): an image id maps to a
 * file through the project DB, never a path from the caller.
 *   thumb: the cached 256 px WebP (regenerated when the cache file is gone)
 *   image: the full image for display (oriented, 8-bit, 16-bit scaled by its own range, first page, ≤ 4096 px)
 *   raw:   LRAW pixels (shared/transport.ts), 16-bit kept, ≤ 2048 px, for window/level in the viewer; a grey
 *          DICOM image as its stored values (dicom/raw-frame.ts)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LoupeError, type MediaKind } from '../../../shared/contract.ts';
import { ProbeError, makeThumbnail, renderDisplay, renderRaw } from '../import/probe.ts';
import { thumbContentType, thumbPath } from '../import/thumbnails.ts';
import { displayFrame, isDicomBuffer, readDicomFile } from '../import/dicom-source.ts';
import { DicomError } from '../dicom/parse.ts';
import { rawFrame } from '../dicom/raw-frame.ts';
import type { Project } from '../project/project.ts';
import { pixelLimit } from '../project/settings.ts';

export const DISPLAY_MAX_SIDE = 4096;
export const RAW_MAX_SIDE = 2048;

export interface MediaRow {
  id: number;
  root: string;
  rel_path: string;
  rel_path_raw: Buffer | null;
  sha256: string | null;
  status: 'ok' | 'error' | 'missing';
  error: string | null;
  min_value: number | null;
  max_value: number | null;
  /** DICOM: the frame this image is. */
  frame: number | null;
}


/**
 * The image's file path: a Buffer path when its name is not valid UTF-8, or the file a DICOM frame image comes
 * from (its rel_path is `file#N`, its rel_path_raw the file's).
 */
export function filePath(row: { root: string; rel_path: string; rel_path_raw: Buffer | null }): string | Buffer {
  if (row.rel_path_raw) return Buffer.concat([Buffer.from(row.root), Buffer.from('/'), row.rel_path_raw]);
  return join(row.root, row.rel_path);
}

/** Reads an image's file; a file gone or unreadable is a LoupeError naming the image. */
export async function readSource(row: Pick<MediaRow, 'id' | 'root' | 'rel_path' | 'rel_path_raw'>): Promise<Buffer> {
  try {
    return await readFile(filePath(row));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LoupeError('NOT_FOUND', `Image ${row.id}: the file is gone (${row.rel_path})`);
    throw new LoupeError('BAD_INPUT', `Image ${row.id}: cannot read ${row.rel_path}: ${(e as Error).message}`);
  }
}

/** The image's file and state; NOT_FOUND for an unknown id. */
export function mediaRow(project: Project, id: number): MediaRow {
  const row = project.db
    .prepare(
      `SELECT i.id, r.path AS root, i.rel_path, i.rel_path_raw, i.sha256, i.status, i.error, i.min_value, i.max_value, d.frame
       FROM images i JOIN roots r ON r.id = i.root_id LEFT JOIN dicom_images d ON d.image_id = i.id WHERE i.id = ?`,
    )
    .get(id) as MediaRow | undefined;
  if (!row) throw new LoupeError('NOT_FOUND', `No image with id ${id}`);
  return row;
}

export async function renderMedia(project: Project, kind: MediaKind, id: number): Promise<{ body: Buffer; contentType: string }> {
  const row = mediaRow(project, id);
  if (row.status === 'error') {
    throw new LoupeError('BAD_INPUT', `Image ${id} could not be imported: ${row.error ?? 'unknown error'}`);
  }
  const limit = pixelLimit(project);
  const range = { min: row.min_value, max: row.max_value };
  try {
    if (kind === 'thumb') {
      if (row.sha256) {
        const cached = thumbPath(project.thumbDir, row.sha256);
        // A missing file still shows its cached thumbnail: the grid keeps what it knew.
        if (existsSync(cached)) {
          const body = await readFile(cached);
          return { body, contentType: thumbContentType(body) };
        }
      }
      if (row.status === 'missing') throw new LoupeError('NOT_FOUND', `Image ${id}: the file is missing (${row.rel_path})`);
      const body = await makeThumbnail(await readSource(row), range, limit, undefined, row.frame ?? undefined);
      if (row.sha256) await storeThumb(thumbPath(project.thumbDir, row.sha256), body);
      return { body, contentType: thumbContentType(body) };
    }
    if (row.status === 'missing') throw new LoupeError('NOT_FOUND', `Image ${id}: the file is missing (${row.rel_path})`);
    const source = await readSource(row);
    if (kind === 'image') return await renderDisplay(source, range, limit, DISPLAY_MAX_SIDE, row.frame ?? undefined);
    const dicom = isDicomBuffer(source) ? readDicomFile(source, limit) : null;
    const stored = dicom?.kind === 'image' ? await rawFrame(dicom, row.frame ?? displayFrame(dicom), RAW_MAX_SIDE) : null;
    return { body: stored ?? (await renderRaw(source, limit, RAW_MAX_SIDE, row.frame ?? undefined)), contentType: 'application/octet-stream' };
  } catch (e) {
    if (e instanceof ProbeError || e instanceof DicomError) throw new LoupeError('BAD_INPUT', `Image ${id}: ${e.message}`);
    throw e;
  }
}

async function storeThumb(path: string, body: Buffer): Promise<void> {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, path);
  } catch {
    // The cache is an optimisation: a read-only project folder still serves thumbnails.
  }
}
