import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** One load thread's own CPU over its run. */
export interface CpuReport {
  thread: string;
  /** CPU seconds (user + system) of this thread alone. */
  cpuSeconds: number;
  wallSeconds: number;
  /** cpuSeconds / wallSeconds: 1 is one core fully busy. */
  share: number;
  /** The event loop's utilisation over the run (0..1), where the thread's CPU cannot be read. */
  loopUtilisation: number;
}

const TICKS_PER_SECOND = 100;

/**
 * The calling thread's CPU seconds, from /proc/thread-self/stat (Linux). The read is synchronous on
 * purpose: an asynchronous one would run on a libuv pool thread and read that thread instead.
 */
function threadCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return null;
  }
}

/** Samples a load thread's own CPU from construction to report(). */
export class ThreadCpu {
  private readonly cpuAtStart = threadCpuSeconds();
  private readonly wallAtStart = performance.now();
  private readonly loopAtStart = performance.eventLoopUtilization();

  constructor(private readonly thread: string) {}

  report(): CpuReport {
    const wallSeconds = (performance.now() - this.wallAtStart) / 1000;
    const loop = performance.eventLoopUtilization(this.loopAtStart).utilization;
    const now = threadCpuSeconds();
    const cpuSeconds = now !== null && this.cpuAtStart !== null ? now - this.cpuAtStart : loop * wallSeconds;
    return {
      thread: this.thread,
      cpuSeconds,
      wallSeconds,
      share: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0,
      loopUtilisation: loop,
    };
  }
}

/** A thread at or above this share of one core, or with its event loop this busy, is the limit of the figure. */
export const BOUND_SHARE = 0.9;

const saturation = (c: CpuReport): number => Math.max(c.share, c.loopUtilisation);
const percent = (x: number): string => `${Math.round(x * 100)}%`;

/**
 * The report's last line when a load thread was saturated, or null. A thread counts as saturated when
 * its CPU reached 90% of one core, or when its event loop was busy 90% of the run: on a machine whose
 * cores are shared the thread may wait for a core, and then it is the limit with less CPU.
 */
export function boundLine(cpu: readonly CpuReport[]): string | null {
  const busiest = cpu.reduce<CpuReport | null>((a, b) => (a === null || saturation(b) > saturation(a) ? b : a), null);
  if (busiest === null || saturation(busiest) < BOUND_SHARE) return null;
  const threads = cpu
    .map((c) => `${c.thread}: CPU ${percent(c.share)} of one core, event loop busy ${percent(c.loopUtilisation)}`)
    .join('; ');
  return (
    `Bounded by the load generator: the figures above may be its limit, not the server's (${threads}). ` +
    'Spread the load with --workers N, or measure with ab or wrk.'
  );
}
