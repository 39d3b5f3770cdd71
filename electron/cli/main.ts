/**
 * The `loupe` CLI: the third face over the contract, for automation and headless machines.
 * Every command goes through LoupeCore.dispatch, so it validates exactly as the UI does.
 */
import { LoupeError } from '../../shared/contract.ts';
import { APP_VERSION } from '../core/version.ts';
import { explainDiskFull } from '../core/project/disk-full.ts';
import { asksForHelp, commandHelp, COMMAND_HELP } from './help.ts';
import { OUTPUT_CLOSED_EXIT, outputClosed, watchOutput } from './stop.ts';

type Command = (args: string[]) => Promise<number>;

/** Commands load on demand, so `loupe --help` starts at once and only `train` pays for what training needs. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.ts')).serveCommand,
  import: async () => (await import('./commands/project.ts')).importCommand,
  info: async () => (await import('./commands/project.ts')).infoCommand,
  sample: async () => (await import('./commands/project.ts')).sampleCommand,
  split: async () => (await import('./commands/split.ts')).splitCommand,
  labels: async () => (await import('./commands/labels.ts')).labelsCommand,
  history: async () => (await import('./commands/labels.ts')).historyCommand,
  train: async () => (await import('./commands/train.ts')).trainCommand,
  runs: async () => (await import('./commands/train.ts')).runsCommand,
  doctor: async () => (await import('./commands/train.ts')).doctorCommand,
  backbone: async () => (await import('./commands/train.ts')).backboneCommand,
  eval: async () => (await import('./commands/eval.ts')).evalCommand,
  'predict-unlabeled': async () => (await import('./commands/eval.ts')).predictUnlabeledCommand,
  'label-errors': async () => (await import('./commands/eval.ts')).labelErrorsCommand,
  export: async () => (await import('./commands/export.ts')).exportCommand,
  'export-dataset': async () => (await import('./commands/export.ts')).exportDatasetCommand,
  report: async () => (await import('./commands/export.ts')).reportCommand,
  predict: async () => (await import('./commands/predict.ts')).predictCommand,
};

const HELP = `loupe ${APP_VERSION} — offline image classification studio

Usage: loupe <command> [options]
       loupe <command> --help      the command's own usage, options, defaults and an example

Commands:
${Object.entries(COMMAND_HELP)
  .map(([name, h]) => `${h.usage.filter((u) => !/^\s/.test(u)).map((u) => `  ${name} ${u}`).join('\n')}\n      ${h.summary}`)
  .join('\n')}

Options:
  -h, --help      Show this help
  -v, --version   Show the version

Exit codes: 0 done, 1 failed, 2 bad usage, 130 canceled (Ctrl-C; work already committed is kept),
141 the output's reader went away (as in loupe … | head; a running job is canceled as with Ctrl-C).
`;

type Out = { out: (s: string) => void; err: (s: string) => void };
const io: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

function helpFor(command: string): number {
  if (!(command in COMMAND_HELP)) {
    io.err(`loupe: unknown command '${command}'. Run 'loupe --help'.\n`);
    return 2;
  }
  io.out(commandHelp(command));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  watchOutput();
  const code = await run(argv);
  return outputClosed() ? OUTPUT_CLOSED_EXIT : code;
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'help' && rest[0] !== undefined) return helpFor(rest[0]);
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.out(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === '-v' || command === '--version') {
      io.out(`${APP_VERSION}\n`);
      return 0;
    }
    const load = COMMANDS[command];
    if (!load) {
      io.err(`loupe: unknown command '${command}'. Run 'loupe --help'.\n`);
      return 2;
    }
    if (asksForHelp(rest)) return helpFor(command);
    return await (await load())(rest);
  } catch (thrown) {
    const e = explainDiskFull(thrown);
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

