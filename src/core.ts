/**
 * cosocket/core: the runtime, the errors, the keepalive pools and the cosockets (sleep, tcp, redis, http,
 * file). Loads neither fastify nor the product.
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
export { checkUnyielded, formatUnyielded, unyieldedMode } from './runtime/unyielded.js';
export type { UnyieldedMode, UnyieldedOptions, UnyieldedReport } from './runtime/unyielded.js';
export { Semaphore } from './runtime/semaphore.js';
export { Signal } from './runtime/signal.js';
export { Channel } from './runtime/channel.js';
export { each } from './runtime/each.js';
export type { Each } from './runtime/each.js';
export { ensure, resource } from './runtime/resource.js';
export type { Release } from './runtime/resource.js';
export { Scope, createScope } from './runtime/scope.js';
export type { ScopeOptions } from './runtime/scope.js';
export { retry } from './runtime/retry.js';
export type { ExponentialBackoff, RetryOptions } from './runtime/retry.js';
export { createContext } from './runtime/context.js';
export type { Context } from './runtime/context.js';
export { sleep } from '../adapters/sleep.js';
export * as tcp from '../adapters/tcp/index.js';
export * as redis from '../adapters/redis/index.js';
export * as http from '../adapters/http/index.js';
export * as file from '../adapters/file/index.js';
export { KeepalivePool, Lease } from './pool/keepalive-pool.js';
export type { PoolHooks, PoolOptions, PoolStats } from './pool/keepalive-pool.js';
export { PoolRegistry, pools } from './pool/registry.js';
export {
  ERROR_TABLE,
  CosocketError,
  coroutineChain,
  formatChain,
  // the runtime
  BudgetExceededError,
  CancelReason,
  CancelledError,
  ChannelClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  InvalidYieldError,
  OutsideCoroutineError,
  ScopeClosedError,
  SelfJoinError,
  SemaphoreOverReleaseError,
  StackBudgetError,
  TaskNotFinishedError,
  ThrownValueError,
  TimeoutError,
  UnyieldedEffectError,
  WaitAbandonedError,
  // sockets, pools, files
  SocketError,
  SocketTimeoutError,
  SocketClosedError,
  ConnectionRefusedError,
  ConnectionResetError,
  PoolBacklogFullError,
  ConnectBackoffError,
  DubiousStateError,
  SocketIOError,
  LineTooLongError,
  SocketBusyError,
  SocketOwnerError,
  TlsHandshakeError,
  TlsVerifyError,
  FileTooLargeError,
  FileClosedError,
  FileShortError,
  // Redis
  RedisReplyError,
  RedisProtocolError,
  RedisSentinelError,
  UnexpectedReplyError,
  RedisClusterReplyError,
  RedisClusterDownError,
  CommandTableError,
  // HTTP
  HttpProtocolError,
  HttpBusyError,
  ResponseTooLargeError,
  UpstreamStatusError,
  RequestBodyError,
  BodyTooLargeError,
  BodyTimeoutError,
  BodyAbortedError,
  BodyFramingError,
  HeadersSentError,
  ReturnAfterOutputError,
  PluginNotRegisteredError,
} from './errors/index.js';
export type { CancelKind, ErrorCode, ErrorEntry } from './errors/index.js';

/** Starts a root coroutine on the default scheduler: `go(function* () { yield* sleep(10) })`. */
export function go<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Task<T> {
  return defaultScheduler.go(body, ...args);
}

/** `go` with a name, a deadline, an AbortSignal that cancels it: `goWith({ signal }, function* () { ... })`. */
export function goWith<T, A extends unknown[]>(options: StartOptions, body: Body<T, A>, ...args: A): Task<T> {
  return defaultScheduler.start(options, body, ...args);
}
