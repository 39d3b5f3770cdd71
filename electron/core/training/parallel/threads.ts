/** How many threads train a run: data-parallel on the CPU backends (see peers.ts). */
import { availableParallelism } from 'node:os';

/** Backends on which a training process runs one op at a time on one core: more threads add cores. */
const SINGLE_CORE_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * How many threads (the fit loop's own included) train a run: the setting (0: one per core), but 1 on a backend
 * that already uses every core or a GPU (tfjs-node), and never more than the cores.
 */
export function trainingThreads(setting: number, backend: string, cores = availableParallelism()): number {
  if (!SINGLE_CORE_BACKENDS.has(backend)) return 1;
  return Math.max(1, Math.min(setting > 0 ? setting : cores, cores));
}
