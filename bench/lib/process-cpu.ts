/** CPU time of processes and of the whole machine, from /proc, as a share of one core over a window. */
import { readFileSync, readdirSync } from 'node:fs';

/** Linux reports utime and stime in clock ticks of 1/100 s on every platform Node runs on. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a process in seconds, or null when it is gone (or there is no /proc). */
export function processCpuSeconds(pid: number): number | null {
  try {
    // the command name may hold spaces and parentheses: fields are counted after the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields here start at field 3 (state): utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * On-CPU seconds so far of every thread of one process (not its children), in nanoseconds from
 * /proc/PID/task/TID/schedstat rather than the 10 ms ticks of utime + stime; null when it is gone.
 * A thread that exited takes its time with it: read around work done by long-lived threads.
 */
export function threadsCpuSeconds(pid: number): number | null {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let ns = 0;
  for (const tid of threads) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e9;
}

/** The process ids of a process's children (nginx's workers under its master), or [] when unknown. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * A process and every process under it: `cosocket serve`'s primary and its workers (it always has a
 * primary), nginx's master and its workers. A server's CPU and RSS figures sum all of them.
 */
export function processTree(pid: number): number[] {
  return [pid, ...childPids(pid).flatMap((child) => processTree(child))];
}

/** processCpuSeconds summed over a process tree; null when its root is gone. */
export function treeCpuSeconds(pid: number): number | null {
  const own = processCpuSeconds(pid);
  if (own === null) return null;
  return processTree(pid)
    .slice(1)
    .reduce((sum, child) => sum + (processCpuSeconds(child) ?? 0), own);
}

/** threadsCpuSeconds summed over a process tree; null when its root is gone. */
export function treeThreadsCpuSeconds(pid: number): number | null {
  const own = threadsCpuSeconds(pid);
  if (own === null) return null;
  return processTree(pid)
    .slice(1)
    .reduce((sum, child) => sum + (threadsCpuSeconds(child) ?? 0), own);
}

/** Busy CPU seconds of the whole machine, summed over cores (everything in /proc/stat's cpu line but idle and iowait). */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

interface Reading {
  at: number;
  seconds: number;
}

/**
 * Samples the CPU time of named processes, each with every process under it (and of the machine, under the name `machine`) while a
 * run lasts. A process that exits takes its last times with it, so the share is computed between the
 * first and the last reading that saw it; sample often enough that the last one is near its end.
 */
export class CpuWatch {
  private readonly first = new Map<string, Reading>();
  private readonly last = new Map<string, Reading>();
  private timer: NodeJS.Timeout | null = null;

  /** `startedAt`: when a process in `pids` started, for a process that began just now with no CPU time yet. */
  constructor(
    private readonly pids: ReadonlyMap<string, number>,
    private readonly startedAt: ReadonlyMap<string, number> = new Map(),
  ) {}

  start(intervalMs = 100): void {
    for (const [name, at] of this.startedAt) this.first.set(name, { at, seconds: 0 });
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const at = performance.now();
    const read = (name: string, seconds: number | null): void => {
      if (seconds === null) return;
      if (!this.first.has(name)) this.first.set(name, { at, seconds });
      this.last.set(name, { at, seconds });
    };
    for (const [name, pid] of this.pids) read(name, treeCpuSeconds(pid));
    read('machine', machineBusySeconds());
  }

  /** Stops sampling; each name's CPU time over its window as % of one core (NaN when it was never read twice). */
  stop(): Record<string, number> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const shares: Record<string, number> = {};
    for (const [name, first] of this.first) {
      const last = this.last.get(name);
      shares[name] =
        last === undefined || last.at <= first.at
          ? NaN
          : ((last.seconds - first.seconds) / ((last.at - first.at) / 1000)) * 100;
    }
    return shares;
  }
}
