/**
 * The browser host (`loupe serve`): the same contract as the desktop app, over HTTP + WebSocket on 127.0.0.1.
 * A random per-launch token guards every API call, event stream and media request, so pages of other local
 * users (or other sites, via DNS rebinding) cannot drive it. See shared/transport.ts for the wire format.
 * Calls come by POST or as frames on the page's WebSocket (the page uses the socket once it is open: a frame
 * costs Chromium far less than a fetch, which is most of a label keystroke's round trip).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { LoupeError, type ErrorCode } from '../../shared/contract.ts';
import { CALL_TOO_LARGE_MESSAGE, MAX_CALL_BYTES, TOKEN_HEADER, isWireCall, mediaKinds, type WireCallReply, type WireEvent, type WireReply } from '../../shared/transport.ts';
import type { LoupeCore } from '../core/api/loupe-core.ts';
import { invokeMethod, toErrorEnvelope } from '../core/api/wire.ts';
import { renderMedia } from '../core/images/media.ts';
import { readStatic } from './static-files.ts';
import { assertStrongToken } from './token.ts';

/** A request body or call frame (see MAX_CALL_BYTES). */
export const MAX_BODY_BYTES = MAX_CALL_BYTES;
/**
 * How much of an oversized body is read and discarded, and for how long, before its 413 goes out: a socket
 * closed with unread data is reset by the kernel, and the client would lose the answer in a broken pipe.
 */
const DRAIN_OVERSIZED_BYTES = 4 * MAX_BODY_BYTES;
const DRAIN_OVERSIZED_MS = 10_000;
/** How long a stopping host lets the requests it is answering finish before it cuts their connections. */
const CLOSE_GRACE_MS = 2000;
const STATUS: Record<ErrorCode, number> = {
  VALIDATION: 400,
  BAD_INPUT: 400,
  NOT_FOUND: 404,
  NO_PROJECT: 409,
  CONFLICT: 409,
  UNSUPPORTED: 501,
  INTERNAL: 500,
};

export interface HostOptions {
  core: LoupeCore;
  /** 0 picks a free port. */
  port?: number;
  /** The built renderer (dist/renderer). */
  staticDir: string;
  /** A fixed token (tests, a restart on the same address); random otherwise. Checked by assertStrongToken. */
  token?: string;
  log?: (line: string) => void;
}

export interface Host {
  url: string;
  port: number;
  token: string;
  /** The listening server, for tests that inject its failures. */
  readonly server: Server;
  close(): Promise<void>;
}

