// Pieces of WebAssembly text that several kernels share. WAT has no inlinable function body: a helper called from
// a kernel's innermost loop costs a call and spills its eight accumulators, so the shared step is generated here
// and spliced into each kernel's text (as winograd4.ts generates its transforms).

/**
 * The convolution kernels' innermost step: four splatted scalars $s0..$s3 (four outputs, or four inputs) times two
 * vectors of four channels each (`v0`, `v1`: locals), added into the eight accumulators $a00..$a31 ($a<scalar><vector>).
 * One relaxed_madd each, in this order: the bit-for-bit tests (simd-kernels.test.ts) hold the kernels to it.
 */
export function madd4x8(v0: string, v1: string): string {
  const lines: string[] = [];
  for (const s of [0, 1, 2, 3]) {
    for (const [j, v] of [v0, v1].entries()) {
      lines.push(`(local.set $a${s}${j} (f32x4.relaxed_madd (local.get $s${s}) (local.get ${v}) (local.get $a${s}${j})))`);
    }
  }
  return lines.join('\n');
}

/**
 * tfjs's step(x) for a ReLU's gradient, four lanes of the local `v`: 1 where v > 0, NaN where v is NaN, else 0.
 * A ReLU's gradient is dy times it (not a mask: an infinite dy where x <= 0 gives NaN, as tfjs's Multiply does).
 */
export function stepVec(v: string): string {
  return `(v128.bitselect (local.get ${v}) (v128.and (f32x4.gt (local.get ${v}) (f32x4.splat (f32.const 0))) (f32x4.splat (f32.const 1))) (f32x4.ne (local.get ${v}) (local.get ${v})))`;
}

/** stepVec for one float32 local. */
export function stepScalar(f: string): string {
  return `(select (local.get ${f}) (select (f32.const 1) (f32.const 0) (f32.gt (local.get ${f}) (f32.const 0))) (f32.ne (local.get ${f}) (local.get ${f})))`;
}
