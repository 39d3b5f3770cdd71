#!/usr/bin/env node
// The `loupe` CLI. CommonJS (bin/package.json), so that libuv's thread pool is sized before anything uses it
// (electron/core/thread-pool.cjs). Then the CLI's bundle (dist/cli/, built by `npm ci`) while it matches the
// sources, else the TypeScript sources through tsx: it works right after `npm ci`, and an edited checkout runs
// what it holds (electron/core/prebuilt.mjs).
const { withThreadPool } = require('../electron/core/thread-pool.cjs');

process.env.UV_THREADPOOL_SIZE = withThreadPool(process.env).UV_THREADPOOL_SIZE;

void (async () => {
  const { prebuiltEntry } = await import('../electron/core/prebuilt.mjs');
  const bundle = prebuiltEntry('cli/main.js');
  let main;
  if (bundle) {
    ({ main } = await import(bundle.href));
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main } = await import('../electron/cli/main.ts'));
  }
  process.exitCode = await main(process.argv.slice(2));
})();
