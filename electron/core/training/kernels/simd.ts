// Loupe's kernels in WebAssembly SIMD, run on the wasm backend's own memory (they import it), for the passes that
// were JS loops over the wasm heap: a JS loop handles one float per step, these four. On a LeNet step's 32-image
// shard they took 1.1 ms of 8.5 (max-pool gradient 0.6, relu-bias gradient 0.5); each is now 5–15× faster.
//
// The source is WebAssembly text, assembled when the wasm backend starts (wabt, ~50 ms once per process or
// thread): no binary is committed, and every instruction is here to read. Each kernel computes exactly what the JS
// loop it stands in for does, bit for bit (tests/medium/simd-kernels.test.ts), so either path gives the same
// training; the JS loops remain for the shapes these do not take and for an engine without SIMD.
import wabtInit from 'wabt';

const WAT = `(module
  (import "env" "memory" (memory 1))

  ;; The gradient of a 2x2, stride-2 max pool that tiles its NHWC input exactly (no padding, even height and
  ;; width), C >= 4. Each window sends dy to its first maximum in row-major order; strict >, so NaN and a window of
  ;; -inf send nothing; the other three get +0, as in the JS kernel's zero fill plus one add (-0 + 0 = +0).
  ;; Channels go four at a time; the last vector starts at C-4 and may redo channels, writing the same values.
  ;; Pointers are byte offsets into the memory; windowRows = batch * outHeight, windowCols = outWidth.
  (func (export "max_pool_grad_2x2")
    (param $x i32) (param $dy i32) (param $out i32) (param $windowRows i32) (param $windowCols i32) (param $C i32)
    (local $cb i32) (local $rowBytes i32) (local $last i32) (local $r i32) (local $w i32) (local $c i32)
    (local $o i32) (local $g i32) (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $best v128) (local $d v128)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rowBytes (i32.mul (i32.shl (local.get $windowCols) (i32.const 1)) (local.get $cb)))
    (local.set $last (i32.sub (local.get $cb) (i32.const 16)))
    (local.set $g (local.get $dy))
    (local.set $o (i32.const 0))
    (local.set $r (i32.const 0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $windowRows)))
      (local.set $w (i32.const 0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $w) (local.get $windowCols)))
        (local.set $c (i32.const 0))
        (block $channels_done (loop $channels
          (local.set $p0 (i32.add (local.get $o) (local.get $c)))
          (local.set $p1 (i32.add (local.get $p0) (local.get $cb)))
          (local.set $p2 (i32.add (local.get $p0) (local.get $rowBytes)))
          (local.set $p3 (i32.add (local.get $p2) (local.get $cb)))
          (local.set $v0 (v128.load align=4 (i32.add (local.get $x) (local.get $p0))))
          (local.set $v1 (v128.load align=4 (i32.add (local.get $x) (local.get $p1))))
          (local.set $v2 (v128.load align=4 (i32.add (local.get $x) (local.get $p2))))
          (local.set $v3 (v128.load align=4 (i32.add (local.get $x) (local.get $p3))))
          (local.set $d (v128.load align=4 (i32.add (local.get $g) (local.get $c))))
          ;; m_k: element k beats everything before it (the running best starts at -inf)
          (local.set $m0 (f32x4.gt (local.get $v0) (f32x4.splat (f32.const -inf))))
          (local.set $best (v128.bitselect (local.get $v0) (f32x4.splat (f32.const -inf)) (local.get $m0)))
          (local.set $m1 (f32x4.gt (local.get $v1) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $v1) (local.get $best) (local.get $m1)))
          (local.set $m2 (f32x4.gt (local.get $v2) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $v2) (local.get $best) (local.get $m2)))
          (local.set $m3 (f32x4.gt (local.get $v3) (local.get $best)))
          ;; the winner is the last element that beat everything before it
          (local.set $m2 (v128.andnot (local.get $m2) (local.get $m3)))
          (local.set $m1 (v128.andnot (v128.andnot (local.get $m1) (local.get $m2)) (local.get $m3)))
          (local.set $m0 (v128.andnot (v128.andnot (v128.andnot (local.get $m0) (local.get $m1)) (local.get $m2)) (local.get $m3)))
          (v128.store align=4 (i32.add (local.get $out) (local.get $p0))
            (f32x4.add (v128.and (local.get $d) (local.get $m0)) (f32x4.splat (f32.const 0))))
          (v128.store align=4 (i32.add (local.get $out) (local.get $p1))
            (f32x4.add (v128.and (local.get $d) (local.get $m1)) (f32x4.splat (f32.const 0))))
          (v128.store align=4 (i32.add (local.get $out) (local.get $p2))
            (f32x4.add (v128.and (local.get $d) (local.get $m2)) (f32x4.splat (f32.const 0))))
          (v128.store align=4 (i32.add (local.get $out) (local.get $p3))
            (f32x4.add (v128.and (local.get $d) (local.get $m3)) (f32x4.splat (f32.const 0))))
          (br_if $channels_done (i32.ge_u (local.get $c) (local.get $last)))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (if (i32.gt_u (local.get $c) (local.get $last)) (then (local.set $c (local.get $last))))
          (br $channels)))
        ;; the next window: two input columns on, one dy element on
        (local.set $o (i32.add (local.get $o) (i32.shl (local.get $cb) (i32.const 1))))
        (local.set $g (i32.add (local.get $g) (local.get $cb)))
        (local.set $w (i32.add (local.get $w) (i32.const 1)))
        (br $cols)))
      ;; the next row of windows starts two input rows down: skip the second row of this one
      (local.set $o (i32.add (local.get $o) (local.get $rowBytes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; The gradient of relu(z + b) over [rows, C]: g = dy * (y > 0 ? 1 : 0) (a multiply, so Inf where y is 0 gives
  ;; NaN), and db = the sum of g per channel in float64, rows in order, rounded to float32 once: the JS kernel's
  ;; sums exactly. Four channels at a time down the rows, then the channels past the last four one by one.
  (func (export "relu_bias_grad")
    (param $dy i32) (param $y i32) (param $g i32) (param $db i32) (param $rows i32) (param $C i32)
    (local $cb i32) (local $end i32) (local $c i32) (local $p i32)
    (local $v v128) (local $lo v128) (local $hi v128) (local $f f32) (local $s f64)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.mul (local.get $rows) (local.get $cb)))
    (local.set $c (i32.const 0))
    (block $groups_done (loop $groups
      (br_if $groups_done (i32.gt_u (i32.add (local.get $c) (i32.const 16)) (local.get $cb)))
      (local.set $lo (f64x2.splat (f64.const 0)))
      (local.set $hi (f64x2.splat (f64.const 0)))
      (local.set $p (local.get $c))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (f32x4.mul
          (v128.load align=4 (i32.add (local.get $dy) (local.get $p)))
          (v128.and
            (f32x4.gt (v128.load align=4 (i32.add (local.get $y) (local.get $p))) (f32x4.splat (f32.const 0)))
            (f32x4.splat (f32.const 1)))))
        (v128.store align=4 (i32.add (local.get $g) (local.get $p)) (local.get $v))
        (local.set $lo (f64x2.add (local.get $lo) (f64x2.promote_low_f32x4 (local.get $v))))
        (local.set $hi (f64x2.add (local.get $hi) (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (local.set $p (i32.add (local.get $p) (local.get $cb)))
        (br $rows)))
      (v128.store align=4 (i32.add (local.get $db) (local.get $c))
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (br $groups)))
    (block $tail_done (loop $tail
      (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cb)))
      (local.set $s (f64.const 0))
      (local.set $p (local.get $c))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $f (f32.mul
          (f32.load (i32.add (local.get $dy) (local.get $p)))
          (select (f32.const 1) (f32.const 0) (f32.gt (f32.load (i32.add (local.get $y) (local.get $p))) (f32.const 0)))))
        (f32.store (i32.add (local.get $g) (local.get $p)) (local.get $f))
        (local.set $s (f64.add (local.get $s) (f64.promote_f32 (local.get $f))))
        (local.set $p (i32.add (local.get $p) (local.get $cb)))
        (br $rows)))
      (f32.store (i32.add (local.get $db) (local.get $c)) (f32.demote_f64 (local.get $s)))
      (local.set $c (i32.add (local.get $c) (i32.const 4)))
      (br $tail))))
)`;

