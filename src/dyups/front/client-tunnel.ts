import type { Socket } from 'node:net';
import { SocketClosedError } from '../../errors/index.js';
import { defineKind } from '../../runtime/effect.js';
import type { Effect, Waiter } from '../../runtime/effect.js';

/** Bytes from the client held unread before its socket is paused (the upstream is behind). */
const HIGH_WATER = 64 * 1024;

/** What a tunnel asks of the connection it took over: the socket's drain wait (with its send timeout). */
export interface TunnelHost {
  readonly socket: Socket;
  waitDrain(waiter: Waiter, ms: number): void;
  abandonDrain(waiter: Waiter): void;
}

const READ = defineKind<ClientTunnel, null>({
  name: 'tunnel.read',
  start(waiter, tunnel) {
    tunnel.beginRead(waiter);
  },
  abandon(waiter, tunnel) {
    tunnel.endRead(waiter);
  },
});

const WRITE = defineKind<ClientTunnel, Buffer>({
  name: 'tunnel.write',
  start(waiter, tunnel, data) {
    tunnel.beginWrite(waiter, data);
  },
  abandon(waiter, tunnel) {
    tunnel.host.abandonDrain(waiter);
  },
});

/**
 * The client's side of a connection switched to another protocol (after a 101): raw bytes both ways,
 * read by one coroutine and written by another. What the client sent after its request head (in the
 * same packet) is read first. The socket is paused while HIGH_WATER bytes wait unread, and a write
 * waits for the client to take what is queued: backpressure both ways.
 */
export class ClientTunnel {
  private pieces: Buffer[] = [];
  private held = 0;
  private reader: Waiter | null = null;
  private paused: boolean;
  /** The client sent its FIN: nothing more comes. */
  private ended = false;
  private gone = false;

  constructor(
    readonly host: TunnelHost,
    leftover: Buffer,
    paused: boolean,
    private readonly sendTimeout: number,
  ) {
    this.paused = paused;
    if (leftover.length > 0) this.received(leftover);
  }

  /** What the client sent next, null once it closed its side; a socket gone throws SocketClosedError. */
  read(): Effect<Buffer | null> {
    return READ<Buffer | null>(this, null);
  }

  /** Writes `data` to the client; waits while the client is behind (the send timeout then cuts it). */
  write(data: Buffer): Effect<void> {
    return WRITE<void>(this, data);
  }

  /** @internal Bytes from the socket. */
  received(chunk: Buffer): void {
    this.pieces.push(chunk);
    this.held += chunk.length;
    if (this.reader !== null) this.wake();
    else if (!this.paused && this.held >= HIGH_WATER) {
      this.paused = true;
      this.host.socket.pause();
    }
  }

  /** @internal The client's FIN. */
  clientEnded(): void {
    this.ended = true;
    if (this.reader !== null) this.wake();
  }

  /** @internal The socket closed. */
  socketClosed(): void {
    this.gone = true;
    if (this.reader !== null) this.wake();
  }

  /** @internal The tunnel is over: the connection reads (and drops) what still comes while it closes. */
  release(): void {
    this.pieces = [];
    this.held = 0;
    if (this.paused) {
      this.paused = false;
      this.host.socket.resume();
    }
  }

  /** @internal */
  beginRead(waiter: Waiter): void {
    if (this.held > 0 || this.ended || this.gone) {
      this.settle(waiter);
      return;
    }
    this.reader = waiter;
    if (this.paused) {
      this.paused = false;
      this.host.socket.resume();
    }
  }

  /** @internal */
  endRead(waiter: Waiter): void {
    if (this.reader === waiter) this.reader = null;
  }

  /** @internal */
  beginWrite(waiter: Waiter, data: Buffer): void {
    const socket = this.host.socket;
    if (this.gone || !socket.writable) throw new SocketClosedError('send', 'client');
    if (socket.write(data)) waiter.settleWait(undefined, false);
    else this.host.waitDrain(waiter, this.sendTimeout);
  }

  private wake(): void {
    const reader = this.reader!;
    this.reader = null;
    this.settle(reader);
  }

  private settle(waiter: Waiter): void {
    if (this.held > 0) {
      const pieces = this.pieces;
      const data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.held);
      this.pieces = [];
      this.held = 0;
      waiter.settleWait(data, false);
    } else if (this.gone) waiter.settleWait(new SocketClosedError('receive', 'client'), true);
    else waiter.settleWait(null, false);
  }
}
