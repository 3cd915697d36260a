import { spawn } from 'node:child_process';

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Killed with SIGKILL after this long. */
  limitMs?: number;
}

/** Runs a command to completion and reports how and when it ended. */
export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<ExitResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, {
      cwd: options.cwd ?? process.cwd(),
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Runs `node -e script` (ESM) from the repository root, so `import 'cosocket'` resolves to this checkout. */
export function runNode(script: string, limitMs: number): Promise<ExitResult> {
  return runProcess(process.execPath, ['--input-type=module', '-e', script], { limitMs });
}
