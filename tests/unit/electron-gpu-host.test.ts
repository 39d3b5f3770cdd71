// Issue 16: the desktop app's GPU host window, with Electron's objects faked (its binary cannot be downloaded here)
// and the training process's real side (relay-link.ts) on the other end of a fake IPC channel: the window is locked
// down like the main window and never shown, frames pass both ways, and a lost renderer or a missing page fails the
// link with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpuHostService, gpuHostWindowOptions } from '../../electron/main/gpu-host.ts';
import { secureWebPreferences } from '../../electron/main/window.ts';
import { openRelayGpuHost, type RelayChannel } from '../../electron/core/training/gpu-host/relay-link.ts';
import { decodeFrame, encodeFrame, GPU_HOST_PORT_CHANNEL, type GpuProbe } from '../../shared/gpu-host-protocol.ts';
import { FakeBrowserWindow, FakeMessageChannelMain } from '../helpers/electron-fakes.ts';
import { tempDir } from '../helpers/tmp.ts';

/** The two ends of a training process's IPC channel: main's ChildProcess and the process's own `process`. */
function channel() {
  const child = Object.assign(new EventEmitter(), { connected: true, send: (m: unknown) => void queueMicrotask(() => worker.emit('message', m)) });
  const worker = Object.assign(new EventEmitter(), { send: (m: unknown) => void queueMicrotask(() => child.emit('message', m)) });
  return { child, worker: worker as unknown as RelayChannel & EventEmitter };
}

function service(page?: string) {
  const dir = tempDir('loupe-gpu-window-');
  const built = join(dir, 'index.html');
  writeFileSync(built, '<!doctype html>');
  const logs: string[] = [];
  const serve = gpuHostService({
    BrowserWindow: FakeBrowserWindow as never,
    MessageChannelMain: FakeMessageChannelMain as never,
    page: page ?? built,
    preload: '/app/dist/electron/gpu-host-preload.cjs',
    log: (m) => logs.push(m),
  });
  return { serve, built, logs };
}

/** One training process served by a service of its own (or `shared`). */
function setUp(page?: string, shared = service(page)) {
  const { child, worker } = channel();
  shared.serve(child as never);
  return { child, worker, built: shared.built, logs: shared.logs };
}

const settle = () => new Promise((r) => setImmediate(r));

test('the GPU window is the main window\'s lock-down, hidden, without DevTools, never throttled', () => {
  const options = gpuHostWindowOptions('/app/gpu-host-preload.cjs');
  assert.equal(options.show, false);
  assert.deepEqual(options.webPreferences, { ...secureWebPreferences('/app/gpu-host-preload.cjs', { devTools: false }), backgroundThrottling: false });
  assert.equal(options.webPreferences!.contextIsolation, true);
  assert.equal(options.webPreferences!.sandbox, true);
  assert.equal(options.webPreferences!.nodeIntegration, false);
});

test('a training process opens the window, and frames pass both ways through its port', async () => {
  const before = FakeBrowserWindow.created.length;
  const { worker, built } = setUp();
  const link = await openRelayGpuHost(worker);
  const win = FakeBrowserWindow.created.at(-1)!;
  assert.equal(FakeBrowserWindow.created.length, before + 1);
  assert.equal(win.loaded, built);
  assert.deepEqual(win.options, gpuHostWindowOptions('/app/dist/electron/gpu-host-preload.cjs'));
  const handed = win.webContents.postedPorts.at(-1)!;
  const channelMain = FakeMessageChannelMain.created.at(-1)!;
  assert.equal(handed.channel, GPU_HOST_PORT_CHANNEL);
  assert.deepEqual(handed.transfer, [channelMain.port2], 'the page gets the other end of main\'s port');
  assert.equal(channelMain.port1.started, true);

  // Training process -> page.
  link.send({ type: 'probe' }, [Float32Array.from([1.5, 2.5])]);
  await new Promise((r) => setImmediate(r));
  const out = channelMain.port1.posted.at(-1) as ArrayBuffer;
  assert.ok(out instanceof ArrayBuffer);
  const sent = decodeFrame<{ type: string }>(new Uint8Array(out));
  assert.equal(sent.header.type, 'probe');
  assert.deepEqual([...new Float32Array(sent.parts[0]!.slice().buffer)], [1.5, 2.5]);

  // Page -> training process.
  const probe: GpuProbe = { userAgent: 'Electron', adapters: [] };
  const got = new Promise((resolve) => link.listen((h) => resolve(h)));
  channelMain.port1.deliver(encodeFrame({ type: 'probed', probe }).buffer);
  assert.deepEqual(await got, { type: 'probed', probe, parts: [] });

  await link.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(win.destroyed, true, 'closing the link closes the window');
  assert.equal(channelMain.port1.closed, true);
});

