import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { SocketTimeoutError, socketErrorFrom } from '../../src/errors/index.js';
import { ByteQueue } from './byte-queue.js';
import { ReadSpace } from './read-space.js';
import type { Lender } from './read-space.js';

/** Where to connect: TCP host and port, or a unix socket path. */
export type Target = { host: string; port: number } | { path: string };

/** Unread bytes past which the socket stops reading until someone reads (backpressure). */
const HIGH_WATER = 256 * 1024;
/**
 * One open connection: the pooled resource under a TcpSocket. Collects what arrives into a byte
 * queue, remembers end and error, and tells its current reader when anything happens.
 */
export class TcpConnection implements Lender {
  readonly socket: Socket;
  readonly peer: string;
  readonly queue = new ByteQueue();
  readonly space: ReadSpace;
  ended = false;
  error: Error | null = null;
  closed = false;
  /** The pending reader's wake-up, or null. */
  onActivity: (() => void) | null = null;
  /** What a protocol keeps with the connection between its uses from the pool (the HTTP client's head parser). */
  protocolState: object | null = null;
  /** onread returned false: reading stopped (socket.isPaused() does not say so) until resume(). */
  private paused = false;

  constructor(socket: Socket, peer: string, space: ReadSpace) {
    this.socket = socket;
    this.space = space;
    this.peer = peer;
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (err: Error) => {
      this.error = err;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  /**
   * Bytes from the socket. Reads come through net's `onread` (libuv reads straight into a buffer we
   * give it), not through the Readable stream and its 'data' events: a proxy moving megabytes spends
   * its time in the kernel instead of in stream bookkeeping. Returning false pauses the socket.
   */
  received(bytes: number, buffer: Buffer): boolean {
    this.queue.push(bytes === buffer.length ? buffer : buffer.subarray(0, bytes));
    this.space.filled(bytes);
    this.notify();
    const more = this.onActivity !== null || this.queue.length < HIGH_WATER;
    if (!more) this.paused = true;
    return more;
  }

  setLending(on: boolean): void {
    this.space.setLending(on, this.queued);
  }

  lend(piece: Buffer): void {
    this.space.lend(piece);
  }

  giveBack(piece: Buffer): void {
    this.space.giveBack(piece, this.queued);
  }

  hold(): void {
    this.space.hold();
  }

  unhold(): void {
    this.space.unhold(this.queued);
  }

  private readonly queued = (memory: ArrayBufferLike): boolean => this.queue.holds(memory);

  /** Opens a connection; rejects with a typed socket error, or SocketTimeoutError after `timeoutMs`. */
  static open(target: Target, peer: string, timeoutMs: number): Promise<TcpConnection> {
    return new Promise((resolve, reject) => {
      let connection: TcpConnection | null = null;
      const space = new ReadSpace();
      const socket = netConnect({
        ...target,
        noDelay: true,
        onread: {
          buffer: space.next,
          callback: (bytes: number, buffer: Uint8Array) => connection!.received(bytes, buffer as Buffer),
        },
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SocketTimeoutError('connect', peer, timeoutMs));
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(socketErrorFrom('connect', peer, err));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        connection = new TcpConnection(socket, peer, space);
        resolve(connection);
      });
    });
  }

  /** Fit for reuse: open both ways, nothing unread (a peer that spoke while idle is in a dubious state). */
  isAlive(): boolean {
    return !this.closed && !this.ended && this.error === null && this.queue.length === 0 && !this.socket.destroyed;
  }

  /** Parked in the pool (which closes it when its idle time runs out): nobody reads it meanwhile. */
  parkIdle(): void {
    this.onActivity = null;
    this.want(); // read on, so a close or stray bytes from the peer are seen
  }

  /** A reader needs more bytes: make sure the socket is reading. */
  want(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  destroy(): void {
    this.onActivity = null;
    this.socket.destroy();
  }

  private notify(): void {
    const wake = this.onActivity;
    if (wake !== null) wake();
  }
}
