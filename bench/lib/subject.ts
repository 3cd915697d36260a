/**
 * The library under test, for every suite and the servers they start. COSOCKET_SUBJECT_DIR names a
 * checkout with its own built dist/ (bench/compare.ts points it at the base tree, then at the head tree);
 * unset, it is the tree this file was built in. So one tree's bench code can measure two builds.
 *
 * Public names come from the package's entry, dist/src/index.js. What is not public is looked up by
 * path, trying each place it has lived, newest first, so the bench code runs against older trees too.
 * Types come from this tree (`import type` from ../../src); values only from here. Measuring tools
 * (the load generator, the private redis-server) are not the subject: the suites import those directly.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type * as Cosocket from '../../src/index.js';

function subjectRoot(): string {
  const named = process.env.COSOCKET_SUBJECT_DIR;
  if (named !== undefined && named !== '') return resolve(named);
  // dist/bench/lib/subject.js -> the checkout
  return fileURLToPath(new URL('../../../', import.meta.url));
}

/** The checkout under test. */
export const subjectDir = subjectRoot();

// Benchmarks measure production mode: the unyielded-effect check off (README "Forgotten yield*"), in this
// process and in every server a suite starts, unless COSOCKET_UNYIELDED asks for it.
process.env.COSOCKET_UNYIELDED ||= 'off';

/** Its `cosocket` command. */
export const subjectBin = join(subjectDir, 'bin', 'cosocket.js');

/** The first of `paths` (relative to the checkout) that exists, imported; throws naming every place tried. */
async function importFirst(what: string, paths: readonly string[]): Promise<Record<string, unknown>> {
  for (const path of paths) {
    const file = join(subjectDir, path);
    if (existsSync(file)) return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  }
  throw new Error(`${what}: none of ${paths.join(', ')} in ${subjectDir} (is it built? npx tsc -p tsconfig.json)`);
}

function member<T>(module: Record<string, unknown>, name: string, what: string): T {
  const value = module[name];
  if (typeof value !== 'function') throw new Error(`${what} has no function ${name} in ${subjectDir}`);
  return value as T;
}

export type Library = typeof Cosocket;
let library: Promise<Library> | null = null;

/** The package's public API from the tree under test, loaded on first use (a suite that only starts servers never loads it). */
export function loadSubject(): Promise<Library> {
  return (library ??= importFirst('the public entry', ['dist/src/index.js']).then(inModeAsked));
}

/** The library, its check set as COSOCKET_UNYIELDED says, in case a module of it was loaded before that was set. */
function inModeAsked(module: Record<string, unknown>): Library {
  const check = module.checkUnyielded;
  if (typeof check === 'function') {
    (check as (options: { mode: string }) => void)({ mode: process.env.COSOCKET_UNYIELDED! });
  }
  return module as unknown as Library;
}

/** What bench/send's server passes to the sendfile routes (the fields every tree has taken). */
export interface SendRouteOptions {
  location: string;
  root: string;
  interval: number;
  timeout: number;
  suffix: string;
  maxDuration: number;
}

export type SendRoutes = (app: FastifyInstance, options: SendRouteOptions) => Promise<void>;

/** The `/send/` routes (an app route, not public): src/server after issue 14, src/http before. */
export async function loadSendRoutes(): Promise<SendRoutes> {
  const module = await importFirst('the sendfile routes', [
    'dist/src/server/send-routes.js',
    'dist/src/http/send-routes.js',
  ]);
  return member<SendRoutes>(module, 'sendRoutes', 'send-routes');
}
