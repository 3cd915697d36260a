/**
 * cosocket's public API. Everything a user imports comes from here.
 */
import { defaultScheduler } from './runtime/scheduler.js';
import type { Body, StartOptions } from './runtime/scheduler.js';
import type { Task } from './runtime/task.js';

export { Scheduler, defaultScheduler } from './runtime/scheduler.js';
export type { Body, SchedulerOptions, SchedulerStats, StartOptions } from './runtime/scheduler.js';
export { currentTask, isTask } from './runtime/task.js';
export type { Task, TaskStatus, TaskObserver } from './runtime/task.js';
export { Effect, defineKind } from './runtime/effect.js';
export type { EffectConstructor, EffectKind, Operable, Operation, Waiter, Yieldable } from './runtime/effect.js';
export { call } from './runtime/effects/call.js';
export { spawn, spawnDetached } from './runtime/effects/spawn.js';
export { all, race, timeout } from './runtime/effects/group.js';
export type { Awaitable, ResultOf } from './runtime/effects/operand.js';
export { abortable, cancelled, self } from './runtime/effects/control.js';
export { Semaphore } from './runtime/semaphore.js';
export { Signal } from './runtime/signal.js';
export { sleep } from '../adapters/sleep.js';
export * as tcp from '../adapters/tcp/index.js';
export * as redis from '../adapters/redis/index.js';
export * as http from '../adapters/http/index.js';
export * as file from '../adapters/file/index.js';
export { KeepalivePool, Lease } from './pool/keepalive-pool.js';
export type { PoolHooks, PoolOptions, PoolStats } from './pool/keepalive-pool.js';
export { PoolRegistry, pools } from './pool/registry.js';
export { co, cosocketPlugin, HandlerContext } from './http/plugin.js';
export type { CosocketPluginOptions, CosocketState, RouteStats } from './http/plugin.js';
export type { Printable } from './http/output.js';
export { NGINX_BUFFERING, copyResponseHead, endToEndHeaders, proxyPass, proxyResponse } from './stream/proxy.js';
export type { BufferingOptions, ProxyPassOptions, ProxyStats } from './stream/proxy.js';
export {
  BudgetExceededError,
  CancelReason,
  CancelledError,
  CosocketError,
  InvalidArgumentError,
  InvalidYieldError,
  StackBudgetError,
  TimeoutError,
  SocketError,
  SocketTimeoutError,
  SocketClosedError,
  ConnectionRefusedError,
  ConnectionResetError,
  PoolBacklogFullError,
  DubiousStateError,
  SocketIOError,
  HttpProtocolError,
  RequestBodyError,
  RedisReplyError,
  RedisProtocolError,
  RedisSentinelError,
  UnexpectedReplyError,
  RedisClusterReplyError,
  RedisClusterDownError,
  coroutineChain,
  formatChain,
} from './errors.js';
export type { CancelKind } from './errors.js';

// dyups: the upstream table (ngx.dyups' update/delete), its parser, listeners and sync
export { UpstreamTable } from './dyups/table.js';
export type { Change, DyupsResult } from './dyups/table.js';
export { UpstreamSyntaxError, parseUpstream } from './dyups/parse.js';
export { toNginx } from './dyups/format.js';
export type { UpstreamGroup, UpstreamServer, HealthCheck, Balancer as UpstreamBalancer } from './dyups/upstream.js';
export { Balancers } from './dyups/balancer.js';
export type { ServerHealth } from './dyups/balancer.js';
export { HealthChecker } from './dyups/health-check.js';
export { buildAdminApp } from './dyups/admin.js';
export type { AdminOptions } from './dyups/admin.js';
export { buildProxyApp } from './dyups/proxy.js';
export type { DyupsProxyOptions } from './dyups/proxy.js';
export { RedisSync } from './dyups/redis-sync.js';
export type { RedisSyncOptions } from './dyups/redis-sync.js';
export { incomingBody } from './stream/request-body.js';
export type { BodySource } from './stream/request-body.js';

/** Starts a root coroutine on the default scheduler: `go(function* () { yield* sleep(10) })`. */
export function go<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Task<T> {
  return defaultScheduler.go(body, ...args);
}

/** `go` with a name and a deadline. */
export function goWith<T, A extends unknown[]>(options: StartOptions, body: Body<T, A>, ...args: A): Task<T> {
  return defaultScheduler.start(options, body, ...args);
}
