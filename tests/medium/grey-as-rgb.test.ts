// Issue 15: most X-ray JPEG/PNG exports store R = G = B. The import records whether an image's colour channels are
// equal, and the one-click suggestion trains such a project on one channel ("Grey (stored as RGB)").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runImport } from '../../electron/core/import/importer.ts';
import { colourChannelsEqual } from '../../electron/core/import/probe.ts';
import { suggestConfig } from '../../electron/core/training/run-service.ts';
import * as img from '../fixtures/images.ts';
import { newProject, recordingContext } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

const equalOf = (p: ReturnType<typeof newProject>, rel: string) =>
  p.db.prepare('SELECT channels, channels_equal AS equal FROM images WHERE rel_path = ?').get(rel) as { channels: number; equal: number | null };

test('import records equal colour channels: grey JPEG/PNG stored as RGB, colour images, one-channel images', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, {
    'grey.jpg': await img.greyAsRgb('jpeg', { width: 300, height: 240, seed: 2 }),
    'grey.png': await img.greyAsRgb('png', { width: 300, height: 240, seed: 3 }),
    // A burned-in coloured marker on a grey image: a sliver of colour, still a grey image.
    'marked.png': await img.greyAsRgb('png', { width: 300, height: 240, seed: 4, marker: 12 }),
    'colour.jpg': await img.jpeg({ width: 300, height: 240, seed: 5 }),
    'colour.png': await img.png({ width: 300, height: 240, seed: 6 }),
    'one.png': await img.png({ width: 300, height: 240, channels: 1, seed: 7 }),
    'dup-of-grey.png': await img.greyAsRgb('png', { width: 300, height: 240, seed: 3 }),
  });
  const p = newProject(dir);
  await runImport(p, [src], 'none', recordingContext());
  assert.deepEqual(equalOf(p, 'grey.jpg'), { channels: 3, equal: 1 });
  assert.deepEqual(equalOf(p, 'grey.png'), { channels: 3, equal: 1 });
  assert.deepEqual(equalOf(p, 'marked.png'), { channels: 3, equal: 1 });
  assert.deepEqual(equalOf(p, 'colour.jpg'), { channels: 3, equal: 0 });
  assert.deepEqual(equalOf(p, 'colour.png'), { channels: 3, equal: 0 });
  assert.deepEqual(equalOf(p, 'one.png'), { channels: 1, equal: null });
  // A duplicate shares the first copy's thumbnail, so its channels are checked on a small decode of its own.
  assert.deepEqual(equalOf(p, 'dup-of-grey.png'), { channels: 3, equal: 1 });
});

test('the channel check: JPEG-level rounding is grey, a coloured area beyond 1% is colour', () => {
  const px = (n: number, f: (i: number) => [number, number, number]) => Uint8Array.from({ length: n * 3 }, (_, k) => f(Math.floor(k / 3))[k % 3]!);
  assert.equal(colourChannelsEqual(px(1000, (i) => [i % 256, (i % 256) + 2, Math.max(0, (i % 256) - 2)]), 3), true);
  assert.equal(colourChannelsEqual(px(1000, (i) => (i < 10 ? [255, 0, 0] : [9, 9, 9])), 3), true);
  assert.equal(colourChannelsEqual(px(1000, (i) => (i < 11 ? [255, 0, 0] : [9, 9, 9])), 3), false);
});

test('one-click suggestion: "Grey (stored as RGB)" and 1 channel for grey images stored as RGB; colour stays RGB', async () => {
  const make = async (name: string, kind: 'grey' | 'colour') => {
    const dir = tempDir();
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) {
      for (const cls of ['normal', 'pneumonia']) {
        const o = { width: 96, height: 96, seed: i * 2 + (cls === 'normal' ? 1 : 2) };
        files[`${cls}/${i}.jpg`] = kind === 'grey' ? await img.greyAsRgb('jpeg', o) : await img.jpeg(o);
      }
    }
    img.writeTree(join(dir, name), files);
    const p = newProject(dir);
    await runImport(p, [join(dir, name)], 'folders', recordingContext());
    return p;
  };
  const grey = suggestConfig(await make('xray', 'grey'));
  assert.equal(grey.config.channels, 1);
  assert.ok(grey.reasons.some((r) => r.startsWith('Grey (stored as RGB)')), grey.reasons.join('\n'));
  const colour = suggestConfig(await make('photos', 'colour'));
  assert.equal(colour.config.channels, 3);
  assert.ok(colour.reasons.includes('Colour (RGB): most images have colour'), colour.reasons.join('\n'));
});

test('a project imported before schema 7 learns which images are grey on its next import, labels kept', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'normal/a.png': await img.greyAsRgb('png', { seed: 1 }), 'normal/b.jpg': await img.jpeg({ seed: 2 }), 'normal/c.png': await img.png({ channels: 1, seed: 3 }) });
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  p.db.prepare('UPDATE images SET channels_equal = NULL').run();
  const again = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(again.updated, 2, 'the two colour-channel images are probed again');
  assert.equal(again.unchanged, 1, 'the one-channel image needs nothing');
  assert.deepEqual(equalOf(p, 'normal/a.png'), { channels: 3, equal: 1 });
  assert.deepEqual(equalOf(p, 'normal/b.jpg'), { channels: 3, equal: 0 });
  assert.equal(p.db.prepare('SELECT COUNT(*) FROM images WHERE class_id IS NOT NULL').pluck().get(), 3);
  const third = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(third.unchanged, 3);
});
