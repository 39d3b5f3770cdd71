// Index arithmetic that turns a convolution gradient into one forward convolution, per spatial axis.
//
// Forward conv along one axis: y[o] = Σ_j x[o·s + j·d − p] · w[j], for o < outSize, j < filterSize.
//  - filter gradient: dw[j] = Σ_o x[o·s + j·d − p] · dy[o] is a forward conv over x (padded by p before) whose
//    "filter" is dy, with stride d and dilation s (the forward conv's dilation and stride swap roles);
//  - input gradient: dx[i] = Σ_j dyd[i + p − (k−1)·d + j·d] · w[k−1−j], with dyd = dy with s−1 zeros between
//    samples, is a forward conv with stride 1 and dilation d of dyd and the flipped filter.
// Each needs the other side's padding chosen so the output has exactly the wanted length; a negative pad means
// rows that can never contribute, which we crop instead (XNNPACK takes only non-negative pads).

/** How to feed one spatial axis of a forward convolution: crop the input, then pad it. */
export interface AxisPlan {
  readonly cropBefore: number;
  readonly cropAfter: number;
  readonly padBefore: number;
  readonly padAfter: number;
  /** Length of the input after cropping; ≤ 0 means no sample reaches the output (the gradient is zero). */
  readonly keptLength: number;
}

/** Geometry of one spatial axis of the forward convolution whose gradient we compute. */
export interface ConvAxis {
  readonly inSize: number;
  readonly outSize: number;
  readonly filterSize: number;
  readonly stride: number;
  readonly dilation: number;
  /** Padding before the first input sample (top or left), as the forward conv used it. */
  readonly padBefore: number;
}

function plan(length: number, padBefore: number, span: number): AxisPlan {
  const padAfter = span - length - padBefore;
  const cropBefore = Math.max(0, -padBefore);
  const cropAfter = Math.max(0, -padAfter);
  return {
    cropBefore,
    cropAfter,
    padBefore: Math.max(0, padBefore),
    padAfter: Math.max(0, padAfter),
    keptLength: length - cropBefore - cropAfter,
  };
}

/**
 * Filter gradient: conv over x with stride = axis.dilation, dilation = axis.stride, filter length = outSize,
 * producing exactly filterSize outputs.
 */
export function filterGradAxis(axis: ConvAxis): AxisPlan {
  const span = (axis.filterSize - 1) * axis.dilation + (axis.outSize - 1) * axis.stride + 1;
  return plan(axis.inSize, axis.padBefore, span);
}

/**
 * Input gradient: conv over the zero-dilated dy (of length `dilatedLength`, which may carry up to stride−1
 * trailing zeros) with stride 1, dilation = axis.dilation, producing exactly inSize outputs.
 */
export function inputGradAxis(axis: ConvAxis, dilatedLength: number): AxisPlan {
  const effectiveFilter = (axis.filterSize - 1) * axis.dilation;
  return plan(dilatedLength, effectiveFilter - axis.padBefore, axis.inSize + effectiveFilter);
}
