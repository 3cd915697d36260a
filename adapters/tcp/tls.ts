import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext } from 'node:tls';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { InvalidArgumentError, TlsHandshakeError, TlsVerifyError, socketErrorFrom } from '../../src/errors/index.js';
import type { SocketError } from '../../src/errors/index.js';

/** PEM text or bytes. */
export type Pem = string | Buffer;

/** What `sslhandshake` (and `connect`'s `tls`) take; every field is optional. */
export interface TlsOptions {
  /** SNI and the name the certificate must match. Default: the host connected to, unless it is an IP address. */
  servername?: string;
  /** Send the servername as SNI. Default true; false still verifies the certificate against it (nginx's proxy_ssl_server_name off). */
  sni?: boolean;
  /** Verify the peer's certificate and name. Default true (OpenResty and nginx default to off). */
  verify?: boolean;
  /** Trusted CA certificates (PEM) instead of Node's default store. */
  ca?: Pem | readonly Pem[];
  /** A client certificate and its key (PEM), for servers that ask for one. */
  cert?: Pem;
  key?: Pem;
  /** A session from an earlier handshake with the same server: resumed when the server agrees. */
  session?: SslSession;
  /** ALPN protocols offered, most wanted first ('h2', 'http/1.1'). */
  alpn?: readonly string[];
}

/**
 * What a handshake gives back (OpenResty's session userdata, with the handshake's results): pass it as
 * `session` to a later handshake with the same server to resume instead of a full handshake.
 */
export class SslSession {
  /** @internal the newest ticket the server sent (TLS 1.3 sends them after the handshake) */
  ticket: Buffer | undefined;

  constructor(
    /** the name sent as SNI and verified, or null (none) */
    readonly servername: string | null,
    /** the ALPN protocol the server chose, or null */
    readonly alpn: string | null,
    /** this handshake resumed an earlier session */
    readonly reused: boolean,
    /** 'TLSv1.3', 'TLSv1.2' */
    readonly protocol: string | null,
    ticket: Buffer | undefined,
  ) {
    this.ticket = ticket;
  }
}

/** A TLS setup checked once: what a handshake and the pool key need. */
export interface TlsSettings {
  readonly servername: string | null;
  readonly sni: boolean;
  readonly verify: boolean;
  readonly context: SecureContext;
  readonly alpn: string[] | undefined;
  /** Connections made with equal keys are interchangeable: the TLS part of their pool's name. */
  readonly key: string;
  /** Pool names made from it, by the plain pool's name (no string built per connect). */
  readonly poolNames: Map<string, string>;
}

const contexts = new Map<string, SecureContext>();

