/**
 * cosocket/dyups: the upstream table (ngx.dyups' update/delete), its parser, the admin and proxy
 * listeners, health checks and Redis sync.
 */
export { UpstreamTable } from './table.js';
export type { Change, DyupsResult, UpstreamTableOptions } from './table.js';
export { UpstreamSyntaxError, parseUpstream } from './parse.js';
export { toNginx } from './format.js';
export type {
  UpstreamGroup,
  UpstreamServer,
  HealthCheck,
  Balancer as UpstreamBalancer,
  Sticky,
  TrafficSplit,
} from './upstream.js';
export { Balancers } from './balancer.js';
export { defineBalancer, definedBalancerNames, undefineBalancer } from './balancer-registry.js';
export type { BalancerContext, BalancerPeer, CoroutineBalancer } from './balancer-registry.js';
export { loadBalancerModules } from './balancer-modules.js';
export type { ServerHealth } from './balancer.js';
export { HealthChecker } from './health-check.js';
export { buildAdminApp } from './admin.js';
export type { AdminOptions } from './admin.js';
export { buildProxyServer } from './proxy.js';
export type { DyupsProxyOptions, DyupsProxyServer } from './proxy.js';
export type { TunnelCounts } from './upgrade.js';
export { FrontServer, FrontExchange } from './front/index.js';
export { RedisSync } from './redis-sync.js';
export type { RedisSyncOptions } from './redis-sync.js';
