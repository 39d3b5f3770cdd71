/**
 * fit() on a GPU host (issue 16), with fit()'s own signature and promises: the page runs the fit loop on the GPU;
 * this side serves its batches from the run's sources (tensor cache, augmentation), writes its checkpoints with
 * the same functions as the CPU path (the model here gets the host's weights first), records its epochs, and
 * passes a stop on. A host that goes away fails the fit with the reason; the run's last checkpoint stays, so it
 * can be resumed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FromGpuHost, GpuBackendName } from '../../../../shared/gpu-host-protocol.ts';
import { setWeightBytes, tensorList, tensorsOf } from './tensors.ts';
import type { Batch, BatchSource, FitEnd, FitOptions } from '../fit.ts';
import type { GpuHostLink } from './chromium.ts';

/** The model's topology and weights, as the page loads them. */
async function artifactsOf(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return artifacts!;
}

function syncBatches(source: BatchSource, epoch: number, batchSize: number): Iterator<Batch> {
  const batches = source.batches(epoch, batchSize);
  if (Symbol.asyncIterator in batches) throw new Error('a GPU host trains from the training process’s own (synchronous) sources');
  return batches[Symbol.iterator]();
}

export interface RemoteFitOptions extends FitOptions {
  /** Told which backend and device the host trains on, once it has started. */
  onStarted?: (detail: string) => void;
}

export async function remoteFit(
  host: GpuHostLink,
  backend: GpuBackendName,
  model: tfl.LayersModel,
  train: BatchSource,
  val: BatchSource | null,
  o: RemoteFitOptions,
): Promise<FitEnd> {
  if (o.peers) throw new Error('a GPU host trains alone: no gradient threads');
  const artifacts = await artifactsOf(model);
  const perImage = train.shape[0] * train.shape[1] * train.shape[2];
  const resumeSlots = o.resume ? await tensorList(o.resume.optimizerWeights) : null;
  if (o.resume) tf.dispose(o.resume.optimizerWeights.map((w) => w.tensor));
  const streams = new Map<number, Iterator<Batch>>();
  const removers: (() => void)[] = [];
  try {
    return await new Promise<FitEnd>((resolve, reject) => {
      // Messages are handled one after another: a checkpoint is on disk before the epoch is recorded.
      let chain = Promise.resolve();
      const handle = async (h: FromGpuHost, parts: Uint8Array[]): Promise<void> => {
        switch (h.type) {
          case 'started':
            o.onStarted?.(h.detail);
            return;
          case 'open':
            streams.set(h.stream, syncBatches(h.source === 'train' ? train : (val ?? train), h.epoch, h.batchSize));
            return;
          case 'next': {
            const it = streams.get(h.stream);
            const next = it?.next();
            if (!next || next.done) {
              streams.delete(h.stream);
              host.send({ type: 'batch', stream: h.stream, n: 0, done: true });
              return;
            }
            const b = next.value;
            host.send({ type: 'batch', stream: h.stream, n: b.n, done: false }, [b.xs.subarray(0, b.n * perImage), b.ys.subarray(0, b.n)]);
            return;
          }
          case 'batchEnd':
            o.onBatchEnd?.(h.metrics);
            return;
          case 'checkpoint': {
            setWeightBytes(model, parts[0]!);
            const slots = tensorsOf(h.slots, parts.slice(1));
            try {
              await o.onCheckpoint?.({ getWeights: async () => slots }, h.state, h.improved, h.metrics);
            } finally {
              tf.dispose(slots.filter((w) => !w.tensor.isDisposed).map((w) => w.tensor));
            }
            host.send({ type: 'ack' });
            return;
          }
          case 'epochEnd':
            await o.onEpochEnd?.(h.metrics, { improved: h.improved, state: h.state });
            host.send({ type: 'ack' });
            return;
          case 'ended':
            setWeightBytes(model, parts[0]!);
            resolve({ status: h.status, state: h.state, message: h.message });
            return;
          case 'failed':
            throw new Error(`The GPU host failed: ${h.message}`);
          case 'probed':
            return;
        }
      };
      removers.push(host.listen((h, parts) => {
        chain = chain.then(() => handle(h, parts)).catch(reject);
      }));
      removers.push(host.onLost((e) => reject(new Error(`${e.message}. The last checkpoint is kept: resume the run to continue.`))));
      const stop = () => host.send({ type: 'stop' });
      o.signal?.addEventListener('abort', stop, { once: true });
      removers.push(() => o.signal?.removeEventListener('abort', stop));
      const { modelTopology, weightSpecs, weightData } = artifacts;
      host.send(
        {
          type: 'fit',
          backend,
          modelTopology,
          weightSpecs: weightSpecs ?? [],
          shape: train.shape,
          trainSize: train.size,
          valSize: val?.size ?? 0,
          options: {
            epochs: o.epochs,
            batchSize: o.batchSize,
            optimizer: o.optimizer,
            schedule: o.schedule,
            earlyStopping: o.earlyStopping,
            weightDecay: o.weightDecay,
            classWeights: o.classWeights,
            numClasses: o.numClasses,
            heldOut: o.heldOut ?? false,
            trainableLayers: o.trainableLayers ? o.trainableLayers.map((l) => l.name) : null,
          },
          resume: o.resume && resumeSlots ? { state: o.resume.state, slots: resumeSlots.list } : null,
        },
        [new Uint8Array(weightData as ArrayBuffer), ...(resumeSlots?.parts ?? [])],
      );
      if (o.signal?.aborted) stop();
    });
  } finally {
    for (const remove of removers) remove();
  }
}
