/** Deterministic pseudo-random values in [offset − scale, offset + scale): the same for a seed on every run. */
export function seededValues(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale + offset;
  }
  return out;
}
