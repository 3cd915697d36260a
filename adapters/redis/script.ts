import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../src/errors/index.js';
import type { Effect, Operation } from '../../src/runtime/effect.js';
import type { RedisArg } from './encode.js';

/** A Lua script and its SHA1, the name EVALSHA knows it by. */
export class RedisScript {
  readonly text: string;
  readonly sha: string;

  constructor(text: string) {
    if (typeof text !== 'string' || text === '')
      throw new InvalidArgumentError('redis script needs the Lua text of the script');
    this.text = text;
    this.sha = createHash('sha1').update(text).digest('hex');
  }
}

/** Scripts given as text, so each SHA1 is computed once; bounded, as texts may be built at run time. */
const byText = new Map<string, RedisScript>();
const MAX_CACHED = 256;

/** The script for this text, its SHA1 computed once: `const incr = redis.script('return ...')`. */
export function script(text: string): RedisScript {
  let found = byText.get(text);
  if (found === undefined) {
    found = new RedisScript(text);
    if (byText.size >= MAX_CACHED) byText.delete(byText.keys().next().value!);
    byText.set(text, found);
  }
  return found;
}

/** The two commands evalScript needs from a client. */
export interface ScriptRunner {
  evalsha(sha1: RedisArg, numkeys: number, ...keysAndArgs: RedisArg[]): Effect<unknown>;
  eval(script: RedisArg, numkeys: number, ...keysAndArgs: RedisArg[]): Effect<unknown>;
}

/** An error reply saying the server does not have the script (e.g. after a restart or SCRIPT FLUSH). */
function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * EVALSHA the script; on NOSCRIPT, EVAL its text (which loads it, so the next EVALSHA finds it). Any
 * other error, and an error the script itself raises, reaches the caller as is.
 */
export function* evalScript<T = unknown>(
  client: ScriptRunner,
  source: string | RedisScript,
  keys: readonly RedisArg[] = [],
  args: readonly RedisArg[] = [],
): Operation<T> {
  const lua = source instanceof RedisScript ? source : script(source);
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- else Array.isArray makes them any[]
  if (!Array.isArray(keys as unknown) || !Array.isArray(args as unknown))
    throw new InvalidArgumentError('redis evalScript(script, keys, args): keys and args must be arrays');
  try {
    return (yield* client.evalsha(lua.sha, keys.length, ...keys, ...args)) as T;
  } catch (err) {
    if (!isNoScript(err)) throw err;
  }
  return (yield* client.eval(lua.text, keys.length, ...keys, ...args)) as T;
}
