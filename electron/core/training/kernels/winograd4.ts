// Winograd's F(4×4, 3×3) for 3×3 stride-1 convolutions (winograd.ts): the forward pass (and so the input
// gradient) and the filter gradient. 36 products per 4×4 outputs, input and output channel: 2.25 an output, where
// F(2×2, 3×3) (which Loupe ran before) takes 4 and the direct sum 9. The products run 4 tiles × 8 channels at a time
// (simd.ts: $products, $accumulate); the 6×6 transforms cost more per channel, yet on the Intel host at batch 32
// every channel count measured ran faster than F(2×2, 3×3): forward 64 × 64 px × 16 channels 9.9 → 8.0 ms,
// 32 × 32 × 32 7.7 → 5.6, 16 × 16 × 64 7.2 → 4.9 (4 or 8 channels ~10%); filter gradient 9.4 → 8.5, 7.6 → 6.0,
// 6.7 → 5.0. Interpolation points 0, ±1, ±2 (Lavin & Gray): float32 results within a few 1e-6 of the direct sums
// relative to their largest, where F(2×2, 3×3) is within ~1e-6.
//
// The transforms are linear combinations written once here as tables, from which the kernels' WebAssembly text is
// generated and which the tests evaluate in the same order: each combination starts from its first term (c·d, or
// d, or −d for c = ±1) and adds or subtracts |c|·d (or d) for each next term, every step rounded to float32.

/** One output of a transform: [coefficient, input index] terms, summed left to right. */
export type Combination = readonly (readonly [number, number])[];

/** B^T: the 6×6 input tile d → B^T d B, along one axis. */
export const INPUT_TRANSFORM: readonly Combination[] = [
  [[4, 0], [-5, 2], [1, 4]],
  [[-4, 1], [-4, 2], [1, 3], [1, 4]],
  [[4, 1], [-4, 2], [-1, 3], [1, 4]],
  [[-2, 1], [-1, 2], [2, 3], [1, 4]],
  [[2, 1], [-1, 2], [-2, 3], [1, 4]],
  [[4, 1], [-5, 3], [1, 5]],
];

/** A^T: the 6×6 products m → A^T m A, the 4×4 outputs, along one axis. */
export const OUTPUT_TRANSFORM: readonly Combination[] = [
  [[1, 0], [1, 1], [1, 2], [1, 3], [1, 4]],
  [[1, 1], [-1, 2], [2, 3], [-2, 4]],
  [[1, 1], [1, 2], [4, 3], [4, 4]],
  [[1, 1], [-1, 2], [8, 3], [-8, 4], [1, 5]],
];

/** A: a 4×4 tile of dy → A dy A^T (6×6), along one axis: the transpose of A^T (the filter gradient's). */
export const GRADIENT_TRANSFORM: readonly Combination[] = [
  [[1, 0]],
  [[1, 0], [1, 1], [1, 2], [1, 3]],
  [[1, 0], [-1, 1], [1, 2], [-1, 3]],
  [[1, 0], [2, 1], [4, 2], [8, 3]],
  [[1, 0], [-2, 1], [4, 2], [-8, 3]],
  [[1, 3]],
];

/** G^T: the 6×6 sums s → G^T s G (3×3), the filter gradient, along one axis: the transpose of G. */
export const FILTER_GRADIENT_TRANSFORM: readonly Combination[] = [
  [[1 / 4, 0], [-1 / 6, 1], [-1 / 6, 2], [1 / 24, 3], [1 / 24, 4]],
  [[-1 / 6, 1], [1 / 6, 2], [1 / 12, 3], [-1 / 12, 4]],
  [[-1 / 6, 1], [-1 / 6, 2], [1 / 6, 3], [1 / 6, 4], [1, 5]],
];

