import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { Redis } from 'ioredis';
import { configure as configureRedis } from '../../adapters/redis/index.js';
import { SERVER_SCHEMA, redactUrl, resolveConfig } from '../config/server-config.js';
import type { ServerConfig } from '../config/server-config.js';
import { schemeOf } from '../config/listener-tls.js';
import { CancelReason } from '../errors/index.js';
import { buildApp } from '../server/app.js';
import { pools } from '../pool/registry.js';
import { RedisServerNotFoundError, startEmbeddedRedis } from '../server/embedded-redis.js';
import type { EmbeddedRedis } from '../server/embedded-redis.js';
import { Scheduler } from '../runtime/scheduler.js';
import { startTracing } from '../tracing/index.js';
import { DyupsSyncError, startDyups } from '../dyups/listeners.js';
import type { DyupsListeners } from '../dyups/listeners.js';
import { StateFileError, loadState } from '../dyups/state-file.js';
import { StateFileClaimError, claimStateFile } from '../dyups/state-file-owner.js';
import type { StateFileClaim } from '../dyups/state-file-owner.js';
import { PrimarySync, answerHealthQueries, followPrimary } from '../dyups/cluster-sync.js';
import { UpstreamTable } from '../dyups/table.js';
import { UsageError, helpText, parseFlags, schemaEnvironment, schemaFlags, usageLine } from './flags.js';
import type { FlagSpec } from './flags.js';

/** --config, every flag the config schema declares, --help. */
const FLAGS: readonly FlagSpec[] = [
  {
    name: 'config',
    takesValue: true,
    valueName: 'FILE',
    description: 'settings from a JSON, .js or .ts file (flags win over it)',
  },
  ...schemaFlags(SERVER_SCHEMA),
  { name: 'help', short: 'h', takesValue: false, description: 'show this help' },
];

export const SERVE_HELP = helpText(
  usageLine(
    'cosocket serve',
    FLAGS.filter((s) => s.name !== 'help'),
  ),
  `Starts the cosocket server: GET /test, /test/short, /test/keepalive, /test/shared (a Redis GET of key
'test', 10 bytes) and GET /status. Without --redis or REDIS_URL it starts a private redis-server on a
free loopback port (no persistence) and stops it on exit. Durations are written "100ms", "10s", "1m30s"
or as milliseconds; sizes "16k", "1m" or as bytes; switches on/off, yes/no or true/false.`,
  FLAGS,
  schemaEnvironment(SERVER_SCHEMA),
);

const WORKER_ENV = 'COSOCKET_WORKER_REDIS_URL';
const TEST_VALUE = 'hello12345';

