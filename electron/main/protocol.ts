/**
 * `loupe://<kind>/<id>`: image bytes for the renderer without IPC (Signal's attachment protocol). The URL
 * names an image id, never a path: anything that is not exactly `<kind>/<positive integer>` is refused
 * before core sees it, and core maps the id to a file it knows (renderMedia), or answers NOT_FOUND.
 */
import type { CustomScheme, Protocol } from 'electron';
import { LoupeError, type ErrorCode, type MediaKind } from '../../shared/contract.ts';
import { MEDIA_SCHEME, mediaKinds } from '../../shared/transport.ts';
import type { Logger } from './security.ts';

/**
 * Registered before app 'ready'. `standard` gives the URLs a host (the kind) and a path (the id); `secure`
 * keeps them usable from the app's pages; `supportFetchAPI` lets the viewer fetch `raw` pixels.
 * `bypassCSP` stays off: the page's CSP names `loupe:` explicitly.
 */
export const mediaScheme: CustomScheme = {
  scheme: MEDIA_SCHEME,
  privileges: {
    standard: true,
    secure: true,
    supportFetchAPI: true,
    corsEnabled: true,
    bypassCSP: false,
    allowServiceWorkers: false,
    stream: false,
  },
};

/** Whole-URL match: no userinfo, port, query, fragment, percent-escape, dot segment or extra slash gets through. */
const MEDIA_URL = new RegExp(`^${MEDIA_SCHEME}://(${mediaKinds.join('|')})/([1-9][0-9]{0,14})$`);

/** Parses `loupe://thumb/42`; null for anything else. */
export function parseMediaUrl(url: string): { kind: MediaKind; id: number } | null {
  const m = MEDIA_URL.exec(url);
  if (!m) return null;
  const id = Number(m[2]);
  if (!Number.isSafeInteger(id) || id <= 0) return null;
  return { kind: m[1] as MediaKind, id };
}

export function mediaUrl(kind: MediaKind, id: number): string {
  return `${MEDIA_SCHEME}://${kind}/${id}`;
}

export type RenderMedia<P> = (project: P, kind: MediaKind, id: number) => Promise<{ body: Buffer; contentType: string }>;

export interface MediaHandlerOptions<P> {
  /** The open project, or null on the start screen. */
  getProject: () => P | null;
  render: RenderMedia<P>;
  log: Logger;
}

const STATUS: Record<ErrorCode, number> = {
  VALIDATION: 400,
  BAD_INPUT: 422,
  NOT_FOUND: 404,
  NO_PROJECT: 404,
  CONFLICT: 409,
  UNSUPPORTED: 415,
  INTERNAL: 500,
};

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
  });
}

/** The handler given to `protocol.handle`. Never throws: every failure is an HTTP-style status. */
export function createMediaHandler<P>(opts: MediaHandlerOptions<P>): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return text(405, 'Method not allowed');
    const target = parseMediaUrl(request.url);
    if (!target) {
      opts.log(`Loupe refused a media URL: ${request.url.slice(0, 300)}`);
      return text(400, 'Bad media URL: expected loupe://<thumb|image|raw>/<id>');
    }
    const project = opts.getProject();
    if (!project) return text(404, 'No project is open');
    try {
      const media = await opts.render(project, target.kind, target.id);
      const body = request.method === 'HEAD' ? null : new Uint8Array(media.body);
      return new Response(body, {
        status: 200,
        headers: {
          'content-type': media.contentType,
          'content-length': String(media.body.length),
          'x-content-type-options': 'nosniff',
          // Patient images must not sit in a disk cache (issue 14); ids can also be relinked to new bytes.
          'cache-control': 'no-store',
          // The app's file:// pages have the opaque origin "null"; fetch() of `raw` needs CORS to read it. Nothing
          // else can load in this app (see security.ts), so '*' exposes nothing.
          'access-control-allow-origin': '*',
        },
      });
    } catch (err) {
      if (err instanceof LoupeError) return text(STATUS[err.code], err.message);
      opts.log(`Loupe: media ${target.kind}/${target.id} failed: ${err instanceof Error ? err.message : String(err)}`);
      return text(500, 'Could not render this image');
    }
  };
}

export function registerMediaProtocol(protocol: Pick<Protocol, 'handle'>, handler: (request: Request) => Promise<Response>): void {
  protocol.handle(MEDIA_SCHEME, handler);
}
