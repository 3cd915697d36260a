import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  Channel,
  ChannelClosedError,
  InvalidArgumentError,
  OutsideCoroutineError,
  Scheduler,
  all,
  each,
  race,
  self,
  sleep,
} from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Channel', () => {
  it('buffers up to its capacity, then makes the sender wait (backpressure); FIFO', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<number>(2);
    const sent: number[] = [];
    const producer = scheduler.go(function* () {
      for (let i = 1; i <= 4; i++) {
        yield* ch.send(i);
        sent.push(i);
      }
    });
    assert.deepEqual(sent, [1, 2], 'two fit in the buffer, the third waits');
    assert.equal(ch.size, 2);
    assert.equal(ch.waitingSenders, 1);
    const got: number[] = [];
    const consumer = scheduler.go(function* () {
      for (let i = 0; i < 4; i++) got.push(yield* ch.receive());
    });
    await Promise.all([producer, consumer]);
    assert.deepEqual(got, [1, 2, 3, 4]);
    assert.deepEqual(sent, [1, 2, 3, 4]);
    assert.equal(ch.size, 0);
  });

  it('capacity 0 is a rendezvous: a send waits until a receiver takes its item', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<string>(0);
    const log: string[] = [];
    const sender = scheduler.go(function* () {
      yield* ch.send('a');
      log.push('send returned');
    });
    await tick(5);
    assert.equal(log.length, 0, 'nobody received yet');
    assert.equal(ch.trySend('b'), false, 'no room and no receiver');
    const receiver = scheduler.go(function* () {
      const item = yield* ch.receive();
      log.push(`received ${item}`);
    });
    await Promise.all([sender, receiver]);
    assert.deepEqual(log.sort(), ['received a', 'send returned']);
  });

  it('a receive waits while empty; trySend hands straight to it', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<number>(1);
    const receiver = scheduler.go(function* () {
      return yield* ch.receive();
    });
    await tick(5);
    assert.equal(receiver.status, 'waiting');
    assert.equal(ch.waitingReceivers, 1);
    assert.equal(ch.trySend(7), true);
    assert.equal(await receiver, 7);
  });

  it('close: queued items drain, then receive() throws and next() is done; sends fail', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<number>(2);
    const waitingSender = scheduler.go(function* () {
      yield* ch.send(1);
      yield* ch.send(2);
      yield* ch.send(3); // parked: the channel is full
    });
    await tick(2);
    ch.close();
    ch.close(); // idempotent
    await assert.rejects(waitingSender, ChannelClosedError);
    assert.throws(() => ch.trySend(4), /send on channel 'channel': the channel is closed/);
    const drained = await scheduler.go(function* () {
      const items: number[] = [];
      for (let r = yield* ch.next(); !r.done; r = yield* ch.next()) items.push(r.value);
      return items;
    });
    assert.deepEqual(drained, [1, 2], "a parked sender's item is not delivered");
    await assert.rejects(
      scheduler.go(function* () {
        yield* ch.receive();
      }),
      (err: unknown) => err instanceof ChannelClosedError && /closed and drained/.test(err.message),
    );
    await assert.rejects(
      scheduler.go(function* () {
        yield* ch.send(5);
      }),
      ChannelClosedError,
    );
  });

  it('close ends the receivers waiting on an empty channel', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<number>(0, 'jobs');
    const viaNext = scheduler.go(function* () {
      return yield* ch.next();
    });
    const viaReceive = scheduler.go(function* () {
      return yield* ch.receive();
    });
    await tick(2);
    ch.close();
    assert.deepEqual(await viaNext, { done: true, value: undefined });
    await assert.rejects(viaReceive, /receive on channel 'jobs'/);
  });

  describe('cancellation in the middle of a send or a receive', () => {
    it('a receiver cancelled while waiting leaves the queue: the item goes to the next one', async () => {
      const scheduler = new Scheduler();
      const ch = new Channel<string>(0);
      const first = scheduler.go(function* () {
        return yield* ch.receive();
      });
      const second = scheduler.go(function* () {
        return yield* ch.receive();
      });
      await tick(2);
      first.cancel();
      await assert.rejects(first, CancelledError);
      assert.equal(ch.waitingReceivers, 1);
      assert.equal(ch.trySend('x'), true);
      assert.equal(await second, 'x');
    });

    it('an item handed to a receiver that is cancelled before it runs goes to the next receiver', async () => {
      const scheduler = new Scheduler();
      const ch = new Channel<string>(0);
      const first: Task<string> = scheduler.go(function* () {
        return yield* ch.receive();
      });
      const second = scheduler.go(function* () {
        return yield* ch.receive();
      });
      await tick(2);
      // in one step: the item is handed to `first`, which is cancelled before it can run
      await scheduler.go(function* () {
        yield* ch.send('only item');
        first.cancel();
      });
      await assert.rejects(first, CancelledError);
      assert.equal(await second, 'only item');
    });

    it('... or back to the front of the queue when nobody else waits', async () => {
      const scheduler = new Scheduler();
      const ch = new Channel<string>(1);
      const first = scheduler.go(function* () {
        return yield* ch.receive();
      });
      await tick(2);
      await scheduler.go(function* () {
        yield* ch.send('a'); // handed to `first`
        yield* ch.send('b'); // queued
        first.cancel();
      });
      await assert.rejects(first, CancelledError);
      assert.equal(ch.size, 2);
      const items = await scheduler.go(function* () {
        return [yield* ch.receive(), yield* ch.receive()];
      });
      assert.deepEqual(items, ['a', 'b'], 'the item handed back comes first');
    });

    it('a receive that loses a race gives its item back', async () => {
      const scheduler = new Scheduler();
      const ch = new Channel<string>(0);
      const racer = scheduler.go(function* () {
        return yield* race({ item: ch.receive(), timer: sleep(60_000) });
      });
      await tick(2);
      // the item reaches the race's receive branch, and the race is cancelled in the same step
      await scheduler.go(function* () {
        yield* ch.send('x');
        racer.cancel();
      });
      await assert.rejects(racer, CancelledError);
      assert.equal(ch.size, 1);
      assert.equal(await scheduler.go(() => ch.receive()), 'x');
    });

    it("a cancelled sender's item is not delivered", async () => {
      const scheduler = new Scheduler();
      const ch = new Channel<string>(0);
      const sender = scheduler.go(function* () {
        yield* ch.send('withdrawn');
      });
      await tick(2);
      sender.cancel();
      await assert.rejects(sender, CancelledError);
      assert.equal(ch.waitingSenders, 0);
      assert.equal(ch.trySend('later'), false);
      const receiver = scheduler.go(function* () {
        return yield* ch.receive();
      });
      await tick(2);
      assert.equal(ch.trySend('later'), true);
      assert.equal(await receiver, 'later');
    });

    it('an item reaching a receive whose coroutine is unwinding, behind I/O, is kept', async () => {
      // fairnessSteps 1: the coroutine, cancelled in the step that parks its receive, waits for
      // setImmediate before it unwinds; an item sent meanwhile must not be lost
      const scheduler = new Scheduler({ fairnessSteps: 1 });
      const ch = new Channel<string>(0);
      const unwinding = scheduler.go(function* () {
        const me = yield* self();
        me.cancel();
        return yield* ch.receive();
      });
      assert.equal(ch.waitingReceivers, 1);
      assert.equal(ch.trySend('kept'), true);
      await assert.rejects(unwinding, CancelledError);
      assert.equal(ch.size, 1);
      assert.equal(await new Scheduler().go(() => ch.receive()), 'kept');
    });

    it('loses and duplicates nothing when senders and receivers are cancelled at random', async () => {
      const scheduler = new Scheduler({ deadline: 0 });
      const ch = new Channel<number>(3);
      const sendReturned: number[] = [];
      const received: number[] = [];
      const tasks: Task<unknown>[] = [];
      let seed = 7;
      const random = (): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed / 2_147_483_648;
      };
      for (let p = 0; p < 4; p++) {
        tasks.push(
          scheduler.go(function* producer(): Operation<void> {
            for (let i = 0; i < 200; i++) {
              const item = p * 1000 + i;
              yield* ch.send(item);
              sendReturned.push(item);
              if (random() < 0.2) yield* sleep(0);
            }
          }),
        );
      }
      function* consumer(): Operation<void> {
        for (;;) {
          received.push(yield* ch.receive());
          if (random() < 0.3) yield* sleep(0);
        }
      }
      for (let round = 0; round < 40; round++) {
        const consumers = [scheduler.go(consumer), scheduler.go(consumer), scheduler.go(consumer)];
        tasks.push(...consumers);
        // cancel some at once (possibly right after an item was handed to them), some later
        for (const c of consumers) if (random() < 0.5) c.cancel();
        if (round % 5 === 0) {
          const victim = tasks[Math.floor(random() * 4)]!;
          if (!victim.done && random() < 0.1) victim.cancel(); // now and then a producer
        }
        await new Promise((r) => setImmediate(r));
        for (const c of consumers) c.cancel();
      }
      ch.close(); // producers still parked fail: their items count as not sent
      await Promise.allSettled(tasks.slice(0, 4));
      const rest = await scheduler.go(function* () {
        const items: number[] = [];
        for (let r = yield* ch.next(); !r.done; r = yield* ch.next()) items.push(r.value);
        return items;
      });
      await Promise.allSettled(tasks);
      const all = [...received, ...rest];
      assert.equal(new Set(all).size, all.length, 'an item was received twice');
      const got = new Set(all);
      const lost = sendReturned.filter((item) => !got.has(item));
      assert.deepEqual(lost, [], 'items whose send returned were never received');
      assert.ok(sendReturned.length > 100, `only ${sendReturned.length} sends went through`);
    });
  });

  it('many items through a rendezvous channel arrive in order', async () => {
    const scheduler = new Scheduler({ deadline: 0 });
    const ping = new Channel<number>(0);
    const pong = new Channel<number>(0);
    const n = 10_000;
    const echo = scheduler.go(function* () {
      for (let i = 0; i < n; i++) yield* pong.send((yield* ping.receive()) + 1);
    });
    const total = await scheduler.go(function* () {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        yield* ping.send(i);
        sum += yield* pong.receive();
      }
      return sum;
    });
    await echo;
    assert.equal(total, (n * (n - 1)) / 2 + n);
  });

  it('async code reads it with for await; leaving the loop stops that reader only', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<number>(1);
    const producer = scheduler.go(function* () {
      for (let i = 0; i < 5; i++) yield* ch.send(i);
      ch.close();
    });
    const firstTwo: number[] = [];
    for await (const item of ch) {
      firstTwo.push(item);
      if (firstTwo.length === 2) break;
    }
    const rest: number[] = [];
    for await (const item of ch) rest.push(item);
    await producer;
    assert.deepEqual(firstTwo, [0, 1]);
    assert.deepEqual(rest, [2, 3, 4]);

    const open = new Channel<number>(0);
    const reader = open[Symbol.asyncIterator]();
    const pending = reader.next();
    assert.equal(open.waitingReceivers, 1);
    await reader.return!();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.equal(open.waitingReceivers, 0, 'the stopped reader left the queue');
    assert.equal(open.closed, false);
  });

  it('explains a bad capacity', () => {
    assert.throws(() => new Channel(-1), InvalidArgumentError);
    assert.throws(() => new Channel(1.5), /whole number >= 0 or Infinity/);
    assert.doesNotThrow(() => new Channel(Infinity));
  });
});

