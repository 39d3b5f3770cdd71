/**
 * The training process under Electron: Electron's own binary run as Node (ELECTRON_RUN_AS_NODE), forked with
 * the IPC channel, speaking the same protocol as under plain Node (shared/worker-protocol.ts). TensorFlow.js
 * never loads in the main process. When packaged, the worker and its native modules sit outside the asar.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { SpawnTrainer } from '../core/training/supervisor.ts';

export function electronTrainer(workerPath: string, env: NodeJS.ProcessEnv = process.env): SpawnTrainer {
  return (): ChildProcess =>
    fork(workerPath.replace(/app\.asar([\\/])/, 'app.asar.unpacked$1'), [], {
      env: { ...env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
}

/** Where shipped backbones live: resources/backbones next to the app when packaged, the repo's otherwise. */
export function backbonesDir(appRoot: string, resourcesPath: string | undefined, packaged: boolean): string {
  return packaged && resourcesPath ? `${resourcesPath}/backbones` : `${appRoot}/resources/backbones`;
}
