import type { ByteQueue } from './byte-queue.js';

/** What a parser returns while the bytes it needs have not all arrived. */
export const NEED_MORE: unique symbol = Symbol('need more bytes');
/** The type of NEED_MORE. */
export type NeedMore = typeof NEED_MORE;

/**
 * A protocol reader on a cosocket's received bytes: consumes what it understood from `queue` and
 * returns the finished result, or NEED_MORE (keeping any partial state for the next call). Throwing
 * means the peer broke the protocol: the socket is closed.
 */
export interface QueueParser {
  parse(queue: ByteQueue): unknown;
}
