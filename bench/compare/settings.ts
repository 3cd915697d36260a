/**
 * The environment each suite gets under bench/compare.ts. In a comparison the repetitions are the
 * harness's rounds, so suites whose ROUNDS only repeat the same runs do one round each (the runtime
 * suite keeps its in-process rounds, which steady its medians, but runs cosocket and its async/await
 * baselines only: co, Effection and Effect are controls, and the slowest part of it). `--quick` shrinks every
 * suite to check the harness end to end in a few minutes; its figures mean nothing. A variable already
 * in the caller's environment wins over both.
 */
export type SuiteEnv = Readonly<Record<string, string>>;

const COMPARE: Readonly<Record<string, SuiteEnv>> = {
  runtime: { COMPARED_WITH: 'none' },
  redis: { ROUNDS: '1' },
  http: { ROUNDS: '1' },
  stream: { ROUNDS: '1', COLD_STARTS: '1' },
  send: {},
  dyups: { ROUNDS: '1' },
};

const QUICK: Readonly<Record<string, SuiteEnv>> = {
  runtime: {
    COMPARED_WITH: 'none',
    ROUNDS: '3',
    STEPS: '100000',
    PARKED: '10000',
    TIMERS: '10000',
    CHILDREN: '10000',
    CANCELS: '10000',
    ALL_REPEATS: '5',
    PINGS: '5000',
    LOOKUPS: '50000',
  },
  redis: { BENCH_SECONDS: '0.5', ROUNDS: '1', CONCURRENCY: '10' },
  http: { BENCH_SECONDS: '1', ROUNDS: '1', CONCURRENCY: '20' },
  stream: { CHUNKS: '10000', ROUNDS: '1', WARMUP: '2', FRAG_WARMUP: '1', COLD_STARTS: '1' },
  send: { SEND_LINES: '20', SEND_EVERY_MS: '5', SEND_CLIENTS: '10,100' },
  dyups: { BENCH_SECONDS: '1', ROUNDS: '1', CHANGES: '20', WARMUP_SECONDS: '0' },
};

/** The settings the harness gives `suite`, less those the caller's environment already sets. */
export function suiteSettings(suite: string, quick: boolean, env: NodeJS.ProcessEnv = process.env): SuiteEnv {
  const defaults = (quick ? QUICK : COMPARE)[suite] ?? {};
  return Object.fromEntries(Object.entries(defaults).filter(([key]) => env[key] === undefined));
}

/** How long one suite run may take before it is stopped and counted as failed. */
export function runTimeoutMs(quick: boolean): number {
  return (quick ? 10 : 45) * 60_000;
}
