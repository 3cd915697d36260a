import autocannon from 'autocannon';
import type { AutocannonClient } from 'autocannon';

export interface LoadOptions {
  url: string;
  requests: number;
  concurrency: number;
  keepalive: boolean;
  /** seconds; 0 = run until `requests` are done */
  timeLimit: number;
  method: string;
  headers: Record<string, string>;
  /** seconds a request may take before it counts as failed (ab's -s). */
  timeout: number;
  onProgress?: (done: number) => void;
}

/** One completed request, ab-style: times in ms. */
export interface Sample {
  connect: number;
  waiting: number;
  total: number;
}

export interface LoadResult {
  seconds: number;
  samples: Sample[];
  completed: number;
  non2xx: number;
  keepAliveResponses: number;
  failures: { connect: number; receive: number; length: number; exceptions: number };
  totalBytes: number;
  htmlBytes: number;
  serverSoftware: string;
  documentLength: number | null;
}

function now(): number {
  return performance.now();
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!Array.isArray(headers)) return undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
  }
  return undefined;
}

function headBytes(info: { statusCode?: number; statusMessage?: string; headers?: unknown }): number {
  let bytes = `HTTP/1.1 ${info.statusCode ?? 200} ${info.statusMessage ?? ''}\r\n`.length + 2;
  const headers = Array.isArray(info.headers) ? info.headers : [];
  for (let i = 0; i + 1 < headers.length; i += 2)
    bytes += String(headers[i]).length + String(headers[i + 1]).length + 4;
  return bytes;
}

/**
 * Drives autocannon like ApacheBench: without keepalive each request gets a connection of its own
 * (autocannon's reconnectRate would drop the response it reconnects after, so the next request is
 * replaced by a reconnect instead), and each request is timed as ab times it: connect, waiting for
 * the first byte, total.
 */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = {
    seconds: 0,
    samples: [],
    completed: 0,
    non2xx: 0,
    keepAliveResponses: 0,
    failures: { connect: 0, receive: 0, length: 0, exceptions: 0 },
    totalBytes: 0,
    htmlBytes: 0,
    serverSoftware: '',
    documentLength: null,
  };
  const setupClient = (client: AutocannonClient): void => {
    let connectStarted = 0;
    let connectedAt = 0;
    let requestStarted = 0;
    let firstByteAt = 0;
    let freshConnection = true;
    let docLength = 0;
    let keepAlive = false;
    let replaceNextRequest = false;
    const connect = client._connect;
    client._connect = function timedConnect(this: AutocannonClient): void {
      connectStarted = now();
      connectedAt = 0;
      freshConnection = true;
      connect.call(this);
      this.conn.once('connect', () => {
        connectedAt = now();
      });
    };
    if (!options.keepalive) {
      const doRequest = client._doRequest;
      client._doRequest = function oneRequestPerConnection(this: AutocannonClient): void {
        if (replaceNextRequest) {
          replaceNextRequest = false;
          this._resetConnection(); // reconnects, and sends the next request on the new connection
          return;
        }
        doRequest.call(this);
      };
    }
    client.on('request', () => {
      requestStarted = freshConnection ? connectStarted : now();
      firstByteAt = 0;
    });
    client.on('headers', (info: { statusCode?: number; statusMessage?: string; headers?: unknown }) => {
      if (firstByteAt === 0) firstByteAt = now();
      const length = headerValue(info.headers, 'content-length');
      docLength = length !== undefined ? Number(length) : -headBytes(info);
      keepAlive = !/close/i.test(headerValue(info.headers, 'connection') ?? '');
      if (result.serverSoftware === '') result.serverSoftware = headerValue(info.headers, 'server') ?? '';
    });
    client.on('response', (status: number, bytes: number) => {
      const end = now();
      lastResponseAt = end;
      const connectMs = freshConnection && connectedAt > 0 ? connectedAt - connectStarted : 0;
      const start = requestStarted;
      const waitFrom = freshConnection && connectedAt > 0 ? connectedAt : start;
      result.samples.push({ connect: connectMs, waiting: (firstByteAt || end) - waitFrom, total: end - start });
      freshConnection = false;
      result.completed++;
      result.totalBytes += bytes;
      const length = docLength >= 0 ? docLength : bytes + docLength;
      result.htmlBytes += length;
      if (result.documentLength === null) result.documentLength = length;
      else if (length !== result.documentLength) result.failures.length++;
      if (status < 200 || status >= 300) result.non2xx++;
      if (options.keepalive && keepAlive) result.keepAliveResponses++;
      if (!options.keepalive) replaceNextRequest = true;
      options.onProgress?.(result.completed);
    });
    client.on('connError', () => {
      result.failures.connect++;
    });
    client.on('timeout', () => {
      result.failures.receive++;
    });
  };
  // autocannon notices the end on its one-second sampling tick: time the run from our own first and last events
  let lastResponseAt = 0;
  return new Promise((resolve, reject) => {
    const started = now();
    autocannon(
      {
        url: options.url,
        connections: options.concurrency,
        method: options.method,
        headers: options.keepalive ? options.headers : { connection: 'close', ...options.headers },
        timeout: options.timeout,
        pipelining: 1,
        setupClient,
        ...(options.timeLimit > 0
          ? { duration: options.timeLimit, maxOverallRequests: options.requests }
          : { amount: options.requests }),
      },
      (err) => {
        if (err) {
          reject(err);
          return;
        }
        result.seconds = ((lastResponseAt > 0 ? lastResponseAt : now()) - started) / 1000;
        resolve(result);
      },
    );
  });
}
