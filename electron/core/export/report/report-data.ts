/**
 * What the PDF report shows, gathered from project.db in the main process (stored evaluations: no TensorFlow):
 * the run facts, the evaluation reported on, and the most confident mistakes with small PNG thumbnails (pdfkit
 * embeds PNG/JPEG, the thumbnail cache holds WebP).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { LoupeError, type EvaluationDetail } from '../../../../shared/contract.ts';
import type { Project } from '../../project/project.ts';
import { thumbPath } from '../../import/thumbnails.ts';
import { renderMedia } from '../../images/media.ts';
import { getEvaluation } from '../../evaluation/evaluations.ts';
import { collectRunFacts, type RunFacts } from '../run-facts.ts';
import { imageNamer } from '../../project/pseudonyms.ts';

export const MISTAKES_SHOWN = 24;

export interface Mistake {
  imageId: number;
  label: string;
  predicted: string;
  confidence: number;
  /** Only when the report asks for file names. */
  fileName: string | null;
  /** PNG bytes, or null when thumbnails are off or the image cannot be shown. */
  png: Buffer | null;
  missing: string | null;
}

export interface ReportData {
  /** The run behind the evaluation; null for an external model's evaluation (issue 12). */
  facts: RunFacts | null;
  projectName: string;
  evaluation: EvaluationDetail;
  mistakes: Mistake[];
  mistakesTotal: number;
  /** "Prepared by", as the user typed it; empty otherwise (never the OS user name: issue 14). */
  author: string;
  createdAt: string;
  appVersion: string;
}

export interface ReportOptions {
  /** The run to report; may be left out when `evaluationId` is given (an external model's evaluation has none). */
  runId?: number;
  evaluationId?: number;
  thumbnails: boolean;
  fileNames: boolean;
  author?: string;
  appVersion: string;
}

async function thumbnailPng(project: Project, imageId: number, sha256: string | null): Promise<Buffer> {
  const cached = sha256 ? thumbPath(project.thumbDir, sha256) : null;
  const source = cached && existsSync(cached) ? await readFile(cached) : (await renderMedia(project, 'thumb', imageId)).body;
  return sharp(source).resize(160, 160, { fit: 'inside' }).png({ compressionLevel: 6 }).toBuffer();
}

export async function gatherReportData(project: Project, o: ReportOptions): Promise<ReportData> {
  let evaluation: EvaluationDetail | null;
  let facts: RunFacts | null;
  if (o.evaluationId !== undefined) {
    evaluation = getEvaluation(project.db, o.evaluationId);
    if (o.runId !== undefined && evaluation.runId !== o.runId) {
      throw new LoupeError('BAD_INPUT', `Evaluation ${o.evaluationId} belongs to ${evaluation.runId === null ? 'an external model' : `run ${evaluation.runId}`}, not run ${o.runId}`);
    }
    facts = evaluation.runId === null ? null : collectRunFacts(project, evaluation.runId);
  } else if (o.runId !== undefined) {
    facts = collectRunFacts(project, o.runId);
    evaluation = facts.evaluations.test ?? facts.evaluations.val;
    if (!evaluation) throw new LoupeError('BAD_INPUT', `Run ${o.runId} has no evaluation yet; evaluate it first (loupe eval ${'<project>'} --run ${o.runId} --split test)`);
  } else throw new LoupeError('BAD_INPUT', 'Give the run or the evaluation to report');
  if (!evaluation.metrics) throw new LoupeError('BAD_INPUT', `Evaluation ${evaluation.id} holds predictions on unlabeled images, not metrics`);
  const rows = project.db
    .prepare(
      `SELECT p.image_id, p.label, p.predicted, p.confidence, i.sha256, i.rel_path FROM predictions p JOIN images i ON i.id = p.image_id
       WHERE p.evaluation_id = ? AND p.label IS NOT NULL AND p.label <> p.predicted ORDER BY p.confidence DESC, p.image_id LIMIT ?`,
    )
    .all(evaluation.id, MISTAKES_SHOWN) as { image_id: number; label: number; predicted: number; confidence: number; sha256: string | null; rel_path: string }[];
  const nameOf = imageNamer(project.db);
  const mistakesTotal = project.db
    .prepare('SELECT COUNT(*) FROM predictions WHERE evaluation_id = ? AND label IS NOT NULL AND label <> predicted')
    .pluck()
    .get(evaluation.id) as number;
  const mistakes = await Promise.all(
    rows.map(async (r): Promise<Mistake> => {
      let png: Buffer | null = null;
      let missing: string | null = null;
      if (o.thumbnails) {
        try {
          png = await thumbnailPng(project, r.image_id, r.sha256);
        } catch (e) {
          missing = (e as Error).message;
        }
      }
      return {
        imageId: r.image_id,
        label: evaluation.classes[r.label] ?? `#${r.label}`,
        predicted: evaluation.classes[r.predicted] ?? `#${r.predicted}`,
        confidence: r.confidence,
        fileName: o.fileNames ? nameOf({ id: r.image_id, relPath: r.rel_path }) : null,
        png,
        missing,
      };
    }),
  );
  return { facts, projectName: project.sharedName(), evaluation, mistakes, mistakesTotal, author: o.author?.trim() ?? '', createdAt: new Date().toISOString(), appVersion: o.appVersion };
}
