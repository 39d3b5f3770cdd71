// The browser host against a real core, real SQLite and real HTTP/WebSocket: the token, host and origin
// checks, the contract routing, validation errors and the event stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import WebSocket from 'ws';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { startHost, type Host } from '../../electron/host/server.ts';
import { methods, type Method } from '../../shared/contract.ts';
import { TOKEN_HEADER } from '../../shared/transport.ts';
import { tempDir } from '../helpers/tmp.ts';

let core: LoupeCore;
let host: Host;
let staticDir: string;
const logged: string[] = [];

function call(path: string, opts: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; json: any; text: string }>((resolve, reject) => {
    const body = opts.body === undefined ? '' : JSON.stringify(opts.body);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.headers ?? {}) };
    if (opts.token !== null) headers[TOKEN_HEADER] = opts.token ?? host.token;
    const req = request({ host: '127.0.0.1', port: host.port, path, method: opts.method ?? 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  const root = tempDir();
  staticDir = join(root, 'static');
  mkdirSync(staticDir);
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Loupe</title>');
  core = new LoupeCore({ face: 'host', configDir: join(root, 'config') });
  core.openProject(join(root, 'project'), { create: true });
  host = await startHost({ core, staticDir, log: (line) => logged.push(line) });
});
after(async () => {
  await host.close();
  await core.shutdown();
});

test('binds to 127.0.0.1 and prints a URL carrying a long random token', () => {
  assert.match(host.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);
});

test('every contract method has a core handler and is routed by the host', async () => {
  for (const m of methods) assert.equal(typeof core.handlers[m], 'function', m);
  for (const m of methods) {
    const r = await call(`/api/${m}`, { body: { __bogus: 1 } });
    // Any reply but "unknown method" proves the route: strict schemas reject the bogus field.
    assert.notEqual(r.json?.error?.message, `Unknown method: ${m}`);
    assert.equal(r.json?.ok, false, `${m} must reject an unknown field`);
    assert.equal(r.json?.error?.code, 'VALIDATION', `${m}: ${r.text}`);
  }
});

test('calls without the token, with a wrong token or from a foreign origin are refused', async () => {
  assert.equal((await call('/api/app:info', { body: {}, token: null })).status, 403);
  assert.equal((await call('/api/app:info', { body: {}, token: 'x'.repeat(32) })).status, 403);
  assert.equal((await call('/api/app:info', { body: {}, headers: { origin: 'http://evil.example' } })).status, 403);
  assert.equal((await call('/api/app:info', { body: {}, headers: { host: 'evil.example' } })).status, 421);
  const ok = await call('/api/app:info', { body: {} });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.data.face, 'host');
  assert.ok(ok.json.data.project);
});

test('invalid payloads and unknown methods get typed errors', async () => {
  const bad = await call('/api/images:query', { body: { limit: -5 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'VALIDATION');
  assert.match(bad.json.error.message, /limit/);
  const notJson = await new Promise<number>((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: host.port, path: '/api/app:info', method: 'POST', headers: { [TOKEN_HEADER]: host.token } },
      (res) => resolve(res.statusCode ?? 0),
    );
    req.end('{not json');
  });
  assert.equal(notJson, 400);
  const unknown = await call('/api/images:delete', { body: {} });
  assert.equal(unknown.status, 404);
  const missing = await call('/api/images:get', { body: { id: 999999 } });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'NOT_FOUND');
});

test('media and static routes refuse paths, traversal and missing tokens', async () => {
  for (const p of [
    '/media/thumb/1',
    `/media/thumb/..%2F..%2Fetc%2Fpasswd?token=${host.token}`,
    `/media/thumb/-1?token=${host.token}`,
    `/media/file/1?token=${host.token}`,
    `/media/thumb/%2Fetc%2Fpasswd?token=${host.token}`,
  ]) {
    const r = await call(p, { method: 'GET', token: null });
    assert.ok([403, 404].includes(r.status), `${p} -> ${r.status}`);
  }
  const r = await call(`/media/thumb/12345?token=${host.token}`, { method: 'GET', token: null });
  assert.equal(r.status, 404);
  for (const p of ['/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%5c..%5cetc%5cpasswd']) {
    const s = await call(p, { method: 'GET', token: null });
    assert.equal(s.status, 404, p);
    assert.doesNotMatch(s.text, /root:/);
  }
  const index = await call('/', { method: 'GET', token: null });
  assert.equal(index.status, 200);
  assert.match(index.text, /Loupe/);
});

