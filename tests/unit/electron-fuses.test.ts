/**
 * The Electron fuses the build flips (electron-builder.yml `electronFuses`), applied the way
 * `npm run dist` applies them: electron-builder's own translation of the option (PlatformPackager's
 * generateFuseConfig) handed to @electron/fuses' flipFuses, on a file laid out like Electron's fuse wire
 * (sentinel, version, length, one byte per fuse, as Electron 45 ships them), then read back with
 * getCurrentFuseWire. The Electron binary itself cannot be downloaded here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, '..', '..');
const yaml = require('js-yaml') as { load(text: string): unknown };
const fuses = require('@electron/fuses') as {
  FuseVersion: { V1: string };
  FuseV1Options: Record<string, number>;
  flipFuses(path: string, config: unknown): Promise<unknown>;
  getCurrentFuseWire(path: string): Promise<Record<string, unknown>>;
};
const { SENTINEL, FuseState: S } = require('@electron/fuses/dist/constants.js') as { SENTINEL: string; FuseState: Record<string, number> };
// Through the package's index: its modules import each other in an order only the index gets right.
const { PlatformPackager } = require('app-builder-lib') as {
  PlatformPackager: { prototype: { generateFuseConfig(this: unknown, options: unknown): Promise<Record<string | number, unknown>> } };
};

const F = fuses.FuseV1Options;

/** An "Electron binary" with Electron's default fuse wire between megabytes of other bytes. */
function fakeElectronBinary(): string {
  const defaults = [S.ENABLE, S.DISABLE, S.ENABLE, S.ENABLE, S.DISABLE, S.DISABLE, S.DISABLE, S.ENABLE] as number[];
  const wire = Buffer.from([Number(fuses.FuseVersion.V1), defaults.length, ...defaults]);
  const file = join(tempDir('loupe-fuses-'), 'loupe');
  writeFileSync(file, Buffer.concat([randomBytes(1 << 20), Buffer.from(SENTINEL), wire, randomBytes(1 << 20)]));
  return file;
}

test('the build flips the fuses that close Node entry points, keeping RunAsNode for the training process', async () => {
  const config = yaml.load(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as { electronFuses?: unknown };
  assert.ok(config.electronFuses, 'electron-builder.yml sets electronFuses (without it the build flips none)');
  const fuseConfig = await PlatformPackager.prototype.generateFuseConfig.call(null, config.electronFuses);
  const binary = fakeElectronBinary();
  const untouched = readFileSync(binary);
  await fuses.flipFuses(binary, fuseConfig);
  const wire = await fuses.getCurrentFuseWire(binary);
  const state = (option: string) => wire[F[option]!];
  assert.equal(state('RunAsNode'), S.ENABLE, 'RunAsNode on: Electron runs the training process as Node');
  assert.equal(state('EnableNodeOptionsEnvironmentVariable'), S.DISABLE, 'NODE_OPTIONS ignored');
  assert.equal(state('EnableNodeCliInspectArguments'), S.DISABLE, '--inspect and SIGUSR1 ignored');
  assert.equal(state('EnableEmbeddedAsarIntegrityValidation'), S.ENABLE, 'asar integrity checked');
  assert.equal(state('OnlyLoadAppFromAsar'), S.ENABLE, 'the app loads only from its asar');
  assert.equal(state('GrantFileProtocolExtraPrivileges'), S.ENABLE, 'the UI still loads from file://');
  // Only the wire changed: the rest of the binary is byte for byte what it was.
  const flipped = readFileSync(binary);
  const at = untouched.indexOf(SENTINEL) + SENTINEL.length + 2;
  assert.deepEqual(flipped.subarray(0, at), untouched.subarray(0, at));
  assert.deepEqual(flipped.subarray(at + 8), untouched.subarray(at + 8));
});
