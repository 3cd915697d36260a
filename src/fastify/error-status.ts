import {
  BudgetExceededError,
  CancelledError,
  HttpProtocolError,
  PoolBacklogFullError,
  SocketError,
  SocketTimeoutError,
  TimeoutError,
} from '../errors.js';

/** The HTTP status a handler failure becomes: what nginx answers for the same upstream trouble. */
export function statusForError(err: unknown): number {
  if (err instanceof BudgetExceededError || err instanceof PoolBacklogFullError) return 503;
  if (err instanceof SocketTimeoutError || err instanceof TimeoutError) return 504;
  if (err instanceof CancelledError) return err.reason.kind === 'deadline' ? 504 : 503;
  if (err instanceof SocketError || err instanceof HttpProtocolError) return 502;
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof code === 'number' && code >= 400 && code <= 599) return code;
  return 500;
}

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
