/**
 * The `loupe` CLI: the third face over the contract, for automation and headless machines.
 * Every command goes through LoupeCore.dispatch, so it validates exactly as the UI does.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoupeError } from '../../shared/contract.ts';
import { PROJECT_DB } from '../core/project/project.ts';
import { APP_VERSION } from '../core/version.ts';
import { followJob, jobExitCode } from './run-job.ts';
import { printSplitSummary, printSummary } from './summary-text.ts';
import { serveCommand } from './commands/serve.ts';
import { historyCommand, labelsCommand } from './commands/labels.ts';
import { splitCommand } from './commands/split.ts';
import { backboneCommand, doctorCommand, runsCommand, trainCommand } from './commands/train.ts';
import { newCliCore, withProject } from './with-core.ts';

const HELP = `loupe ${APP_VERSION} — offline image classification studio

Usage: loupe <command> [options]

Commands:
  serve [project] [--port N] [--open]      Serve the Loupe UI on http://127.0.0.1 (for headless machines)
  import <project> <folder>... [--labels folders|none] [--json]
                                           Import image folders (creates the project if needed)
  info <project> [--json]                  Counts of images, classes, splits, duplicates, errors, missing
  sample <dir> [--per-class N] [--json]    Create a sample project with generated medical-style images
  split <project> [--ratios 0.7,0.15,0.15] [--seed N] [--group-by folder:N|regex:EXPR|csv]
        [--folds K] [--lock-test|--unlock-test] [--json]
                                           Stratified, seeded (group-aware) train/val/test split or k folds
  labels export <project> --out FILE.csv   Labels as CSV: path,label,split,group
  labels import <project> FILE.csv [--create-classes]
                                           Apply a labels CSV (unknown paths and classes are reported)
  history <project> --image <path>         Every label change of one image (who, when)
  train <project> [--arch …] [--epochs N] [--batch N] [--optimizer …] [--lr X] [--image-size N]
        [--augment …] [--folds] [--seed N] [--json]   Train a classifier (see 'loupe train' for all options)
  train <project> --resume RUN | --extend RUN --epochs N | --rerun RUN
  runs <project> [--json]                  Training runs with status and best validation accuracy
  doctor [--json]                          Which training backend is used, and why the others are not
  backbone list|import <project> …         Backbones for transfer learning

Options:
  -h, --help      Show this help
  -v, --version   Show the version

Exit codes: 0 done, 1 failed, 2 bad usage, 130 canceled (Ctrl-C; work already committed is kept).
`;

type Out = { out: (s: string) => void; err: (s: string) => void };
const io: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(HELP);
        return command === undefined ? 2 : 0;
      case '-v':
      case '--version':
        io.out(`${APP_VERSION}\n`);
        return 0;
      case 'serve':
        return await serveCommand(rest);
      case 'import':
        return await importCommand(rest);
      case 'info':
        return await infoCommand(rest);
      case 'sample':
        return await sampleCommand(rest);
      case 'split':
        return await splitCommand(rest);
      case 'labels':
        return await labelsCommand(rest);
      case 'history':
        return await historyCommand(rest);
      case 'train':
        return await trainCommand(rest);
      case 'runs':
        return await runsCommand(rest);
      case 'doctor':
        return await doctorCommand(rest);
      case 'backbone':
        return await backboneCommand(rest);
      default:
        io.err(`loupe: unknown command '${command}'. Run 'loupe --help'.\n`);
        return 2;
    }
  } catch (e) {
    if (e instanceof LoupeError) {
      io.err(`loupe: ${e.message}\n`);
      return e.code === 'VALIDATION' ? 2 : 1;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      io.err(`loupe: ${(e as Error).message}. Run 'loupe --help'.\n`);
      return 2;
    }
    io.err(`loupe: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

async function importCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    labels: { type: 'string', default: 'folders' },
    json: { type: 'boolean', default: false },
  });
  const [projectDir, ...folders] = positionals;
  if (!projectDir || folders.length === 0) {
    io.err('Usage: loupe import <project> <folder>... [--labels folders|none] [--json]\n');
    return 2;
  }
  const core = newCliCore();
  try {
    const dir = resolve(projectDir);
    core.openProject(dir, { create: !existsSync(join(dir, PROJECT_DB)) });
    const { jobId } = await core.dispatch('import:start', {
      folders: folders.map((f) => resolve(f)),
      labels: values.labels,
    });
    const job = await followJob(core, jobId, values.json);
    const report = job.result;
    if (values.json) {
      io.out(JSON.stringify({ type: 'result', state: job.state, message: job.message, report }) + '\n');
    } else if (report) {
      io.out(
        `Import ${job.state}: ${report.added} added, ${report.updated} updated, ${report.relinked} relinked, ` +
          `${report.unchanged} unchanged, ${report.missing} missing, ${report.failed} failed, ${report.ignored} ignored\n`,
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

async function infoCommand(args: string[]): Promise<number> {
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

async function sampleCommand(args: string[]): Promise<number> {
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
    if (values.json) io.out(JSON.stringify({ type: 'result', state: job.state, project: project.path, report: job.result }) + '\n');
    else io.out(`Sample project ${job.state}: ${project.path}\nOpen it with: loupe serve "${project.path}"\n`);
    return jobExitCode(job);
  } finally {
    await core.shutdown();
  }
}