/** One secure context per set of CA, certificate and key (making one parses them all: never per connection). */
function contextOf(
  ca: Pem | readonly Pem[] | undefined,
  cert: Pem | undefined,
  key: Pem | undefined,
): [SecureContext, string] {
  let identity = '';
  if (ca !== undefined || cert !== undefined || key !== undefined) {
    const hash = createHash('sha256');
    for (const part of [
      ...(Array.isArray(ca) ? (ca as readonly Pem[]) : ca === undefined ? [] : [ca as Pem]),
      '|',
      cert ?? '',
      '|',
      key ?? '',
    ])
      hash.update(part);
    identity = hash.digest('hex').slice(0, 16);
  }
  let context = contexts.get(identity);
  if (context === undefined) {
    try {
      context = createSecureContext({
        ...(ca === undefined ? {} : { ca: ca as string | Buffer | Array<string | Buffer> }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
      });
    } catch (err) {
      throw new InvalidArgumentError(`tls: bad ca, cert or key: ${err instanceof Error ? err.message : String(err)}`);
    }
    contexts.set(identity, context);
  }
  return [context, identity];
}

function checkPem(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string' && !Buffer.isBuffer(value))
    throw new InvalidArgumentError(`tls: ${name} must be PEM text or a Buffer`);
  // OpenSSL skips what is not PEM without a word: a CA file that holds none would trust nothing, silently
  if (!value.toString('latin1').includes('-----BEGIN '))
    throw new InvalidArgumentError(`tls: ${name} is not PEM (no '-----BEGIN' line)`);
}

const checked = new WeakMap<TlsOptions, { host: string; settings: TlsSettings }>();

/** The options checked (remembered per options object and host: a proxy passes the same object each time). */
export function tlsSettingsOf(options: TlsOptions, host: string): TlsSettings {
  const known = checked.get(options);
  if (known !== undefined && known.host === host) return known.settings;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('tls: options must be an object');
  const { servername, sni = true, verify = true, ca, cert, key, alpn } = options;
  if (typeof sni !== 'boolean') throw new InvalidArgumentError(`tls: sni must be true or false, got ${String(sni)}`);
  if (servername !== undefined && (typeof servername !== 'string' || servername === ''))
    throw new InvalidArgumentError(`tls: servername must be a non-empty string, got ${String(servername)}`);
  if (typeof verify !== 'boolean')
    throw new InvalidArgumentError(`tls: verify must be true or false, got ${String(verify)}`);
  if (Array.isArray(ca)) for (const one of ca as unknown[]) checkPem('ca', one);
  else checkPem('ca', ca);
  checkPem('cert', cert);
  checkPem('key', key);
  if ((cert === undefined) !== (key === undefined)) throw new InvalidArgumentError('tls: cert and key go together');
  if (alpn !== undefined && (!Array.isArray(alpn) || alpn.some((p) => typeof p !== 'string' || p === '')))
    throw new InvalidArgumentError('tls: alpn must be a list of protocol names');
  if (options.session !== undefined && !(options.session instanceof SslSession))
    throw new InvalidArgumentError('tls: session must be what an earlier sslhandshake returned');
  const name = servername ?? (isIP(host) === 0 && !host.startsWith('unix:') ? host : null);
  const [context, identity] = contextOf(ca, cert, key);
  const alpnList: string[] | undefined = alpn === undefined || alpn.length === 0 ? undefined : Array.from(alpn);
  const settings: TlsSettings = {
    servername: name,
    sni,
    verify,
    context,
    alpn: alpnList,
    poolNames: new Map<string, string>(),
    key: `tls:${name ?? ''}:${sni ? 'sni' : 'nosni'}:${verify ? 'verify' : 'noverify'}:${alpnList?.join(',') ?? ''}:${identity}`,
  };
  checked.set(options, { host, settings });
  return settings;
}

/** The options of node's tls.connect for these settings (without the socket or address). */
export function tlsConnectOptions(
  settings: TlsSettings,
  host: string,
  session: Buffer | undefined,
): {
  host: string;
  servername?: string;
  rejectUnauthorized: boolean;
  secureContext: SecureContext;
  ALPNProtocols?: string[];
  session?: Buffer;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  const name = settings.servername;
  return {
    host,
    ...(name !== null && settings.sni && isIP(name) === 0 ? { servername: name } : {}),
    // without SNI node would check the address connected to: the certificate must still name the servername
    ...(name !== null && !settings.sni
      ? { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert) }
      : {}),
    rejectUnauthorized: settings.verify,
    secureContext: settings.context,
    ...(settings.alpn === undefined ? {} : { ALPNProtocols: settings.alpn }),
    ...(session === undefined ? {} : { session }),
  };
}

/** The session a finished handshake gives back; it follows the tickets the server sends afterwards. */
export function sessionOf(socket: TLSSocket, settings: TlsSettings): SslSession {
  const session = new SslSession(
    settings.servername,
    typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
    socket.isSessionReused(),
    socket.getProtocol(),
    socket.getSession(),
  );
  socket.on('session', (ticket: Buffer) => {
    session.ticket = ticket;
  });
  return session;
}

/** OpenSSL's certificate check failures and node's name check: a TlsVerifyError, not a handshake error. */
const VERIFY_CODE =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE|HOSTNAME_MISMATCH)/;

/** The typed error for what failed during a handshake with `peer`. */
export function tlsErrorFrom(peer: string, settings: TlsSettings, host: string, err: unknown): SocketError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && VERIFY_CODE.test(code))
    return new TlsVerifyError(peer, settings.servername ?? host, code, message, { cause: err });
  if (typeof code === 'string' && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')))
    return new TlsHandshakeError(peer, `${code} (${message})`, { cause: err });
  if (code === 'ECONNRESET' || code === 'EPIPE' || (typeof code === 'string' && /^E[A-Z]+$/.test(code)))
    return new TlsHandshakeError(peer, `${message} during the handshake`, { cause: err });
  return typeof code === 'string'
    ? socketErrorFrom('sslhandshake', peer, err)
    : new TlsHandshakeError(peer, message, { cause: err });
}
