// Types for prebuilt.mjs (plain JavaScript so that bin/loupe.js can use it before tsx is loaded).
export const SOURCE_ROOT: string;
export const DIST_DIR: string;
export function manifestOf(bundle: string): string;
export function writePrebuilt(bundle: string, outputs: readonly { path: string; contents: Uint8Array }[], inputs: readonly string[], root?: string): void;
export function bundleMatchesSources(bundle: string, root?: string): boolean;
export function prebuiltEntry(path: string): URL | null;
export function execArgvWithoutTsx(argv?: readonly string[]): string[];
export function launchFrom(built: URL | null, source: URL): { url: URL; execArgv: string[]; prebuilt: boolean };
