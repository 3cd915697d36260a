import type { Readable } from 'node:stream';
import type { BodySource } from '../../adapters/http/index.js';
import { BodyAbortedError, BodyTimeoutError, BodyTooLargeError } from '../errors/index.js';
import type { Operation } from '../runtime/effect.js';
import { abortable } from '../runtime/effects/control.js';

export { isBodySource } from '../../adapters/http/index.js';
export type { BodySource } from '../../adapters/http/index.js';

/**
 * A client's request body as a BodySource, like nginx with proxy_request_buffering off: past `limit`
 * bytes a 413, no data for `idleMs` a 408 (client_body_timeout), a client that goes away a 400.
 */
export function incomingBody(stream: Readable, length: number | null, limit: number, idleMs: number): BodySource {
  if (length !== null && length > limit) {
    throw new BodyTooLargeError(limit, length);
  }
  stream.on('error', () => {}); // seen through stream.errored / destroyed by read()
  const source = {
    length,
    consumed: 0,
    *read(): Operation<Buffer | null> {
      for (;;) {
        const piece = stream.read() as Buffer | null;
        if (piece !== null) {
          source.consumed += piece.length;
          if (source.consumed > limit) {
            // the rest is not read; the 413 goes out with Connection: close (the client's socket must live to get it)
            throw new BodyTooLargeError(limit, null);
          }
          return piece;
        }
        if (stream.readableEnded) return null;
        if (stream.destroyed || stream.errored) throw new BodyAbortedError();
        const woke = yield* abortable((signal) => waitReadable(stream, idleMs, signal));
        if (woke === 'timeout') throw new BodyTimeoutError(idleMs);
      }
    },
  };
  return source;
}

function waitReadable(stream: Readable, idleMs: number, signal: AbortSignal): Promise<'ready' | 'timeout'> {
  return new Promise((resolve) => {
    const done = (how: 'ready' | 'timeout'): void => {
      clearTimeout(timer);
      stream.off('readable', ready);
      stream.off('end', ready);
      stream.off('error', ready);
      stream.off('close', ready);
      signal.removeEventListener('abort', ready);
      resolve(how);
    };
    const ready = (): void => done('ready');
    const timer = setTimeout(() => done('timeout'), idleMs);
    stream.on('readable', ready);
    stream.on('end', ready);
    stream.on('error', ready);
    stream.on('close', ready);
    signal.addEventListener('abort', ready);
  });
}
