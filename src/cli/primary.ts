import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { redactUrl } from '../config/server-config.js';
import type { ServerConfig, SettingName } from '../config/server-config.js';
import { schemeOf } from '../config/listener-tls.js';
import { Scheduler } from '../runtime/scheduler.js';
import { DyupsSyncError, startDyups } from '../dyups/listeners.js';
import type { DyupsListeners } from '../dyups/listeners.js';
import { StateFileError, loadState } from '../dyups/state-file.js';
import { loadBalancerModules } from '../dyups/balancer-modules.js';
import { InvalidArgumentError } from '../errors/index.js';
import { StateFileClaimError, claimStateFile } from '../dyups/state-file-owner.js';
import type { StateFileClaim } from '../dyups/state-file-owner.js';
import { PrimarySync } from '../dyups/cluster-sync.js';
import { UpstreamTable } from '../dyups/table.js';
import { PrimaryGather } from '../server/cluster-gather.js';
import type { ServerView } from '../server/cluster-gather.js';
import { adminObservabilityRoutes } from '../server/metrics-routes.js';
import { mergeStatus } from '../server/status.js';
import type { DashboardStatus } from '../dyups/dashboard/snapshot.js';
import { RespawnPolicy } from './respawn.js';
import { RETIRE, handleSignals } from './signals.js';
import type { StopKind } from './signals.js';
import { describeListenError } from './startup-checks.js';

/** What a worker is started with, from the primary (a reload's new workers get the new configuration). */
export interface WorkerSetup {
  readonly config: ServerConfig;
  readonly redisUrl: string;
  /** the private redis-server's version; null: a Redis the user gave */
  readonly embeddedVersion: string | null;
}

const WORKER_SETUP_ENV = 'COSOCKET_WORKER_SETUP';

/** In a worker: what the primary started it with. */
export function workerSetup(): WorkerSetup | null {
  const text = process.env[WORKER_SETUP_ENV];
  return text === undefined ? null : (JSON.parse(text) as WorkerSetup);
}

/** A worker tells the primary it listens on every listener it has. */
export interface ListeningMessage {
  readonly type: 'listening';
  readonly port: number;
}

function isListening(message: unknown): message is ListeningMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'listening';
}

export interface PrimaryOptions {
  readonly config: ServerConfig;
  /** how the user gave each setting, for errors */
  readonly nameOf: SettingName;
  /** the configuration read again from where it came from at start (file, environment, flags) */
  readonly reread: () => Promise<ServerConfig>;
  readonly redisUrl: string;
  readonly embeddedVersion: string | null;
  readonly redisText: string;
}

/**
 * Settings the primary itself uses (the admin interface, the table's state file and sync, the pid file,
 * the Redis it started): a reload cannot change them. Each path with what it takes from a config.
 */
const PRIMARY_SETTINGS: ReadonlyArray<[string, (c: ServerConfig) => unknown]> = [
  ['pid', (c) => c.pid],
  ['dyups.adminHost', (c) => c.dyups.adminHost],
  ['dyups.adminPort', (c) => c.dyups.adminPort],
  ['dyups.token', (c) => c.dyups.token],
  ['dyups.allowRemote', (c) => c.dyups.allowRemote],
  ['dyups.trylock', (c) => c.dyups.trylock],
  ['dyups.stateFile', (c) => c.dyups.stateFile],
  ['dyups.sync', (c) => c.dyups.sync],
  // the primary validates groups against the balancers it loaded at start
  ['dyups.balancers', (c) => c.dyups.balancers],
  ['tls.admin', (c) => c.tls.admin],
  // on or off: the primary keeps a table only when dyups is on
  ['dyups.proxyPort', (c) => c.dyups.adminPort !== 0 || c.dyups.proxyPort !== 0],
];

/** The first setting a reload to `next` would have to change in the primary, or null. */
function unreloadable(current: ServerConfig, next: ServerConfig, embedded: boolean): string | null {
  for (const [path, get] of PRIMARY_SETTINGS)
    if (JSON.stringify(get(current)) !== JSON.stringify(get(next))) return path;
  if (next.redis === null && !embedded) return 'redis';
  return null;
}

/** One configuration's workers: a reload starts a new generation and retires the one before. */
class Generation {
  readonly workers = new Set<Worker>();
  readonly ups: Array<Promise<number | null>> = [];
  constructor(readonly config: ServerConfig) {}
}

