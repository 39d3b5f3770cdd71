// Loupe's kernels in WebAssembly SIMD, run on the wasm backend's own memory (they import it):
//  - passes that were JS loops over the wasm heap (a JS loop handles one float per step, these four): on a LeNet
//    step's 32-image shard they took 1.1 ms of 8.5 (max-pool gradient 0.6, relu-bias gradient 0.5), each now 5–15×
//    faster;
//  - the transpose of [B, P, C] to [C, P, B] that filter gradients make of activations: 4×4 blocks instead of
//    tfjs's one value at a time;
//  - batch norm's per-channel passes (float32, four lanes at a time, sums carried in float64 between runs of 64
//    rows): about twice the speed of the float64 passes they replaced;
//  - the filter gradient of a convolution (4 input × 8 output channels at a time, straight from x and dy): 2.5–3×
//    faster than XNNPACK's convolution with dy as its kernel, and no transposes;
//  - 3×3 convolutions with stride 1 by Winograd's F(4×4, 3×3) (winograd.ts, winograd4.ts, which generates the
//    transforms' text from their tables): 2–3.5× XNNPACK's direct ones, and their filter gradients 2–3× the direct
//    kernel above;
//  - convolutions with few input channels (LeNet-5's, a grey stem) and their stride-1 input gradients, directly
//    (direct-conv-wat.ts), skipping the taps in padding: LeNet's input gradient 1.4 ms where XNNPACK took 2.7;
//  - a ReLU layer's gradient and a strided input gradient's phases put in place: one pass each, where tfjs ran
//    three kernels (Step, Cast, Multiply) or a stack per axis and a slice;
//  - the optimizers' update of a variable in one call instead of tfjs's 4 (momentum) or 12 (Adam) kernels, each a
//    call from JS and a pass over memory (fused-optimizers.ts).
//
// The source is WebAssembly text, assembled when the wasm backend starts (wabt, ~50 ms once per process or
// thread): no binary is committed, and every instruction is here to read.
//
// The convolutions' products (conv_filter_grad, the Winograd kernels) accumulate with relaxed SIMD's
// f32x4.relaxed_madd: one fused multiply-add (one rounding) where the CPU has FMA, a multiply and an add (two)
// where it has not. V8 picks the instruction per machine, the same in both of its compilers, so a machine always
// computes the same bits, and simdMultiplyAdd() says which. The convolutions run 13–18% faster with it on an AVX-512
// Xeon. Where the engine lacks relaxed SIMD (or LOUPE_WASM_FMA=0), the same text is assembled with each
// relaxed_madd written out as an add and a multiply (unfusedText), which are the sums before it, bit for bit. Each kernel computes exactly what the JS
// loop it stands in for does, bit for bit (tests/medium/simd-kernels.test.ts), so either path gives the same
// training; the JS loops remain for the shapes these do not take and for an engine without SIMD. The filter
// gradient stands in for XNNPACK, not a JS loop: it sums in its own fixed order (the test holds it to that order,
// bit for bit), so its weights differ from XNNPACK's by float32 rounding.
import type wabtFactory from 'wabt';
import { DIRECT_CONV_WAT } from './direct-conv-wat.ts';
import { madd4x8, stepScalar, stepVec } from './wat-blocks.ts';
import { WINOGRAD4_WAT } from './winograd4.ts';

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

  ;; Batch norm's per-channel passes over [rows, C], operation for operation as the JS passes (batch-norm-kernels.ts)
  ;; do them: float32 arithmetic four channels at a time, and the sums carried in float64 from one run of 64 rows to
  ;; the next (a run's float32 sum is short enough to stay within a few float32 roundings). In float64 throughout
  ;; they ran at half the speed of a plain pass over the same memory. The channels past the last four one by one.

  ;; Sums of (a - shiftA) and (a - shiftA)*(b - shiftB) per channel: $f64 holds [shiftA | shiftB | first | second]
  ;; as float64, C each (the shifts float32 values), first and second zeroed. Rows are taken in blocks of ~32 kB (a
  ;; multiple of the run), each channel group down a block while it is in cache; each channel adds its rows in
  ;; order: in float32 within a run, each run's sums then added to the float64 ones. With $m (not 0), each a is
  ;; first multiplied by step(m): the gradient through a ReLU fused after batch norm, m its output.
  (func (export "channel_sums") (param $a i32) (param $b i32) (param $f64 i32) (param $rows i32) (param $C i32) (param $m i32)
    (local $cb i32) (local $db i32) (local $block i32) (local $r0 i32) (local $r1 i32) (local $c i32) (local $i i32)
    (local $end i32) (local $run i32) (local $q i32) (local $va v128) (local $d v128) (local $ha v128) (local $hb v128)
    (local $s v128) (local $p v128) (local $s0 v128) (local $s1 v128) (local $p0 v128) (local $p1 v128)
    (local $x f32) (local $hx f32) (local $hy f32) (local $sx f32) (local $px f32) (local $mv v128) (local $af f32) (local $mf f32)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $db (i32.shl (local.get $C) (i32.const 3)))
    ;; rows a block: ~32 kB, a multiple of 64 (the JS pass's forChannelBlocks with the same multiple)
    (local.set $block (i32.and (i32.div_u (i32.const 8192) (local.get $C)) (i32.const -64)))
    (if (i32.eqz (local.get $block)) (then (local.set $block (i32.const 64))))
    (local.set $r0 (i32.const 0))
    (block $blocks_done (loop $blocks
      (br_if $blocks_done (i32.ge_u (local.get $r0) (local.get $rows)))
      (local.set $r1 (i32.add (local.get $r0) (local.get $block)))
      (if (i32.gt_u (local.get $r1) (local.get $rows)) (then (local.set $r1 (local.get $rows))))
      (local.set $end (i32.mul (local.get $r1) (local.get $cb)))
      (local.set $c (i32.const 0))
      (block $groups_done (loop $groups
        (br_if $groups_done (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $C)))
        ;; $q: this group's byte offset in each f64 vector
        (local.set $q (i32.add (local.get $f64) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $ha (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.load align=8 (local.get $q))) (f32x4.demote_f64x2_zero (v128.load offset=16 align=8 (local.get $q)))))
        (local.set $hb (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.load align=8 (i32.add (local.get $q) (local.get $db))))
          (f32x4.demote_f64x2_zero (v128.load offset=16 align=8 (i32.add (local.get $q) (local.get $db))))))
        (local.set $s0 (v128.load align=8 (i32.add (local.get $q) (i32.shl (local.get $db) (i32.const 1)))))
        (local.set $s1 (v128.load offset=16 align=8 (i32.add (local.get $q) (i32.shl (local.get $db) (i32.const 1)))))
        (local.set $p0 (v128.load align=8 (i32.add (local.get $q) (i32.mul (local.get $db) (i32.const 3)))))
        (local.set $p1 (v128.load offset=16 align=8 (i32.add (local.get $q) (i32.mul (local.get $db) (i32.const 3)))))
        (local.set $i (i32.add (i32.mul (local.get $r0) (local.get $cb)) (i32.shl (local.get $c) (i32.const 2))))
        (block $runs_done (loop $runs
          (br_if $runs_done (i32.ge_u (local.get $i) (local.get $end)))
          (local.set $run (i32.add (local.get $i) (i32.shl (local.get $cb) (i32.const 6))))
          (if (i32.gt_u (local.get $run) (local.get $end)) (then (local.set $run (local.get $end))))
          (local.set $s (v128.const i32x4 0 0 0 0))
          (local.set $p (v128.const i32x4 0 0 0 0))
          (loop $rows_l
            (local.set $va (v128.load align=4 (i32.add (local.get $a) (local.get $i))))
            (if (local.get $m) (then
              (local.set $mv (v128.load align=4 (i32.add (local.get $m) (local.get $i))))
              (local.set $va (f32x4.mul (local.get $va) ${stepVec('$mv')}))))
            (local.set $d (f32x4.sub (local.get $va) (local.get $ha)))
            (local.set $s (f32x4.add (local.get $s) (local.get $d)))
            (local.set $p (f32x4.add (local.get $p)
              (f32x4.mul (local.get $d) (f32x4.sub (v128.load align=4 (i32.add (local.get $b) (local.get $i))) (local.get $hb)))))
            (local.set $i (i32.add (local.get $i) (local.get $cb)))
            (br_if $rows_l (i32.lt_u (local.get $i) (local.get $run))))
          (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $s))))
          (local.set $s1 (f64x2.add (local.get $s1) (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s) (local.get $s)))))
          (local.set $p0 (f64x2.add (local.get $p0) (f64x2.promote_low_f32x4 (local.get $p))))
          (local.set $p1 (f64x2.add (local.get $p1) (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))))
          (br $runs)))
        (v128.store align=8 (i32.add (local.get $q) (i32.shl (local.get $db) (i32.const 1))) (local.get $s0))
        (v128.store offset=16 align=8 (i32.add (local.get $q) (i32.shl (local.get $db) (i32.const 1))) (local.get $s1))
        (v128.store align=8 (i32.add (local.get $q) (i32.mul (local.get $db) (i32.const 3))) (local.get $p0))
        (v128.store offset=16 align=8 (i32.add (local.get $q) (i32.mul (local.get $db) (i32.const 3))) (local.get $p1))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $groups)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $C)))
        (local.set $q (i32.add (local.get $f64) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $hx (f32.demote_f64 (f64.load (local.get $q))))
        (local.set $hy (f32.demote_f64 (f64.load (i32.add (local.get $q) (local.get $db)))))
        (local.set $i (i32.add (i32.mul (local.get $r0) (local.get $cb)) (i32.shl (local.get $c) (i32.const 2))))
        (block $truns_done (loop $truns
          (br_if $truns_done (i32.ge_u (local.get $i) (local.get $end)))
          (local.set $run (i32.add (local.get $i) (i32.shl (local.get $cb) (i32.const 6))))
          (if (i32.gt_u (local.get $run) (local.get $end)) (then (local.set $run (local.get $end))))
          (local.set $sx (f32.const 0))
          (local.set $px (f32.const 0))
          (loop $trows
            (local.set $af (f32.load (i32.add (local.get $a) (local.get $i))))
            (if (local.get $m) (then
              (local.set $mf (f32.load (i32.add (local.get $m) (local.get $i))))
              (local.set $af (f32.mul (local.get $af) ${stepScalar('$mf')}))))
            (local.set $x (f32.sub (local.get $af) (local.get $hx)))
            (local.set $sx (f32.add (local.get $sx) (local.get $x)))
            (local.set $px (f32.add (local.get $px)
              (f32.mul (local.get $x) (f32.sub (f32.load (i32.add (local.get $b) (local.get $i))) (local.get $hy)))))
            (local.set $i (i32.add (local.get $i) (local.get $cb)))
            (br_if $trows (i32.lt_u (local.get $i) (local.get $run))))
          (f64.store (i32.add (local.get $q) (i32.shl (local.get $db) (i32.const 1)))
            (f64.add (f64.load (i32.add (local.get $q) (i32.shl (local.get $db) (i32.const 1)))) (f64.promote_f32 (local.get $sx))))
          (f64.store (i32.add (local.get $q) (i32.mul (local.get $db) (i32.const 3)))
            (f64.add (f64.load (i32.add (local.get $q) (i32.mul (local.get $db) (i32.const 3)))) (f64.promote_f32 (local.get $px))))
          (br $truns)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail)))
      (local.set $r0 (local.get $r1))
      (br $blocks))))

  ;; out = f32(f32(f32(a*u) + f32(b*f32(v - shift))) + k) per channel, in float32: $k32 holds [a | b | shift | k] as
  ;; float32, C each. With $v = 0 (no second input) it is out = f32(f32(a*f32(u - shift)) + k) and $k32 holds
  ;; [a | shift | k]: the forward pass's normalization around the shift, where a*u and k would cancel. A ReLU fused
  ;; after batch norm: with $m (not 0), u is first multiplied by step(m) (m the ReLU's output), and with $relu the
  ;; output is max(out, 0), which keeps NaN (tfjs's Relu on wasm gives 0 for NaN in its vector lanes: here a NaN
  ;; reaches the loss, where the NaN guard sees it).
  (func (export "channel_affine") (param $out i32) (param $u i32) (param $v i32) (param $k32 i32) (param $rows i32) (param $C i32)
    (param $m i32) (param $relu i32)
    (local $cb i32) (local $end i32) (local $i i32) (local $c i32) (local $q i32) (local $kq i32) (local $hq i32)
    (local $y v128) (local $t f32) (local $uv v128) (local $mv v128) (local $uf f32) (local $mf f32)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.mul (local.get $rows) (local.get $cb)))
    ;; where shift and k start: the second and third vectors of three, or the third and fourth of four
    (local.set $hq (select (local.get $cb) (i32.shl (local.get $cb) (i32.const 1)) (i32.eqz (local.get $v))))
    (local.set $kq (i32.add (local.get $hq) (local.get $cb)))
    (local.set $i (i32.const 0))
    (block $rows_done (loop $rows_l
      (br_if $rows_done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $c (i32.const 0))
      (block $groups_done (loop $groups
        (br_if $groups_done (i32.gt_u (i32.add (local.get $c) (i32.const 16)) (local.get $cb)))
        (local.set $q (i32.add (local.get $k32) (local.get $c)))
        (if (local.get $v)
          (then
            (local.set $uv (v128.load align=4 (i32.add (local.get $u) (local.get $i))))
            (if (local.get $m) (then
              (local.set $mv (v128.load align=4 (i32.add (local.get $m) (local.get $i))))
              (local.set $uv (f32x4.mul (local.get $uv) ${stepVec('$mv')}))))
            (local.set $y (f32x4.add
              (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $uv))
              (f32x4.mul (v128.load align=4 (i32.add (local.get $q) (local.get $cb)))
                (f32x4.sub (v128.load align=4 (i32.add (local.get $v) (local.get $i))) (v128.load align=4 (i32.add (local.get $q) (local.get $hq))))))))
          (else
            (local.set $y (f32x4.mul (v128.load align=4 (local.get $q))
              (f32x4.sub (v128.load align=4 (i32.add (local.get $u) (local.get $i))) (v128.load align=4 (i32.add (local.get $q) (local.get $hq))))))))
        (local.set $y (f32x4.add (local.get $y) (v128.load align=4 (i32.add (local.get $q) (local.get $kq)))))
        (if (local.get $relu) (then (local.set $y (f32x4.max (local.get $y) (f32x4.splat (f32.const 0))))))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i)) (local.get $y))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $groups)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cb)))
        (local.set $q (i32.add (local.get $k32) (local.get $c)))
        (if (local.get $v)
          (then
            (local.set $uf (f32.load (i32.add (local.get $u) (local.get $i))))
            (if (local.get $m) (then
              (local.set $mf (f32.load (i32.add (local.get $m) (local.get $i))))
              (local.set $uf (f32.mul (local.get $uf) ${stepScalar('$mf')}))))
            (local.set $t (f32.add
              (f32.mul (f32.load (local.get $q)) (local.get $uf))
              (f32.mul (f32.load (i32.add (local.get $q) (local.get $cb)))
                (f32.sub (f32.load (i32.add (local.get $v) (local.get $i))) (f32.load (i32.add (local.get $q) (local.get $hq))))))))
          (else
            (local.set $t (f32.mul (f32.load (local.get $q))
              (f32.sub (f32.load (i32.add (local.get $u) (local.get $i))) (f32.load (i32.add (local.get $q) (local.get $hq))))))))
        (local.set $t (f32.add (local.get $t) (f32.load (i32.add (local.get $q) (local.get $kq)))))
        (if (local.get $relu) (then (local.set $t (f32.max (local.get $t) (f32.const 0)))))
        (f32.store (i32.add (local.get $out) (local.get $i)) (local.get $t))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $tail)))
      (br $rows_l))))

  ;; out[c][p][b] = in[b][p][c] for 32-bit values: the transpose of [B, P, C] with perm [2, 1, 0] that the filter
  ;; gradients make of every activation (batch and channels swap places), 1.3-1.8 GB/s in tfjs's Transpose. For
  ;; each p, 4x4 blocks: four rows of four channels in, four rows of four images out; the images and channels past
  ;; the last four, one value at a time.
  (func (export "transpose_210") (param $in i32) (param $out i32) (param $B i32) (param $P i32) (param $C i32)
    (local $p i32) (local $b i32) (local $c i32) (local $b4 i32) (local $c4 i32) (local $inRow i32) (local $outRow i32)
    (local $src i32) (local $dst i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    ;; byte strides: from one image to the next in $in, from one channel to the next in $out
    (local.set $inRow (i32.shl (i32.mul (local.get $P) (local.get $C)) (i32.const 2)))
    (local.set $outRow (i32.shl (i32.mul (local.get $P) (local.get $B)) (i32.const 2)))
    (local.set $b4 (i32.and (local.get $B) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $p (i32.const 0))
    (block $ps_done (loop $ps
      (br_if $ps_done (i32.ge_u (local.get $p) (local.get $P)))
      (local.set $b (i32.const 0))
      (block $bs_done (loop $bs
        (br_if $bs_done (i32.ge_u (local.get $b) (local.get $b4)))
        (local.set $c (i32.const 0))
        (block $cs_done (loop $cs
          (br_if $cs_done (i32.ge_u (local.get $c) (local.get $c4)))
          ;; in[b][p][c]
          (local.set $src (i32.add (local.get $in) (i32.shl
            (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $P)) (local.get $p)) (local.get $C)) (local.get $c))
            (i32.const 2))))
          (local.set $r0 (v128.load align=4 (local.get $src)))
          (local.set $r1 (v128.load align=4 (i32.add (local.get $src) (local.get $inRow))))
          (local.set $r2 (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $inRow) (i32.const 1)))))
          (local.set $r3 (v128.load align=4 (i32.add (local.get $src) (i32.mul (local.get $inRow) (i32.const 3)))))
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
          (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
          (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
          ;; out[c][p][b]
          (local.set $dst (i32.add (local.get $out) (i32.shl
            (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $P)) (local.get $p)) (local.get $B)) (local.get $b))
            (i32.const 2))))
          (v128.store align=4 (local.get $dst)
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
          (v128.store align=4 (i32.add (local.get $dst) (local.get $outRow))
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
          (v128.store align=4 (i32.add (local.get $dst) (i32.shl (local.get $outRow) (i32.const 1)))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
          (v128.store align=4 (i32.add (local.get $dst) (i32.mul (local.get $outRow) (i32.const 3)))
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $cs)))
        ;; the channels past the last four, for these four images
        (block $ct_done (loop $ct
          (br_if $ct_done (i32.ge_u (local.get $c) (local.get $C)))
          (call $copy4 (local.get $in) (local.get $out) (local.get $B) (local.get $P) (local.get $C) (local.get $b) (local.get $p) (local.get $c))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $ct)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $bs)))
      ;; the images past the last four, every channel
      (block $bt_done (loop $bt
        (br_if $bt_done (i32.ge_u (local.get $b) (local.get $B)))
        (local.set $c (i32.const 0))
        (block $c1_done (loop $c1
          (br_if $c1_done (i32.ge_u (local.get $c) (local.get $C)))
          (i32.store
            (i32.add (local.get $out) (i32.shl
              (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $P)) (local.get $p)) (local.get $B)) (local.get $b))
              (i32.const 2)))
            (i32.load (i32.add (local.get $in) (i32.shl
              (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $P)) (local.get $p)) (local.get $C)) (local.get $c))
              (i32.const 2)))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $c1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bt)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ps))))

  ;; out[c][p][b .. b+3] = in[b .. b+3][p][c]
  (func $copy4 (param $in i32) (param $out i32) (param $B i32) (param $P i32) (param $C i32) (param $b i32) (param $p i32) (param $c i32)
    (local $k i32)
    (local.set $k (i32.const 0))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $k) (i32.const 4)))
      (i32.store
        (i32.add (local.get $out) (i32.shl
          (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $P)) (local.get $p)) (local.get $B)) (i32.add (local.get $b) (local.get $k)))
          (i32.const 2)))
        (i32.load (i32.add (local.get $in) (i32.shl
          (i32.add (i32.mul (i32.add (i32.mul (i32.add (local.get $b) (local.get $k)) (local.get $P)) (local.get $p)) (local.get $C)) (local.get $c))
          (i32.const 2)))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $each))))

  ;; SGD with momentum, tfjs's MomentumOptimizer step for one variable, one float32 operation at a time as its
  ;; kernels do them: acc' = m*acc + g; value' = c*acc' + value, or with Nesterov c*(g + acc'*m) + value (c = -lr).
  (func (export "momentum")
    (param $value i32) (param $acc i32) (param $grad i32) (param $outValue i32) (param $outAcc i32) (param $n i32)
    (param $m f32) (param $c f32) (param $nesterov i32)
    (local $p i32) (local $end i32) (local $vend i32) (local $mv v128) (local $cv v128) (local $g v128) (local $a v128)
    (local $g1 f32) (local $a1 f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (local.set $mv (f32x4.splat (local.get $m)))
    (local.set $cv (f32x4.splat (local.get $c)))
    (local.set $p (i32.const 0))
    (block $vectors_done (loop $vectors
      (br_if $vectors_done (i32.ge_u (local.get $p) (local.get $vend)))
      (local.set $g (v128.load align=4 (i32.add (local.get $grad) (local.get $p))))
      (local.set $a (f32x4.add (f32x4.mul (local.get $mv) (v128.load align=4 (i32.add (local.get $acc) (local.get $p)))) (local.get $g)))
      (v128.store align=4 (i32.add (local.get $outAcc) (local.get $p)) (local.get $a))
      (v128.store align=4 (i32.add (local.get $outValue) (local.get $p))
        (f32x4.add
          (f32x4.mul (local.get $cv)
            (select (result v128) (f32x4.add (local.get $g) (f32x4.mul (local.get $a) (local.get $mv))) (local.get $a) (local.get $nesterov)))
          (v128.load align=4 (i32.add (local.get $value) (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $vectors)))
    (block $done (loop $scalars
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $g1 (f32.load (i32.add (local.get $grad) (local.get $p))))
      (local.set $a1 (f32.add (f32.mul (local.get $m) (f32.load (i32.add (local.get $acc) (local.get $p)))) (local.get $g1)))
      (f32.store (i32.add (local.get $outAcc) (local.get $p)) (local.get $a1))
      (f32.store (i32.add (local.get $outValue) (local.get $p))
        (f32.add
          (f32.mul (local.get $c)
            (select (f32.add (local.get $g1) (f32.mul (local.get $a1) (local.get $m))) (local.get $a1) (local.get $nesterov)))
          (f32.load (i32.add (local.get $value) (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $scalars))))

  ;; Adam, tfjs's AdamOptimizer step for one variable, its float32 operations in its order:
  ;;   m1' = m1*b1 + g*(1-b1);  m2' = m2*b2 + (g*g)*(1-b2);
  ;;   value' = ((m1'/bc1) / (sqrt(m2'/bc2) + eps)) * (-lr) + value,  bc = 1 - the accumulated beta.
  (func (export "adam")
    (param $value i32) (param $m1 i32) (param $m2 i32) (param $grad i32)
    (param $outValue i32) (param $outM1 i32) (param $outM2 i32) (param $n i32)
    (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32) (param $bc1 f32) (param $bc2 f32)
    (param $eps f32) (param $nlr f32)
    (local $p i32) (local $end i32) (local $vend i32) (local $g v128) (local $f v128) (local $s v128)
    (local $g1 f32) (local $f1 f32) (local $s1 f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (local.set $p (i32.const 0))
    (block $vectors_done (loop $vectors
      (br_if $vectors_done (i32.ge_u (local.get $p) (local.get $vend)))
      (local.set $g (v128.load align=4 (i32.add (local.get $grad) (local.get $p))))
      (local.set $f (f32x4.add
        (f32x4.mul (v128.load align=4 (i32.add (local.get $m1) (local.get $p))) (f32x4.splat (local.get $b1)))
        (f32x4.mul (local.get $g) (f32x4.splat (local.get $omb1)))))
      (local.set $s (f32x4.add
        (f32x4.mul (v128.load align=4 (i32.add (local.get $m2) (local.get $p))) (f32x4.splat (local.get $b2)))
        (f32x4.mul (f32x4.mul (local.get $g) (local.get $g)) (f32x4.splat (local.get $omb2)))))
      (v128.store align=4 (i32.add (local.get $outM1) (local.get $p)) (local.get $f))
      (v128.store align=4 (i32.add (local.get $outM2) (local.get $p)) (local.get $s))
      (v128.store align=4 (i32.add (local.get $outValue) (local.get $p))
        (f32x4.add
          (f32x4.mul
            (f32x4.div
              (f32x4.div (local.get $f) (f32x4.splat (local.get $bc1)))
              (f32x4.add (f32x4.sqrt (f32x4.div (local.get $s) (f32x4.splat (local.get $bc2)))) (f32x4.splat (local.get $eps))))
            (f32x4.splat (local.get $nlr)))
          (v128.load align=4 (i32.add (local.get $value) (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $vectors)))
    (block $done (loop $scalars
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $g1 (f32.load (i32.add (local.get $grad) (local.get $p))))
      (local.set $f1 (f32.add
        (f32.mul (f32.load (i32.add (local.get $m1) (local.get $p))) (local.get $b1))
        (f32.mul (local.get $g1) (local.get $omb1))))
      (local.set $s1 (f32.add
        (f32.mul (f32.load (i32.add (local.get $m2) (local.get $p))) (local.get $b2))
        (f32.mul (f32.mul (local.get $g1) (local.get $g1)) (local.get $omb2))))
      (f32.store (i32.add (local.get $outM1) (local.get $p)) (local.get $f1))
      (f32.store (i32.add (local.get $outM2) (local.get $p)) (local.get $s1))
      (f32.store (i32.add (local.get $outValue) (local.get $p))
        (f32.add
          (f32.mul
            (f32.div
              (f32.div (local.get $f1) (local.get $bc1))
              (f32.add (f32.sqrt (f32.div (local.get $s1) (local.get $bc2))) (local.get $eps)))
            (local.get $nlr))
          (f32.load (i32.add (local.get $value) (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $scalars))))

  ;; The outputs ow whose tap kw lands in x (ow*sw + kw - pl in [0, W)) are [ow_first, ow_end); rows alike.
  (func $ow_first (param $kw i32) (param $sw i32) (param $pl i32) (result i32)
    (local $t i32)
    (local.set $t (i32.sub (local.get $pl) (local.get $kw)))
    (select (i32.div_u (i32.add (local.get $t) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw))
      (i32.const 0) (i32.gt_s (local.get $t) (i32.const 0))))
  (func $ow_end (param $kw i32) (param $sw i32) (param $pl i32) (param $W i32) (param $OW i32) (result i32)
    (local $t i32)
    (local.set $t (i32.sub (i32.add (local.get $W) (local.get $pl)) (local.get $kw)))
    (local.set $t (select (i32.div_u (i32.add (local.get $t) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw))
      (i32.const 0) (i32.gt_s (local.get $t) (i32.const 0))))
    (select (local.get $OW) (local.get $t) (i32.gt_u (local.get $t) (local.get $OW))))

;; dw[kh][kw][ci][co .. co+7] (at $wp) += the products of x and dy along $rows rows of $span bytes of dy, from
  ;; $xp and $dp, in order; after each row $xp moves by $xback and $dp by $dback to the next row's first output.
  (func $filter_grad_rows (param $xp i32) (param $dp i32) (param $wp i32) (param $rows i32) (param $span i32)
    (param $xstep i32) (param $cob i32) (param $xback i32) (param $dback i32)
    (local $a0 v128) (local $a1 v128) (local $s v128) (local $dend i32)
    (if (i32.le_s (local.get $rows) (i32.const 0)) (then (return)))
    (local.set $a0 (v128.load align=4 (local.get $wp)))
    (local.set $a1 (v128.load offset=16 align=4 (local.get $wp)))
    (loop $rows_l
      (local.set $dend (i32.add (local.get $dp) (local.get $span)))
      (loop $taps
        (local.set $s (v128.load32_splat align=4 (local.get $xp)))
        (local.set $a0 (f32x4.relaxed_madd (local.get $s) (v128.load align=4 (local.get $dp)) (local.get $a0)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 align=4 (local.get $dp)) (local.get $a1)))
        (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
        (local.set $dp (i32.add (local.get $dp) (local.get $cob)))
        (br_if $taps (i32.lt_u (local.get $dp) (local.get $dend))))
      (local.set $xp (i32.add (local.get $xp) (local.get $xback)))
      (local.set $dp (i32.add (local.get $dp) (local.get $dback)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br_if $rows_l (local.get $rows)))
    (v128.store align=4 (local.get $wp) (local.get $a0))
    (v128.store offset=16 align=4 (local.get $wp) (local.get $a1)))

  ;; The filter gradient's input channels past the last four (all of them when there are fewer: a stem's 1 or 3,
  ;; LeNet's first layer's 1), for image b (conv_filter_grad_few). One tap's sum
  ;; is a chain of dependent multiply-adds, as long as the FMA's latency, so taps kh go in groups of up to four,
  ;; dw[kh + j][kw][ci][8 channels] in eight vectors, down the rows of dy that every tap of the group reaches (one
  ;; load of dy serves four taps); the rows at the edges, which only some taps reach, go a tap at a time before and
  ;; after. Each sum still adds its outputs in order (oh, then ow), as conv_filter_grad does.
  (func $filter_grad_tail
    (param $x i32) (param $dy i32) (param $dw i32) (param $b i32)
    (param $H i32) (param $W i32) (param $Ci i32) (param $OH i32) (param $OW i32) (param $Co i32)
    (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (local $kh i32) (local $kw i32) (local $g i32) (local $j i32) (local $ci i32) (local $co i32) (local $oh i32)
    (local $lo i32) (local $hi i32) (local $r0 i32) (local $r1 i32) (local $ow0 i32) (local $ow1 i32)
    (local $cib i32) (local $cob i32) (local $xstep i32) (local $xrow i32) (local $xback i32) (local $dback i32)
    (local $span i32) (local $wstep i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $x0 i32) (local $d0p i32) (local $t0 i32) (local $t1 i32) (local $wp i32) (local $xp i32) (local $dp i32) (local $dend i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $d0 v128) (local $d1 v128)
    (local.set $cib (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $cob (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $xstep (i32.mul (local.get $sw) (local.get $cib)))
    ;; bytes from one row of x to the next, and from dw[kh][kw] to dw[kh + 1][kw]
    (local.set $xrow (i32.mul (local.get $W) (local.get $cib)))
    (local.set $wstep (i32.mul (i32.mul (local.get $KW) (local.get $cib)) (local.get $Co)))
    (local.set $kw (i32.const 0))
    (block $kw_done (loop $kws
      (br_if $kw_done (i32.ge_u (local.get $kw) (local.get $KW)))
      (local.set $ow0 (call $ow_first (local.get $kw) (local.get $sw) (local.get $pl)))
      (local.set $ow1 (call $ow_end (local.get $kw) (local.get $sw) (local.get $pl) (local.get $W) (local.get $OW)))
      (if (i32.lt_s (local.get $ow0) (local.get $ow1)) (then
        (local.set $span (i32.mul (i32.sub (local.get $ow1) (local.get $ow0)) (local.get $cob)))
        ;; after a row: x down sh rows and back to the first output's tap; dy down a row and back
        (local.set $xback (i32.sub (i32.mul (local.get $sh) (local.get $xrow)) (i32.mul (i32.sub (local.get $ow1) (local.get $ow0)) (local.get $xstep))))
        (local.set $dback (i32.sub (i32.mul (local.get $OW) (local.get $cob)) (local.get $span)))
        (local.set $kh (i32.const 0))
        (block $groups_done (loop $groups
          (br_if $groups_done (i32.ge_u (local.get $kh) (local.get $KH)))
          (local.set $g (i32.sub (local.get $KH) (local.get $kh)))
          (if (i32.gt_u (local.get $g) (i32.const 4)) (then (local.set $g (i32.const 4))))
          ;; the rows every tap of the group reaches: the first tap's first, the last tap's end
          (local.set $lo (call $ow_first (local.get $kh) (local.get $sh) (local.get $pt)))
          (local.set $hi (call $ow_end (i32.add (local.get $kh) (i32.sub (local.get $g) (i32.const 1))) (local.get $sh) (local.get $pt) (local.get $H) (local.get $OH)))
          ;; x's offsets of taps 1-3 from tap 0 (a row each); past the group's last tap, the last one again
          (local.set $x1 (i32.mul (local.get $xrow) (select (i32.const 1) (i32.sub (local.get $g) (i32.const 1)) (i32.gt_u (local.get $g) (i32.const 1)))))
          (local.set $x2 (i32.mul (local.get $xrow) (select (i32.const 2) (i32.sub (local.get $g) (i32.const 1)) (i32.gt_u (local.get $g) (i32.const 2)))))
          (local.set $x3 (i32.mul (local.get $xrow) (select (i32.const 3) (i32.sub (local.get $g) (i32.const 1)) (i32.gt_u (local.get $g) (i32.const 3)))))
          (local.set $ci (i32.and (local.get $cib) (i32.const -16)))
          (block $ci_done (loop $cis
            (br_if $ci_done (i32.ge_u (local.get $ci) (local.get $cib)))
            ;; x[b][0 - pt + kh][ow0*sw + kw - pl][ci] (row 0 of dy; rows go by sh) and dy[b][0][ow0][0]
            (local.set $x0 (i32.add (i32.add (local.get $x) (local.get $ci)) (i32.add
              (i32.mul (i32.sub (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $kh)) (local.get $pt)) (local.get $xrow))
              (i32.mul (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sw)) (local.get $kw)) (local.get $pl)) (local.get $cib)))))
            (local.set $d0p (i32.add (local.get $dy) (i32.mul (local.get $cob)
              (i32.add (i32.mul (i32.mul (local.get $b) (local.get $OH)) (local.get $OW)) (local.get $ow0)))))
            (local.set $co (i32.const 0))
            (block $co_done (loop $cos
              (br_if $co_done (i32.ge_u (local.get $co) (local.get $cob)))
              ;; dw[kh][kw][ci][co]
              (local.set $wp (i32.add (i32.add (local.get $dw) (local.get $co)) (i32.add
                (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $KW)) (local.get $kw)) (i32.mul (local.get $cib) (local.get $Co)))
                (i32.mul (i32.shr_u (local.get $ci) (i32.const 2)) (local.get $cob)))))
              (if (i32.and (i32.gt_u (local.get $g) (i32.const 1)) (i32.lt_s (local.get $lo) (local.get $hi)))
                (then
                  ;; the rows above: tap j alone from its first row to lo
                  (local.set $j (i32.const 0))
                  (block $above_done (loop $above
                    (br_if $above_done (i32.ge_u (local.get $j) (local.get $g)))
                    (local.set $r0 (call $ow_first (i32.add (local.get $kh) (local.get $j)) (local.get $sh) (local.get $pt)))
                    (call $filter_grad_rows
                      (i32.add (local.get $x0) (i32.mul (local.get $xrow) (i32.add (i32.mul (local.get $r0) (local.get $sh)) (local.get $j))))
                      (i32.add (i32.add (local.get $d0p) (local.get $co)) (i32.mul (local.get $r0) (i32.mul (local.get $OW) (local.get $cob))))
                      (i32.add (local.get $wp) (i32.mul (local.get $j) (local.get $wstep)))
                      (i32.sub (local.get $lo) (local.get $r0)) (local.get $span) (local.get $xstep) (local.get $cob) (local.get $xback) (local.get $dback))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $above)))
                  (local.set $a00 (v128.load align=4 (local.get $wp)))
                  (local.set $a01 (v128.load offset=16 align=4 (local.get $wp)))
                  (local.set $a10 (v128.load align=4 (i32.add (local.get $wp) (local.get $wstep))))
                  (local.set $a11 (v128.load offset=16 align=4 (i32.add (local.get $wp) (local.get $wstep))))
                  (local.set $t0 (i32.add (local.get $wp) (i32.mul (local.get $wstep) (select (i32.const 2) (i32.const 1) (i32.gt_u (local.get $g) (i32.const 2))))))
                  (local.set $t1 (i32.add (local.get $wp) (i32.mul (local.get $wstep) (select (i32.const 3) (i32.const 1) (i32.gt_u (local.get $g) (i32.const 3))))))
                  (local.set $a20 (v128.load align=4 (local.get $t0)))
                  (local.set $a21 (v128.load offset=16 align=4 (local.get $t0)))
                  (local.set $a30 (v128.load align=4 (local.get $t1)))
                  (local.set $a31 (v128.load offset=16 align=4 (local.get $t1)))
                  (local.set $xp (i32.add (local.get $x0) (i32.mul (local.get $xrow) (i32.mul (local.get $lo) (local.get $sh)))))
                  (local.set $dp (i32.add (i32.add (local.get $d0p) (local.get $co)) (i32.mul (local.get $lo) (i32.mul (local.get $OW) (local.get $cob)))))
                  (local.set $oh (local.get $lo))
                  (loop $rows_l
                    (local.set $dend (i32.add (local.get $dp) (local.get $span)))
                    (loop $joint
                      (local.set $d0 (v128.load align=4 (local.get $dp)))
                      (local.set $d1 (v128.load offset=16 align=4 (local.get $dp)))
                      (local.set $s0 (v128.load32_splat align=4 (local.get $xp)))
                      (local.set $s1 (v128.load32_splat align=4 (i32.add (local.get $xp) (local.get $x1))))
                      (local.set $s2 (v128.load32_splat align=4 (i32.add (local.get $xp) (local.get $x2))))
                      (local.set $s3 (v128.load32_splat align=4 (i32.add (local.get $xp) (local.get $x3))))
                      ${madd4x8('$d0', '$d1')}
                      (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                      (local.set $dp (i32.add (local.get $dp) (local.get $cob)))
                      (br_if $joint (i32.lt_u (local.get $dp) (local.get $dend))))
                    (local.set $xp (i32.add (local.get $xp) (local.get $xback)))
                    (local.set $dp (i32.add (local.get $dp) (local.get $dback)))
                    (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
                    (br_if $rows_l (i32.lt_s (local.get $oh) (local.get $hi))))
                  ;; taps past the group's last computed tap 1's sums again (g of 2 or 3): only the group's are stored
                  (v128.store align=4 (local.get $wp) (local.get $a00))
                  (v128.store offset=16 align=4 (local.get $wp) (local.get $a01))
                  (if (i32.gt_u (local.get $g) (i32.const 2)) (then
                    (v128.store align=4 (local.get $t0) (local.get $a20))
                    (v128.store offset=16 align=4 (local.get $t0) (local.get $a21))))
                  (if (i32.gt_u (local.get $g) (i32.const 3)) (then
                    (v128.store align=4 (local.get $t1) (local.get $a30))
                    (v128.store offset=16 align=4 (local.get $t1) (local.get $a31))))
                  (v128.store align=4 (i32.add (local.get $wp) (local.get $wstep)) (local.get $a10))
                  (v128.store offset=16 align=4 (i32.add (local.get $wp) (local.get $wstep)) (local.get $a11))
                  ;; the rows below: tap j alone from hi to its end
                  (local.set $j (i32.const 0))
                  (block $below_done (loop $below
                    (br_if $below_done (i32.ge_u (local.get $j) (local.get $g)))
                    (local.set $r1 (call $ow_end (i32.add (local.get $kh) (local.get $j)) (local.get $sh) (local.get $pt) (local.get $H) (local.get $OH)))
                    (call $filter_grad_rows
                      (i32.add (local.get $x0) (i32.mul (local.get $xrow) (i32.add (i32.mul (local.get $hi) (local.get $sh)) (local.get $j))))
                      (i32.add (i32.add (local.get $d0p) (local.get $co)) (i32.mul (local.get $hi) (i32.mul (local.get $OW) (local.get $cob))))
                      (i32.add (local.get $wp) (i32.mul (local.get $j) (local.get $wstep)))
                      (i32.sub (local.get $r1) (local.get $hi)) (local.get $span) (local.get $xstep) (local.get $cob) (local.get $xback) (local.get $dback))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $below))))
                (else
                  ;; one tap (or no row that all reach): each tap alone down its rows
                  (local.set $j (i32.const 0))
                  (block $alone_done (loop $alone
                    (br_if $alone_done (i32.ge_u (local.get $j) (local.get $g)))
                    (local.set $r0 (call $ow_first (i32.add (local.get $kh) (local.get $j)) (local.get $sh) (local.get $pt)))
                    (local.set $r1 (call $ow_end (i32.add (local.get $kh) (local.get $j)) (local.get $sh) (local.get $pt) (local.get $H) (local.get $OH)))
                    (call $filter_grad_rows
                      (i32.add (local.get $x0) (i32.mul (local.get $xrow) (i32.add (i32.mul (local.get $r0) (local.get $sh)) (local.get $j))))
                      (i32.add (i32.add (local.get $d0p) (local.get $co)) (i32.mul (local.get $r0) (i32.mul (local.get $OW) (local.get $cob))))
                      (i32.add (local.get $wp) (i32.mul (local.get $j) (local.get $wstep)))
                      (i32.sub (local.get $r1) (local.get $r0)) (local.get $span) (local.get $xstep) (local.get $cob) (local.get $xback) (local.get $dback))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $alone)))))
              (local.set $co (i32.add (local.get $co) (i32.const 32)))
              (br $cos)))
            (local.set $ci (i32.add (local.get $ci) (i32.const 4)))
            (br $cis)))
          (local.set $kh (i32.add (local.get $kh) (i32.const 4)))
          (br $groups)))))
      (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
      (br $kws))))

  ;; The filter gradient of a convolution (dilation 1), NHWC: dw[kh][kw][ci][co] += sum over b, oh, ow of
  ;; x[b][oh*sh + kh - pt][ow*sw + kw - pl][ci] * dy[b][oh][ow][co], taps outside x skipped (zero padding).
  ;; dw must hold zeros on entry. Co a multiple of 8. Each tile keeps dw's block of 4 input x 8 output channels in
  ;; eight vectors down one row of dy, where the x row and the dy row (a few kB each) stay in the first-level
  ;; cache; input channels past the last four go one by one.
  ;; XNNPACK ran this as a convolution whose kernel is dy (conv2d-grads.ts), which it repacks at every call and
  ;; streams from memory once per four outputs: 12-17 GFLOP/s at the compact ResNet's layers, where this runs at
  ;; 31-40 (and its forward convolutions at 22-30). The sums run in float32 in the order of the loops: b, oh, ow.
  (func (export "conv_filter_grad")
    (param $x i32) (param $dy i32) (param $dw i32)
    (param $B i32) (param $H i32) (param $W i32) (param $Ci i32) (param $OH i32) (param $OW i32) (param $Co i32)
    (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (local $b i32) (local $oh i32) (local $kh i32) (local $kw i32) (local $ih i32) (local $t i32)
    (local $ow0 i32) (local $ow1 i32) (local $ci i32) (local $co i32)
    (local $cib i32) (local $cob i32) (local $xstep i32) (local $xrow i32) (local $dyrow i32)
    (local $xstart i32) (local $dstart i32) (local $dend i32) (local $xp i32) (local $dp i32) (local $wp i32)
    (local $wk i32) (local $w1 i32) (local $w2 i32) (local $w3 i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $d0 v128) (local $d1 v128)
    (local.set $cib (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $cob (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $xstep (i32.mul (local.get $sw) (local.get $cib)))
    (local.set $b (i32.const 0))
    (block $batch_done (loop $batch
      (br_if $batch_done (i32.ge_u (local.get $b) (local.get $B)))
      (local.set $oh (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $oh) (local.get $OH)))
        (local.set $dyrow (i32.add (local.get $dy)
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $cob))))
        (local.set $kh (i32.const 0))
        (block $kh_done (loop $khs
          (br_if $kh_done (i32.ge_u (local.get $kh) (local.get $KH)))
          (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $kh)) (local.get $pt)))
          (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H))) (then
            (local.set $xrow (i32.add (local.get $x)
              (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $cib))))
            (local.set $kw (i32.const 0))
            (block $kw_done (loop $kws
              (br_if $kw_done (i32.ge_u (local.get $kw) (local.get $KW)))
              ;; the outputs whose tap lands in x: ow*sw + kw - pl in [0, W)
              (local.set $t (i32.sub (local.get $pl) (local.get $kw)))
              (local.set $ow0 (select
                (i32.div_u (i32.add (local.get $t) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw))
                (i32.const 0) (i32.gt_s (local.get $t) (i32.const 0))))
              (local.set $t (i32.add (local.get $W) (local.get $t)))
              (local.set $ow1 (select
                (i32.div_u (i32.add (local.get $t) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw))
                (i32.const 0) (i32.gt_s (local.get $t) (i32.const 0))))
              (if (i32.gt_u (local.get $ow1) (local.get $OW)) (then (local.set $ow1 (local.get $OW))))
              (if (i32.lt_u (local.get $ow0) (local.get $ow1)) (then
                (local.set $xstart (i32.add (local.get $xrow)
                  (i32.mul (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sw)) (local.get $kw)) (local.get $pl)) (local.get $cib))))
                (local.set $dstart (i32.add (local.get $dyrow) (i32.mul (local.get $ow0) (local.get $cob))))
                (local.set $dend (i32.add (local.get $dyrow) (i32.mul (local.get $ow1) (local.get $cob))))
                ;; dw[kh][kw][0][0]
                (local.set $wk (i32.add (local.get $dw)
                  (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $KW)) (local.get $kw)) (i32.mul (local.get $cib) (local.get $Co)))))
                (local.set $ci (i32.const 0))
                (block $ci_done (loop $cis
                  (br_if $ci_done (i32.gt_u (i32.add (local.get $ci) (i32.const 16)) (local.get $cib)))
                  (local.set $co (i32.const 0))
                  (block $co_done (loop $cos
                    (br_if $co_done (i32.ge_u (local.get $co) (local.get $cob)))
                    ;; dw[kh][kw][ci..ci+3][co..co+7]: rows wp, w1, w2, w3
                    (local.set $wp (i32.add (local.get $wk)
                      (i32.add (i32.mul (i32.shr_u (local.get $ci) (i32.const 2)) (local.get $cob)) (local.get $co))))
                    (local.set $w1 (i32.add (local.get $wp) (local.get $cob)))
                    (local.set $w2 (i32.add (local.get $w1) (local.get $cob)))
                    (local.set $w3 (i32.add (local.get $w2) (local.get $cob)))
                    (local.set $a00 (v128.load align=4 (local.get $wp)))
                    (local.set $a01 (v128.load offset=16 align=4 (local.get $wp)))
                    (local.set $a10 (v128.load align=4 (local.get $w1)))
                    (local.set $a11 (v128.load offset=16 align=4 (local.get $w1)))
                    (local.set $a20 (v128.load align=4 (local.get $w2)))
                    (local.set $a21 (v128.load offset=16 align=4 (local.get $w2)))
                    (local.set $a30 (v128.load align=4 (local.get $w3)))
                    (local.set $a31 (v128.load offset=16 align=4 (local.get $w3)))
                    (local.set $xp (i32.add (local.get $xstart) (local.get $ci)))
                    (local.set $dp (i32.add (local.get $dstart) (local.get $co)))
                    (local.set $t (i32.add (local.get $dend) (local.get $co)))
                    (loop $taps
                      (local.set $s0 (v128.load32_splat align=4 (local.get $xp)))
                      (local.set $s1 (v128.load32_splat offset=4 align=4 (local.get $xp)))
                      (local.set $s2 (v128.load32_splat offset=8 align=4 (local.get $xp)))
                      (local.set $s3 (v128.load32_splat offset=12 align=4 (local.get $xp)))
                      (local.set $d0 (v128.load align=4 (local.get $dp)))
                      (local.set $d1 (v128.load offset=16 align=4 (local.get $dp)))
                      ${madd4x8('$d0', '$d1')}
                      (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                      (local.set $dp (i32.add (local.get $dp) (local.get $cob)))
                      (br_if $taps (i32.lt_u (local.get $dp) (local.get $t))))
                    (v128.store align=4 (local.get $wp) (local.get $a00))
                    (v128.store offset=16 align=4 (local.get $wp) (local.get $a01))
                    (v128.store align=4 (local.get $w1) (local.get $a10))
                    (v128.store offset=16 align=4 (local.get $w1) (local.get $a11))
                    (v128.store align=4 (local.get $w2) (local.get $a20))
                    (v128.store offset=16 align=4 (local.get $w2) (local.get $a21))
                    (v128.store align=4 (local.get $w3) (local.get $a30))
                    (v128.store offset=16 align=4 (local.get $w3) (local.get $a31))
                    (local.set $co (i32.add (local.get $co) (i32.const 32)))
                    (br $cos)))
                  (local.set $ci (i32.add (local.get $ci) (i32.const 16)))
                  (br $cis)))
                ;; the input channels past the last four, one at a time (LeNet's second layer's last 2; fewer than four
                ;; channels go to conv_filter_grad_few). Left here on purpose: with this loop removed (and those channels
                ;; sent to $filter_grad_tail) V8 compiles the four-channel loop above 1.2-1.35x slower (bench/tmp timing,
                ;; 2026-12-07: the ResNet's stride-2 layer 6.7 -> 8.0 ms, 32 -> 64 channels 6.2 -> 8.3). Calling
                ;; $filter_grad_rows for each row instead (its sum is this one) kept that loop's speed but made LeNet's
                ;; 6-channel layer 0.91 -> 1.08 ms and a 7-channel one 0.41 -> 0.50 (a call per short row).
                (block $ci1_done (loop $ci1s
                  (br_if $ci1_done (i32.ge_u (local.get $ci) (local.get $cib)))
                  (local.set $co (i32.const 0))
                  (block $co1_done (loop $co1s
                    (br_if $co1_done (i32.ge_u (local.get $co) (local.get $cob)))
                    (local.set $wp (i32.add (local.get $wk)
                      (i32.add (i32.mul (i32.shr_u (local.get $ci) (i32.const 2)) (local.get $cob)) (local.get $co))))
                    (local.set $a00 (v128.load align=4 (local.get $wp)))
                    (local.set $a01 (v128.load offset=16 align=4 (local.get $wp)))
                    (local.set $xp (i32.add (local.get $xstart) (local.get $ci)))
                    (local.set $dp (i32.add (local.get $dstart) (local.get $co)))
                    (local.set $t (i32.add (local.get $dend) (local.get $co)))
                    (loop $taps1
                      (local.set $s0 (v128.load32_splat align=4 (local.get $xp)))
                      (local.set $a00 (f32x4.relaxed_madd (local.get $s0) (v128.load align=4 (local.get $dp)) (local.get $a00)))
                      (local.set $a01 (f32x4.relaxed_madd (local.get $s0) (v128.load offset=16 align=4 (local.get $dp)) (local.get $a01)))
                      (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                      (local.set $dp (i32.add (local.get $dp) (local.get $cob)))
                      (br_if $taps1 (i32.lt_u (local.get $dp) (local.get $t))))
                    (v128.store align=4 (local.get $wp) (local.get $a00))
                    (v128.store offset=16 align=4 (local.get $wp) (local.get $a01))
                    (local.set $co (i32.add (local.get $co) (i32.const 32)))
                    (br $co1s)))
                  (local.set $ci (i32.add (local.get $ci) (i32.const 4)))
                  (br $ci1s)))))
              (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
              (br $kws)))))
          (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
          (br $khs)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $rows)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $batch))))


  ;; The filter gradient of a convolution with fewer than four input channels (a grey or RGB stem, LeNet's first
  ;; layer), as conv_filter_grad defines it (same sums, same order), by $filter_grad_tail's groups of taps: 1.2-1.5x
  ;; as fast as conv_filter_grad's channels one at a time, whose chains of multiply-adds wait on the FMA's latency.
  (func (export "conv_filter_grad_few")
    (param $x i32) (param $dy i32) (param $dw i32)
    (param $B i32) (param $H i32) (param $W i32) (param $Ci i32) (param $OH i32) (param $OW i32) (param $Co i32)
    (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (local $b i32)
    (block $batch_done (loop $batch
      (br_if $batch_done (i32.ge_u (local.get $b) (local.get $B)))
      (call $filter_grad_tail (local.get $x) (local.get $dy) (local.get $dw) (local.get $b) (local.get $H) (local.get $W) (local.get $Ci)
        (local.get $OH) (local.get $OW) (local.get $Co) (local.get $KH) (local.get $KW) (local.get $sh) (local.get $sw) (local.get $pt) (local.get $pl))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $batch))))

  ;; out[p][0 .. c) = in[p][0 .. c) and out[p][c .. cp) = 0 for each of the pixels: dy's channels padded
  ;; up to the filter gradient's eights. tfjs's PadV2 took 1.8 ms for LeNet's first dy (64 x 28 x 28 x 6 -> 8).
  (func (export "pad_channels") (param $in i32) (param $out i32) (param $pixels i32) (param $c i32) (param $cp i32)
    (local $p i32) (local $k i32)
    (local.set $p (i32.const 0))
    (block $done (loop $pixel
      (br_if $done (i32.ge_u (local.get $p) (local.get $pixels)))
      (local.set $k (i32.const 0))
      (block $copied (loop $copy
        (br_if $copied (i32.ge_u (local.get $k) (local.get $c)))
        (f32.store (local.get $out) (f32.load (local.get $in)))
        (local.set $in (i32.add (local.get $in) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $copy)))
      (block $zeroed (loop $zero
        (br_if $zeroed (i32.ge_u (local.get $k) (local.get $cp)))
        (f32.store (local.get $out) (f32.const 0))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $zero)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pixel))))

  ;; Winograd's minimal filtering for 3x3 convolutions with stride and dilation 1 (winograd.ts), F(4x4, 3x3): per 6x6
  ;; input tile d and 4x4 output tile y, y = A^T [ (G g G^T) .* (B^T d B) ] A, 36 products per input and output
  ;; channel where the direct sum takes 144; winograd4.ts has B^T, G and A^T as tables and generates the transforms'
  ;; text (below) from them. XNNPACK's direct convolution ran the compact ResNet's 3x3 layers at 22-31 GFLOP/s;
  ;; F(2x2, 3x3) ran them 1.7-2.5x faster, F(4x4, 3x3) another 1.2-1.5x (forward and filter gradient). The
  ;; element-wise products of all the tiles and channels are matrix products, one per position xi of the transform
  ;; (products, accumulate), 4 x 8 outputs in eight vectors.
  ;; Tiles (b, th, tw) in row-major order go T at a time (T a multiple of 4) through scratch v [36][T][Ci] and
  ;; m [36][T][Co], whose slices xi are vs and ms bytes apart: the caller pads those strides off multiples of
  ;; 4 kB, since stores 4 kB apart fight over one set of the first-level cache (3-4x slower transforms, measured
  ;; with F(2x2, 3x3)). T keeps v and m in the second-level cache.

  ;; The size x size pixels of a tile that reaches past x's edge (rows r0 .., columns c0 .. of image b of
  ;; x [B][H][W][Ci]) into e [size][size][Ci], zeros outside x: the padding the convolution reads there.
  (func $edge_tile (param $x i32) (param $e i32) (param $b i32) (param $r0 i32) (param $c0 i32) (param $H i32) (param $W i32) (param $cib i32) (param $size i32)
    (local $i i32) (local $j i32) (local $ih i32) (local $iw i32) (local $src i32) (local $k i32) (local $in i32)
    (local.set $i (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $i) (local.get $size)))
      (local.set $ih (i32.add (local.get $r0) (local.get $i)))
      (local.set $j (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $j) (local.get $size)))
        (local.set $iw (i32.add (local.get $c0) (local.get $j)))
        (local.set $in (i32.and
          (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
          (i32.and (i32.ge_s (local.get $iw) (i32.const 0)) (i32.lt_s (local.get $iw) (local.get $W)))))
        ;; read only when inside x
        (local.set $src (i32.add (local.get $x)
          (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $iw)) (local.get $cib))))
        (local.set $k (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $k) (local.get $cib)))
          (v128.store align=4 (i32.add (local.get $e) (local.get $k))
            (if (result v128) (local.get $in)
              (then (v128.load align=4 (i32.add (local.get $src) (local.get $k))))
              (else (v128.const i32x4 0 0 0 0))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $kl)))
        (local.set $e (i32.add (local.get $e) (local.get $cib)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rl))))

  ;; m[xi] = v[xi] u[xi] for the 36 slices xi of the transform (the forward pass):
  ;; matrix products [n4 x Ci] [Ci x Co], 4 tiles x 8 output channels at a time, n4 a multiple of 4;
  ;; a last block's tiles up to the next four are whatever v held (their m rows are never read);
  ;; u's 8 columns (Ci x 32 bytes) stay in the first-level cache while the tiles pass
  (func $products (param $u i32) (param $v i32) (param $m i32) (param $n4 i32) (param $Ci i32) (param $Co i32) (param $vs i32) (param $ms i32)
    (local $cib i32) (local $cob i32) (local $xi i32) (local $ub i32) (local $co i32) (local $t i32) (local $vt i32) (local $mp i32)
    (local $vp i32) (local $up i32) (local $uend i32) (local $dst i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $w0 v128) (local $w1 v128)
    (local.set $cib (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $cob (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $xi (i32.const 0))
    (block $x_done (loop $xs
      (br_if $x_done (i32.ge_u (local.get $xi) (i32.const 36)))
      (local.set $ub (i32.add (local.get $u) (i32.mul (local.get $xi) (i32.mul (local.get $cib) (local.get $Co)))))
      (local.set $co (i32.const 0))
      (block $co_done (loop $cos
        (br_if $co_done (i32.ge_u (local.get $co) (local.get $cob)))
        (local.set $t (i32.const 0))
        (block $t_done (loop $ts
          (br_if $t_done (i32.ge_u (local.get $t) (local.get $n4)))
          (local.set $vt (i32.add (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vs))) (i32.mul (local.get $t) (local.get $cib))))
          (local.set $mp (i32.add (i32.add (local.get $m) (i32.mul (local.get $xi) (local.get $ms))) (i32.mul (local.get $t) (local.get $cob))))
          (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
          (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
          (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a21 (v128.const i32x4 0 0 0 0))
          (local.set $a30 (v128.const i32x4 0 0 0 0)) (local.set $a31 (v128.const i32x4 0 0 0 0))
          (local.set $vp (local.get $vt))
          (local.set $up (i32.add (local.get $ub) (local.get $co)))
          (local.set $uend (i32.add (local.get $up) (i32.mul (local.get $Ci) (local.get $cob))))
          (loop $ks
            (local.set $w0 (v128.load align=4 (local.get $up)))
            (local.set $w1 (v128.load offset=16 align=4 (local.get $up)))
            (local.set $s0 (v128.load32_splat align=4 (local.get $vp)))
            (local.set $s1 (v128.load32_splat align=4 (i32.add (local.get $vp) (local.get $cib))))
            (local.set $s2 (v128.load32_splat align=4 (i32.add (local.get $vp) (i32.shl (local.get $cib) (i32.const 1)))))
            (local.set $s3 (v128.load32_splat align=4 (i32.add (local.get $vp) (i32.mul (local.get $cib) (i32.const 3)))))
            ${madd4x8('$w0', '$w1')}
            (local.set $vp (i32.add (local.get $vp) (i32.const 4)))
            (local.set $up (i32.add (local.get $up) (local.get $cob)))
            (br_if $ks (i32.lt_u (local.get $up) (local.get $uend))))
          (local.set $dst (i32.add (local.get $mp) (local.get $co)))
          (v128.store align=4 (local.get $dst) (local.get $a00))
          (v128.store offset=16 align=4 (local.get $dst) (local.get $a01))
          (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
          (v128.store align=4 (local.get $dst) (local.get $a10))
          (v128.store offset=16 align=4 (local.get $dst) (local.get $a11))
          (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
          (v128.store align=4 (local.get $dst) (local.get $a20))
          (v128.store offset=16 align=4 (local.get $dst) (local.get $a21))
          (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
          (v128.store align=4 (local.get $dst) (local.get $a30))
          (v128.store offset=16 align=4 (local.get $dst) (local.get $a31))
          (local.set $t (i32.add (local.get $t) (i32.const 4)))
          (br $ts)))
        (local.set $co (i32.add (local.get $co) (i32.const 32)))
        (br $cos)))
      (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
      (br $xs))))

  ;; s[xi] += v[xi]^T w[xi] for the 36 slices xi of the transform (the filter gradient),
  ;; over a block's n tiles: 4 input x 8 output channels of s at a time in eight vectors, down the tiles (as in
  ;; conv_filter_grad); s [36][Ci][Co], v [36][T][Ci] and w [36][T][Co] with slice strides vs and ws.
  (func $accumulate (param $s i32) (param $v i32) (param $w i32) (param $n i32) (param $Ci i32) (param $Co i32) (param $vs i32) (param $ws i32)
    (local $cib i32) (local $cob i32) (local $nb i32) (local $xi i32) (local $ci i32) (local $co i32) (local $sp i32) (local $dst i32)
    (local $vp i32) (local $wp i32) (local $vend i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $w0 v128) (local $w1 v128)
    (local.set $cib (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $cob (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $nb (i32.mul (local.get $cib) (local.get $Co)))
  (local.set $xi (i32.const 0))
  (block $x_done (loop $xs
    (br_if $x_done (i32.ge_u (local.get $xi) (i32.const 36)))
    (local.set $ci (i32.const 0))
    (block $ci_done (loop $cis
      (br_if $ci_done (i32.ge_u (local.get $ci) (local.get $cib)))
      (local.set $co (i32.const 0))
      (block $co_done (loop $cos
        (br_if $co_done (i32.ge_u (local.get $co) (local.get $cob)))
        ;; s[xi][ci .. ci+3][co .. co+7]: rows sp, sp + cob, ...
        (local.set $sp (i32.add (i32.add (local.get $s) (i32.mul (local.get $xi) (local.get $nb)))
          (i32.add (i32.mul (i32.shr_u (local.get $ci) (i32.const 2)) (local.get $cob)) (local.get $co))))
        (local.set $a00 (v128.load align=4 (local.get $sp)))
        (local.set $a01 (v128.load offset=16 align=4 (local.get $sp)))
        (local.set $dst (i32.add (local.get $sp) (local.get $cob)))
        (local.set $a10 (v128.load align=4 (local.get $dst)))
        (local.set $a11 (v128.load offset=16 align=4 (local.get $dst)))
        (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
        (local.set $a20 (v128.load align=4 (local.get $dst)))
        (local.set $a21 (v128.load offset=16 align=4 (local.get $dst)))
        (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
        (local.set $a30 (v128.load align=4 (local.get $dst)))
        (local.set $a31 (v128.load offset=16 align=4 (local.get $dst)))
        (local.set $vp (i32.add (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vs))) (local.get $ci)))
        (local.set $wp (i32.add (i32.add (local.get $w) (i32.mul (local.get $xi) (local.get $ws))) (local.get $co)))
        (local.set $vend (i32.add (local.get $vp) (i32.mul (local.get $n) (local.get $cib))))
        (loop $ts
          (local.set $s0 (v128.load32_splat align=4 (local.get $vp)))
          (local.set $s1 (v128.load32_splat offset=4 align=4 (local.get $vp)))
          (local.set $s2 (v128.load32_splat offset=8 align=4 (local.get $vp)))
          (local.set $s3 (v128.load32_splat offset=12 align=4 (local.get $vp)))
          (local.set $w0 (v128.load align=4 (local.get $wp)))
          (local.set $w1 (v128.load offset=16 align=4 (local.get $wp)))
          ${madd4x8('$w0', '$w1')}
          (local.set $vp (i32.add (local.get $vp) (local.get $cib)))
          (local.set $wp (i32.add (local.get $wp) (local.get $cob)))
          (br_if $ts (i32.lt_u (local.get $vp) (local.get $vend))))
        (v128.store align=4 (local.get $sp) (local.get $a00))
        (v128.store offset=16 align=4 (local.get $sp) (local.get $a01))
        (local.set $dst (i32.add (local.get $sp) (local.get $cob)))
        (v128.store align=4 (local.get $dst) (local.get $a10))
        (v128.store offset=16 align=4 (local.get $dst) (local.get $a11))
        (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
        (v128.store align=4 (local.get $dst) (local.get $a20))
        (v128.store offset=16 align=4 (local.get $dst) (local.get $a21))
        (local.set $dst (i32.add (local.get $dst) (local.get $cob)))
        (v128.store align=4 (local.get $dst) (local.get $a30))
        (v128.store offset=16 align=4 (local.get $dst) (local.get $a31))
        (local.set $co (i32.add (local.get $co) (i32.const 32)))
        (br $cos)))
      (local.set $ci (i32.add (local.get $ci) (i32.const 16)))
      (br $cis)))
    (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
    (br $xs))))

${WINOGRAD4_WAT}
${DIRECT_CONV_WAT}
  ;; dst[b][i*sh + r][j*sw + c][0 .. C) = src[b][i][j][0 .. C) for the positions inside dst [B][H][W][C]: one
  ;; phase of a strided convolution's input gradient (input-grad.ts) put in place. tfjs's stack and slice took
  ;; three passes for the compact ResNet's stride-2 layers (Pack, ~28 ms a step), this one per phase.
  (func (export "scatter_phase")
    (param $src i32) (param $dst i32) (param $B i32) (param $R i32) (param $Q i32) (param $C i32)
    (param $sh i32) (param $sw i32) (param $r i32) (param $c i32) (param $H i32) (param $W i32)
    (local $b i32) (local $i i32) (local $j i32) (local $oh i32) (local $ow i32) (local $k i32)
    (local $cb i32) (local $vb i32) (local $row i32) (local $to i32) (local $step i32)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $vb (i32.and (local.get $cb) (i32.const -16)))
    (local.set $step (i32.mul (local.get $sw) (local.get $cb)))
    (local.set $b (i32.const 0))
    (block $batch_done (loop $batch
      (br_if $batch_done (i32.ge_u (local.get $b) (local.get $B)))
      (local.set $i (i32.const 0))
      (block $rows_done (loop $rows
        (local.set $oh (i32.add (i32.mul (local.get $i) (local.get $sh)) (local.get $r)))
        (br_if $rows_done (i32.or (i32.ge_u (local.get $i) (local.get $R)) (i32.ge_u (local.get $oh) (local.get $H))))
        (local.set $row (local.get $src))
        (local.set $to (i32.add (local.get $dst)
          (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $oh)) (local.get $W)) (local.get $c)) (local.get $cb))))
        (local.set $j (i32.const 0))
        (local.set $ow (local.get $c))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.or (i32.ge_u (local.get $j) (local.get $Q)) (i32.ge_u (local.get $ow) (local.get $W))))
          (local.set $k (i32.const 0))
          (block $vec_done (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $k) (local.get $vb)))
            (v128.store align=4 (i32.add (local.get $to) (local.get $k)) (v128.load align=4 (i32.add (local.get $row) (local.get $k))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $vec)))
          (block $tail_done (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $k) (local.get $cb)))
            (f32.store (i32.add (local.get $to) (local.get $k)) (f32.load (i32.add (local.get $row) (local.get $k))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $tail)))
          (local.set $row (i32.add (local.get $row) (local.get $cb)))
          (local.set $to (i32.add (local.get $to) (local.get $step)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (local.set $ow (i32.add (local.get $ow) (local.get $sw)))
          (br $cols)))
        ;; src's next row (its columns past W skipped)
        (local.set $src (i32.add (local.get $src) (i32.mul (local.get $Q) (local.get $cb))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      ;; src's next image (its rows past H skipped)
      (local.set $src (i32.add (local.get $src) (i32.mul (i32.mul (i32.sub (local.get $R) (local.get $i)) (local.get $Q)) (local.get $cb))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $batch))))

  ;; out = max(a + b, 0): a residual sum and the ReLU layer after it in one pass (fused-relu.ts). max keeps NaN
  ;; (tfjs's Relu on wasm gives 0 for NaN in its vector lanes); -0 becomes 0, as in tfjs's Relu.
  (func (export "add_relu") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end i32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $vec_done (loop $vec
      (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end)))
      (v128.store align=4 (i32.add (local.get $out) (local.get $i))
        (f32x4.max
          (f32x4.add (v128.load align=4 (i32.add (local.get $a) (local.get $i))) (v128.load align=4 (i32.add (local.get $b) (local.get $i))))
          (f32x4.splat (f32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $vec)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done (loop $tail
      (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
      (f32.store (i32.add (local.get $out) (local.get $i))
        (f32.max (f32.add (f32.load (i32.add (local.get $a) (local.get $i))) (f32.load (i32.add (local.get $b) (local.get $i)))) (f32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail))))

  ;; out = dy * step(x): a ReLU layer's gradient, what tfjs composes from Step, Cast and Multiply (three kernels
  ;; and passes; ~32 ms of a compact ResNet step). step(x) is 1 for x > 0, NaN for NaN, else 0, as tfjs's.
  (func (export "relu_grad") (param $dy i32) (param $x i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128) (local $f f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $vec_done (loop $vec
      (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $v (v128.load align=4 (i32.add (local.get $x) (local.get $i))))
      (v128.store align=4 (i32.add (local.get $out) (local.get $i))
        (f32x4.mul (v128.load align=4 (i32.add (local.get $dy) (local.get $i))) ${stepVec('$v')}))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $vec)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done (loop $tail
      (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $f (f32.load (i32.add (local.get $x) (local.get $i))))
      (f32.store (i32.add (local.get $out) (local.get $i))
        (f32.mul (f32.load (i32.add (local.get $dy) (local.get $i))) ${stepScalar('$f')}))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail))))
)`;

/** The kernels, on one wasm backend's memory. Arguments are byte offsets into it and element counts. */
export interface SimdKernels {
  maxPoolGrad2x2(x: number, dy: number, out: number, windowRows: number, windowCols: number, channels: number): void;
  reluBiasGrad(dy: number, y: number, g: number, db: number, rows: number, channels: number): void;
  /**
   * Batch norm's sums, float32 within runs of 64 rows, float64 across them; `f64` (byte offset, 8-aligned) holds
   * [shiftA | shiftB | first | second], C float64 each. With `m` (not 0), a is first multiplied by step(m): a ReLU's
   * gradient, m its output.
   */
  channelSums(a: number, b: number, f64: number, rows: number, channels: number, m: number): void;
  /**
   * out = a·u + b·(v − shift) + k in float32 with `k32` = [a | b | shift | k] (float32, C each); with v = 0,
   * out = a·(u − shift) + k and `k32` = [a | shift | k]. With `m` (not 0; v not 0), u is first multiplied by
   * step(m); with `relu` 1, out is max(out, 0) (−0 becomes 0, as in tfjs's Relu; NaN stays NaN).
   */
  channelAffine(out: number, u: number, v: number, k32: number, rows: number, channels: number, m: number, relu: number): void;
  /** out[c][p][b] = in[b][p][c], 32-bit values: the transpose of [B, P, C] by perm [2, 1, 0]. */
  transpose210(input: number, out: number, B: number, P: number, C: number): void;
  /** Nesterov: 1 or 0. */
  momentum(value: number, acc: number, grad: number, outValue: number, outAcc: number, n: number, m: number, c: number, nesterov: number): void;
  /**
   * dw (zeros on entry) += the filter gradient of an NHWC convolution with dilation 1; co a multiple of 8.
   * Geometry: x [b, h, w, ci], dy [b, oh, ow, co], dw [kh, kw, ci, co], strides, padding before (top, left).
   */
  convFilterGrad(
    x: number, dy: number, dw: number, b: number, h: number, w: number, ci: number, oh: number, ow: number, co: number,
    kh: number, kw: number, strideH: number, strideW: number, padTop: number, padLeft: number,
  ): void;
  /** convFilterGrad for fewer than four input channels: the same sums in the same order, faster (simd.ts). */
  convFilterGradFew(
    x: number, dy: number, dw: number, b: number, h: number, w: number, ci: number, oh: number, ow: number, co: number,
    kh: number, kw: number, strideH: number, strideW: number, padTop: number, padLeft: number,
  ): void;
  /** out[p] = in[p]'s `c` values, then zeros up to `cp`, for each of `pixels` pixels (float32). */
  padChannels(input: number, out: number, pixels: number, c: number, cp: number): void;
  /** u [36, n] = G g G^T of F(4×4, 3×3) (winograd4.ts) for the n = ci·co filters of g [3, 3, ci, co]; n a multiple of 4. */
  winogradFilter4(g: number, u: number, n: number): void;
  /**
   * y [b, oh, ow, co] = the 3×3 convolution of x [b, h, w, ci], padded by (padTop, padLeft) and zeros past every edge,
   * by F(4×4, 3×3) (winograd4.ts) with u [36, ci, co] (winogradFilter4), `tiles` 4×4 output tiles at a time through
   * scratch v and m, whose 36 slices are `vStride` and `mStride` bytes apart, `edge` (36·ci floats) for a tile that
   * reaches past x and `tmp` (36 vectors); flags 1 adds `bias` [co], 2 applies relu.
   */
  winogradF4x3(
    x: number, u: number, y: number, v: number, m: number, b: number, h: number, w: number, padTop: number, padLeft: number, edge: number, tmp: number,
    ci: number, oh: number, ow: number, co: number, tiles: number, vStride: number, mStride: number, bias: number, flags: number,
  ): void;
  /** s [36, ci, co] (zeros on entry) += the filter gradient by F(4×4, 3×3) (winograd4.ts), scratch as winogradF4x3's. */
  winogradFilterGrad4(
    x: number, dy: number, s: number, v: number, wt: number, b: number, h: number, w: number, padTop: number, padLeft: number, edge: number, tmp: number,
    ci: number, oh: number, ow: number, co: number, tiles: number, vStride: number, wStride: number,
  ): void;
  /** dw [3, 3, n] = G^T s G of s [36, n] (F(4×4, 3×3)); n a multiple of 4. */
  winogradFilterGradOut4(s: number, dw: number, n: number): void;
  /** out[r] = `before` zero bytes, in[r]'s `rowBytes`, `after` zero bytes, for each of the rows. */
  padRows(input: number, out: number, rows: number, rowBytes: number, before: number, after: number): void;
  /**
   * y [b, oh, ow, co] = the convolution (dilation 1) of x (its rows padded by padRows: padLeft zero pixels before,
   * 3·strideW after, wp pixels a row) with w [kh, kw, ci, co rounded up to 8]; flags 1 adds `bias` (co rounded up to
   * 8 floats), 2 applies relu (direct-conv-wat.ts).
   */
  convDirect(
    xp: number, w: number, y: number, bias: number, flags: number, b: number, h: number, width: number, wp: number, ci: number,
    oh: number, ow: number, co: number, kh: number, kw: number, strideH: number, strideW: number, padTop: number, padLeft: number,
  ): void;
  /** out = dy · step(x) for n floats: 1 for x > 0, NaN for NaN, else 0. */
  reluGrad(dy: number, x: number, out: number, n: number): void;
  /** out = max(a + b, 0) for n floats (NaN kept, −0 as 0). */
  addRelu(a: number, b: number, out: number, n: number): void;
  /** dst [b, h, w, c] at rows i·sh + r, columns j·sw + col (inside h, w) = src [b, rows, cols, c]. */
  scatterPhase(src: number, dst: number, b: number, rows: number, cols: number, c: number, sh: number, sw: number, r: number, col: number, h: number, w: number): void;
  adam(
    value: number, m1: number, m2: number, grad: number, outValue: number, outM1: number, outM2: number, n: number,
    b1: number, oneMinusB1: number, b2: number, oneMinusB2: number, bc1: number, bc2: number, eps: number, negLr: number,
  ): void;
}

const loaded = new WeakMap<WebAssembly.Memory, SimdKernels>();
let compiled: Promise<WebAssembly.Module> | null = null;

/** The wasm backend's memory (Emscripten's exports), or null for any other backend. */
export function memoryOf(backend: unknown): WebAssembly.Memory | null {
  const m = (backend as { wasm?: { asm?: { memory?: unknown } } } | null)?.wasm?.asm?.memory;
  return m instanceof WebAssembly.Memory ? m : null;
}

/**
 * Imports a package by a name held in a variable, so that bundlers leave it to run time: the GPU host's page (a
 * browser bundle) reaches this module through the optimizers, never assembles the kernels, and could not bundle
 * wabt, which needs Node's fs.
 */
async function importAtRunTime<T>(name: string): Promise<T> {
  return (await import(/* @vite-ignore */ name)) as T;
}

type Wabt = Awaited<ReturnType<typeof wabtFactory>>;

const MADD = '(f32x4.relaxed_madd ';

/**
 * The kernels' text with each (f32x4.relaxed_madd a b c) as (f32x4.add c (f32x4.mul a b)): plain SIMD, the product
 * rounded before the sum. Operands are parenthesized expressions, as in WAT above.
 */
export function unfusedText(text: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(MADD); at >= 0; at = text.indexOf(MADD, from)) {
    const operands: string[] = [];
    let i = at + MADD.length;
    for (let k = 0; k < 3; k++) {
      while (text[i] === ' ') i++;
      if (text[i] !== '(') throw new Error(`unfusedText: operand ${k + 1} of the relaxed_madd at ${at} is not an expression`);
      const start = i;
      let depth = 0;
      do {
        if (text[i] === '(') depth++;
        else if (text[i] === ')') depth--;
        i++;
      } while (depth > 0 && i < text.length);
      operands.push(text.slice(start, i));
    }
    if (text[i] !== ')') throw new Error(`unfusedText: the relaxed_madd at ${at} has more than three operands`);
    out += `${text.slice(from, at)}(f32x4.add ${operands[2]} (f32x4.mul ${operands[0]} ${operands[1]}))`;
    from = i + 1;
  }
  return out + text.slice(from);
}

/** relaxed_madd on one lane, to ask the engine whether it takes relaxed SIMD and whether its product is fused. */
const PROBE = `(module (func (export "madd") (param f32 f32 f32) (result f32)
  (f32x4.extract_lane 0 (f32x4.relaxed_madd (f32x4.splat (local.get 0)) (f32x4.splat (local.get 1)) (f32x4.splat (local.get 2))))))`;

/**
 * Whether relaxed_madd fuses on this machine, or null where the engine has no relaxed SIMD. Node 20's V8 (11.3)
 * has it behind a flag, on by default from V8 11.4 (Node 22, Electron): the flag is read when a module is
 * compiled, so setting it here, before the kernels are, is enough.
 */
async function probeRelaxedSimd(wabt: Wabt): Promise<boolean | null> {
  const parsed = wabt.parseWat('loupe-probe.wat', PROBE, { simd: true, relaxed_simd: true });
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
  if (!WebAssembly.validate(bytes) && typeof process === 'object' && process.versions?.node) {
    const v8 = await importAtRunTime<{ setFlagsFromString(flags: string): void }>('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  }
  if (!WebAssembly.validate(bytes)) return null;
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes));
  const madd = instance.exports['madd'] as (a: number, b: number, c: number) => number;
  // (1 + 2^-23)(1 − 2^-23) − 1 = −2^-46: a fused product keeps it; a rounded one is exactly 1, and the sum 0.
  return madd(1 + 2 ** -23, 1 - 2 ** -23, -1) !== 0;
}

let multiplyAdd: 'fused' | 'unfused' | 'plain' | null = null;

/**
 * How the kernels' products accumulate, once they are assembled: 'fused' (one rounding), 'unfused' (relaxed SIMD
 * on a CPU without FMA: two), 'plain' (no relaxed SIMD, or LOUPE_WASM_FMA=0: two); null before.
 */
export function simdMultiplyAdd(): 'fused' | 'unfused' | 'plain' | null {
  return multiplyAdd;
}

async function compile(): Promise<WebAssembly.Module> {
  const { default: wabtInit } = await importAtRunTime<{ default: typeof wabtFactory }>('wabt');
  const wabt = await wabtInit();
  const fused = process.env['LOUPE_WASM_FMA'] === '0' ? null : await probeRelaxedSimd(wabt);
  const parsed = wabt.parseWat('loupe-kernels.wat', fused === null ? unfusedText(WAT) : WAT, { simd: true, relaxed_simd: fused !== null });
  try {
    const { buffer } = parsed.toBinary({});
    const module = await WebAssembly.compile(new Uint8Array(buffer));
    multiplyAdd = fused === null ? 'plain' : fused ? 'fused' : 'unfused';
    return module;
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
    loaded.set(memory, { maxPoolGrad2x2: e.max_pool_grad_2x2!, reluBiasGrad: e.relu_bias_grad!, momentum: e.momentum!, adam: e.adam!, channelSums: e.channel_sums!, channelAffine: e.channel_affine!, transpose210: e.transpose_210!, convFilterGrad: e.conv_filter_grad!, convFilterGradFew: e.conv_filter_grad_few!, padChannels: e.pad_channels!, winogradF4x3: e.winograd_f4x3!, winogradFilter4: e.winograd_filter4!, winogradFilterGrad4: e.winograd_filter_grad4!, winogradFilterGradOut4: e.winograd_filter_grad_out4!, scatterPhase: e.scatter_phase!, reluGrad: e.relu_grad!, addRelu: e.add_relu!, padRows: e.pad_rows!, convDirect: e.conv_direct! });
    return null;
  } catch (err) {
    compiled = null;
    // wabt's message starts "parseWat failed:" and says where on the lines after it.
    const message = (err instanceof Error ? err.message : String(err)).split('\n').slice(0, 2).join(' ').trim();
    return `the SIMD kernels did not load: ${message}`;
  }
}

/** The kernels bound to this backend's memory, or null (not loaded, or another backend): the caller runs its JS loop. */
export function simdKernels(backend: unknown): SimdKernels | null {
  const memory = memoryOf(backend);
  return memory ? (loaded.get(memory) ?? null) : null;
}
