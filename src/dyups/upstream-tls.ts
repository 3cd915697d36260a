import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TlsOptions } from '../../adapters/tcp/index.js';
import { InvalidArgumentError } from '../errors/index.js';
import type { UpstreamGroup, UpstreamSsl } from './upstream.js';

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

/** A group's TLS options (undefined: plain HTTP), or why they cannot be made: its trusted certificate file went away or went bad. */
export type UpstreamTls = { readonly tls: TlsOptions | undefined } | { readonly problem: string };

const PLAIN: UpstreamTls = { tls: undefined };

/** One TLS options object per group version: the tcp cosocket checks an options object once. */
const made = new WeakMap<UpstreamSsl, UpstreamTls>();

/**
 * What the proxy and the health checks connect with for a group with `proxy_ssl on`: the name sent and
 * verified is proxy_ssl_name, else the group name (nginx's $proxy_host). Its trusted certificate file is
 * read on the group version's first use; when it cannot be used, `problem` names the group, the file and
 * why, and the next call reads it again.
 */
export function upstreamTls(group: UpstreamGroup): UpstreamTls {
  const ssl = group.ssl;
  if (ssl === undefined) return PLAIN;
  let known = made.get(ssl);
  if (known === undefined) {
    let ca: Buffer | undefined;
    if (ssl.trustedCertificate !== null) {
      // a changed file is read on the group's next change
      const read = readTrustedCertificate(ssl.trustedCertificate);
      if (!Buffer.isBuffer(read))
        return {
          problem: `upstream '${group.name}': proxy_ssl_trusted_certificate ${ssl.trustedCertificate}: ${read.problem}`,
        };
      ca = read;
    }
    known = {
      tls: {
        servername: ssl.name ?? group.name,
        sni: ssl.serverName,
        verify: ssl.verify,
        ...(ca === undefined ? {} : { ca }),
      },
    };
    made.set(ssl, known);
  }
  return known;
}

/** upstreamTls's options; InvalidArgumentError naming the problem when its certificate file cannot be used. */
export function upstreamTlsOf(group: UpstreamGroup): TlsOptions | undefined {
  const known = upstreamTls(group);
  if ('problem' in known) throw new InvalidArgumentError(known.problem);
  return known.tls;
}
