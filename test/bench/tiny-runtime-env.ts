/** bench/runtime's settings for tests: every case, each in a few milliseconds. Figures mean nothing. */
export const TINY_RUNTIME_ENV: Readonly<Record<string, string>> = {
  ROUNDS: '1',
  STEPS: '2000',
  PARKED: '1000',
  TIMERS: '1000',
  CHILDREN: '1000',
  CANCELS: '1000',
  ALL_CHILDREN: '100',
  ALL_REPEATS: '2',
  PINGS: '500',
  LOOKUPS: '2000',
  EFFECTION_DIVISOR: '10',
};
