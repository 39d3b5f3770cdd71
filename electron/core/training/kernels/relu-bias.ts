// Convolution and dense layers with a bias and a relu, trained as one fused kernel each way.
//
// tfjs runs a fused conv/matmul + bias + relu only outside gradient recording: while training, tfjs-core splits it
// into the product, a broadcast Add and a Relu, and differentiates each (Step, Cast, Multiply, a transposing Sum
// for the bias). For LeNet-5 that is ~30 of a step's 214 kernel calls and ~12% of its time on wasm. Here the
// forward pass is the backend's FusedConv2D / _FusedMatMul with bias and relu (one kernel; XNNPACK adds the bias
// and clamps in its output loop), and the backward pass masks dy by y > 0 and sums the bias gradient in one kernel
// (relu-bias-kernels.ts on wasm, composed from tfjs ops elsewhere), then runs the usual two products.
// The layers keep tfjs's class names and configs, so saved models are plain Conv2D / Dense layers that load
// anywhere; registering the classes makes loads in this process use them.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { RELU_BIAS_GRAD } from './relu-bias-kernels.ts';

type Conv2DArgs = NonNullable<Parameters<typeof tfl.layers.conv2d>[0]>;
type DenseArgs = NonNullable<Parameters<typeof tfl.layers.dense>[0]>;
type Kwargs = Record<string, unknown>;

interface Variable {
  read(): tf.Tensor;
}

/** The stock layers' fields these read (private in tfjs-layers' typings). */
interface LayerFields {
  readonly kernel: Variable;
  readonly bias: Variable | null;
  readonly activation: { getClassName(): string } | null;
}
interface ConvFields extends LayerFields {
  readonly strides: number[];
  readonly padding: string;
  readonly dataFormat: string;
  readonly dilationRate: number | number[];
}

