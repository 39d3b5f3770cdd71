/**
 * What a CLI command that neither trains, predicts nor writes a report loads: not TensorFlow.js and not pdfkit.
 * Each costs about half a second at every start, which `loupe import` of a few hundred DICOM files would pay as
 * a tenth of its time (bench:dicom), and scripts calling `loupe info` in a loop pay on every call. The same holds
 * for the CLI's bundle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli } from '../../scripts/build-electron.js';

const root = join(import.meta.dirname, '..', '..');

/** The CommonJS packages and ES modules that `import` then `info` load through the CLI entry `main`. */
function loadedBy(main: string, viaTsx: boolean): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'loupe-cli-start-'));
  try {
    // The CLI's own entry, run in a child that lists the CommonJS packages it loaded once the commands are done.
    const script = `
      const { main } = await import(${JSON.stringify(main)});
      const project = ${JSON.stringify(join(dir, 'project'))};
      const codes = [await main(['import', project, ${JSON.stringify(join(root, 'resources'))}, '--json']), await main(['info', project, '--json'])];
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ codes, loaded }));`;
    // ES modules (pdfkit is one) are not in require.cache: a resolve hook writes down each one resolved.
    const esmLog = join(dir, 'esm.log');
    const hook = `import { appendFileSync } from 'node:fs';
      export async function resolve(specifier, context, next) {
        const r = await next(specifier, context);
        appendFileSync(${JSON.stringify(esmLog)}, r.url + '\\n');
        return r;
      }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, ...(viaTsx ? ['--import', 'tsx'] : []), '--input-type=module', '-e', script], {
      encoding: 'utf8', cwd: root, timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { codes: number[]; loaded: string[] };
    assert.deepEqual(result.codes, [0, 0]);
    const loaded = [...result.loaded, ...readFileSync(esmLog, 'utf8').split('\n')];
    // The check can see what it looks for: the CLI's own CommonJS dependencies are listed.
    assert.ok(loaded.some((p) => p.includes('node_modules/better-sqlite3/')), 'better-sqlite3 (CommonJS) is listed');
    return loaded;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const heavy = (loaded: string[]) => loaded.filter((p) => /node_modules\/(@tensorflow|pdfkit|fontkit)\//.test(p));

test('loupe import and info load neither TensorFlow.js nor pdfkit', () => {
  const loaded = loadedBy(join(root, 'electron', 'cli', 'main.ts'), true);
  assert.ok(loaded.some((p) => p.includes('/electron/core/import/importer.ts')), 'the importer (an ES module) is listed');
  assert.deepEqual(heavy(loaded), []);
});

test("nor from the CLI's bundle (dist/cli/, what bin/loupe.js runs after npm ci), whose chunks split as the commands' imports do", async () => {
  const outdir = join(root, 'dist', 'test-cli-start', String(process.pid));
  try {
    await buildCli(outdir);
    const loaded = loadedBy(join(outdir, 'main.js'), false);
    assert.ok(loaded.some((p) => p.includes(`/dist/test-cli-start/${process.pid}/`) && !p.endsWith('/main.js')), 'the chunks (ES modules) are listed');
    assert.deepEqual(heavy(loaded), []);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
