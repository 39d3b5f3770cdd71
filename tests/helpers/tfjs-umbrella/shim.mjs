// What the @tensorflow/tfjs umbrella package provides to Node scripts: core, layers and the cpu backend.
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
