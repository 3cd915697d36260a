import { UnexpectedReplyError } from '../../src/errors/index.js';

/**
 * Reply mappers of the command table: each turns a raw reply (RESP2 as ioredis or the RESP parser gives
 * it, or its RESP3 form: maps, nested pairs) into the result type the table promises, or throws
 * UnexpectedReplyError naming what it got. Null (a nil reply) passes through wherever the type allows it.
 */

/** One stream entry: its id and its fields and values, flat as Redis sends them. */
export type StreamEntry = [id: string, fields: string[]];
/** XREADGROUP re-reads pending history: an entry deleted since has no fields. */
export type PendingStreamEntry = [id: string, fields: string[] | null];
/** XREAD: per stream, the entries read. */
export type StreamRead = Array<[stream: string, entries: StreamEntry[]]>;
/** XREADGROUP: per stream, the entries read (fields null for an entry deleted since it was delivered). */
export type StreamGroupRead = Array<[stream: string, entries: PendingStreamEntry[]]>;
/** XAUTOCLAIM: the cursor to continue from, the claimed entries, the ids that no longer exist. */
export type StreamAutoclaim = [next: string, claimed: StreamEntry[], deleted: string[]];
/** XPENDING key group: how many are pending, the lowest and highest id, pending counts per consumer. */
export type StreamPendingSummary = [
  count: number,
  lowest: string | null,
  highest: string | null,
  consumers: Array<[consumer: string, count: string]> | null,
];
/** XPENDING key group start end count: one pending entry. */
export type StreamPendingEntry = [id: string, consumer: string, idleMs: number, deliveries: number];
/** ZPOPMIN/ZPOPMAX: members with their scores. */
export type ScoredMember = [member: string, score: number];
/** BZPOPMIN/BZPOPMAX: the key it came from, the member, its score. */
export type KeyedScoredMember = [key: string, member: string, score: number];
/** SCAN, HSCAN, SSCAN, ZSCAN: the cursor to continue from ('0' when done) and this batch. */
export type ScanPage = [cursor: string, items: string[]];

