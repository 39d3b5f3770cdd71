// Types for scripts/build-electron.js, so TypeScript tests can import its options and checks.
import type { BuildOptions, BuildResult } from 'esbuild';

export const MAIN_EXTERNALS: string[];
export function mainOptions(): BuildOptions & { outfile: string };
export function preloadOptions(methods: readonly string[]): BuildOptions & { outfile: string };
export function workerOptions(): BuildOptions & { outfile: string };
export function gradientThreadOptions(): BuildOptions & { outfile: string };
export function buildThreads(opts?: BuildOptions): Promise<BuildResult>;
export const CLI_DIR: string;
export function cliOptions(outdir?: string): BuildOptions;
export function buildCli(outdir?: string): Promise<BuildResult>;
export function buildForNode(): Promise<void>;
export function contractMethods(): Promise<string[]>;
export function electronPage(indexHtml: string, policy: string): string;
export function checkPreloadBundle(code: string): void;
export function buildElectron(opts?: { write?: boolean; methods?: readonly string[] }): Promise<{ main: BuildResult; preload: BuildResult }>;
