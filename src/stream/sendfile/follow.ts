import type { FileSink } from '../sink.js';
import type { Operation } from '../../runtime/effect.js';
import { call } from '../../runtime/effects/call.js';
import { contentTypeFor } from './content-type.js';
import type { FileInside } from './open-inside.js';
import { ParkedFollower } from './parked.js';
import { fileIdOf, readCounters } from './watch-hub.js';
import type { WatchHub } from './watch-hub.js';

/** How followGrowing() waits for a growing file: poll interval, idle timeout, longest duration. */
export interface FollowOptions {
  /** Poll interval (ms) behind the file-system events. */
  interval: number;
  /** End after this long (ms) without growth. */
  timeout: number;
  /** End after this long (ms) in all; 0: no limit. */
  maxDuration: number;
  /** Most bytes read from the file at once: no follower reads further ahead of its client. */
  readSize: number;
}

/** Why a followed body ended, sent as the `X-Send-Status` trailer. */
export type SendStatus = 'complete' | 'idle-timeout' | 'max-duration' | 'deleted' | 'truncated' | 'replaced';

/** The trailer a followed body ends with, saying why it ended (a SendStatus). */
export const STATUS_TRAILER = 'X-Send-Status';

const EMPTY = Buffer.alloc(0);

/** The framed chunk is shared: nothing to give back once written. */
const keep = (): void => undefined;

/** Bytes of framing around a chunk's data: its size line and the closing CRLF. */
function framedOverhead(framed: Buffer): number {
  return framed.indexOf(13) + 2 + 2;
}

/**
 * Streams NAME.tmp as it grows, chunked, from `start` on (206 when resuming), through one open
 * descriptor: bytes of a different file never go out under the old offsets. Ends with the last chunk
 * and an X-Send-Status trailer: `complete` once the file was renamed to NAME and every byte is sent,
 * else why it gave up. Reads at most `readSize` ahead of the client (backpressure). `opened` is NAME.tmp
 * as the caller opened and checked it; only its bytes are sent.
 */
export function* followGrowing(
  ctx: FileSink,
  hub: WatchHub,
  growingPath: string,
  finishedPath: string,
  opened: FileInside,
  start: number,
  options: FollowOptions,
): Operation<void> {
  const handle = opened.file;
  const id = fileIdOf(opened.info);
  const watched = yield* call(hub.follow(growingPath, finishedPath));
  try {
    ctx.status = start > 0 ? 206 : 200;
    ctx
      .header('content-type', contentTypeFor(finishedPath))
      .header('cache-control', 'no-store')
      .header('accept-ranges', 'bytes');
    // trailers need chunked encoding: not for HEAD, nor HTTP/1.0 (whose body ends when the connection closes)
    const chunked = ctx.request.method !== 'HEAD' && ctx.request.raw.httpVersion !== '1.0';
    if (chunked) ctx.header('trailer', STATUS_TRAILER);
    if (start > 0) ctx.header('content-range', `bytes ${start}-*/*`);
    // once the head is out the handler's deadline hands over to an idle timeout, which must outlast the
    // follower's own: a file that stops growing ends with an 'idle-timeout' trailer, never a cut
    if (ctx.idleTimeout !== 0)
      ctx.idleTimeout = Math.max(ctx.idleTimeout, options.timeout + options.interval, ctx.sendTimeout);
    // the head goes out at once, before the first byte of the file; the body's chunks are framed here,
    // straight on the socket, where they can be (a change's chunk is then framed once for every follower)
    const onSocket = chunked && ctx.chunkOnSocket();
    if (!onSocket) yield* ctx.flush(false);
    // framed chunks may go straight to it: nothing of ours is buffered in between
    const socket = onSocket ? ctx.reply.raw.socket : null;
    let parked: ParkedFollower | null = null;
    if (ctx.request.method === 'HEAD') return;
    const started = Date.now();
    let lastGrowth = started;
    let offset = start;
    let status: SendStatus;
    for (;;) {
      // the newest bytes come from the window every follower shares; only a follower that fell behind reads itself
      const framed = onSocket ? watched.framedAt(id, offset, options.readSize) : null;
      if (framed !== null) {
        offset += framed.length - framedOverhead(framed);
        lastGrowth = Date.now();
        yield* ctx.writeFramed([framed], keep);
        continue;
      }
      let piece = watched.take(id, offset, options.readSize);
      if (piece === null) {
        if (watched.covers(id, offset))
          piece = EMPTY; // caught up: the shared refresh brings what comes next
        else {
          piece = yield* handle.read(options.readSize, offset);
          if (piece.length > 0) readCounters.own++;
        }
      }
      if (piece.length > 0) {
        offset += piece.length;
        lastGrowth = Date.now();
        yield* ctx.write(piece);
        continue;
      }
      const { growing, finished } = watched.state;
      if (finished !== null && finished.id === id) {
        if (offset >= finished.size) {
          status = 'complete';
          break;
        }
        // renamed with more to read, yet the read found nothing: the state is older than the file
        yield* watched.changed.wait(options.interval);
        continue;
      }
      if (growing !== null && growing.id !== id) {
        status = 'replaced';
        break;
      }
      if (growing === null) {
        status = finished !== null ? 'replaced' : 'deleted';
        break;
      }
      if (growing.size < offset) {
        // the shared state may predate bytes this follower already read: ask our own descriptor
        if ((yield* handle.stat()).size < offset) {
          status = 'truncated';
          break;
        }
        yield* watched.changed.wait(options.interval);
        continue;
      }
      ctx.progress(); // waiting on a file that may grow is the follower's own business, bounded by its timeout
      const now = Date.now();
      if (now - lastGrowth >= options.timeout) {
        status = 'idle-timeout';
        break;
      }
      if (options.maxDuration > 0 && now - started >= options.maxDuration) {
        status = 'max-duration';
        break;
      }
      // the shared poll wakes every follower each interval: a timer of its own only for an earlier timeout
      const left = options.timeout - (now - lastGrowth);
      if (socket !== null && left >= 2 * options.interval) {
        // caught up: park, and the shared refresh writes what comes next straight to the socket
        parked ??= new ParkedFollower(socket, id, options.readSize);
        parked.offset = offset;
        parked.lastGrowth = lastGrowth;
        // woken an interval before its idle timeout could come, were nothing written meanwhile; writes do
        // not move this, so a follower the refresh writes for still wakes that often, and touches the
        // stream's idle timeout (above; it is at least timeout + interval) before it could cut the stream
        let wakeAt = lastGrowth + options.timeout - options.interval;
        if (options.maxDuration > 0) wakeAt = Math.min(wakeAt, started + options.maxDuration - options.interval);
        parked.wakeAt = wakeAt;
        yield* watched.parked.park(parked);
        offset = parked.offset;
        lastGrowth = parked.lastGrowth;
        // a write the refresh made filled the socket: wait for it to drain, as a write of our own would
        if (ctx.writeBlocked()) yield* ctx.flush(true);
        continue;
      }
      yield* watched.changed.wait(left < options.interval ? left : Infinity);
    }
    if (chunked) ctx.trailer(STATUS_TRAILER, status);
  } finally {
    watched.release();
    if (!handle.closed) yield* handle.close();
  }
}
