/**
 * Per-command help (issue 15): `loupe <command> --help` and `loupe help <command>` print the command's usage,
 * options with their defaults, and one example, and exit 0. One table, so `loupe --help` lists the same commands.
 */

export interface CommandHelp {
  /** The argument part of the usage line(s), after `loupe <command>`. */
  usage: string[];
  summary: string;
  /** `[flag, what it does (default)]`. */
  options: [string, string][];
  example: string;
}

const JSON_OPT: [string, string] = ['--json', 'machine-readable output (default: text)'];

/** Where training runs: `loupe train` and `loupe doctor` take the same three. */
const BACKEND_OPTS: [string, string][] = [
  ['--gpu-host chromium:PATH|auto', 'train on the GPU through Chrome/Chromium at PATH (auto: the first installed Chrome, Chromium or Edge), started headless (WebGPU, else WebGL2), when CUDA is not usable; also LOUPE_GPU_HOST (default: none)'],
  ['--backend NAME', 'force webgpu, webgl, tfjs-node-gpu, tfjs-node, wasm or cpu; also LOUPE_BACKEND (default: the first that works)'],
  ['--allow-software-gpu', "let the GPU host render in software (SwiftShader): slower than the CPU, for tests (default: off)"],
];

export const COMMAND_HELP: Record<string, CommandHelp> = {
  serve: {
    usage: ['[project] [--port N] [--open] [--token-file F] [--gpu-host chromium:PATH|auto] [--backend NAME] [--allow-software-gpu]'],
    summary: 'Serve the Loupe UI on http://127.0.0.1 (for headless machines); opens the project if given',
    options: [
      ['--port N', 'port to listen on (default: 0, a free port)'],
      ['--open', 'open the address in the default browser, through a private redirect file (default: off)'],
      ['--no-open', 'do not open a browser, even with --open'],
      ['--token-file F', 'a fixed access token (32+ characters of A-Z a-z 0-9 - _), also read from LOUPE_TOKEN (default: a random one per launch)'],
      ['--token T', 'refused: other local users could read it with ps; use --token-file or LOUPE_TOKEN'],
      ...BACKEND_OPTS,
    ],
    example: 'loupe serve ~/loupe-sample --open',
  },
  import: {
    usage: ['<project> <folder>... [--labels folders|none|dicom:KEYWORD] [--frames middle|all] [--json]'],
    summary: 'Import image folders, DICOM included (creates the project if needed); unreadable files are listed as import errors',
    options: [
      [
        '--labels folders|none|dicom:KEYWORD',
        'take class labels from folder names, leave images unlabeled, or read them from a DICOM attribute (a keyword such as BodyPartExamined, or a tag gggg,eeee) (default: folders)',
      ],
      ['--frames middle|all', 'multi-frame DICOM: the middle frame, or every frame as an image of its own (file#N) (default: middle)'],
      JSON_OPT,
    ],
    example: 'loupe import ~/chest-xray /data/xray/train /data/xray/test',
  },
  info: {
    usage: ['<project> [--json]'],
    summary: 'Counts of images, classes, splits, duplicates, import errors and missing files',
    options: [JSON_OPT],
    example: 'loupe info ~/chest-xray --json',
  },
  sample: {
    usage: ['<dir> [--per-class N] [--json]'],
    summary: 'Create a sample project of generated chest-X-ray-like images',
    options: [['--per-class N', 'images per class, 10–5000 (default: 120)'], JSON_OPT],
    example: 'loupe sample ~/loupe-sample --per-class 40',
  },
  split: {
    usage: ['<project> [--ratios 0.7,0.15,0.15] [--seed N] [--group-by folder:N|regex:EXPR|csv|dicom:PatientID]', '        [--folds K] [--lock-test|--unlock-test] [--json]'],
    summary: 'Stratified, seeded train/val/test split (keeping a group together), or k folds',
    options: [
      ['--ratios T,V,T', 'train, val and test shares (default: 0.7,0.15,0.15); with --folds, the test share is held out and the rest goes into the folds'],
      ['--seed N', 'random seed, so the split can be repeated (default: 42)'],
      ['--group-by RULE', 'keep images of one group in one split: folder:N (Nth folder), regex:EXPR (first capture), csv (the group column of a labels CSV), dicom:PatientID or dicom:StudyInstanceUID (default: no groups)'],
      ['--folds K', 'assign K cross-validation folds over the images outside the test split instead (default: none)'],
      ['--lock-test', 'freeze the test split: later re-splits leave it alone'],
      ['--unlock-test', 'undo --lock-test'],
      JSON_OPT,
    ],
    example: "loupe split ~/chest-xray --ratios 0.7,0.15,0.15 --seed 1 --group-by 'regex:^(P\\d+)_'",
  },
  labels: {
    usage: ['export <project> --out FILE.csv [--json]', 'import <project> FILE.csv [--create-classes] [--json]'],
    summary: 'Labels as CSV (path,label,split,group); an import checks every row first and reports unknown paths and classes',
    options: [
      ['--out FILE.csv', 'where export writes the CSV (required for export)'],
      ['--create-classes', 'import creates classes the CSV names that do not exist yet (default: they are reported)'],
      JSON_OPT,
    ],
    example: 'loupe labels export ~/chest-xray --out labels.csv',
  },
  history: {
    usage: ['<project> --image <path> [--json]'],
    summary: 'Every label change of one image: who, when, from what to what',
    options: [['--image PATH', 'the image, relative to its import folder or a full path (required)'], JSON_OPT],
    example: 'loupe history ~/chest-xray --image normal/P001_1.png',
  },
  train: {
    usage: [
      '<project> [--arch lenet5|cnn|resnet|backbone:NAME] [--epochs N] [--batch N] [--optimizer sgd|adam|rmsprop]',
      '        [--lr X] [--momentum X] [--weight-decay X] [--dropout X] [--image-size N] [--channels 1|3]',
      '        [--resize squash|letterbox|center-crop] [--width N] [--depth N] [--augment SPEC] [--schedule SPEC]',
      '        [--dicom-window tags|preset:NAME|C,W|full]',
      '        [--patience N|--no-early-stop] [--folds] [--seed N] [--threads N] [--preset NAME] [--name TEXT] [--json]',
      '        [--gpu-host chromium:PATH|auto] [--backend NAME] [--allow-software-gpu]',
      '<project> --resume RUN | --extend RUN --epochs N | --rerun RUN [--json]',
    ],
    summary: 'Train a classifier; every option not given comes from the one-click defaults chosen from your data',
    options: [
      ['--arch A', 'lenet5, cnn, resnet or backbone:NAME (default: chosen from the image size and count)'],
      ['--epochs N', 'most epochs to train (default: 30; with --extend: 5 more)'],
      ['--batch N', 'images per step (default: 32)'],
      ['--optimizer O', 'sgd, adam or rmsprop (default: adam)'],
      ['--lr X', 'learning rate (default: 0.001; 0.01 for sgd)'],
      ['--momentum X', 'momentum for sgd/rmsprop (default: 0.9 for sgd, 0 for rmsprop)'],
      ['--weight-decay X', 'L2 weight decay (default: 0)'],
      ['--dropout X', 'dropout before the classifier (default: 0.25)'],
      ['--image-size N', 'input side in pixels (default: from your images, at most 64)'],
      ['--channels 1|3', 'grey or colour input (default: from your images; grey stored as RGB counts as grey)'],
      ['--resize R', 'squash, letterbox or center-crop (default: squash)'],
      ['--dicom-window W', 'DICOM grey images: tags (each image’s own first window), preset:NAME (CT: lung, bone, brain, soft-tissue; or a window of the tags by number or explanation), C,W (center,width, e.g. HU) or full (the whole stored range) (default: tags)'],
      ['--width N', 'compact ResNet: filters of its first stage (default: 16)'],
      ['--depth N', 'compact ResNet: residual blocks per stage (default: from your data)'],
      ['--augment SPEC', 'none, or a list like crop=0.8,rotate=10,hflip,vflip,brightness=0.2,contrast=0.2 (default: crop=0.85,rotate=10,brightness=0.1)'],
      ['--schedule SPEC', 'constant, step:N:G, cosine[:WARMUP] or plateau (default: constant)'],
      ['--patience N', 'stop after N epochs without a better validation loss (default: 5)'],
      ['--no-early-stop', 'train all epochs'],
      ['--folds', 'one run per cross-validation fold (assign folds first: loupe split --folds K)'],
      ['--seed N', 'random seed for weights and batches (default: 42)'],
      ['--threads N', 'CPU threads that share each batch; the same seed and thread count train the same model (default: 0, one per core when the run is large enough)'],
      ['--preset NAME', 'start from a preset saved in the app instead of the one-click defaults'],
      ['--name TEXT', 'the run’s name (default: Run N · ARCH)'],
      ['--resume RUN', 'continue a stopped run from its last checkpoint'],
      ['--extend RUN', 'train a finished run for --epochs more'],
      ['--rerun RUN', 'train again on a run’s stored data and settings'],
      ...BACKEND_OPTS,
      JSON_OPT,
    ],
    example: 'loupe train ~/chest-xray --arch cnn --epochs 20 --optimizer sgd --lr 0.01',
  },
  runs: {
    usage: ['<project> [--json]'],
    summary: 'Training runs with their status and best validation accuracy',
    options: [JSON_OPT],
    example: 'loupe runs ~/chest-xray',
  },
  doctor: {
    usage: ['[--gpu-host chromium:PATH|auto] [--backend NAME] [--allow-software-gpu] [--json]'],
    summary: 'Which training backend is used, and why the others are not (with a GPU host: its adapters, drivers and limits)',
    options: [...BACKEND_OPTS, JSON_OPT],
    example: 'loupe doctor',
  },
  backbone: {
    usage: [
      'list <project> [--json]',
      'import <project> <model-folder> [--name NAME] [--json]',
      'import <project> FILE.onnx --name NAME [--preprocess imagenet|unit|minus-one-one] [--image-size N] [--json]',
    ],
    summary: 'Backbones for transfer learning: list them, or import a TF.js model folder or an ONNX classifier (converted and checked against onnxruntime)',
    options: [
      ['--name NAME', 'the imported backbone’s name, a plain file name (default: the name in its metadata, else the folder name)'],
      ['--preprocess P', 'ONNX: the input the network was trained on: imagenet (x/255, ImageNet mean/std), unit (x/255) or minus-one-one (x/127.5 − 1) (default: imagenet)'],
      ['--image-size N', 'ONNX: the input side when the file leaves it open (default: the file’s own)'],
      JSON_OPT,
    ],
    example: 'loupe backbone import ~/chest-xray ~/models/resnet18.onnx --name resnet18 --preprocess imagenet',
  },
  eval: {
    usage: [
      '<project> --run ID [--split val|test] [--json] [--predictions out.csv] [--list]',
      '<project> --run ID --folds [--json] [--predictions oof.csv]',
      '<project> --model FILE.onnx --classes a,b,c|--classes-from labels.txt [--split val|test] [--preprocess P] [--image-size N] [--json] [--predictions p.csv]',
      '<project> --model BUNDLE_DIR [--split val|test] [--json] [--predictions p.csv]',
      '<project> --reevaluate EVALUATION_ID [--json] [--predictions p.csv]',
    ],
    summary: 'Evaluate a run, or a foreign ONNX classifier (external validation): metrics, confusion matrix, ROC/AUC with confidence intervals',
    options: [
      ['--run ID', 'the run to evaluate'],
      ['--model FILE', 'instead of a run: an ONNX classifier from elsewhere, or a Loupe bundle folder from another project, stored as an "external model" evaluation (its name and SHA-256)'],
      ['--classes a,b,c', 'with --model: its class names in output order, mapped to the project\'s by name'],
      ['--classes-from FILE', 'with --model: the class names from a text file, one a line'],
      ['--preprocess P', 'with --model: imagenet (x/255 then ImageNet mean/std, the default), unit (x/255) or minus-one-one (x/127.5 − 1)'],
      ['--image-size N', 'with --model: the input size, when the file leaves it open'],
      ['--reevaluate ID', 'an external model\'s evaluation (stale after relabeling) again: the same file, read from where it was, on the split as labeled now'],
      ['--split S', 'val or test (default: val)'],
      ['--predictions FILE', 'also write every image’s prediction as CSV'],
      ['--list', 'list the stored evaluations of the run (without --run: of external models) instead'],
      ['--folds', 'a k-fold run’s group: each fold on its held-out images, mean ± std, and pooled out-of-fold predictions'],
      JSON_OPT,
    ],
    example: 'loupe eval ~/chest-xray --run 1 --split test --predictions preds.csv',
  },
  'predict-unlabeled': {
    usage: ['<project> --run ID [--accept-above X] [--json]'],
    summary: 'The model’s suggestions for unlabeled images (model-assisted labeling)',
    options: [
      ['--run ID', 'the run whose model predicts (required)'],
      ['--accept-above X', 'accept suggestions at least this confident, 0–1, as labels (default: accept none)'],
      JSON_OPT,
    ],
    example: 'loupe predict-unlabeled ~/chest-xray --run 1 --accept-above 0.95',
  },
  'label-errors': {
    usage: ['<project> --run ID [--limit N] [--json]'],
    summary: 'Images whose label looks wrong (out-of-fold for k-fold runs)',
    options: [['--run ID', 'the run to ask (required)'], ['--limit N', 'most images listed (default: 50)'], JSON_OPT],
    example: 'loupe label-errors ~/chest-xray --run 1',
  },
  export: {
    usage: [
      '<project> --run ID --out DIR [--format tfjs,onnx] [--zip] [--force] [--notes TEXT | --notes-file F] [--json]',
      '<project> --dataset --out DIR [--run ID] [--link] [--force] [--json]',
      '<project> --dataset --out DIR --format png|png16|tiff16|dicom [--mapping FILE.csv] [--include-burned-in] [--remove-dates]',
    ],
    summary: 'A self-contained model bundle (TF.js + ONNX, labels, preprocessing, model card, checksums), or the data set',
    options: [
      ['--run ID', 'the run to export (required for a model; for --dataset: that run’s data instead of the current labels)'],
      ['--out DIR', 'the output folder (required)'],
      ['--format F', 'tfjs, onnx or tfjs,onnx (default: tfjs,onnx); with --dataset: png, png16, tiff16 or dicom'],
      ['--zip', 'also write DIR.zip'],
      ['--force', 'replace a non-empty output folder'],
      ['--notes TEXT', 'notes for the model card'],
      ['--notes-file F', 'notes for the model card, from a file'],
      ['--dataset', 'export the labeled images as an ImageFolder tree plus labels.csv instead'],
      ['--link', 'with --dataset: hard-link files where possible instead of copying (an edit would reach the original)'],
      ['--copy', 'with --dataset: copy files (the default)'],
      ['--mapping FILE.csv', 'with --dataset: also write exported,original names (the only file with original names)'],
      ['--include-burned-in', 'with --dataset: also export DICOM images with Burned In Annotation = YES'],
      ['--remove-dates', 'with --format dicom: empty every date instead of moving it back by the patient’s own shift (1–365 days, intervals kept)'],
      JSON_OPT,
    ],
    example: 'loupe export ~/chest-xray --run 1 --out bundle/ --format tfjs,onnx --zip',
  },
  'export-dataset': {
    usage: ['<project> --out DIR [--run ID] [--link] [--force] [--json] [--format png|png16|tiff16|dicom] [--mapping FILE.csv] [--include-burned-in] [--remove-dates]'],
    summary: 'The labeled images as an ImageFolder tree train/ val/ test/<class>/ plus labels.csv (same as export --dataset)',
    options: [
      ['--out DIR', 'the output folder (required)'],
      ['--run ID', 'that run’s data instead of the current labels'],
      ['--link', 'hard-link files where possible instead of copying (an edit would reach the original)'],
      ['--copy', 'copy files (the default)'],
      ['--force', 'replace a non-empty output folder'],
      ['--format F', 'convert: png (8-bit as trained), png16 / tiff16 (DICOM modality values + offset), dicom (de-identified)'],
      ['--mapping FILE.csv', 'also write exported,original names (the only file with original names)'],
      ['--include-burned-in', 'also export DICOM images with Burned In Annotation = YES'],
      ['--remove-dates', 'with --format dicom: empty every date instead of moving it back by the patient’s own shift (1–365 days, intervals kept)'],
      JSON_OPT,
    ],
    example: 'loupe export-dataset ~/chest-xray --out ~/chest-xray-folders',
  },
  report: {
    usage: [
      '<project> --run ID --out report.pdf [--evaluation ID] [--letter] [--thumbnails] [--file-names]',
      '        [--notes TEXT | --notes-file F] [--prepared-by NAME] [--force] [--json]',
    ],
    summary: 'PDF evaluation report: confusion matrix, ROC, calibration, examples',
    options: [
      ['--run ID', 'the run to report on (or leave it out and give --evaluation)'],
      ['--out FILE', 'the PDF to write (required)'],
      ['--evaluation ID', 'which stored evaluation (default: the run’s test evaluation, else its validation one); alone, any evaluation, e.g. of an external model (loupe eval --model --list)'],
      ['--letter', 'US Letter pages (default: A4)'],
      ['--thumbnails', 'include thumbnails of misclassified images (default: left out, images may identify patients)'],
      ['--no-thumbnails', 'leave example images out (the default)'],
      ['--file-names', 'print file names (default: left out, they may identify patients)'],
      ['--notes TEXT', 'notes printed in the report'],
      ['--notes-file F', 'notes printed in the report, from a file'],
      ['--prepared-by NAME', 'who prepared the report, printed in it and set as the PDF author (default: empty)'],
      ['--author NAME', 'the same as --prepared-by'],
      ['--force', 'replace an existing file'],
      JSON_OPT,
    ],
    example: 'loupe report ~/chest-xray --run 1 --out report.pdf',
  },
  predict: {
    usage: ['<bundle> <folder-or-files>... [--out preds.csv] [--frames middle|all] [--mapping FILE.csv] [--json] [--full-paths]'],
    summary: 'Classify images with an exported bundle alone: no project, no database',
    options: [
      ['--out FILE', 'write the predictions as CSV (default: print them)'],
      ['--full-paths', 'absolute file paths in the output (default: relative to the folder or file given)'],
      ['--frames F', 'multi-frame DICOM: middle (the frame training uses) or all (one row per frame, FILE#N) (default: middle)'],
      ['--mapping FILE', 'DICOM rows are named by pseudonym (their file names may hold patient names): also write which file each pseudonym is, to keep on this workstation'],
      JSON_OPT,
    ],
    example: 'loupe predict bundle/ /data/new-scans --out preds.csv',
  },
};

/** The help text of one command. */
export function commandHelp(command: string): string {
  const h = COMMAND_HELP[command]!;
  const lead = `loupe ${command} `;
  // A line starting with spaces continues the one above it.
  const usage = h.usage
    .map((u, i) => (/^\s/.test(u) ? `       ${' '.repeat(lead.length)}${u.trim()}` : `${i === 0 ? 'Usage: ' : '       '}${lead}${u}`))
    .join('\n');
  const width = Math.max('-h, --help'.length, ...h.options.map(([flag]) => flag.length));
  const options = h.options.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`).join('\n');
  return `${usage}\n\n${h.summary}.\n\nOptions:\n${options}\n  ${'-h, --help'.padEnd(width)}  show this help\n\nExample:\n  ${h.example}\n`;
}

/** Whether the arguments ask for help: `-h`/`--help` anywhere before a `--` that ends the options. */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}
