/**
 * Node's floor for proxying to a TLS upstream (issue 17): no HTTP at all, each client connection piped
 * to a TLS connection of its own to the upstream (verified against `CA_FILE` as `SERVERNAME`, the first
 * connection's session reused by the next ones), bytes copied both ways with `pipe`. What is left per
 * request is node's net and tls layers: a read and a write on each socket, TLS records sealed and opened.
 * `node tls-pipe-proxy.js UPSTREAM_PORT CA_FILE SERVERNAME`; prints `listening PORT`.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect } from 'node:tls';

const [port, caFile, servername] = process.argv.slice(2);
const ca = readFileSync(caFile!);
let session: Buffer | undefined;

const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect({ host: '127.0.0.1', port: Number(port), ca, servername, session });
  upstream.once('session', (s: Buffer) => (session = s));
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.once('close', close);
  upstream.once('close', close);
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
