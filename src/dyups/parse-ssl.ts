import { isAbsolute } from 'node:path';
import { SSL_DEFAULTS } from './upstream.js';
import { readTrustedCertificate } from './upstream-tls.js';
import type { UpstreamSsl } from './upstream.js';

/** A token of the group body (parse.ts's), as far as these directives need it. */
interface Word {
  text: string;
  at: number;
  quoted: boolean;
}
type Fail = (token: Word, problem: string) => never;

/** The group directives of TLS to the servers, with nginx's names (a documented extension: nginx has them per location). */
export const SSL_DIRECTIVES: ReadonlySet<string> = new Set([
  'proxy_ssl',
  'proxy_ssl_verify',
  'proxy_ssl_server_name',
  'proxy_ssl_name',
  'proxy_ssl_trusted_certificate',
]);

/** Collects a body's proxy_ssl* lines; `result` checks them together. */
export class SslDirectives {
  private on: boolean | null = null;
  private first: Word | null = null;
  private readonly ssl: UpstreamSsl = { ...SSL_DEFAULTS };
  private readonly given = new Set<string>();

  add(directive: Word, args: readonly Word[], fail: Fail): void {
    const name = directive.text;
    if (this.given.has(name)) fail(directive, `${name} given twice`);
    this.given.add(name);
    if (name !== 'proxy_ssl') this.first ??= directive;
    if (args.length !== 1) fail(directive, `${name} takes one value`);
    const arg = args[0]!;
    switch (name) {
      case 'proxy_ssl':
        this.on = onOff(arg, name, fail);
        break;
      case 'proxy_ssl_verify':
        this.ssl.verify = onOff(arg, name, fail);
        break;
      case 'proxy_ssl_server_name':
        this.ssl.serverName = onOff(arg, name, fail);
        break;
      case 'proxy_ssl_name':
        if (!isHostName(arg.text))
          fail(
            arg,
            'proxy_ssl_name is a host name (labels of 1 to 63 letters, digits and inner dashes, joined by dots; 253 at most)',
          );
        this.ssl.name = arg.text;
        break;
      default:
        this.ssl.trustedCertificate = trustedFile(arg, fail);
    }
  }

  /** The group's TLS settings: undefined without `proxy_ssl on`. */
  result(fail: Fail): UpstreamSsl | undefined {
    if (this.on !== true) {
      if (this.first !== null) fail(this.first, `${this.first.text} needs 'proxy_ssl on;' in the same group`);
      return undefined;
    }
    return this.ssl;
  }
}

/** A DNS name as TLS sends and verifies it (an IPv4 address passes too: it is verified, never sent as SNI). */
function isHostName(text: string): boolean {
  return (
    text.length <= 253 && text.split('.').every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label))
  );
}

function onOff(arg: Word, name: string, fail: Fail): boolean {
  if (arg.text !== 'on' && arg.text !== 'off') fail(arg, `${name} is on or off`);
  return arg.text === 'on';
}

/** An absolute path to a readable file of PEM certificates (checked now: a bad one never reaches the proxy). */
function trustedFile(arg: Word, fail: Fail): string {
  if (!isAbsolute(arg.text)) fail(arg, 'proxy_ssl_trusted_certificate needs an absolute path');
  const read = readTrustedCertificate(arg.text);
  if (!Buffer.isBuffer(read)) fail(arg, `proxy_ssl_trusted_certificate ${arg.text}: ${read.problem}`);
  return arg.text;
}
