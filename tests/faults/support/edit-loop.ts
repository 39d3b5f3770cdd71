/**
 * A process that edits a project over and over until it is killed, acknowledging each committed edit on stdout
 * the way the UI would show it done (issue 14's fault suite).
 *   tsx edit-loop.ts <project> label [once]   bulk-label every image, cycling through the classes: "ack <i>"
 *   tsx edit-loop.ts <project> split [once]   re-split every image with seed i:                 "ack <i>"
 * With `once`, one edit (i = 1000) and exit: the interrupted operation run again.
 */
import { writeSync } from 'node:fs';
import { Project } from '../../../electron/core/project/project.ts';
import { applyEdit } from '../../../electron/core/labels/edits.ts';
import { assignSplits } from '../../../electron/core/splits/splits.ts';

const [projectDir, mode, once] = process.argv.slice(2) as [string, 'label' | 'split', string | undefined];
const project = Project.open(projectDir);
const db = project.db;
const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
const classes = db.prepare('SELECT id FROM classes ORDER BY id').pluck().all() as number[];

for (let i = once ? 1000 : 0; ; i++) {
  if (mode === 'label') applyEdit(db, `bulk ${i}`, ids, 'class_id', classes[i % classes.length]!);
  else assignSplits(db, { seed: i, ratios: [0.6, 0.2, 0.2] });
  // Synchronous, so an ack is only ever written after its commit returned.
  writeSync(1, `ack ${i}\n`);
  if (once) break;
}
project.close();
