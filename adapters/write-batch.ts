import type { Writable } from 'node:stream';

/** Sockets corked by deferWrites() this turn, in order; null where flushDeferred() sent one early. */
const corked: Array<Writable | null> = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  // a socket flushDeferred() left for null was uncorked already: once only
  for (let i = 0; i < corked.length; i++) corked[i]?.uncork();
  corked.length = 0;
}

/**
 * Holds what is written to `socket` from now until the end of this event-loop turn (its check phase), then
 * sends it in order: the writes a turn makes to many sockets leave back to back, after the turn's reads
 * are all handled, instead of one among each request's work. On loopback and busy machines most of a
 * small write's cost is waking the process that reads it; writes in a burst wake each reader once per
 * burst, not once per write. Nothing is reordered: later writes to the socket queue behind (node's
 * cork). A socket already corked is left as it is. For writes nothing waits on before the turn ends (a
 * request whose answer is read next, a response written whole).
 */
export function deferWrites(socket: Writable): void {
  if (socket.writableCorked !== 0) return;
  socket.cork();
  corked.push(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

/**
 * Sends what deferWrites() holds for `socket` now: before it is destroyed (what was written goes out
 * first, as it would have without the deferral) or before its backlog is read (writableLength).
 */
export function flushDeferred(socket: Writable): void {
  if (socket.writableCorked === 0) return; // the usual case: nothing held
  const at = corked.indexOf(socket);
  if (at < 0) return; // corked by its owner, not here
  corked[at] = null;
  socket.uncork();
}
