import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { SocketClosedError, SocketTimeoutError, socketErrorFrom } from '../../src/errors/index.js';
import { sessionOf, tlsConnectOptions, tlsErrorFrom } from './tls.js';
import type { SslSession, TlsSettings } from './tls.js';
import { ByteQueue } from './byte-queue.js';
import { ReadSpace } from './read-space.js';
import { flushDeferred } from '../write-batch.js';
import type { Lender } from './read-space.js';

/** Where to connect: TCP host and port, or a unix socket path. */
export type Target = { host: string; port: number } | { path: string };

/** Unread bytes past which the socket stops reading until someone reads (backpressure). */
const HIGH_WATER = 256 * 1024;

/** Where a TLS connection goes: its settings, and the newest session ticket for the next new connection. */
export class TlsTarget {
  /** The last ticket a connection to this target got: new connections resume with it. */
  ticket: Buffer | undefined = undefined;

  constructor(
    readonly settings: TlsSettings,
    /** the host connected to (the name verified when there is no servername) */
    readonly host: string,
  ) {}
}

/** A connection that speaks TLS: how it was set up, and what its handshake gave. */
export interface TlsState {
  readonly settings: TlsSettings;
  readonly session: SslSession;
}
/**
 * One open connection: the pooled resource under a TcpSocket. Collects what arrives into a byte
 * queue, remembers end and error, and tells its current reader when anything happens.
 */
export class TcpConnection implements Lender {
  /** The net socket, or the TLS socket over it once a handshake is done. */
  socket: Socket;
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
  /** The net socket under a TLS socket set up over it (startTls). */
  private underlying: Socket | null = null;
  /** Set once a TLS handshake is done on it. */
  tls: TlsState | null = null;
  /** onread returned false: reading stopped (socket.isPaused() does not say so) until resume(). */
  private paused = false;

  constructor(
    socket: Socket,
    peer: string,
    space: ReadSpace,
    /** where it is connected */
    readonly target: Target,
  ) {
    this.socket = socket;
    this.space = space;
    this.peer = peer;
    this.listen(socket);
  }

  private listen(socket: Socket): void {
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

  /** Decrypted bytes of a TLS socket set up over a connected one (those come as 'data' events, not through onread). */
  private readonly receivedChunk = (chunk: Buffer): void => {
    this.queue.push(chunk);
    this.notify();
    if (this.onActivity === null && this.queue.length >= HIGH_WATER) {
      this.paused = true;
      this.socket.pause();
    }
  };

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

  /**
   * Opens a connection, with a TLS handshake when `tls` is given (connect and handshake within
   * `timeoutMs`); rejects with a typed socket or TLS error, or SocketTimeoutError after `timeoutMs`.
   */
  static open(target: Target, peer: string, timeoutMs: number, tls: TlsTarget | null = null): Promise<TcpConnection> {
    return new Promise((resolve, reject) => {
      let connection: TcpConnection | null = null;
      const space = new ReadSpace();
      const onread = {
        buffer: space.next,
        callback: (bytes: number, buffer: Uint8Array) => connection!.received(bytes, buffer as Buffer),
      };
      let socket: Socket;
      if (tls === null) {
        socket = netConnect({ ...target, noDelay: true, onread });
      } else {
        // a TLS socket tls.connect makes itself reads through onread too (decrypted bytes land in our
        // buffer), though @types/node does not list the option
        const options = { ...target, ...tlsConnectOptions(tls.settings, tls.host, tls.ticket), onread };
        socket = tlsConnect(options);
      }
      let tcpUp = false;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SocketTimeoutError(tcpUp ? 'sslhandshake' : 'connect', peer, timeoutMs));
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(
          tcpUp && tls !== null
            ? tlsErrorFrom(peer, tls.settings, tls.host, err)
            : socketErrorFrom('connect', peer, err),
        );
      };
      socket.once('error', onError);
      const up = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        connection = new TcpConnection(socket, peer, space, target);
        if (tls !== null) {
          const tlsSocket = socket as TLSSocket;
          tlsSocket.on('session', (ticket: Buffer) => {
            tls.ticket = ticket;
          });
          connection.tls = { settings: tls.settings, session: sessionOf(tlsSocket, tls.settings) };
        }
        resolve(connection);
      };
      socket.once('connect', () => {
        tcpUp = true;
        if (tls === null) up();
        else socket.setNoDelay(true);
      });
      if (tls !== null) socket.once('secureConnect', up);
    });
  }

  /**
   * A TLS handshake over this (connected, plain) connection; afterwards reads and writes go through
   * the TLS socket. Rejects with a typed TLS error or SocketTimeoutError after `timeoutMs`; the
   * connection is then unusable (the caller closes it).
   */
  startTls(settings: TlsSettings, host: string, session: Buffer | undefined, timeoutMs: number): Promise<TlsState> {
    return new Promise((resolve, reject) => {
      const raw = this.socket;
      flushDeferred(raw); // plain bytes written before the handshake go out as plain bytes, first
      const socket = tlsConnect({ ...tlsConnectOptions(settings, host, session), socket: raw });
      this.socket = socket;
      this.underlying = raw;
      if (this.paused) {
        this.paused = false;
        raw.resume();
      }
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SocketTimeoutError('sslhandshake', this.peer, timeoutMs));
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(tlsErrorFrom(this.peer, settings, host, err));
      };
      socket.once('error', onError);
      // closed by us meanwhile (the coroutine was cancelled): no error event comes
      const onClose = (): void => {
        clearTimeout(timer);
        reject(new SocketClosedError('sslhandshake', this.peer));
      };
      socket.once('close', onClose);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.on('data', this.receivedChunk);
        this.listen(socket);
        this.tls = { settings, session: sessionOf(socket, settings) };
        resolve(this.tls);
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
    // what was written goes out before the close, as it would have without deferWrites
    flushDeferred(this.socket);
    this.socket.destroy();
    this.underlying?.destroy();
  }

  private notify(): void {
    const wake = this.onActivity;
    if (wake !== null) wake();
  }
}
