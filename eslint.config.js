// ESLint flat config. Beyond the usual checks, it enforces Loupe's folder layering (the folder decides the
// runtime, see docs/style.md) with `no-restricted-imports` per folder, as VS Code does:
//   shared/          pure TS: no Node, no Electron, no DOM-only libraries, no other folder
//   electron/core/   plain Node: never `electron`, never the renderer or a face
//   electron/main/   Electron main: may import electron, core and shared, never the renderer
//   electron/preload sandboxed: electron and shared/transport only (no Node, no core, no zod)
//   electron/host, electron/cli: Node faces: never `electron`, never the renderer
//   renderer/        browser: never electron/, never Node
// .svelte files are not linted here (no Svelte parser is installed); svelte-check typechecks them.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noNode = {
  group: ['node:*', ...builtinModules, ...builtinModules.map((m) => `${m}/*`)],
  message: 'This folder runs without Node: no Node built-ins.',
};
const noElectron = { group: ['electron', 'electron/*'], message: 'Only electron/main and electron/preload may import electron.' };
const noDomLibs = {
  group: ['svelte', 'svelte/*', 'chart.js', 'chart.js/*'],
  message: 'DOM-only libraries belong to the renderer.',
};
const noNativeLibs = {
  group: ['better-sqlite3', 'sharp', '@tensorflow/*', 'ws'],
  message: 'Native and server libraries belong to electron/core (or the host).',
};
/** Relative imports that reach a given top-level folder, from any depth. */
const into = (...folders) => folders.flatMap((f) => [`**/${f}`, `**/${f}/**`]);

function restrict(patterns) {
  return { 'no-restricted-imports': ['error', { patterns }] };
}

const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  URL: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'out/**',
      'bench/tmp/**',
      'bench/results/**',
      'tests/.artifacts/**',
      '**/*.svelte',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Empty catch blocks are deliberate in a few places (a dead listener must not break core); they carry a comment.
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    // CommonJS: the CLI's entry (bin/package.json) and what it loads before tsx (core/thread-pool.cjs).
    files: ['**/*.cjs', 'bin/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...nodeGlobals, require: 'readonly', module: 'writable', exports: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // ---------- layering ----------
  {
    files: ['shared/**/*.ts'],
    rules: {
      ...restrict([noNode, noElectron, noDomLibs, noNativeLibs, { group: into('electron', 'renderer', 'tests', 'bench', 'scripts'), message: 'shared/ imports nothing from other folders.' }]),
      'no-restricted-globals': ['error', 'window', 'document', 'navigator', 'localStorage', 'sessionStorage', 'process', 'Buffer'],
    },
  },
  {
    files: ['electron/core/**/*.ts'],
    rules: {
      ...restrict([
        noElectron,
        noDomLibs,
        { group: into('renderer'), message: 'electron/core never imports the renderer.' },
        { group: into('main', 'preload', 'host', 'cli'), message: 'electron/core never imports a face: faces import core.' },
      ]),
      'no-restricted-globals': ['error', 'window', 'document', 'localStorage', 'sessionStorage'],
    },
  },
  {
    // The GPU host's page runs in a Chromium renderer with no Node: the core's fit loop bundled for the browser.
    files: ['electron/core/training/gpu-host/page.ts'],
    rules: {
      ...restrict([noNode, noElectron, noDomLibs, { group: into('renderer', 'main', 'preload', 'host', 'cli'), message: 'The GPU host page bundles core training code only.' }]),
      'no-restricted-globals': ['error', 'process', 'Buffer'],
    },
  },
  {
    files: ['electron/main/**/*.ts'],
    rules: restrict([noDomLibs, { group: into('renderer'), message: 'electron/main never imports the renderer.' }]),
  },
  {
    files: ['electron/preload/**/*.ts'],
    rules: restrict([
      noNode,
      noDomLibs,
      noNativeLibs,
      { group: ['zod', 'zod/*'], message: 'The sandboxed preload bundle must stay free of zod: main validates.' },
      { group: into('renderer', 'core', 'main', 'host', 'cli'), message: 'The preload may import only electron and shared/.' },
    ]),
  },
  {
    files: ['electron/host/**/*.ts', 'electron/cli/**/*.ts', 'electron/workers/**/*.ts'],
    rules: restrict([noElectron, noDomLibs, { group: into('renderer'), message: 'Node faces never import the renderer.' }]),
  },
  {
    files: ['renderer/**/*.ts'],
    rules: restrict([noNode, noElectron, noNativeLibs, { group: into('electron'), message: 'The renderer reaches Loupe only through renderer/lib/api.ts.' }]),
  },
  {
    // Tests and benches read untyped JSON (CLI output, HTTP replies) and poke at internals on purpose.
    files: ['tests/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The renderer's build config runs in Node, not in the page.
    files: ['vite.config.ts', 'svelte.config.js'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
