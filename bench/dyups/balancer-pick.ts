/**
 * The CPU cost of one pick of each dyups balancer, in-process, beside smooth weighted round robin: what
 * the balancer adds to a proxied request, without the sockets (whose cost on a busy machine drowns it
 * in bench/dyups/balancers.ts). Three servers, interleaved rounds (the order turns each round), 200,000
 * picks per run; a coroutine balancer that does not yield is run as the proxy runs it (coroutinePick).
 *
 *   npm run build && flock /tmp/bench.lock node dist/bench/dyups/balancer-pick.js   # env ROUNDS, PICKS
 */
import { GroupBalancer, Peer } from '../../src/dyups/balancer.js';
import { defineBalancer } from '../../src/dyups/balancer-registry.js';
import { coroutinePick } from '../../src/dyups/coroutine-pick.js';
import { parseUpstream } from '../../src/dyups/parse.js';
import { envInt } from '../lib/env.js';
import { medianWithRange } from '../lib/rounds.js';
import { BUILT_IN_METHODS } from './balancing-methods.js';
import type { BalancingMethod } from './balancing-methods.js';
import { markdownTable } from '../lib/table.js';

const ROUNDS = envInt('ROUNDS', 7);
const PICKS = envInt('PICKS', 200_000);
const SERVERS = 'server 10.0.0.1:80 weight=2; server 10.0.0.2:80; server 10.0.0.3:80;';

let turn = 0;
defineBalancer('bench-noyield', function* (ctx) {
  return ctx.peers[turn++ % ctx.peers.length]!;
});

const METHODS: readonly BalancingMethod[] = [
  ...BUILT_IN_METHODS,
  { id: 'coroutine, no yield (coroutinePick)', lines: 'balancer bench-noyield;' },
];

const input = { clientIp: '10.1.0.1', hashKey: '' };
const none: ReadonlySet<Peer> = new Set();
const request = { method: 'GET', url: '/', headers: { host: 'g' } };
const log = (): void => {};

function runOnce(balancer: GroupBalancer): number {
  const ref = balancer.group.coroutine;
  const started = process.hrtime.bigint();
  if (ref === undefined) for (let i = 0; i < PICKS; i++) balancer.pick(input, none);
  else
    for (let i = 0; i < PICKS; i++) {
      const step = coroutinePick(ref, balancer, request, '10.1.0.1', none, log).next();
      if (step.done !== true || step.value === null) throw new Error('the balancer yielded or fell back');
    }
  return Number(process.hrtime.bigint() - started) / PICKS;
}

const balancers = METHODS.map(({ lines }) => {
  const group = parseUpstream('g', `${lines} ${SERVERS}`);
  return new GroupBalancer(
    group,
    group.servers.map((s) => new Peer(s)),
  );
});
const times = METHODS.map(() => [] as number[]);
for (const balancer of balancers) runOnce(balancer); // warm-up
for (let round = 0; round < ROUNDS; round++)
  for (let k = 0; k < METHODS.length; k++) {
    const i = (k + round) % METHODS.length;
    times[i]!.push(runOnce(balancers[i]!));
  }
process.stdout.write(
  `${markdownTable(
    ['balancer', 'ns per pick, median (range)', 'ns more than SWRR (median of rounds)'],
    METHODS.map((method, i) => [
      method.id,
      medianWithRange(times[i]!),
      i === 0 ? '' : medianWithRange(times[i]!.map((t, r) => t - times[0]![r]!)),
    ]),
  )}\n`,
);
