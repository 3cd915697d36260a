import cluster from 'node:cluster';
import { Redis } from 'ioredis';
import { configure as configureRedis } from '../../adapters/redis/index.js';
import { SERVER_SCHEMA, redactUrl, resolveSettings, settingNames } from '../config/server-config.js';
import type { ServerConfig, SettingName } from '../config/server-config.js';
import { CancelReason, InvalidArgumentError } from '../errors/index.js';
import { buildApp } from '../server/app.js';
import { pools } from '../pool/registry.js';
import { RedisServerNotFoundError, startEmbeddedRedis } from '../server/embedded-redis.js';
import type { EmbeddedRedis } from '../server/embedded-redis.js';
import { Scheduler } from '../runtime/scheduler.js';
import { startTracing } from '../tracing/index.js';
import { workerView } from '../server/cluster-gather.js';
import type { ProcessReport } from '../server/cluster-gather.js';
import { startObservability } from '../server/observability.js';
import { checkAccessLogPath } from '../server/access-log.js';
import { processStatus } from '../server/status.js';
import type { FastifyInstance } from 'fastify';
import { DyupsSyncError, startDyups } from '../dyups/listeners.js';
import type { DyupsListeners } from '../dyups/listeners.js';
import { StateFileError } from '../dyups/state-file.js';
import { StateFileClaimError } from '../dyups/state-file-owner.js';
import { answerHealthQueries, followPrimary } from '../dyups/cluster-sync.js';
import { UpstreamTable } from '../dyups/table.js';
import { UsageError, helpText, parseFlags, schemaEnvironment, schemaFlags, usageLine } from './flags.js';
import type { FlagSpec } from './flags.js';
import { PidFileError, writePidFile } from './pid-file.js';
import type { PidFileClaim } from './pid-file.js';
import { runPrimary, workerSetup } from './primary.js';
import type { ListeningMessage, WorkerSetup } from './primary.js';
import { RETIRE_QUIET_MS, retirable } from './retire.js';
import { testConfiguration } from './config-test.js';
import { checkStartup, describeListenError } from './startup-checks.js';
import { untilStopRequest } from './signals.js';
import type { StopKind } from './signals.js';

/** --config, every flag the config schema declares, --help. */
export const SERVE_FLAGS: readonly FlagSpec[] = [
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
  usageLine('cosocket serve', SERVE_FLAGS),
  `Starts the cosocket server: GET /test, /test/short, /test/keepalive, /test/shared (a Redis GET of key
'test', 10 bytes) and GET /status. Without --redis or REDIS_URL it starts a private redis-server on a
free loopback port (no persistence) and stops it on exit. Durations are written "100ms", "10s", "1m30s"
or as milliseconds; sizes "16k", "1m" or as bytes; switches on/off, yes/no or true/false.`,
  SERVE_FLAGS,
  schemaEnvironment(SERVER_SCHEMA),
);

const TEST_VALUE = 'hello12345';

/** `cosocket serve`: resolves with the exit code once the server has shut down. */
export async function serve(argv: readonly string[]): Promise<number> {
  const setup = cluster.isWorker ? workerSetup() : null;
  if (setup !== null) return runWorker(setup);
  const { values, positionals } = parseFlags('serve', argv, SERVE_FLAGS);
  if (values.has('help')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const flags = new Map<string, string>();
  for (const [name, value] of values) if (name !== 'config' && typeof value === 'string') flags.set(name, value);
  const file = values.get('config');
  const sources = { ...(typeof file === 'string' ? { file } : {}), env: process.env, flags };
  let config: ServerConfig;
  let nameOf: SettingName;
  try {
    ({ config, nameOf } = await resolveSettings(sources));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.has('test')) return testConfiguration(config, nameOf, typeof file === 'string' ? file : null);
  // nothing starts (Redis, a listener) unless every listener can listen and every file named is usable
  const problems = await checkStartup(config, nameOf);
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`cosocket serve: ${problem}\n`);
    return 2;
  }
  return runServer(config, nameOf, async () => (await resolveSettings(sources)).config);
}

/**
 * The primary process: the pid file, the embedded Redis, then the workers (one without --workers, so
 * that a reload can start new ones beside it: see README, Operations).
 */
