/**
 * The renderer lock-down (issue 7, Electron's security checklist): a strict CSP, no navigation, no new
 * windows, no permissions, no downloads, and no network at all — every request that is not to the app's own
 * files or the `loupe://` protocol is cancelled and logged. IPC senders are checked here too.
 *
 * Functions take the Electron objects they touch, so tests drive them with small fakes.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Event as ElectronEvent, IpcMainInvokeEvent, Session, WebContents } from 'electron';
import { MEDIA_SCHEME } from '../../shared/transport.ts';

export type Logger = (message: string) => void;

/**
 * The policy of the app's pages. No remote origin anywhere, no eval (`'unsafe-eval'` absent), no inline
 * script. Inline styles are allowed because Svelte writes `style=` attributes for the grid's absolute layout.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  `img-src 'self' ${MEDIA_SCHEME}: data: blob:`,
  "font-src 'self' data:",
  `connect-src 'self' ${MEDIA_SCHEME}:`,
  "worker-src 'self' blob:",
  "object-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** True when `url` is a file:// URL inside one of `roots` (after `..` and %-escapes are resolved). */
export function isFileUrlInside(url: string, roots: readonly string[]): boolean {
  let path: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'file:') return false;
    // fileURLToPath refuses encoded separators (%2F, %5C) and resolves the rest; the URL parser has already
    // collapsed `..` and `%2e%2e` segments.
    path = resolve(fileURLToPath(parsed));
  } catch {
    return false;
  }
  return roots.some((root) => {
    const rel = relative(resolve(root), path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  });
}

export interface GuardOptions {
  /** Folders whose files the app may load over file:// (the built renderer). */
  fileRoots: readonly string[];
  log: Logger;
}

/**
 * The network guard. `loupe:` has its own strict handler (protocol.ts); `devtools:` is the built-in DevTools
 * front end; `data:`/`blob:` never leave the process. Everything else — http(s), ws(s), ftp, other file:// paths —
 * is refused: Loupe is offline by design (issue 7).
 */
export function isAllowedRequestUrl(url: string, fileRoots: readonly string[]): boolean {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return false;
  }
  if (protocol === `${MEDIA_SCHEME}:` || protocol === 'data:' || protocol === 'blob:' || protocol === 'devtools:') {
    return true;
  }
  if (protocol === 'file:') return isFileUrlInside(url, fileRoots);
  return false;
}

export type SessionLike = Pick<
  Session,
  'setPermissionRequestHandler' | 'setPermissionCheckHandler' | 'setDevicePermissionHandler' | 'on'
> & {
  webRequest: Pick<Session['webRequest'], 'onBeforeRequest' | 'onHeadersReceived'>;
};

export function installSessionGuards(session: SessionLike, opts: GuardOptions): void {
  session.webRequest.onBeforeRequest((details, callback) => {
    if (isAllowedRequestUrl(details.url, opts.fileRoots)) {
      callback({});
      return;
    }
    opts.log(`Loupe blocked a ${details.resourceType} request to ${details.url}`);
    callback({ cancel: true });
  });

  // Recent Electron applies this header to file:// pages too; the page Electron loads (dist/renderer/electron.html,
  // see scripts/build-electron.js) also carries the policy as a <meta> tag, for when it does not
  // (electron/electron#14768).
  session.webRequest.onHeadersReceived((details, callback) => {
    const isPage = details.resourceType === 'mainFrame' || details.resourceType === 'subFrame';
    if (!isPage) {
      callback({});
      return;
    }
    const headers: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(details.responseHeaders ?? {})) {
      // Drop any policy a response brings, so ours is the only one.
      if (name.toLowerCase() !== 'content-security-policy') headers[name] = value;
    }
    headers['Content-Security-Policy'] = [CONTENT_SECURITY_POLICY];
    callback({ responseHeaders: headers });
  });

  session.setPermissionRequestHandler((_contents, permission, callback) => {
    opts.log(`Loupe denied a permission request: ${permission}`);
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.on('will-download', (event, item) => {
    opts.log(`Loupe refused a download: ${item.getURL()}`);
    event.preventDefault();
  });
}

export interface WebContentsLike {
  on(event: 'will-navigate' | 'will-redirect', listener: (event: ElectronEvent, url: string) => void): unknown;
  on(event: 'will-frame-navigate', listener: (event: ElectronEvent & { url: string }) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: ElectronEvent) => void): unknown;
  setWindowOpenHandler: WebContents['setWindowOpenHandler'];
}

/**
 * Applied to every WebContents the app creates (app 'web-contents-created'). In-page navigation (hash
 * routes) does not fire these events, so the UI keeps working; loading any other document is refused.
 */
export function guardWebContents(contents: WebContentsLike, opts: { appPages: readonly string[]; log: Logger }): void {
  const isAppPage = (url: string): boolean => {
    try {
      const u = new URL(url);
      u.hash = '';
      u.search = '';
      return u.protocol === 'file:' && opts.appPages.some((page) => resolve(fileURLToPath(u)) === resolve(page));
    } catch {
      return false;
    }
  };
  contents.on('will-navigate', (event, url) => {
    if (isAppPage(url)) return;
    opts.log(`Loupe refused navigation to ${url}`);
    event.preventDefault();
  });
  contents.on('will-frame-navigate', (event) => {
    if (isAppPage(event.url)) return;
    opts.log(`Loupe refused frame navigation to ${event.url}`);
    event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    opts.log(`Loupe refused a redirect to ${url}`);
    event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => {
    opts.log('Loupe refused to attach a <webview>');
    event.preventDefault();
  });
  contents.setWindowOpenHandler((details) => {
    opts.log(`Loupe refused to open a window for ${details.url}`);
    return { action: 'deny' };
  });
}

export interface FrameLike {
  readonly url: string;
  readonly processId: number;
  readonly frameToken: string;
  readonly parent: unknown;
}

export type SenderEvent = Pick<IpcMainInvokeEvent, 'sender'> & { readonly senderFrame: FrameLike | null };

/**
 * An IPC call is served only when it comes from the main frame of our own window showing our own page:
 * never from a subframe, another window or a page that navigated elsewhere.
 */
export function isTrustedSender(
  event: SenderEvent,
  window: { readonly webContents: unknown; isDestroyed(): boolean } | null,
  rendererDir: string,
): boolean {
  if (!window || window.isDestroyed()) return false;
  const frame = event.senderFrame;
  if (!frame || frame.parent !== null) return false;
  if (event.sender !== window.webContents) return false;
  const main = (window.webContents as { mainFrame?: FrameLike }).mainFrame;
  if (!main || main.frameToken !== frame.frameToken || main.processId !== frame.processId) return false;
  return isFileUrlInside(frame.url, [rendererDir]);
}
