import type { Operation } from '../../src/runtime/effect.js';

/** A request body read piece by piece while it is sent on (lua-resty-http's body iterator). */
export interface BodySource {
  /** bytes when known in advance (Content-Length), else null (sent chunked) */
  readonly length: number | null;
  /** bytes read so far: once non-zero the body cannot be sent again (no retry elsewhere) */
  readonly consumed: number;
  /** The next piece, or null at the end. */
  read(): Operation<Buffer | null>;
}

/** True when `body` is a BodySource (a request body read as it arrives), not bytes. */
export function isBodySource(body: unknown): body is BodySource {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { read?: unknown }).read === 'function' &&
    'consumed' in body
  );
}
