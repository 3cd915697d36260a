import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Called with a piece of a write once the socket no longer needs it (not after a failed write). */
export type Written = (data: Buffer) => void;

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * A chunked response body framed here and written straight to the client's socket instead of through
 * Node's ServerResponse: several pieces make one chunk in one socket write, with none of the
 * per-write layers of ServerResponse (a proxy moving megabytes of small pieces spends less per write).
 */
export class RawChunkedBody {
  private constructor(readonly socket: Socket) {}

  /**
   * Sends the head (`sendHead` writes it into `res`) and takes over the body. Null, with nothing sent,
   * when the response cannot be chunked by us: a HEAD request, an HTTP/1.0 client, a status without a
   * body, a socket still busy with an earlier pipelined response; null after `sendHead` when Node chose
   * other framing for the head (a Content-Length was set), and the caller goes on through `res`.
   */
  static open(res: ServerResponse, status: number, sendHead: () => void): RawChunkedBody | null {
    const socket = res.socket;
    const req = res.req;
    const bodyless = status < 200 || status === 204 || status === 304 || req.method === 'HEAD';
    if (socket === null || !socket.writable || bodyless || req.httpVersionMajor !== 1 || req.httpVersionMinor < 1)
      return null;
    sendHead();
    if (!res.chunkedEncoding) return null;
    // the response owns the socket (res.socket is only set for the response being sent), so Node
    // writes the head to it now and body bytes written to it after follow the head on the wire
    socket.cork(); // the head leaves with the first chunk (and the last, if it comes in this tick)
    res.flushHeaders();
    process.nextTick(uncork, socket);
    res.chunkedEncoding = false; // Node frames nothing more and adds no last chunk at res.end()
    return new RawChunkedBody(socket);
  }

  /**
   * Writes `parts` as one chunk (`head`, if any, first in it); `written(part)` once the socket is done
   * with each part. True while the socket takes more.
   */
  writeChunkParts(head: Buffer | null, parts: readonly Buffer[], written: Written): boolean {
    const socket = this.socket;
    let size = head === null ? 0 : head.length;
    for (const part of parts) size += part.length;
    socket.cork();
    socket.write(`${size.toString(16)}\r\n`, 'latin1');
    if (head !== null) socket.write(head);
    for (const part of parts) {
      socket.write(part, (err) => {
        if (err == null) written(part);
      });
    }
    const sent = socket.write(CRLF);
    socket.uncork();
    return sent;
  }

  /** Writes `parts`, already framed as chunks, in one socket write; `written` as in writeChunkParts. */
  writeFramed(parts: readonly Buffer[], written: Written): boolean {
    const socket = this.socket;
    let sent = true;
    socket.cork();
    for (const part of parts) {
      sent = socket.write(part, (err) => {
        if (err == null) written(part);
      });
    }
    socket.uncork();
    return sent;
  }

  /** Writes `data` as one chunk; `done` once the socket is done with it. True while the socket takes more. */
  writeChunk(data: Buffer, done?: (err?: Error | null) => void): boolean {
    const socket = this.socket;
    socket.cork();
    socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
    socket.write(data);
    const sent = socket.write(CRLF, done);
    socket.uncork();
    return sent;
  }

  /** The last chunk, with trailer fields if any (checked when they were set: ctx.trailer()). */
  end(trailers: Record<string, string> | null): void {
    if (trailers === null) {
      this.socket.write(LAST_CHUNK);
      return;
    }
    let section = '0\r\n';
    for (const [name, value] of Object.entries(trailers)) section += `${name}: ${value}\r\n`;
    this.socket.write(`${section}\r\n`, 'latin1');
  }
}
