import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { SecureContext, TlsOptions } from 'node:tls';
import { InvalidArgumentError } from '../errors/index.js';
import { optionalText } from './fields.js';
import { Field } from './schema.js';

/** A certificate file (PEM, the chain after the leaf) and its private key file. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** One listener's `tls` settings as the config holds them: file paths, checked readable. */
export interface ListenerTlsSettings {
  readonly cert: string | null;
  readonly key: string | null;
  /** server name (lower-case; `*.example.com` for any one label) → its certificate */
  readonly sni: Readonly<Record<string, CertificateFiles>>;
}

/** A certificate and its key, read and checked to match. */
export interface CertificatePair {
  readonly cert: string;
  readonly key: string;
}

/** One listener's TLS, loaded: the default certificate and the ones chosen by SNI. */
export interface ListenerTls {
  readonly pair: CertificatePair;
  readonly sni: ReadonlyMap<string, CertificatePair>;
}

function fail(message: string): never {
  throw new InvalidArgumentError(message);
}

/** A file that can be read now, answered as an absolute path. */
export function checkReadableFile(what: string, value: string): string {
  try {
    readFileSync(value);
  } catch (err) {
    fail(`${what} cannot be read: '${value}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return resolve(value);
}

const SERVER_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function filesOf(input: unknown, what: string): CertificateFiles {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    fail(`${what} must be an object { cert, key }, got ${JSON.stringify(input)}`);
  const given = input as Record<string, unknown>;
  const unknown = Object.keys(given).find((k) => k !== 'cert' && k !== 'key');
  if (unknown !== undefined) fail(`${what} unknown key '${unknown}' (known here: cert, key)`);
  const file = (name: 'cert' | 'key'): string => {
    const value = given[name];
    if (typeof value !== 'string' || value === '')
      fail(`${what} ${name} must be a file name, got ${JSON.stringify(value)}`);
    return checkReadableFile(`${what} ${name}`, value);
  };
  return { cert: file('cert'), key: file('key') };
}

/** `sni`: { 'name': { cert, key } }, names as nginx's server_name (exact, or `*.` and one label). */
export function sniCertificates(): Field<Readonly<Record<string, CertificateFiles>>> {
  return new Field<Readonly<Record<string, CertificateFiles>>>({}, (input, what) => {
    if (input === null || typeof input !== 'object' || Array.isArray(input))
      fail(`${what} must be an object of server name → { cert, key }, got ${JSON.stringify(input)}`);
    const out: Record<string, CertificateFiles> = {};
    for (const [name, files] of Object.entries(input)) {
      const lower = name.toLowerCase();
      if (!SERVER_NAME.test(lower))
        fail(`${what}: '${name}' is not a server name (like app.example.com or *.example.com)`);
      if (lower in out) fail(`${what}: '${name}' is given twice (server names are not case-sensitive)`);
      out[lower] = filesOf(files, `${what}, server name '${name}':`);
    }
    return out;
  });
}

/** The `tls` section of a listener; `flagPrefix` names its flags (`proxy-` for --proxy-tls-cert). */
export function listenerTlsSection(flagPrefix: string, listener: string) {
  return {
    cert: optionalText(checkReadableFile).from({
      flag: `${flagPrefix}tls-cert`,
      valueName: 'FILE',
      help: `serve the ${listener} over TLS with this certificate (PEM; needs --${flagPrefix}tls-key)`,
    }),
    key: optionalText(checkReadableFile).from({
      flag: `${flagPrefix}tls-key`,
      valueName: 'FILE',
      help: `the private key of --${flagPrefix}tls-cert (PEM, unencrypted)`,
    }),
    sni: sniCertificates(),
  };
}

function readPair(files: CertificateFiles, what: { cert: string; key: string }): CertificatePair {
  const read = (path: string, name: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      return fail(`${name} cannot be read: '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const cert = read(files.cert, what.cert);
  const key = read(files.key, what.key);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return fail(`${what.cert} is not a PEM certificate: '${files.cert}' (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    return fail(`${what.key} is not an unencrypted PEM private key: '${files.key}' (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey))
    fail(
      `${what.key} does not match the certificate of ${what.cert}: '${files.key}' is not the key of '${files.cert}'`,
    );
  return { cert, key };
}

/**
 * Reads and checks one listener's certificates (`path` names its section in errors, like `tls.proxy`):
 * null when it has none; a certificate without its key, a key without its certificate, SNI names without
 * a default certificate, an unreadable file or a key that is not the certificate's is an
 * InvalidArgumentError naming the setting and the file.
 */
export function loadListenerTls(settings: ListenerTlsSettings, path: string): ListenerTls | null {
  const names = { cert: `'${path}.cert'`, key: `'${path}.key'` };
  const sniNames = Object.keys(settings.sni);
  if (settings.cert === null && settings.key === null) {
    if (sniNames.length > 0) fail(`'${path}.sni' needs a default certificate: set ${names.cert} and ${names.key} too`);
    return null;
  }
  if (settings.cert === null) fail(`${names.key} is set without ${names.cert}: give both`);
  if (settings.key === null) fail(`${names.cert} is set without ${names.key}: give both`);
  const pair = readPair({ cert: settings.cert, key: settings.key }, names);
  const sni = new Map<string, CertificatePair>();
  for (const name of sniNames) {
    const where = `${path}.sni['${name}']`;
    sni.set(name, readPair(settings.sni[name]!, { cert: `'${where}.cert'`, key: `'${where}.key'` }));
  }
  return { pair, sni };
}

/** The context for a server name: exact first, then `*.` and the name without its first label. */
function contextFor(contexts: ReadonlyMap<string, SecureContext>, servername: string): SecureContext | undefined {
  const name = servername.toLowerCase();
  const exact = contexts.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot < 0 ? undefined : contexts.get(`*${name.slice(dot)}`);
}

/** node:tls server options for a loaded listener TLS: its default certificate, the others by SNI. */
export function serverTlsOptions(tls: ListenerTls): TlsOptions {
  const contexts = new Map<string, SecureContext>();
  for (const [name, pair] of tls.sni) contexts.set(name, createSecureContext({ cert: pair.cert, key: pair.key }));
  return {
    cert: tls.pair.cert,
    key: tls.pair.key,
    ...(contexts.size > 0
      ? {
          SNICallback: (servername: string, done: (err: Error | null, ctx?: SecureContext) => void) =>
            // no match: the default certificate, as nginx's default server answers
            done(null, contextFor(contexts, servername)),
        }
      : {}),
  };
}

/**
 * Fastify's options for a listener's TLS: none for plain HTTP; else `https`, which takes node:http's
 * server options (`http`: the head timeout and size) along with the certificates. Typed as nothing
 * extra so the app keeps its http.Server type: an https.Server has every method the listeners use.
 */
export function fastifyTlsOptions(tls: ListenerTls | null, http: object): object {
  return tls === null ? {} : { https: { ...http, ...serverTlsOptions(tls) } };
}

/** `https` or `http`, for banners. */
export function schemeOf(tls: ListenerTlsSettings): 'https' | 'http' {
  return tls.cert === null ? 'http' : 'https';
}
