import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Connection } from './connection.js';
import type { ConnectionHost, FrontOptions } from './connection.js';

/**
 * An HTTP/1.1 server on a raw socket listener: each connection parses its own requests
 * (src/dyups/front/request-head.ts) and runs each as a coroutine on the scheduler, one at a time.
 */
export class FrontServer implements ConnectionHost {
  readonly server: Server;
  private readonly connections = new Set<Connection>();
  private closingNow = false;

  constructor(private readonly options: FrontOptions) {
    const accept = (socket: Socket): void => {
      this.connections.add(new Connection(socket, this.options, this));
    };
    const tls = options.tls;
    // over TLS a connection starts once its handshake is done, which must end within the head's timeout
    this.server =
      tls === undefined
        ? createServer({ allowHalfOpen: true, noDelay: true }, accept)
        : createTlsServer(
            {
              ...tls,
              allowHalfOpen: true,
              noDelay: true,
              handshakeTimeout: options.headerTimeout > 0 ? options.headerTimeout : 120_000,
            },
            accept,
          );
  }

  get closing(): boolean {
    return this.closingNow;
  }

  /** @internal */
  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
  }

  listen(where: { host: string; port: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = this.server;
      const failed = (err: Error): void => reject(err);
      server.once('error', failed);
      server.listen(where.port, where.host, () => {
        server.off('error', failed);
        resolve();
      });
    });
  }

  address(): AddressInfo | string | null {
    return this.server.address();
  }

  /**
   * Stops accepting; connections between requests close now, the others once their response has gone
   * out (it says Connection: close). Resolves when every connection has closed.
   */
  close(): Promise<void> {
    this.closingNow = true;
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => resolve());
    });
    for (const conn of this.connections) conn.closeIfIdle();
    return closed;
  }

  /**
   * Like close(), but a connection between requests is closed only once it has been quiet for `quietMs`:
   * a request a kept-alive client sends meanwhile is answered (Connection: close) rather than cut. A reload
   * retires the old workers' proxies so.
   */
  retire(quietMs: number): Promise<void> {
    this.closingNow = true;
    const quiet = setInterval(() => {
      for (const conn of this.connections) conn.closeIfQuiet(quietMs);
    }, 100);
    return new Promise<void>((resolve) => {
      this.server.close(() => {
        clearInterval(quiet);
        resolve();
      });
    });
  }

  /** Cuts every open connection (a shutdown's grace period ran out). */
  closeAllConnections(): void {
    for (const conn of this.connections) conn.cut();
  }
}
