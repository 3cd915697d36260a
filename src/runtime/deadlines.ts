import { LinkedQueue } from './queue.js';
import type { QueueNode } from './queue.js';

/** Something with a deadline: told once when it passes. */
export interface Expirable {
  deadlineAt: number;
  expire(ms: number): void;
}

interface Lane<T extends Expirable> {
  readonly ms: number;
  readonly queue: LinkedQueue<T>;
  timer: NodeJS.Timeout | null;
}

/**
 * Deadlines kept the way Node keeps its own timers: one FIFO lane per distinct duration (entries of a
 * lane expire in the order they were added) and one unref'd timer per lane for its head. Adding and
 * removing are O(1) and allocate one list node instead of one Timeout per coroutine.
 */
export class DeadlineList<T extends Expirable> {
  private readonly lanes = new Map<number, Lane<T>>();

  add(item: T, ms: number): QueueNode<T> {
    const lane = this.laneOf(ms);
    item.deadlineAt = Date.now() + ms;
    const node = lane.queue.push(item);
    if (lane.timer === null) this.arm(lane, item.deadlineAt);
    return node;
  }

  /**
   * Moves an entry's deadline to `ms` from now, reusing its node (queued or not): the entry goes to the
   * tail of its lane, which keeps the lane in deadline order. No allocation, no timer call.
   */
  renew(node: QueueNode<T>, ms: number): void {
    const lane = node.queued ? this.lanes.get(ms) : undefined;
    const target = lane ?? this.laneOf(ms);
    node.value.deadlineAt = Date.now() + ms;
    target.queue.append(node);
    if (target.timer === null) this.arm(target, node.value.deadlineAt);
  }

  private laneOf(ms: number): Lane<T> {
    let lane = this.lanes.get(ms);
    if (lane === undefined) {
      lane = { ms, queue: new LinkedQueue<T>(), timer: null };
      this.lanes.set(ms, lane);
    }
    return lane;
  }

  remove(node: QueueNode<T>, ms: number): void {
    const lane = this.lanes.get(ms);
    if (lane !== undefined) lane.queue.remove(node);
  }

  private arm(lane: Lane<T>, at: number): void {
    lane.timer = setTimeout(fireLane, Math.max(1, at - Date.now()), this, lane);
    lane.timer.unref();
  }

  /** @internal */
  fire(lane: Lane<T>): void {
    lane.timer = null;
    const now = Date.now();
    for (;;) {
      const head = lane.queue.peek();
      if (head === undefined) {
        this.lanes.delete(lane.ms);
        return;
      }
      if (head.deadlineAt > now) {
        this.arm(lane, head.deadlineAt);
        return;
      }
      lane.queue.shift();
      head.expire(lane.ms);
    }
  }
}

function fireLane<T extends Expirable>(list: DeadlineList<T>, lane: Lane<T>): void {
  list.fire(lane);
}
