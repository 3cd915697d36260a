import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { SocketTimeoutError, socketErrorFrom } from '../../src/errors/index.js';
import type { SocketError } from '../../src/errors/index.js';
import type { RedisTarget } from './url.js';

const reconnectDelay = (times: number): number => Math.min(times * 50, 1_000);

/**
 * ioredis for a target: one Redis; a Cluster that follows the slots from the seed nodes; or a Redis
 * that asks the sentinels where the master is (again after each failover).
 */
function sharedClientFor(target: RedisTarget, connectTimeout: number): Redis | Cluster {
  const auth = {
    ...(target.username !== null ? { username: target.username } : {}),
    ...(target.password !== null ? { password: target.password } : {}),
  };
  if (target.topology === 'cluster') {
    return new Cluster(
      target.addresses.map(({ host, port }) => ({ host, port })),
      {
        lazyConnect: false,
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: reconnectDelay,
        slotsRefreshTimeout: connectTimeout,
        // node connections keep ioredis's defaults (lazy, queueing until connected): only what logs in is ours
        redisOptions: { ...auth, connectTimeout },
      },
    );
  }
  // no offline queue and no retries per request: while it is down, commands fail at once
  const common: RedisOptions = {
    ...auth,
    db: target.db,
    connectTimeout,
    lazyConnect: false,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    retryStrategy: reconnectDelay,
  };
  if (target.topology === 'sentinel') {
    return new Redis({
      ...common,
      sentinels: target.addresses.map(({ host, port }) => ({ host, port })),
      name: target.masterName!,
      ...(target.sentinelPassword !== null ? { sentinelPassword: target.sentinelPassword } : {}),
      sentinelRetryStrategy: reconnectDelay,
    });
  }
  return new Redis({
    ...common,
    ...(target.path !== null ? { path: target.path } : { host: target.host, port: target.port }),
    ...(target.tls ? { tls: {} } : {}),
  });
}

/**
 * The one multiplexed, auto-pipelined connection of a target in 'shared' mode (a Cluster for a cluster
 * target). It reconnects by itself (backing off up to 1 s); while it is down, commands fail at once
 * instead of queueing.
 */
export class SharedRedis {
  readonly client: Redis | Cluster;
  readonly target: RedisTarget;
  private lastError: SocketError | null = null;
  private everReady = false;
  private firstReady: Promise<void> | null = null;

  constructor(target: RedisTarget, connectTimeout: number) {
    this.target = target;
    this.client = sharedClientFor(target, connectTimeout);
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
