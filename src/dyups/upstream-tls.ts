import { readFileSync } from 'node:fs';
import type { TlsOptions } from '../../adapters/tcp/index.js';
import type { UpstreamGroup, UpstreamSsl } from './upstream.js';

/** One TLS options object per group version: the tcp cosocket checks an options object once. */
const made = new WeakMap<UpstreamSsl, TlsOptions>();

/**
 * What the proxy and the health checks connect with for a group with `proxy_ssl on` (undefined: plain):
 * the name sent and verified is proxy_ssl_name, else the group name (nginx's $proxy_host).
 */
export function upstreamTlsOf(group: UpstreamGroup): TlsOptions | undefined {
  const ssl = group.ssl;
  if (ssl === undefined) return undefined;
  let options = made.get(ssl);
  if (options === undefined) {
    options = {
      servername: ssl.name ?? group.name,
      sni: ssl.serverName,
      verify: ssl.verify,
      // read when the group is set (parse checked it then); a changed file is read on the group's next change
      ...(ssl.trustedCertificate === null ? {} : { ca: readFileSync(ssl.trustedCertificate) }),
    };
    made.set(ssl, options);
  }
  return options;
}