/** G: the 3×3 filter g → G g G^T, along one axis (coefficients rounded to float32). */
export const FILTER_TRANSFORM: readonly Combination[] = [
  [[1 / 4, 0]],
  [[-1 / 6, 0], [-1 / 6, 1], [-1 / 6, 2]],
  [[-1 / 6, 0], [1 / 6, 1], [-1 / 6, 2]],
  [[1 / 24, 0], [1 / 12, 1], [1 / 6, 2]],
  [[1 / 24, 0], [-1 / 12, 1], [1 / 6, 2]],
  [[1, 2]],
];

const f32 = Math.fround;

/** One combination of `d` in float32, in the tables' order. */
export function combine(terms: Combination, d: (i: number) => number): number {
  let acc = 0;
  terms.forEach(([c, i], k) => {
    const a = Math.abs(c);
    const scaled = a === 1 ? d(i) : f32(f32(a) * d(i));
    if (k === 0) acc = c < 0 ? -scaled : scaled;
    else acc = f32(c < 0 ? acc - scaled : acc + scaled);
  });
  return acc;
}

/** WebAssembly text of one combination of v128 expressions `d(i)`, the same operations as `combine`. */
function combineText(terms: Combination, d: (i: number) => string): string {
  let acc = '';
  terms.forEach(([c, i], k) => {
    const a = Math.abs(c);
    const scaled = a === 1 ? d(i) : `(f32x4.mul (f32x4.splat (f32.const ${f32(a)})) ${d(i)})`;
    if (k === 0) acc = c < 0 ? `(f32x4.neg ${scaled})` : scaled;
    else acc = `(${c < 0 ? 'f32x4.sub' : 'f32x4.add'} ${acc} ${scaled})`;
  });
  return acc;
}

const get = (name: string) => `(local.get $${name})`;
const lines = (items: string[], indent: string) => items.map((l) => indent + l).join('\n');

/**
 * A kernel's start: byte strides, the tile grid (4×4 outputs a tile), and the loop over blocks of T tiles (n in this
 * one) with their input transform into v; the kernel closes the loop.
 */
const blocksOfTiles = lines(
  [
    '(local.set $cib (i32.shl (local.get $Ci) (i32.const 2)))',
    '(local.set $cob (i32.shl (local.get $Co) (i32.const 2)))',
    '(local.set $TH (i32.shr_u (i32.add (local.get $OH) (i32.const 3)) (i32.const 2)))',
    '(local.set $TW (i32.shr_u (i32.add (local.get $OW) (i32.const 3)) (i32.const 2)))',
    '(local.set $total (i32.mul (local.get $B) (i32.mul (local.get $TH) (local.get $TW))))',
    '(local.set $start (i32.const 0))',
    '(block $blocks_done (loop $blocks',
    '  (br_if $blocks_done (i32.ge_u (local.get $start) (local.get $total)))',
    '  (local.set $n (i32.sub (local.get $total) (local.get $start)))',
    '  (if (i32.gt_u (local.get $n) (local.get $T)) (then (local.set $n (local.get $T))))',
    '  (call $input4 (local.get $x) (local.get $v) (local.get $start) (local.get $n) (local.get $TH) (local.get $TW)',
    '    (local.get $H) (local.get $W) (local.get $pt) (local.get $pl) (local.get $e) (local.get $tmp) (local.get $cib) (local.get $vs))',
  ],
  '    ',
);

/** Tile start + t's image b and tile row and column th, tw (row-major over TH × TW tiles an image). */
const tileOf = (indent: string) =>
  lines(
    [
      '(local.set $idx (i32.add (local.get $start) (local.get $t)))',
      '(local.set $q (i32.div_u (local.get $idx) (local.get $TW)))',
      '(local.set $tw (i32.sub (local.get $idx) (i32.mul (local.get $q) (local.get $TW))))',
      '(local.set $b (i32.div_u (local.get $q) (local.get $TH)))',
      '(local.set $th (i32.sub (local.get $q) (i32.mul (local.get $b) (local.get $TH))))',
    ],
    indent,
  );