/** g = dy where y > 0, else 0; db = Σ g over all but the last axis. */
function reluBiasGrad(dy: tf.Tensor, y: tf.Tensor): [tf.Tensor, tf.Tensor] {
  if (tf.getKernel(RELU_BIAS_GRAD, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(RELU_BIAS_GRAD, { dy, y }) as [tf.Tensor, tf.Tensor];
  }
  const g = tf.mul(dy, tf.step(y));
  return [g, tf.sum(g, y.shape.slice(0, -1).map((_, i) => i))];
}

type Save = (tensors: tf.Tensor[]) => void;
type GradMap = Record<string, () => tf.Tensor>;

/**
 * Runs `forward` as one op on tfjs's gradient tape, its gradient given per input as a function. tf.customGrad
 * would do, but it computes every input's gradient, where tfjs calls only those of inputs on the path to a trained
 * weight: through customGrad the first layer's input gradient (the image's, 4 ms of a LeNet step) ran for nothing.
 * Engine.runKernelFunc is the method customGrad itself calls; it is internal to tfjs-core (4.22 here, pinned).
 */
function tapedOp(inputs: Record<string, tf.Tensor>, forward: (save: Save) => tf.Tensor, backward: (dy: tf.Tensor, saved: tf.Tensor[]) => GradMap): tf.Tensor {
  const engine = tf.engine() as unknown as {
    runKernelFunc(p: { forwardFunc: (backend: unknown, save: Save) => tf.Tensor; backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => GradMap; inputs: Record<string, tf.Tensor> }): tf.Tensor;
  };
  return engine.runKernelFunc({ forwardFunc: (_backend, save) => forward(save), backwardsFunc: backward, inputs });
}

interface ConvGeometry {
  strides: [number, number];
  pad: 'same' | 'valid';
}

/** relu(conv2d(x, filter) + bias), NHWC, dilation 1, with the fused gradient above. */
export function conv2dBiasRelu(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, geometry: ConvGeometry): tf.Tensor4D {
  const attrs = { strides: geometry.strides, pad: geometry.pad, dataFormat: 'NHWC', dilations: [1, 1] };
  const run = (kernel: string, inputs: Record<string, tf.Tensor>, extra: Record<string, unknown>) =>
    tf.engine().runKernel(kernel, inputs, { ...attrs, ...extra } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return tapedOp(
    { x, filter, bias },
    (save) => {
      const y = run(tf.FusedConv2D, { x, filter, bias }, { activation: 'relu' });
      save([x, filter, y]);
      return y;
    },
    (dy, saved) => {
      const [xs, fs, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      // The masked gradient serves all three; tfjs disposes it with the rest of the backward pass.
      const [g, db] = reluBiasGrad(dy, y);
      return {
        x: () => run(tf.Conv2DBackpropInput, { dy: g, filter: fs }, { inputShape: xs.shape }),
        filter: () => run(tf.Conv2DBackpropFilter, { x: xs, dy: g }, { filterShape: fs.shape }),
        bias: () => db,
      };
    },
  ) as tf.Tensor4D;
}

/** relu(x·kernel + bias) with the fused gradient above. */
export function denseBiasRelu(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  return tapedOp(
    { x, kernel, bias },
    (save) => {
      // The kernel takes batches of matrices (rank 3), as tf.fused.matMul hands them over.
      const a = tf.reshape(x, [1, ...x.shape]);
      const b = tf.reshape(kernel, [1, ...kernel.shape]);
      const y3 = tf.engine().runKernel(tf._FusedMatMul, { a, b, bias }, { transposeA: false, transposeB: false, activation: 'relu' } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const y = tf.reshape(y3, [x.shape[0], kernel.shape[1]]);
      save([x, kernel, y]);
      return y;
    },
    (dy, saved) => {
      const [xs, ws, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const [g, db] = reluBiasGrad(dy, y);
      return {
        x: () => tf.matMul(g as tf.Tensor2D, ws, false, true),
        kernel: () => tf.matMul(xs, g as tf.Tensor2D, true, false),
        bias: () => db,
      };
    },
  ) as tf.Tensor2D;
}

function trainsFused(f: LayerFields, x: tf.Tensor, rank: number, kwargs: Kwargs): boolean {
  return Boolean(kwargs['training']) && f.bias !== null && f.activation?.getClassName() === 'relu' && x.rank === rank && x.dtype === 'float32';
}

/** Training a conv with no bias and no activation (followed by batch norm, as in the ResNet). */
function trainsPlain(f: LayerFields, x: tf.Tensor, kwargs: Kwargs): boolean {
  const linear = f.activation === null || f.activation.getClassName() === 'linear';
  return Boolean(kwargs['training']) && f.bias === null && linear && x.rank === 4 && x.dtype === 'float32';
}

// tfjs-layers does not export its layer classes; the factories' instances lead to them.
const StockConv2D = tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: Conv2DArgs) => tfl.layers.Layer;
const StockDense = tfl.layers.dense({ units: 1 }).constructor as new (args: DenseArgs) => tfl.layers.Layer;

/**
 * tfjs-layers' Conv2D; trains conv + bias + relu fused, and conv alone through tf.conv2d (channels last, dilation 1);
 * all else is the stock code.
 */
export class Conv2D extends StockConv2D {
  static className = 'Conv2D';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as ConvFields;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const dilations = typeof f.dilationRate === 'number' ? [f.dilationRate] : f.dilationRate;
    const plain = f.dataFormat === 'channelsLast' && (f.padding === 'same' || f.padding === 'valid') && dilations.every((d) => d === 1);
    const geometry: ConvGeometry = { strides: [f.strides[0]!, f.strides[1] ?? f.strides[0]!], pad: f.padding as 'same' | 'valid' };
    if (plain && trainsPlain(f, x, kwargs)) {
      // tfjs-layers would call tf.fused.conv2d, whose gradient (a tf.customGrad) also computes the input's gradient
      // when nothing needs it: the ResNet stem's, the image's, ~1% of a step. tf.conv2d's gradient is per input.
      return tf.tidy(() => tf.conv2d(x as tf.Tensor4D, f.kernel.read() as tf.Tensor4D, geometry.strides, geometry.pad));
    }
    if (!plain || !trainsFused(f, x, 4, kwargs)) return super.call(inputs, kwargs);
    return tf.tidy(() => conv2dBiasRelu(x as tf.Tensor4D, f.kernel.read() as tf.Tensor4D, f.bias!.read() as tf.Tensor1D, geometry));
  }
}

/** tfjs-layers' Dense; trains matmul + bias + relu fused on 2-D inputs; all else is the stock code. */
export class Dense extends StockDense {
  static className = 'Dense';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as LayerFields;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!trainsFused(f, x, 2, kwargs)) return super.call(inputs, kwargs);
    return tf.tidy(() => denseBiasRelu(x as tf.Tensor2D, f.kernel.read() as tf.Tensor2D, f.bias!.read() as tf.Tensor1D));
  }
}

for (const cls of [Conv2D, Dense]) {
  tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

export function conv2d(args: Conv2DArgs): tfl.layers.Layer {
  return new Conv2D(args);
}

export function dense(args: DenseArgs): tfl.layers.Layer {
  return new Dense(args);
}