function describe(reply: unknown): string {
  if (reply === null) return 'nil';
  if (Array.isArray(reply)) return `an array of ${reply.length}`;
  if (Buffer.isBuffer(reply)) return `a ${reply.length}-byte buffer`;
  if (reply instanceof Map) return `a map of ${reply.size}`;
  if (typeof reply === 'object') return 'an object';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects returned above: a primitive here
  const text = String(reply);
  return `${typeof reply} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
}

/** The command whose reply is being mapped: mappers run synchronously inside mapReply, one at a time. */
let mappingCommand = '';

function unexpected(what: string, reply: unknown): never {
  throw new UnexpectedReplyError(mappingCommand, `expected ${what}, got ${describe(reply)}`);
}

/** Applies a command's mapper; a reply of the wrong shape is an UnexpectedReplyError naming the command. */
export function mapReply(command: string, map: (reply: unknown) => unknown, reply: unknown): unknown {
  mappingCommand = command;
  return map(reply);
}

function text(reply: unknown, what: string): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString();
  if (typeof reply === 'number') return String(reply);
  return unexpected(what, reply);
}

function array(reply: unknown, what: string): unknown[] {
  if (Array.isArray(reply)) return reply;
  return unexpected(what, reply);
}

/** An integer reply 0/1 (or a RESP3 boolean) as a boolean. */
export function toBoolean(reply: unknown): boolean {
  if (reply === 1 || reply === true) return true;
  if (reply === 0 || reply === false) return false;
  return unexpected('0 or 1', reply);
}

export function toBooleans(reply: unknown): boolean[] {
  return array(reply, 'an array of 0/1').map(toBoolean);
}

/** A float as Redis prints it ("3.5", "inf", "-inf") or a RESP3 double. */
export function toNumber(reply: unknown): number {
  if (typeof reply === 'number') return reply;
  const value = text(reply, 'a number');
  const lower = value.toLowerCase();
  if (lower === 'inf' || lower === '+inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  const parsed = value.trim() === '' ? NaN : Number(value);
  if (Number.isNaN(parsed) && lower !== 'nan') return unexpected('a number', reply);
  return parsed;
}

export function toNumberOrNull(reply: unknown): number | null {
  return reply === null ? null : toNumber(reply);
}

export function toNumbersOrNulls(reply: unknown): Array<number | null> {
  return array(reply, 'an array of numbers').map(toNumberOrNull);
}

/** A RESP3 map reply as the parser may give it (object or Map), or RESP2's flat [k1, v1, k2, v2]. */
function entriesOf(reply: unknown, what: string): Array<[unknown, unknown]> {
  if (reply instanceof Map) return [...reply.entries()];
  if (Array.isArray(reply)) {
    if (reply.length % 2 !== 0) return unexpected(`${what} (an even number of elements)`, reply);
    const pairs: Array<[unknown, unknown]> = [];
    for (let i = 0; i < reply.length; i += 2) pairs.push([reply[i], reply[i + 1]]);
    return pairs;
  }
  if (reply !== null && typeof reply === 'object' && !Buffer.isBuffer(reply)) return Object.entries(reply);
  return unexpected(what, reply);
}

/** HGETALL: field → value, a plain object; a field named "__proto__" is an own field like any other. */
export function toRecord(reply: unknown): Record<string, string> {
  const record: Record<string, string> = {};
  for (const [field, value] of entriesOf(reply, 'field/value pairs')) {
    const name = text(field, 'a field name');
    const content = text(value, 'a field value');
    if (name === '__proto__')
      Object.defineProperty(record, name, { value: content, enumerable: true, writable: true, configurable: true });
    else record[name] = content;
  }
  return record;
}

/** [member, score] pairs, from RESP2's flat list or RESP3's nested pairs. */
export function toScoredMembers(reply: unknown): ScoredMember[] {
  const items = array(reply, 'members with scores');
  if (items.length === 0) return [];
  if (Array.isArray(items[0])) {
    return items.map((pair) => {
      const [member, score] = array(pair, 'a [member, score] pair');
      return [text(member, 'a member'), toNumber(score)];
    });
  }
  // RESP3 answers ZPOPMIN key (no count) with one flat pair, as RESP2 does
  return entriesOf(items, 'members with scores').map(([member, score]) => [text(member, 'a member'), toNumber(score)]);
}

export function toKeyedScoredMember(reply: unknown): KeyedScoredMember | null {
  if (reply === null) return null;
  const [key, member, score] = array(reply, '[key, member, score]');
  return [text(key, 'a key'), text(member, 'a member'), toNumber(score)];
}

/** A list that RESP3 may nest in pairs (ZRANGE ... WITHSCORES, HRANDFIELD ... WITHVALUES): flat, as RESP2 sends it. */
export function toFlatStrings(reply: unknown): string[] {
  const items = array(reply, 'an array');
  const flat: string[] = [];
  for (const item of items) {
    if (Array.isArray(item)) for (const inner of item) flat.push(text(inner, 'a string'));
    else flat.push(text(item, 'a string'));
  }
  return flat;
}

/** HRANDFIELD: one field (or nil) without a count, a flat list with one. */
export function toFieldOrFields(reply: unknown): string | string[] | null {
  if (reply === null || typeof reply === 'string') return reply;
  return toFlatStrings(reply);
}

export function toTime(reply: unknown): [seconds: number, microseconds: number] {
  const [seconds, micros] = array(reply, '[seconds, microseconds]');
  return [toNumber(seconds), toNumber(micros)];
}

function toStreamEntry(reply: unknown): PendingStreamEntry {
  const [id, fields] = array(reply, 'a stream entry [id, fields]');
  return [text(id, 'an entry id'), fields === null ? null : toFlatStrings(fields)];
}

function toCompleteEntry(reply: unknown): StreamEntry {
  const [id, fields] = toStreamEntry(reply);
  if (fields === null) return unexpected('an entry with fields', reply);
  return [id, fields];
}

/** XRANGE, XCLAIM: entries; a nil in place of an entry (XCLAIM of one deleted meanwhile, Redis < 7) is left out. */
export function toStreamEntries(reply: unknown): StreamEntry[] {
  const entries: StreamEntry[] = [];
  for (const entry of array(reply, 'stream entries')) if (entry !== null) entries.push(toCompleteEntry(entry));
  return entries;
}

function toStreamReads(reply: unknown): Array<[string, PendingStreamEntry[]]> | null {
  if (reply === null) return null;
  // RESP2: [[stream, entries], ...]; RESP3: a map stream → entries
  const pairs = Array.isArray(reply)
    ? reply.map((pair) => array(pair, 'a [stream, entries] pair'))
    : entriesOf(reply, 'streams');
  return pairs.map(([stream, entries]) => [
    text(stream, 'a stream name'),
    array(entries, 'stream entries').map(toStreamEntry),
  ]);
}

export function toStreamRead(reply: unknown): StreamRead | null {
  const reads = toStreamReads(reply);
  if (reads === null) return null;
  return reads.map(([stream, entries]) => [
    stream,
    entries.map((entry) => (entry[1] === null ? unexpected('an entry with fields', entry) : [entry[0], entry[1]])),
  ]);
}

export function toStreamGroupRead(reply: unknown): StreamGroupRead | null {
  return toStreamReads(reply);
}

export function toStreamAutoclaim(reply: unknown): StreamAutoclaim {
  const [next, claimed, deleted] = array(reply, '[next, claimed, deleted]');
  // Redis 6.2 sends no third element
  return [
    text(next, 'a cursor'),
    array(claimed, 'claimed entries').map(toCompleteEntry),
    deleted === undefined ? [] : toFlatStrings(deleted),
  ];
}

export function toStreamPending(reply: unknown): StreamPendingSummary | StreamPendingEntry[] {
  const items = array(reply, 'an XPENDING reply');
  if (items.length === 4 && !Array.isArray(items[0])) {
    const [count, lowest, highest, consumers] = items;
    return [
      toNumber(count),
      lowest === null ? null : text(lowest, 'an entry id'),
      highest === null ? null : text(highest, 'an entry id'),
      consumers === null
        ? null
        : array(consumers, 'consumers').map((pair): [string, string] => {
            const [name, pending] = array(pair, 'a [consumer, count] pair');
            return [text(name, 'a consumer'), text(pending, 'a count')];
          }),
    ];
  }
  return items.map((entry): StreamPendingEntry => {
    const [id, consumer, idle, deliveries] = array(entry, '[id, consumer, idle, deliveries]');
    return [text(id, 'an entry id'), text(consumer, 'a consumer'), toNumber(idle), toNumber(deliveries)];
  });
}

export function toScanPage(reply: unknown): ScanPage {
  const [cursor, items] = array(reply, '[cursor, items]');
  return [text(cursor, 'a cursor'), toFlatStrings(items)];
}
