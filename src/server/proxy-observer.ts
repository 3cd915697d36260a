import type { FrontExchange } from '../dyups/front/index.js';
import type { ProxyObserver } from '../dyups/proxy.js';
import type { AccessLog } from './access-log.js';
import { refusedObserver } from './observe-refused.js';
import type { ServerMetrics } from './metrics.js';

/** nginx's status for a request whose client went away before its response was complete. */
const CLIENT_CLOSED = 499;

/** What the dyups proxy reports, into the metrics and the access log; undefined when neither is on. */
export function proxyObserver(metrics: ServerMetrics | null, accessLog: AccessLog | null): ProxyObserver | undefined {
  const refused = refusedObserver('proxy', metrics, accessLog);
  if (refused === undefined) return undefined;
  return {
    wantsTries: accessLog !== null,
    refused,
    tried: (group, server, failed) => metrics?.upstreamTry(group, server, failed),
    ended: (exchange: FrontExchange, group, tries) => {
      const seconds = (performance.now() - exchange.startedAt) / 1000;
      const status = exchange.clientClosed ? CLIENT_CLOSED : exchange.status;
      metrics?.proxyRequest(group, status, seconds, exchange.bodyBytesSent);
      accessLog?.log({
        remoteAddr: exchange.ip,
        method: exchange.method,
        uri: exchange.url,
        protocol: `HTTP/1.${exchange.minor}`,
        status,
        bodyBytesSent: exchange.bodyBytesSent,
        header: (name) => exchange.headers[name],
        seconds,
        upstream: tries,
      });
    },
  };
}
