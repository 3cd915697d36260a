/**
 * The HTTP status a handler failure becomes: a cosocket error's `statusCode` from the error table (what
 * nginx answers for the same upstream trouble), any other error's own `statusCode` when it is an error
 * status (fastify's convention), else 500.
 */
export function statusForError(err: unknown): number {
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
