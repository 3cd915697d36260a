import { RedisReplyError, toError } from '../../src/errors/index.js';
import { NEED_MORE } from '../tcp/index.js';
import type { ByteQueue, QueueParser } from '../tcp/index.js';
import { PushReply, RespReader } from './resp.js';

/** A message on a subscribed channel or pattern, as `yield* red.readReply()` answers it. */
export type PubSubMessage =
  | [kind: 'message', channel: string, payload: string]
  | [kind: 'pmessage', pattern: string, channel: string, payload: string]
  | [kind: 'smessage', channel: string, payload: string];

/** One pipeline/transaction result: the error of that command, or its reply. */
export type BatchResult = [error: Error | null, reply: unknown];

/** Turns a raw reply into what a typed command returns (hgetall's object, ...). */
export type ReplyMap = (reply: unknown) => unknown;

/** What the reply (or replies) of the command being waited for become. */
export const ONE = 0;
export const MANY = 1;
export const TRANSACTION = 2;
export const CONFIRM = 3;
export const MESSAGE = 4;

const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage']);
/** Each (un)subscribe confirmation and the kind of subscription it counts. */
const SUBSCRIPTION_FAMILY: Readonly<Record<string, 'subscribe' | 'psubscribe' | 'ssubscribe'>> = {
  subscribe: 'subscribe',
  unsubscribe: 'subscribe',
  psubscribe: 'psubscribe',
  punsubscribe: 'psubscribe',
  ssubscribe: 'ssubscribe',
  sunsubscribe: 'ssubscribe',
};

function isMessage(reply: unknown): reply is PubSubMessage {
  return Array.isArray(reply) && typeof reply[0] === 'string' && MESSAGE_KINDS.has(reply[0]);
}

/**
 * The replies of one dedicated connection, read straight from its cosocket's byte queue: what the
 * waiting command gets, replies still owed to commands that timed out (read and dropped first), and
 * pub/sub messages (queued for readReply). One per connection use, reused for every command.
 */
export class ReplyCollector implements QueueParser {
  private readonly reader: RespReader;
  /** Replies of earlier commands that timed out: dropped when they come. */
  owed = 0;
  /** What this connection is subscribed to, by kind: channels, patterns, shard channels. */
  private readonly subscribed = {
    subscribe: new Set<string>(),
    psubscribe: new Set<string>(),
    ssubscribe: new Set<string>(),
  };
  readonly messages: PubSubMessage[] = [];

  private kind = ONE;
  /** Replies the current command still waits for. */
  private expected = 0;
  private results: unknown[] = [];
  private finish: ReplyMap | null = null;
  private lastCount = 0;

  constructor(peer: string, maxBulk: number | undefined) {
    this.reader = new RespReader(peer, maxBulk);
  }

  /** Channels, patterns and shard channels subscribed to. */
  get subscriptions(): number {
    const { subscribe, psubscribe, ssubscribe } = this.subscribed;
    return subscribe.size + psubscribe.size + ssubscribe.size;
  }

  /** Subscriptions of the kind an UN(P|S)SUBSCRIBE without names ends: one confirmation comes for each (one if none). */
  subscriptionsEndedBy(unsubscribe: string): number {
    return Math.max(1, this.subscribed[SUBSCRIPTION_FAMILY[unsubscribe] ?? 'subscribe'].size);
  }

  /** Why the connection cannot be handed to someone else, or null: replies owed or a reply half read. */
  get unfinished(): string | null {
    const owed = this.owed + (this.kind === MESSAGE ? 0 : this.expected);
    if (owed > 0) return `${owed} repl${owed === 1 ? 'y' : 'ies'} still owed to a command that timed out`;
    return this.reader.midReply ? 'a reply is half read' : null;
  }

