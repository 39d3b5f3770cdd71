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

/**
 * One phase of a strided input gradient (dilation 1). With stride s > 1, dx at positions i ≡ c (mod s) only ever
 * meets the taps j ≡ (c + p) (mod s): dx[s·m + c] = Σ_t dy[m + e − t] · w[ρ + s·t]. Each phase is then a stride-1
 * convolution of dy itself with a sub-filter, instead of one convolution of dy with s − 1 zeros inserted, of which
 * (s² − 1)/s² of the products are zeros (bench: 3.4–4× the forward convolution's time at stride 2).
 */
export interface InputGradPhase {
  /** The input positions this phase gives: offset, offset + s, … (`rows` of them; those past the input are cut). */
  readonly offset: number;
  /** The taps of the flipped filter it uses: tapStart, tapStart + s, … (`taps` of them; 0: the phase is all zeros). */
  readonly tapStart: number;
  readonly taps: number;
  /** How to feed dy to a stride-1 convolution that gives exactly `rows` outputs. */
  readonly plan: AxisPlan;
}

/** The s phases of one axis (dilation 1), and the outputs each gives: ⌈inSize / s⌉, so they interleave evenly. */
export function inputGradPhases(axis: ConvAxis): { rows: number; phases: InputGradPhase[] } {
  if (axis.dilation !== 1) throw new Error('inputGradPhases: dilation must be 1');
  const s = axis.stride;
  const k = axis.filterSize;
  const rows = Math.ceil(axis.inSize / s);
  const phases: InputGradPhase[] = [];
  for (let offset = 0; offset < s; offset++) {
    const rho = (((offset + axis.padBefore) % s) + s) % s;
    const e = (offset + axis.padBefore - rho) / s;
    const taps = rho < k ? Math.ceil((k - rho) / s) : 0;
    // dy[m + e − t] · w[ρ + s·t] as a correlation over u = taps − 1 − t: dy is padded by taps − 1 − e before, and
    // the flipped filter w[k − 1 − r] supplies w[ρ + s·(taps − 1 − u)] at r = tapStart + s·u.
    const tapStart = taps > 0 ? k - 1 - rho - s * (taps - 1) : 0;
    phases.push({ offset, tapStart, taps, plan: plan(axis.outSize, taps - 1 - e, rows + taps - 1) });
  }
  return { rows, phases };
}
