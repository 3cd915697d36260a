import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { Redis } from 'ioredis';
import { configure as configureRedis } from '../../adapters/redis/index.js';
import { SERVER_SCHEMA, redactUrl, resolveSettings } from '../config/server-config.js';
import type { ServerConfig, SettingName } from '../config/server-config.js';
import { schemeOf } from '../config/listener-tls.js';
import { CancelReason } from '../errors/index.js';
import { buildApp } from '../server/app.js';
import { pools } from '../pool/registry.js';
import { RedisServerNotFoundError, startEmbeddedRedis } from '../server/embedded-redis.js';
import type { EmbeddedRedis } from '../server/embedded-redis.js';
import { Scheduler } from '../runtime/scheduler.js';
import { startTracing } from '../tracing/index.js';
import { DyupsSyncError, startDyups } from '../dyups/listeners.js';
import type { FastifyInstance } from 'fastify';
import { PrimaryGather, singleView, workerView } from '../server/cluster-gather.js';
import type { ProcessReport } from '../server/cluster-gather.js';
import { adminObservabilityRoutes } from '../server/metrics-routes.js';
import { startObservability } from '../server/observability.js';
import { checkAccessLogPath } from '../server/access-log.js';
import { mergeStatus, processStatus } from '../server/status.js';
import type { ServerView } from '../server/cluster-gather.js';
import type { DashboardStatus } from '../dyups/dashboard/snapshot.js';
import type { DyupsListeners } from '../dyups/listeners.js';
import { StateFileError, loadState } from '../dyups/state-file.js';
import { StateFileClaimError, claimStateFile } from '../dyups/state-file-owner.js';
import type { StateFileClaim } from '../dyups/state-file-owner.js';
import { PrimarySync, answerHealthQueries, followPrimary } from '../dyups/cluster-sync.js';
import { UpstreamTable } from '../dyups/table.js';
import { UsageError, helpText, parseFlags, schemaEnvironment, schemaFlags, usageLine } from './flags.js';
import type { FlagSpec } from './flags.js';
import { testConfiguration } from './config-test.js';
import { RespawnPolicy } from './respawn.js';
import { checkStartup, describeListenError } from './startup-checks.js';

/** --config, every flag the config schema declares, --help. */
const FLAGS: readonly FlagSpec[] = [
  {
    name: 'config',
    takesValue: true,
    valueName: 'FILE',
    description: 'settings from a JSON, .js or .ts file (flags win over it)',
  },
  ...schemaFlags(SERVER_SCHEMA),
  {
    name: 'test',
    takesValue: false,
    description: 'check the settings and the files and ports they name, print "configuration ok", exit (nginx -t)',
  },
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
  let nameOf: SettingName;
  try {
    ({ config, nameOf } = await resolveSettings({
      ...(typeof file === 'string' ? { file } : {}),
      env: process.env,
      flags,
    }));
  } catch (err) {
    if (cluster.isWorker) {
      process.stderr.write(`cosocket serve: ${(err as Error).message}\n`);
      process.exit(2); // the IPC channel to the primary would keep this worker alive
    }
    throw new UsageError((err as Error).message);
  }
  if (values.has('test')) return testConfiguration(config, nameOf, typeof file === 'string' ? file : null);
  if (cluster.isWorker) return runWorker(config, process.env[WORKER_ENV]!, nameOf);
  // nothing starts (Redis, a listener) unless every listener can listen and every file named is usable
  const problems = await checkStartup(config, nameOf);
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`cosocket serve: ${problem}\n`);
    return 2;
  }
  return runPrimary(config, nameOf);
}

