/**
 * Channel ping-pong: a coroutine sends i on one bounded channel (capacity 1), a second receives it and
 * sends it back on another; the figure is one round trip. Each value must come back as sent. The
 * async/await form passes values through a minimal promise mailbox written here (Node has no channel).
 */
import { Effect, Fiber, Queue } from 'effect';
import { createChannel, run as effectionRun, spawn as effectionSpawn } from 'effection';
import type { Operation as EffectionOperation } from 'effection';
import { loadSubject } from '../../lib/subject.js';
import { expectEqual, nsPerItem } from '../countdown.js';
import { asyncRatio, unavailableRunner } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { NOT_IN_THIS_BUILD, subjectChannel } from '../optional-api.js';
import type { BenchChannel, ChannelConstructor } from '../optional-api.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler, spawn } = await loadSubject();
const Channel = await subjectChannel();

const scheduler = new Scheduler({ name: 'channel', deadline: 0 });
const CAPACITY = 1;

/** One-way promise mailbox: `send` hands the value to a waiting receiver or queues it. */
class Mailbox<T> {
  private readonly items: T[] = [];
  private waiting: ((value: T) => void) | null = null;

  send(value: T): void {
    const receiver = this.waiting;
    if (receiver === null) {
      this.items.push(value);
      return;
    }
    this.waiting = null;
    receiver(value);
  }

  receive(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    return new Promise<T>((resolve) => (this.waiting = resolve));
  }
}

async function asyncPingPong(n: number): Promise<number> {
  const ping = new Mailbox<number>();
  const pong = new Mailbox<number>();
  const echo = (async () => {
    for (let i = 0; i < n; i++) pong.send(await ping.receive());
  })();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    ping.send(i);
    const value = await pong.receive();
    expectEqual('the value sent back', value, i);
    sum += value;
  }
  await echo;
  return sum;
}

function* echo(ping: BenchChannel<number>, pong: BenchChannel<number>, n: number): Generator<unknown, void, unknown> {
  for (let i = 0; i < n; i++) yield* pong.send(yield* ping.receive());
}

function* pingPong(Chan: ChannelConstructor, n: number): Generator<unknown, number, unknown> {
  const ping = new Chan<number>(CAPACITY);
  const pong = new Chan<number>(CAPACITY);
  const echoer = yield* spawn(echo, ping, pong, n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    yield* ping.send(i);
    const value = yield* pong.receive();
    expectEqual('the value sent back', value, i);
    sum += value;
  }
  yield* echoer;
  return sum;
}

function* effectionPingPong(n: number): EffectionOperation<number> {
  const ping = createChannel<number, void>();
  const pong = createChannel<number, void>();
  const pings = yield* ping;
  const pongs = yield* pong;
  const echoer = yield* effectionSpawn(function* () {
    for (let i = 0; i < n; i++) {
      const next = yield* pings.next();
      if (next.done === true) throw new Error('the ping channel closed');
      yield* pong.send(next.value);
    }
  });
  let sum = 0;
  for (let i = 0; i < n; i++) {
    yield* ping.send(i);
    const next = yield* pongs.next();
    if (next.done === true) throw new Error('the pong channel closed');
    expectEqual('the value sent back', next.value, i);
    sum += next.value;
  }
  yield* echoer;
  return sum;
}

function effectPingPong(n: number): Effect.Effect<number> {
  return Effect.gen(function* () {
    const ping = yield* Queue.bounded<number>(CAPACITY);
    const pong = yield* Queue.bounded<number>(CAPACITY);
    const echoer = yield* Effect.forkChild(
      Effect.gen(function* () {
        for (let i = 0; i < n; i++) yield* Queue.offer(pong, yield* Queue.take(ping));
      }),
    );
    let sum = 0;
    for (let i = 0; i < n; i++) {
      yield* Queue.offer(ping, i);
      const value = yield* Queue.take(pong);
      expectEqual('the value sent back', value, i);
      sum += value;
    }
    yield* Fiber.join(echoer);
    return sum;
  });
}

function pingPongRunner(fields: Omit<Runner, 'measure'>, run: (n: number) => PromiseLike<number>): Runner {
  return {
    ...fields,
    async measure(n) {
      const start = process.hrtime.bigint();
      const sum = await run(n);
      const ns = nsPerItem(start, n);
      expectEqual(`the sum of ${n} round trips`, sum, (n * (n - 1)) / 2);
      return ns;
    },
  };
}

export function channelCase(sizes: Sizes): Case {
  const n = sizes.pings;
  const cosocket: Omit<Runner, 'measure'> = {
    name: 'cosocket',
    library: 'cosocket',
    what: '`new Channel(1)`: `yield* ch.send(i)`, `yield* ch.receive()`',
    items: n,
    headline: true,
  };
  return {
    key: 'channel',
    title: `Channel ping-pong, ${n.toLocaleString('en-US')} round trips through two channels of capacity ${CAPACITY}`,
    unit: 'ns/round trip',
    digits: 0,
    warmUp: true,
    runners: [
      pingPongRunner(
        {
          name: 'async fn',
          library: 'async/await',
          what: 'two async fns through a promise mailbox (unbounded, no backpressure)',
          items: n,
          headline: true,
        },
        asyncPingPong,
      ),
      Channel === null
        ? unavailableRunner(cosocket, NOT_IN_THIS_BUILD)
        : pingPongRunner(cosocket, (count) => scheduler.go(pingPong, Channel, count)),
      pingPongRunner(
        {
          name: 'Effection',
          library: 'Effection',
          what: '`createChannel()`: `yield* ch.send(i)`, `yield* subscription.next()` (no bound: a channel has none)',
          items: effectionShare(n, sizes),
          headline: true,
        },
        (count) => effectionRun(() => effectionPingPong(count)),
      ),
      pingPongRunner(
        {
          name: 'Effect',
          library: 'Effect',
          what: '`Queue.bounded(1)`: `yield* Queue.offer(q, i)`, `yield* Queue.take(q)`',
          items: n,
          headline: true,
        },
        (count) => Effect.runPromise(effectPingPong(count)),
      ),
    ],
    ratios: [asyncRatio('channel')],
  };
}