export async function startHost(opts: HostOptions): Promise<Host> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  assertStrongToken(token);
  const tokenBuf = Buffer.from(token);
  const log = opts.log ?? (() => {});
  let port = 0;

  const tokenOk = (candidate: string | null | undefined): boolean => {
    if (!candidate) return false;
    const c = Buffer.from(candidate);
    return c.length === tokenBuf.length && timingSafeEqual(c, tokenBuf);
  };
  // DNS rebinding: a foreign page resolving its own name to 127.0.0.1 still sends its own Host header.
  const hostOk = (req: IncomingMessage): boolean => {
    const h = req.headers.host ?? '';
    return h === `127.0.0.1:${port}` || h === `localhost:${port}`;
  };
  const originOk = (req: IncomingMessage): boolean => {
    const o = req.headers.origin;
    return o === undefined || o === `http://127.0.0.1:${port}` || o === `http://localhost:${port}`;
  };

  /** The request's URL, or null when it is not one (`//`, `http://[`): the caller answers 400. */
  const parseUrl = (req: IncomingMessage): URL | null => {
    try {
      return new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    } catch {
      return null;
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      log(`host: unexpected error: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: toErrorEnvelope(e) });
      else res.destroy();
    });
  });

  /** One call, from a POST or a socket frame. */
  async function answer(method: string, payload: unknown): Promise<WireReply<unknown>> {
    const reply = await invokeMethod(opts.core, method, payload);
    if (!reply.ok && reply.error.code === 'INTERNAL') log(`host: ${method.slice(0, 100)} failed: ${reply.error.message}`);
    return reply;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostOk(req)) return sendText(res, 421, 'Misdirected request');
    const url = parseUrl(req);
    if (!url) return sendText(res, 400, 'Bad request path');
    const path = url.pathname;

    if (path.startsWith('/api/')) {
      if (req.method !== 'POST') return sendText(res, 405, 'POST only');
      if (!originOk(req) || !tokenOk(req.headers[TOKEN_HEADER] as string | undefined)) {
        return sendJson(res, 403, { ok: false, error: { name: 'Forbidden', message: 'Bad or missing token', code: 'VALIDATION' } });
      }
      let method: string;
      try {
        method = decodeURIComponent(path.slice('/api/'.length));
      } catch {
        return sendJson(res, 400, { ok: false, error: new LoupeError('VALIDATION', 'Bad method name in the path').toEnvelope() });
      }
      const body = await readBody(req);
      if (!Buffer.isBuffer(body)) return refuseOversized(res, body.drained);
      let payload: unknown;
      try {
        payload = body.length ? JSON.parse(body.toString('utf8')) : {};
      } catch (e) {
        return sendJson(res, 400, { ok: false, error: new LoupeError('VALIDATION', `Bad request body: ${(e as Error).message}`).toEnvelope() });
      }
      const reply = await answer(method, payload);
      return sendJson(res, reply.ok ? 200 : (STATUS[reply.error.code] ?? 500), reply);
    }

    if (path.startsWith('/media/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'GET only');
      if (!tokenOk(url.searchParams.get('token'))) return sendText(res, 403, 'Bad or missing token');
      const m = /^\/media\/([a-z]+)\/([1-9][0-9]{0,15})$/.exec(path);
      const kind = m?.[1];
      if (!m || !kind || !(mediaKinds as readonly string[]).includes(kind)) return sendText(res, 404, 'Not found');
      // 16 digits reach past 2^53: such an id would round to a neighbour's.
      const imageId = Number(m[2]);
      if (!Number.isSafeInteger(imageId)) return sendText(res, 400, 'Image id out of range');
      const project = opts.core.currentProject;
      if (!project) return sendText(res, 409, 'No project is open');
      try {
        const media = await renderMedia(project, kind as (typeof mediaKinds)[number], imageId);
        res.writeHead(200, {
          'content-type': media.contentType,
          'content-length': media.body.length,
          // Patient images must not sit in the browser's disk cache (issue 14); the page keeps its own in memory.
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
        });
        res.end(req.method === 'HEAD' ? undefined : media.body);
      } catch (e) {
        const env = toErrorEnvelope(e);
        sendText(res, STATUS[env.code] ?? 500, env.message);
      }
      return;
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'GET only');
    const file = await readStatic(opts.staticDir, path);
    if (!file) {
      if (path === '/' || path === '/index.html') {
        return sendText(res, 503, 'The UI is not built: run `npm run build` (or `npx vite build`) first.');
      }
      return sendText(res, 404, 'Not found');
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy':
        `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; ` +
        `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  // Events and calls: one WebSocket per page, token-checked at the upgrade.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CALL_BYTES });
  const sockets = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    const url = parseUrl(req);
    if (!url || url.pathname !== '/events' || !hostOk(req) || !originOk(req) || !tokenOk(url.searchParams.get('token'))) {
      socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      // A frame over maxPayload is not read: ws closes the socket with CLOSE_TOO_LARGE (1009), which the page
      // turns into CALL_TOO_LARGE_MESSAGE for its calls in flight, then reconnects.
      ws.on('error', () => sockets.delete(ws));
      ws.on('message', (data, isBinary) => {
        let msg: unknown;
        try {
          msg = isBinary ? undefined : JSON.parse(String(data));
        } catch {
          // Not JSON: nothing to answer to.
        }
        // Frames that are not calls have no id to answer with; they are dropped.
        if (!isWireCall(msg)) return;
        const { call, method, request } = msg;
        void answer(method, request).then((reply) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ call, reply } satisfies WireCallReply));
        });
      });
    });
  });
  const unsubscribe = opts.core.on((event, payload) => {
    const msg = JSON.stringify({ event, payload } satisfies WireEvent);
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(msg);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Once listening, an error is one failed accept (EMFILE when a local process floods it with connections):
  // without a listener Node would throw it and take the host, and its open project, down.
  server.on('error', (e) => log(`host: server error: ${e.message}`));
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  return {
    url,
    port,
    token,
    server,
    close: async () => {
      unsubscribe();
      // Stop taking connections first (Node also ends idle keep-alive ones here): a page that sees its socket
      // close and asks again is refused, "host gone", instead of accepted and cut. Requests already being
      // answered get their reply; only what is still open after CLOSE_GRACE_MS is cut (it used to be cut at once,
      // which a page saw as ERR_CONNECTION_RESET on a call it had every right to an answer to).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const ws of sockets) ws.close(1001, 'Loupe host stopping');
      wss.close();
      // A connection whose last reply went out stays open for keep-alive: end each as soon as it is idle.
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      const cut = setTimeout(() => {
        for (const ws of sockets) ws.terminate();
        server.closeAllConnections();
      }, CLOSE_GRACE_MS);
      await closed;
      clearInterval(idle);
      clearTimeout(cut);
    },
  };
}

/**
 * The body; or, past MAX_BODY_BYTES, nothing kept while the rest is read and discarded, within
 * DRAIN_OVERSIZED_BYTES and DRAIN_OVERSIZED_MS (`drained`: all of it was).
 */
function readBody(req: IncomingMessage): Promise<Buffer | { drained: boolean }> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES + DRAIN_OVERSIZED_BYTES) return resolve({ drained: false });
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = () => {
      req.off('data', onData);
      req.pause();
      resolve({ drained: false });
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(c);
      chunks.length = 0;
      timer ??= setTimeout(giveUp, DRAIN_OVERSIZED_MS);
      if (size > MAX_BODY_BYTES + DRAIN_OVERSIZED_BYTES) giveUp();
    };
    req.on('data', onData);
    req.on('end', () => {
      clearTimeout(timer);
      resolve(size > MAX_BODY_BYTES ? { drained: true } : Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** The JSON error for an oversized body; a client still sending after the drain limits is then cut off. */
function refuseOversized(res: ServerResponse, drained: boolean): void {
  if (!drained) res.once('finish', () => res.socket?.destroy());
  sendJson(res, 413, { ok: false, error: new LoupeError('VALIDATION', CALL_TOO_LARGE_MESSAGE).toEnvelope() });
}

function sendJson(res: ServerResponse, status: number, body: WireReply<unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
