/** A node of a LinkedQueue; keep it to remove the entry in O(1). */
export interface QueueNode<T> {
  value: T;
  prev: QueueNode<T> | null;
  next: QueueNode<T> | null;
  queued: boolean;
}

/** FIFO with O(1) push, shift and removal of any entry by its node (wait queues that allow leaving). */
export class LinkedQueue<T> {
  private head: QueueNode<T> | null = null;
  private tail: QueueNode<T> | null = null;
  length = 0;

  push(value: T): QueueNode<T> {
    const node: QueueNode<T> = { value, prev: this.tail, next: null, queued: true };
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.length++;
    return node;
  }

  /** Links a node that is not queued (removed or expired) back in at the tail, reusing it. */
  append(node: QueueNode<T>): void {
    if (node.queued) this.remove(node);
    node.queued = true;
    node.prev = this.tail;
    node.next = null;
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.length++;
  }

  shift(): T | undefined {
    const node = this.head;
    if (node === null) return undefined;
    this.remove(node);
    return node.value;
  }

  peek(): T | undefined {
    return this.head === null ? undefined : this.head.value;
  }

  remove(node: QueueNode<T>): boolean {
    if (!node.queued) return false;
    node.queued = false;
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = null;
    node.next = null;
    this.length--;
    return true;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let node = this.head; node !== null; node = node.next) yield node.value;
  }
}
