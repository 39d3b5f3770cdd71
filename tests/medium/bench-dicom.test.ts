/**
 * bench:dicom still runs (as tests/medium/benches.test.ts keeps the other benches): its --tiny mode makes CT slices
 * from pydicom's CT_small.dcm, compresses them with dcmcjpls, and times loupe import, the bare loop and dcmtk on
 * both, with the facts a figure needs. bench/results/ is left as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runTinyBench } from '../helpers/tiny-bench.ts';

const resultsDir = join(import.meta.dirname, '..', '..', 'bench', 'results');
const snapshot = () => readdirSync(resultsDir).map((f) => `${f}:${statSync(join(resultsDir, f)).mtimeMs}`).sort();

test('bench:dicom times loupe import of uncompressed and JPEG-LS slices against the bare loop and dcmtk', () => {
  const before = snapshot();
  const r = runTinyBench('dicom');
  for (const set of ['uncompressed', 'jpegLsLossless']) {
    const s = r[set] as { files: number; importPerSecond: number[]; baselinePerSecond: number[]; dcmtkPerSecond: number[]; ratio: { perRound: number[]; median: number; rounds: number; enoughRounds: boolean } };
    assert.equal(s.files, r['slices'], set);
    for (const side of [s.importPerSecond, s.baselinePerSecond, s.dcmtkPerSecond]) assert.ok(side.length === 1 && side[0]! > 0, `${set}: ${JSON.stringify(side)}`);
    assert.equal(s.ratio.rounds, 1, set);
    assert.ok(s.ratio.median > 0, set);
    assert.equal(s.ratio.enoughRounds, false, `${set}: one round is not enough for a figure, and says so`);
  }
  assert.deepEqual(snapshot(), before);
});
