// TensorFlow.js's packages every training process and thread needs, loaded by their JavaScript entries before tsx
// registers its hooks (train-worker-node.js, gradient-thread-node.js): they are plain JavaScript, and through the
// hooks they take ~0.1 s longer to load. The TypeScript that imports them afterwards gets these same, cached
// modules. The backends stay lazy (backend.ts loads only the one it tries).
await Promise.all([import('@tensorflow/tfjs-core'), import('@tensorflow/tfjs-layers')]);
