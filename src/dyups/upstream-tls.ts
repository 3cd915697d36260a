import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TlsOptions } from '../../adapters/tcp/index.js';
import { InvalidArgumentError } from '../errors/index.js';
import type { UpstreamGroup, UpstreamSsl } from './upstream.js';

/** A group's proxy_ssl_trusted_certificate file cannot be used (gone, unreadable, not PEM certificates). */
export class TrustedCertificateError extends InvalidArgumentError {
  constructor(
    readonly group: string,
    readonly file: string,
    readonly problem: string,
  ) {
    super(`upstream '${group}': proxy_ssl_trusted_certificate ${file}: ${problem}`);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/**
 * The PEM certificates of a trusted certificate file, or what is wrong with it: unreadable, no PEM
 * certificate, or one that does not parse (OpenSSL would skip it without a word and trust nothing).
 */
export function readTrustedCertificate(file: string): Buffer | { problem: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return { problem: `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  const blocks = bytes.toString('latin1').match(PEM_CERTIFICATE);
  if (blocks === null) return { problem: 'it holds no PEM certificate' };
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return { problem: `its certificate #${i + 1} does not parse (${(err as Error).message})` };
    }
  }
  return bytes;
}

/** One TLS options object per group version: the tcp cosocket checks an options object once. */
const made = new WeakMap<UpstreamSsl, TlsOptions>();

/**
 * What the proxy and the health checks connect with for a group with `proxy_ssl on` (undefined: plain):
 * the name sent and verified is proxy_ssl_name, else the group name (nginx's $proxy_host).
 * TrustedCertificateError when its trusted certificate file cannot be used; read again on the next call.
 */
export function upstreamTlsOf(group: UpstreamGroup): TlsOptions | undefined {
  const ssl = group.ssl;
  if (ssl === undefined) return undefined;
  let options = made.get(ssl);
  if (options === undefined) {
    let ca: Buffer | undefined;
    if (ssl.trustedCertificate !== null) {
      // read on the group version's first use; a changed file is read on the group's next change
      const read = readTrustedCertificate(ssl.trustedCertificate);
      if (!Buffer.isBuffer(read)) throw new TrustedCertificateError(group.name, ssl.trustedCertificate, read.problem);
      ca = read;
    }
    options = {
      servername: ssl.name ?? group.name,
      sni: ssl.serverName,
      verify: ssl.verify,
      ...(ca === undefined ? {} : { ca }),
    };
    made.set(ssl, options);
  }
  return options;
}
