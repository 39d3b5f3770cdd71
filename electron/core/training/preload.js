// TensorFlow.js's packages, loaded by a thread's or process's JavaScript entry before tsx registers its hooks
// (train-worker-node.js, gradient-thread-node.js): they are plain JavaScript, and through the hooks they take
// ~0.1 s longer to load. The TypeScript that imports them afterwards gets these same, cached modules.
await Promise.all([import('@tensorflow/tfjs-core'), import('@tensorflow/tfjs-layers'), import('@tensorflow/tfjs-backend-wasm')]);
