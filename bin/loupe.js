#!/usr/bin/env node
// The `loupe` CLI. CommonJS (bin/package.json), so that libuv's thread pool is sized before anything uses it
// (electron/core/thread-pool.cjs); then the TypeScript sources run through tsx, so it works right after `npm ci`
// with no build step.
const { withThreadPool } = require('../electron/core/thread-pool.cjs');

process.env.UV_THREADPOOL_SIZE = withThreadPool(process.env).UV_THREADPOOL_SIZE;

void (async () => {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../electron/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
})();
