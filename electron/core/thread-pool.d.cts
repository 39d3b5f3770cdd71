export function threadPoolSize(cores?: number): number;
export function withThreadPool(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export function threadPoolOf(env: NodeJS.ProcessEnv): number;
