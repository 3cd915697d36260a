import { CosocketError } from './base.js';
import { SocketError } from './socket.js';

/**
 * An error reply from Redis (`-ERR ...`, `-WRONGTYPE ...`, `-MOVED 3999 10.0.0.1:6381`, RESP3 `!...`).
 * The message is Redis's text, untouched; `redisCode` is its first word (ERR, WRONGTYPE, MOVED, ASK,
 * NOSCRIPT, BUSY, NOAUTH, READONLY, EXECABORT...). The connection stays usable.
 */
export class RedisReplyError extends CosocketError {
  readonly redisCode: string;

  constructor(text: string) {
    super('COSOCKET_ERR_REDIS_REPLY', text);
    const space = text.indexOf(' ');
    this.redisCode = space > 0 ? text.slice(0, space) : text;
  }
}

/** Redis (or whatever answered) broke RESP, or a reply passed a limit (maxBulk): the connection is closed. */
export class RedisProtocolError extends SocketError {
  constructor(op: string, peer: string, message: string) {
    super('COSOCKET_ERR_REDIS_PROTOCOL', op, peer, message);
  }
}

/** No sentinel named a master, or the server a sentinel named is not the master (yet). */
export class RedisSentinelError extends SocketError {
  constructor(peer: string, message: string) {
    super('COSOCKET_ERR_REDIS_SENTINEL', 'connect', peer, message);
  }
}

/** A Redis reply did not have the shape its command's typed method promises (the command still ran). */
export class UnexpectedReplyError extends CosocketError {
  readonly command: string;

  constructor(command: string, detail: string) {
    super('COSOCKET_ERR_REDIS_UNEXPECTED_REPLY', `redis ${command.toUpperCase()}: unexpected reply: ${detail}`);
    this.command = command;
  }
}

/** A Redis Cluster node answered CLUSTER SLOTS (or a redirect) with something that is not a slot table. */
export class RedisClusterReplyError extends CosocketError {
  constructor(message: string) {
    super('COSOCKET_ERR_REDIS_CLUSTER_REPLY', message);
  }
}

/** No seed and no known master of a Redis Cluster answered CLUSTER SLOTS: each one's failure is in the message. */
export class RedisClusterDownError extends SocketError {
  constructor(peer: string, failures: readonly string[]) {
    super(
      'COSOCKET_ERR_REDIS_CLUSTER_DOWN',
      'connect',
      peer,
      `no cluster node answered CLUSTER SLOTS (${failures.join('; ') || 'no node to ask'})`,
    );
  }
}

/** A row of the command table names a method the client already has: a bug, refused when the module loads. */
export class CommandTableError extends CosocketError {
  constructor(name: string) {
    super('COSOCKET_ERR_REDIS_COMMAND_TABLE', `redis command table: '${name}' would replace an existing method`);
  }
}
