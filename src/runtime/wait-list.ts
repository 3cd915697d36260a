/** Links of an entry of a WaitList (kept in the entry: parking allocates nothing). */
export interface Linked<N> {
  qprev: N | null;
  qnext: N | null;
  queued: boolean;
}

/** FIFO of parked senders or receivers, linked through the entries themselves; O(1) removal. */
export class WaitList<N extends Linked<N>> {
  private head: N | null = null;
  private tail: N | null = null;
  length = 0;

  push(node: N): void {
    node.queued = true;
    node.qprev = this.tail;
    node.qnext = null;
    if (this.tail === null) this.head = node;
    else this.tail.qnext = node;
    this.tail = node;
    this.length++;
  }

  shift(): N | null {
    const node = this.head;
    if (node !== null) this.remove(node);
    return node;
  }

  remove(node: N): void {
    if (!node.queued) return;
    node.queued = false;
    if (node.qprev === null) this.head = node.qnext;
    else node.qprev.qnext = node.qnext;
    if (node.qnext === null) this.tail = node.qprev;
    else node.qnext.qprev = node.qprev;
    node.qprev = null;
    node.qnext = null;
    this.length--;
  }
}
