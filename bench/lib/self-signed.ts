/** A self-signed certificate made now with `openssl` in a tmpdir of its own: TLS upstreams for the benchmarks. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSignedCertificate, subjectAltNames } from './openssl.js';
import type { TlsFiles } from './processes.js';

export interface SelfSigned extends TlsFiles {
  /** Removes the directory. */
  remove(): void;
}

/** An EC P-256 certificate for `names` (DNS names or IP addresses), its own issuer: trust it as its own CA. */
export function makeSelfSigned(names: readonly string[]): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-tls-'));
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  try {
    makeSelfSignedCertificate(
      `/CN=${names[0] ?? 'localhost'}`,
      [`subjectAltName=${subjectAltNames(names)}`],
      keyFile,
      certFile,
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make a self-signed certificate: ${(err as Error).message}`, { cause: err });
  }
  return { certFile, keyFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
