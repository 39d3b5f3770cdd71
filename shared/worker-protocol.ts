/**
 * Messages between a face's process and the training process. Readonly discriminated unions, never flags.
 * The training process opens project.db itself (WAL allows it) and records epochs and run status there; these
 * messages carry what is live (progress) and what ended.
 */
import type { BackboneSummary } from './contract.ts';
import type { PreprocessPreset } from './preprocess-presets.ts';
import type { GpuAdapterReport } from './gpu-host-protocol.ts';
import type { BatchMetrics, EpochMetrics, TrainingMemory } from './training.ts';

/** A foreign classifier to evaluate on the project's images (issue 12). */
export interface ExternalEvaluationRequest {
  /** An ONNX file, or a Loupe bundle folder (which names its classes and preprocessing itself). */
  readonly file: string;
  readonly classes?: string[];
  readonly split: 'val' | 'test';
  readonly preprocess?: PreprocessPreset;
  readonly imageSize?: number;
  /** Re-evaluate: the model's SHA-256 when it was evaluated before; another file at the path is refused. */
  readonly expectSha256?: string;
}

/** An ONNX file to convert, verify and store as a backbone of the project (issue 12). */
export interface BackboneImportRequest {
  readonly file: string;
  readonly name?: string;
  readonly preprocess?: PreprocessPreset;
  readonly imageSize?: number;
}

export interface BackendReport {
  chosen: { name: string; detail: string };
  rejected: { name: string; reason: string }[];
  /** Threads that share each batch by default (one per core on the CPU backends, else 1). */
  threads: number;
  /** libuv's thread pool in the training process: the images it decodes at once, with reads and hashes. */
  threadPool: number;
  /** The GPU host's adapters and renderers when one was started (issue 16); null or absent when none was set. */
  gpu?: { host: string; adapters: readonly GpuAdapterReport[] } | null;
  /** The engine of predictions (evaluations, assisted labeling, `loupe predict`), and why not onnxruntime when not; doctor only. */
  predictions?: string;
}

export type ToTrainer =
  | { readonly type: 'start'; readonly projectPath: string; readonly runId: number; readonly mode: 'start' | 'resume' }
  | { readonly type: 'evaluate'; readonly projectPath: string; readonly runId: number; readonly split: 'val' | 'test' | 'unlabeled' }
  | { readonly type: 'evaluateExternal'; readonly projectPath: string; readonly request: ExternalEvaluationRequest }
  | { readonly type: 'importBackbone'; readonly projectPath: string; readonly request: BackboneImportRequest }
  | { readonly type: 'cancel' }
  /** Select the backend, report it, exit (`loupe doctor`, the UI's engine panel). */
  | { readonly type: 'doctor' };

export type FromTrainer =
  | { readonly type: 'ready'; readonly backend: BackendReport }
  | { readonly type: 'status'; readonly runId: number; readonly message: string }
  | { readonly type: 'prepare'; readonly runId: number; readonly done: number; readonly total: number }
  | { readonly type: 'batch'; readonly runId: number; readonly metrics: BatchMetrics }
  | { readonly type: 'epoch'; readonly runId: number; readonly metrics: EpochMetrics; readonly improved: boolean; readonly memory: TrainingMemory }
  | { readonly type: 'done'; readonly runId: number; readonly status: 'finished' | 'stopped' | 'failed'; readonly message: string }
  | { readonly type: 'progress'; readonly done: number; readonly total: number; readonly message: string }
  | { readonly type: 'evaluated'; readonly evaluationId: number; readonly n: number; readonly notes: string[] }
  | { readonly type: 'imported'; readonly backbone: BackboneSummary }
  | { readonly type: 'failed'; readonly message: string; readonly code: string };

/** What the UI receives about a run (`training:event`). */
export type TrainingEvent =
  | { kind: 'status'; runId: number; message: string }
  | { kind: 'prepare'; runId: number; done: number; total: number }
  | { kind: 'batch'; runId: number; metrics: BatchMetrics }
  | { kind: 'epoch'; runId: number; metrics: EpochMetrics; improved: boolean; memory: TrainingMemory }
  | { kind: 'ended'; runId: number; status: 'finished' | 'stopped' | 'failed'; message: string };

/**
 * The desktop app's GPU host (issue 16): a hidden window of the main process. Its frames (shared/gpu-host-protocol.ts)
 * travel between the training process and the main process on the training process's IPC channel, beside the
 * messages above; main relays them to the window's message port. The supervisor ignores them.
 */
export type GpuHostRelayUp =
  | { readonly type: 'gpuHost'; readonly op: 'open' }
  | { readonly type: 'gpuHost'; readonly op: 'frame'; readonly frame: Uint8Array }
  | { readonly type: 'gpuHost'; readonly op: 'close' };

export type GpuHostRelayDown =
  | { readonly type: 'gpuHost'; readonly op: 'opened' }
  | { readonly type: 'gpuHost'; readonly op: 'frame'; readonly frame: Uint8Array }
  /** The window could not open, or went away (its renderer crashed, the GPU process died). */
  | { readonly type: 'gpuHost'; readonly op: 'lost'; readonly message: string };
