/** bench/stream's figures as BENCH_JSON metrics (bench/lib/bench-json.ts): per proxy, its cold download and each scenario. */
import type { MetricLog } from '../lib/bench-json.js';
import { median } from '../lib/table.js';

export interface StreamSample {
  cpu: number;
  wall: number;
  ok: boolean;
  longestSilence: number;
}

export interface StreamFigures {
  /** `id` as in the keys below; `control`: a proxy that does not run the code under test */
  proxies: ReadonlyArray<{ id: string; label: string; control: boolean }>;
  scenarios: readonly string[];
  cold: ReadonlyMap<string, StreamSample>;
  /** by `${id} ${scenario}` */
  samples: ReadonlyMap<string, readonly StreamSample[]>;
  peaks: ReadonlyMap<string, number>;
}

/** cosocket's proxies, whose CPU is also given against the naive loop and nginx. */
const RATIOS_FOR = new Set(['off', 'on']);

export function logStreamMetrics(log: MetricLog, figures: StreamFigures): void {
  const runsOf = (id: string, scenario: string): readonly StreamSample[] =>
    figures.samples.get(`${id} ${scenario}`) ?? [];
  const cpuOf = (id: string, scenario: string): number => median(runsOf(id, scenario).map((s) => s.cpu));
  const haveNginx = figures.proxies.some((p) => p.id === 'nginx');
  for (const { id, label, control } of figures.proxies) {
    const first = figures.cold.get(id);
    log.add(`cold first download CPU: ${label}`, first?.cpu ?? NaN, 's', 'lower', control);
    log.add(`cold first download wall: ${label}`, first?.wall ?? NaN, 's', 'lower', control);
    for (const scenario of figures.scenarios) {
      const runs = runsOf(id, scenario);
      const at = `${label}, ${scenario}`;
      log.add(`CPU: ${at}`, cpuOf(id, scenario), 's', 'lower', control);
      log.add(`wall: ${at}`, median(runs.map((r) => r.wall)), 's', 'lower', control);
      log.add(`peak RSS: ${at}`, figures.peaks.get(`${id} ${scenario}`) ?? NaN, 'MB', 'lower', control);
      log.add(`byte-identical downloads: ${at}`, runs.filter((r) => r.ok).length, 'rounds', 'higher', control);
      log.add(`longest silence: ${at}`, Math.max(...runs.map((r) => r.longestSilence)), 'ms', null, control);
      if (!RATIOS_FOR.has(id)) continue;
      log.add(`CPU vs naive: ${at}`, cpuOf(id, scenario) / cpuOf('naive', scenario), 'x', 'lower');
      if (haveNginx) log.add(`CPU vs nginx: ${at}`, cpuOf(id, scenario) / cpuOf('nginx', scenario), 'x', 'lower');
    }
  }
}
