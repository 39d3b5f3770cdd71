/**
 * The `loupe` CLI: the third face over the contract, for automation and headless machines.
 * Every command goes through LoupeCore.dispatch, so it validates exactly as the UI does.
 */
import { LoupeError } from '../../shared/contract.ts';
import { APP_VERSION } from '../core/version.ts';

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

Commands:
  serve [project] [--port N] [--open]      Serve the Loupe UI on http://127.0.0.1 (for headless machines)
  import <project> <folder>... [--labels folders|none|dicom:KEYWORD] [--frames middle|all] [--json]
                                           Import image folders (creates the project if needed)
  info <project> [--json]                  Counts of images, classes, splits, duplicates, errors, missing
  sample <dir> [--per-class N] [--json]    Create a sample project with generated medical-style images
  split <project> [--ratios 0.7,0.15,0.15] [--seed N] [--group-by folder:N|regex:EXPR|csv|dicom:PatientID]
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
  eval <project> --run ID [--split val|test] [--json] [--predictions out.csv] [--list]
                                           Evaluate a run: metrics, confusion matrix, ROC/AUC, CIs
  predict-unlabeled <project> --run ID [--accept-above X]
                                           The model's suggestions for unlabeled images
  label-errors <project> --run ID          Images whose label looks wrong (out-of-fold for k-fold runs)
  export <project> --run ID --out DIR [--format tfjs,onnx] [--zip] [--force] [--notes TEXT]
                                           A self-contained model bundle: TF.js + ONNX, labels, preprocessing,
                                           model card, checksums, a Node sample script
  predict <bundle> <folder-or-files>... [--out preds.csv] [--json]
                                           Classify images with a bundle only (no project needed)
  export-dataset <project> --out DIR [--run ID] [--copy] [--force]
                                           ImageFolder tree train/ val/ test/<class>/ plus labels.csv
  report <project> --run ID --out report.pdf [--letter] [--no-thumbnails] [--file-names] [--notes TEXT]
                                           PDF evaluation report (confusion matrix, ROC, calibration, …)

Options:
  -h, --help      Show this help
  -v, --version   Show the version

Exit codes: 0 done, 1 failed, 2 bad usage, 130 canceled (Ctrl-C; work already committed is kept).
`;

type Out = { out: (s: string) => void; err: (s: string) => void };
const io: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
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
    return await (await load())(rest);
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

