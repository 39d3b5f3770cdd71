/**
 * What the UI shows of DICOM images: the values the browse filters offer (`dicom:facets`) and one image's header
 * (`dicom:header`: its tag table, the window presets the viewer offers, and how the viewer windows its raw samples).
 */
import { LoupeError, type DicomFacets, type DicomHeader, type DicomWindowPreset } from '../../../shared/contract.ts';
import type { Database } from '../db/database.ts';
import type { Project } from '../project/project.ts';
import { readDicomFile, isDicomBuffer } from '../import/dicom-source.ts';
import { DicomError } from '../dicom/parse.ts';
import { CT_PRESETS } from '../dicom/presets.ts';
import { rawMapping } from '../dicom/raw-frame.ts';
import { tagTable } from '../dicom/tag-table.ts';
import type { WindowPreset } from '../dicom/windowing.ts';
import { pixelLimit } from '../project/settings.ts';
import { mediaRow, readSource } from './media.ts';
import { IMPORTED } from './queries.ts';

type Facet = { value: string; count: number };

function facet(db: Database, column: string): Facet[] {
  return db
    .prepare(
      `SELECT d.${column} AS value, COUNT(*) AS count FROM dicom_images d JOIN images i ON i.id = d.image_id
       WHERE ${IMPORTED} AND d.${column} IS NOT NULL AND d.${column} <> '' GROUP BY d.${column} ORDER BY count DESC, value`,
    )
    .all() as Facet[];
}

export function dicomFacets(db: Database): DicomFacets {
  const images = (db.prepare(`SELECT COUNT(*) AS n FROM dicom_images d JOIN images i ON i.id = d.image_id WHERE ${IMPORTED}`).get() as { n: number }).n;
  if (images === 0) return { images, modalities: [], bodyParts: [], views: [], series: [] };
  const series = db
    .prepare(
      `SELECT d.series_instance_uid AS value, MAX(d.series_description) AS description, MAX(d.modality) AS modality, COUNT(*) AS count
       FROM dicom_images d JOIN images i ON i.id = d.image_id
       WHERE ${IMPORTED} AND d.series_instance_uid IS NOT NULL GROUP BY d.series_instance_uid ORDER BY description IS NULL, description, value`,
    )
    .all() as { value: string; description: string | null; modality: string | null; count: number }[];
  const described = new Map<string, number>();
  for (const s of series) if (s.description?.trim()) described.set(s.description.trim(), (described.get(s.description.trim()) ?? 0) + 1);
  const options = series.map((s) => {
    const description = s.description?.trim() ?? '';
    // A series without a description, or sharing it with others, is told apart by its UID's last digits.
    const name = !description ? `…${s.value.slice(-8)}` : described.get(description)! > 1 ? `${description} …${s.value.slice(-6)}` : description;
    return { value: s.value, label: `${name}${s.modality ? ` (${s.modality})` : ''}`, count: s.count };
  });
  return { images, modalities: facet(db, 'modality'), bodyParts: facet(db, 'body_part'), views: facet(db, 'view_position'), series: options };
}

function tagPreset(p: WindowPreset, i: number): DicomWindowPreset {
  return { name: p.explanation || `Window ${i + 1}`, center: p.center, width: p.width, fn: p.fn, source: 'tags', explanation: p.explanation };
}

/** The tag table, window presets and raw mapping of a DICOM image. Identifying values are returned, never logged. */
export async function dicomHeader(project: Project, id: number): Promise<DicomHeader> {
  const row = mediaRow(project, id);
  const source = await readSource(row);
  if (!isDicomBuffer(source)) throw new LoupeError('BAD_INPUT', `Image ${id} is not a DICOM file`);
  try {
    const content = readDicomFile(source, pixelLimit(project));
    if (content.kind !== 'image') throw new LoupeError('BAD_INPUT', `Image ${id} holds no image data`);
    const modality = content.metadata.modality;
    const presets = [
      ...content.presets.map(tagPreset),
      ...(modality === 'CT' ? CT_PRESETS.map((p) => ({ ...p, fn: 'LINEAR' as const, source: 'ct' as const })) : []),
    ];
    return { tags: tagTable(content.parsed), modality, photometric: content.pixel.photometric, presets, raw: rawMapping(content) };
  } catch (e) {
    if (e instanceof DicomError) throw new LoupeError('BAD_INPUT', `Image ${id}: ${e.message}`);
    throw e;
  }
}
