/**
 * GET over a new TCP connection, RESP by hand: what someone writes for connect-per-request Redis
 * without a client library (the honest baseline for cosocket's short mode). One write, read until
 * the bulk reply is whole, close.
 */
import { connect } from 'node:net';

const GET_TEST = Buffer.from('*2\r\n$3\r\nGET\r\n$4\r\ntest\r\n');

/** The bulk string in `reply`; undefined while it is incomplete; an Error for an error or non-bulk reply. */
export function parseBulkReply(reply: Buffer): string | null | Error | undefined {
  const lineEnd = reply.indexOf('\r\n');
  if (lineEnd < 0) return undefined;
  const header = reply.toString('latin1', 1, lineEnd);
  if (reply[0] === 0x2d /* - */) return new Error(`redis answered an error: ${header}`);
  if (reply[0] !== 0x24 /* $ */)
    return new Error(`redis answered ${JSON.stringify(reply.toString('latin1', 0, lineEnd))}, not a bulk string`);
  const length = Number(header);
  if (!Number.isInteger(length)) return new Error(`redis bulk length ${JSON.stringify(header)} is not a number`);
  if (length < 0) return null;
  const start = lineEnd + 2;
  if (reply.length < start + length + 2) return undefined;
  return reply.toString('utf8', start, start + length);
}

/** GET test on a connection of its own to host:port. */
export function getTestOverNewConnection(host: string, port: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.setNoDelay(true);
    socket.write(GET_TEST);
    let received: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const value = parseBulkReply(received);
      if (value === undefined) return;
      socket.destroy();
      if (value instanceof Error) reject(value);
      else resolve(value);
    });
    socket.once('error', reject);
    // after a reply this changes nothing: the promise is settled
    socket.once('close', () =>
      reject(new Error(`redis at ${host}:${port} closed the connection before its whole reply`)),
    );
  });
}
