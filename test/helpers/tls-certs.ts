import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeSelfSignedCertificate,
  runOpenssl as openssl,
  subjectAltNames as altNames,
} from '../../bench/lib/openssl.js';

/** PEM texts and the files they are in. */
export interface TestCertificate {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  /** the CA that signs every `issue`d certificate */
  ca: TestCertificate;
  /** A certificate for `names` (DNS names or IP addresses), signed by the CA. */
  issue(names: readonly string[]): TestCertificate;
  /** A self-signed certificate for `names` (signed by no CA). */
  selfSigned(names: readonly string[]): TestCertificate;
  /** Removes the directory. */
  remove(): void;
}

let serial = 0;

function read(dir: string, name: string): TestCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/**
 * A CA and certificates made now with Debian's `openssl` (node's crypto cannot sign X509), in a
 * directory of their own: real verification, nothing checked in.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-tls-'));
  makeSelfSignedCertificate(
    '/CN=cosocket test CA',
    ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
    join(dir, 'ca.key'),
    join(dir, 'ca.crt'),
  );
  return {
    ca: read(dir, 'ca'),
    issue(names) {
      const name = `leaf${++serial}`;
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        `subjectAltName=${altNames(names)}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      openssl([
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        `/CN=${names[0] ?? 'test'}`,
        '-keyout',
        join(dir, `${name}.key`),
        '-out',
        join(dir, `${name}.csr`),
      ]);
      openssl([
        'x509',
        '-req',
        '-in',
        join(dir, `${name}.csr`),
        '-CA',
        join(dir, 'ca.crt'),
        '-CAkey',
        join(dir, 'ca.key'),
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        join(dir, `${name}.crt`),
      ]);
      return read(dir, name);
    },
    selfSigned(names) {
      const name = `self${++serial}`;
      makeSelfSignedCertificate(
        `/CN=${names[0] ?? 'test'}`,
        [`subjectAltName=${altNames(names)}`],
        join(dir, `${name}.key`),
        join(dir, `${name}.crt`),
      );
      return read(dir, name);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