/**
 * Like nginx's master: forks the workers (they share the listening sockets), replaces one that dies,
 * re-reads the configuration on SIGHUP and replaces the workers without dropping a request, stops them
 * on SIGTERM/SIGINT (fast) or SIGQUIT (graceful). Owns the dyups table and its admin interface.
 * Resolves with the exit code.
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  // workers accept on the shared listening sockets themselves, as nginx's do: node's default on Linux has
  // the primary accept every connection and pass it to a worker over IPC, a cost per connection
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const { redisUrl, embeddedVersion, redisText } = options;
  const start = options.config;
  // /metrics and /status: every worker's numbers, asked over IPC, for the admin listener and the workers'
  const gather = new PrimaryGather();
  const dyupsOn = start.dyups.adminPort !== 0 || start.dyups.proxyPort !== 0;
  let sync: PrimarySync | null = null;
  let dyups: DyupsListeners | null = null;
  let claim: StateFileClaim | null = null;
  if (dyupsOn) {
    const stateFile = start.dyups.stateFile;
    let table: UpstreamTable;
    try {
      // the primary validates every change: it knows the coroutine balancers before the state file names them
      await loadBalancerModules(start.dyups.balancers);
      claim = stateFile === null ? null : claimStateFile(stateFile);
      table = new UpstreamTable({ stateFile: claim?.path ?? null }, claim === null ? [] : loadState(claim.path));
    } catch (err) {
      claim?.release();
      if (err instanceof StateFileError || err instanceof StateFileClaimError || err instanceof InvalidArgumentError) {
        process.stderr.write(`cosocket: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
    const primarySync = new PrimarySync(table);
    sync = primarySync;
    try {
      dyups = await startDyups(start, new Scheduler({ name: 'dyups-admin' }), 'primary', {
        table,
        redisUrl,
        afterChange: (version) => primarySync.applied(version),
        health: (name) => primarySync.health(name),
        status: () => dashboardStatus(gather),
        adminRoutes: adminObservabilityRoutes(gather, {
          url: redactUrl(redisUrl),
          embedded: embeddedVersion !== null,
          ...(embeddedVersion !== null ? { version: embeddedVersion } : {}),
        }),
      });
    } catch (err) {
      claim?.release();
      const failure = describeListenError(start, err, options.nameOf);
      if (failure === null && !(err instanceof DyupsSyncError)) throw err;
      process.stderr.write(failure === null ? `cosocket: ${(err as Error).message}\n` : `cosocket serve: ${failure}\n`);
      return 2;
    }
  }
  const finish = async (code: number): Promise<number> => {
    await dyups?.close();
    claim?.release();
    return code;
  };

  let current = new Generation(start);
  /** every worker alive, with the generation it serves */
  const alive = new Map<Worker, Generation>();
  const retiring = new Set<Worker>();
  let stopping: StopKind | null = null;
  let stopped: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => (stopped = resolve));
  let exitCode = 0;
  const respawn = new RespawnPolicy();

  const fork = (generation: Generation): void => {
    const setup: WorkerSetup = { config: generation.config, redisUrl, embeddedVersion };
    const worker = cluster.fork({ [WORKER_SETUP_ENV]: JSON.stringify(setup) });
    generation.workers.add(worker);
    alive.set(worker, generation);
    sync?.add(worker);
    gather.add(worker);
    let up = false;
    // resolves with the port once the worker listens, or null when it exits before
    generation.ups.push(
      new Promise((resolve) => {
        worker.on('message', (message: unknown) => {
          if (!isListening(message)) return;
          up = true;
          resolve(message.port);
        });
        worker.once('exit', () => resolve(null));
      }),
    );
    worker.on('exit', (code, signal) => {
      generation.workers.delete(worker);
      alive.delete(worker);
      retiring.delete(worker);
      const how = signal ?? code;
      // one that exits before it listened fails its start (said here) or its reload (said by reloadOnce)
      if (stopping === null && generation === current && !up) {
        process.stderr.write(`cosocket: worker ${worker.process.pid} could not start (exit ${how}); stopping\n`);
      }
      if (stopping !== null || generation !== current || !up) return;
      const decision = respawn.decide(up, Date.now());
      if (decision.action === 'respawn') {
        process.stderr.write(
          `cosocket: worker ${worker.process.pid} exited (${how}); starting another in ${decision.delayMs} ms\n`,
        );
        setTimeout(() => {
          if (stopping === null && generation === current) fork(generation);
        }, decision.delayMs);
        return;
      }
      process.stderr.write(
        decision.action === 'give-up'
          ? `cosocket: worker ${worker.process.pid} exited (${how}), ${decision.crashes} crashes within ${decision.windowMs} ms; stopping\n`
          : `cosocket: worker ${worker.process.pid} exited (${how}); stopping\n`,
      );
      exitCode = 1;
      stopping = 'fast';
      stopped();
    });
  };

  /** Starts `generation`'s workers; resolves with the port, or null when one exited before it listened. */
  const startGeneration = async (generation: Generation): Promise<number | null> => {
    for (let i = 0; i < generation.config.workers; i++) fork(generation);
    const ports = await Promise.all(generation.ups);
    return ports.some((p) => p === null) ? null : ports[0]!;
  };

  /** The workers finish their requests (graceful) or get today's shutdown (fast); killed if still up after the grace. */
  const stopWorkers = async (workers: Iterable<Worker>, kind: StopKind, grace: number): Promise<void> => {
    const list = [...workers].filter((w) => !w.isDead());
    const exits = list.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
    for (const worker of list) {
      // with a callback, a worker that exits before the message fails the send, not the primary
      if (kind === 'graceful' && worker.isConnected()) worker.send(RETIRE, () => {});
      else worker.process.kill('SIGTERM');
    }
    const hardStop = setTimeout(() => {
      for (const worker of list) if (!worker.isDead()) worker.process.kill('SIGKILL');
    }, grace + 5_000);
    await Promise.all(exits);
    clearTimeout(hardStop);
  };

  const reloads: { running: Promise<void> | null; again: boolean } = { running: null, again: false };
  const reloadOnce = async (): Promise<void> => {
    let next: ServerConfig;
    try {
      next = await options.reread();
    } catch (err) {
      process.stderr.write(
        `cosocket: reload failed, the previous configuration still serves: ${(err as Error).message}\n`,
      );
      return;
    }
    const fixed = unreloadable(current.config, next, embeddedVersion !== null);
    if (fixed !== null) {
      process.stderr.write(
        `cosocket: reload failed, the previous configuration still serves: '${fixed}' cannot change on reload (restart the server)\n`,
      );
      return;
    }
    const generation = new Generation(next);
    const port = await startGeneration(generation);
    if (port === null || stopping !== null) {
      await stopWorkers(generation.workers, 'fast', next.shutdown.grace);
      if (stopping === null)
        process.stderr.write(
          'cosocket: reload failed, the previous configuration still serves: a new worker exited before it listened\n',
        );
      return;
    }
    const old = current;
    current = generation;
    for (const worker of old.workers) retiring.add(worker);
    process.stdout.write(
      `cosocket reloaded: ${generation.workers.size} new worker(s) listening on ${schemeOf(next.tls.app)}://${next.host}:${port}; ${old.workers.size} old one(s) finishing\n`,
    );
    // the old workers stop accepting only now: the new ones accept on the same sockets already
    void stopWorkers([...old.workers], 'graceful', old.config.shutdown.grace);
  };
  const reload = (): void => {
    if (stopping !== null) return;
    if (reloads.running !== null) {
      reloads.again = true;
      return;
    }
    reloads.running = (async () => {
      do {
        reloads.again = false;
        await reloadOnce();
      } while (reloads.again && stopping === null);
      reloads.running = null;
    })();
  };

  handleSignals({
    stop: (kind) => {
      stopping = kind;
      stopped();
    },
    reload,
    reopen: () => {
      for (const worker of alive.keys()) if (!worker.isDead()) worker.process.kill('SIGUSR2');
    },
  });

  const port = await startGeneration(current);
  if (port === null) {
    stopping = 'fast';
    await stopWorkers(alive.keys(), 'fast', start.shutdown.grace);
    return finish(2);
  }
  const count = start.workers;
  process.stdout.write(
    `cosocket listening on ${schemeOf(start.tls.app)}://${start.host}:${port}${count > 1 ? ` with ${count} workers` : ''} (redis: ${redisText})\n`,
  );
  if (dyups !== null) process.stdout.write(`${dyups.banner}; proxy in every worker\n`);

  await stopRequested;
  await reloads.running;
  await stopWorkers(alive.keys(), stopping ?? 'fast', current.config.shutdown.grace);
  return finish(exitCode);
}

/** The dashboard's scheduler and pools: the server's, summed over the workers. */
async function dashboardStatus(view: ServerView): Promise<DashboardStatus> {
  const { scheduler, pools } = mergeStatus(await view.statuses(), process.pid);
  return { scheduler, pools };
}
