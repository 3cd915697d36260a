import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Effect } from '../runtime/effect.js';

/** The request being answered, as the proxy reads it (a fastify request is one, so is the dyups front's). */
export interface SinkRequest {
  readonly method: string;
  readonly url: string;
  readonly ip: string;
  readonly protocol: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed body, if any (a BodySource for a streamed one). */
  readonly body: unknown;
  /** Node's request behind it, when there is one (fastify); the proxy reads its body when `body` is unset. */
  readonly raw?: IncomingMessage;
}

/**
 * Where the proxy writes a response: the part of a coroutine handler's context it uses. HandlerContext
 * (src/fastify) has all of it, so this layer needs nothing from fastify; the dyups front (src/dyups/front)
 * implements it on a raw socket.
 */
export interface ResponseSink {
  readonly request: SinkRequest;
  /** Set before the head goes out. */
  status: number;
  /** null: a response with no Content-Type set goes out without one. */
  defaultContentType: string | null;
  /** ms a streaming response may go without progress before it is cut; 0: the overall deadline stays. */
  idleTimeout: number;
  /** ms a client may take to accept what is sent. */
  readonly sendTimeout: number;
  header(name: string, value: string | number | string[]): this;
  trailer(name: string, value: string): this;
  write(data: Buffer): Effect<void>;
  /** Sends `parts` in one write; `written(part)` once the socket no longer needs a part's memory. */
  writeLent(parts: readonly Buffer[], written: (part: Buffer) => void): Effect<void>;
  /** Frames each later writeLent() as one chunk straight on the socket; false when it cannot. */
  chunkOnSocket(): boolean;
  /**
   * After chunkOnSocket() returned true: sends `parts`, bytes already framed as chunks (whole size
   * lines, data, CRLFs; the end of the response adds the last chunk), in one write, like writeLent().
   */
  writeFramed(parts: readonly Buffer[], written: (part: Buffer) => void): Effect<void>;
  /**
   * The client's socket has not taken all that was written: bytes wait for its send buffer to drain
   * (nginx: the downstream is not write-ready). False while a write the kernel took is merely completing.
   */
  writeBlocked(): boolean;
  flush(wait?: boolean): Effect<void>;
  /** The stream moved: its idle timeout starts again. */
  progress(): void;
}

/** What sendfile writes a file through: a ResponseSink on node's request and response (HandlerContext). */
export interface FileSink extends ResponseSink {
  readonly request: SinkRequest & { readonly raw: IncomingMessage };
  readonly reply: { readonly raw: ServerResponse };
}