/**
 * The kernels' text (simd.ts inserts it into its module; it uses simd.ts's edge_tile): the input transform of a
 * block of tiles, the filter transform, winograd_f4x3 (products: $products), the filter gradient
 * (winograd_filter_grad4, sums: $accumulate) and its output transform.
 */
export const WINOGRAD4_WAT = `
  ;; The input transform of tiles start .. start + n - 1 of F(4x4, 3x3) (numbered as in winograd_f4x3) of
  ;; x [B][H][W][Ci], padded by pt rows above and pl columns left (zeros past every edge): v[xi][t - start][ci] =
  ;; (B^T d B)[xi] of each tile's 6x6 pixels d (rows 4 th - pt .., columns 4 tw - pl ..), four channels at a time,
  ;; B^T along the rows into tmp (36 vectors), then along the columns into v. A tile inside x reads it in place, one
  ;; that reaches past an edge a copy with its zeros (edge_tile into e, 36 x Ci floats).
  (func $input4
    (param $x i32) (param $v i32) (param $start i32) (param $n i32) (param $TH i32) (param $TW i32)
    (param $H i32) (param $W i32) (param $pt i32) (param $pl i32) (param $e i32) (param $tmp i32) (param $cib i32) (param $vs i32)
    (local $t i32) (local $idx i32) (local $q i32) (local $b i32) (local $th i32) (local $tw i32) (local $r0 i32) (local $c0 i32)
    (local $base i32) (local $rb i32) (local $ci i32) (local $p i32) (local $j i32) (local $k i32) (local $dst i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128) (local $d5 v128)
    (local.set $t (i32.const 0))
    (block $it_done (loop $its
      (br_if $it_done (i32.ge_u (local.get $t) (local.get $n)))
${tileOf('      ')}
      (local.set $r0 (i32.sub (i32.shl (local.get $th) (i32.const 2)) (local.get $pt)))
      (local.set $c0 (i32.sub (i32.shl (local.get $tw) (i32.const 2)) (local.get $pl)))
      (if (i32.and
            (i32.and (i32.ge_s (local.get $r0) (i32.const 0)) (i32.le_s (local.get $r0) (i32.sub (local.get $H) (i32.const 6))))
            (i32.and (i32.ge_s (local.get $c0) (i32.const 0)) (i32.le_s (local.get $c0) (i32.sub (local.get $W) (i32.const 6)))))
        (then
          (local.set $base (i32.add (local.get $x)
            (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $r0)) (local.get $W)) (local.get $c0)) (local.get $cib))))
          (local.set $rb (i32.mul (local.get $W) (local.get $cib))))
        (else
          (call $edge_tile (local.get $x) (local.get $e) (local.get $b) (local.get $r0) (local.get $c0) (local.get $H) (local.get $W) (local.get $cib) (i32.const 6))
          (local.set $base (local.get $e))
          (local.set $rb (i32.mul (local.get $cib) (i32.const 6)))))
      (local.set $ci (i32.const 0))
      (block $ci_done (loop $cis
        (br_if $ci_done (i32.ge_u (local.get $ci) (local.get $cib)))
        ;; rows: for each column j, tmp[k][j] = (B^T d)[k] of the column's six pixels
        (local.set $j (i32.const 0))
        (block $j_done (loop $js
          (br_if $j_done (i32.ge_u (local.get $j) (i32.const 6)))
          (local.set $p (i32.add (i32.add (local.get $base) (local.get $ci)) (i32.mul (local.get $j) (local.get $cib))))
${lines([0, 1, 2, 3, 4, 5].map((i) => `(local.set $d${i} (v128.load align=4 ${i === 0 ? get('p') : `(i32.add ${get('p')} (i32.mul ${get('rb')} (i32.const ${i})))`}))`), '          ')}
          (local.set $dst (i32.add (local.get $tmp) (i32.shl (local.get $j) (i32.const 4))))
${lines(INPUT_TRANSFORM.map((terms, k) => `(v128.store offset=${k * 96} align=4 ${get('dst')} ${combineText(terms, (i) => get(`d${i}`))})`), '          ')}
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $js)))
        ;; columns: for each row k, v[6k + l] = (tmp[k] B)[l]
        (local.set $k (i32.const 0))
        (block $k_done (loop $ks
          (br_if $k_done (i32.ge_u (local.get $k) (i32.const 6)))
          (local.set $p (i32.add (local.get $tmp) (i32.mul (local.get $k) (i32.const 96))))
${lines([0, 1, 2, 3, 4, 5].map((i) => `(local.set $d${i} (v128.load offset=${i * 16} align=4 ${get('p')}))`), '          ')}
          (local.set $dst (i32.add (i32.add (i32.add (local.get $v) (i32.mul (local.get $t) (local.get $cib))) (local.get $ci))
            (i32.mul (i32.mul (local.get $k) (i32.const 6)) (local.get $vs))))
${lines(INPUT_TRANSFORM.map((terms, l) => `(v128.store align=4 ${l === 0 ? get('dst') : `(i32.add ${get('dst')} (i32.mul ${get('vs')} (i32.const ${l})))`} ${combineText(terms, (i) => get(`d${i}`))})`), '          ')}
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $ks)))
        (local.set $ci (i32.add (local.get $ci) (i32.const 16)))
        (br $cis)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $its))))

  ;; u[xi][k] = (G g G^T)[xi] for each of the n = Ci * Co filters g[kh][kw][k] (HWIO), four k at a time (n a
  ;; multiple of 4), xi = 6 r + c: G along kh into h[r][kw], then along kw.
  (func (export "winograd_filter4") (param $g i32) (param $u i32) (param $n i32)
    (local $nb i32) (local $k i32) (local $p i32)
${lines(Array.from({ length: 9 }, (_, i) => `(local $g${i} v128)`), '    ')}
${lines(Array.from({ length: 18 }, (_, i) => `(local $h${i} v128)`), '    ')}
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $k (i32.const 0))
    (block $done (loop $filters
      (br_if $done (i32.ge_u (local.get $k) (local.get $nb)))
${lines(Array.from({ length: 9 }, (_, i) => `(local.set $g${i} (v128.load align=4 (i32.add (i32.add ${get('g')} ${get('k')}) (i32.mul ${get('nb')} (i32.const ${i})))))`), '      ')}
${lines(FILTER_TRANSFORM.flatMap((terms, r) => [0, 1, 2].map((kw) => `(local.set $h${r * 3 + kw} ${combineText(terms, (kh) => get(`g${kh * 3 + kw}`))})`)), '      ')}
      (local.set $p (i32.add ${get('u')} ${get('k')}))
${lines(Array.from({ length: 36 }, (_, xi) => `(v128.store align=4 (i32.add ${get('p')} (i32.mul ${get('nb')} (i32.const ${xi}))) ${combineText(FILTER_TRANSFORM[xi % 6]!, (kw) => get(`h${Math.floor(xi / 6) * 3 + kw}`))})`), '      ')}
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (br $filters))))

  ;; y = the convolution of x [B][H][W][Ci], padded by pt rows above and pl columns left (zeros past every edge),
  ;; with u [36][Ci][Co] (winograd_filter4) into y [B][OH][OW][Co] by F(4x4, 3x3); Ci a multiple of 4,
  ;; Co of 8; e scratch for one edge tile (36 x Ci floats), tmp for 36 vectors. Tiles (b, th, tw) of 4x4 outputs in
  ;; row-major order go T at a time (T a multiple of 4) through v [36][T][Ci] and m [36][T][Co], slices vs and ms
  ;; bytes apart (off multiples of 4 kB, see simd.ts's Winograd kernels). Sums in float32 in the order written: the transforms
  ;; as in winograd4.ts's tables, the products over ci in order. flags: 1 adds bias [Co], 2 applies relu after it.
  (func (export "winograd_f4x3")
    (param $x i32) (param $u i32) (param $y i32) (param $v i32) (param $m i32)
    (param $B i32) (param $H i32) (param $W i32) (param $pt i32) (param $pl i32) (param $e i32) (param $tmp i32) (param $Ci i32)
    (param $OH i32) (param $OW i32) (param $Co i32) (param $T i32) (param $vs i32) (param $ms i32)
    (param $bias i32) (param $flags i32)
    (local $cib i32) (local $cob i32) (local $TH i32) (local $TW i32) (local $total i32) (local $start i32) (local $n i32) (local $n4 i32)
    (local $t i32) (local $idx i32) (local $b i32) (local $th i32) (local $tw i32) (local $q i32)
    (local $co i32) (local $dst i32) (local $p i32) (local $k i32) (local $l i32) (local $oh i32) (local $ow i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128) (local $d5 v128) (local $o v128) (local $bv v128)
${blocksOfTiles}
      (local.set $n4 (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)))
      (call $products (local.get $u) (local.get $v) (local.get $m) (local.get $n4) (local.get $Ci) (local.get $Co) (local.get $vs) (local.get $ms))
      ;; output transform: y = A^T m A, along the rows into tmp (4 x 6 vectors), then along the columns; outputs
      ;; past OH or OW are not written
      (local.set $t (i32.const 0))
      (block $ot_done (loop $ots
        (br_if $ot_done (i32.ge_u (local.get $t) (local.get $n)))
${tileOf('        ')}
        (local.set $co (i32.const 0))
        (block $oc_done (loop $ocs
          (br_if $oc_done (i32.ge_u (local.get $co) (local.get $cob)))
          ;; rows: for each column l, tmp[k][l] = (A^T m)[k] of m[6i + l]
          (local.set $l (i32.const 0))
          (block $l_done (loop $ls
            (br_if $l_done (i32.ge_u (local.get $l) (i32.const 6)))
            (local.set $p (i32.add (i32.add (i32.add (local.get $m) (i32.mul (local.get $t) (local.get $cob))) (local.get $co))
              (i32.mul (local.get $l) (local.get $ms))))
${lines([0, 1, 2, 3, 4, 5].map((i) => `(local.set $d${i} (v128.load align=4 ${i === 0 ? get('p') : `(i32.add ${get('p')} (i32.mul ${get('ms')} (i32.const ${6 * i})))`}))`), '            ')}
            (local.set $dst (i32.add (local.get $tmp) (i32.shl (local.get $l) (i32.const 4))))
${lines(OUTPUT_TRANSFORM.map((terms, k) => `(v128.store offset=${k * 96} align=4 ${get('dst')} ${combineText(terms, (i) => get(`d${i}`))})`), '            ')}
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $ls)))
          (if (i32.and (local.get $flags) (i32.const 1)) (then (local.set $bv (v128.load align=4 (i32.add (local.get $bias) (local.get $co))))))
          ;; columns: for each row k, the outputs (tmp[k] A)[0 .. 3], then the bias (flags 1) and relu (flags 2: max
          ;; keeps NaN, for the NaN guard)
          (local.set $k (i32.const 0))
          (block $k_done (loop $kks
            (br_if $k_done (i32.ge_u (local.get $k) (i32.const 4)))
            (local.set $oh (i32.add (i32.shl (local.get $th) (i32.const 2)) (local.get $k)))
            (if (i32.lt_u (local.get $oh) (local.get $OH)) (then
              (local.set $p (i32.add (local.get $tmp) (i32.mul (local.get $k) (i32.const 96))))
${lines([0, 1, 2, 3, 4, 5].map((i) => `(local.set $d${i} (v128.load offset=${i * 16} align=4 ${get('p')}))`), '              ')}
              (local.set $ow (i32.shl (local.get $tw) (i32.const 2)))
              (local.set $dst (i32.add (i32.add (local.get $y) (local.get $co))
                (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $ow)) (local.get $cob))))
${lines(OUTPUT_TRANSFORM.flatMap((terms, qq) => [
  `(if (i32.lt_u (i32.add ${get('ow')} (i32.const ${qq})) ${get('OW')}) (then`,
  `  (local.set $o ${combineText(terms, (i) => get(`d${i}`))})`,
  `  (if (i32.and ${get('flags')} (i32.const 1)) (then (local.set $o (f32x4.add ${get('o')} ${get('bv')}))))`,
  `  (if (i32.and ${get('flags')} (i32.const 2)) (then (local.set $o (f32x4.max ${get('o')} (v128.const i32x4 0 0 0 0)))))`,
  `  (v128.store align=4 (i32.add ${get('dst')} (i32.mul ${get('cob')} (i32.const ${qq}))) ${get('o')})))`,
]), '              ')}
            ))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kks)))
          (local.set $co (i32.add (local.get $co) (i32.const 16)))
          (br $ocs)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $ots)))
      (local.set $start (i32.add (local.get $start) (local.get $T)))
      (br $blocks))))

  ;; The filter gradient by F(4x4, 3x3): s[xi][ci][co] += the sum over the tiles of v[xi][t][ci] * w[xi][t][co],
  ;; v = B^T x B of each tile's 6x6 pixels (input4), w = A dy A^T of its 4x4 outputs (zeros past OH or OW; A along
  ;; the rows into tmp, then along the columns); then dw = G^T s G (winograd_filter_grad_out4). Tiles, scratch and
  ;; padding as in winograd_f4x3 (w in m's place); s [36][Ci][Co] holds zeros on entry.
  (func (export "winograd_filter_grad4")
    (param $x i32) (param $dy i32) (param $s i32) (param $v i32) (param $w i32)
    (param $B i32) (param $H i32) (param $W i32) (param $pt i32) (param $pl i32) (param $e i32) (param $tmp i32) (param $Ci i32)
    (param $OH i32) (param $OW i32) (param $Co i32) (param $T i32) (param $vs i32) (param $ws i32)
    (local $cib i32) (local $cob i32) (local $TH i32) (local $TW i32) (local $total i32) (local $start i32) (local $n i32)
    (local $t i32) (local $idx i32) (local $q i32) (local $b i32) (local $th i32) (local $tw i32) (local $co i32)
    (local $p i32) (local $dst i32) (local $i i32) (local $j i32) (local $oh i32) (local $ow i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
${blocksOfTiles}
      (local.set $t (i32.const 0))
      (block $wt_done (loop $wts
        (br_if $wt_done (i32.ge_u (local.get $t) (local.get $n)))
${tileOf('        ')}
        (local.set $co (i32.const 0))
        (block $wc_done (loop $wcs
          (br_if $wc_done (i32.ge_u (local.get $co) (local.get $cob)))
          ;; rows: for each column j of the 4x4 outputs, tmp[i][j] = (A y)[i] of the column's four (zeros outside dy)
          (local.set $j (i32.const 0))
          (block $j_done (loop $js
            (br_if $j_done (i32.ge_u (local.get $j) (i32.const 4)))
            (local.set $ow (i32.add (i32.shl (local.get $tw) (i32.const 2)) (local.get $j)))
${lines([0, 1, 2, 3].flatMap((k) => [
  `(local.set $oh (i32.add (i32.shl ${get('th')} (i32.const 2)) (i32.const ${k})))`,
  `(local.set $d${k} (if (result v128) (i32.and (i32.lt_u ${get('oh')} ${get('OH')}) (i32.lt_u ${get('ow')} ${get('OW')}))`,
  `  (then (v128.load align=4 (i32.add (i32.add ${get('dy')} ${get('co')})`,
  `    (i32.mul (i32.add (i32.mul (i32.add (i32.mul ${get('b')} ${get('OH')}) ${get('oh')}) ${get('OW')}) ${get('ow')}) ${get('cob')}))))`,
  `  (else (v128.const i32x4 0 0 0 0))))`,
]), '            ')}
            (local.set $dst (i32.add (local.get $tmp) (i32.shl (local.get $j) (i32.const 4))))
${lines(GRADIENT_TRANSFORM.map((terms, i) => `(v128.store offset=${i * 64} align=4 ${get('dst')} ${combineText(terms, (k) => get(`d${k}`))})`), '            ')}
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $js)))
          ;; columns: for each row i, w[6i + l] = (tmp[i] A^T)[l]
          (local.set $i (i32.const 0))
          (block $i_done (loop $is
            (br_if $i_done (i32.ge_u (local.get $i) (i32.const 6)))
            (local.set $p (i32.add (local.get $tmp) (i32.shl (local.get $i) (i32.const 6))))
${lines([0, 1, 2, 3].map((k) => `(local.set $d${k} (v128.load offset=${k * 16} align=4 ${get('p')}))`), '            ')}
            (local.set $dst (i32.add (i32.add (i32.add (local.get $w) (i32.mul (local.get $t) (local.get $cob))) (local.get $co))
              (i32.mul (i32.mul (local.get $i) (i32.const 6)) (local.get $ws))))
${lines(GRADIENT_TRANSFORM.map((terms, l) => `(v128.store align=4 ${l === 0 ? get('dst') : `(i32.add ${get('dst')} (i32.mul ${get('ws')} (i32.const ${l})))`} ${combineText(terms, (k) => get(`d${k}`))})`), '            ')}
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $is)))
          (local.set $co (i32.add (local.get $co) (i32.const 16)))
          (br $wcs)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $wts)))
      (call $accumulate (local.get $s) (local.get $v) (local.get $w) (local.get $n) (local.get $Ci) (local.get $Co) (local.get $vs) (local.get $ws))
      (local.set $start (i32.add (local.get $start) (local.get $T)))
      (br $blocks))))

  ;; dw[kh][kw][k] = (G^T s G)[kh][kw] for each of the n = Ci * Co filters of s [36][n], four at a time (n a
  ;; multiple of 4): G^T along the rows r of s (for each column c) into h[kh][c], then along the columns.
  (func (export "winograd_filter_grad_out4") (param $s i32) (param $dw i32) (param $n i32)
    (local $nb i32) (local $k i32) (local $p i32)
${lines(Array.from({ length: 6 }, (_, i) => `(local $d${i} v128)`), '    ')}
${lines(Array.from({ length: 18 }, (_, i) => `(local $h${i} v128)`), '    ')}
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $k (i32.const 0))
    (block $done (loop $filters
      (br_if $done (i32.ge_u (local.get $k) (local.get $nb)))
      (local.set $p (i32.add ${get('s')} ${get('k')}))
${lines([0, 1, 2, 3, 4, 5].flatMap((c) => [
  ...[0, 1, 2, 3, 4, 5].map((r) => `(local.set $d${r} (v128.load align=4 (i32.add ${get('p')} (i32.mul ${get('nb')} (i32.const ${6 * r + c})))))`),
  ...FILTER_GRADIENT_TRANSFORM.map((terms, kh) => `(local.set $h${kh * 6 + c} ${combineText(terms, (r) => get(`d${r}`))})`),
]), '      ')}
      (local.set $p (i32.add ${get('dw')} ${get('k')}))
${lines([0, 1, 2].flatMap((kh) => FILTER_GRADIENT_TRANSFORM.map((terms, kw) => `(v128.store align=4 (i32.add ${get('p')} (i32.mul ${get('nb')} (i32.const ${kh * 3 + kw}))) ${combineText(terms, (c) => get(`h${kh * 6 + c}`))})`)), '      ')}
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (br $filters))))
`;
