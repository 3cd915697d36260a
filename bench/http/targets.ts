/** What bench/http measures: the servers and routes, and the ratios between them with the targets. */

export type ServerKind =
  'cosocket' | 'constant' | 'co-constant' | 'ioredis' | 'ioredis-pool' | 'connect' | 'raw-connect';

export interface Target {
  id: string;
  label: string;
  server: ServerKind;
  path: string;
}

export const TARGETS: readonly Target[] = [
  { id: 'short', label: 'cosocket /test/short', server: 'cosocket', path: '/test/short' },
  { id: 'keepalive', label: 'cosocket /test/keepalive', server: 'cosocket', path: '/test/keepalive' },
  { id: 'shared', label: 'cosocket /test/shared', server: 'cosocket', path: '/test/shared' },
  { id: 'constant', label: 'fastify, constant body (no Redis)', server: 'constant', path: '/test' },
  { id: 'co-constant', label: 'fastify + co() printing the constant (no Redis)', server: 'co-constant', path: '/test' },
  { id: 'ioredis', label: 'fastify + ioredis, shared client (hand-written)', server: 'ioredis', path: '/test' },
  {
    id: 'ioredis-pool',
    label: 'fastify + ioredis + generic-pool (hand-written)',
    server: 'ioredis-pool',
    path: '/test',
  },
  { id: 'connect', label: 'fastify + ioredis, connect per request (hand-written)', server: 'connect', path: '/test' },
  {
    id: 'raw-connect',
    label: 'fastify + raw RESP, net.connect per request (hand-written)',
    server: 'raw-connect',
    path: '/test',
  },
];

/** `a` over `b`, each `<target id>:k` (client keepalive) or `<target id>:close` (a connection per request). */
export interface Ratio {
  label: string;
  a: string;
  b: string;
  /** the target, when it sets one */
  atLeast: number | null;
}

export const RATIOS: readonly Ratio[] = [
  { label: '/test/keepalive vs fastify + ioredis shared client (-k)', a: 'keepalive:k', b: 'ioredis:k', atLeast: 0.9 },
  {
    label: '/test/keepalive vs fastify + ioredis + generic-pool (-k)',
    a: 'keepalive:k',
    b: 'ioredis-pool:k',
    atLeast: 1.2,
  },
  {
    label: '/test/short vs fastify + raw RESP connect per request (-k)',
    a: 'short:k',
    b: 'raw-connect:k',
    atLeast: 0.95,
  },
  { label: '/test/shared vs fastify + ioredis shared client (-k)', a: 'shared:k', b: 'ioredis:k', atLeast: 1.1 },
  { label: 'keepalive/short, client keepalive (-k; seed 2.88x)', a: 'keepalive:k', b: 'short:k', atLeast: 3 },
  {
    label: 'keepalive/short, a connection per request (seed 2.47x)',
    a: 'keepalive:close',
    b: 'short:close',
    atLeast: null,
  },
  {
    label: 'co() printing the constant vs plain fastify async handler (-k)',
    a: 'co-constant:k',
    b: 'constant:k',
    atLeast: 0.95,
  },
  { label: '/test/short vs fastify + ioredis connect per request (-k)', a: 'short:k', b: 'connect:k', atLeast: null },
];
