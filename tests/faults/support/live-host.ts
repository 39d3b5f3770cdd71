/**
 * The fault tests' way to a live `loupe serve` (the real CLI in a child process): a project with a few real
 * imported images, raw HTTP calls that report exactly what came back (status, headers, a reset), WebSocket
 * calls, and a digest of every row of project.db to show that an attack changed nothing.
 */
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { TOKEN_HEADER, isWireCallReply, type WireReply } from '../../../shared/transport.ts';
import { png, writeTree } from '../../fixtures/images.ts';
import { loupeCli } from '../../e2e/support/cli.ts';
import type { Served } from '../../e2e/support/serve.ts';

/** A project with two labelled classes of real PNGs, imported by the CLI. Returns its folder. */
export async function importedProject(home: string): Promise<string> {
  const images = join(home, 'images');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 4; i++) {
    files[`normal/P${i}_a.png`] = await png({ width: 24, height: 24, seed: i + 1 });
    files[`pneumonia/P${i}_b.png`] = await png({ width: 24, height: 24, seed: i + 11 });
  }
  writeTree(images, files);
  const project = join(home, 'project');
  loupeCli(['import', project, images], home);
  return project;
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One HTTP request on its own connection; rejects only if the connection broke before a full reply. */
export function raw(
  served: Served,
  path: string,
  opts: {
    method?: string;
    body?: string | Buffer;
    chunks?: Buffer[];
    token?: string | null;
    headers?: Record<string, string>;
    /** Count the reply's bytes without keeping or parsing them (a big reply must not slow this process). */
    discard?: boolean;
  } = {},
): Promise<RawReply> {
  const port = Number(new URL(served.origin).port);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
    if (opts.token !== null) headers[TOKEN_HEADER] = opts.token ?? served.token;
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'POST', headers, agent: false }, (res) => {
      const got: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => (opts.discard ? (bytes += c.length) : got.push(c)));
      res.on('error', reject);
      res.on('end', () => {
        const text = opts.discard ? `(${bytes} bytes)` : Buffer.concat(got).toString('utf8');
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body ?? '');
  });
}

export function post(served: Served, method: string, body: unknown): Promise<RawReply> {
  return raw(served, `/api/${method}`, { body: JSON.stringify(body) });
}

/** A WebSocket to the host that sends calls as frames and resolves each with its reply. */
export async function socketCaller(served: Served): Promise<{
  call(method: string, request: unknown): Promise<WireReply<unknown>>;
  /** A call whose request is given as JSON text (for requests JSON.stringify cannot write). */
  callJson(method: string, requestJson: string): Promise<WireReply<unknown>>;
  close(): void;
}> {
  const ws = new WebSocket(`${served.origin.replace('http', 'ws')}/events?token=${served.token}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const waiting = new Map<number, (r: WireReply<unknown>) => void>();
  ws.on('message', (m) => {
    const msg: unknown = JSON.parse(String(m));
    if (isWireCallReply(msg)) waiting.get(msg.call)?.(msg.reply);
  });
  let next = 0;
  const callJson = (method: string, requestJson: string) =>
    new Promise<WireReply<unknown>>((resolve, reject) => {
      const call = ++next;
      waiting.set(call, resolve);
      ws.send(`{"call":${call},"method":${JSON.stringify(method)},"request":${requestJson}}`, (e) => e && reject(e));
    });
  return {
    call: (method, req) => callJson(method, JSON.stringify(req)),
    callJson,
    close: () => ws.close(),
  };
}

/** A digest of every row of every table: equal digests mean no call changed the project's data. */
export function projectDigest(projectDir: string): { rows: Record<string, number>; hash: string } {
  const db = new Database(join(projectDir, 'project.db'), { readonly: true, fileMustExist: true });
  try {
    const hash = createHash('sha256');
    const rows: Record<string, number> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    for (const t of tables) {
      const all = db.prepare(`SELECT * FROM "${t}"`).raw().all();
      rows[t] = all.length;
      const text = all.map((row) => JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).sort();
      hash.update(t).update(text.join('\n'));
    }
    return { rows, hash: hash.digest('hex') };
  } finally {
    db.close();
  }
}

/** Latencies (ms) of `app:info` calls made back to back for as long as `during` runs. */
export async function latencyWhile(served: Served, during: Promise<unknown>): Promise<number[]> {
  let done = false;
  void during.finally(() => (done = true)).catch(() => {});
  const times: number[] = [];
  while (!done) {
    const t = performance.now();
    const r = await post(served, 'app:info', {});
    if (r.status !== 200) throw new Error(`app:info failed during the attack: ${r.status} ${r.text}`);
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  return times;
}
