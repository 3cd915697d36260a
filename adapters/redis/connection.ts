import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { SocketTimeoutError, socketErrorFrom } from '../../src/errors.js';
import type { RedisTarget } from './url.js';

export type PubSubMessage = [kind: 'message', channel: string, payload: string] | [kind: 'pmessage', pattern: string, channel: string, payload: string];

/** Commands after which a connection holds state another user must not inherit. */
const STATEFUL = new Set(['select', 'auth', 'hello', 'client', 'readonly', 'readwrite', 'reset', 'monitor']);

/**
 * One ioredis connection and what cosocket must know about its protocol state: a connection that
 * subscribed, is inside MULTI/WATCH, or ran a state-changing command is never pooled again.
 */
export class RedisConnection {
  readonly client: Redis;
  readonly target: RedisTarget;
  subscribed = false;
  inTransaction = false;
  /** Ran a command that changed connection state (SELECT, AUTH, ...): close instead of pooling. */
  tainted = false;
  readonly messages: PubSubMessage[] = [];
  /** Wakes a pending readReply. */
  onMessage: (() => void) | null = null;
  closed = false;

  private constructor(client: Redis, target: RedisTarget) {
    this.client = client;
    this.target = target;
    client.on('error', () => {
      // errors reach the pending command; this keeps ioredis from logging them as unhandled
    });
    client.on('end', () => {
      this.closed = true;
      this.onMessage?.();
    });
    client.on('message', (channel: string, payload: string) => this.push(['message', channel, payload]));
    client.on('pmessage', (pattern: string, channel: string, payload: string) => this.push(['pmessage', pattern, channel, payload]));
  }

  /** ioredis options for one dedicated connection: no reconnect, no offline queue, no extra round trips. */
  static options(target: RedisTarget, connectTimeout: number): RedisOptions {
    return {
      ...(target.path !== null ? { path: target.path } : { host: target.host, port: target.port }),
      db: target.db,
      ...(target.username !== null ? { username: target.username } : {}),
      ...(target.password !== null ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout,
    };
  }

  /** Opens a dedicated connection; rejects with a typed socket error. */
  static async open(target: RedisTarget, connectTimeout: number): Promise<RedisConnection> {
    const client = new Redis(RedisConnection.options(target, connectTimeout));
    const connection = new RedisConnection(client, target);
    // connect() rejects with a bare "Connection is closed."; the cause comes as an 'error' event first
    let cause: unknown = null;
    const onError = (err: unknown): void => {
      cause = err;
    };
    client.on('error', onError);
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      const reason = cause ?? err;
      if (/timeout/i.test(String((reason as Error)?.message))) throw new SocketTimeoutError('connect', target.peer, connectTimeout);
      throw socketErrorFrom('connect', target.peer, reason);
    } finally {
      client.off('error', onError);
    }
    return connection;
  }

  /** Notes what a command does to the connection's state. */
  track(command: string): void {
    const name = command.toLowerCase();
    if (name === 'multi' || name === 'watch') this.inTransaction = true;
    else if (name === 'exec' || name === 'discard' || name === 'unwatch') this.inTransaction = false;
    else if (name === 'subscribe' || name === 'psubscribe' || name === 'ssubscribe') this.subscribed = true;
    else if (STATEFUL.has(name)) this.tainted = true;
  }

  /** Fit for another user: open, idle, in no protocol state. */
  isAlive(): boolean {
    return !this.closed && this.client.status === 'ready' && !this.subscribed && !this.inTransaction && !this.tainted;
  }

  /** Why it cannot be pooled, or null. */
  dubiousReason(): string | null {
    if (this.subscribed) return 'subscribed state';
    if (this.inTransaction) return 'inside MULTI/WATCH';
    if (this.tainted) return 'connection state was changed (SELECT/AUTH/CLIENT...)';
    if (this.closed || this.client.status !== 'ready') return 'closed';
    return null;
  }

  destroy(): void {
    this.closed = true;
    this.onMessage = null;
    this.client.disconnect();
  }

  private push(message: PubSubMessage): void {
    this.messages.push(message);
    this.onMessage?.();
  }
}