async function runServer(
  config: ServerConfig,
  nameOf: SettingName,
  reread: () => Promise<ServerConfig>,
): Promise<number> {
  checkAccessLogPath(config.accessLog.path);
  let pidFile: PidFileClaim | null;
  try {
    pidFile = config.pid === null ? null : writePidFile(config.pid);
  } catch (err) {
    if (!(err instanceof PidFileError)) throw err;
    process.stderr.write(`cosocket: ${err.message}\n`);
    return 2;
  }
  let embedded: EmbeddedRedis | null = null;
  try {
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
    return await runPrimary({
      config,
      nameOf,
      reread,
      redisUrl,
      embeddedVersion: embedded?.version ?? null,
      redisText,
    });
  } finally {
    await embedded?.stop();
    pidFile?.remove();
  }
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

/**
 * A worker: builds the app, listens, proxies with a replica of the primary's dyups table. Stops fast on
 * SIGTERM/SIGINT (new requests on kept-alive connections 503) or gracefully when retired by a reload or
 * on SIGQUIT (every request answered, Connection: close); either within shutdown.grace, after which
 * every coroutine left is cancelled and every connection cut.
 */
async function runWorker({ config, redisUrl, embeddedVersion }: WorkerSetup): Promise<number> {
  const stopRequest = untilStopRequest();
  const code = await serveInWorker(config, redisUrl, embeddedVersion, stopRequest);
  // a failed start exits with its code now: once its IPC channel closes a worker exits 0 (node:cluster)
  if (code !== 0) process.exit(code);
  process.disconnect(); // the IPC channel to the primary would keep this process alive
  return code;
}

async function serveInWorker(
  config: ServerConfig,
  redisUrl: string,
  embeddedVersion: string | null,
  stopRequest: Promise<StopKind>,
): Promise<number> {
  configureRedis({ url: redisUrl });
  // the primary checked the settings and named each as the user gave it; a worker names them by flag
  const nameOf = settingNames();
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
    embedded: embeddedVersion !== null,
    ...(embeddedVersion !== null ? { version: embeddedVersion } : {}),
  };
  const observability = startObservability(config, scheduler);
  const { metrics, accessLog, proxyErrors } = observability;
  let built: FastifyInstance | null = null;
  const startedAt = Date.now();
  const self: ProcessReport = {
    status: () => processStatus(scheduler, () => built?.cosocket.routeStats() ?? [], startedAt),
    metrics: () => metrics.json(),
  };
  const app = await buildApp({ config, scheduler, redisUrl, redis, view: workerView(self), metrics, accessLog });
  built = app;
  const appListener = retirable(app.server);
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
  let dyups: DyupsListeners | null;
  try {
    // the primary owns the table and the admin interface; this worker proxies with a replica
    const replica = new UpstreamTable({ stateFile: null });
    dyups = await startDyups(config, scheduler, 'worker', {
      table: replica,
      ready: followPrimary(replica),
      metrics,
      accessLog,
      errors: proxyErrors,
    });
    if (dyups !== null) answerHealthQueries(dyups.health);
  } catch (err) {
    await app.close();
    observability.close();
    const failure = describeListenError(config, err, nameOf);
    if (failure !== null) {
      process.stderr.write(`cosocket serve: ${failure}\n`);
      return 2;
    }
    if (
      err instanceof StateFileError ||
      err instanceof StateFileClaimError ||
      err instanceof DyupsSyncError ||
      err instanceof InvalidArgumentError // a dyups.balancers module that cannot be loaded
    ) {
      process.stderr.write(`cosocket: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
  const address = app.server.address();
  process.send?.(
    {
      type: 'listening',
      port: typeof address === 'object' && address !== null ? address.port : config.port,
    } satisfies ListeningMessage,
    // a primary gone meanwhile: the send fails here, and the stop request ends this worker
    () => {},
  );
  const how = await stopRequest;
  // stop accepting on every listener at once; let in-flight requests (streams too) finish within the
  // grace period, then cancel their coroutines and cut every connection that is still open
  const listeners = dyups;
  const grace = setTimeout(() => {
    scheduler.cancelAll(CancelReason.explicit('server shutting down'));
    app.server.closeAllConnections();
    listeners?.cutAll();
  }, config.shutdown.grace);
  // graceful: kept-alive connections end after an answer rather than with a 503 or a cut
  if (how === 'graceful') await Promise.all([appListener.retire(), listeners?.retire(RETIRE_QUIET_MS)]);
  await Promise.all([app.close(), listeners?.close()]);
  clearTimeout(grace);
  await pools.drain(1_000);
  observability.close();
  await tracing?.shutdown();
  return 0;
}
