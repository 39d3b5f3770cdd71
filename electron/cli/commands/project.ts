/** `loupe import`, `loupe info`, `loupe sample`: projects and their images. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROJECT_DB } from '../../core/project/project.ts';
import { importReportOf } from '../../../shared/contract.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { printSplitSummary, printSummary } from '../summary-text.ts';
import { newCliCore, withProject } from '../with-core.ts';

const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

export async function importCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    labels: { type: 'string', default: 'folders' },
    frames: { type: 'string', default: 'middle' },
    json: { type: 'boolean', default: false },
  });
  const [projectDir, ...folders] = positionals;
  if (!projectDir || folders.length === 0) {
    io.err('Usage: loupe import <project> <folder>... [--labels folders|none|dicom:<Keyword>] [--frames middle|all] [--json]\n');
    return 2;
  }
  const core = newCliCore();
  try {
    const dir = resolve(projectDir);
    core.openProject(dir, { create: !existsSync(join(dir, PROJECT_DB)) });
    const { jobId } = await core.dispatch('import:start', {
      folders: folders.map((f) => resolve(f)),
      labels: values.labels,
      frames: values.frames,
    });
    const job = await followJob(core, jobId, values.json);
    const report = importReportOf(job);
    if (values.json) {
      io.out(JSON.stringify({ type: 'result', state: job.state, message: job.message, report }) + '\n');
    } else if (report) {
      io.out(
        `Import ${job.state}: ${report.added} added, ${report.updated} updated, ${report.relinked} relinked, ` +
          `${report.unchanged} unchanged, ${report.missing} missing, ${report.failed} failed, ${report.ignored} ignored` +
          `${report.noImageData ? `, ${report.noImageData} without image data` : ''}\n`,
      );
      for (const e of report.errors.slice(0, 20)) io.out(`  ✗ ${e.path}: ${e.reason}\n`);
      if (report.errors.length > 20) io.out(`  … and ${report.errors.length - 20} more (loupe info --json lists them)\n`);
    } else {
      io.out(`Import ${job.state}${job.message ? `: ${job.message}` : ''}\n`);
    }
    return jobExitCode(job);
  } finally {
    await core.shutdown();
  }
}

export async function infoCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  const [projectDir] = positionals;
  if (!projectDir) {
    io.err('Usage: loupe info <project> [--json]\n');
    return 2;
  }
  return withProject(projectDir, async (core) => {
    const summary = await core.dispatch('project:summary', {});
    const splits = await core.dispatch('splits:summary', {});
    if (values.json) io.out(JSON.stringify({ ...summary, splitSummary: splits }, null, 2) + '\n');
    else io.out(printSummary(summary) + printSplitSummary(splits));
    return 0;
  });
}

export async function sampleCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    'per-class': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const [dir] = positionals;
  if (!dir) {
    io.err('Usage: loupe sample <dir> [--per-class N] [--json]\n');
    return 2;
  }
  const perClass = values['per-class'] !== undefined ? Number(values['per-class']) : undefined;
  const core = newCliCore();
  try {
    const { project, jobId } = await core.dispatch('projects:createSample', { path: resolve(dir), perClass });
    const job = await followJob(core, jobId, values.json);
    if (values.json) io.out(JSON.stringify({ type: 'result', state: job.state, project: project.path, report: importReportOf(job) }) + '\n');
    else io.out(`Sample project ${job.state}: ${project.path}\nOpen it with: loupe serve "${project.path}"\n`);
    return jobExitCode(job);
  } finally {
    await core.shutdown();
  }
}
