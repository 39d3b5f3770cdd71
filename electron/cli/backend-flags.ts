/** `--gpu-host`, `--backend`, `--allow-software-gpu`: where training runs, for `loupe train`, `doctor` and `serve`. */
import { gpuHostSetting } from '../core/training/gpu-host/setting.ts';

/** The flags that choose where training runs; the training process reads them from its environment. */
export const BACKEND_OPTIONS = {
  'gpu-host': { type: 'string' },
  backend: { type: 'string' },
  'allow-software-gpu': { type: 'boolean' },
} as const;

/** Hands the backend flags to the training processes this command starts (they inherit the environment). */
export function applyBackendFlags(v: Record<string, string | boolean | undefined>): void {
  if (typeof v['gpu-host'] === 'string') process.env['LOUPE_GPU_HOST'] = v['gpu-host'];
  if (typeof v['backend'] === 'string') process.env['LOUPE_BACKEND'] = v['backend'];
  if (v['allow-software-gpu']) process.env['LOUPE_ALLOW_SOFTWARE_GPU'] = '1';
  // Checked here, so a typo is a usage error now rather than a failed run later.
  gpuHostSetting();
}

