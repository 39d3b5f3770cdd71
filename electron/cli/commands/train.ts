/** `loupe train`, `loupe doctor`, `loupe runs`, `loupe backbone`: training from the command line. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LoupeError, type BackboneSummary } from '../../../shared/contract.ts';
import { parseDicomWindow, type AugmentConfig, type RunInfo, type TrainConfigInput } from '../../../shared/training.ts';
import type { TrainingEvent } from '../../../shared/worker-protocol.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { newCliCore, withProject } from '../with-core.ts';
import { applyBackendFlags, BACKEND_OPTIONS } from '../backend-flags.ts';
import { describeAdapter } from '../../../shared/gpu-host-protocol.ts';
import { threadPoolOf } from '../../core/thread-pool.cjs';
import { onStop } from '../stop.ts';

const USAGE = `Usage: loupe train <project> [--arch lenet5|cnn|resnet|backbone:NAME] [--epochs N] [--batch N]
         [--optimizer sgd|adam|rmsprop] [--lr X] [--momentum X] [--weight-decay X] [--dropout X]
         [--image-size N] [--channels 1|3] [--resize squash|letterbox|center-crop] [--width N] [--depth N]
         [--dicom-window tags|preset:NAME|C,W|full]
         [--augment none|crop=0.8,rotate=10,hflip,vflip,brightness=0.2,contrast=0.2]
         [--schedule constant|step:N:G|cosine[:WARMUP]|plateau] [--patience N|--no-early-stop]
         [--folds] [--seed N] [--threads N (0 = one per core)] [--preset NAME] [--name TEXT] [--json]
         [--gpu-host chromium:PATH] [--backend webgpu|webgl|tfjs-node-gpu|tfjs-node|wasm|cpu] [--allow-software-gpu]
       loupe train <project> --resume RUN | --extend RUN --epochs N | --rerun RUN [--json]
`;

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new LoupeError('VALIDATION', `${flag} takes a number; got "${v}"`);
  return n;
}

export function parseAugment(spec: string): Partial<AugmentConfig> {
  const out: Partial<AugmentConfig> = { cropScale: 0, hflip: false, vflip: false, rotation: 0, brightness: 0, contrast: 0 };
  if (spec === 'none') return out;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, value] = part.split('=') as [string, string | undefined];
    const n = value === undefined ? undefined : num(value, `--augment ${key}`);
    switch (key) {
      case 'crop': out.cropScale = n ?? 0.8; break;
      case 'rotate': out.rotation = n ?? 10; break;
      case 'hflip': out.hflip = true; break;
      case 'vflip': out.vflip = true; break;
      case 'brightness': out.brightness = n ?? 0.2; break;
      case 'contrast': out.contrast = n ?? 0.2; break;
      default: throw new LoupeError('VALIDATION', `--augment: unknown "${key}" (crop, rotate, hflip, vflip, brightness, contrast, none)`);
    }
  }
  return out;
}

function parseSchedule(spec: string): TrainConfigInput['schedule'] {
  const [kind, a, b] = spec.split(':');
  if (kind === 'constant') return { kind: 'constant' };
  if (kind === 'step') return { kind: 'step', everyEpochs: num(a, '--schedule step:N') ?? 10, gamma: num(b, '--schedule step:N:G') ?? 0.1 };
  if (kind === 'cosine') return { kind: 'cosine', warmupEpochs: num(a, '--schedule cosine:WARMUP') ?? 0 };
  if (kind === 'plateau') return { kind: 'plateau' };
  throw new LoupeError('VALIDATION', `--schedule takes constant, step:N:G, cosine[:WARMUP] or plateau; got "${spec}"`);
}

type Values = Record<string, string | boolean | undefined>;

function configFrom(base: TrainConfigInput, v: Values): TrainConfigInput {
  const c: TrainConfigInput = { ...base };
  const arch = v['arch'] as string | undefined;
  if (arch) {
    if (arch.startsWith('backbone:')) {
      c.arch = 'backbone';
      c.backbone = arch.slice('backbone:'.length);
    } else if (arch === 'lenet5' || arch === 'cnn' || arch === 'resnet') c.arch = arch;
    else throw new LoupeError('VALIDATION', `--arch takes lenet5, cnn, resnet or backbone:NAME; got "${arch}"`);
  }
  const set = <K extends keyof TrainConfigInput>(k: K, val: TrainConfigInput[K] | undefined) => {
    if (val !== undefined) c[k] = val;
  };
  set('epochs', num(v['epochs'] as string, '--epochs'));
  set('batchSize', num(v['batch'] as string, '--batch'));
  set('imageSize', num(v['image-size'] as string, '--image-size'));
  set('channels', num(v['channels'] as string, '--channels') as 1 | 3 | undefined);
  set('resize', v['resize'] as TrainConfigInput['resize']);
  set('weightDecay', num(v['weight-decay'] as string, '--weight-decay'));
  set('dropout', num(v['dropout'] as string, '--dropout'));
  set('seed', num(v['seed'] as string, '--seed'));
  set('width', num(v['width'] as string, '--width'));
  set('depth', num(v['depth'] as string, '--depth'));
  set('threads', num(v['threads'] as string, '--threads'));
  if (v['folds']) c.folds = true;
  const window = v['dicom-window'] as string | undefined;
  if (window !== undefined) {
    const parsed = parseDicomWindow(window);
    if (!parsed) throw new LoupeError('VALIDATION', `--dicom-window takes tags, preset:NAME (lung, bone, brain, soft-tissue, or a window of the images' tags by number or explanation), C,W or full; got "${window}"`);
    c.dicomWindow = parsed;
  }
  const opt = v['optimizer'] as string | undefined;
  const lr = num(v['lr'] as string, '--lr');
  const momentum = num(v['momentum'] as string, '--momentum');
  if (opt || lr !== undefined || momentum !== undefined) {
    const kind = (opt ?? (base.optimizer as { kind?: string } | undefined)?.kind ?? 'adam') as 'sgd' | 'adam' | 'rmsprop';
    if (!['sgd', 'adam', 'rmsprop'].includes(kind)) throw new LoupeError('VALIDATION', `--optimizer takes sgd, adam or rmsprop; got "${kind}"`);
    const defaultLr = kind === 'sgd' ? 0.01 : 0.001;
    c.optimizer =
      kind === 'sgd'
        ? { kind, lr: lr ?? defaultLr, momentum: momentum ?? 0.9, nesterov: false }
        : kind === 'rmsprop'
          ? { kind, lr: lr ?? defaultLr, momentum: momentum ?? 0 }
          : { kind, lr: lr ?? defaultLr };
  }
  if (v['augment']) c.augment = parseAugment(v['augment'] as string);
  if (v['schedule']) c.schedule = parseSchedule(v['schedule'] as string);
  if (v['no-early-stop']) c.earlyStopping = null;
  else if (v['patience']) c.earlyStopping = { monitor: 'val_loss', patience: num(v['patience'] as string, '--patience')! };
  return c;
}

function fmt(n: number | null | undefined, digits = 4): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

export async function trainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      arch: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, optimizer: { type: 'string' },
      lr: { type: 'string' }, momentum: { type: 'string' }, 'weight-decay': { type: 'string' }, dropout: { type: 'string' },
      'image-size': { type: 'string' }, channels: { type: 'string' }, resize: { type: 'string' }, augment: { type: 'string' }, 'dicom-window': { type: 'string' },
      schedule: { type: 'string' }, patience: { type: 'string' }, 'no-early-stop': { type: 'boolean' }, folds: { type: 'boolean' },
      seed: { type: 'string' }, width: { type: 'string' }, depth: { type: 'string' }, threads: { type: 'string' }, preset: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean', default: false },
      resume: { type: 'string' }, extend: { type: 'string' }, rerun: { type: 'string' },
      ...BACKEND_OPTIONS,
    },
  });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write(USAGE);
    return 2;
  }
  applyBackendFlags(values as Values);
  const json = values.json ?? false;
  return withProject(projectDir, async (core) => {
    let runs: RunInfo[];
    if (values.resume) runs = [await core.dispatch('training:resume', { runId: Number(values.resume) })];
    else if (values.extend) {
      runs = [await core.dispatch('training:extend', { runId: Number(values.extend), epochs: num(values.epochs, '--epochs') ?? 5 })];
    } else if (values.rerun) runs = [await core.dispatch('training:rerun', { runId: Number(values.rerun) })];
    else {
      let base: TrainConfigInput = (await core.dispatch('training:suggest', {})).config;
      if (values.preset) {
        const preset = (await core.dispatch('presets:list', {})).find((p) => p.name === values.preset);
        if (!preset) throw new LoupeError('NOT_FOUND', `No preset named "${values.preset}"`);
        base = preset.config;
      }
      runs = await core.dispatch('training:start', { config: configFrom(base, values as Values), name: values.name });
    }
    const ids = new Set(runs.map((r) => r.id));
    if (!json) {
      for (const r of runs.filter((x) => x.fold !== null)) {
        process.stderr.write(
          `run ${r.id}: fold ${r.fold! + 1} trains on ${r.trainImages} images of the other folds; its own ` +
            `${r.valImages} images validate it and are all it is evaluated on (loupe eval --run ${r.id} --folds)\n`,
        );
      }
    }
    const trainer = core.requireTrainer();
    let backend = '';
    const tty = process.stderr.isTTY;
    // Runs whose progress counts are features being computed (the head-only phase), not images being decoded; the
    // status names the engine after it when that is onnxruntime ("Computing features (onnxruntime on 2 threads)").
    const featurePhase = new Set<number>();
    const off = core.on((event, payload) => {
      if (event !== 'training:event') return;
      const e = payload as TrainingEvent;
      if (!ids.has(e.runId)) return;
      if (e.kind === 'status' && e.message.startsWith('Training on ')) backend = e.message.slice('Training on '.length);
      if (e.kind === 'status') {
        if (e.message.startsWith('Computing features')) featurePhase.add(e.runId);
        else featurePhase.delete(e.runId);
      }
      if (json) {
        if (e.kind !== 'batch') process.stdout.write(JSON.stringify({ type: e.kind, ...e }) + '\n');
        return;
      }
      if (e.kind === 'status') process.stderr.write(`${tty ? '\r\x1b[K' : ''}run ${e.runId}: ${e.message}\n`);
      else if (e.kind === 'prepare' && tty) process.stderr.write(`\r\x1b[K${featurePhase.has(e.runId) ? 'computing features' : 'preparing images'} ${e.done}/${e.total}`);
      else if (e.kind === 'batch' && tty) {
        const m = e.metrics;
        process.stderr.write(`\r\x1b[Kepoch ${m.epoch + 1} batch ${m.batch}/${m.batches} loss ${fmt(m.loss)} · ${Math.round(m.imagesPerSecond)} img/s · ETA ${m.etaSeconds ?? '—'} s`);
      } else if (e.kind === 'epoch') {
        const m = e.metrics;
        process.stderr.write(
          `${tty ? '\r\x1b[K' : ''}epoch ${m.epoch + 1}: loss ${fmt(m.trainLoss)} acc ${fmt(m.trainAccuracy)} · val loss ${fmt(m.valLoss)} acc ${fmt(m.valAccuracy)} · lr ${m.lr.toPrecision(3)} · ${Math.round(m.imagesPerSecond)} img/s${e.improved ? ' ★' : ''}\n`,
        );
      } else if (e.kind === 'ended') process.stderr.write(`${tty ? '\r\x1b[K' : ''}run ${e.runId} ${e.status}: ${e.message}\n`);
    });
    let interrupts = 0;
    const stopWatching = onStop((why) => {
      if (why === 'interrupt' && ++interrupts > 1) process.exit(130);
      process.stderr.write(why === 'interrupt' ? '\nStopping after this batch… (Ctrl-C again to quit at once)\n' : '\nThe output was closed: stopping after this batch…\n');
      for (const id of ids) trainer.stop(id);
    });
    try {
      for (const r of runs) await trainer.waitFor(r.id);
    } finally {
      off();
      stopWatching();
    }
    let exit = 0;
    for (const r of runs) {
      const { run, epochs } = await core.dispatch('runs:get', { runId: r.id });
      const best = run.bestEpoch !== null ? epochs.find((e) => e.epoch === run.bestEpoch) : epochs[epochs.length - 1];
      const ips = epochs.length ? epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / epochs.length : 0;
      const summary = {
        runId: run.id,
        name: run.name,
        status: run.status,
        backend: run.backend ?? backend,
        epochs: run.epochsDone,
        bestEpoch: run.bestEpoch === null ? null : run.bestEpoch + 1,
        imagesPerSecond: Math.round(ips),
        valAccuracy: best?.valAccuracy ?? null,
        valLoss: best?.valLoss ?? null,
        trainLoss: best?.trainLoss ?? null,
        error: run.error,
        warnings: run.warnings,
      };
      if (run.status !== 'finished') exit = run.status === 'stopped' ? 130 : 1;
      if (json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        process.stdout.write(
          `Run ${run.id} ${run.status} on ${summary.backend}: ${run.epochsDone} epochs, best epoch ${summary.bestEpoch ?? '—'}, ` +
            `val accuracy ${fmt(summary.valAccuracy)}, val loss ${fmt(summary.valLoss)}, ${summary.imagesPerSecond} img/s\n`,
        );
        if (run.error) process.stdout.write(`  ${run.error}\n`);
        for (const w of run.warnings.slice(0, 5)) process.stdout.write(`  ⚠ ${w}\n`);
      }
    }
    return exit;
  });
}

export async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, ...BACKEND_OPTIONS } });
  applyBackendFlags(values as Values);
  const core = newCliCore();
  try {
    const report = await core.dispatch('training:doctor', {});
    // This process imports and decodes for the viewer; the training process decodes its dataset cache.
    const cliThreadPool = threadPoolOf(process.env);
    if (values.json) process.stdout.write(JSON.stringify({ ...report, cliThreadPool }, null, 2) + '\n');
    else {
      process.stdout.write(`Training backend: ${report.chosen.name} — ${report.chosen.detail}\n`);
      if (report.gpu) {
        process.stdout.write(`${report.gpu.host}:\n`);
        for (const a of report.gpu.adapters) process.stdout.write(`  ${a.backend}: ${describeAdapter(a)}\n`);
      }
      process.stdout.write(
        report.threads > 1
          ? `Training threads: up to ${report.threads}, one per core (each batch shared among them when a run is large enough to pay for starting them)\n`
          : 'Training threads: 1\n',
      );
      process.stdout.write(`Thread pool (images decoded at once, with file reads and hashes): ${cliThreadPool} here, ${report.threadPool} in the training process\n`);
      if (report.predictions) process.stdout.write(`Predictions (evaluations, assisted labeling, loupe predict): ${report.predictions}\n`);
      for (const r of report.rejected) process.stdout.write(`  not used: ${r.name} — ${r.reason}\n`);
    }
    return 0;
  } finally {
    await core.shutdown();
  }
}

export async function runsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write('Usage: loupe runs <project> [--json]\n');
    return 2;
  }
  return withProject(projectDir, async (core) => {
    const runs = await core.dispatch('runs:list', {});
    if (values.json) process.stdout.write(JSON.stringify(runs, null, 2) + '\n');
    else if (!runs.length) process.stdout.write('No runs yet. Train one with: loupe train <project>\n');
    else {
      for (const r of runs) {
        process.stdout.write(
          `${String(r.id).padStart(4)}  ${r.status.padEnd(9)} ${r.name.padEnd(36).slice(0, 36)} epochs ${String(r.epochsDone).padStart(3)}  best val acc ${fmt(r.bestValAccuracy)}${r.error ? `  (${r.error})` : ''}\n`,
        );
      }
    }
    return 0;
  });
}

export async function backboneCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: 'string' }, preprocess: { type: 'string' }, 'image-size': { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [projectDir, src] = positionals;
  const imageSize = values['image-size'] === undefined ? undefined : Number(values['image-size']);
  if (sub === 'list' && projectDir) {
    return withProject(projectDir, async (core) => {
      const list = await core.dispatch('backbones:list', {});
      if (values.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      else if (!list.length) process.stdout.write('No backbones. Import one (loupe backbone import) or reuse a run with --arch backbone:run:ID\n');
      else for (const b of list) process.stdout.write(`${b.name}  (${b.source}, ${b.imageSize}px, ${b.channels} ch)${b.description ? ` — ${b.description}` : ''}\n`);
      return 0;
    });
  }
  if (sub === 'import' && projectDir && src) {
    return withProject(projectDir, async (core) => {
      // The contract validates --preprocess and --image-size (a bad value exits 2 with the allowed ones).
      const request = { path: resolve(src), name: values.name, preprocess: values.preprocess, imageSize };
      let b: BackboneSummary;
      if (src.toLowerCase().endsWith('.onnx')) {
        // The same job as the app's Import: conversion and verification in a training process; Ctrl-C cancels.
        const job = await followJob(core, (await core.dispatch('backbones:importStart', request)).jobId, false);
        if (job.state !== 'succeeded') {
          process.stderr.write(`loupe: backbone import ${job.state}: ${job.message}\n`);
          return jobExitCode(job);
        }
        b = job.result as BackboneSummary;
      } else b = await core.dispatch('backbones:import', request);
      process.stdout.write(values.json ? JSON.stringify(b) + '\n' : `Imported backbone "${b.name}" (${b.imageSize}px, ${b.channels} ch)${b.description ? ` — ${b.description}` : ''}\n`);
      return 0;
    });
  }
  process.stderr.write(
    'Usage: loupe backbone list <project>\n' +
      '       loupe backbone import <project> <folder> [--name NAME]\n' +
      '       loupe backbone import <project> FILE.onnx --name NAME [--preprocess imagenet|unit|minus-one-one] [--image-size N]\n',
  );
  return 2;
}
