/** Child processes the benchmarks measure: a node script that prints its port, or nginx proxy_pass. */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids } from './process-cpu.js';

export interface Proc {
  child: ChildProcess;
  port: number;
  line: string;
  cleanup?: () => void;
}

export function startProcess(command: string, args: string[], pattern: RegExp): Promise<Proc> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const match = pattern.exec(out);
      if (match) resolve({ child, port: Number(match[1]), line: match[0] });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${String(code)}: ${out}`)));
  });
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function nginxPath(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx 2>/dev/null']).stdout?.toString().trim();
  return found ? found.split('\n')[0]! : null;
}

/** nginx as a keepalive proxy_pass to one upstream; `extra` goes into the server block. */
export function startNginx(upstreamPort: number, extra = ''): Promise<Proc> {
  return startNginxServer(
    `location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }${extra}`,
    `upstream up { server 127.0.0.1:${upstreamPort}; keepalive 16; }`,
  );
}

/** One nginx worker answering every request with `body` (the load generators' ceiling, and an upstream that is never the limit). */
export function startNginxConstant(body: string): Promise<Proc> {
  if (!/^[\w.-]*$/.test(body))
    throw new TypeError(`startNginxConstant: body must be plain word characters, got ${JSON.stringify(body)}`);
  return startNginxServer(`location / { return 200 "${body}"; }`);
}

/**
 * One nginx worker serving each of `files` (path → body) as a static file from its own prefix: an
 * upstream that is never the limit, for bodies too long for a `return` in nginx.conf.
 */
export function startNginxFiles(files: Readonly<Record<string, string>>): Promise<Proc> {
  for (const path of Object.keys(files))
    if (!/^\/[\w.-]+$/.test(path))
      throw new TypeError(`startNginxFiles: path must be /word, got ${JSON.stringify(path)}`);
  return startNginxServer((dir) => {
    mkdirSync(join(dir, 'www'));
    for (const [path, body] of Object.entries(files)) writeFileSync(join(dir, 'www', path.slice(1)), body);
    return `location / { root ${dir}/www; etag off; }`;
  }, 'open_file_cache max=64 inactive=600s; open_file_cache_valid 600s;');
}

/** The process doing the work: nginx's worker rather than its master; any other process itself. */
export function workerPid(proc: Proc): number {
  return (proc.line === 'nginx' ? childPids(proc.child.pid!)[0] : undefined) ?? proc.child.pid!;
}

/** SIGTERM, then waits for the exit and removes what the process's start left behind. */
export async function stopProc(proc: Proc): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
    proc.child.kill('SIGTERM');
    await exited;
  }
  proc.cleanup?.();
}

/** A certificate and its key, as files nginx reads. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** One nginx worker answering every request with `body` over TLS (`tls`'s certificate), keepalive on. */
export function startNginxTlsConstant(body: string, tls: TlsFiles): Promise<Proc> {
  if (!/^[\w.-]*$/.test(body))
    throw new TypeError(`startNginxTlsConstant: body must be plain word characters, got ${JSON.stringify(body)}`);
  return startNginxServer(`location / { return 200 "${body}"; }`, '', tls);
}

/**
 * nginx, one worker, with `serverBlock` and `httpBlock` as given: a proxy_pass of the caller's own
 * (https upstreams, WebSocket). Its listener is plain HTTP.
 */
export function startNginxWith(serverBlock: string, httpBlock: string): Promise<Proc> {
  return startNginxServer(serverBlock, httpBlock);
}

/**
 * nginx, one worker, its prefix, pid, logs and temp dirs in a fresh tmpdir that `cleanup` removes; `port` is
 * its listener, TLS with `tls`'s certificate when given.
 */
async function startNginxServer(
  serverBlock: string | ((dir: string) => string),
  httpBlock = '',
  tls: TlsFiles | null = null,
): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-nginx-'));
  const server = typeof serverBlock === 'string' ? serverBlock : serverBlock(dir);
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/client; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  ${httpBlock}
  server {
    listen 127.0.0.1:${port}${tls === null ? '' : ' ssl'};
    ${tls === null ? '' : `ssl_certificate ${tls.certFile}; ssl_certificate_key ${tls.keyFile};`}
    ${server}
  }
}
`,
  );
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const child = spawn(nginxPath()!, ['-c', join(dir, 'nginx.conf'), '-p', dir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = get({ host: '127.0.0.1', port, path: '/__probe', agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return { child, port, line: 'nginx', cleanup };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  let log = '';
  try {
    log = readFileSync(join(dir, 'error.log'), 'utf8').trim();
  } catch {
    // it stopped before opening its log
  }
  cleanup();
  throw new Error(`nginx did not start on 127.0.0.1:${port}: ${log || 'no error log'}`);
}
