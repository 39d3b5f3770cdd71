// DepthwiseConv2dNativeBackpropFilter / ...Input, both missing on wasm, as XNNPACK depthwise
// convolutions (MobileNet-like backbones need them). Channel multiplier M: output channel c·M+m reads input c.
import * as tf from '@tensorflow/tfjs-core';
import { filterGradAxis } from './conv-geometry.ts';
import { convAxes, convInfo, rotatedFilter } from './conv2d-grads.ts';
import { asTensor4D, cropForConv, forwardDepthwise } from './forward-conv.ts';
import { inputGradient } from './input-grad.ts';

interface DepthwiseGradAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * dW[kh,kw,c,m] = Σ_{b,oh,ow} x[b, oh·s+kh·d−p, ow·s+kw·d−p, c] · dy[b,oh,ow,c·M+m].
 * Put the batch into the channels so the depthwise conv does the spatial sum per (c,b) pair:
 * input x as [1,H,W,C·B], filter dy as [OH,OW,C·B,M], stride d, dilation s → [1,kh,kw,C·B·M], then Σ over b.
 */
export function depthwiseBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const a = args.attrs as unknown as DepthwiseGradAttrs & { filterShape: [number, number, number, number] };
  return tf.tidy(() => {
    const x = asTensor4D(args.inputs.x, 'x');
    const dy = asTensor4D(args.inputs.dy, 'dy');
    const info = convInfo(x.shape, a.filterShape, a, true);
    const [kh, kw, c, m] = a.filterShape;
    const b = info.batchSize;
    const { h, w } = convAxes(info);
    const hp = filterGradAxis(h);
    const wp = filterGradAxis(w);
    if (hp.keptLength <= 0 || wp.keptLength <= 0) return tf.zeros(a.filterShape);
    const xs: tf.Tensor4D = b === 1 ? x : tf.reshape(tf.transpose(x, [1, 2, 3, 0]), [1, info.inHeight, info.inWidth, c * b]);
    const dy5 = tf.reshape(dy, [b, info.outHeight, info.outWidth, c, m]);
    const dyF: tf.Tensor4D = tf.reshape(b === 1 ? dy5 : tf.transpose(dy5, [1, 2, 3, 0, 4]), [info.outHeight, info.outWidth, c * b, m]);
    const fed = cropForConv(xs, hp, wp);
    const g = forwardDepthwise(fed.x, dyF, [info.dilationHeight, info.dilationWidth], [info.strideHeight, info.strideWidth], fed.pad);
    return b === 1 ? tf.reshape(g, a.filterShape) : tf.sum(tf.reshape(g, [kh, kw, c, b, m]), 3);
  });
}

/**
 * dx[b,i,c] = Σ_m Σ_j dy[b, ·, c·M+m] · w[k−1−j, c, m]: depthwise convolutions of dy (C·M channels, multiplier 1)
 * with the flipped filter (input-grad.ts), then Σ over m.
 */
export function depthwiseBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const a = args.attrs as unknown as DepthwiseGradAttrs & { inputShape: [number, number, number, number] };
  return tf.tidy(() => {
    const dy = asTensor4D(args.inputs.dy, 'dy');
    const filter = asTensor4D(args.inputs.filter, 'filter');
    const info = convInfo(a.inputShape, filter.shape, a, true);
    const [kh, kw, c, m] = filter.shape;
    const { h, w } = convAxes(info);
    const flipped: tf.Tensor4D = tf.reshape(rotatedFilter(filter, false), [kh, kw, c * m, 1]);
    const dx = inputGradient(dy, flipped, h, w, c * m, (x, f, dilations, pad) => forwardDepthwise(x, f, [1, 1], dilations, pad));
    return m === 1 ? dx : tf.sum(tf.reshape(dx, [info.batchSize, info.inHeight, info.inWidth, c, m]), 4);
  });
}
