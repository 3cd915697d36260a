import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runProcess } from './process.js';
import type { ExitResult } from './process.js';

/** bin/cosocket.js of this checkout (dist/test/helpers -> ../../../bin). */
export const BIN = fileURLToPath(new URL('../../../bin/cosocket.js', import.meta.url));

/** Runs `cosocket ...args` to completion. */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  limitMs = 30_000,
): Promise<ExitResult> {
  return runProcess(process.execPath, [BIN, ...args], { env, limitMs });
}

export interface RunningServer {
  child: ChildProcessWithoutNullStreams;
  port: number;
  banner: string;
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `cosocket serve --port 0 ...args` and waits for its "listening on" line. */
export function startServer(
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time; output so far:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const match = /listening on https?:\/\/[^:]+:(\d+)[^\n]*/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.on('data', (more: Buffer) => (out += more.toString()));
        resolve({
          child,
          port: Number(match[1]),
          banner: match[0],
          output: () => out,
          stop: (signal = 'SIGTERM') => {
            child.kill(signal);
            return exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${String(code)} before listening:\n${out}`));
    });
  });
}

/** The server's exit code, whether it has exited already or not. */
export function exitCodeOf(server: RunningServer): Promise<number | null> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** How many lines of what the server printed match `pattern`. */
export function outputLines(server: RunningServer, pattern: RegExp): number {
  return server
    .output()
    .split('\n')
    .filter((l) => pattern.test(l)).length;
}
