import { END, NONE, PromiseReceiver } from './channel-ops.js';
import type { ChannelCore } from './channel-ops.js';

/**
 * Async code reading a channel: what `channel[Symbol.asyncIterator]()` returns. Each `next()` is a
 * promise of the next item; `return()` (leaving a `for await` loop) stops this reader only, and
 * ends the `next()` calls still waiting.
 */
export class ChannelReader<T> implements AsyncIterableIterator<T, undefined> {
  private stopped = false;
  private readonly waiting = new Set<PromiseReceiver<T>>();

  constructor(private readonly channel: ChannelCore<T>) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.stopped) return Promise.resolve(END);
    const item = this.channel.pull();
    if (item !== NONE) return Promise.resolve({ done: false, value: item });
    if (this.channel.closed) return Promise.resolve(END);
    return new Promise((resolve) => {
      const receiver = new PromiseReceiver<T>((result) => {
        this.waiting.delete(receiver);
        resolve(result);
      });
      this.waiting.add(receiver);
      this.channel.receivers.push(receiver);
    });
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.stopped = true;
    for (const receiver of this.waiting) {
      this.channel.receivers.remove(receiver);
      receiver.closeWait();
    }
    return Promise.resolve(END);
  }
}
