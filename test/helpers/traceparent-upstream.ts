import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP upstream on 127.0.0.1 that answers every request with `body` and keeps what traceparent it got. */
export interface TraceparentUpstream {
  port: number;
  /** The traceparent headers each request came with, in order (as lists: a repeated header shows). */
  traceparents: string[][];
  close(): Promise<void>;
}

export async function startTraceparentUpstream(body: string): Promise<TraceparentUpstream> {
  const traceparents: string[][] = [];
  const server = createServer((req, res) => {
    const seen: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      if (req.rawHeaders[i]!.toLowerCase() === 'traceparent') seen.push(req.rawHeaders[i + 1]!);
    traceparents.push(seen);
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    traceparents,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
