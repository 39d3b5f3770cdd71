// The direct convolution kernel's WebAssembly text (simd.ts assembles it with the other kernels; direct-conv.ts
// calls it). It serves the convolutions with few channels, where XNNPACK's packing does not pay: LeNet-5's layers,
// a grey stem, and the input gradient of a "valid" convolution, whose dy XNNPACK pads and then multiplies the
// zeros of that padding (the input gradient of LeNet's second layer is 40 M multiply-adds that way, 15 M without).
//
// x arrives with its rows padded (pad_rows): `pl` zero pixels before each row and zeros after it, so that the
// taps of a block of outputs are one contiguous run of x's row (kw, then ci) whatever the block's place; a block
// skips the taps that land in padding for all its outputs (rows outside x, and columns), so only the few taps at
// an edge multiply zeros. Four outputs of a row × 8 output channels at a time, in eight vectors, with fused
// multiply-adds where the CPU has them (relaxed_madd, as the other convolution kernels).
import { madd4x8 } from './wat-blocks.ts';

export const DIRECT_CONV_WAT = `
  ;; out[r] = before zero bytes, then in[r]'s wb bytes, then after zero bytes, for each of the rows (byte counts are
  ;; multiples of 4): a tensor's rows padded with zero pixels for conv_direct.
  (func (export "pad_rows") (param $in i32) (param $out i32) (param $rows i32) (param $wb i32) (param $before i32) (param $after i32)
    (local $r i32) (local $i i32) (local $end i32)
    (local.set $r (i32.const 0))
    (block $rows_done (loop $rows_l
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $end (i32.add (local.get $out) (local.get $before)))
      (block $z_done (loop $z
        (br_if $z_done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out) (f32.const 0))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $z)))
      (local.set $i (i32.const 0))
      (block $v_done (loop $v
        (br_if $v_done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $wb)))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i)) (v128.load align=4 (i32.add (local.get $in) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $v)))
      (block $s_done (loop $s
        (br_if $s_done (i32.ge_u (local.get $i) (local.get $wb)))
        (f32.store (i32.add (local.get $out) (local.get $i)) (f32.load (i32.add (local.get $in) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $s)))
      (local.set $in (i32.add (local.get $in) (local.get $wb)))
      (local.set $out (i32.add (local.get $out) (local.get $wb)))
      (local.set $end (i32.add (local.get $out) (local.get $after)))
      (block $a_done (loop $a
        (br_if $a_done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out) (f32.const 0))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $a)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows_l))))

  ;; One output's 8 channels (a0, a1) at dst: bias (flags 1) and relu (flags 2) applied, then the first n stored
  ;; (n from 1 to 8; the channels past the tensor's last are not). f32x4.max keeps NaN, so a diverging run's loss
  ;; stays NaN for the NaN guard.
  (func $direct_out (param $dst i32) (param $a0 v128) (param $a1 v128) (param $bias i32) (param $flags i32) (param $n i32)
    (if (i32.and (local.get $flags) (i32.const 1)) (then
      (local.set $a0 (f32x4.add (local.get $a0) (v128.load align=4 (local.get $bias))))
      (local.set $a1 (f32x4.add (local.get $a1) (v128.load offset=16 align=4 (local.get $bias))))))
    (if (i32.and (local.get $flags) (i32.const 2)) (then
      (local.set $a0 (f32x4.max (local.get $a0) (v128.const i32x4 0 0 0 0)))
      (local.set $a1 (f32x4.max (local.get $a1) (v128.const i32x4 0 0 0 0)))))
    (if (i32.ge_u (local.get $n) (i32.const 8)) (then
      (v128.store align=4 (local.get $dst) (local.get $a0))
      (v128.store offset=16 align=4 (local.get $dst) (local.get $a1))
      (return)))
    (if (i32.ge_u (local.get $n) (i32.const 4)) (then
      (v128.store align=4 (local.get $dst) (local.get $a0))
      (local.set $a0 (local.get $a1))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $n (i32.sub (local.get $n) (i32.const 4)))))
    (if (i32.ge_u (local.get $n) (i32.const 2)) (then
      (v128.store64_lane align=4 0 (local.get $dst) (local.get $a0))
      (local.set $a0 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a0) (local.get $a0)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
      (local.set $n (i32.sub (local.get $n) (i32.const 2)))))
    (if (local.get $n) (then (f32.store (local.get $dst) (f32x4.extract_lane 0 (local.get $a0))))))

  ;; y[b][oh][ow][co] (co < Co) = the sum over kh, then kw, then ci, in float32, of
  ;; xp[b][oh*sh + kh - pt][ow*sw + kw][ci] * w[kh][kw][ci][co], dilation 1, NHWC. xp is x with every row padded by
  ;; pad_rows: pl zero pixels before it and 3*sw after it, Wp pixels a row (the last output of a block reads up to
  ;; 3*sw pixels past the first one's last real tap). w is [KH][KW][Ci][Cop], Cop = Co rounded up to a multiple of
  ;; 8, zeros past Co. Rows kh that fall outside x are skipped, and so are the taps kw that land in the padding for
  ;; all four outputs of a block; the others multiply the padding's zeros. The outputs past a row's last multiple
  ;; of four repeat its last one and are not stored. flags: 1 adds bias[co] (Cop floats) after the sums, 2 applies
  ;; relu after that.
  (func (export "conv_direct")
    (param $xp i32) (param $w i32) (param $y i32) (param $bias i32) (param $flags i32)
    (param $B i32) (param $H i32) (param $W i32) (param $Wp i32) (param $Ci i32) (param $OH i32) (param $OW i32) (param $Co i32)
    (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (local $b i32) (local $oh i32) (local $ow i32) (local $co i32) (local $kh i32) (local $ih i32) (local $n i32)
    (local $cib i32) (local $cob i32) (local $xs i32) (local $kwlo i32) (local $kwhi i32) (local $t i32)
    (local $o1 i32) (local $o2 i32) (local $o3 i32) (local $p0 i32) (local $k i32) (local $kend i32) (local $wp i32)
    (local $yrow i32) (local $left i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $w0 v128) (local $w1 v128)
    (local.set $cib (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $cob (i32.shl (i32.and (i32.add (local.get $Co) (i32.const 7)) (i32.const -8)) (i32.const 2)))
    (local.set $xs (i32.mul (local.get $sw) (local.get $cib)))
    (local.set $b (i32.const 0))
    (block $batch_done (loop $batch
      (br_if $batch_done (i32.ge_u (local.get $b) (local.get $B)))
      (local.set $oh (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $oh) (local.get $OH)))
        (local.set $yrow (i32.add (local.get $y) (i32.shl
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $Co))
          (i32.const 2))))
        (local.set $ow (i32.const 0))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.ge_u (local.get $ow) (local.get $OW)))
          (local.set $n (i32.sub (local.get $OW) (local.get $ow)))
          (if (i32.gt_u (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
          ;; the taps that reach x for some output of the block: kw in [kwlo, kwhi)
          (local.set $t (i32.sub (local.get $pl) (i32.mul (i32.add (local.get $ow) (i32.sub (local.get $n) (i32.const 1))) (local.get $sw))))
          (local.set $kwlo (select (local.get $t) (i32.const 0) (i32.gt_s (local.get $t) (i32.const 0))))
          (local.set $t (i32.sub (i32.add (local.get $pl) (local.get $W)) (i32.mul (local.get $ow) (local.get $sw))))
          (local.set $kwhi (select (local.get $t) (local.get $KW) (i32.lt_s (local.get $t) (local.get $KW))))
          ;; byte offsets of outputs 1-3 from output 0; past the row's end, the last output again
          (local.set $o1 (i32.mul (local.get $xs) (select (i32.const 1) (i32.const 0) (i32.gt_u (local.get $n) (i32.const 1)))))
          (local.set $o2 (i32.mul (local.get $xs) (select (i32.const 2) (i32.sub (local.get $n) (i32.const 1)) (i32.gt_u (local.get $n) (i32.const 2)))))
          (local.set $o3 (i32.mul (local.get $xs) (select (i32.const 3) (i32.sub (local.get $n) (i32.const 1)) (i32.gt_u (local.get $n) (i32.const 3)))))
          (local.set $kend (i32.mul (i32.sub (local.get $kwhi) (local.get $kwlo)) (local.get $cib)))
          (local.set $co (i32.const 0))
          (block $co_done (loop $cos
            (br_if $co_done (i32.ge_u (local.get $co) (local.get $cob)))
            (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
            (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
            (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a21 (v128.const i32x4 0 0 0 0))
            (local.set $a30 (v128.const i32x4 0 0 0 0)) (local.set $a31 (v128.const i32x4 0 0 0 0))
            (if (i32.gt_s (local.get $kend) (i32.const 0)) (then
              (local.set $kh (i32.const 0))
              (block $kh_done (loop $khs
                (br_if $kh_done (i32.ge_u (local.get $kh) (local.get $KH)))
                (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $kh)) (local.get $pt)))
                (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H))) (then
                  (local.set $p0 (i32.add (local.get $xp) (i32.mul
                    (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $Wp))
                      (i32.add (i32.mul (local.get $ow) (local.get $sw)) (local.get $kwlo)))
                    (local.get $cib))))
                  (local.set $wp (i32.add (i32.add (local.get $w) (local.get $co))
                    (i32.mul (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $KW)) (local.get $kwlo)) (local.get $Ci)) (local.get $cob))))
                  (local.set $k (i32.const 0))
                  (loop $ks
                    (local.set $w0 (v128.load align=4 (local.get $wp)))
                    (local.set $w1 (v128.load offset=16 align=4 (local.get $wp)))
                    (local.set $t (i32.add (local.get $p0) (local.get $k)))
                    (local.set $s0 (v128.load32_splat align=4 (local.get $t)))
                    (local.set $s1 (v128.load32_splat align=4 (i32.add (local.get $t) (local.get $o1))))
                    (local.set $s2 (v128.load32_splat align=4 (i32.add (local.get $t) (local.get $o2))))
                    (local.set $s3 (v128.load32_splat align=4 (i32.add (local.get $t) (local.get $o3))))
                    ${madd4x8('$w0', '$w1')}
                    (local.set $wp (i32.add (local.get $wp) (local.get $cob)))
                    (local.set $k (i32.add (local.get $k) (i32.const 4)))
                    (br_if $ks (i32.lt_u (local.get $k) (local.get $kend))))))
                (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
                (br $khs)))))
            ;; channels left to store from co on
            (local.set $left (i32.sub (local.get $Co) (i32.shr_u (local.get $co) (i32.const 2))))
            (local.set $t (i32.add (i32.add (local.get $yrow) (i32.shl (i32.mul (local.get $ow) (local.get $Co)) (i32.const 2))) (local.get $co)))
            (call $direct_out (local.get $t) (local.get $a00) (local.get $a01) (i32.add (local.get $bias) (local.get $co)) (local.get $flags) (local.get $left))
            (if (i32.gt_u (local.get $n) (i32.const 1)) (then
              (local.set $t (i32.add (local.get $t) (i32.shl (local.get $Co) (i32.const 2))))
              (call $direct_out (local.get $t) (local.get $a10) (local.get $a11) (i32.add (local.get $bias) (local.get $co)) (local.get $flags) (local.get $left))))
            (if (i32.gt_u (local.get $n) (i32.const 2)) (then
              (local.set $t (i32.add (local.get $t) (i32.shl (local.get $Co) (i32.const 2))))
              (call $direct_out (local.get $t) (local.get $a20) (local.get $a21) (i32.add (local.get $bias) (local.get $co)) (local.get $flags) (local.get $left))))
            (if (i32.gt_u (local.get $n) (i32.const 3)) (then
              (local.set $t (i32.add (local.get $t) (i32.shl (local.get $Co) (i32.const 2))))
              (call $direct_out (local.get $t) (local.get $a30) (local.get $a31) (i32.add (local.get $bias) (local.get $co)) (local.get $flags) (local.get $left))))
            (local.set $co (i32.add (local.get $co) (i32.const 32)))
            (br $cos)))
          (local.set $ow (i32.add (local.get $ow) (i32.const 4)))
          (br $cols)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $rows)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $batch))))
`;
