/** The sendfile server under test: fastify + cosocket's send routes over DIR. `node server.js DIR`. */
import Fastify from 'fastify';
import { loadSendRoutes, loadSubject } from '../lib/subject.js';

const root = process.argv[2]!;
const app = Fastify({ logger: false });
await app.register((await loadSubject()).cosocketPlugin);
await app.register(await loadSendRoutes(), {
  location: '/send/',
  root,
  interval: 100,
  timeout: 10_000,
  suffix: '.tmp',
  maxDuration: 0,
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
process.on('SIGTERM', () => process.exit(0));
