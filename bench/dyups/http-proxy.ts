/** The peer under test: @fastify/http-proxy to one upstream. `node http-proxy.js UPSTREAM_PORT`; prints `listening PORT`. */
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';

const app = Fastify({ logger: false });
await app.register(httpProxy, { upstream: `http://127.0.0.1:${Number(process.argv[2])}` });
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
process.on('SIGTERM', () => process.exit(0));
