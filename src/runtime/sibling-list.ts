/** An entry of a SiblingList: the links live on the entry itself, so joining the list allocates nothing. */
export interface Sibling<T> {
  prevSibling: T | null;
  nextSibling: T | null;
}

/**
 * An intrusive list in insertion order: a fiber among its parent's children, or a root among its
 * admission's roots (one or the other, so one pair of links serves both). Adding and removing are O(1)
 * and hash nothing, unlike a Set.
 */
export class SiblingList<T extends Sibling<T>> {
  private head: T | null = null;
  private tail: T | null = null;
  size = 0;

  add(entry: T): void {
    entry.prevSibling = this.tail;
    entry.nextSibling = null;
    if (this.tail === null) this.head = entry;
    else this.tail.nextSibling = entry;
    this.tail = entry;
    this.size++;
  }

  /** Takes out an entry of this list (and only of this one). */
  remove(entry: T): void {
    const prev = entry.prevSibling;
    const next = entry.nextSibling;
    if (prev === null) {
      if (this.head !== entry) return; // not in the list
      this.head = next;
    } else prev.nextSibling = next;
    if (next === null) this.tail = prev;
    else next.prevSibling = prev;
    entry.prevSibling = null;
    entry.nextSibling = null;
    this.size--;
  }

  /** The entries now, as an array: what a loop that may remove them (by cancelling them) walks. */
  snapshot(): T[] {
    const entries = new Array<T>(this.size);
    let i = 0;
    for (let entry = this.head; entry !== null; entry = entry.nextSibling) entries[i++] = entry;
    return entries;
  }
}
