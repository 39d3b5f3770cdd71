/**
 * A finished run with a stored evaluation, without training: a seeded project.db (seedProject), a run with
 * epochs and a dataset snapshot, a stand-in checkpoint, and seeded predictions whose metrics come from
 * shared/metrics.ts exactly as evaluate.ts stores them. For report tests and benches at sizes (50 classes,
 * thousands of images) where training would only cost time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { computeMetrics } from '../../shared/metrics.ts';
import { seededRandom } from '../../shared/random.ts';
import { trainConfigSchema } from '../../shared/training.ts';
import { createRun, endRun, markRunning, recordEpoch, runDir, setPreprocessing } from '../../electron/core/training/runs.ts';
import { writeSnapshot } from '../../electron/core/training/dataset.ts';
import { thumbPath } from '../../electron/core/import/thumbnails.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { seedProject } from './seed-project.ts';

export interface SyntheticRun {
  project: Project;
  runId: number;
  evaluationId: number;
  classes: string[];
}

export async function syntheticEvaluatedRun(dir: string, opts: { classes: number; perClass: number; seed?: number; thumbnails?: boolean }): Promise<SyntheticRun> {
  const k = opts.classes;
  const { project, imageIds } = seedProject(dir, { perClass: new Array<number>(k).fill(opts.perClass) });
  const db = project.db;
  const classes = Array.from({ length: k }, (_, c) => `c${c}`);
  db.prepare(`UPDATE images SET split = 'test'`).run();
  const runId = createRun(db, { name: 'synthetic', config: trainConfigSchema.parse({ arch: 'cnn', imageSize: 28, epochs: 6 }), classes, appVersion: 'test' });
  setPreprocessing(db, runId, { imageSize: 28, channels: 1, resize: 'squash', normalization: { mean: [0.5], std: [0.25] }, sixteenBit: 'own-range' });
  markRunning(db, runId, 'wasm');
  for (let e = 0; e < 6; e++) {
    recordEpoch(db, runId, { epoch: e, trainLoss: 2 / (e + 1), trainAccuracy: 0.5 + e * 0.07, valLoss: 2.2 / (e + 1) + 0.1, valAccuracy: 0.45 + e * 0.06, lr: 0.001, imagesPerSecond: 900, seconds: 3 }, true);
  }
  endRun(db, runId, 'finished');
  const sha = db.prepare('SELECT sha256 FROM images WHERE id = ?').pluck();
  const labelOf = (i: number) => Math.floor(i / opts.perClass);
  writeSnapshot(
    db,
    runId,
    imageIds.map((id, i) => ({ imageId: id, sha256: sha.get(id) as string, classIndex: labelOf(i), split: i % 5 === 0 ? 'val' : i % 5 === 1 ? 'test' : 'train' })),
  );
  const best = join(runDir(project, runId), 'best');
  mkdirSync(best, { recursive: true });
  writeFileSync(join(best, 'model.json'), '{}');
  writeFileSync(join(best, 'weights.bin'), Buffer.from(`weights of synthetic run ${runId}`));

  const random = seededRandom(opts.seed ?? 1);
  const n = imageIds.length;
  const labels = Int32Array.from(imageIds, (_, i) => labelOf(i));
  const probs = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const logit = random() * 3 + (c === labels[i] ? 1.5 + random() * 2.5 : 0);
      probs[i * k + c] = Math.exp(logit);
      sum += probs[i * k + c]!;
    }
    for (let c = 0; c < k; c++) probs[i * k + c]! /= sum;
  }
  const metrics = computeMetrics({ labels, probs, k }, { bootstrap: { seed: 7 } });
  const evaluationId = db.transaction(() => {
    const id = Number(
      db
        .prepare('INSERT INTO evaluations (run_id, split, model_sha256, created_at, n, metrics, notes) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(runId, 'test', 'f'.repeat(64), new Date().toISOString(), n, JSON.stringify(metrics), '[]').lastInsertRowid,
    );
    const ins = db.prepare(
      `INSERT INTO predictions (evaluation_id, image_id, label, predicted, confidence, margin, entropy, label_probability, probs) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)`,
    );
    for (let i = 0; i < n; i++) {
      const row = probs.subarray(i * k, (i + 1) * k);
      let best = 0;
      for (let c = 1; c < k; c++) if (row[c]! > row[best]!) best = c;
      ins.run(id, imageIds[i]!, labels[i]!, best, row[best]!, row[labels[i]!]!, Buffer.from(row.buffer, row.byteOffset, row.byteLength));
    }
    return id;
  })();
  if (opts.thumbnails) {
    // Thumbnails in the cache, as an import leaves them: a shaded square per class.
    for (const [i, id] of imageIds.entries()) {
      const path = thumbPath(project.thumbDir, sha.get(id) as string);
      mkdirSync(join(path, '..'), { recursive: true });
      const v = Math.round((labelOf(i) / Math.max(1, k - 1)) * 200) + 30;
      await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: v, g: 255 - v, b: 128 } } }).webp().toFile(path);
    }
  }
  return { project, runId, evaluationId, classes };
}
