import { buildApp, LOG_LEVELS } from '../http/app.js';
import type { LogLevel } from '../http/app.js';
import { RedisServerNotFoundError, startEmbeddedRedis } from '../redis/embedded.js';
import type { EmbeddedRedis } from '../redis/embedded.js';
import { defaultScheduler } from '../runtime/scheduler.js';
import { UsageError, helpText, parseChoice, parseFlags, parseHost, parsePort, parseRedisUrl, redactUrl } from './flags.js';
import type { FlagSpec } from './flags.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'host', takesValue: true, valueName: 'HOST', description: 'address to listen on (default 127.0.0.1)' },
  { name: 'port', takesValue: true, valueName: 'PORT', description: 'port to listen on (default 8000; 0 = any free port)' },
  { name: 'redis', takesValue: true, valueName: 'URL', description: 'Redis to use (default: $REDIS_URL, else a private redis-server)' },
  { name: 'log-level', takesValue: true, valueName: 'LEVEL', description: `one of ${LOG_LEVELS.join(', ')} (default warn)` },
  { name: 'help', short: 'h', takesValue: false, description: 'show this help' },
];

export const SERVE_HELP = helpText(
  'Usage: cosocket serve [--host HOST] [--port PORT] [--redis URL] [--log-level LEVEL]',
  'Starts the cosocket server: GET /status reports the scheduler. Without --redis or REDIS_URL it\nstarts a private redis-server on a free loopback port (no persistence) and stops it on exit.',
  FLAGS,
);

interface ServeConfig {
  host: string;
  port: number;
  redisUrl: string | null;
  logLevel: LogLevel;
}

function readConfig(argv: readonly string[]): ServeConfig | 'help' {
  const { values, positionals } = parseFlags('serve', argv, FLAGS);
  if (values.has('help')) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const get = (name: string): string | undefined => values.get(name) as string | undefined;
  const envRedis = process.env.REDIS_URL;
  return {
    host: parseHost('--host', get('host') ?? '127.0.0.1'),
    port: parsePort('--port', get('port') ?? '8000'),
    redisUrl:
      get('redis') !== undefined
        ? parseRedisUrl('--redis', get('redis')!)
        : envRedis
          ? parseRedisUrl('REDIS_URL', envRedis)
          : null,
    logLevel: parseChoice('--log-level', get('log-level') ?? 'warn', LOG_LEVELS),
  };
}

/** `cosocket serve`: resolves with the exit code once the server has shut down. */
export async function serve(argv: readonly string[]): Promise<number> {
  const config = readConfig(argv);
  if (config === 'help') {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  let embedded: EmbeddedRedis | null = null;
  if (config.redisUrl === null) {
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
  const redisUrl = embedded?.url ?? config.redisUrl!;
  const app = await buildApp({
    scheduler: defaultScheduler,
    logLevel: config.logLevel,
    redis: { url: redactUrl(redisUrl), embedded: embedded !== null, ...(embedded ? { version: embedded.version } : {}) },
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await embedded?.stop();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`cosocket: cannot listen on ${config.host}:${config.port}: ${code}\n`);
      return 2;
    }
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const redisText = embedded ? `embedded redis-server ${embedded.version} at ${embedded.url}` : redactUrl(redisUrl);
  process.stdout.write(`cosocket listening on http://${config.host}:${port} (redis: ${redisText})\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`cosocket: ${signal}, shutting down\n`);
      void (async () => {
        await app.close();
        await embedded?.stop();
        resolve(0);
      })();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