/** `cosocket serve`: resolves with the exit code once the server has shut down. */
export async function serve(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('serve', argv, FLAGS);
  if (values.has('help')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const flags = new Map<string, string>();
  for (const [name, value] of values) if (name !== 'config' && typeof value === 'string') flags.set(name, value);
  const file = values.get('config');
  let config: ServerConfig;
  try {
    config = await resolveConfig({ ...(typeof file === 'string' ? { file } : {}), env: process.env, flags });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (cluster.isWorker) return runWorker(config, process.env[WORKER_ENV]!);
  return runPrimary(config);
}

async function runPrimary(config: ServerConfig): Promise<number> {
  let embedded: EmbeddedRedis | null = null;
  if (config.redis === null) {
    try {
      embedded = await startEmbeddedRedis();
    } catch (err) {
      if (err instanceof RedisServerNotFoundError) {
        process.stderr.write(`cosocket: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }
  const redisUrl = embedded?.url ?? config.redis!;
  await seedTestKey(redisUrl);
  const redisText = embedded ? `embedded redis-server ${embedded.version} at ${embedded.url}` : redactUrl(redisUrl);
  if (config.workers <= 1) {
    const code = await runServer(config, redisUrl, embedded, (port) =>
      process.stdout.write(
        `cosocket listening on ${schemeOf(config.tls.app)}://${config.host}:${port} (redis: ${redisText})\n`,
      ),
    );
    await embedded?.stop();
    return code;
  }
  return runCluster(config, redisUrl, embedded, redisText);
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Sets key `test` to the seed's 10-byte value unless it exists, so /test answers 10 bytes. */
async function seedTestKey(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.set('test', TEST_VALUE, 'NX');
  } catch (err) {
    process.stderr.write(
      `cosocket: warning: could not set key 'test' in Redis (${(err as Error).message}); /test answers 502 until Redis is reachable\n`,
    );
  } finally {
    client.disconnect();
  }
}

/** One process serving: builds the app, listens, and on SIGTERM/SIGINT shuts down within the grace period. */
async function runServer(
  config: ServerConfig,
  redisUrl: string,
  embedded: EmbeddedRedis | null,
  onListening: (port: number) => void,
): Promise<number> {
  configureRedis({ url: redisUrl });
  const tracing = await startTracing(config.tracing);
  const scheduler = new Scheduler({
    name: 'http',
    concurrency: config.scheduler.concurrency,
    backlog: config.scheduler.backlog,
    deadline: config.scheduler.deadline,
    queueTimeout: config.scheduler.queueTimeout,
  });
  const app = await buildApp({
    config,
    scheduler,
    redisUrl,
    redis: {
      url: redactUrl(redisUrl),
      embedded: embedded !== null || process.env[WORKER_ENV] !== undefined,
      ...(embedded ? { version: embedded.version } : {}),
    },
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`cosocket: cannot listen on ${config.host}:${config.port}: ${code}\n`);
      return 2;
    }
    throw err;
  }
  let dyups: DyupsListeners | null;
  try {
    if (cluster.isWorker) {
      // the primary owns the table and the admin interface; this worker proxies with a replica
      const replica = new UpstreamTable({ stateFile: null });
      dyups = await startDyups(config, scheduler, 'worker', { table: replica, ready: followPrimary(replica) });
      if (dyups !== null) answerHealthQueries(dyups.health);
    } else {
      dyups = await startDyups(config, scheduler, 'single', { redisUrl });
    }
  } catch (err) {
    await app.close();
    if (
      err instanceof StateFileError ||
      err instanceof StateFileClaimError ||
      err instanceof DyupsSyncError ||
      (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
    ) {
      process.stderr.write(`cosocket: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
  const address = app.server.address();
  onListening(typeof address === 'object' && address !== null ? address.port : config.port);
  if (dyups !== null && !cluster.isWorker) process.stdout.write(`${dyups.banner}\n`);
  await untilStopSignal();
  // stop accepting on every listener at once; let in-flight requests (streams too) finish within the
  // grace period, then cancel their coroutines and cut every connection that is still open
  const listeners = dyups;
  const closed = Promise.all([app.close(), listeners?.close()]);
  const grace = setTimeout(() => {
    scheduler.cancelAll(CancelReason.explicit('server shutting down'));
    app.server.closeAllConnections();
    listeners?.cutAll();
  }, config.shutdown.grace);
  await closed;
  clearTimeout(grace);
  await pools.drain(1_000);
  await tracing?.shutdown();
  return 0;
}

async function runWorker(config: ServerConfig, redisUrl: string): Promise<number> {
  const code = await runServer(config, redisUrl, null, (port) => process.send?.({ type: 'listening', port }));
  process.disconnect(); // the IPC channel to the primary would keep this process alive
  return code;
}

/** Like nginx's master: forks the workers (they share the port), restarts any that dies, stops them on a signal. */
async function runCluster(
  config: ServerConfig,
  redisUrl: string,
  embedded: EmbeddedRedis | null,
  redisText: string,
): Promise<number> {
  const workers = new Set<Worker>();
  let stopping = false;
  // dyups: the primary owns the table (state file, admin interface); workers get every change over IPC
  const dyupsOn = config.dyups.adminPort !== 0 || config.dyups.proxyPort !== 0;
  let sync: PrimarySync | null = null;
  let dyups: DyupsListeners | null = null;
  let claim: StateFileClaim | null = null;
  if (dyupsOn) {
    const stateFile = config.dyups.stateFile;
    let table: UpstreamTable;
    try {
      claim = stateFile === null ? null : claimStateFile(stateFile);
      table = new UpstreamTable({ stateFile: claim?.path ?? null }, claim === null ? [] : loadState(claim.path));
    } catch (err) {
      claim?.release();
      if (err instanceof StateFileError || err instanceof StateFileClaimError) {
        process.stderr.write(`cosocket: ${err.message}\n`);
        await embedded?.stop();
        return 2;
      }
      throw err;
    }
    const primarySync = new PrimarySync(table);
    sync = primarySync;
    try {
      dyups = await startDyups(config, new Scheduler({ name: 'dyups-admin' }), 'primary', {
        table,
        redisUrl,
        afterChange: (version) => primarySync.applied(version),
        health: (name) => primarySync.health(name),
      });
    } catch (err) {
      if (!(err instanceof DyupsSyncError) && (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      process.stderr.write(`cosocket: ${(err as Error).message}\n`);
      await embedded?.stop();
      return 2;
    }
  }
  let announced = false;
  let listening = 0;
  const fork = (): void => {
    const worker = cluster.fork({ [WORKER_ENV]: redisUrl });
    workers.add(worker);
    sync?.add(worker);
    worker.on('message', (message: { type?: string; port?: number }) => {
      if (message?.type !== 'listening') return;
      listening++;
      if (!announced && listening === config.workers) {
        announced = true;
        process.stdout.write(
          `cosocket listening on ${schemeOf(config.tls.app)}://${config.host}:${message.port} with ${config.workers} workers (redis: ${redisText})\n`,
        );
        if (dyups !== null) process.stdout.write(`${dyups.banner}; proxy in every worker\n`);
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      if (stopping) return;
      process.stderr.write(`cosocket: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
      setTimeout(fork, 500);
    });
  };
  for (let i = 0; i < config.workers; i++) fork();
  await untilStopSignal();
  stopping = true;
  const exits = [...workers].map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
  for (const worker of workers) worker.process.kill('SIGTERM');
  const hardStop = setTimeout(() => {
    for (const worker of workers) worker.process.kill('SIGKILL');
  }, config.shutdown.grace + 5_000);
  await Promise.all(exits);
  clearTimeout(hardStop);
  await dyups?.close();
  claim?.release();
  await embedded?.stop();
  return 0;
}
