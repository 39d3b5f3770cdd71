/**
 * How hard the fault tier pushes, from one environment variable (README, "Tests"):
 *   LOUPE_FAULTS=full    the figures: 50 kills per operation, a 60 s soak, a folder of 1,000,000 files
 *   LOUPE_FAULTS=quick   the same tests, smaller, so the whole tier fits in CI's time
 * `npm run faults` sets full; `npm test` runs quick unless told otherwise (scripts/test.js).
 */
export const FULL = process.env['LOUPE_FAULTS'] === 'full';

/** kill -9s per interrupted operation. */
export const KILLS = FULL ? 50 : 2;
/** How long the soak's processes share one project. */
export const SOAK_MS = FULL ? 60_000 : 15_000;
/** Files in the folder the folder browser lists while other clients are timed. */
export const HUGE_FOLDER_FILES = FULL ? 1_000_000 : 100_000;

/** A random moment within [min, max) ms, printed so a failure can be replayed. */
export function moment(min: number, max: number): number {
  const ms = Math.round(min + Math.random() * (max - min));
  process.stdout.write(`# kill after ${ms} ms\n`);
  return ms;
}
