/**
 * The peers bench/send/finished measures cosocket's /send/ against, over the same DIR under /send/:
 * `node peers.js bare DIR` — a bare node:http server answering each file's bytes from memory with the
 * same head (the Node ceiling); `node peers.js fastify-static DIR` — @fastify/static (the Node peer).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';

const [mode, root] = process.argv.slice(2) as [string, string];

function announce(address: AddressInfo | string | null): void {
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
}

if (mode === 'bare') {
  const files = new Map<string, { body: Buffer; head: string[] }>();
  for (const name of readdirSync(root)) {
    const info = statSync(join(root, name));
    if (!info.isFile()) continue;
    const body = readFileSync(join(root, name));
    files.set(`/send/${name}`, {
      body,
      head: [
        'Content-Type',
        'text/plain; charset=utf-8',
        'Accept-Ranges',
        'bytes',
        'Last-Modified',
        info.mtime.toUTCString(),
        'ETag',
        `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
        'Content-Length',
        String(body.length),
      ],
    });
  }
  const server = createServer((req, res) => {
    const file = files.get(req.url ?? '');
    if (file === undefined) {
      res.writeHead(404, ['Content-Length', '0']);
      res.end();
      return;
    }
    res.writeHead(200, file.head);
    res.end(file.body);
  });
  server.listen(0, '127.0.0.1', () => announce(server.address()));
} else if (mode === 'fastify-static') {
  const app = Fastify({ logger: false });
  await app.register(fastifyStatic, { root, prefix: '/send/' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  announce(app.server.address());
} else {
  throw new Error(`peers.js: mode must be bare or fastify-static, got ${mode}`);
}
process.on('SIGTERM', () => process.exit(0));
