/**
 * One training round of each side, as bench:train and bench:gpu time them: `loupe train … --json` in its own process
 * (the run's own per-epoch figures and the command's wall time), and bench/torch_train.py on the run's stored config.
 */
import { FASHION_MNIST_DIR } from '../tests/helpers/fashion-mnist.ts';
import { loupe } from './loupe-cli.ts';
import { runTorch } from './torch-side.ts';
import type { TrainingMemory } from '../shared/training.ts';

export interface SideRound {
  imagesPerSecond: number;
  wallSeconds: number;
  epochs: { imagesPerSecond: number; seconds: number; loss: number }[];
  /** Loupe's side: the process and each thread after every epoch (the fit loop's thread first). */
  memory?: EpochMemory[];
}

/** After one epoch: the process's resident MiB, and each thread's tensors and wasm heap MiB. */
interface EpochMemory {
  rssMiB: number;
  tensors: number[];
  wasmHeapMiB: (number | null)[];
}

interface EpochEvent {
  metrics: { epoch: number; imagesPerSecond: number; seconds: number; trainLoss: number };
  memory: TrainingMemory;
}

const MiB = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);

/**
 * Each epoch's memory, checked as issue 13 asks: every thread holds as many tensors after each epoch as after the
 * first, and its wasm heap (which never shrinks) does not grow after the first.
 */
function flatMemory(name: string, events: EpochEvent[]): EpochMemory[] {
  const rows = events.map(({ memory }) => ({ rssMiB: MiB(memory.rssBytes), tensors: memory.threads.map((t) => t.tensors), wasmHeapMiB: memory.threads.map((t) => (t.wasmHeapBytes === null ? null : MiB(t.wasmHeapBytes))) }));
  const first = JSON.stringify(rows[0]?.tensors);
  const heap = JSON.stringify(rows[1]?.wasmHeapMiB);
  const grew = rows.find((r, i) => JSON.stringify(r.tensors) !== first || (i > 1 && JSON.stringify(r.wasmHeapMiB) !== heap));
  if (grew) throw new Error(`loupe train (${name}): memory grew across epochs: ${JSON.stringify(rows)}`);
  return rows;
}

/** Whole images/s, or two decimals below 100 (a software GPU trains a ResNet at about 1 image/s). */
const speed = (x: number): number => (x >= 100 ? Math.round(x) : +x.toFixed(2));

/** Images/s over the timed epochs: all images over all first-to-last-batch seconds. */
function overall(epochs: SideRound['epochs']): number {
  const images = epochs.reduce((a, e) => a + e.imagesPerSecond * e.seconds, 0);
  const seconds = epochs.reduce((a, e) => a + e.seconds, 0);
  return speed(images / seconds);
}

/** `loupe train` once; the run's config with its normalization (what PyTorch copies) comes back too. */
export async function loupeTrainRound(project: string, flags: string[], epochs: number, name: string): Promise<{ round: SideRound; runId: number; runConfig: Record<string, unknown> }> {
  const run = await loupe(['train', project, ...flags, '--epochs', String(epochs), '--seed', '1', '--name', name, '--json']);
  const summary = run.lines.at(-1) as { runId: number; status: string; error: string | null };
  if (summary.status !== 'finished') throw new Error(`loupe train (${name}) ${summary.status}: ${summary.error}`);
  const epochEvents = run.lines.filter((l) => l['type'] === 'epoch') as unknown as EpochEvent[];
  const events = epochEvents.map((e) => e.metrics);
  if (events.length !== epochs) throw new Error(`loupe train (${name}) reported ${events.length} epochs, asked for ${epochs}`);
  const runs = JSON.parse((await loupe(['runs', project, '--json'])).stdout) as { id: number; config: Record<string, unknown>; preprocessing: { normalization: { mean: number[]; std: number[] } } }[];
  const info = runs.find((r) => r.id === summary.runId)!;
  const rows = events.map((e) => ({ imagesPerSecond: speed(e.imagesPerSecond), seconds: +e.seconds.toFixed(3), loss: +e.trainLoss.toFixed(4) }));
  return {
    round: { imagesPerSecond: overall(rows), wallSeconds: +run.wallSeconds.toFixed(2), epochs: rows, memory: flatMemory(name, epochEvents) },
    runId: summary.runId,
    runConfig: { ...info.config, mean: info.preprocessing.normalization.mean, std: info.preprocessing.normalization.std },
  };
}

/** bench/torch_train.py once on a Loupe run's config; its facts (threads, device, accuracy, versions) come back too. */
export async function torchTrainRound(
  runConfig: Record<string, unknown>,
  o: { epochs: number; train: number; test: number; threads: 'cores' | 'default'; device?: 'cpu' | 'auto' },
): Promise<{ round: SideRound; facts: Record<string, unknown> }> {
  const r = await runTorch('torch_train.py', [
    '--data-dir', FASHION_MNIST_DIR, '--recipe', JSON.stringify(runConfig), '--epochs', String(o.epochs), '--train', String(o.train),
    '--test', String(o.test), '--threads', o.threads, '--workers', '2', '--device', o.device ?? 'cpu',
  ]);
  const end = r.lines.at(-1)!;
  const rows = r.lines
    .filter((l) => 'epoch' in l)
    .map((l) => ({ imagesPerSecond: speed(Number(l['images']) / Number(l['seconds'])), seconds: +Number(l['seconds']).toFixed(3), loss: +Number(l['loss']).toFixed(4) }));
  return {
    round: { imagesPerSecond: overall(rows), wallSeconds: +r.wallSeconds.toFixed(2), epochs: rows },
    facts: { threads: end['threads'], device: end['device'], gpu: end['gpu'], testAccuracy: end['testAccuracy'], torch: end['torch'], torchvision: end['torchvision'] },
  };
}
