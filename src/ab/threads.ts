import { Worker } from 'node:worker_threads';
import { AbError } from '../errors/index.js';
import { runLoad } from './load.js';
import type { FatalError, LoadOptions, LoadResult } from './load.js';
import { SampleLog } from './samples.js';

/** What a load thread posts back: its counters and its samples' columns (transferred, not copied). */
export type ThreadMessage =
  | { kind: 'progress'; done: number }
  | { kind: 'verbose'; line: string }
  | { kind: 'result'; result: Omit<LoadResult, 'samples'>; columns: Float64Array[] };

export type ThreadOptions = Omit<LoadOptions, 'onProgress' | 'onVerbose' | 'signal'>;

export interface LoadHooks {
  onProgress: (done: number) => void;
  onVerbose: (line: string) => void;
}

/** n split into `parts` whole shares, the first ones one larger. */
function share(n: number, parts: number, index: number): number {
  return Math.floor(n / parts) + (index < n % parts ? 1 : 0);
}

/**
 * Runs the load on this thread (workers = 1) or spread over `workers` worker threads, each an
 * autocannon of its own with its share of the connections and requests. Each thread sends back every
 * request's sample, so the merged tables are exact, and its own CPU.
 */
export async function runLoadThreads(options: ThreadOptions, workers: number, hooks: LoadHooks): Promise<LoadResult> {
  if (workers <= 1) return runLoad({ ...options, ...hooks });
  const progress = new Array<number>(workers).fill(0);
  const threads: Worker[] = [];
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, index) => {
      const part: ThreadOptions = {
        ...options,
        thread: `worker ${index + 1}`,
        requests: share(options.requests, workers, index),
        concurrency: share(options.concurrency, workers, index),
      };
      const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: part });
      threads.push(worker);
      return new Promise<LoadResult>((resolve, reject) => {
        worker.on('message', (message: ThreadMessage) => {
          if (message.kind === 'progress') {
            progress[index] = message.done;
            hooks.onProgress(progress.reduce((a, b) => a + b, 0));
          } else if (message.kind === 'verbose') hooks.onVerbose(message.line);
          else {
            const samples = new SampleLog(message.columns[0]?.length ?? 0);
            samples.appendColumns(message.columns, 0);
            if (message.result.fatal !== null) for (const other of threads) other.postMessage('stop');
            resolve({ ...message.result, samples });
          }
        });
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new AbError(`load thread ${index + 1} exited with ${code}`, 1)));
      });
    }),
  );
  return merge(parts);
}

function merge(parts: LoadResult[]): LoadResult {
  const samples = new SampleLog(parts.reduce((n, p) => n + p.samples.length, 0));
  for (const part of parts) samples.appendColumns(part.samples.toColumns(), 0);
  const started = Math.min(...parts.map((p) => p.startedAt));
  const ended = Math.max(...parts.map((p) => p.endedAt));
  const documentLength = parts.find((p) => p.documentLength !== null)?.documentLength ?? null;
  const fatal: FatalError | null = parts.find((p) => p.fatal !== null)?.fatal ?? null;
  const sum = (pick: (p: LoadResult) => number): number => parts.reduce((n, p) => n + pick(p), 0);
  return {
    seconds: (ended - started) / 1e6,
    startedAt: started,
    endedAt: ended,
    samples,
    requestsSent: sum((p) => p.requestsSent),
    done: sum((p) => p.done),
    doneKeepAlive: sum((p) => p.doneKeepAlive),
    failures: {
      connect: sum((p) => p.failures.connect),
      receive: sum((p) => p.failures.receive),
      // a thread whose first response had another length than the first thread's counts all its requests
      length: sum((p) => p.failures.length),
      exceptions: sum((p) => p.failures.exceptions),
    },
    non2xx: sum((p) => p.non2xx),
    totalRead: sum((p) => p.totalRead),
    bodyRead: sum((p) => p.bodyRead),
    serverSoftware: parts.find((p) => p.serverSoftware !== '')?.serverSoftware ?? '',
    documentLength,
    fatal,
    cpu: parts.flatMap((p) => p.cpu),
  };
}
