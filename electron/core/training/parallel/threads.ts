/** How many threads train a run: data-parallel on the CPU backends (see peers.ts). */
import { availableParallelism } from 'node:os';

/** Backends on which a training process runs one op at a time on one core: more threads add cores. */
const SINGLE_CORE_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * With the automatic setting, threads are used only when they pay: each costs about a second to start (its own
 * tfjs and model), and a shard below a few images spends its time in per-op overhead rather than arithmetic.
 */
const AUTO_MIN_IMAGES = 5000;
const AUTO_MIN_SHARD = 8;

/**
 * How many threads (the fit loop's own included) train a run: the setting, or with 0 (automatic) one per core
 * when the run is large enough (`work`); 1 on a backend that already uses every core or a GPU (tfjs-node); never
 * more than the cores.
 */
export function trainingThreads(
  setting: number,
  backend: string,
  work: { images: number; batchSize: number } | null = null,
  cores = availableParallelism(),
): number {
  if (!SINGLE_CORE_BACKENDS.has(backend)) return 1;
  if (setting > 0) return Math.max(1, Math.min(setting, cores));
  if (work && (work.images < AUTO_MIN_IMAGES || work.batchSize < AUTO_MIN_SHARD * 2)) return 1;
  return Math.max(1, cores);
}
