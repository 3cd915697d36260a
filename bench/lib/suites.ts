/** The benchmark suites, each a script under dist/bench run in a process of its own (run-all.ts, compare.ts). */
export interface Suite {
  name: string;
  /** relative to dist/bench */
  script: string;
  nodeArgs: readonly string[];
}

export const SUITES: readonly Suite[] = [
  { name: 'runtime', script: 'runtime/index.js', nodeArgs: ['--expose-gc'] },
  { name: 'redis', script: 'redis/index.js', nodeArgs: [] },
  { name: 'http', script: 'http/index.js', nodeArgs: [] },
  { name: 'stream', script: 'stream/index.js', nodeArgs: [] },
  { name: 'send', script: 'send/index.js', nodeArgs: [] },
  { name: 'dyups', script: 'dyups/index.js', nodeArgs: [] },
];
