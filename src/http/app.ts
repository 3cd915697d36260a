import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { statusRoutes } from './status.js';
import type { StatusOptions } from './status.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface AppOptions extends StatusOptions {
  logLevel?: LogLevel;
}

/** The app listener: fastify with cosocket's routes. Later parts register theirs here. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: options.logLevel ?? 'warn' },
    // header and body limits by default (fastify's are 16 KB of headers and 1 MB of body)
    routerOptions: { maxParamLength: 500 },
    bodyLimit: 1024 * 1024,
  });
  await app.register(statusRoutes, { scheduler: options.scheduler, redis: options.redis });
  return app;
}
