/**
 * Errors across the boundary: thrown by core as LoupeError, sent as `{ name, message, code }`, rebuilt on the
 * other side. Zod-free, so the renderer can import it without pulling the schemas into its bundle.
 */
export type ErrorCode = 'VALIDATION' | 'NOT_FOUND' | 'NO_PROJECT' | 'BAD_INPUT' | 'CONFLICT' | 'UNSUPPORTED' | 'INTERNAL';

export interface ErrorEnvelope {
  name: string;
  message: string;
  code: ErrorCode;
}

/** An error with a code that survives IPC/HTTP: thrown by core, rebuilt on the other side. */
export class LoupeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'LoupeError';
    this.code = code;
  }
  toEnvelope(): ErrorEnvelope {
    return { name: this.name, message: this.message, code: this.code };
  }
  static fromEnvelope(e: ErrorEnvelope): LoupeError {
    return new LoupeError(e.code, e.message);
  }
}

export function isErrorEnvelope(v: unknown): v is ErrorEnvelope {
  return typeof v === 'object' && v !== null && 'code' in v && 'message' in v;
}
