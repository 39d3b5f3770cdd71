/** What the benchmark scripts share: percentile summaries and the facts about the machine a result was measured on. */
import { cpus, getPriority, loadavg, totalmem } from 'node:os';

const round2 = (v: number) => Math.round(v * 100) / 100;

/** n, median, p95 and max of a sample, rounded to 0.01. */
export function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
  return { n: s.length, median: round2(q(0.5)), p95: round2(q(0.95)), max: round2(s[s.length - 1]!) };
}

export const loadNow = (): number[] => loadavg().map(round2);

/** The machine, and how busy it was from `loadAtStart` (taken with loadNow) to now. */
export function runFacts(loadAtStart: number[]) {
  return {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', memGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    // Shared machine: other work running at the same time shows here and inflates every figure.
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadNow(),
    // Negative when run under `nice -n -10` to get figures nearer an idle machine on a busy shared one.
    niceness: getPriority(),
  };
}
