import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import { pools } from '../../src/pool/registry.js';
import { TcpConnection } from './connection.js';
import type { Target, TlsTarget } from './connection.js';

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
  target: Target,
  peer: string,
  tls: TlsTarget | null,
  connectMs: number,
  settings: PoolSettings = {},
): KeepalivePool<TcpConnection> {
  return pools.get('tcp', name, () => {
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

/** The name of the TLS pool beside the plain pool `name`. */
export function tlsPoolName(name: string, tlsKey: string): string {
  return `${name}|${tlsKey}`;
}
