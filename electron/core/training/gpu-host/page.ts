/**
 * The GPU host's page (issue 16): runs in a Chromium renderer with no Node and no UI (a hidden, sandboxed window in
 * the desktop app; a headless Chromium for the CLI and `loupe serve`). It trains with the core's own fit loop
 * (fit.ts, bundled for the browser: no second implementation) on TensorFlow.js's WebGPU or WebGL backend. Batches
 * come from the training process, which keeps the tensor cache, augmentation and checkpoints; weights, optimizer
 * slots and metrics go back to it. Messages are shared/gpu-host-protocol.ts frames over a WebSocket to the training
 * process (127.0.0.1, a one-time token in the page's address) or a message port given by the window's preload.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
// Loupe's training layers under tfjs's class names: loaded models train with the same layers as on the CPU path.
import '../kernels/layers.ts';
import { fit, type Batch, type BatchSource, type OptimizerSlots } from '../fit.ts';
import { decodeFrame, encodeFrame, floats, GPU_HOST_PORT_CHANNEL, ints, type FromGpuHost, type GpuAdapterReport, type GpuProbe, type ToGpuHost } from '../../../../shared/gpu-host-protocol.ts';
import { tensorList, tensorsOf, weightBytes } from './tensors.ts';

interface Link {
  send(frame: Uint8Array<ArrayBuffer>): void;
}

const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render|lavapipe/i;

function report(backend: GpuAdapterReport['backend'], fields: Partial<GpuAdapterReport>): GpuAdapterReport {
  return { backend, available: false, reason: null, adapter: '', driver: '', software: false, blocklisted: false, limits: {}, ...fields };
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
}

async function probeWebGpu(): Promise<GpuAdapterReport> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(o?: object): Promise<AdapterLike | null> } }).gpu;
  if (!gpu) return report('webgpu', { reason: 'WebGPU is not enabled in this browser' });
  let adapter: AdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return report('webgpu', { reason: `requestAdapter failed: ${(e as Error).message}` });
  }
  if (!adapter) return report('webgpu', { reason: 'no WebGPU adapter: no usable GPU, or Chromium turned WebGPU off for it' });
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return report('webgpu', {
    available: true,
    adapter: name,
    driver: info.description ?? '',
    software: Boolean(adapter.isFallbackAdapter || info.isFallbackAdapter) || SOFTWARE.test(name),
    limits: { maxBufferSize: adapter.limits['maxBufferSize'] ?? 0, maxStorageBufferBindingSize: adapter.limits['maxStorageBufferBindingSize'] ?? 0 },
  });
}

function probeWebGl(): GpuAdapterReport {
  // A context that refuses a "major performance caveat" is what Chromium gives a GPU it accelerates; one that only
  // exists without that flag is software rendering or a blocklisted GPU.
  const fast = new OffscreenCanvas(1, 1).getContext('webgl2', { failIfMajorPerformanceCaveat: true });
  const gl = fast ?? new OffscreenCanvas(1, 1).getContext('webgl2');
  if (!gl) return report('webgl', { reason: 'WebGL2 is unavailable (no GPU process, or disabled)' });
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  const vendor = String(ext ? gl.getParameter(ext.UNMASKED_VENDOR_WEBGL) : gl.getParameter(gl.VENDOR));
  const software = SOFTWARE.test(renderer);
  return report('webgl', {
    available: true,
    // ANGLE's renderer string names the vendor already ("ANGLE (NVIDIA, …)"); others get it in front.
    adapter: renderer.startsWith('ANGLE') ? renderer : `${vendor} ${renderer}`.trim(),
    driver: String(gl.getParameter(gl.VERSION)),
    software,
    blocklisted: !fast && !software,
    limits: { maxTextureSize: Number(gl.getParameter(gl.MAX_TEXTURE_SIZE)) },
  });
}

async function probe(): Promise<GpuProbe> {
  return { userAgent: navigator.userAgent, adapters: [await probeWebGpu(), probeWebGl()] };
}

class GpuHostPage {
  private streams = 0;
  private readonly waiting = new Map<number, (b: Batch | null) => void>();
  private acks: (() => void)[] = [];
  /** The fit under way (a transfer run fits twice on one host, one phase after the other); null between fits. */
  private controller: AbortController | null = null;
  private readonly watched = new Set<string>();

  constructor(private readonly link: Link) {}

  private send(header: FromGpuHost, parts: ArrayBufferView[] = []): void {
    this.link.send(encodeFrame(header, parts));
  }

  private ack(): Promise<void> {
    return new Promise((r) => this.acks.push(r));
  }

  async receive(data: ArrayBuffer): Promise<void> {
    const { header, parts } = decodeFrame<ToGpuHost>(new Uint8Array(data));
    switch (header.type) {
      case 'probe':
        this.send({ type: 'probed', probe: await probe() });
        return;
      case 'fit': {
        if (this.controller) throw new Error('a fit is already running on this GPU host');
        const controller = (this.controller = new AbortController());
        try {
          await this.fit(header, parts, controller.signal);
        } finally {
          this.controller = null;
        }
        return;
      }
      case 'batch': {
        const resolve = this.waiting.get(header.stream);
        this.waiting.delete(header.stream);
        const n = header.n;
        resolve?.(header.done ? null : { xs: floats(parts[0]!), ys: ints(parts[1]!), n });
        return;
      }
      case 'ack':
        this.acks.shift()?.();
        return;
      case 'stop':
        this.controller?.abort();
        return;
    }
  }

  private source(source: 'train' | 'val', size: number, shape: [number, number, number]): BatchSource {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the generator below needs the page
    const page = this;
    return {
      size,
      shape,
      async *batches(epoch: number, batchSize: number) {
        const stream = ++page.streams;
        page.send({ type: 'open', stream, source, epoch, batchSize });
        for (;;) {
          const next = new Promise<Batch | null>((r) => page.waiting.set(stream, r));
          page.send({ type: 'next', stream });
          const b = await next;
          if (!b) return;
          yield b;
        }
      },
    };
  }

  private async fit(h: Extract<ToGpuHost, { type: 'fit' }>, parts: Uint8Array[], signal: AbortSignal): Promise<void> {
    if (h.backend === 'webgl' && new URLSearchParams(location.search).has('software')) tf.env().set('SOFTWARE_WEBGL_ENABLED', true);
    if (!(await tf.setBackend(h.backend))) throw new Error(`the ${h.backend} backend failed to initialise`);
    await tf.ready();
    this.watchDevice(h.backend);
    this.send({ type: 'started', backend: h.backend, detail: `${h.backend} in ${navigator.userAgent.match(/(Headless)?Chrome\/[\d.]+/)?.[0] ?? 'Chromium'}` });
    const weightData = parts[0]!.slice().buffer;
    const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: h.modelTopology as object, weightSpecs: h.weightSpecs as tf.io.WeightsManifestEntry[], weightData }));
    try {
      const end = await fit(model, this.source('train', h.trainSize, h.shape), h.valSize > 0 ? this.source('val', h.valSize, h.shape) : null, {
        ...h.options,
        trainableLayers: h.options.trainableLayers ? h.options.trainableLayers.map((name) => model.getLayer(name)) : undefined,
        signal,
        resume: h.resume ? { state: h.resume.state, optimizerWeights: tensorsOf(h.resume.slots, parts.slice(1)) } : undefined,
        onBatchEnd: (metrics) => this.send({ type: 'batchEnd', metrics }),
        onCheckpoint: async (optimizer: OptimizerSlots, state, improved, metrics) => {
          const slots = await optimizer.getWeights();
          const { list, parts: slotParts } = await tensorList(slots);
          // getWeights() makes new tensors for the iteration count; the slots themselves stay with the optimizer.
          tf.dispose(slots.filter((w) => w.name === 'iter').map((w) => w.tensor));
          const acked = this.ack();
          this.send({ type: 'checkpoint', state, improved, metrics, slots: list }, [await weightBytes(model), ...slotParts]);
          await acked;
        },
        onEpochEnd: async (metrics, { improved, state }) => {
          const acked = this.ack();
          this.send({ type: 'epochEnd', metrics, improved, state });
          await acked;
        },
      });
      this.send({ type: 'ended', status: end.status, state: end.state, message: end.message }, [await weightBytes(model)]);
    } finally {
      model.dispose();
    }
  }

  /** A lost GPU (driver reset, device removed) fails the run with the reason instead of hanging it. */
  private watchDevice(backend: 'webgpu' | 'webgl'): void {
    if (this.watched.has(backend)) return;
    this.watched.add(backend);
    const b = tf.backend() as unknown as { device?: { lost?: Promise<{ message: string; reason: string }> }; gpgpu?: { gl?: WebGL2RenderingContext } };
    if (backend === 'webgpu') {
      void b.device?.lost?.then((info) => this.send({ type: 'failed', message: `The GPU device was lost (${info.reason || 'unknown'}): ${info.message}` }));
    } else {
      const canvas = b.gpgpu?.gl?.canvas as EventTarget | undefined;
      canvas?.addEventListener('webglcontextlost', () => this.send({ type: 'failed', message: 'The WebGL context was lost (a GPU reset or driver crash)' }));
    }
  }

  fail(e: unknown): void {
    this.send({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
  }
}

/** Frames from a port or a socket go to the page; a frame that fails is reported, never thrown away silently. */
function attach(page: GpuHostPage, target: { onmessage: ((e: MessageEvent<ArrayBuffer>) => void) | null }): void {
  target.onmessage = (e) => void page.receive(e.data).catch((err) => page.fail(err));
}

function connect(): void {
  if (location.protocol === 'file:') {
    // The desktop app's hidden window: its preload posts the port main sent it.
    const onPort = (e: MessageEvent) => {
      const port = e.ports[0];
      if (e.source !== window || e.data !== GPU_HOST_PORT_CHANNEL || !port) return;
      window.removeEventListener('message', onPort);
      attach(new GpuHostPage({ send: (frame) => port.postMessage(frame.buffer, [frame.buffer]) }), port);
    };
    window.addEventListener('message', onPort);
    return;
  }
  const token = new URLSearchParams(location.search).get('t') ?? '';
  const ws = new WebSocket(`ws://${location.host}/ws?t=${encodeURIComponent(token)}`);
  ws.binaryType = 'arraybuffer';
  attach(new GpuHostPage({ send: (frame) => ws.send(frame) }), ws);
  // The training process went away: nothing is left to train for.
  ws.onclose = () => window.close();
}

connect();
