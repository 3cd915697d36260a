import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { cosocketPlugin } from '../fastify/plugin.js';
import { sendRoutes } from '../server/send-routes.js';
import { UsageError, helpText, parseFlags, usageLine } from './flags.js';
import type { FlagSpec } from './flags.js';

export const DEMO_SEND_FLAGS: readonly FlagSpec[] = [
  { name: 'lines', takesValue: true, valueName: 'N', description: 'lines to write, one a second (default 10)' },
  { name: 'port', takesValue: true, valueName: 'PORT', description: 'port to serve on (default 8090)' },
  { name: 'help', short: 'h', takesValue: false, description: 'show this help' },
];

export const DEMO_SEND_HELP = helpText(
  usageLine('cosocket demo-send', DEMO_SEND_FLAGS),
  'Dynamic sendfile, live: a file written a line a second, streamed as it grows.',
  DEMO_SEND_FLAGS,
);

/**
 * The seed's test.sh as a command: serves a fresh directory under /send/, appends a line a second to
 * demo.log.tmp, then renames it to demo.log, while you watch with the printed curl command.
 */
export async function demoSend(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('demo-send', argv, DEMO_SEND_FLAGS);
  if (values.has('help')) {
    process.stdout.write(DEMO_SEND_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const lines = Number(values.get('lines') ?? 10);
  const port = Number(values.get('port') ?? 8090);
  if (!Number.isInteger(lines) || lines < 1)
    throw new UsageError(`--lines must be a whole number >= 1, got '${String(values.get('lines'))}'`);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be a port number, got '${String(values.get('port'))}'`);
  const root = mkdtempSync(join(tmpdir(), 'cosocket-demo-'));
  const app = Fastify({ logger: false });
  await app.register(cosocketPlugin);
  await app.register(sendRoutes, {
    location: '/send/',
    root,
    interval: 100,
    timeout: 10_000,
    suffix: '.tmp',
    maxDuration: 0,
  });
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  const tmp = join(root, 'demo.log.tmp');
  writeFileSync(tmp, '');
  process.stdout.write(
    `serving ${root} under http://127.0.0.1:${actualPort}/send/\nwatch it grow:\n  curl -N --raw http://127.0.0.1:${actualPort}/send/demo.log\n\n`,
  );
  for (let i = 1; i <= lines; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    appendFileSync(tmp, `line ${i} at ${new Date().toISOString()}\n`);
    process.stdout.write(`wrote line ${i}\n`);
  }
  renameSync(tmp, join(root, 'demo.log'));
  process.stdout.write('renamed demo.log.tmp to demo.log: followers get the last chunk and X-Send-Status: complete\n');
  await new Promise((r) => setTimeout(r, 1_000));
  await app.close();
  rmSync(root, { recursive: true, force: true });
  return 0;
}
