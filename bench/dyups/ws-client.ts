/**
 * The WebSocket client of bench/dyups/tls-ws, in a process of its own so its CPU is measured apart:
 * `node ws-client.js URL SOCKETS BYTES SECONDS [HOST]` opens SOCKETS sockets (Host: HOST when given), each
 * sending a BYTES message and the next one when its echo arrives, for SECONDS seconds; then prints one JSON
 * line: `{"messages":N,"seconds":S,"mismatched":M,"errors":E}` (echoes counted, of the expected length).
 */
import WebSocket from 'ws';

const [url, socketsText, bytesText, secondsText, host] = process.argv.slice(2);
const sockets = Number(socketsText);
const bytes = Number(bytesText);
const seconds = Number(secondsText);
if (url === undefined || !(sockets > 0) || !(bytes > 0) || !(seconds > 0)) {
  process.stderr.write('usage: ws-client.js URL SOCKETS BYTES SECONDS [HOST]\n');
  process.exit(2);
}

const message = Buffer.alloc(bytes, 'x');
let messages = 0;
let mismatched = 0;
let errors = 0;
let running = false;

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url!, {
      perMessageDeflate: false,
      ...(host === undefined ? {} : { headers: { host } }),
    });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

const opened = await Promise.all(Array.from({ length: sockets }, open));
for (const socket of opened) {
  socket.on('error', () => errors++);
  socket.on('message', (data: Buffer) => {
    if (!running) return;
    if (data.length === bytes) messages++;
    else mismatched++;
    socket.send(message);
  });
}
running = true;
const started = performance.now();
for (const socket of opened) socket.send(message);
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
running = false;
const elapsed = (performance.now() - started) / 1000;
for (const socket of opened) socket.terminate();
process.stdout.write(`${JSON.stringify({ messages, seconds: elapsed, mismatched, errors })}\n`);
process.exit(0);