test('events arrive over the WebSocket only with the token', async () => {
  const refused = await new Promise<boolean>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/events?token=wrong`);
    ws.on('open', () => resolve(false));
    ws.on('error', () => resolve(true));
  });
  assert.ok(refused);
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}/events?token=${host.token}`);
  await new Promise((r) => ws.on('open', r));
  const got = new Promise<any>((resolve) => ws.on('message', (m) => resolve(JSON.parse(String(m)))));
  core.emit('project:changed', { reason: 'classes' });
  const msg = await got;
  assert.deepEqual(msg, { event: 'project:changed', payload: { reason: 'classes' } });
  ws.close();
});

test('calls over the WebSocket get the same replies as POST, matched by number; other frames are ignored', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}/events?token=${host.token}`);
  await new Promise((r) => ws.on('open', r));
  const replies = new Map<number, any>();
  ws.on('message', (m) => {
    const msg = JSON.parse(String(m));
    if ('call' in msg) replies.set(msg.call, msg.reply);
  });
  const until = async (n: number) => {
    while (!replies.has(n)) await new Promise((r) => setTimeout(r, 5));
    return replies.get(n);
  };
  // Not calls: no number, not JSON, binary. Nothing answers them and the socket stays usable.
  ws.send(JSON.stringify({ method: 'app:info', request: {} }));
  ws.send('not json');
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  ws.send(JSON.stringify({ call: 7, method: 'app:info', request: {} }));
  ws.send(JSON.stringify({ call: 8, method: 'no:such', request: {} }));
  ws.send(JSON.stringify({ call: 9, method: 'images:query', request: { limit: 'many' } }));
  const info = await until(7);
  assert.deepEqual(info, (await call('/api/app:info', { body: {} })).json);
  assert.equal(info.ok, true);
  const unknown = await until(8);
  assert.equal(unknown.ok, false);
  assert.equal(unknown.error.code, 'NOT_FOUND');
  const invalid = await until(9);
  assert.equal(invalid.error.code, (await call('/api/images:query', { body: { limit: 'many' } })).json.error.code);
  assert.deepEqual([...replies.keys()].sort(), [7, 8, 9]);
  ws.close();
});

test('a server error after listening (a failed accept, EMFILE) is logged, and the host keeps answering', async () => {
  // Node throws an 'error' event nobody listens to, which would end the host and its open project with it.
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
  assert.doesNotThrow(() => host.server.emit('error', emfile));
  assert.doesNotThrow(() => host.server.emit('error', emfile), 'and again');
  assert.equal(logged.filter((l) => l.includes('accept EMFILE')).length, 2);
  assert.equal((await call('/api/app:info', { body: {} })).status, 200);
});

test('methods that need a project say so when none is open', async () => {
  const root = tempDir();
  const bare = new LoupeCore({ face: 'host', configDir: join(root, 'config') });
  const needsProject: Method[] = ['project:summary', 'classes:list', 'images:query'];
  for (const m of needsProject) {
    await assert.rejects(bare.dispatch(m, {}), (e: any) => e.code === 'NO_PROJECT');
  }
  await bare.shutdown();
});

test('a host that stops answers the calls it has begun, then refuses new connections', async () => {
  const stopping = await startHost({ core, staticDir, log: (line) => logged.push(line) });
  const body = JSON.stringify({});
  let closed: Promise<void> | undefined;
  // A call in flight as the host stops: its headers are in, the body is still on its way.
  const reply = new Promise<number>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: stopping.port, path: '/api/app:info', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(body.length), [TOKEN_HEADER]: stopping.token } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    stopping.server.once('request', () => {
      closed = stopping.close();
      setTimeout(() => req.end(body), 50);
    });
  });
  assert.equal(await reply, 200, 'the call begun before the stop gets its answer, not a reset');
  const t0 = performance.now();
  await closed;
  // Its connection was let go once answered, not held to the end of the grace period.
  assert.ok(performance.now() - t0 < 1000, `the host took ${(performance.now() - t0).toFixed(0)} ms more to stop`);
  await assert.rejects(
    new Promise((resolve, reject) => request({ host: '127.0.0.1', port: stopping.port, path: '/', method: 'GET', agent: false }, resolve).on('error', reject).end()),
    (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED',
  );
});
