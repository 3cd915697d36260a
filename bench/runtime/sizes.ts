/**
 * bench/runtime's settings, from the environment (each a whole number; a bad one stops the run naming it).
 * Effection runs a fraction of every case's size (EFFECTION_DIVISOR, default 1/20): its coroutines cost
 * 10–400x the others' and its per-item cost is roughly flat from 5,000 to 40,000 items, so a smaller run keeps a
 * full run near two minutes without changing what is measured. Figures are per item, so sizes do not
 * enter ratios. COMPARED_WITH (libraries.ts) leaves libraries out.
 */
import { envInt } from '../lib/env.js';

export interface Sizes {
  rounds: number;
  /** steps per run of the step case */
  steps: number;
  /** coroutines parked for the memory case */
  parked: number;
  /** coroutines in sleep(1) */
  timers: number;
  /** children spawned and joined by one parent */
  children: number;
  /** parked coroutines cancelled */
  cancels: number;
  /** children of one all() */
  allChildren: number;
  /** all() calls per run */
  allRepeats: number;
  /** channel round trips per run */
  pings: number;
  /** context lookups per run */
  lookups: number;
  effectionDivisor: number;
}

export function sizesFromEnv(): Sizes {
  return {
    rounds: envInt('ROUNDS', 5),
    steps: envInt('STEPS', 1_000_000),
    parked: envInt('PARKED', 50_000),
    timers: envInt('TIMERS', 100_000),
    children: envInt('CHILDREN', 100_000),
    cancels: envInt('CANCELS', 100_000),
    allChildren: envInt('ALL_CHILDREN', 1_000),
    allRepeats: envInt('ALL_REPEATS', 50),
    pings: envInt('PINGS', 50_000),
    lookups: envInt('LOOKUPS', 500_000),
    effectionDivisor: envInt('EFFECTION_DIVISOR', 20),
  };
}

/** Effection's share of a case's size: at least one item. */
export function effectionShare(size: number, sizes: Sizes): number {
  return Math.max(1, Math.round(size / sizes.effectionDivisor));
}
