import type { FastifyRequest } from 'fastify';

/** One route's counts: requests by status class and aborted, as GET /status shows them. */
export interface RouteStats {
  route: string;
  requests: number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  /** Clients that went away before their response was complete. */
  aborted: number;
}

/** Counts a response by its status class. */
export function recordStatus(stats: RouteStats, status: number): void {
  if (status >= 500) stats['5xx']++;
  else if (status >= 400) stats['4xx']++;
  else if (status >= 300) stats['3xx']++;
  else stats['2xx']++;
}

/** One RouteStats per method and route URL; `METHOD (no route)` for requests no route matched. */
export class RouteStatsTable {
  private readonly routes = new Map<string, RouteStats>();

  entry(method: string, url: string | undefined): RouteStats {
    const key = `${method} ${url ?? '(no route)'}`;
    let stats = this.routes.get(key);
    if (stats === undefined) {
      stats = { route: key, requests: 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 };
      this.routes.set(key, stats);
    }
    return stats;
  }

  /** The entry of a request by its method and matched route: for counters not bound to their route at registration. */
  entryOf(request: FastifyRequest): RouteStats {
    return this.entry(request.method, request.routeOptions.url);
  }

  all(): RouteStats[] {
    return [...this.routes.values()];
  }
}