test('a crashed GPU window fails the link with the reason; a missing page refuses to open; the process\'s exit closes it', async () => {
  const crash = setUp();
  const link = await openRelayGpuHost(crash.worker);
  const lost = new Promise<Error>((resolve) => link.onLost(resolve));
  const win = FakeBrowserWindow.created.at(-1)!;
  win.webContents.emit('render-process-gone', {}, { reason: 'crashed' });
  assert.match((await lost).message, /the GPU window went away: its renderer went away \(crashed\)/);
  assert.equal(win.destroyed, true);
  assert.match(crash.logs.join('\n'), /renderer went away: crashed/);

  const missing = setUp('/nowhere/gpu-host/index.html');
  await assert.rejects(openRelayGpuHost(missing.worker), /the GPU window could not open: its page is not built \(\/nowhere\/gpu-host\/index.html\)/);

  const exiting = setUp();
  await openRelayGpuHost(exiting.worker);
  const w = FakeBrowserWindow.created.at(-1)!;
  exiting.child.emit('exit', 0);
  assert.equal(w.destroyed, true);

  await assert.rejects(openRelayGpuHost({ on: () => {}, off: () => {} }), /not started by the desktop app/);
});

test('the probe is asked of a window once per app: later runs and doctors get the kept answer without a window, until a fit fails', async () => {
  const shared = service();
  const probe: GpuProbe = { userAgent: 'Electron', adapters: [] };
  const ask = async (link: Awaited<ReturnType<typeof openRelayGpuHost>>) => {
    const got = new Promise((resolve) => link.listen((h) => resolve(h)));
    link.send({ type: 'probe' });
    return got;
  };

  // First run: a window opens, the page answers the probe.
  const before = FakeBrowserWindow.created.length;
  const first = setUp(undefined, shared);
  const a = await openRelayGpuHost(first.worker);
  assert.equal(FakeBrowserWindow.created.length, before + 1);
  const answered = ask(a);
  await settle();
  const port = FakeMessageChannelMain.created.at(-1)!.port1;
  assert.equal(decodeFrame<{ type: string }>(new Uint8Array(port.posted.at(-1) as ArrayBuffer)).header.type, 'probe');
  port.deliver(encodeFrame({ type: 'probed', probe }).buffer);
  assert.deepEqual(await answered, { type: 'probed', probe, parts: [] });
  await a.close();

  // A doctor, then a run: answered from what was kept, no window, until the run sends its fit.
  for (let i = 0; i < 2; i += 1) {
    const next = setUp(undefined, shared);
    const link = await openRelayGpuHost(next.worker);
    assert.deepEqual(await ask(link), { type: 'probed', probe, parts: [] });
    assert.equal(FakeBrowserWindow.created.length, before + 1, 'no window for a probe already answered');
    if (i === 0) {
      await link.close();
      continue;
    }
    link.send({ type: 'stop' });
    await settle();
    await settle();
    assert.equal(FakeBrowserWindow.created.length, before + 2, 'a window once the run needs the GPU');
    const runPort = FakeMessageChannelMain.created.at(-1)!.port1;
    assert.equal(decodeFrame<{ type: string }>(new Uint8Array(runPort.posted.at(-1) as ArrayBuffer)).header.type, 'stop', 'the frame waited for the window');
    // The fit fails on the GPU (a lost context): the kept probe goes, the GPU may have been reset.
    const failed = new Promise((resolve) => link.listen((h) => resolve(h)));
    runPort.deliver(encodeFrame({ type: 'failed', message: 'the WebGL context was lost' }).buffer);
    assert.equal(((await failed) as { type: string }).type, 'failed');
    await link.close();
  }

  const after = setUp(undefined, shared);
  const link = await openRelayGpuHost(after.worker);
  assert.equal(FakeBrowserWindow.created.length, before + 3, 'probed again after a failure');
  await link.close();
});
