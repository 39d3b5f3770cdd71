/**
 * Dataset export (issue 6): the labeled images as an ImageFolder tree, `train/ val/ test/<class>/<file>`, plus a
 * labels CSV, so the same data trains elsewhere (torchvision's ImageFolder, the seed's PyTorch code). Files are
 * copied; hard links (instant, no extra space) only when asked for, because editing a hard-linked export edits
 * the original image too (issue 14).
 * Either a run's snapshot (exactly what it trained, validated and was tested on) or the project's current state.
 * With a format (issue 11) images are converted (dataset-convert.ts); DICOM images are always converted (png when
 * no format is given: a copied DICOM file would carry its patient's header), named by a pseudonym of their SOP
 * Instance UID, and their original paths go only to the mapping file, when one is asked for.
 */
import { linkSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { csvLine } from '../../../shared/csv.ts';
import { LoupeError, type ExportReport } from '../../../shared/contract.ts';
import type { Project } from '../project/project.ts';
import { filePath } from '../images/media.ts';
import { getRun } from '../training/runs.ts';
import { copyFileAtomic, markExportComplete, markExportIncomplete, prepareOutDir, writeFileAtomic } from './out-dir.ts';
import { sha256 } from './bundle-format.ts';
import { UniqueNames } from './file-names.ts';
import { pixelLimit } from '../project/settings.ts';
import { pseudonym, pseudonymSecret } from '../project/pseudonyms.ts';
import { ProbeError } from '../import/probe.ts';
import { burnedIn, convertImage, dicomImageOf, lowestModalityValue, type DatasetFormat } from './dataset-convert.ts';
import { BASIC_PROFILE_VERSION } from '../dicom/deid-profile.ts';
import { MAX_SHIFT_DAYS } from '../dicom/date-shift.ts';
import { fileErrorReason } from '../images/file-error.ts';

interface Item {
  imageId: number;
  root: string;
  relPath: string;
  relPathRaw: Buffer | null;
  className: string;
  split: 'train' | 'val' | 'test';
  range: { min: number | null; max: number | null };
  /** DICOM images: what naming and conversion need (null for other images). */
  dicom: { sop: string | null; patientId: string | null; frame: number; frames: number } | null;
}

const COLUMNS = `i.id, r.path AS root, i.rel_path, i.rel_path_raw, i.min_value, i.max_value,
  d.image_id AS dicom_id, d.sop_instance_uid, d.patient_id, d.frame, d.frames`;

function itemsOf(project: Project, runId: number | undefined): Item[] {
  const db = project.db;
  type Row = {
    id: number; root: string; rel_path: string; rel_path_raw: Buffer | null; class_name: string; split: Item['split'];
    min_value: number | null; max_value: number | null; dicom_id: number | null; sop_instance_uid: string | null;
    patient_id: string | null; frame: number | null; frames: number | null;
  };
  const rows: Row[] = runId === undefined
    ? (db
        .prepare(
          `SELECT ${COLUMNS}, c.name AS class_name, i.split FROM images i
           JOIN roots r ON r.id = i.root_id JOIN classes c ON c.id = i.class_id LEFT JOIN dicom_images d ON d.image_id = i.id
           WHERE i.status = 'ok' AND i.excluded = 0 AND i.split IS NOT NULL ORDER BY c.position, i.rel_path`,
        )
        .all() as Row[])
    : (() => {
        const run = getRun(db, runId);
        const snap = db
          .prepare(
            `SELECT ${COLUMNS}, ri.class_index, ri.split FROM run_images ri
             JOIN images i ON i.id = ri.image_id JOIN roots r ON r.id = i.root_id LEFT JOIN dicom_images d ON d.image_id = i.id
             WHERE ri.run_id = ? ORDER BY ri.class_index, i.rel_path`,
          )
          .all(runId) as (Omit<Row, 'class_name'> & { class_index: number })[];
        if (snap.length === 0) throw new LoupeError('BAD_INPUT', `Run ${runId} has no dataset snapshot (it never started)`);
        return snap.map((r) => ({ ...r, class_name: run.classes[r.class_index]! }));
      })();
  return rows.map((r) => ({
    imageId: r.id, root: r.root, relPath: r.rel_path, relPathRaw: r.rel_path_raw, className: r.class_name, split: r.split,
    range: { min: r.min_value, max: r.max_value },
    dicom: r.dicom_id === null ? null : { sop: r.sop_instance_uid, patientId: r.patient_id, frame: r.frame ?? 0, frames: r.frames ?? 1 },
  }));
}

export interface DatasetExportOptions {
  outDir: string;
  runId?: number;
  mode: 'link' | 'copy';
  force: boolean;
  /** Convert every image (issue 11); without it other images are copied or linked and DICOM images become png. */
  format?: DatasetFormat;
  /** Where to write the `exported,original` mapping CSV (the only file with original names); none without it. */
  mappingPath?: string;
  /** Export DICOM images whose header says Burned In Annotation = YES (excluded by default). */
  includeBurnedIn?: boolean;
  /** --format dicom: dates moved by the patient's shift (default) or emptied (deidentify.ts). */
  dicomDates?: 'shift' | 'remove';
  signal?: AbortSignal;
  progress?: (done: number, total: number, message: string) => void;
}

function readSource(it: Item): Buffer | null {
  try {
    return readFileSync(filePath({ root: it.root, rel_path: it.relPath, rel_path_raw: it.relPathRaw }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new LoupeError('BAD_INPUT', `Cannot read ${it.relPath}: ${(e as Error).message}`);
  }
}

/** png16/tiff16: one offset for the whole export, so that the lowest modality value any header allows is ≥ 0. */
function exportOffset(items: readonly Item[], limit: number, signal: AbortSignal | undefined): number {
  let lowest = 0;
  for (const it of items) {
    if (!it.dicom) continue;
    if (signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
    const source = readSource(it);
    if (!source) continue;
    try {
      lowest = Math.min(lowest, lowestModalityValue(dicomImageOf(source, limit)));
    } catch {
      // Unreadable now: the export loop reports it with its reason.
    }
  }
  return Math.min(-lowest, 65535);
}

/** The export's own description, without a path or a name from the source (issue 11). */
function exportFacts(format: DatasetFormat, offset: number, written: number, monochrome1: number, dates: 'shift' | 'remove'): string {
  const facts: Record<string, unknown> = { format, images: written };
  if (format === 'png16' || format === 'tiff16') {
    facts['offset'] = offset;
    facts['formula'] = `modality value (e.g. Hounsfield units) = pixel value - ${offset}; colour DICOM images hold their stored values; other images were converted to 16 bits by libvips`;
    facts['monochrome1'] = `${monochrome1} grey DICOM image(s) are MONOCHROME1: low values are bright, as stored (not inverted)`;
  } else if (format === 'png') {
    facts['pixels'] = '8-bit, as Loupe trains on them: DICOM with the default window (the first preset, else the VOI LUT, else the full range), MONOCHROME1 inverted; 16-bit images scaled by their own range';
  } else {
    const how = dates === 'shift'
      ? `and its Retain Longitudinal Temporal Information with Modified Dates option (${BASIC_PROFILE_VERSION}): every date moved back by 1 to ${MAX_SHIFT_DAYS} days, the same for all of one patient's images, times kept, birth dates removed`
      : `(${BASIC_PROFILE_VERSION}): dates and times emptied`;
    facts['deidentification'] = `DICOM images de-identified with the Basic Application Level Confidentiality Profile ${how}; UIDs replaced consistently; each frame of a multi-frame file written as a single-frame instance; other images copied as they are`;
  }
  return JSON.stringify(facts, null, 2) + '\n';
}

export async function exportDataset(project: Project, opts: DatasetExportOptions): Promise<ExportReport> {
  const items = itemsOf(project, opts.runId);
  if (items.length === 0) throw new LoupeError('BAD_INPUT', 'There are no labeled images in a split to export');
  const dir = prepareOutDir(opts.outDir, opts.force);
  const mappingPath = opts.mappingPath === undefined ? null : resolve(opts.mappingPath);
  const limit = pixelLimit(project);
  const hasDicom = items.some((it) => it.dicom);
  const secret = hasDicom ? pseudonymSecret(project.db) : '';
  const sixteen = opts.format === 'png16' || opts.format === 'tiff16';
  if (sixteen && hasDicom) opts.progress?.(0, items.length, 'Reading DICOM headers for the 16-bit offset');
  const offset = sixteen ? exportOffset(items, limit, opts.signal) : 0;
  markExportIncomplete(dir);
  // One folder per class, the same in every split; two classes never share one (e.g. "a/b" and "a_b").
  const classFolders = new UniqueNames();
  const filesIn = new Map<string, UniqueNames>();
  const csv = [csvLine(['path', 'label', 'split', 'source'])];
  const mapping = [csvLine(['exported', 'original'])];
  const notes: string[] = [];
  const burnedInExcluded: string[] = [];
  const failed: string[] = [];
  let linked = 0;
  let written = 0;
  let clipped = 0;
  let rounded = 0;
  let monochrome1 = 0;
  let canLink = opts.mode === 'link';
  const missing: string[] = [];
  for (const [i, it] of items.entries()) {
    if (opts.signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
    const folder = `${it.split}/${classFolders.nameFor(it.className)}`;
    let names = filesIn.get(folder);
    if (!names) filesIn.set(folder, (names = new UniqueNames()));
    const format = it.dicom ? (opts.format ?? 'png') : opts.format;
    const source = filePath({ root: it.root, rel_path: it.relPath, rel_path_raw: it.relPathRaw });
    let target = '';
    try {
      mkdirSync(join(dir, folder), { recursive: true });
      let name: string;
      if (!format || (format === 'dicom' && !it.dicom)) {
        // Flatten the source path into the file name: two "img001.png" from different folders stay apart.
        name = names.claim(it.relPath.replace(/[/\\]/g, '__'));
        target = join(dir, folder, name);
        // --force over an earlier export: replace the old file (a hard link must not write through to a source).
        rmSync(target, { force: true });
        if (canLink) {
          try {
            linkSync(source, target);
            linked++;
          } catch (e) {
            // Another file system (EXDEV) or one without hard links: copy from now on.
            if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EMLINK', 'EOPNOTSUPP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
            canLink = false;
            notes.push(`Hard links are not possible here (${(e as NodeJS.ErrnoException).code}); files were copied`);
            copyFileAtomic(source, target);
          }
        } else copyFileAtomic(source, target);
      } else {
        const bytes = readSource(it);
        if (!bytes) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
        const img = it.dicom ? dicomImageOf(bytes, limit) : null;
        if (img && burnedIn(img) && !opts.includeBurnedIn) {
          burnedInExcluded.push(it.relPath);
          continue;
        }
        // A frame of a multi-frame file is an image of its own in every format (--format dicom: a single-frame
        // instance), named -f<N> after its frame.
        const converted = await convertImage({
          source: bytes, format, limit, range: it.range, dicom: img && it.dicom ? { img, frame: it.dicom.frame } : null, offset, secret, dates: opts.dicomDates ?? 'shift',
          patientPseudonym: it.dicom?.patientId ? pseudonym(secret, 'patient', it.dicom.patientId) : '',
        });
        const stem = it.dicom
          ? `${pseudonym(secret, 'img', it.dicom.sop ?? it.relPath)}${it.dicom.frames > 1 ? `-f${it.dicom.frame + 1}` : ''}`
          : it.relPath.replace(/[/\\]/g, '__').replace(/\.[^./\\]{1,8}$/, '');
        name = names.claim(`${stem}${converted.ext}`);
        target = join(dir, folder, name);
        rmSync(target, { force: true });
        writeFileAtomic(target, converted.bytes);
        clipped += converted.clipped;
        rounded += converted.rounded;
        if (converted.monochrome1) monochrome1++;
      }
      written++;
      // DICOM paths may hold patient names: they go to the mapping file only.
      csv.push(csvLine([`${folder}/${name}`, it.className, it.split, it.dicom ? '' : it.relPath]));
      mapping.push(csvLine([`${folder}/${name}`, it.relPath]));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') missing.push(it.relPath);
      else if (e instanceof ProbeError) failed.push(`${it.relPath}: ${e.message}`);
      else if (e instanceof LoupeError) throw e;
      else throw new LoupeError('BAD_INPUT', `Cannot write ${target || join(dir, folder)}: ${fileErrorReason(e)}`);
    }
    if (i % 50 === 0) opts.progress?.(i, items.length, 'Writing images');
  }
  if (missing.length) notes.push(`${missing.length} image file${missing.length > 1 ? 's are' : ' is'} missing and left out: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  if (failed.length) notes.push(`${failed.length} image${failed.length > 1 ? 's' : ''} could not be converted and ${failed.length > 1 ? 'were' : 'was'} left out: ${failed.slice(0, 5).join('; ')}${failed.length > 5 ? '; …' : ''}`);
  if (burnedInExcluded.length) {
    notes.push(`${burnedInExcluded.length} DICOM image${burnedInExcluded.length > 1 ? 's say' : ' says'} Burned In Annotation = YES (text in the pixels may identify the patient) and ${burnedInExcluded.length > 1 ? 'were' : 'was'} left out; include them with --include-burned-in`);
  }
  if (hasDicom && !opts.format) notes.push('DICOM images were written as 8-bit PNG as training sees them (a copied DICOM file would carry its patient data); choose --format dicom for de-identified DICOM');
  if (clipped) notes.push(`${clipped} pixel value${clipped > 1 ? 's' : ''} did not fit 0…65535 after the offset ${offset} and were clipped`);
  if (rounded) notes.push(`${rounded} pixel value${rounded > 1 ? 's' : ''} had a fractional rescale and were rounded to whole numbers`);
  const csvText = csv.join('\n') + '\n';
  writeFileAtomic(join(dir, 'labels.csv'), csvText);
  const files = [{ name: 'labels.csv', bytes: Buffer.byteLength(csvText), sha256: sha256(csvText) }];
  if (opts.format) {
    const facts = exportFacts(opts.format, offset, written, monochrome1, opts.dicomDates ?? 'shift');
    writeFileAtomic(join(dir, 'export.json'), facts);
    files.push({ name: 'export.json', bytes: Buffer.byteLength(facts), sha256: sha256(facts) });
  }
  let mappingFile: string | undefined;
  if (mappingPath) {
    const text = mapping.join('\n') + '\n';
    writeFileAtomic(mappingPath, text);
    mappingFile = mappingPath;
  }
  markExportComplete(dir);
  opts.progress?.(items.length, items.length, `Exported ${written} images to ${dir}`);
  return { path: dir, files, notes, images: written, linked, burnedInExcluded, ...(mappingFile ? { mapping: mappingFile } : {}) };
}
