/**
 * The upstream when nginx is not installed: a keepalive HTTP server answering /10b with 10 bytes and
 * /4k with 4,096 (anything else: 10 bytes). Prints `listening PORT`.
 */
import { createServer } from 'node:http';

const BODIES: Record<string, Buffer> = { '/10b': Buffer.from('hello12345'), '/4k': Buffer.alloc(4096, 'x') };

const server = createServer((req, res) => {
  const body = BODIES[req.url ?? ''] ?? BODIES['/10b']!;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => process.exit(0));
