import { constants as osConstants } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import AutocannonClientClass from 'autocannon/lib/httpClient.js';
import type { AutocannonClient, AutocannonHeadersInfo } from 'autocannon/lib/httpClient.js';
import { AbError } from '../errors/index.js';
import { ThreadCpu } from './cpu.js';
import type { CpuReport } from './cpu.js';
import { SampleLog } from './samples.js';

export interface LoadOptions {
  /** Where to connect: http(s)://address:port/ (the address already resolved). */
  connectUrl: string;
  /** TLS server name (SNI) for https, when the host is a name. */
  servername?: string;
  /** tls.connect options for https (-Z, -f, -E). */
  tls?: ConnectionOptions;
  /** The request, byte for byte (see abRequest). */
  request: Buffer;
  /** HEAD: responses carry no body whatever their Content-Length says. */
  head: boolean;
  requests: number;
  concurrency: number;
  keepalive: boolean;
  /** seconds; 0 = run until `requests` are done */
  timeLimit: number;
  /** seconds a response may take (ab's -s). */
  timeout: number;
  /** -r: a receive error fails that request instead of ending the run. */
  continueOnReceiveError: boolean;
  /** -l: responses of different lengths are not failures. */
  variableLength: boolean;
  /** ab's -v: 2 prints each response head, 3 also each status code. */
  verbosity: number;
  /** The name of this load thread in CPU reports. */
  thread?: string;
  /** Ends the run early (another load thread failed). */
  signal?: AbortSignal;
  onProgress?: (done: number) => void;
  onVerbose?: (line: string) => void;
}

/** A failure that ends the run, as ab reports it: one line on stderr and ab's exit code. */
export interface FatalError {
  line: string;
  exitCode: number;
}

export interface Failures {
  connect: number;
  receive: number;
  length: number;
  exceptions: number;
}

export interface LoadResult {
  /** Wall time from the first connect to the last completed request, seconds. */
  seconds: number;
  /** The first connect and the last completed request, µs since the epoch. */
  startedAt: number;
  endedAt: number;
  samples: SampleLog;
  /** Requests written (ab's `started`). */
  requestsSent: number;
  done: number;
  doneKeepAlive: number;
  failures: Failures;
  non2xx: number;
  totalRead: number;
  bodyRead: number;
  serverSoftware: string;
  /** The first response's body length; null before any response. */
  documentLength: number | null;
  fatal: FatalError | null;
  cpu: CpuReport[];
}

const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ETIMEDOUT: 'Connection timed out',
  EPIPE: 'Broken pipe',
  ECONNABORTED: 'Software caused connection abort',
};

/** ab's `apr_socket_recv: Connection refused (111)` line and exit code for a socket error. */
export function receiveErrorOf(err: Error & { code?: string }): FatalError {
  const code = err.code ?? '';
  const errno = (osConstants.errno as Record<string, number>)[code];
  if (errno === undefined) return { line: `apr_socket_recv: ${err.message}`, exitCode: 1 };
  return { line: `apr_socket_recv: ${ERRNO_TEXT[code] ?? err.message} (${errno})`, exitCode: errno & 0xff };
}

/** What ab prints when its poll waited -s seconds for nothing (APR_TIMEUP, 70007; the exit status keeps 8 bits). */
export const TIMEOUT_ERROR: FatalError = {
  line: 'apr_pollset_poll: The timeout specified has expired (70007)',
  exitCode: 70007 & 0xff,
};

const micros = (): number => performance.now() * 1000;
const EPOCH_MICROS = performance.timeOrigin * 1000;

/** ab copies the Server header up to its first space or control character. */
function serverToken(value: string): string {
  let end = 0;
  while (end < value.length && value.charCodeAt(end) > 32) end++;
  return value.slice(0, end);
}

