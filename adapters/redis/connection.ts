import {
  RedisReplyError,
  RedisSentinelError,
  SocketClosedError,
  SocketTimeoutError,
  socketErrorFrom,
} from '../../src/errors/index.js';
import { TcpConnection, NEED_MORE } from '../tcp/index.js';
import { encodeCommand, joinEncoded } from './encode.js';
import type { Encoded, RedisArg } from './encode.js';
import { RespReader } from './resp.js';
import type { RedisTarget } from './url.js';

/** What is said right after connecting: HELLO 3 (RESP3, with AUTH in it), else AUTH; then SELECT; then ROLE when it must be a master. */
function greeting(target: RedisTarget, protocol: 2 | 3, expectMaster: boolean): Encoded[] {
  const commands: Encoded[] = [];
  const credentials: RedisArg[] =
    target.password === null ? [] : target.username === null ? [target.password] : [target.username, target.password];
  if (protocol === 3) {
    const auth: RedisArg[] =
      credentials.length === 0
        ? []
        : ['AUTH', credentials.length === 1 ? 'default' : credentials[0]!, credentials[credentials.length - 1]!];
    commands.push(encodeCommand('HELLO', [3, ...auth]));
  } else if (credentials.length > 0) commands.push(encodeCommand('AUTH', credentials));
  if (target.db !== 0) commands.push(encodeCommand('SELECT', [target.db]));
  if (expectMaster) commands.push(encodeCommand('ROLE', []));
  return commands;
}

/**
 * A connection to Redis on a plain tcp cosocket connection, logged in and on its database: the
 * greeting (AUTH/HELLO, SELECT, ROLE) goes in one write and its replies are read before the connection
 * is handed out. Rejects with a typed socket error, SocketTimeoutError after `timeoutMs` (connect and
 * greeting together), the RedisReplyError of a refused AUTH/SELECT, or RedisSentinelError when
 * `expectMaster` and the server is not a master.
 */
export async function openRedisConnection(
  target: RedisTarget,
  timeoutMs: number,
  protocol: 2 | 3,
  expectMaster = false,
): Promise<TcpConnection> {
  const started = Date.now();
  const tcpTarget = target.path !== null ? { path: target.path } : { host: target.host, port: target.port };
  const conn = await TcpConnection.open(tcpTarget, target.peer, timeoutMs);
  const commands = greeting(target, protocol, expectMaster);
  if (commands.length === 0) return conn;
  try {
    const role = await greet(
      conn,
      target.peer,
      joinEncoded(commands),
      commands.length,
      Math.max(1, timeoutMs - (Date.now() - started)),
    );
    if (expectMaster && !(Array.isArray(role) && role[0] === 'master')) {
      throw new RedisSentinelError(
        target.peer,
        `named as the master, but ROLE says ${Array.isArray(role) ? String(role[0]) : 'nothing'} (a failover under way?)`,
      );
    }
  } catch (err) {
    conn.destroy();
    throw err;
  }
  return conn;
}

/** Sends the greeting (or any commands) and reads their replies; resolves with the last one (ROLE's, when asked). */
export function greet(
  conn: TcpConnection,
  peer: string,
  data: Encoded,
  replies: number,
  timeoutMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const reader = new RespReader(peer);
    let left = replies;
    let refused: RedisReplyError | null = null;
    let last: unknown = null;
    const finish = (err: unknown): void => {
      clearTimeout(timer);
      conn.onActivity = null;
      if (err === null) resolve(last);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the reader threw, as it is
      else reject(err);
    };
    const timer = setTimeout(() => finish(new SocketTimeoutError('connect', peer, timeoutMs)), timeoutMs);
    conn.onActivity = () => {
      try {
        while (left > 0) {
          const reply = reader.read(conn.queue);
          if (reply === NEED_MORE) break;
          left--;
          last = reply;
          if (reply instanceof RedisReplyError && refused === null) refused = reply;
        }
      } catch (err) {
        finish(err);
        return;
      }
      if (left === 0) finish(refused);
      else if (conn.error !== null) finish(socketErrorFrom('connect', peer, conn.error));
      else if (conn.ended || conn.closed)
        finish(new SocketClosedError('connect', peer, undefined, 'closed during AUTH/SELECT'));
    };
    if (typeof data === 'string') conn.socket.write(data);
    else for (const part of data) conn.socket.write(part);
  });
}