/** The kernels, on one wasm backend's memory. Arguments are byte offsets into it and element counts. */
export interface SimdKernels {
  maxPoolGrad2x2(x: number, dy: number, out: number, windowRows: number, windowCols: number, channels: number): void;
  reluBiasGrad(dy: number, y: number, g: number, db: number, rows: number, channels: number): void;
}

const loaded = new WeakMap<WebAssembly.Memory, SimdKernels>();
let compiled: Promise<WebAssembly.Module> | null = null;

/** The wasm backend's memory (Emscripten's exports), or null for any other backend. */
function memoryOf(backend: unknown): WebAssembly.Memory | null {
  const m = (backend as { wasm?: { asm?: { memory?: unknown } } } | null)?.wasm?.asm?.memory;
  return m instanceof WebAssembly.Memory ? m : null;
}

async function compile(): Promise<WebAssembly.Module> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat('loupe-kernels.wat', WAT, { simd: true });
  try {
    const { buffer } = parsed.toBinary({});
    return await WebAssembly.compile(new Uint8Array(buffer));
  } finally {
    parsed.destroy();
  }
}

/**
 * Assembles the kernels and binds them to this wasm backend's memory. Resolves with null once they are ready, or
 * with the reason they are not (the JS kernels then run, as fast as before): a backend without its memory in
 * reach, a memory shared between threads (tfjs's threaded build; a shared memory needs a shared import), or an
 * engine without SIMD.
 */
export async function loadSimdKernels(backend: unknown): Promise<string | null> {
  const memory = memoryOf(backend);
  if (!memory) return 'the wasm backend does not expose its memory';
  if (loaded.has(memory)) return null;
  if (typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer) return 'the wasm memory is shared between threads';
  try {
    compiled ??= compile();
    const instance = await WebAssembly.instantiate(await compiled, { env: { memory } });
    const e = instance.exports as Record<string, (...args: number[]) => void>;
    loaded.set(memory, { maxPoolGrad2x2: e.max_pool_grad_2x2!, reluBiasGrad: e.relu_bias_grad! });
    return null;
  } catch (err) {
    compiled = null;
    return `the SIMD kernels did not load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

/** The kernels bound to this backend's memory, or null (not loaded, or another backend): the caller runs its JS loop. */
export function simdKernels(backend: unknown): SimdKernels | null {
  const memory = memoryOf(backend);
  return memory ? (loaded.get(memory) ?? null) : null;
}
