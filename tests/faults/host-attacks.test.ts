/**
 * Attacks on a live `loupe serve` (the real CLI in a child process), each one a way a local user or a broken
 * client could take the host down, read its token or leave patient images behind (issue 14).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe, type Served } from '../e2e/support/serve.ts';
import { importedProject, post, projectDigest, raw } from './support/live-host.ts';
import { MAX_BODY_BYTES } from '../../electron/host/server.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let home: string;
let project: string;
let served: Served;

before(async () => {
  home = tempDir('loupe-faults-');
  project = await importedProject(home);
  served = await startServe({ home, project, ui: false });
});
after(() => served.stop());

/** `loupe serve` that is expected to refuse its arguments: its exit code and stderr (killed after 20 s). */
function serveOnce(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['bin/loupe.js', 'serve', '--no-open', ...args], {
    cwd: ROOT,
    env: { ...process.env, HOME: home, LOUPE_CONFIG_DIR: join(home, 'config'), LOUPE_TOKEN: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 20_000,
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stderr })));
}

test('a token on the command line is refused; a weak one from the environment or a file too', async () => {
  const strong = 'k3Jq9-Xw_2LmPz8RtYv4NbH6cD1sFgQa';
  const file = join(home, 'weak-token');
  writeFileSync(file, 'short\n', { mode: 0o600 });
  const weak = ['0123456789abcdef0123456789abcde', 'a token with spaces in it, long enough'];
  const [onArgv, fromFile, ...fromEnv] = await Promise.all([
    serveOnce(['--token', strong]),
    serveOnce(['--token-file', file]),
    ...weak.map((w) => serveOnce([], { LOUPE_TOKEN: w })),
  ]);
  assert.equal(onArgv!.status, 2, onArgv!.stderr);
  assert.match(onArgv!.stderr, /--token would show the token/);
  for (const r of [fromFile!, ...fromEnv]) {
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /at least 128 bits/);
  }
});

test('a strong token from --token-file or LOUPE_TOKEN guards the host', async () => {
  const token = 'k3Jq9-Xw_2LmPz8RtYv4NbH6cD1sFgQa';
  const file = join(home, 'token');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  const fromFile = await startServe({ home, ui: false, args: ['--no-open', '--token-file', file] });
  try {
    assert.equal(fromFile.token, token);
    assert.equal((await post(fromFile, 'app:info', {})).status, 200);
    assert.equal((await raw(fromFile, '/api/app:info', { body: '{}', token: 'z'.repeat(32) })).status, 403);
  } finally {
    await fromFile.stop();
  }
  const fromEnv = await startServe({ home, ui: false, token });
  try {
    assert.equal(fromEnv.token, token);
    assert.equal((await post(fromEnv, 'app:info', {})).status, 200);
  } finally {
    await fromEnv.stop();
  }
});

test('--open hands the browser a private redirect file, never the token on its command line', async () => {
  const bin = join(home, 'bin');
  mkdirSync(bin, { recursive: true });
  const argvLog = join(home, 'xdg-open.argv');
  // Stands in for the desktop's browser launcher: records the command line another user could read with ps.
  writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${argvLog}'\n`);
  chmodSync(join(bin, 'xdg-open'), 0o755);
  const opened = await startServe({ home, ui: false, args: ['--open'], env: { PATH: `${bin}:${process.env['PATH']}` } });
  let page: string;
  try {
    for (let i = 0; i < 100 && !existsSync(argvLog); i++) await new Promise((r) => setTimeout(r, 50));
    const argv = readFileSync(argvLog, 'utf8').trim().split('\n');
    assert.equal(argv.length, 1);
    assert.ok(!argv.join(' ').includes(opened.token), 'the token is not on the launcher’s command line');
    page = argv[0]!;
    assert.equal(statSync(page).mode & 0o077, 0, 'only this user can read the redirect page');
    assert.ok(readFileSync(page, 'utf8').includes(opened.url), 'it redirects to the tokened address');
  } finally {
    await opened.stop();
  }
  assert.equal(existsSync(page), false, 'removed when the host stops');
});

test('malformed paths get 400, not 500, and do not take the host down', async () => {
  for (const path of ['/api/%E0', '/api/%', '/api/app%3Ainfo%E0%A4%A']) {
    const r = await raw(served, path, { body: '{}' });
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.equal(r.json?.error?.code, 'VALIDATION', path);
  }
  assert.equal((await raw(served, '//', { method: 'GET', token: null })).status, 400);
  // The same path as a WebSocket upgrade threw inside Node's 'upgrade' event, which killed the process.
  const upgrade = await rawExchange(
    served,
    `GET // HTTP/1.1\r\nHost: ${new URL(served.origin).host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  assert.match(upgrade, /^HTTP\/1\.1 403/);
  assert.equal((await raw(served, '/%E0', { method: 'GET', token: null })).status, 404);
  assert.equal((await post(served, 'app:info', {})).status, 200, 'still answering');
});

test('media ids outside the safe-integer range are rejected, and media is never cached', async () => {
  const token = `?token=${served.token}`;
  const tooBig = await raw(served, `/media/thumb/9999999999999999${token}`, { method: 'GET', token: null });
  assert.equal(tooBig.status, 400);
  assert.equal((await raw(served, `/media/thumb/9007199254740993${token}`, { method: 'GET', token: null })).status, 400);
  const ids = (await post(served, 'images:query', { limit: 1 })).json.data.items as { id: number }[];
  for (const kind of ['thumb', 'image', 'raw']) {
    const r = await raw(served, `/media/${kind}/${ids[0]!.id}${token}`, { method: 'GET', token: null });
    assert.equal(r.status, 200, kind);
    assert.equal(r.headers['cache-control'], 'no-store', `${kind}: patient images stay out of the disk cache`);
  }
  for (const body of ['{"id":9007199254740992}', '{"id":9007199254740993}', '{"id":1e300}', '{"id":-9007199254740993}']) {
    const r = await raw(served, '/api/images:get', { body });
    assert.equal(r.status, 400, body);
    assert.equal(r.json.error.code, 'VALIDATION');
  }
});

test('a body over the limit gets its JSON error before the connection closes', async () => {
  const before = projectDigest(project);
  const big = Buffer.alloc(MAX_BODY_BYTES + 1024 * 1024, 0x20);
  // Declared up front (Content-Length) and discovered while reading (chunked, no length).
  const declared = await raw(served, '/api/labels:importCsv', { body: big });
  const chunked = await raw(served, '/api/labels:importCsv', {
    chunks: Array.from({ length: 17 }, () => big.subarray(0, 1024 * 1024)),
    headers: { 'transfer-encoding': 'chunked' },
  });
  for (const r of [declared, chunked]) {
    assert.equal(r.status, 413, r.text);
    assert.equal(r.json.ok, false);
    assert.equal(r.json.error.code, 'VALIDATION');
    assert.match(r.json.error.message, /larger than 16 MiB/);
  }
  assert.equal((await post(served, 'app:info', {})).status, 200);
  assert.deepEqual(projectDigest(project), before);
});

/** Writes raw bytes on one connection and returns what came back before it closed (or within 2 s). */
function rawExchange(s: Served, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(s.origin).port), '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, 2000);
    socket.on('data', (d) => (got += d.toString()));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', reject);
    socket.write(bytes);
  });
}
