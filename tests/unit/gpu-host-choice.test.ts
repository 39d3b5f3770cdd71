// Issue 16: which GPU backend a run takes from what the GPU host's page found, the settings that steer it, and the
// frames that carry batches and weights between the training process and the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  chooseGpuBackend,
  decodeFrame,
  encodeFrame,
  floats,
  ints,
  type GpuAdapterReport,
  type GpuProbe,
} from '../../shared/gpu-host-protocol.ts';
import { selectTrainingBackend } from '../../electron/core/training/gpu-host/select.ts';
import { chromiumCandidates, CPU_BACKENDS, gpuHostSetting, installedChromium } from '../../electron/core/training/gpu-host/setting.ts';
import { DEFAULT_LOADERS } from '../../electron/core/training/backend.ts';
import type { GpuHostLink, GpuHostListener } from '../../electron/core/training/gpu-host/chromium.ts';

function adapter(backend: GpuAdapterReport['backend'], over: Partial<GpuAdapterReport> = {}): GpuAdapterReport {
  return { backend, available: true, reason: null, adapter: `${backend} card`, driver: '1.0', software: false, blocklisted: false, limits: {}, ...over };
}
const probe = (...adapters: GpuAdapterReport[]): GpuProbe => ({ userAgent: 'test', adapters });
const SWIFTSHADER = { software: true, adapter: 'Google SwiftShader' };

test('a hardware WebGPU adapter wins; WebGL2 on hardware when WebGPU has none', () => {
  assert.equal(chooseGpuBackend(probe(adapter('webgpu'), adapter('webgl')), { allowSoftware: false }).chosen?.backend, 'webgpu');
  const noWebGpu = chooseGpuBackend(probe(adapter('webgpu', { available: false, reason: 'no WebGPU adapter' }), adapter('webgl')), { allowSoftware: false });
  assert.equal(noWebGpu.chosen?.backend, 'webgl');
  assert.deepEqual(noWebGpu.passedOver, [{ backend: 'webgpu', reason: 'no WebGPU adapter' }]);
});

test('software adapters are never chosen automatically, nor when forced, unless allowed', () => {
  const soft = probe(adapter('webgpu', SWIFTSHADER), adapter('webgl', SWIFTSHADER));
  const auto = chooseGpuBackend(soft, { allowSoftware: false });
  assert.equal(auto.chosen, null);
  assert.deepEqual(auto.passedOver.map((p) => p.backend), ['webgpu', 'webgl']);
  assert.match(auto.passedOver[0]!.reason, /software rendering only \(Google SwiftShader\)/);
  assert.equal(chooseGpuBackend(soft, { allowSoftware: false, forced: 'webgl' }).chosen, null);
  assert.equal(chooseGpuBackend(soft, { allowSoftware: true }).chosen?.backend, 'webgpu');
  assert.equal(chooseGpuBackend(soft, { allowSoftware: true, forced: 'webgl' }).chosen?.backend, 'webgl');
});

test('a blocklisted GPU is passed over automatically, used when forced; a GPU-less browser chooses nothing', () => {
  const blocked = probe(adapter('webgpu', { available: false, reason: 'no WebGPU adapter' }), adapter('webgl', { blocklisted: true }));
  const auto = chooseGpuBackend(blocked, { allowSoftware: false });
  assert.equal(auto.chosen, null);
  assert.match(auto.passedOver[1]!.reason, /blocklist/);
  assert.equal(chooseGpuBackend(blocked, { allowSoftware: false, forced: 'webgl' }).chosen?.backend, 'webgl');
  const none = chooseGpuBackend(probe(), { allowSoftware: true });
  assert.equal(none.chosen, null);
  assert.deepEqual(none.passedOver.map((p) => p.reason), ['not offered by this browser', 'not offered by this browser']);
});

