/**
 * The training process's memory after an epoch (shared/training.ts, TrainingMemory): measured in each thread, since
 * every thread has its own tfjs engine, wasm heap and JavaScript heap. `loupe train --json` gives it with each
 * epoch; tests and bench:train check that it stays flat.
 */
import { getHeapStatistics } from 'node:v8';
import * as tf from '@tensorflow/tfjs-core';
import type { ThreadMemory, TrainingMemory } from '../../../shared/training.ts';
import { memoryOf } from './kernels/simd.ts';
import type { ModelThreads } from './parallel/peers.ts';

/** The memory of the thread this runs on: the fit loop's, or a gradient thread's. */
export function threadMemory(): ThreadMemory {
  const m = tf.memory();
  const wasm = memoryOf(tf.backend());
  return { tensors: m.numTensors, tensorBytes: m.numBytes, wasmHeapBytes: wasm ? wasm.buffer.byteLength : null, jsHeapBytes: getHeapStatistics().used_heap_size };
}

/** The process's resident size, and the memory of this thread and of each gradient thread, in that order. */
export async function trainingMemory(threads: ModelThreads | null): Promise<TrainingMemory> {
  const theirs = threads ? await threads.memory() : [];
  return { rssBytes: process.memoryUsage.rss(), threads: [threadMemory(), ...theirs] };
}
