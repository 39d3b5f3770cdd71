import type { BatchMetrics } from './training.ts';

/** The running run's latest live state, held by the supervisor for a UI that reloads mid-run. */
export interface LiveState {
  runId: number;
  status: string;
  prepare: { done: number; total: number } | null;
  batches: BatchMetrics[];
}
