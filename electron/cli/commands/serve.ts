/** `loupe serve [project]`: the browser host, for headless machines and for the e2e tests. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { LoupeCore } from '../../core/api/loupe-core.ts';
import { defaultConfigDir } from '../../core/project/config-dir.ts';
import { startHost } from '../../host/server.ts';

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
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`loupe: --port must be a port number, got '${values.port}'\n`);
    return 2;
  }
  const core = new LoupeCore({ face: 'host', configDir: defaultConfigDir() });
  const [projectDir] = positionals;
  if (projectDir) core.openProject(resolve(projectDir), { create: true });
  const host = await startHost({
    core,
    port,
    staticDir: STATIC_DIR,
    token: values.token,
    log: (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(`Loupe is serving ${host.url}\n`);
  process.stdout.write('Open that address in a browser on this machine. Press Ctrl-C to stop.\n');
  if (values.open && !values['no-open']) openBrowser(host.url);

  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('Stopping…\n');
  await host.close();
  await core.shutdown();
  return 0;
}

function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`Could not open a browser (${cmd}); open the address yourself.\n`));
    child.unref();
  } catch {
    // No browser launcher: the printed address is enough.
  }
}
