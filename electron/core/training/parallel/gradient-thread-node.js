// Entry of a gradient thread under plain Node (browser host, CLI, tests): TypeScript through tsx. The Electron
// build bundles gradient-thread.ts into dist/electron/gradient-thread.js instead.
import { register } from 'tsx/esm/api';

await import('../preload.js');
register();
await import('./gradient-thread.ts');
