/**
 * `loupe serve [project]`: the browser host, for headless machines and for the e2e tests.
 * The token never goes on a command line, where any local user can read it with `ps`: a fixed one comes from
 * LOUPE_TOKEN or `--token-file`, and `--open` hands the browser a private file that redirects to the address.
 */
import { parseArgs } from 'node:util';
import { applyBackendFlags, BACKEND_OPTIONS } from '../backend-flags.ts';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { assertStrongToken } from '../../host/token.ts';
import { onStop } from '../stop.ts';

const STATIC_DIR = fileURLToPath(new URL('../../../dist/renderer', import.meta.url));

export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '0' },
      open: { type: 'boolean', default: false },
      'no-open': { type: 'boolean', default: false },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      ...BACKEND_OPTIONS,
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`loupe: --port must be a port number, got '${values.port}'\n`);
    return 2;
  }
  if (values.token !== undefined) {
    process.stderr.write('loupe: --token would show the token to every local user (ps); use LOUPE_TOKEN or --token-file\n');
    return 2;
  }
  // The runs started from the page train where these say (the training processes inherit them).
  applyBackendFlags(values);
  const token = fixedToken(values['token-file']);
  if (token instanceof Error) {
    process.stderr.write(`loupe: ${token.message}\n`);
    return 2;
  }
  // Loaded once the arguments are known good: a refused command line answers at once.
  const [{ LoupeCore }, { defaultConfigDir }, { startHost }] = await Promise.all([
    import('../../core/api/loupe-core.ts'),
    import('../../core/project/config-dir.ts'),
    import('../../host/server.ts'),
  ]);
  // Ctrl-C, SIGTERM, or the reader of this output gone (stop.ts): the server closes cleanly either way. Listened
  // for before anything starts or is printed: until a listener exists, a SIGINT takes the OS's default action and
  // kills the process, and a Ctrl-C sent right after "Press Ctrl-C to stop" appeared did that now and then.
  let stop!: () => void;
  const stopped = new Promise<void>((done) => (stop = done));
  // Watching ends with the first stop: a second Ctrl-C while the server closes quits at once, as before.
  const stopWatching = onStop(() => {
    stopWatching();
    stop();
  });
  process.once('SIGTERM', stop);
  const core = new LoupeCore({ face: 'host', configDir: defaultConfigDir() });
  let opened: string | null = null;
  try {
    const [projectDir] = positionals;
    if (projectDir) core.openProject(resolve(projectDir), { create: true });
    const host = await startHost({
      core,
      port,
      staticDir: STATIC_DIR,
      token,
      log: (l) => process.stderr.write(l + '\n'),
    });
    process.stdout.write(`Loupe is serving ${host.url}\n`);
    process.stdout.write('Open that address in a browser on this machine. Press Ctrl-C to stop.\n');
    opened = values.open && !values['no-open'] ? openBrowser(host.url) : null;
    await stopped;
    process.stderr.write('Stopping…\n');
    await host.close();
  } finally {
    stopWatching();
    process.off('SIGTERM', stop);
    await core.shutdown();
    if (opened) rmSync(opened, { recursive: true, force: true });
  }
  return 0;
}

/** The token from --token-file or LOUPE_TOKEN (trimmed), undefined for a random one, or why it is refused. */
function fixedToken(file: string | undefined): string | undefined | Error {
  let token: string | undefined;
  try {
    token = file !== undefined ? readHead(file, 4096).trim() : process.env['LOUPE_TOKEN']?.trim() || undefined;
  } catch (e) {
    return new Error(`cannot read --token-file: ${(e as Error).message}`);
  }
  if (token === undefined) return undefined;
  try {
    assertStrongToken(token);
  } catch (e) {
    return e as Error;
  }
  return token;
}

/** The first `max` bytes of a file: a token file named by mistake as /dev/zero must not fill memory. */
function readHead(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    return buf.subarray(0, readSync(fd, buf, 0, max, null)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens the address through a redirect page only this user can read, so the browser's command line carries a
 * file name, not the token (the way Jupyter opens its notebooks). Returns the folder to remove on exit.
 */
function openBrowser(url: string): string | null {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'loupe-open-'));
    const page = join(dir, 'open.html');
    const href = url.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
    writeFileSync(
      page,
      `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
        `<meta http-equiv="refresh" content="0;url=${href}"><title>Loupe</title><a href="${href}">Open Loupe</a>`,
      { mode: 0o600 },
    );
    const child = spawn(cmd, [page], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`Could not open a browser (${cmd}); open the address yourself.\n`));
    child.unref();
  } catch {
    // No browser launcher or no temp folder: the printed address is enough.
    return null;
  }
  return dir;
}
