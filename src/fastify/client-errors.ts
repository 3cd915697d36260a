import { METHODS, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** A request answered before any route saw it: a head that could not be parsed, was too large, or came too slowly. */
export interface RefusedRequest {
  remoteAddr: string;
  /** The request line as far as it could be read, '' when none was. */
  requestLine: string;
  /** The method of that line, '' when it has none the server knows. */
  method: string;
  status: number;
  bodyBytesSent: number;
  /** Seconds from the head's first byte to the answer; null when not known. */
  seconds: number | null;
}

/** Longest request line kept for the access log from bytes that could not be parsed. */
const MAX_LOGGED_LINE = 2048;

/** The first line of `bytes` (at most MAX_LOGGED_LINE of them), and its method when it is a known one. */
export function readRequestLine(bytes: Buffer): { requestLine: string; method: string } {
  let end = bytes.indexOf(0x0a);
  if (end < 0 || end > MAX_LOGGED_LINE) end = Math.min(bytes.length, MAX_LOGGED_LINE);
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const requestLine = bytes.toString('latin1', 0, end);
  const first = requestLine.split(' ', 1)[0]!;
  return { requestLine, method: METHODS.includes(first) ? first : '' };
}

/**
 * Fastify's clientErrorHandler, answering as fastify's default does (408 for a head that timed out, 431
 * for one too large, 400 otherwise, with its JSON body) and telling `refused` of each answer, for the
 * access log and the metrics. A reset or closed connection gets no answer and is not a request.
 */
export function clientErrorHandler(refused: (request: RefusedRequest) => void): (err: Error, socket: Socket) => void {
  return (err, socket) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || socket.destroyed) return;
    const status = code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const message =
      status === 408 ? 'Client Timeout' : status === 431 ? 'Exceeded maximum allowed HTTP header size' : 'Client Error';
    const statusText = STATUS_CODES[status]!;
    const body = `{"error":"${statusText}","message":"${message}","statusCode":${status}}`;
    const answered = socket.writable;
    if (answered) {
      socket.write(
        `HTTP/1.1 ${status} ${statusText}\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\n\r\n${body}`,
      );
    }
    // what failed to parse is the chunk being read: the request's start only when nothing came before it
    const raw = (err as Error & { rawPacket?: unknown }).rawPacket;
    const line =
      Buffer.isBuffer(raw) && raw.length === socket.bytesRead ? readRequestLine(raw) : { requestLine: '', method: '' };
    refused({
      remoteAddr: socket.remoteAddress ?? '',
      ...line,
      status,
      bodyBytesSent: answered ? body.length : 0,
      seconds: null,
    });
    socket.destroy(err);
  };
}
