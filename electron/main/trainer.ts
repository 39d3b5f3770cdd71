/**
 * The training process under Electron: Electron's own binary run as Node (ELECTRON_RUN_AS_NODE), forked with
 * the IPC channel, speaking the same protocol as under plain Node (shared/worker-protocol.ts). TensorFlow.js
 * never loads in the main process. When packaged, the worker and its native modules sit outside the asar.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { SpawnTrainer } from '../core/training/supervisor.ts';
import { gpuHostService, type GpuHostDeps } from './gpu-host.ts';
import { withThreadPool } from '../core/thread-pool.cjs';

/**
 * With `gpuHost`, each training process may ask for the app's hidden GPU window (issue 16): its environment names
 * it as the GPU host (LOUPE_GPU_HOST=window) unless the user set another, and main serves its requests; all
 * processes share one service, so the GPU is probed once, not per run.
 */
export function electronTrainer(workerPath: string, env: NodeJS.ProcessEnv = process.env, gpuHost?: GpuHostDeps): SpawnTrainer {
  const serve = gpuHost ? gpuHostService(gpuHost) : null;
  return (): ChildProcess => {
    const child = fork(workerPath.replace(/app\.asar([\\/])/, 'app.asar.unpacked$1'), [], {
      // The thread pool sized for its dataset cache to decode on every core (core/thread-pool.cjs).
      env: { ...withThreadPool(env), ...(gpuHost && !env['LOUPE_GPU_HOST'] ? { LOUPE_GPU_HOST: 'window' } : {}), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    serve?.(child);
    return child;
  };
}

/** Where shipped backbones live: resources/backbones next to the app when packaged, the repo's otherwise. */
export function backbonesDir(appRoot: string, resourcesPath: string | undefined, packaged: boolean): string {
  return packaged && resourcesPath ? `${resourcesPath}/backbones` : `${appRoot}/resources/backbones`;
}
