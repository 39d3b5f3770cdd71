/**
 * The `loupe://` protocol: strict URL parsing, and the handler over a real project (real SQLite, real sharp)
 * mapping ids to bytes and refusing everything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { renderMedia } from '../../electron/core/images/media.ts';
import type { Project } from '../../electron/core/project/project.ts';
import {
  createMediaHandler,
  mediaScheme,
  mediaUrl,
  parseMediaUrl,
  registerMediaProtocol,
} from '../../electron/main/protocol.ts';
import { FakeProtocol } from '../helpers/electron-fakes.ts';
import { tempDir } from '../helpers/tmp.ts';

test('parseMediaUrl accepts exactly <kind>/<positive integer id>', () => {
  assert.deepEqual(parseMediaUrl('loupe://thumb/1'), { kind: 'thumb', id: 1 });
  assert.deepEqual(parseMediaUrl('loupe://image/42'), { kind: 'image', id: 42 });
  assert.deepEqual(parseMediaUrl('loupe://raw/900719925474099'), { kind: 'raw', id: 900719925474099 });
  assert.equal(mediaUrl('thumb', 7), 'loupe://thumb/7');
  assert.deepEqual(parseMediaUrl(mediaUrl('raw', 7)), { kind: 'raw', id: 7 });
});

test('parseMediaUrl refuses paths, dot segments, encoded tricks, absolute paths and odd ids', () => {
  const refused = [
    'loupe://thumb/0',
    'loupe://thumb/-1',
    'loupe://thumb/01',
    'loupe://thumb/1.5',
    'loupe://thumb/1e3',
    'loupe://thumb/0x10',
    'loupe://thumb/abc',
    'loupe://thumb/',
    'loupe://thumb',
    'loupe://thumb/1/',
    'loupe://thumb/1/2',
    'loupe://thumb//1',
    'loupe://thumb/1?path=/etc/passwd',
    'loupe://thumb/1#x',
    'loupe://thumb/../1',
    'loupe://thumb/..%2f1',
    'loupe://thumb/%2e%2e/1',
    'loupe://thumb/%31',
    'loupe://thumb/1%00',
    'loupe://thumb/%2Fetc%2Fpasswd',
    'loupe://thumb/..\\..\\windows',
    'loupe://thumb/C:\\Windows\\win.ini',
    'loupe:///etc/passwd',
    'loupe://etc/passwd',
    'loupe://file/1',
    'loupe://THUMB/1',
    'loupe://user@thumb/1',
    'loupe://thumb:80/1',
    'loupe://thumb/ 1',
    'loupe://thumb/1 ',
    'loupe://thumb/9999999999999999999999',
    'file:///etc/passwd',
    'http://thumb/1',
    ' loupe://thumb/1',
    '',
  ];
  for (const url of refused) assert.equal(parseMediaUrl(url), null, url);
});

test('the scheme is registered standard + secure with fetch support, without bypassing CSP', () => {
  assert.equal(mediaScheme.scheme, 'loupe');
  assert.equal(mediaScheme.privileges?.standard, true);
  assert.equal(mediaScheme.privileges?.secure, true);
  assert.equal(mediaScheme.privileges?.supportFetchAPI, true);
  assert.equal(mediaScheme.privileges?.bypassCSP, false);
  assert.notEqual(mediaScheme.privileges?.allowServiceWorkers, true);
});

async function importedProject(): Promise<{ core: LoupeCore; project: Project; ids: number[] }> {
  const dir = tempDir('loupe-protocol-');
  const source = join(dir, 'images');
  for (const cls of ['normal', 'effusion']) {
    mkdirSync(join(source, cls), { recursive: true });
    for (let i = 0; i < 2; i++) {
      await sharp({ create: { width: 40 + i, height: 30, channels: 3, background: { r: 20 * i, g: 90, b: 160 } } })
        .png()
        .toFile(join(source, cls, `img-${i}.png`));
    }
  }
  const core = new LoupeCore({ face: 'electron', configDir: join(dir, 'config') });
  await core.dispatch('projects:create', { path: join(dir, 'project') });
  const { jobId } = await core.dispatch('import:start', { folders: [source], labels: 'folders' });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const page = await core.dispatch('images:query', {});
  assert.equal(page.total, 4);
  return { core, project: core.requireProject(), ids: page.items.map((i) => i.id) };
}

test('the handler serves bytes for known ids and refuses everything else', async () => {
  const { core, ids } = await importedProject();
  const logs: string[] = [];
  const protocol = new FakeProtocol();
  registerMediaProtocol(
    protocol,
    createMediaHandler({ getProject: () => core.currentProject, render: renderMedia, log: (m) => logs.push(m) }),
  );
  const handler = protocol.handlers.get('loupe');
  assert.ok(handler, 'registered on the loupe scheme');
  const get = (url: string, method = 'GET') => Promise.resolve(handler(new Request(url, { method })));

  const id = ids[0]!;
  const thumb = await get(`loupe://thumb/${id}`);
  assert.equal(thumb.status, 200);
  // A small PNG is its own thumbnail (probe.ts), served as what it is: with nosniff, the type must be right.
  assert.equal(thumb.headers.get('content-type'), 'image/png');
  assert.equal(thumb.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(thumb.headers.get('cache-control'), 'no-store', 'patient images stay out of the disk cache');
  const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
  assert.equal(meta.format, 'png');

  const image = await get(`loupe://image/${id}`);
  assert.equal(image.status, 200);
  assert.match(image.headers.get('content-type') ?? '', /^image\//);

  const raw = await get(`loupe://raw/${id}`);
  assert.equal(raw.status, 200);
  const rawBytes = new Uint8Array(await raw.arrayBuffer());
  assert.equal(String.fromCharCode(...rawBytes.subarray(0, 4)), 'LRAW');

  // Unknown ids: well-formed, but not an image of this project.
  const unknown = Math.max(...ids) + 1000;
  for (const kind of ['thumb', 'image', 'raw']) {
    const res = await get(`loupe://${kind}/${unknown}`);
    assert.equal(res.status, 404, kind);
  }
  // Malformed URLs never reach core. (The WHATWG parser would collapse some of these; the handler sees
  // what Chromium passes, so both spellings are tried.)
  for (const url of [
    `loupe://thumb/${id}/../../etc/passwd`,
    'loupe://thumb/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    'loupe://thumb/..%2F..%2Fproject.db',
    `loupe://image/${id}?path=/etc/passwd`,
    'loupe://image/C:%5CWindows%5Cwin.ini',
    'loupe://raw/0',
    'loupe://raw/-3',
    'loupe://cache/1',
  ]) {
    const res = await get(url);
    assert.equal(res.status, 400, url);
    assert.doesNotMatch(res.headers.get('content-type') ?? '', /^image\//);
  }
  assert.ok(logs.some((l) => /refused a media URL/.test(l)));

  assert.equal((await get(`loupe://thumb/${id}`, 'POST')).status, 405);

  await core.dispatch('projects:close', {});
  assert.equal((await get(`loupe://thumb/${id}`)).status, 404, 'no project open');
  await core.shutdown();
});
