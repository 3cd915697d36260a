/**
 * Interleaved rounds: in every round each case runs each of its runners once, the runners' order turned
 * by one each round so that none always runs first (after a GC) or last. A runner measures one figure per
 * run and checks what it computed (counts, `finally` blocks run): a wrong result throws, naming the case
 * and the runner, and stops the bench.
 */
export type LibraryName = 'async/await' | 'cosocket' | 'co' | 'Effection' | 'Effect';

export interface Runner {
  /** its name in the tables and in its metric's name (`${case.key}: ${name}`), stable across trees */
  name: string;
  library: LibraryName;
  /** the code one item runs, for the tables */
  what: string;
  /** items in one run: steps, coroutines, round trips */
  items: number;
  /** one run: the figure in the case's unit, per item; throws when the result is wrong */
  measure(items: number): Promise<number>;
  /** the row shown for its library in the summary table */
  headline?: boolean;
  /** why it does not run here ("n/a (not in this build)"); it is then shown with this and not measured */
  unavailable?: string;
}

/** A runner shown with `reason` in place of figures, never measured. */
export function unavailableRunner(fields: Omit<Runner, 'measure' | 'unavailable'>, reason: string): Runner {
  return {
    ...fields,
    unavailable: reason,
    measure: () => Promise.reject(new Error(`${fields.name}: ${reason}`)),
  };
}

/** A second figure per runner: its value over another runner's in the same round. */
export interface Ratio {
  /** the column heading */
  label: string;
  /** the metric's name before the runner's (`${metric}: ${runner.name}`) */
  metric: string;
  /** the runner divided by, for `runner`; null for none (a baseline, or a runner this ratio is not for) */
  against(runner: Runner): string | null;
}

/** Each runner's figure over `baseline`'s in the same round (every runner but the baseline). */
export function ratioAgainst(metric: string, label: string, baseline: string): Ratio {
  return {
    label,
    metric,
    against: (r) => (r.name === baseline ? null : baseline),
  };
}

/** The usual ratio: against the case's async/await runner, named 'async fn'. */
export function asyncRatio(key: string): Ratio {
  return ratioAgainst(`${key} vs async/await`, 'vs async/await', 'async fn');
}

export interface Case {
  /** metric name prefix */
  key: string;
  title: string;
  unit: string;
  /** decimals shown */
  digits: number;
  runners: Runner[];
  ratios: Ratio[];
  /** a warm-up run of a tenth of each runner's items before the rounds */
  warmUp: boolean;
}

/** Every round's figure, by runner name. */
export type Samples = Map<string, number[]>;

/** One full GC (`times` for more); throws without --expose-gc. */
export function collectGarbage(times = 1): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc (npm run bench:runtime does)');
  for (let i = 0; i < times; i++) collect();
}

/** The runners of round `round`, turned by one place per round. */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  const shift = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function measureChecked(c: Case, runner: Runner, items: number, beforeRun: () => void): Promise<number> {
  beforeRun();
  try {
    const value = await runner.measure(items);
    if (!Number.isFinite(value)) throw new Error(`measured ${value}`);
    return value;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`bench/runtime ${c.key} / ${runner.name}: ${message}`, { cause: err });
  }
}

/** Seconds spent in each case so far (warm-up included), by case key: for the progress lines. */
export type CaseSeconds = ReadonlyMap<string, number>;

export interface RoundHooks {
  /** hears of each finished round (for progress) */
  onRound?: (round: number, seconds: CaseSeconds) => void;
  /** before every run; a full GC unless given */
  beforeRun?: () => void;
}

/** Runs `rounds` interleaved rounds of every case: every runner's figure, round by round, by case key. */
export async function runRounds(
  cases: readonly Case[],
  rounds: number,
  { onRound = () => {}, beforeRun = collectGarbage }: RoundHooks = {},
): Promise<Map<string, Samples>> {
  const results = new Map<string, Samples>();
  const seconds = new Map<string, number>(cases.map((c) => [c.key, 0]));
  const timed = async (c: Case, run: () => Promise<void>): Promise<void> => {
    const start = performance.now();
    await run();
    seconds.set(c.key, seconds.get(c.key)! + (performance.now() - start) / 1000);
  };
  for (const c of cases) {
    const runnable = c.runners.filter((r) => r.unavailable === undefined);
    results.set(c.key, new Map(runnable.map((r) => [r.name, []])));
    if (!c.warmUp) continue;
    await timed(c, async () => {
      for (const runner of runnable) await measureChecked(c, runner, Math.ceil(runner.items / 10), beforeRun);
    });
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const samples = results.get(c.key)!;
      const runnable = c.runners.filter((r) => r.unavailable === undefined);
      await timed(c, async () => {
        for (const runner of roundOrder(runnable, round)) {
          samples.get(runner.name)!.push(await measureChecked(c, runner, runner.items, beforeRun));
        }
      });
    }
    onRound(round, seconds);
  }
  return results;
}
