/**
 * Calls over the size limit on the host's WebSocket (issue 14), against a live `loupe serve`: a frame over
 * MAX_CALL_BYTES closes the socket with 1009 and the host keeps answering; the page's transport
 * (renderer/lib/api.ts, run here in Node over the `ws` client, which has the browser's WebSocket interface) never
 * sends such a call, rejecting it at once with the same message a POST's 413 carries; and when the host does close
 * with 1009, calls in flight reject with that reason instead of hanging, and the page reconnects.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CALL_TOO_LARGE_MESSAGE, CLOSE_TOO_LARGE, MAX_CALL_BYTES } from '../../shared/transport.ts';
import { startServe, type Served } from '../e2e/support/serve.ts';
import { tempDir } from '../helpers/tmp.ts';
import { importedProject, post } from './support/live-host.ts';

let served: Served;

before(async () => {
  const home = tempDir('loupe-faults-socket-');
  served = await startServe({ home, project: await importedProject(home), ui: false });
});
after(() => served.stop());

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(cond(), what);
};

test('a frame over the limit closes the socket with 1009; the host keeps answering', async () => {
  const ws = new WebSocket(`${served.origin.replace('http', 'ws')}/events?token=${served.token}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send(`{"call":1,"method":"labels:importCsv","request":{"csv":"${'x'.repeat(MAX_CALL_BYTES)}"}}`);
  assert.equal(await closed, CLOSE_TOO_LARGE);
  assert.equal((await post(served, 'app:info', {})).status, 200);
});

test('the page refuses a call over the limit before sending it, and says so when the host closes on one', async () => {
  // The globals api.ts reads in a browser, for a page opened at the host's tokened address.
  const g = globalThis as Record<string, unknown>;
  const storage = new Map<string, string>();
  g['window'] = { location: new URL(served.url), addEventListener: () => {} };
  g['history'] = { state: null, replaceState: () => {} };
  g['sessionStorage'] = { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => storage.set(k, v) };
  g['WebSocket'] = WebSocket;
  Object.assign(g['window'] as object, { location: { href: served.url, host: new URL(served.url).host, protocol: 'http:' } });
  const { invoke, onEvent, transport } = await import('../../renderer/lib/api.ts');
  const host = transport as unknown as { connected: boolean; socket: WebSocket | null };
  const off = onEvent(() => {});
  try {
    await until(() => host.connected, 'the page connected');
    // Refused on the page: the socket stays open for every other call.
    const started = performance.now();
    await assert.rejects(invoke('labels:importCsv', { csv: 'x'.repeat(MAX_CALL_BYTES), createClasses: false }), (e: { code: string; message: string }) => {
      assert.equal(e.code, 'VALIDATION');
      assert.equal(e.message, CALL_TOO_LARGE_MESSAGE);
      return true;
    });
    assert.ok(performance.now() - started < 2000, 'rejected at once, not after a timeout');
    assert.equal(host.connected, true);
    assert.ok((await invoke('app:info', {})).version);

    // A frame over the limit that got out anyway (another client's code on the same socket): the call behind it is
    // never read; it rejects with the reason, and the page reconnects.
    host.socket!.send('x'.repeat(MAX_CALL_BYTES + 1));
    await assert.rejects(invoke('app:info', {}), (e: { code: string; message: string }) => {
      assert.equal(e.code, 'VALIDATION');
      assert.match(e.message, /larger than 16 MiB.*calls in flight were not answered/);
      return true;
    });
    await until(() => host.connected, 'the page reconnected');
    assert.ok((await invoke('app:info', {})).version);
  } finally {
    off();
    host.socket?.close();
  }
});
