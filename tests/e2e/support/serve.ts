/**
 * Starts a real `loupe serve` child process (the browser host) for e2e tests and benches, with its own config
 * dir and HOME in a temp folder so it never touches the developer's recent projects.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Served {
  url: string;
  origin: string;
  token: string;
  child: ChildProcess;
  /** stderr so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Fails early with a clear message when the UI was never built. */
export function assertRendererBuilt(): void {
  if (!existsSync(`${ROOT}dist/renderer/index.html`)) {
    throw new Error('dist/renderer is missing: run `npx vite build` (npm install runs it via `prepare`).');
  }
}

export async function startServe(opts: {
  home: string;
  project?: string;
  timeoutMs?: number;
  /** Fixed port and token: to restart "the same" host and see the page reconnect. */
  port?: number;
  token?: string;
  /** Instead of `--no-open` (the fault tests: `--open`). */
  args?: string[];
  env?: Record<string, string>;
  /** The fault tests talk to the API only: they need no built UI. */
  ui?: boolean;
  /** Runs it under `ulimit -n` (the fault tests flood it with connections). */
  maxOpenFiles?: number;
}): Promise<Served> {
  if (opts.ui !== false) assertRendererBuilt();
  const args = ['bin/loupe.js', 'serve', ...(opts.project ? [opts.project] : []), '--port', String(opts.port ?? 0), ...(opts.args ?? ['--no-open'])];
  const [cmd, argv] = opts.maxOpenFiles
    ? ['/bin/sh', ['-c', `ulimit -n ${opts.maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...args]]
    : [process.execPath, args];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...opts.env,
      HOME: opts.home,
      LOUPE_CONFIG_DIR: `${opts.home}/.config/loupe`,
      XDG_CONFIG_HOME: `${opts.home}/.config`,
      // Never on the command line (issue 14); unset, the host picks a random one.
      LOUPE_TOKEN: opts.token ?? '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`loupe serve did not start in time:\n${stderr}`)), opts.timeoutMs ?? 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Loupe is serving (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`loupe serve exited with ${code}:\n${stderr}`));
    });
  });
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    token: parsed.searchParams.get('token') ?? '',
    child,
    log: () => stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
