// Entry of the training process under plain Node (browser host, CLI, tests): TypeScript through tsx.
// The Electron build bundles electron/workers/train-worker.ts into one file instead.
import { register } from 'tsx/esm/api';

await import('../core/training/preload.js');
register();
await import('./train-worker.ts');
