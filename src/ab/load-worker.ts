import { parentPort, workerData } from 'node:worker_threads';
import { runLoad } from './load.js';
import type { ThreadMessage, ThreadOptions } from './threads.js';

// One load thread of `cosocket ab --workers N` (see threads.ts).
const port = parentPort!;
const options = workerData as ThreadOptions;
const stop = new AbortController();
port.on('message', (message: unknown) => {
  if (message === 'stop') stop.abort();
});
const send = (message: ThreadMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
let lastSent = 0;
const every = Math.max(1, Math.floor(options.requests / 200));
const result = await runLoad({
  ...options,
  request: Buffer.from(options.request),
  signal: stop.signal,
  onProgress: (done) => {
    if (done - lastSent >= every || done === options.requests) {
      lastSent = done;
      send({ kind: 'progress', done });
    }
  },
  onVerbose: (line) => send({ kind: 'verbose', line }),
});
const { samples, ...rest } = result;
const columns = samples.toColumns();
send(
  { kind: 'result', result: rest, columns },
  columns.map((c) => c.buffer as ArrayBuffer),
);
port.close();