test('settings: chromium:PATH, auto or off, known backend names only', async () => {
  assert.deepEqual(gpuHostSetting({}), { host: null, allowSoftware: false, forced: null });
  assert.deepEqual(gpuHostSetting({ LOUPE_GPU_HOST: 'chromium:/opt/chrome/chrome', LOUPE_BACKEND: 'webgl', LOUPE_ALLOW_SOFTWARE_GPU: '1' }), {
    host: { kind: 'chromium', executable: '/opt/chrome/chrome' },
    allowSoftware: true,
    forced: 'webgl',
  });
  assert.equal(gpuHostSetting({ LOUPE_GPU_HOST: 'off' }).host, null);
  assert.deepEqual(gpuHostSetting({ LOUPE_GPU_HOST: 'window' }).host, { kind: 'window' });
  assert.throws(() => gpuHostSetting({ LOUPE_GPU_HOST: '/usr/bin/chromium' }), /chromium:PATH, auto or off/);
  assert.throws(() => gpuHostSetting({ LOUPE_BACKEND: 'cuda' }), /takes webgpu, webgl, tfjs-node-gpu/);
  // The names checked without TensorFlow.js are the chain's.
  assert.deepEqual(CPU_BACKENDS, DEFAULT_LOADERS.map((l) => l.name));

  // auto: the first installed browser, in the order of each platform's usual places.
  const linux = chromiumCandidates('linux');
  assert.equal(installedChromium(linux, (p) => p === '/usr/bin/chromium' || p === '/usr/bin/microsoft-edge'), '/usr/bin/chromium');
  assert.equal(installedChromium(linux, (p) => p.includes('google-chrome')), '/usr/bin/google-chrome-stable', 'Chrome before Chromium');
  assert.equal(installedChromium(linux, () => false), null);
  assert.deepEqual(chromiumCandidates('darwin')[0], '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome');
  const win = chromiumCandidates('win32', { PROGRAMFILES: 'C:\\Program Files', LOCALAPPDATA: 'C:\\Users\\tech\\AppData\\Local' });
  assert.equal(win.length, 4);
  assert.ok(win[0]!.endsWith(join('Google', 'Chrome', 'Application', 'chrome.exe')));
  assert.ok(win.at(-1)!.endsWith(join('Microsoft', 'Edge', 'Application', 'msedge.exe')));
  assert.deepEqual(gpuHostSetting({ LOUPE_GPU_HOST: 'auto' }, () => '/usr/bin/chromium').host, { kind: 'chromium', executable: '/usr/bin/chromium' });
  const none = gpuHostSetting({ LOUPE_GPU_HOST: 'auto' }, () => null);
  assert.equal(none.host, null);
  assert.match(none.absent!, /no Chrome, Chromium or Edge installed where --gpu-host auto looks/);
  // None found: the run trains on the CPU and says why; a forced GPU backend is refused with the same reason.
  const { report } = await selectTrainingBackend({ keepHost: true, setting: none });
  assert.equal(report.chosen.name, 'wasm');
  assert.match(report.rejected.find((r) => r.name === 'gpu-host')!.reason, /--gpu-host auto looks/);
  await assert.rejects(selectTrainingBackend({ keepHost: true, setting: { ...none, forced: 'webgpu' } }), /--backend webgpu: no Chrome, Chromium or Edge/);
});

/** A GPU host that answers its probe with the given adapters, without a browser. */
function fakeHost(found: GpuProbe): { launch: () => Promise<GpuHostLink>; closed: () => boolean } {
  let closed = false;
  let listener: GpuHostListener | null = null;
  const link: GpuHostLink = {
    send: (h) => {
      if (h.type === 'probe') queueMicrotask(() => listener?.({ type: 'probed', probe: found }, []));
    },
    listen: (l) => {
      listener = l;
      return () => (listener = null);
    },
    onLost: () => () => {},
    close: async () => {
      closed = true;
    },
  };
  return { launch: async () => link, closed: () => closed };
}

// selectTrainingBackend also walks the CPU chain (tfjs-node absent here, wasm loads): real, not faked.
test('selection: a hardware GPU host is kept for the run and reported with what was passed over', async () => {
  const host = fakeHost(probe(adapter('webgpu', { available: false, reason: 'no WebGPU adapter' }), adapter('webgl', { adapter: 'NVIDIA RTX A4000' })));
  const { report, host: chosen } = await selectTrainingBackend({ keepHost: true, setting: { host: { kind: 'chromium', executable: '/x/chromium' }, allowSoftware: false, forced: null }, launch: host.launch });
  assert.equal(report.chosen.name, 'webgl');
  assert.match(report.chosen.detail, /WebGL2 on NVIDIA RTX A4000, in a Chromium GPU host; wasm/);
  assert.equal(report.threads, 1);
  assert.deepEqual(report.rejected.find((r) => r.name === 'webgpu'), { name: 'webgpu', reason: 'no WebGPU adapter' });
  assert.equal(report.gpu?.adapters.length, 2);
  assert.equal(chosen?.backend, 'webgl');
  assert.equal(host.closed(), false);
  // `loupe doctor` probes and lets the host go.
  const doctor = fakeHost(probe(adapter('webgpu')));
  const d = await selectTrainingBackend({ keepHost: false, setting: { host: { kind: 'chromium', executable: '/x/chromium' }, allowSoftware: false, forced: null }, launch: doctor.launch });
  assert.equal(d.report.chosen.name, 'webgpu');
  assert.equal(d.host, null);
  assert.equal(doctor.closed(), true);
});

