import type { BodySource } from '../../../adapters/http/index.js';
import { BodyTooLargeError } from '../../errors/index.js';
import type { Effect, Operation } from '../../runtime/effect.js';

/** Where a request body's bytes come from: the connection it arrives on. */
export interface BodyHost {
  /** Body data that has arrived (one Buffer), null at the end, NOTHING_YET when none is there now. */
  takeBody(): Buffer | null;
  /** Waits for more of the body: fails with BodyTimeoutError after the read timeout, BodyAbortedError when the client left. */
  waitBody(idleMs: number): Effect<void>;
}

/** takeBody(): no body data has arrived since the last take. */
export const NOTHING_YET = Buffer.alloc(0);

/**
 * A client's request body, read off its connection while it is sent on (proxy_request_buffering off):
 * past `limit` bytes a 413 (BodyTooLargeError), no data for `idleMs` a 408, a client that goes away a 400.
 */
export class FrontBody implements BodySource {
  consumed = 0;

  constructor(
    private readonly host: BodyHost,
    /** bytes when announced by Content-Length, else null (chunked) */
    readonly length: number | null,
    readonly limit: number,
    private readonly idleMs: number,
  ) {}

  /** Throws BodyTooLargeError when the announced length is past the limit: before anything is read or sent. */
  checkLength(): void {
    if (this.length !== null && this.length > this.limit) throw new BodyTooLargeError(this.limit, this.length);
  }

  *read(): Operation<Buffer | null> {
    for (;;) {
      const piece = this.host.takeBody();
      if (piece === null) return null;
      if (piece !== NOTHING_YET) {
        this.consumed += piece.length;
        // the rest is not read; the 413 goes out with Connection: close
        if (this.consumed > this.limit) throw new BodyTooLargeError(this.limit, null);
        return piece;
      }
      yield* this.host.waitBody(this.idleMs);
    }
  }
}
