/**
 * Where a run trains (issue 16): tfjs-node-gpu when CUDA works; else a GPU host's WebGPU on a hardware adapter,
 * else its WebGL2 on a hardware renderer; else the CPU chain (backend.ts). The training process keeps a CPU
 * backend in every case, for what happens around the fit (building the model, checkpoints, evaluation).
 * The user's settings are read by setting.ts.
 */
import { basename } from 'node:path';
import { LoupeError } from '../../../../shared/contract.ts';
import { chooseGpuBackend, type GpuAdapterReport, type GpuBackendName, type GpuProbe } from '../../../../shared/gpu-host-protocol.ts';
import type { BackendReport } from '../../../../shared/worker-protocol.ts';
import { DEFAULT_LOADERS, selectBackend } from '../backend.ts';
import { launchChromiumGpuHost, type GpuHostLink } from './chromium.ts';
import { openRelayGpuHost } from './relay-link.ts';
import { CPU_BACKENDS, GPU_BACKENDS, gpuHostSetting, type GpuHostSetting, type GpuHostSource } from './setting.ts';

/** Starts the GPU host a setting names. */
export function launchGpuHost(source: GpuHostSource, allowSoftware: boolean): Promise<GpuHostLink> {
  return source.kind === 'chromium' ? launchChromiumGpuHost({ executable: source.executable, software: allowSoftware }) : openRelayGpuHost();
}

/** A GPU host ready to train: the link to its page, and the backend and adapter chosen there. */
export interface GpuHostChoice {
  readonly link: GpuHostLink;
  readonly backend: GpuBackendName;
  readonly adapter: GpuAdapterReport;
}

const PROBE_TIMEOUT_MS = 30_000;

export function probeGpuHost(link: GpuHostLink): Promise<GpuProbe> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the GPU host did not answer its probe within ${PROBE_TIMEOUT_MS / 1000} s`)), PROBE_TIMEOUT_MS);
    const unlisten = link.listen((h) => {
      if (h.type === 'probed') done(null, h.probe);
    });
    const unlost = link.onLost((e) => done(e));
    function done(e: Error | null, probe?: GpuProbe): void {
      clearTimeout(timer);
      unlisten();
      unlost();
      if (e) reject(e);
      else resolve(probe!);
    }
    link.send({ type: 'probe' });
  });
}

/** The order backends are tried in: CUDA, the GPU host's WebGPU and WebGL, then the CPU chain. */
const CHAIN: readonly string[] = ['tfjs-node-gpu', 'gpu-host', ...GPU_BACKENDS, ...CPU_BACKENDS.filter((n) => n !== 'tfjs-node-gpu')];

/** Passed-over backends in the order they were tried, so `loupe doctor` reads top to bottom like the chain. */
function inChainOrder<T extends { readonly name: string }>(rejected: readonly T[]): T[] {
  const at = (name: string) => (CHAIN.includes(name) ? CHAIN.indexOf(name) : CHAIN.length);
  return [...rejected].sort((a, b) => at(a.name) - at(b.name));
}

function describe(a: GpuAdapterReport, cpu: string): string {
  const api = a.backend === 'webgpu' ? 'WebGPU' : 'WebGL2';
  return `${api} on ${a.adapter}${a.software ? ' (a software GPU)' : ''}, in a Chromium GPU host; ${cpu} in the training process around it`;
}

/**
 * Chooses the backend of a run (or of `loupe doctor`, which passes keepHost false). A forced backend that cannot be
 * used fails with the reason; an automatic choice falls back and says why in `rejected`.
 */
export async function selectTrainingBackend(
  o: { keepHost: boolean; setting?: GpuHostSetting; launch?: typeof launchGpuHost },
): Promise<{ report: BackendReport; host: GpuHostChoice | null }> {
  const setting = o.setting ?? gpuHostSetting();
  const forcedGpu = GPU_BACKENDS.find((b) => b === setting.forced) ?? null;
  const forcedCpu = setting.forced && !forcedGpu ? setting.forced : null;
  const cpu = await selectBackend(forcedCpu ? { loaders: DEFAULT_LOADERS.filter((l) => l.name === forcedCpu) } : {});
  const cpuOnly = { report: { ...cpu, gpu: null }, host: null };
  // CUDA comes first; a forced CPU backend is final.
  if (forcedCpu || (cpu.chosen.name === 'tfjs-node-gpu' && !forcedGpu)) return cpuOnly;
  if (!setting.host) {
    if (forcedGpu) throw new LoupeError('VALIDATION', setting.absent ? `--backend ${forcedGpu}: ${setting.absent}` : `--backend ${forcedGpu} trains in a GPU host: give one with --gpu-host chromium:PATH or auto (or LOUPE_GPU_HOST)`);
    if (setting.absent) return { report: { ...cpu, rejected: inChainOrder([{ name: 'gpu-host', reason: setting.absent }, ...cpu.rejected]), gpu: null }, host: null };
    return cpuOnly;
  }
  const host = setting.host.kind === 'chromium' ? `Chromium GPU host (${basename(setting.host.executable)})` : "the app's GPU window";
  const hostFailed = (e: Error) => {
    if (forcedGpu) throw new Error(`--backend ${forcedGpu}: ${e.message}`);
    return { report: { ...cpu, rejected: inChainOrder([{ name: 'gpu-host', reason: e.message }, ...cpu.rejected]), gpu: { host, adapters: [] } }, host: null };
  };
  let link: GpuHostLink;
  let probe: GpuProbe;
  try {
    link = await (o.launch ?? launchGpuHost)(setting.host, setting.allowSoftware);
  } catch (e) {
    return hostFailed(e as Error);
  }
  try {
    probe = await probeGpuHost(link);
  } catch (e) {
    await link.close();
    return hostFailed(e as Error);
  }
  const { chosen, passedOver } = chooseGpuBackend(probe, { allowSoftware: setting.allowSoftware, forced: forcedGpu });
  const passed = passedOver.map((p) => ({ name: p.backend, reason: p.reason }));
  const gpu = { host, adapters: probe.adapters };
  if (!chosen || !o.keepHost) await link.close();
  if (!chosen) {
    if (forcedGpu) throw new LoupeError('VALIDATION', `--backend ${forcedGpu}: ${passed[0]?.reason ?? 'unavailable'}`);
    return { report: { ...cpu, rejected: inChainOrder([...cpu.rejected, ...passed]), gpu }, host: null };
  }
  return {
    report: { chosen: { name: chosen.backend, detail: describe(chosen, cpu.chosen.name) }, rejected: inChainOrder([...cpu.rejected, ...passed]), threads: 1, threadPool: cpu.threadPool, gpu },
    host: o.keepHost ? { link, backend: chosen.backend, adapter: chosen } : null,
  };
}
