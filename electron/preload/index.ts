/**
 * The preload entry: exposes `window.loupe` and nothing else. Bundled by scripts/build-electron.js into one
 * CJS file (dist/electron/preload.cjs) because a sandboxed preload can only `require('electron')`.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { createBridge } from './bridge.ts';

/** Replaced by the contract's method names at build time (esbuild `define`). */
declare const __LOUPE_METHODS__: readonly string[];

contextBridge.exposeInMainWorld('loupe', createBridge(ipcRenderer, __LOUPE_METHODS__));
