/** Debian's `openssl` command line, for the certificates the benchmarks and the tests make at run time. */
import { execFileSync } from 'node:child_process';

/** Runs `openssl` with `args`; its stderr becomes the thrown error's message. */
export function runOpenssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A subjectAltName value for DNS names and IP addresses (IPv4 or IPv6). */
export function subjectAltNames(names: readonly string[]): string {
  return names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

/** A new EC P-256 key in `keyFile` and a certificate for it, signed by itself, valid for two days. */
export function makeSelfSignedCertificate(
  subject: string,
  extensions: readonly string[],
  keyFile: string,
  certFile: string,
): void {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  args.push('-days', '2', '-subj', subject, '-keyout', keyFile, '-out', certFile);
  for (const extension of extensions) args.push('-addext', extension);
  runOpenssl(args);
}
