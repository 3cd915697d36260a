import type { Socket } from 'node:net';
import type { Waiter } from '../../runtime/effect.js';
import type { ClientTunnel } from './client-tunnel.js';

/** Called with a piece of a write once the socket no longer needs it (not after a failed write). */
export type Written = (part: Buffer) => void;

/** What an exchange asks of the connection it arrived on (the Connection in connection.ts). */
export interface ExchangeHost {
  readonly socket: Socket;
  readonly ip: string;
  /** The server is closing: no further request on this connection. */
  readonly closing: boolean;
  /** The client can no longer be written to. */
  readonly socketGone: boolean;
  /** The response to `exchange` went out whole (`keepAlive`: the next request may follow), or was cut. */
  exchangeEnded(exchange: object, keepAlive: boolean): void;
  /** Closes at once: the client sees the response cut (`reset`: with a TCP reset, where a FIN would read as its end). */
  cut(reset?: boolean): void;
  /** `written` gets `parts` back once the write ending with them completed: the callback to give that write. */
  lend(parts: readonly Buffer[], written: Written): (err?: Error | null) => void;
  /** The client is behind: `waiter` resumes on 'drain', or fails after `ms`. */
  waitDrain(waiter: Waiter, ms: number): void;
  abandonDrain(waiter: Waiter): void;
  /** The request was answered with a 101: the connection's bytes go through the returned tunnel from now on. */
  takeOver(): ClientTunnel;
  /** The streamed response's idle timeout: armed for `ms`, pushed back, stopped. */
  armStream(ms: number): void;
  touchStream(): void;
  stopStream(): void;
}
