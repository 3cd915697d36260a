// The part of autocannon 8.0.0 (no bundled types) that cosocket ab uses, internals included: the
// version is pinned in package.json because src/ab/load.ts replaces some of its client's methods.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  export interface AutocannonHeadersInfo {
    versionMajor: number;
    versionMinor: number;
    statusCode?: number;
    statusMessage?: string;
    /** name, value, name, value, ... */
    headers: string[];
  }

  /** http-parser-js's parser, which autocannon's client feeds. */
  export interface AutocannonParser {
    [callback: number]: unknown;
    constructor: { RESPONSE: string };
    state: string;
    initialize(type: string): void;
    finish(): void;
  }

  export interface AutocannonClient extends EventEmitter {
    conn: Socket & { encrypted?: boolean };
    parser: AutocannonParser;
    destroyed: boolean;
    getRequestBuffer: () => Buffer;
    _connect: () => void;
    _doRequest: () => void;
    _resetConnection(): void;
    destroy(): void;
  }

  export interface AutocannonOptions {
    url: string;
    connections: number;
    amount?: number;
    duration?: number;
    sampleInt?: number;
    maxOverallRequests?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeout?: number;
    pipelining?: number;
    servername?: string;
    tlsOptions?: object;
    setupClient?: (client: AutocannonClient) => void;
  }

  export interface AutocannonResult {
    requests: { average: number; total: number };
    latency: { average: number; p99: number };
    errors: number;
    timeouts: number;
    non2xx: number;
    duration: number;
  }

  export interface AutocannonInstance extends EventEmitter {
    stop(): void;
  }

  function autocannon(
    options: AutocannonOptions,
    done: (err: Error | null, result: AutocannonResult) => void,
  ): AutocannonInstance;
  export default autocannon;
}
