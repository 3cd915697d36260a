/** A self-signed certificate made now with `openssl` in a tmpdir of its own: TLS upstreams for the benchmarks. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsFiles } from './processes.js';

export interface SelfSigned extends TlsFiles {
  /** Removes the directory. */
  remove(): void;
}

/** An EC P-256 certificate for `names` (DNS names or IPv4 addresses), its own issuer: trust it as its own CA. */
export function makeSelfSigned(names: readonly string[]): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-tls-'));
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  const altNames = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${names[0] ?? 'localhost'}`,
        '-addext',
        `subjectAltName=${altNames}`,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make a self-signed certificate: ${(err as Error).message}`, { cause: err });
  }
  return { certFile, keyFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
