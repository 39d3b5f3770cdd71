'use strict';
/**
 * The size of libuv's thread pool, which runs sharp's decodes and encodes and asynchronous file reads. Its
 * default, 4 threads, would cap an import or a dataset cache at 4 images at once on any workstation. The pool takes
 * its size from the environment when it is first used, so a process must have it from its start: the CLI's entry
 * sets it before loading anything (bin/loupe.js is CommonJS because an ES module entry is itself read through the
 * pool), and training processes are forked with it. A size the user set stays.
 * CommonJS rather than TypeScript: bin/loupe.js needs it before tsx is loaded.
 */
const { availableParallelism } = require('node:os');

/** Images decoding at once (cores + 1, import/importer.ts), plus room for reads (files over 8 MiB) beside them. */
function threadPoolSize(cores = availableParallelism()) {
  return Math.max(4, cores + 3);
}

/** `env` with UV_THREADPOOL_SIZE set, unless it already is. */
function withThreadPool(env) {
  return env.UV_THREADPOOL_SIZE ? env : { ...env, UV_THREADPOOL_SIZE: String(threadPoolSize()) };
}

/** The pool size a process started with `env` has. */
function threadPoolOf(env) {
  const n = Number(env.UV_THREADPOOL_SIZE);
  // libuv's own rule: at least 1, at most 1024, 4 when unset or not a number.
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

module.exports = { threadPoolSize, withThreadPool, threadPoolOf };
