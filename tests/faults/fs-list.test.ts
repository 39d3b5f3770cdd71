/**
 * The folder browser (`fs:list`) on a huge folder, against a live `loupe serve`: other calls keep answering
 * under 200 ms while it lists (a synchronous listing of 200,000 files stalled them for 1–1.6 s), and the
 * folders come back sorted, capped and paged (issue 14).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { listDir } from '../../electron/core/api/fs-browse.ts';
import { startServe, type Served } from '../e2e/support/serve.ts';
import { latencyWhile, post, raw } from './support/live-host.ts';
import { tempDir } from '../helpers/tmp.ts';

const FILES = 60_000;
const FOLDERS = 6_000;
let big: string;
let served: Served;

before(async () => {
  const home = tempDir('loupe-faults-fs-');
  big = join(home, 'scans');
  mkdirSync(big);
  for (let i = 0; i < FILES; i++) closeSync(openSync(join(big, `scan_${i}.png`), 'w'));
  for (let i = 0; i < FOLDERS; i++) mkdirSync(join(big, `case_${i}`));
  served = await startServe({ home, ui: false });
});
after(() => served.stop());

test('listing a folder of many files does not stall other clients', async (t) => {
  // The same calls with nothing else going on: what the machine alone costs them (reported, not asserted).
  const idle = await latencyWhile(served, new Promise((r) => setTimeout(r, 1500)));
  const listings = (async () => {
    const replies = [];
    // Read but not parsed here: this process also times the other client, and must not stall it itself.
    const body = JSON.stringify({ path: big });
    for (let i = 0; i < 3; i++) replies.push(await raw(served, '/api/fs:list', { body, discard: true }));
    return replies;
  })();
  const latencies = await latencyWhile(served, listings);
  for (const r of await listings) assert.equal(r.status, 200, r.text);
  assert.ok(latencies.length >= 3, `app:info was called during the listings (${latencies.length} times)`);
  const worst = Math.max(...latencies);
  t.diagnostic(`${latencies.length} calls during the listings, the slowest ${worst.toFixed(0)} ms (idle: ${Math.max(...idle).toFixed(0)} ms)`);
  assert.ok(worst < 200, `every other call answered in under 200 ms; the slowest took ${worst.toFixed(0)} ms`);
});

test('folders come back sorted by name (numbers in order), counted, and paged', async () => {
  const first = (await post(served, 'fs:list', { path: big })).json.data;
  assert.equal(first.totalFolders, FOLDERS);
  assert.equal(first.imageFiles, FILES);
  assert.equal(first.truncated, false);
  assert.equal(first.entries.length, 5000, 'one page at most');
  assert.deepEqual(first.entries.slice(0, 3).map((e: { name: string }) => e.name), ['case_0', 'case_1', 'case_2']);
  assert.equal(first.entries[10].name, 'case_10');
  const rest = (await post(served, 'fs:list', { path: big, offset: 5000, limit: 5000 })).json.data;
  assert.equal(rest.entries.length, FOLDERS - 5000);
  assert.equal(rest.entries.at(-1).name, `case_${FOLDERS - 1}`);
  assert.equal(rest.entries[0].path, join(big, 'case_5000'));
  const tooMany = await post(served, 'fs:list', { path: big, limit: 100_000 });
  assert.equal(tooMany.json.error.code, 'VALIDATION');
});

test('at most four listings run at once; the next is refused until one ends', async () => {
  const five = await Promise.allSettled(Array.from({ length: 5 }, () => listDir(big)));
  const refused = five.filter((r) => r.status === 'rejected');
  assert.equal(refused.length, 1);
  assert.match(String((refused[0] as PromiseRejectedResult).reason.message), /Still waiting for 4 folder listings/);
  assert.equal((refused[0] as PromiseRejectedResult).reason.code, 'CONFLICT');
  for (const r of five) if (r.status === 'fulfilled') assert.equal(r.value.totalFolders, FOLDERS);
  // The threads are gone once their replies are in (their 'exit' follows): a new listing starts again.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await listDir(big, { limit: 1 })).entries.length, 1);
});

test('a listing that does not answer in time is abandoned with an error, and the next one works', async () => {
  await assert.rejects(listDir(big, { timeoutMs: 1 }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'BAD_INPUT');
    assert.match(e.message, /no answer in/);
    return true;
  });
  const small = tempDir('loupe-faults-fs-small-');
  mkdirSync(join(small, 'a'));
  const listing = await listDir(small);
  assert.deepEqual(listing.entries.map((e) => e.name), ['a']);
});

test('missing folders and files are reported as such', async () => {
  const missing = await post(served, 'fs:list', { path: join(big, 'nope') });
  assert.equal(missing.json.error.code, 'NOT_FOUND');
  const file = await post(served, 'fs:list', { path: join(big, 'scan_1.png') });
  assert.equal(file.json.error.code, 'BAD_INPUT');
  assert.match(file.json.error.message, /Not a folder/);
});
