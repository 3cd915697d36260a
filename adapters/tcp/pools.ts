import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import { pools } from '../../src/pool/registry.js';
import { TcpConnection, TlsTarget } from './connection.js';
import type { Target } from './connection.js';
import type { TlsSettings } from './tls.js';

/** Pool settings a connect may give (used when the pool is created). */
export interface PoolSettings {
  poolSize?: number;
  backlog?: number;
  idleTimeout?: number;
}

/**
 * The tcp pool named `name` (created on first use). A TLS pool's name carries the TLS settings' key, so
 * connections with other names, verification or certificates never share it; its new connections
 * resume the newest session one of them got.
 */
export function tcpPool(
  name: string,
  host: string,
  port: number,
  tlsSettings: TlsSettings | null,
  connectMs: number,
  settings: PoolSettings = {},
): KeepalivePool<TcpConnection> {
  return pools.get('tcp', name, () => {
    // made once per pool, not per connect
    const peer = port === 0 ? host : `${host}:${port}`;
    const target: Target = port === 0 ? { path: host.slice(5) } : { host, port };
    const tls = tlsSettings === null ? null : new TlsTarget(tlsSettings, host);
    return new KeepalivePool<TcpConnection>(
      {
        name,
        ...(settings.poolSize === undefined ? {} : { size: settings.poolSize }),
        ...(settings.backlog === undefined ? {} : { backlog: settings.backlog }),
        ...(settings.idleTimeout === undefined ? {} : { idleTimeout: settings.idleTimeout }),
        acquireTimeout: connectMs,
      },
      {
        create: () => TcpConnection.open(target, peer, connectMs, tls),
        destroy: (conn) => conn.destroy(),
        isAlive: (conn) => conn.isAlive(),
      },
    );
  });
}

/** The name of the pool of `tls` connections beside the plain pool `name`. */
export function tlsPoolName(name: string, tls: TlsSettings): string {
  let full = tls.poolNames.get(name);
  if (full === undefined) {
    full = `${name}|${tls.key}`;
    if (tls.poolNames.size < 1_000) tls.poolNames.set(name, full);
  }
  return full;
}
