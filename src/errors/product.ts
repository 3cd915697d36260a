// Errors of the product: the server and its CLI, the private redis-server, /test, dyups.
import { CosocketError } from './base.js';

/** A command line that cannot be obeyed: printed as one line, exit code 2. */
export class UsageError extends CosocketError {
  constructor(message: string) {
    super('COSOCKET_ERR_USAGE', message);
  }
}

export class RedisServerNotFoundError extends CosocketError {
  constructor() {
    super(
      'COSOCKET_ERR_NO_REDIS_SERVER',
      'redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server) or point cosocket at a Redis with --redis redis://HOST:PORT or REDIS_URL',
    );
  }
}

export class EmbeddedRedisError extends CosocketError {
  constructor(message: string) {
    super('COSOCKET_ERR_EMBEDDED_REDIS', message);
  }
}

/** Key `test` holds more than /test reads: answered 502, as nginx answers an upstream reply too big to buffer. */
export class TestValueTooLargeError extends CosocketError {
  constructor(limit: number) {
    super('COSOCKET_ERR_TEST_VALUE_TOO_LARGE', `key 'test' holds more than test.maxValueSize (${limit} bytes)`);
  }
}

/** A body that is not a valid upstream block; `position` is the offset of the offending token. */
export class UpstreamSyntaxError extends CosocketError {
  readonly position: number;
  readonly line: number;
  readonly column: number;
  readonly token: string;

  constructor(text: string, position: number, token: string, problem: string) {
    const before = text.slice(0, position);
    const line = before.split('\n').length;
    const column = position - before.lastIndexOf('\n');
    super(
      'COSOCKET_ERR_UPSTREAM_SYNTAX',
      `${problem} at '${token}' (line ${line}, column ${column}, offset ${position})`,
    );
    this.position = position;
    this.line = line;
    this.column = column;
    this.token = token;
  }
}

/** A state file that cannot be loaded: the server refuses to start, and the file is left as it is. */
export class StateFileError extends CosocketError {
  constructor(file: string, line: number, reason: string) {
    super('COSOCKET_ERR_STATE_FILE', `state file ${file}, line ${line}: ${reason} (the file was left as it is)`);
  }
}

/**
 * The state file cannot be owned: another live process owns it (two owners would silently lose each
 * other's changes), or its lock cannot be made. The server does not start.
 */
export class StateFileClaimError extends CosocketError {
  constructor(file: string, reason: string) {
    super('COSOCKET_ERR_STATE_FILE_CLAIM', `state file ${file}: ${reason}`);
  }
}

/**
 * The pid file (nginx's `pid`): at start it names a live cosocket server; for `cosocket reload|stop|quit|reopen`
 * it is missing, unreadable, or names a process that is not running.
 */
export class PidFileError extends CosocketError {
  constructor(file: string, reason: string) {
    super('COSOCKET_ERR_PID_FILE', `pid file ${file}: ${reason}`);
  }
}

/** --dyups-sync names a Redis that could not be used at start: the server does not start out of step. */
export class DyupsSyncError extends CosocketError {
  /** `redactedUrl`: the Redis URL with its password hidden. */
  constructor(redactedUrl: string, cause: unknown) {
    super(
      'COSOCKET_ERR_DYUPS_SYNC',
      `dyups sync: cannot load the upstreams from ${redactedUrl} (${cause instanceof Error ? cause.message : String(cause)})`,
    );
  }
}

/** Loading the upstreams from the --dyups-sync Redis stopped part-way: the local table was not changed. */
export class DyupsLoadError extends CosocketError {
  constructor(
    reason:
      | 'the Redis transaction was aborted'
      | 'could not write the state file'
      | `upstreams '${string}' and '${string}' differ only by case`,
  ) {
    super(
      'COSOCKET_ERR_DYUPS_LOAD',
      reason.endsWith('by case')
        ? `${reason}: names match case-insensitively, so they would be one group; delete one from the Redis hash`
        : reason,
    );
  }
}

/** `cosocket ab` cannot start or go on: ab's own line for it, and the exit status ab gives. */
export class AbError extends CosocketError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('COSOCKET_ERR_AB', message);
  }
}
