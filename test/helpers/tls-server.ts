import { createSecureContext, createServer } from 'node:tls';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { TestCertificate } from './tls-certs.js';

export interface TestTlsServer {
  port: number;
  /** Handshakes done, and how many of them resumed a session. */
  handshakes: number;
  resumed: number;
  /** The SNI name of each handshake (null: none sent). */
  servernames: Array<string | null>;
  /** Connections closed so far. */
  closed: number;
  close(): Promise<void>;
}

/**
 * A real TLS server on 127.0.0.1 with `certificate` (and, by SNI name, `byName`), running
 * `onConnection` for each handshake done; counts handshakes, resumptions and SNI names.
 */
export async function startTlsServer(
  certificate: TestCertificate,
  onConnection: (socket: TLSSocket) => void,
  options: { byName?: Record<string, TestCertificate>; alpn?: string[] } = {},
): Promise<TestTlsServer> {
  const sockets = new Set<TLSSocket>();
  const contexts = new Map(
    Object.entries(options.byName ?? {}).map(([name, c]) => [name, createSecureContext({ cert: c.cert, key: c.key })]),
  );
  const serverOptions: TlsOptions = {
    cert: certificate.cert,
    key: certificate.key,
    ...(options.alpn === undefined ? {} : { ALPNProtocols: options.alpn }),
    SNICallback: (name, done) => done(null, contexts.get(name)),
  };
  const state = { handshakes: 0, resumed: 0, closed: 0 };
  const servernames: Array<string | null> = [];
  const server = createServer(serverOptions, (socket) => {
    state.handshakes++;
    if (socket.isSessionReused()) state.resumed++;
    servernames.push(typeof socket.servername === 'string' ? socket.servername : null);
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      state.closed++;
    });
    onConnection(socket);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    servernames,
    get handshakes() {
      return state.handshakes;
    },
    get resumed() {
      return state.resumed;
    },
    get closed() {
      return state.closed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echoes every byte back. */
export function tlsEcho(socket: TLSSocket): void {
  socket.pipe(socket);
}