test('selection: a software-only host falls back to the CPU with the reasons; a forced GPU backend fails instead', async () => {
  const soft = () => fakeHost(probe(adapter('webgpu', SWIFTSHADER), adapter('webgl', SWIFTSHADER)));
  const fallback = soft();
  const { report, host } = await selectTrainingBackend({ keepHost: true, setting: { host: { kind: 'chromium', executable: '/x/chromium' }, allowSoftware: false, forced: null }, launch: fallback.launch });
  assert.equal(report.chosen.name, 'wasm');
  assert.equal(host, null);
  assert.equal(fallback.closed(), true);
  // Passed over in the order the chain tries them: CUDA, the GPU host's backends, then the CPU ones.
  assert.deepEqual(report.rejected.map((r) => r.name), ['tfjs-node-gpu', 'webgpu', 'webgl', 'tfjs-node']);
  await assert.rejects(
    selectTrainingBackend({ keepHost: true, setting: { host: { kind: 'chromium', executable: '/x/chromium' }, allowSoftware: false, forced: 'webgl' }, launch: soft().launch }),
    /--backend webgl: software rendering only/,
  );
  await assert.rejects(selectTrainingBackend({ keepHost: true, setting: { host: null, allowSoftware: false, forced: 'webgpu' } }), /--gpu-host chromium:PATH/);
  const failing = async () => {
    throw new Error('cannot start /x/chromium: ENOENT');
  };
  const noBrowser = await selectTrainingBackend({ keepHost: true, setting: { host: { kind: 'chromium', executable: '/x/chromium' }, allowSoftware: false, forced: null }, launch: failing });
  assert.equal(noBrowser.report.chosen.name, 'wasm');
  assert.deepEqual(noBrowser.report.rejected.map((r) => r.name), ['tfjs-node-gpu', 'gpu-host', 'tfjs-node']);
  assert.deepEqual(noBrowser.report.rejected[1], { name: 'gpu-host', reason: 'cannot start /x/chromium: ENOENT' });
  // A forced CPU backend never starts a GPU host.
  const cpu = await selectTrainingBackend({ keepHost: true, setting: { host: { kind: 'chromium', executable: '/x/chromium' }, allowSoftware: true, forced: 'cpu' }, launch: failing });
  assert.equal(cpu.report.chosen.name, 'cpu');
});

test('frames: header and parts round-trip 4-byte aligned; a frame that does not add up is refused', () => {
  const xs = Float32Array.from([1.5, -2, 3.25]);
  const ys = Int32Array.from([7]);
  const odd = Uint8Array.from([1, 2, 3, 4, 5]);
  const frame = encodeFrame({ type: 'batch', stream: 3 }, [odd, xs, ys]);
  const { header, parts } = decodeFrame<{ type: string; stream: number }>(frame);
  assert.equal(header.type, 'batch');
  assert.equal(header.stream, 3);
  assert.deepEqual([...parts[0]!], [1, 2, 3, 4, 5]);
  assert.deepEqual([...floats(parts[1]!)], [1.5, -2, 3.25]);
  assert.deepEqual([...ints(parts[2]!)], [7]);
  assert.ok(parts.every((p) => p.byteOffset % 4 === 0));

  const lying = new Uint8Array(frame);
  new DataView(lying.buffer).setUint32(0, 1 << 30, true);
  assert.throws(() => decodeFrame(lying), /header out of bounds/);
  assert.throws(() => decodeFrame(frame.subarray(0, frame.byteLength - 8)), /shorter than its parts/);
  assert.throws(() => decodeFrame(encodeFrame({ type: 'x' }).subarray(0, 2)), /malformed/);
  const noParts = new TextEncoder().encode(JSON.stringify({ type: 'x', parts: [-1] }));
  const bad = new Uint8Array(4 + noParts.byteLength + 4);
  new DataView(bad.buffer).setUint32(0, noParts.byteLength, true);
  bad.set(noParts, 4);
  assert.throws(() => decodeFrame(bad), /part sizes/);
});