async function runPrimary(config: ServerConfig, nameOf: SettingName): Promise<number> {
  checkAccessLogPath(config.accessLog.path);
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
    try {
      return await runServer(config, redisUrl, embedded, nameOf, (port) =>
        process.stdout.write(
          `cosocket listening on ${schemeOf(config.tls.app)}://${config.host}:${port} (redis: ${redisText})\n`,
        ),
      );
    } finally {
      await embedded?.stop();
    }
  }
  return runCluster(config, redisUrl, embedded, redisText, nameOf);
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
  nameOf: SettingName,
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
  const redis = {
    url: redactUrl(redisUrl),
    embedded: embedded !== null || process.env[WORKER_ENV] !== undefined,
    ...(embedded ? { version: embedded.version } : {}),
  };
  const observability = startObservability(config, scheduler);
  const { metrics, accessLog, proxyErrors } = observability;
  let app: FastifyInstance | null = null;
  const startedAt = Date.now();
  const self: ProcessReport = {
    status: () => processStatus(scheduler, () => app?.cosocket.routeStats() ?? [], startedAt),
    metrics: () => metrics.json(),
  };
  const view = cluster.isWorker ? workerView(self) : singleView(self);
  app = await buildApp({ config, scheduler, redisUrl, redis, view, metrics, accessLog });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    observability.close();
    const failure = describeListenError(config, err, nameOf);
    if (failure === null) throw err;
    await app.close();
    process.stderr.write(`cosocket serve: ${failure}\n`);
    return 2;
  }
  const hooks = { metrics, accessLog, errors: proxyErrors };
  let dyups: DyupsListeners | null;
  try {
    if (cluster.isWorker) {
      // the primary owns the table and the admin interface; this worker proxies with a replica
      const replica = new UpstreamTable({ stateFile: null });
      dyups = await startDyups(config, scheduler, 'worker', {
        table: replica,
        ready: followPrimary(replica),
        ...hooks,
      });
      if (dyups !== null) answerHealthQueries(dyups.health);
    } else {
      dyups = await startDyups(config, scheduler, 'single', {
        redisUrl,
        ...hooks,
        adminRoutes: adminObservabilityRoutes(view, redis),
        status: () => dashboardStatus(view),
      });
    }
  } catch (err) {
    await app.close();
    observability.close();
    const failure = describeListenError(config, err, nameOf);
    if (failure !== null) {
      process.stderr.write(`cosocket serve: ${failure}\n`);
      return 2;
    }
    if (err instanceof StateFileError || err instanceof StateFileClaimError || err instanceof DyupsSyncError) {
      process.stderr.write(`cosocket: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
  // handlers first: a SIGTERM sent as soon as the banner is read must not find Node's default (exit at once)
  const stopSignal = untilStopSignal();
  const address = runningAddress(app);
  onListening(address ?? config.port);
  if (dyups !== null && !cluster.isWorker) process.stdout.write(`${dyups.banner}\n`);
  const runningApp = app;
  await stopSignal;
  // stop accepting on every listener at once; let in-flight requests (streams too) finish within the
  // grace period, then cancel their coroutines and cut every connection that is still open
  const listeners = dyups;
  const closed = Promise.all([runningApp.close(), listeners?.close()]);
  const grace = setTimeout(() => {
    scheduler.cancelAll(CancelReason.explicit('server shutting down'));
    runningApp.server.closeAllConnections();
    listeners?.cutAll();
  }, config.shutdown.grace);
  await closed;
  clearTimeout(grace);
  await pools.drain(1_000);
  observability.close();
  await tracing?.shutdown();
  return 0;
}

async function runWorker(config: ServerConfig, redisUrl: string, nameOf: SettingName): Promise<number> {
  const code = await runServer(config, redisUrl, null, nameOf, (port) => process.send?.({ type: 'listening', port }));
  // a failed start exits with its code now: once its IPC channel closes a worker exits 0 (node:cluster)
  if (code !== 0) process.exit(code);
  process.disconnect(); // the IPC channel to the primary would keep this process alive
  return code;
}

/** Like nginx's master: forks the workers (they share the port), restarts any that dies, stops them on a signal. */
async function runCluster(
  config: ServerConfig,
  redisUrl: string,
  embedded: EmbeddedRedis | null,
  redisText: string,
  nameOf: SettingName,
): Promise<number> {
  const workers = new Set<Worker>();
  let stopping = false;
  const gather = new PrimaryGather();
  // logrotate's reopen: each worker reopens its own access log
  const reopen = (): void => {
    for (const worker of workers) worker.process.kill('SIGUSR2');
  };
  process.on('SIGUSR2', reopen);
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
        status: () => dashboardStatus(gather),
        adminRoutes: adminObservabilityRoutes(gather, {
          url: redactUrl(redisUrl),
          embedded: embedded !== null,
          ...(embedded ? { version: embedded.version } : {}),
        }),
      });
    } catch (err) {
      const failure = describeListenError(config, err, nameOf);
      if (failure === null && !(err instanceof DyupsSyncError)) throw err;
      process.stderr.write(failure === null ? `cosocket: ${(err as Error).message}\n` : `cosocket serve: ${failure}\n`);
      claim?.release();
      await embedded?.stop();
      return 2;
    }
  }
  let announced = false;
  let listening = 0;
  let exitCode = 0;
  let failed: () => void = () => {};
  const failure = new Promise<void>((resolve) => (failed = resolve));
  const respawn = new RespawnPolicy();
  const fork = (): void => {
    const worker = cluster.fork({ [WORKER_ENV]: redisUrl });
    workers.add(worker);
    sync?.add(worker);
    gather.add(worker);
    let up = false;
    worker.on('message', (message: { type?: string; port?: number }) => {
      if (message?.type !== 'listening') return;
      up = true;
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
      const how = signal ?? code;
      const decision = respawn.decide(up, Date.now());
      if (decision.action === 'respawn') {
        process.stderr.write(
          `cosocket: worker ${worker.process.pid} exited (${how}); starting another in ${decision.delayMs} ms\n`,
        );
        setTimeout(() => stopping || fork(), decision.delayMs);
        return;
      }
      process.stderr.write(
        decision.action === 'fail'
          ? `cosocket: worker ${worker.process.pid} could not start (exit ${how}); stopping\n`
          : `cosocket: worker ${worker.process.pid} exited (${how}), ${decision.crashes} crashes within ${decision.windowMs} ms; stopping\n`,
      );
      exitCode = decision.action === 'fail' ? 2 : 1;
      failed();
    });
  };
  for (let i = 0; i < config.workers; i++) fork();
  await Promise.race([untilStopSignal(), failure]);
  stopping = true;
  const exits = [...workers].map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
  for (const worker of workers) worker.process.kill('SIGTERM');
  const hardStop = setTimeout(() => {
    for (const worker of workers) worker.process.kill('SIGKILL');
  }, config.shutdown.grace + 5_000);
  await Promise.all(exits);
  clearTimeout(hardStop);
  process.off('SIGUSR2', reopen);
  await dyups?.close();
  claim?.release();
  await embedded?.stop();
  return exitCode;
}

function runningAddress(app: FastifyInstance): number | null {
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : null;
}

/** The dashboard's scheduler and pools: the server's, summed over the processes that serve. */
async function dashboardStatus(view: ServerView): Promise<DashboardStatus> {
  const { scheduler, pools: byProcess } = mergeStatus(await view.statuses(), process.pid);
  return { scheduler, pools: byProcess };
}
