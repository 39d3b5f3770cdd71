/**
 * One e2e file's world: a temp folder whose `home/` is the host's HOME, a real `loupe serve`, Debian's Chromium and
 * one page whose uncaught errors are collected. `openSession` in `before`, `close` in `after`; screenshots go to
 * tests/.artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { startServe, type Served } from './serve.ts';

export const ARTIFACTS = fileURLToPath(new URL('../../.artifacts/', import.meta.url));

export interface Session {
  tmp: string;
  home: string;
  served: Served;
  browser: Browser;
  page: Page;
  /** Uncaught errors in the page, to assert empty. */
  pageErrors: string[];
  /** A screenshot of the page as tests/.artifacts/<name>.png. */
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openSession(opts: {
  /** Part of the temp folder's name. */
  name: string;
  viewport: { width: number; height: number };
  /** Runs before the host starts (make data, import with the CLI); may return the project the host opens. */
  prepare?: (dirs: { tmp: string; home: string }) => Promise<string | void>;
}): Promise<Session> {
  const tmp = mkdtempSync(join(tmpdir(), `loupe-e2e-${opts.name}-`));
  const home = join(tmp, 'home');
  mkdirSync(home);
  mkdirSync(ARTIFACTS, { recursive: true });
  const parts: Partial<Session> = {};
  const close = async () => {
    await parts.browser?.close();
    await parts.served?.stop();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const project = (await opts.prepare?.({ tmp, home })) ?? undefined;
    parts.served = await startServe({ home, ...(project ? { project } : {}) });
    parts.browser = await launchChromium();
    const page = await parts.browser.newPage({ viewport: opts.viewport });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return {
      tmp,
      home,
      served: parts.served,
      browser: parts.browser,
      page,
      pageErrors,
      shot: async (name) => void (await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) })),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
