/**
 * Where a run may train, as the user set it (issue 16): read from the environment, which the CLI's flags set for
 * the training processes. Apart from select.ts so that a command checks its flags without loading TensorFlow.js.
 *
 * Settings (the CLI's flags set them for the training process; `loupe serve` and the app read the environment):
 *   LOUPE_GPU_HOST=chromium:PATH   start PATH (Chrome or Chromium) headless as the GPU host; `off` or unset: none;
 *                                  `auto`: the first installed Chrome, Chromium or Edge (installedChromium);
 *                                  `window`: the desktop app's hidden window (the app sets it for its training processes)
 *   LOUPE_BACKEND=NAME             force one backend: webgpu, webgl, tfjs-node-gpu, tfjs-node, wasm or cpu
 *   LOUPE_ALLOW_SOFTWARE_GPU=1     let a software GPU (SwiftShader) be chosen, and render with it: for tests
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeError } from '../../../../shared/contract.ts';
import type { GpuBackendName } from '../../../../shared/gpu-host-protocol.ts';

export const GPU_BACKENDS: readonly GpuBackendName[] = ['webgpu', 'webgl'];
/** The CPU chain (backend.ts's DEFAULT_LOADERS), in the order it is tried. */
export const CPU_BACKENDS: readonly string[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** Where a GPU host comes from: a Chrome or Chromium started headless, or the desktop app's hidden window. */
export type GpuHostSource = { readonly kind: 'chromium'; readonly executable: string } | { readonly kind: 'window' };

export interface GpuHostSetting {
  /** null: no GPU host. */
  readonly host: GpuHostSource | null;
  /** Why there is none although one was asked for (`auto` found no browser). */
  readonly absent?: string;
  readonly allowSoftware: boolean;
  /** A backend the user forced, or null for the automatic choice. */
  readonly forced: string | null;
}

/** Where Chrome, Chromium and Edge install themselves, in the order `--gpu-host auto` tries them. */
export function chromiumCandidates(platform: NodeJS.Platform = process.platform, env: Record<string, string | undefined> = process.env): string[] {
  if (platform === 'darwin') {
    return ['Google Chrome', 'Chromium', 'Microsoft Edge'].map((app) => `/Applications/${app}.app/Contents/MacOS/${app}`);
  }
  if (platform === 'win32') {
    const roots = [env['PROGRAMFILES'], env['PROGRAMFILES(X86)'], env['LOCALAPPDATA']].filter((r): r is string => !!r);
    return [
      ...roots.map((r) => join(r, 'Google', 'Chrome', 'Application', 'chrome.exe')),
      ...roots.map((r) => join(r, 'Microsoft', 'Edge', 'Application', 'msedge.exe')),
    ];
  }
  return ['/usr/bin/google-chrome-stable', '/usr/bin/google-chrome', '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/microsoft-edge'];
}

/** The first installed browser that can be a GPU host, or null. */
export function installedChromium(candidates = chromiumCandidates(), exists: (path: string) => boolean = existsSync): string | null {
  return candidates.find((c) => exists(c)) ?? null;
}

export function gpuHostSetting(env: Record<string, string | undefined> = process.env, find: () => string | null = installedChromium): GpuHostSetting {
  const spec = env['LOUPE_GPU_HOST']?.trim() ?? '';
  if (spec && !['off', 'window', 'auto'].includes(spec) && !/^chromium:.+/.test(spec)) {
    throw new LoupeError('VALIDATION', `--gpu-host (LOUPE_GPU_HOST) takes chromium:PATH, auto or off; got "${spec}"`);
  }
  const forced = env['LOUPE_BACKEND']?.trim() || null;
  const known = [...GPU_BACKENDS, ...CPU_BACKENDS];
  if (forced && !known.includes(forced)) throw new LoupeError('VALIDATION', `--backend (LOUPE_BACKEND) takes ${known.join(', ')}; got "${forced}"`);
  const allowSoftware = env['LOUPE_ALLOW_SOFTWARE_GPU'] === '1';
  if (spec === 'auto') {
    const found = find();
    if (found) return { host: { kind: 'chromium', executable: found }, allowSoftware, forced };
    return { host: null, absent: `no Chrome, Chromium or Edge installed where --gpu-host auto looks (${chromiumCandidates().join(', ')})`, allowSoftware, forced };
  }
  const host: GpuHostSource | null = spec.startsWith('chromium:') ? { kind: 'chromium', executable: spec.slice('chromium:'.length) } : spec === 'window' ? { kind: 'window' } : null;
  return { host, allowSoftware, forced };
}
