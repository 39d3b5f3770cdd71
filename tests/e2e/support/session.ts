/**
 * One e2e file's world: a temp folder whose `home/` is the host's HOME, a real `loupe serve`, Debian's Chromium and
 * one page whose problems are collected: uncaught errors, console errors, failed requests and HTTP error replies
 * (issue 15: a normal start logged an HTTP 409). `openSession` in `before`, `close` in `after`, which fails the
 * file if any problem was left unasserted; screenshots go to tests/.artifacts/.
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
  /** Uncaught errors, console errors, failed requests and HTTP errors in the page, to assert empty. */
  pageErrors: string[];
  /** A problem this test provokes on purpose (e.g. a refused request): dropped from pageErrors from now on. */
  expectProblem(pattern: RegExp): void;
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
  /** More environment for the host (and the training processes it starts). */
  env?: Record<string, string>;
}): Promise<Session> {
  const tmp = mkdtempSync(join(tmpdir(), `loupe-e2e-${opts.name}-`));
  const home = join(tmp, 'home');
  mkdirSync(home);
  mkdirSync(ARTIFACTS, { recursive: true });
  const parts: Partial<Session> = {};
  const pageErrors: string[] = [];
  const close = async () => {
    await parts.browser?.close();
    await parts.served?.stop();
    rmSync(tmp, { recursive: true, force: true });
    if (pageErrors.length) throw new Error(`The page had problems no test asserted:\n${pageErrors.join('\n')}`);
  };
  try {
    const project = (await opts.prepare?.({ tmp, home })) ?? undefined;
    parts.served = await startServe({ home, ...(project ? { project } : {}), ...(opts.env ? { env: opts.env } : {}) });
    parts.browser = await launchChromium();
    const page = await parts.browser.newPage({ viewport: opts.viewport });
    const expected: RegExp[] = [];
    watchProblems(page, (problem) => {
      if (!expected.some((re) => re.test(problem))) pageErrors.push(problem);
    });
    return {
      tmp,
      home,
      served: parts.served,
      browser: parts.browser,
      page,
      pageErrors,
      expectProblem: (pattern) => void expected.push(pattern),
      shot: async (name) => void (await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) })),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Reports every problem a page shows a user or a developer: what a DevTools console would list in red. */
export function watchProblems(page: Page, report: (problem: string) => void): void {
  // The access token stays out of test output.
  const clean = (url: string) => url.replace(/([?&]token=)[^&]+/, '$1…');
  page.on('pageerror', (e) => report(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') report(`console error: ${m.text()}${m.location().url ? ` (${clean(m.location().url)})` : ''}`);
  });
  page.on('requestfailed', (r) => {
    // A request the page cancels itself (a thumbnail scrolled away, a superseded query) is not a failure.
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') report(`request failed: ${r.method()} ${clean(r.url())}: ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) report(`HTTP ${r.status()}: ${r.request().method()} ${clean(r.url())}`);
  });
}