/**
 * Drives autocannon's HTTP clients (its lib/httpClient.js; its runner, with its histograms and its
 * one-second tick, is not used) the way ApacheBench drives its connections: ab's request bytes on every
 * connection (autocannon's own request builder writes HTTP/1.1 and keep-alive), one request per
 * connection unless -k and the server keeps it open, bodies that end at the close, HEAD without a
 * body, and each request timed as ab times it (connect, waiting from the request written to the first
 * byte, total). The run ends when `requests` are done.
 */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const samples = new SampleLog(Math.min(options.requests, 1 << 20));
  const result: LoadResult = {
    seconds: 0,
    startedAt: 0,
    endedAt: 0,
    samples,
    requestsSent: 0,
    done: 0,
    doneKeepAlive: 0,
    failures: { connect: 0, receive: 0, length: 0, exceptions: 0 },
    non2xx: 0,
    totalRead: 0,
    bodyRead: 0,
    serverSoftware: '',
    documentLength: null,
    fatal: null,
    cpu: [],
  };
  const clients: AutocannonClient[] = [];
  const cpu = new ThreadCpu(options.thread ?? 'main');
  let started = 0;
  let finished = false;
  let firstStart = 0;
  let lastDone = 0;
  let finish: () => void = () => {};

  const record = (start: number, connect: number, endWrite: number, firstByte: number, end: number): void => {
    samples.push(
      EPOCH_MICROS + start,
      connect - start,
      end - start,
      firstByte > 0 ? Math.max(0, firstByte - endWrite) : 0,
    );
    result.done++;
    lastDone = end;
    options.onProgress?.(result.done);
    if (result.done >= options.requests) finish();
  };
  const fail = (fatal: FatalError): void => {
    if (result.fatal === null) result.fatal = fatal;
    finish();
  };

  const setupClient = (client: AutocannonClient): void => {
    clients.push(client);
    const parser = client.parser;
    const kind = parser.constructor as unknown as { kOnHeadersComplete: number; kOnBody: number };
    let start = 0;
    let connectedAt = 0;
    let endWrite = 0;
    let firstByte = 0;
    let bytesIn = 0;
    let bodyIn = 0;
    let onConnection = 0;
    let inFlight = false;
    let reusable = false;
    let ended = false;
    let keptAlive = false;

    // autocannon sets its parser callbacks after setupClient, before its first connect: wrap them then
    const wrapParser = (): void => {
      const onHeaders = parser[kind.kOnHeadersComplete] as (info: AutocannonHeadersInfo) => unknown;
      parser[kind.kOnHeadersComplete] = (info: AutocannonHeadersInfo): unknown => {
        const raw = info.headers;
        const status = info.statusCode ?? 0;
        keptAlive = false;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const name = raw[i]!;
          if (options.keepalive && (/keep-alive/i.test(name) || /keep-alive/i.test(raw[i + 1]!))) keptAlive = true;
          if (result.serverSoftware === '' && result.done === 0 && name.toLowerCase() === 'server')
            result.serverSoftware = serverToken(raw[i + 1]!);
        }
        if (options.verbosity >= 2) {
          const head = [`HTTP/${info.versionMajor}.${info.versionMinor} ${status} ${info.statusMessage ?? ''}`];
          for (let i = 0; i + 1 < raw.length; i += 2) head.push(`${raw[i]}: ${raw[i + 1]}`);
          options.onVerbose?.(`LOG: header received:\n${head.join('\r\n')}\r\n\r\n`);
        }
        if (status < 200 || status >= 300) {
          result.non2xx++;
          if (options.verbosity >= 2) options.onVerbose?.(`WARNING: Response code not 2xx (${status})`);
        } else if (options.verbosity >= 3) options.onVerbose?.(`LOG: Response code = ${status}`);
        onHeaders(info);
        return options.head ? true : undefined;
      };
      parser[kind.kOnBody] = (_body: Buffer, _start: number, length: number): void => {
        bodyIn += length;
      };
    };
    let parserWrapped = false;
    client.getRequestBuffer = () => options.request;
    const connect = client._connect;
    client._connect = function abConnect(this: AutocannonClient): void {
      if (finished) return;
      if (!parserWrapped) {
        parserWrapped = true;
        wrapParser();
      }
      start = micros();
      if (firstStart === 0) firstStart = start;
      connectedAt = 0;
      onConnection = 0;
      inFlight = false;
      reusable = false;
      ended = false;
      parser.initialize(parser.constructor.RESPONSE);
      connect.call(this);
      const conn = this.conn;
      conn.once(conn.encrypted === undefined ? 'connect' : 'secureConnect', () => {
        connectedAt = micros();
        if (endWrite < connectedAt) endWrite = connectedAt;
      });
      conn.prependListener('data', (chunk: Buffer) => {
        if (firstByte === 0) firstByte = micros();
        bytesIn += chunk.length;
      });
      conn.prependListener('end', () => {
        ended = true;
        if (!inFlight) return;
        if (parser.state === 'BODY_RAW') {
          parser.finish(); // a body delimited by the close
          return;
        }
        inFlight = false;
        if (bytesIn === 0 && onConnection > 1) {
          started--; // the server closed an idle keep-alive connection: send that request again
          return;
        }
        result.totalRead += bytesIn;
        if (bytesIn === 0) result.failures.receive++;
        else result.failures.length++;
        record(start, connectedAt || start, endWrite, firstByte, micros());
      });
    };
    const doRequest = client._doRequest;
    client._doRequest = function abRequest(this: AutocannonClient): void {
      if (finished || started >= options.requests) return;
      if (onConnection > 0 && !reusable) {
        if (!ended) this._resetConnection(); // its _connect sends the next request on a new connection
        return; // autocannon's 'end' handler reconnects
      }
      if (onConnection > 0) {
        start = micros();
        connectedAt = start;
      }
      started++;
      onConnection++;
      inFlight = true;
      firstByte = 0;
      bytesIn = 0;
      bodyIn = 0;
      endWrite = connectedAt > 0 ? micros() : 0;
      doRequest.call(this);
    };

    client.on('response', () => {
      if (!inFlight) return;
      inFlight = false;
      reusable = keptAlive && !ended;
      if (keptAlive) result.doneKeepAlive++;
      result.totalRead += bytesIn;
      result.bodyRead += bodyIn;
      if (result.documentLength === null) result.documentLength = bodyIn;
      else if (bodyIn !== result.documentLength && !options.variableLength) result.failures.length++;
      record(start, connectedAt || start, endWrite, firstByte, micros());
    });
    client.on('connError', (err: Error & { code?: string }) => {
      if (finished) return;
      if (!inFlight) return;
      inFlight = false;
      if (!options.continueOnReceiveError) {
        fail(receiveErrorOf(err));
        return;
      }
      result.failures.receive++;
      record(start, connectedAt || start, endWrite, firstByte, micros());
    });
    client.on('timeout', () => {
      if (!finished && inFlight) fail(TIMEOUT_ERROR);
    });
  };

  return new Promise((resolve, reject) => {
    let limit: NodeJS.Timeout | undefined;
    finish = (): void => {
      if (finished) return;
      finished = true;
      if (limit !== undefined) clearTimeout(limit);
      const end = lastDone > 0 ? lastDone : micros();
      result.seconds = firstStart > 0 ? (end - firstStart) / 1e6 : 0;
      result.startedAt = EPOCH_MICROS + (firstStart || end);
      result.endedAt = EPOCH_MICROS + end;
      result.requestsSent = started;
      result.cpu = [cpu.report()];
      for (const client of clients) client.destroy();
      resolve(result);
    };
    const target = new URL(options.connectUrl);
    try {
      for (let i = 0; i < options.concurrency && !finished; i++)
        new AutocannonClientClass({
          protocol: target.protocol,
          hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: Number(target.port),
          path: '/',
          method: 'GET',
          headers: {},
          pipelining: 1,
          timeout: options.timeout,
          setupClient,
          ...(options.servername !== undefined ? { servername: options.servername } : {}),
          ...(options.tls !== undefined ? { tlsOptions: options.tls } : {}),
        });
    } catch (err) {
      finished = true;
      for (const client of clients) client.destroy();
      reject(err instanceof Error ? err : new AbError(String(err), 1));
      return;
    }
    if (options.timeLimit > 0) limit = setTimeout(finish, options.timeLimit * 1000);
    if (options.signal !== undefined) {
      if (options.signal.aborted) finish();
      else options.signal.addEventListener('abort', finish, { once: true });
    }
  });
}
