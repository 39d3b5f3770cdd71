/**
 * ONNX padding in TF.js terms. ONNX gives explicit pads [top, left, bottom, right] (or auto_pad); TF.js layers
 * know only 'valid' and 'same', where 'same' puts the odd pixel at the end. PyTorch pads symmetrically, so a
 * stride-2 layer on an even input pads differently from TF's 'same': such pads become a ZeroPadding2D layer.
 */
import type { ConvertContext } from './convert-graph.ts';
import type { OnnxNode } from './onnx-read.ts';

/** [[top, bottom], [left, right]] */
export type Pads2d = [[number, number], [number, number]];

export type Padding = { kind: 'valid' } | { kind: 'same' } | { kind: 'explicit'; pads: Pads2d };

function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const eff = (k - 1) * d + 1;
  const total = Math.max((Math.ceil(size / s) - 1) * s + eff - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** A node's pads as [[top, bottom], [left, right]], from `pads` or `auto_pad`. */
export function spatialPads(ctx: ConvertContext, node: OnnxNode, size: [number, number], k: readonly number[], s: readonly number[], d: readonly number[]): Pads2d {
  const auto = ctx.string(node, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') return [[0, 0], [0, 0]];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const [ph, pw] = [0, 1].map((i) => samePads(size[i]!, k[i]!, s[i]!, d[i]!)) as [[number, number], [number, number]];
    return auto === 'SAME_UPPER' ? [ph, pw] : [[ph[1], ph[0]], [pw[1], pw[0]]];
  }
  if (auto !== 'NOTSET') throw ctx.fail(node, `auto_pad ${auto} is not supported`);
  const p = ctx.ints(node, 'pads', [0, 0, 0, 0]);
  if (p.length !== 4 || p.some((v) => v < 0)) throw ctx.fail(node, `pads ${JSON.stringify(p)} are not 2-D`);
  return [[p[0]!, p[2]!], [p[1]!, p[3]!]];
}

/**
 * How a windowed op with these pads runs in TF.js: 'valid', TF's 'same' when that is the same padding, or
 * explicit zero padding first. `ceilMode` (pooling) extends the end padding so the last partial window counts.
 * `allowSame` false: zero padding even where 'same' has the same geometry (an average that counts the padding).
 */
export function poolPadding(size: [number, number], k: readonly number[], s: readonly number[], d: readonly number[], pads: Pads2d, ceilMode: boolean, allowSame = true): Padding {
  const p = pads.map((pair) => [...pair]) as Pads2d;
  if (ceilMode) {
    for (let i = 0; i < 2; i++) {
      const eff = (k[i]! - 1) * d[i]! + 1;
      const span = size[i]! + p[i]![0] + p[i]![1] - eff;
      const out = Math.ceil(span / s[i]!) + 1;
      p[i]![1] += Math.max((out - 1) * s[i]! - span, 0);
    }
  }
  if (p.every(([a, b]) => a === 0 && b === 0)) return { kind: 'valid' };
  const isSame = allowSame && [0, 1].every((i) => {
    const [a, b] = samePads(size[i]!, k[i]!, s[i]!, d[i]!);
    return p[i]![0] === a && p[i]![1] === b;
  });
  return isSame ? { kind: 'same' } : { kind: 'explicit', pads: p };
}
