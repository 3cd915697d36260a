/** One download by curl (its own process, de-chunking in C), the body hashed here as it arrives. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';

export interface CurlDownload {
  /** curl exited 0 and the body's sha256 is the one expected */
  ok: boolean;
  bytes: number;
  ms: number;
  longestSilenceMs: number;
  /** curl's complaint when it failed */
  error: string;
}

export function curlDownload(url: string, host: string, sha256: string): Promise<CurlDownload> {
  return new Promise((resolve) => {
    const started = performance.now();
    let last = started;
    let longest = 0;
    let bytes = 0;
    let error = '';
    const hash = createHash('sha256');
    const curl = spawn('curl', ['-sS', '--max-time', '180', '-H', `Host: ${host}`, url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    curl.stdout.on('data', (d: Buffer) => {
      const now = performance.now();
      if (bytes > 0) longest = Math.max(longest, now - last);
      last = now;
      bytes += d.length;
      hash.update(d);
    });
    curl.stderr.on('data', (d: Buffer) => (error += d.toString()));
    curl.once('error', (err) =>
      resolve({ ok: false, bytes, ms: performance.now() - started, longestSilenceMs: longest, error: err.message }),
    );
    curl.once('close', (code) =>
      resolve({
        ok: code === 0 && hash.digest('hex') === sha256,
        bytes,
        ms: performance.now() - started,
        longestSilenceMs: longest,
        error: code === 0 ? '' : `curl exited ${String(code)}: ${error.trim()}`,
      }),
    );
  });
}
