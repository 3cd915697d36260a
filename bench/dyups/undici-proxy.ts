/**
 * A control: the proxy a user would write by hand on node:http and an undici Pool to one upstream,
 * hop-by-hop headers dropped both ways, bodies streamed. `node undici-proxy.js UPSTREAM_PORT`; prints
 * `listening PORT`.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

const pool = new Pool(`http://127.0.0.1:${Number(process.argv[2])}`, { connections: 64, pipelining: 1 });

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const server = createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .request({
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: endToEnd(req.headers),
      body: hasBody ? req : null,
    })
    .then(
      ({ statusCode, headers, body }) => {
        res.writeHead(statusCode, endToEnd(headers) as OutgoingHttpHeaders);
        pipeline(body, res, () => {});
      },
      (err: Error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`502 Bad Gateway: ${err.message}\n`);
      },
    );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => process.exit(0));
