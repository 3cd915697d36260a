import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface StreamOptions {
  url: URL;
  /** Streams in all. */
  streams: number;
  /** Streams open at a time. */
  concurrency: number;
  /** Seconds; 0 = until every stream has ended. Streams still open then are stopped. */
  timeLimit: number;
  /** Seconds without a byte before a stream counts as timed out. */
  idleTimeout: number;
  headers: OutgoingHttpHeaders;
  /** Where to connect, when -X or a resolved address differs from the URL's host. */
  connectHost?: string;
  connectPort?: number;
}

/** How a stream ended. */
export type StreamEnd = 'complete' | 'cut' | 'timed out' | 'stopped';

/** One stream, times in ms from its request. */
export interface StreamRecord {
  status: number;
  end: StreamEnd;
  /** The X-Send-Status trailer, when the stream completed with one. */
  sendStatus: string | null;
  head: number;
  firstChunk: number | null;
  total: number;
  chunks: number;
  bytes: number;
  /** ms between one read of body bytes and the next. */
  gaps: number[];
}

export interface StreamResult {
  seconds: number;
  /** The first socket error when no stream got a response head (a refused port, say), else null. */
  connectError: (Error & { code?: string }) | null;
  serverSoftware: string;
  streams: StreamRecord[];
}

/**
 * Drives `concurrency` HTTP/1.1 clients at a streaming URL (a growing file under /send/, a proxied
 * chunked download, a flushing handler) and records per stream the time to the head and to the first
 * body bytes, every gap between reads of body bytes, the bytes, and how it ended: complete (with its
 * X-Send-Status trailer, if any), cut by the server or the network, timed out (-s seconds without a
 * byte), or stopped at the -t time limit. A "chunk" is one read of body bytes off the socket: what the
 * client sees arrive, whatever the server's chunk framing.
 */
export function runStreams(options: StreamOptions): Promise<StreamResult> {
  const records: StreamRecord[] = [];
  const open = new Set<ClientRequest>();
  const stoppers = new Set<() => void>();
  let startedStreams = 0;
  let serverSoftware = '';
  let firstError: (Error & { code?: string }) | null = null;
  let heads = 0;
  let stopped = false;
  const started = performance.now();
  const secure = options.url.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;

  return new Promise((resolve) => {
    let limit: NodeJS.Timeout | undefined;
    const done = (): void => {
      if (limit !== undefined) clearTimeout(limit);
      resolve({
        seconds: (performance.now() - started) / 1000,
        connectError: heads === 0 ? firstError : null,
        serverSoftware,
        streams: records,
      });
    };
    const next = (): void => {
      if (stopped) return;
      if (startedStreams >= options.streams) {
        if (open.size === 0) done();
        return;
      }
      startedStreams++;
      const t0 = performance.now();
      const since = (): number => performance.now() - t0;
      const record: StreamRecord = {
        status: 0,
        end: 'cut',
        sendStatus: null,
        head: 0,
        firstChunk: null,
        total: 0,
        chunks: 0,
        bytes: 0,
        gaps: [],
      };
      let lastRead = 0;
      let finished = false;
      let idle: NodeJS.Timeout | undefined;
      const req = send({
        host: options.connectHost ?? options.url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: options.connectPort ?? (options.url.port === '' ? (secure ? 443 : 80) : Number(options.url.port)),
        path: `${options.url.pathname}${options.url.search}`,
        method: 'GET',
        headers: { host: options.url.host, 'user-agent': 'ApacheBench/2.3', accept: '*/*', ...options.headers },
        agent: false,
        rejectUnauthorized: false,
        ...(secure ? { servername: options.url.hostname } : {}),
      });
      open.add(req);
      const finish = (end: StreamEnd, res?: IncomingMessage): void => {
        if (finished) return;
        finished = true;
        if (idle !== undefined) clearTimeout(idle);
        stoppers.delete(stop);
        record.end = end;
        record.total = since();
        if (end === 'complete' && res !== undefined) {
          const trailer = res.trailers['x-send-status'];
          record.sendStatus = typeof trailer === 'string' ? trailer : null;
        }
        records.push(record);
        open.delete(req);
        if (end !== 'complete') req.destroy();
        next();
      };
      const stop = (): void => finish('stopped');
      stoppers.add(stop);
      const armIdle = (): void => {
        if (idle !== undefined) clearTimeout(idle);
        idle = setTimeout(() => finish('timed out'), options.idleTimeout * 1000);
      };
      armIdle();
      req.on('response', (res) => {
        heads++;
        record.status = res.statusCode ?? 0;
        record.head = since();
        if (serverSoftware === '') serverSoftware = String(res.headers.server ?? '').split(' ')[0] ?? '';
        armIdle();
        res.on('data', (chunk: Buffer) => {
          const at = since();
          if (record.firstChunk === null) record.firstChunk = at;
          else record.gaps.push(at - lastRead);
          lastRead = at;
          record.chunks++;
          record.bytes += chunk.length;
          armIdle();
        });
        res.on('end', () => finish('complete', res));
        res.on('aborted', () => finish('cut'));
        res.on('error', () => finish('cut'));
      });
      req.on('error', (err: Error & { code?: string }) => {
        firstError ??= err;
        finish('cut');
      });
      req.end();
    };
    if (options.timeLimit > 0)
      limit = setTimeout(() => {
        stopped = true;
        for (const stop of [...stoppers]) stop();
        done();
      }, options.timeLimit * 1000);
    for (let i = 0; i < Math.min(options.concurrency, options.streams); i++) next();
  });
}
