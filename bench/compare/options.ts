/** bench/compare.ts's command line: flags, checked, or a usage error that says what is wrong. */
import { parseArgs } from 'node:util';
import { SUITES } from '../lib/suites.js';

export const USAGE = `usage: node dist/bench/compare.js --base DIR --head DIR [--rounds N] [--suites a,b] [--quick] [--out FILE]

Measures two builds of cosocket against each other with this tree's benchmark code: every suite runs
once per round for each side, in a fresh process, in ABBA order (base first in odd rounds, head first
in even ones), and each metric's head/base gain is the median over the rounds of the same-round ratio.

  --base DIR     a checkout with its own built dist/ (the tree before the change)
  --head DIR     a checkout with its own built dist/ (the tree after it)
  --rounds N     rounds, each running base and head once per suite (default 4; even keeps ABBA balanced)
  --suites LIST  comma-separated, from: ${SUITES.map((s) => s.name).join(', ')} (default all)
  --quick        small settings for a smoke test of the harness, not for figures
  --out FILE     also write FILE.md and FILE.json (a trailing .md or .json in FILE is dropped)
  --help         this text

A gain is direction-aware (above 1 is better, also for times and sizes). A metric is WORSE when its
median gain is below 0.97; controls (hand-written baselines, nginx, the load generator's ceiling) and
figures that only describe a run (CPU shares, connection counts) are reported and never judged.
Exit status: 0 when nothing is WORSE and every run finished, 1 otherwise, 2 for a usage error.
Suites that repeat their own runs (redis, http, stream, dyups) get ROUNDS=1: the rounds here are the
repetitions. Suite settings in the environment (BENCH_SECONDS, ROUNDS, ...) override the harness's.`;

export interface CompareOptions {
  base: string;
  head: string;
  rounds: number;
  suites: string[];
  quick: boolean;
  /** path without extension, or null */
  out: string | null;
}

export type ParsedCommand = { help: true } | { help: false; options: CompareOptions };

/** A command line that cannot be run; the message names the flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCompareArgs(argv: readonly string[]): ParsedCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        base: { type: 'string' },
        head: { type: 'string' },
        rounds: { type: 'string' },
        suites: { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) return { help: true };
  const base = requiredDir(values.base, '--base');
  const head = requiredDir(values.head, '--head');
  return {
    help: false,
    options: {
      base,
      head,
      rounds: rounds(values.rounds),
      suites: suites(values.suites),
      quick: values.quick === true,
      out: out(values.out),
    },
  };
}

function requiredDir(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${flag} DIR is required`);
  return value;
}

function rounds(value: string | boolean | undefined): number {
  if (value === undefined) return 4;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1)
    throw new UsageError(`--rounds must be a whole number >= 1, got ${JSON.stringify(value)}`);
  return n;
}

function suites(value: string | boolean | undefined): string[] {
  const known = SUITES.map((s) => s.name);
  if (value === undefined) return known;
  const names = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (names.length === 0 || unknown.length > 0)
    throw new UsageError(
      `--suites: ${unknown.length > 0 ? `unknown ${unknown.join(', ')}` : 'empty'} (known: ${known.join(', ')})`,
    );
  // the harness's order, each once
  return known.filter((n) => names.includes(n));
}

function out(value: string | boolean | undefined): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value === '') throw new UsageError('--out needs a FILE');
  return value.replace(/\.(md|json)$/, '');
}