  /**
   * Waits for `replies` replies of `kind`; `finish` turns the result (the reply, or a batch's results)
   * into the typed one. What `finish` throws is the command's error; the connection stays usable.
   */
  expect(kind: number, replies: number, finish: ReplyMap | null): void {
    if (this.expected > 0 && this.kind !== MESSAGE) this.owed += this.expected;
    this.kind = kind;
    this.expected = replies;
    this.finish = finish;
    this.results = [];
  }

  parse(queue: ByteQueue): unknown {
    for (;;) {
      if (this.kind === MESSAGE && this.messages.length > 0) {
        this.expected = 0;
        return this.messages.shift();
      }
      const reply = this.reader.read(queue);
      if (reply === NEED_MORE) return NEED_MORE;
      if (reply instanceof PushReply) {
        const done = this.push(reply.items);
        if (done !== NEED_MORE) return done;
        continue;
      }
      if (this.subscriptions > 0 && isMessage(reply)) {
        this.messages.push(reply);
        continue;
      }
      if (this.owed > 0) {
        this.owed--;
        continue;
      }
      // nothing asked (a stray reply), or readReply, which waits for messages only
      if (this.expected === 0 || this.kind === MESSAGE) continue;
      const done = this.take(reply);
      if (done !== NEED_MORE) return done;
    }
  }

  /** A RESP3 push: a message is queued; a (un)subscribe confirmation may finish the waiting command. */
  private push(items: unknown[]): unknown {
    if (isMessage(items)) this.messages.push(items);
    else if (
      typeof items[0] === 'string' &&
      Object.hasOwn(SUBSCRIPTION_FAMILY, items[0]) &&
      this.kind === CONFIRM &&
      this.expected > 0
    ) {
      return this.take(items);
    }
    return NEED_MORE;
  }

  /** One reply of the waiting command; its result once the last one came, else NEED_MORE. */
  private take(reply: unknown): unknown {
    switch (this.kind) {
      case ONE:
        this.expected = 0;
        return reply instanceof RedisReplyError ? reply : this.finished(reply);
      case CONFIRM: {
        if (Array.isArray(reply) && typeof reply[2] === 'number') {
          this.confirmed(String(reply[0]), reply[1]);
          this.lastCount = reply[2];
        }
        if (--this.expected > 0) return NEED_MORE;
        return reply instanceof RedisReplyError ? reply : this.lastCount;
      }
      default:
        this.results.push(reply);
        if (--this.expected > 0) return NEED_MORE;
        return this.finished(this.kind === MANY ? this.batch(this.results) : this.transaction(this.results));
    }
  }

  private confirmed(kind: string, name: unknown): void {
    if (typeof name !== 'string') return; // "unsubscribe" from nothing: name null
    if (!Object.hasOwn(SUBSCRIPTION_FAMILY, kind)) return;
    const family = SUBSCRIPTION_FAMILY[kind]!;
    const set = this.subscribed[family];
    if (kind.includes('unsubscribe')) set.delete(name);
    else set.add(name);
  }

  private finished(result: unknown): unknown {
    const finish = this.finish;
    if (finish === null || result instanceof Error) return result;
    try {
      return finish(result);
    } catch (err) {
      return toError(err);
    }
  }

  private batch(replies: unknown[]): BatchResult[] {
    return replies.map((reply) => (reply instanceof RedisReplyError ? [reply, null] : [null, reply]));
  }

  /** MULTI's +OK, a +QUEUED (or error) per command, then EXEC's array (null: a WATCHed key changed). */
  private transaction(replies: unknown[]): BatchResult[] | null | RedisReplyError {
    const exec = replies[replies.length - 1];
    if (replies[0] instanceof RedisReplyError) return replies[0];
    if (exec instanceof RedisReplyError) {
      const queued = replies.slice(1, -1).find((r): r is RedisReplyError => r instanceof RedisReplyError);
      return queued === undefined ? exec : new RedisReplyError(`${exec.message} (${queued.message})`);
    }
    if (exec === null) return null;
    return this.batch(exec as unknown[]);
  }
}
