// autocannon 8.0.0's HTTP client (it has no bundled types), internals included: the version is pinned
// in package.json because src/ab/load.ts replaces some of the client's methods.
declare module 'autocannon/lib/httpClient.js' {
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

  /** http-parser-js's parser, which the client feeds. */
  export interface AutocannonParser {
    [callback: number]: unknown;
    constructor: { RESPONSE: string };
    state: string;
    initialize(type: string): void;
    finish(): void;
  }

  export interface AutocannonClientOptions {
    protocol: string;
    hostname: string;
    port: number;
    path: string;
    method: string;
    headers: Record<string, string>;
    pipelining: number;
    /** seconds */
    timeout: number;
    servername?: string;
    tlsOptions?: object;
    setupClient: (client: AutocannonClient) => void;
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

  const Client: new (options: AutocannonClientOptions) => AutocannonClient;
  export default Client;
}
