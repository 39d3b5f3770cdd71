/**
 * The folder layering in eslint.config.js, checked with ESLint itself on small virtual files: each folder may
 * import what its runtime has, and nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

/** Rule ids ESLint reports for `code` as if it lived at `file`. */
async function layeringErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-globals')
    .map((m) => m.message);
}

const cases: { file: string; code: string; allowed: boolean }[] = [
  // shared/: pure TS
  { file: 'shared/x.ts', code: "import { z } from 'zod';\nexport const s = z.string();", allowed: true },
  { file: 'shared/x.ts', code: "import type { Method } from './contract.ts';\nexport type M = Method;", allowed: true },
  { file: 'shared/x.ts', code: "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;", allowed: false },
  { file: 'shared/x.ts', code: "import { join } from 'path';\nexport const j = join;", allowed: false },
  { file: 'shared/x.ts', code: "import { app } from 'electron';\nexport const a = app;", allowed: false },
  { file: 'shared/x.ts', code: "import { mount } from 'svelte';\nexport const m = mount;", allowed: false },
  { file: 'shared/x.ts', code: "import { LoupeCore } from '../electron/core/api/loupe-core.ts';\nexport const c = LoupeCore;", allowed: false },
  { file: 'shared/x.ts', code: "import { api } from '../renderer/lib/api.ts';\nexport const a = api;", allowed: false },
  { file: 'shared/x.ts', code: 'export const w = document.title;', allowed: false },
  // electron/core/: plain Node, never electron, the renderer or a face
  { file: 'electron/core/x/y.ts', code: "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;", allowed: true },
  { file: 'electron/core/x/y.ts', code: "import Database from 'better-sqlite3';\nexport const d = Database;", allowed: true },
  { file: 'electron/core/x/y.ts', code: "import { methods } from '../../../shared/contract.ts';\nexport const m = methods;", allowed: true },
  { file: 'electron/core/x/y.ts', code: "import { app } from 'electron';\nexport const a = app;", allowed: false },
  { file: 'electron/core/x/y.ts', code: "import { ipcMain } from 'electron/main';\nexport const i = ipcMain;", allowed: false },
  { file: 'electron/core/x/y.ts', code: "import { api } from '../../../renderer/lib/api.ts';\nexport const a = api;", allowed: false },
  { file: 'electron/core/x/y.ts', code: "import { registerIpc } from '../../main/ipc.ts';\nexport const r = registerIpc;", allowed: false },
  { file: 'electron/core/x/y.ts', code: "import { startHost } from '../../host/server.ts';\nexport const s = startHost;", allowed: false },
  // electron/main/: may use electron, never the renderer
  { file: 'electron/main/x.ts', code: "import { app } from 'electron';\nexport const a = app;", allowed: true },
  { file: 'electron/main/x.ts', code: "import { LoupeCore } from '../core/api/loupe-core.ts';\nexport const c = LoupeCore;", allowed: true },
  { file: 'electron/main/x.ts', code: "import { api } from '../../renderer/lib/api.ts';\nexport const a = api;", allowed: false },
  // electron/preload/: electron and shared only, no Node, no zod, no core
  { file: 'electron/preload/x.ts', code: "import { contextBridge } from 'electron';\nexport const c = contextBridge;", allowed: true },
  { file: 'electron/preload/x.ts', code: "import { IPC_INVOKE_CHANNEL } from '../../shared/transport.ts';\nexport const c = IPC_INVOKE_CHANNEL;", allowed: true },
  { file: 'electron/preload/x.ts', code: "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;", allowed: false },
  { file: 'electron/preload/x.ts', code: "import { z } from 'zod';\nexport const s = z.string();", allowed: false },
  { file: 'electron/preload/x.ts', code: "import { LoupeCore } from '../core/api/loupe-core.ts';\nexport const c = LoupeCore;", allowed: false },
  // host and CLI: Node faces without electron
  { file: 'electron/host/x.ts', code: "import { createServer } from 'node:http';\nexport const c = createServer;", allowed: true },
  { file: 'electron/host/x.ts', code: "import { app } from 'electron';\nexport const a = app;", allowed: false },
  { file: 'electron/cli/x.ts', code: "import { dialog } from 'electron';\nexport const d = dialog;", allowed: false },
  // renderer/: browser only, the API through renderer/lib/api.ts
  { file: 'renderer/lib/x.ts', code: "import { methods } from '../../shared/contract.ts';\nexport const m = methods;", allowed: true },
  { file: 'renderer/lib/x.ts', code: "import { mount } from 'svelte';\nexport const m = mount;", allowed: true },
  { file: 'renderer/lib/x.ts', code: "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;", allowed: false },
  { file: 'renderer/lib/x.ts', code: "import { ipcRenderer } from 'electron';\nexport const i = ipcRenderer;", allowed: false },
  { file: 'renderer/lib/x.ts', code: "import { createBridge } from '../../electron/preload/bridge.ts';\nexport const b = createBridge;", allowed: false },
  { file: 'renderer/lib/x.ts', code: "import sharp from 'sharp';\nexport const s = sharp;", allowed: false },
];

test('each folder may import what its runtime has, and nothing else', async () => {
  for (const c of cases) {
    const errors = await layeringErrors(c.file, c.code);
    if (c.allowed) assert.deepEqual(errors, [], `${c.file} should allow:\n${c.code}`);
    else assert.ok(errors.length > 0, `${c.file} should refuse:\n${c.code}`);
  }
});
