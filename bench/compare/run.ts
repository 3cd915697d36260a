/**
 * One suite run for one side: this tree's suite script in a fresh node process (its own process group,
 * so a timeout or Ctrl-C stops the servers it started too), pointed at the side's checkout by
 * COSOCKET_SUBJECT_DIR, with BENCH_JSON=1; its metrics come from the BENCH_JSON line it prints.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { parseSuiteMetrics } from '../lib/bench-json.js';
import type { Metric } from '../lib/bench-json.js';
import type { SuiteEnv } from './settings.js';

export interface RunSpec {
  suite: string;
  script: string;
  nodeArgs: readonly string[];
  subjectDir: string;
  env: SuiteEnv;
  timeoutMs: number;
}

export type RunOutcome =
  { ok: true; seconds: number; metrics: Metric[] } | { ok: false; seconds: number; error: string; outputTail: string };

const TAIL_LINES = 30;
const KILL_GRACE_MS = 5_000;

let running: ChildProcess | null = null;

/** Stops the run in progress and everything it started (for the harness's own SIGINT/SIGTERM). */
export function stopRunning(): void {
  if (running !== null) signalGroup(running, 'SIGKILL');
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

export function runSuite(spec: RunSpec): Promise<RunOutcome> {
  const started = performance.now();
  const seconds = (): number => (performance.now() - started) / 1000;
  const child = spawn(process.execPath, [...spec.nodeArgs, spec.script], {
    env: { ...process.env, ...spec.env, COSOCKET_SUBJECT_DIR: spec.subjectDir, BENCH_JSON: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running = child;
  let stdout = '';
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(child, 'SIGTERM');
    setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS).unref();
  }, spec.timeoutMs);
  return new Promise((resolve) => {
    const fail = (error: string): void => resolve({ ok: false, seconds: seconds(), error, outputTail: tail(output) });
    child.once('error', (err) => {
      clearTimeout(timer);
      running = null;
      fail(`could not start: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running = null;
      if (timedOut) return fail(`stopped after ${spec.timeoutMs / 60_000} min`);
      if (code !== 0) return fail(`exited with ${String(code ?? signal)}`);
      try {
        const parsed = parseSuiteMetrics(stdout);
        if (parsed.suite !== spec.suite) return fail(`printed the metrics of suite ${parsed.suite}`);
        if (!sameDir(parsed.subject, spec.subjectDir))
          return fail(
            `measured ${parsed.subject}, not ${spec.subjectDir} (does its bench code read COSOCKET_SUBJECT_DIR?)`,
          );
        resolve({ ok: true, seconds: seconds(), metrics: parsed.metrics });
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
      }
    });
  });
}

function sameDir(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
}
