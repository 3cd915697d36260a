/** bench/runtime's tables (per case, and one summary of ratios) and its metrics for bench/compare. */
import type { MetricLog } from '../lib/bench-json.js';
import { medianWithRange, roundRatios } from '../lib/rounds.js';
import { markdownTable, median } from '../lib/table.js';
import type { Case, LibraryName, Runner, Samples } from './harness.js';
import { LIBRARY_LABELS } from './libraries.js';

/** `runner`'s figures over `baseline`'s, round by round; empty when either did not run. */
function ratiosOf(samples: Samples, runner: string, baseline: string): number[] {
  const a = samples.get(runner);
  const b = samples.get(baseline);
  return a === undefined || b === undefined ? [] : roundRatios(a, b);
}

function ratioText(ratios: readonly number[]): string {
  return ratios.length === 0 ? '–' : `${medianWithRange(ratios, 2).replace(/ \(/, 'x (')}`;
}

/** One row per runner: its figure (median, with the range over rounds) and each ratio. */
export function caseTable(c: Case, samples: Samples): string {
  const rows = c.runners.map((runner) => {
    const values = samples.get(runner.name);
    if (runner.unavailable !== undefined || values === undefined)
      return [runner.name, runner.what, runner.unavailable ?? '–', ...c.ratios.map(() => '–')];
    return [
      runner.name,
      runner.what,
      medianWithRange(values, c.digits),
      ...c.ratios.map((ratio) => {
        const against = ratio.against(runner);
        return against === null ? '–' : ratioText(ratiosOf(samples, runner.name, against));
      }),
    ];
  });
  return markdownTable(['runner', 'what', `${c.unit}: median (range)`, ...c.ratios.map((r) => r.label)], rows);
}

function headline(c: Case, library: LibraryName): Runner | undefined {
  return c.runners.find((r) => r.library === library && r.headline === true);
}

/**
 * One row per case, one column per library: the async/await figure, and every other library's headline
 * runner as a ratio to it, measured in the same rounds (median, with the range over rounds).
 */
export function summaryTable(
  cases: readonly Case[],
  results: ReadonlyMap<string, Samples>,
  libraries: readonly LibraryName[],
): string {
  const rows = cases.map((c) => {
    const samples = results.get(c.key)!;
    const base = headline(c, 'async/await');
    const cells = libraries.map((library) => {
      const runner = headline(c, library);
      if (runner === undefined) return '—';
      if (runner.unavailable !== undefined) return runner.unavailable;
      const values = samples.get(runner.name)!;
      if (runner === base) return `${medianWithRange(values, c.digits)} ${c.unit}`;
      return base === undefined ? '–' : ratioText(ratiosOf(samples, runner.name, base.name));
    });
    return [c.title, ...cells];
  });
  return markdownTable(['case', ...libraries.map((l) => LIBRARY_LABELS[l])], rows);
}

/** Every runner's median, and its median ratio for each ratio that applies; controls are the runners that are not cosocket. */
export function logMetrics(log: MetricLog, cases: readonly Case[], results: ReadonlyMap<string, Samples>): void {
  for (const c of cases) {
    const samples = results.get(c.key)!;
    for (const runner of c.runners) {
      const values = samples.get(runner.name);
      if (values === undefined) continue;
      const control = runner.library !== 'cosocket';
      log.add(`${c.key}: ${runner.name}`, median(values), c.unit, 'lower', control);
      for (const ratio of c.ratios) {
        const against = ratio.against(runner);
        if (against === null) continue;
        const ratios = ratiosOf(samples, runner.name, against);
        if (ratios.length > 0) log.add(`${ratio.metric}: ${runner.name}`, median(ratios), 'x', 'lower', control);
      }
    }
  }
}

/** The median same-round ratio of `runner` over `baseline` in case `key`; NaN when either did not run. */
export function medianRatio(
  results: ReadonlyMap<string, Samples>,
  key: string,
  runner: string,
  baseline: string,
): number {
  const samples = results.get(key);
  const ratios = samples === undefined ? [] : ratiosOf(samples, runner, baseline);
  return ratios.length === 0 ? NaN : median(ratios);
}

/** The median figure of `runner` in case `key`; NaN when it did not run. */
export function medianOf(results: ReadonlyMap<string, Samples>, key: string, runner: string): number {
  const values = results.get(key)?.get(runner);
  return values === undefined ? NaN : median(values);
}
