/** Redis Cluster's key → slot rule, the routing key of a command, and MOVED/ASK redirects. Pure functions. */

export const SLOT_COUNT = 16_384;

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/** CRC16/XMODEM (polynomial 0x1021, initial 0) of bytes [start, end). */
function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The cluster slot of a key, as CLUSTER KEYSLOT computes it: CRC16 of the key mod 16384, or of the
 * hash tag only — the bytes between the first '{' and the first '}' after it, when there are any.
 * Strings are hashed as their UTF-8 bytes.
 */
export function keySlot(key: string | Buffer): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(OPEN_BRACE);
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE_BRACE, open + 1);
    if (close > open + 1) return crc16(bytes, open + 1, close) & (SLOT_COUNT - 1);
  }
  return crc16(bytes, 0, bytes.length) & (SLOT_COUNT - 1);
}

/** Commands that name no key: they may go to any node. */
const KEYLESS = new Set([
  'auth',
  'hello',
  'select',
  'ping',
  'echo',
  'quit',
  'reset',
  'info',
  'time',
  'dbsize',
  'lastsave',
  'save',
  'bgsave',
  'bgrewriteaof',
  'shutdown',
  'flushall',
  'flushdb',
  'randomkey',
  'scan',
  'keys',
  'wait',
  'waitaof',
  'multi',
  'exec',
  'discard',
  'unwatch',
  'readonly',
  'readwrite',
  'asking',
  'cluster',
  'config',
  'client',
  'command',
  'debug',
  'monitor',
  'slowlog',
  'latency',
  'acl',
  'module',
  'script',
  'function',
  'role',
  'replicaof',
  'slaveof',
  'swapdb',
  'failover',
  'lolwut',
  'publish',
  'spublish',
  'pubsub',
  'subscribe',
  'unsubscribe',
  'psubscribe',
  'punsubscribe',
  'ssubscribe',
  'sunsubscribe',
  'sync',
  'psync',
  'memory',
  'object',
  'xinfo',
  'xgroup',
]);

/** Commands whose key comes after a count of keys at this argument (none when the count is 0). */
const NUMKEYS_AT: ReadonlyMap<string, number> = new Map([
  ['eval', 1],
  ['evalsha', 1],
  ['eval_ro', 1],
  ['evalsha_ro', 1],
  ['fcall', 1],
  ['fcall_ro', 1],
  ['lmpop', 0],
  ['zmpop', 0],
  ['sintercard', 0],
  ['zintercard', 0],
  ['zunion', 0],
  ['zinter', 0],
  ['zdiff', 0],
  ['blmpop', 1],
  ['bzmpop', 1],
]);

/** Subcommand containers whose key is the argument after the subcommand. */
const KEY_AFTER_SUBCOMMAND: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['memory', new Set(['usage'])],
  ['object', new Set(['encoding', 'freq', 'idletime', 'refcount'])],
  ['xinfo', new Set(['stream', 'groups', 'consumers'])],
  ['xgroup', new Set(['create', 'setid', 'destroy', 'createconsumer', 'delconsumer'])],
]);

function text(arg: string | number | Buffer): string {
  return typeof arg === 'string' ? arg : arg.toString();
}

/**
 * Which of `args` (the arguments after the command name) is the key a cluster routes `command` by:
 * args[0] for most commands; after numkeys for EVAL/EVALSHA/FCALL and the *MPOP/Z* set commands;
 * after STREAMS for XREAD/XREADGROUP; after the subcommand for MEMORY USAGE, OBJECT, XINFO, XGROUP.
 * null when the command names no key (any node will do).
 */
export function firstKeyIndex(command: string, args: readonly (string | number | Buffer)[]): number | null {
  const name = command.toLowerCase();
  const subcommands = KEY_AFTER_SUBCOMMAND.get(name);
  if (subcommands !== undefined) {
    return args.length >= 2 && subcommands.has(text(args[0]!).toLowerCase()) ? 1 : null;
  }
  if (KEYLESS.has(name)) return null;
  const numkeysAt = NUMKEYS_AT.get(name);
  if (numkeysAt !== undefined) {
    const count = args.length > numkeysAt ? Number(text(args[numkeysAt]!)) : 0;
    return Number.isInteger(count) && count > 0 && args.length > numkeysAt + 1 ? numkeysAt + 1 : null;
  }
  if (name === 'xread' || name === 'xreadgroup') {
    const streams = args.findIndex((arg) => text(arg).toLowerCase() === 'streams');
    return streams !== -1 && streams + 1 < args.length ? streams + 1 : null;
  }
  return args.length > 0 ? 0 : null;
}

/** A -MOVED or -ASK error: the slot lives (for good, or for this one command) at host:port. */
export interface Redirect {
  kind: 'moved' | 'ask';
  slot: number;
  /** As the node wrote it; '' or '?' means the node that sent the redirect. IPv6 without brackets. */
  host: string;
  port: number;
}

const REDIRECT = /^-?(MOVED|ASK) (\d{1,5}) (.*):(\d{1,5})\s*$/;

/** Reads `MOVED 3999 127.0.0.1:6381` / `ASK 3999 [::1]:6381` (with or without the leading '-'); null if it is no redirect. */
export function parseRedirect(message: string): Redirect | null {
  const match = REDIRECT.exec(message);
  if (match === null) return null;
  const slot = Number(match[2]);
  const port = Number(match[4]);
  if (slot >= SLOT_COUNT || port < 1 || port > 65_535) return null;
  let host = match[3]!;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (/[\s[\]]/.test(host)) return null;
  return { kind: match[1] === 'MOVED' ? 'moved' : 'ask', slot, host, port };
}
