/**
 * The write-up's upstream: one response of N chunks of 200-500 bytes (a log, a line per chunk), written
 * as fast as the socket takes them, or paced (`?paced=1`: a burst of 1,000 chunks every 10 ms).
 * `node upstream.js N`; prints `listening PORT` and the body's sha256.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const n = Number(process.argv[2] ?? 100_000);
const chunks: Buffer[] = [];
let seed = 42;
const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
for (let i = 0; i < n; i++)
  chunks.push(
    Buffer.from(
      `${String(i).padStart(6, '0')} ${'log line '.repeat(20 + Math.floor(random() * 33)).slice(0, 192 + Math.floor(random() * 300))}\n`,
    ),
  );
const hash = createHash('sha256');
for (const chunk of chunks) hash.update(chunk);
const total = chunks.reduce((sum, c) => sum + c.length, 0);

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  const paced = req.url?.includes('paced=1') ?? false;
  let i = 0;
  const pump = (): void => {
    const stopAt = paced ? Math.min(n, i + 1_000) : n;
    while (i < stopAt) {
      if (!res.write(chunks[i++]!)) {
        res.once('drain', pump);
        return;
      }
    }
    if (i < n) setTimeout(pump, 10);
    else res.end();
  };
  pump();
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `listening ${typeof address === 'object' && address !== null ? address.port : 0} ${hash.digest('hex')} ${total}\n`,
  );
});
process.on('SIGTERM', () => process.exit(0));
