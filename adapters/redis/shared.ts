import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { SocketTimeoutError, socketErrorFrom } from '../../src/errors.js';
import type { SocketError } from '../../src/errors.js';
import type { RedisTarget } from './url.js';

/** ioredis options for the shared connection of a target: no offline queue, no extra round trips. */
function sharedOptions(target: RedisTarget, connectTimeout: number): RedisOptions {
  return {
    ...(target.path !== null ? { path: target.path } : { host: target.host, port: target.port }),
    db: target.db,
    ...(target.username !== null ? { username: target.username } : {}),
    ...(target.password !== null ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
    enableOfflineQueue: false,
    enableReadyCheck: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    connectTimeout,
  };
}

/**
 * The one multiplexed, auto-pipelined connection of a target in 'shared' mode. It reconnects by itself
 * (backing off up to 1 s); while it is down, commands fail at once instead of queueing.
 */
export class SharedRedis {
  readonly client: Redis;
  readonly target: RedisTarget;
  private lastError: SocketError | null = null;
  private everReady = false;
  private firstReady: Promise<void> | null = null;

  constructor(target: RedisTarget, connectTimeout: number) {
    this.target = target;
    this.client = new Redis({
      ...sharedOptions(target, connectTimeout),
      lazyConnect: false,
      enableAutoPipelining: true,
      retryStrategy: (times: number) => Math.min(times * 50, 1_000),
    });
    this.client.on('ready', () => {
      this.everReady = true;
      this.lastError = null;
    });
    this.client.on('error', (err: unknown) => {
      this.lastError = socketErrorFrom('connect', target.peer, err);
    });
  }

  /** Ready now: null. Down after having been up, or failing: the error to fail with at once. */
  readyOrError(): SocketError | 'wait' | null {
    if (this.client.status === 'ready') return null;
    if (this.lastError !== null && (this.everReady || this.client.status === 'reconnecting')) return this.lastError;
    return 'wait';
  }

  /** Resolves when ready; rejects with the connect error or after `timeoutMs`. One wait serves every waiter. */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.firstReady === null) {
      this.firstReady = this.readyWithin(timeoutMs).finally(() => {
        this.firstReady = null;
      });
    }
    return this.firstReady;
  }

  private readyWithin(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
      };
      const onReady = (): void => {
        done();
        resolve();
      };
      const onError = (err: unknown): void => {
        done();
        reject(socketErrorFrom('connect', this.target.peer, err));
      };
      const timer = setTimeout(() => {
        done();
        reject(new SocketTimeoutError('connect', this.target.peer, timeoutMs));
      }, timeoutMs);
      this.client.once('ready', onReady);
      this.client.once('error', onError);
    });
  }

  close(): void {
    this.client.disconnect();
  }
}
