import type { RefusedRequest } from '../fastify/client-errors.js';
import type { AccessLog } from './access-log.js';
import type { ServerMetrics } from './metrics.js';

/**
 * What a listener reports of a request it refused before routing (nginx logs those too): a line in the
 * access log with what could be read of its request line, and a count in the metrics — under the route
 * `(no route)` on the app listener, the group '' on the proxy. Undefined when neither is on.
 */
export function refusedObserver(
  listener: 'app' | 'proxy',
  metrics: ServerMetrics | null,
  accessLog: AccessLog | null,
): ((request: RefusedRequest) => void) | undefined {
  if (metrics === null && accessLog === null) return undefined;
  return (r) => {
    if (listener === 'app') metrics?.httpRequest('(no route)', r.method, r.status, r.seconds);
    else metrics?.proxyRequest('', r.status, r.seconds, r.bodyBytesSent);
    accessLog?.log({
      remoteAddr: r.remoteAddr,
      method: r.method,
      uri: '',
      protocol: '',
      requestLine: r.requestLine,
      status: r.status,
      bodyBytesSent: r.bodyBytesSent,
      header: () => undefined,
      seconds: r.seconds ?? 0,
      upstream: [],
    });
  };
}
