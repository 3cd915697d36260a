import { ERROR_TABLE } from './table.js';
import type { ErrorCode } from './table.js';

/**
 * The base of every error cosocket throws on purpose: a stable `code` from the error table (fastify's
 * convention) so callers branch on `err.code` instead of messages, and the HTTP status the table gives it.
 */
export abstract class CosocketError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** What a coroutine handler that fails with this error answers. */
  get statusCode(): number {
    return ERROR_TABLE[this.code].status;
  }
}
