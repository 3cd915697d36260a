// The part of autocannon (no bundled types) that cosocket ab uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  export interface AutocannonClient extends EventEmitter {
    conn: Socket;
    _connect: () => void;
    _doRequest: () => void;
    _resetConnection(): void;
  }

  export interface AutocannonOptions {
    url: string;
    connections: number;
    amount?: number;
    duration?: number;
    maxOverallRequests?: number;
    method?: string;
    headers?: Record<string, string>;
    timeout?: number;
    pipelining?: number;
    setupClient?: (client: AutocannonClient) => void;
  }

  export interface AutocannonInstance extends EventEmitter {
    stop(): void;
  }

  function autocannon(
    options: AutocannonOptions,
    done: (err: Error | null, result: unknown) => void,
  ): AutocannonInstance;
  export default autocannon;
}
