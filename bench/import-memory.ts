/**
 * `npm run bench:import-memory`: peak RSS while importing 100,000 small images into a fresh project; target
 * under 400 MB (the import streams: a bounded pool, batched writes, entries dropped once taken).
 * The files are generated once into bench/tmp/ (in this process); the import runs in a fresh child process so
 * its peak RSS (getrusage maxrss) measures the import alone. Results: bench/results/import-memory.json (only for
 * the full 100,000; COUNT=N or --tiny, 300 files, print and write to a temp folder).
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { smallPngs } from './import-data.ts';
import { BENCH_TMP, runBench, runFacts, TINY, writeResult } from './support.ts';

const COUNT = Number(process.env['COUNT'] ?? (TINY ? 300 : 100_000));
const LIMIT_MB = 400;

async function child(dir: string): Promise<void> {
  const { runImport } = await import('../electron/core/import/importer.ts');
  const { Project } = await import('../electron/core/project/project.ts');
  const projectDir = join(BENCH_TMP, `memory-project-${process.pid}`);
  rmSync(projectDir, { recursive: true, force: true });
  let sampledPeak = 0;
  const timer = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 50);
  const project = Project.create(projectDir);
  const t0 = performance.now();
  try {
    const report = await runImport(project, [dir], 'folders', { signal: new AbortController().signal, progress: () => {} });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    const count = (project.db.prepare(`SELECT COUNT(*) AS n FROM images`).get() as { n: number }).n;
    process.stdout.write(
      JSON.stringify({
        added: report.added,
        failed: report.failed,
        rows: count,
        seconds: +seconds.toFixed(1),
        perSecond: +(report.added / seconds).toFixed(1),
        sampledPeakRssMB: +(sampledPeak / 2 ** 20).toFixed(1),
        maxRssMB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
      }),
    );
  } finally {
    project.close();
    rmSync(projectDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!);
} else {
  await runBench('import-memory', async (loadAtStart) => {
    const dir = await smallPngs(`import-memory-${COUNT}`, COUNT, 32);
    process.stderr.write(`importing ${COUNT} files in a child process…\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) throw new Error(`child failed with status ${r.status}`);
    const measured = JSON.parse(r.stdout) as { maxRssMB: number; added: number };
    const results = {
      bench: 'import-memory',
      ...runFacts(loadAtStart),
      files: COUNT,
      description: `${COUNT} PNG, 32×32 RGB, in 10 class folders`,
      limitMB: LIMIT_MB,
      ...measured,
      pass: measured.maxRssMB < LIMIT_MB && measured.added === COUNT,
    };
    if (COUNT === 100_000 || TINY) writeResult('import-memory', results);
    console.log(JSON.stringify(results, null, 2));
    if (!results.pass) console.error('import-memory: over the limit');
  });
}
