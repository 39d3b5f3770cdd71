// Module resolution hooks for register.mjs: '@tensorflow/tfjs' → shim.mjs; 'sharp' resolved from this repository.
const shim = new URL('./shim.mjs', import.meta.url).href;
const repo = new URL('../../../package.json', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === '@tensorflow/tfjs') return { url: shim, shortCircuit: true };
  if (specifier === 'sharp') return next(specifier, { ...context, parentURL: repo });
  return next(specifier, context);
}