describe('each', () => {
  async function* numbers(log: string[], delay = 1): AsyncGenerator<number> {
    try {
      for (let i = 0; ; i++) {
        await tick(delay);
        yield i;
      }
    } finally {
      log.push('source returned');
    }
  }

  it('reads an async iterable from a coroutine; the source is returned when the coroutine ends early', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      const items = yield* each(numbers(log));
      const seen: number[] = [];
      for (let r = yield* items.next(); !r.done; r = yield* items.next()) {
        seen.push(r.value);
        if (seen.length === 3) break;
      }
      return seen;
    });
    assert.deepEqual(await task, [0, 1, 2]);
    assert.deepEqual(log, ['source returned'], 'return() ran before the coroutine settled');
  });

  it('reads to the end of a finite source', async () => {
    const scheduler = new Scheduler();
    async function* three(): AsyncGenerator<string> {
      yield 'a';
      yield 'b';
      yield 'c';
    }
    const task = scheduler.go(function* () {
      const items = yield* each(three());
      const seen: string[] = [];
      for (let r = yield* items.next(); !r.done; r = yield* items.next()) seen.push(r.value);
      assert.deepEqual(yield* items.next(), { done: true, value: undefined });
      return seen;
    });
    assert.deepEqual(await task, ['a', 'b', 'c']);
  });

  it('a next() that loses a race against a timeout loses no item: the next next() gets it', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      const items = yield* each(numbers(log, 15));
      const seen: number[] = [];
      let timeouts = 0;
      while (seen.length < 4) {
        const step = yield* race({ item: items.next(), timeout: sleep(4) });
        if (!('item' in step)) timeouts++;
        else if (step.item.done)
          break; // the source must not end: it counts forever
        else seen.push(step.item.value);
      }
      return { seen, timeouts };
    });
    const { seen, timeouts } = await task;
    assert.deepEqual(seen, [0, 1, 2, 3], 'an item was lost or read twice');
    assert.ok(timeouts > 0, 'no next() ever lost its race');
    assert.deepEqual(log, ['source returned']);
  });

  it('readers in several coroutines take turns, each item to one of them', async () => {
    const scheduler = new Scheduler();
    async function* upTo(n: number): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) {
        await tick(1);
        yield i;
      }
    }
    const got = await scheduler.go(function* () {
      const items = yield* each(upTo(20));
      function* reader(): Operation<number[]> {
        const mine: number[] = [];
        for (let r = yield* items.next(); !r.done; r = yield* items.next()) mine.push(r.value);
        return mine;
      }
      return yield* all([reader(), reader(), reader()]);
    });
    const merged = got.flat().sort((a, b) => a - b);
    assert.deepEqual(
      merged,
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('cancelled while waiting for an item: the async iterator is returned', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    let returned = 0;
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<number>>(() => {}), // never yields
        return: () => {
          returned++;
          log.push('return() called');
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    const task = scheduler.go(function* () {
      const items = yield* each(source);
      yield* items.next();
    });
    await tick(5);
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.equal(returned, 1);
    assert.deepEqual(log, ['return() called']);
  });

  it("a source's failure is thrown into the coroutine", async () => {
    const scheduler = new Scheduler();
    async function* failing(): AsyncGenerator<number> {
      yield 1;
      throw new Error('stream broke');
    }
    const task = scheduler.go(function* () {
      const items = yield* each(failing());
      yield* items.next();
      yield* items.next();
    });
    await assert.rejects(task, /stream broke/);
  });

  it('reads a channel, cancellation-safe like receive()', async () => {
    const scheduler = new Scheduler();
    const ch = new Channel<number>(4);
    const total = scheduler.go(function* () {
      const items = yield* each(ch);
      let sum = 0;
      for (let r = yield* items.next(); !r.done; r = yield* items.next()) sum += r.value;
      return sum;
    });
    for (let i = 1; i <= 4; i++) ch.trySend(i);
    ch.close();
    assert.equal(await total, 10);
  });

  it('explains misuse', async () => {
    assert.throws(() => each(42 as never), /AsyncIterable or a Channel, got number/);
    assert.throws(() => each(new Channel(1)).next(), OutsideCoroutineError);
  });
});
