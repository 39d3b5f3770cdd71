/**
 * onnxruntime sessions for the CPU, one place for how Loupe opens them: the backbone's frozen features
 * (onnx-features.ts) and a trained model's predictions (onnx-predict.ts).
 *
 * The add-on is loaded on first use, not at import: a process that never runs it does not pay for the native
 * library, and an add-on that cannot load is one more reason for the caller to fall back on TF.js.
 */
import { availableParallelism } from 'node:os';
import type * as Ort from 'onnxruntime-node';

export interface CpuSession {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  /** Intra-op threads: every core. */
  threads: number;
}

/** How the engine is named to users: notes, `loupe predict`, `loupe doctor`. */
export function cpuSessionLabel(threads: number, version?: string): string {
  return `onnxruntime${version ? ` ${version}` : ''} on ${threads} thread${threads > 1 ? 's' : ''}`;
}

/** The engine a session would be, by name, version and threads; throws when the add-on cannot load here. */
export async function describeCpuSessions(): Promise<string> {
  const ort = await import('onnxruntime-node');
  return cpuSessionLabel(availableParallelism(), ort.env.versions.common);
}

export async function openCpuSession(model: Uint8Array): Promise<CpuSession> {
  const ort = await import('onnxruntime-node');
  const threads = availableParallelism();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    // Between runs its threads sleep instead of spinning: spinning took a core from sharp decoding the next batch
    // of `loupe predict`, and from the tensor cache filling during a frozen backbone's feature pass.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  return { ort, session, threads };
}
