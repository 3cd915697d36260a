/**
 * Every error cosocket throws on purpose, each with a stable `code` from the error table (table.ts):
 * import them from here. The families: runtime, socket (and pools), file, redis, http, product.
 */
export { ERROR_TABLE } from './table.js';
export type { ErrorCode, ErrorEntry } from './table.js';
export { CosocketError } from './base.js';
export { annotateChain, coroutineChain, formatChain } from './chain.js';
export {
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
  cancellationError,
  toError,
} from './runtime.js';
export type { CancelKind } from './runtime.js';
export {
  ConnectBackoffError,
  ConnectionRefusedError,
  ConnectionResetError,
  DubiousStateError,
  LineTooLongError,
  PoolBacklogFullError,
  SocketBusyError,
  SocketClosedError,
  SocketError,
  SocketIOError,
  SocketOwnerError,
  SocketTimeoutError,
  TlsHandshakeError,
  TlsVerifyError,
  socketErrorFrom,
} from './socket.js';
export { FileClosedError, FileShortError, FileTooLargeError } from './file.js';
export {
  CommandTableError,
  RedisClusterDownError,
  RedisClusterReplyError,
  RedisProtocolError,
  RedisReplyError,
  RedisSentinelError,
  UnexpectedReplyError,
} from './redis.js';
export {
  BodyAbortedError,
  BodyFramingError,
  BodyTimeoutError,
  BodyTooLargeError,
  HeadersSentError,
  HttpBusyError,
  HttpProtocolError,
  PluginNotRegisteredError,
  RequestBodyError,
  ResponseTooLargeError,
  ReturnAfterOutputError,
  UpstreamStatusError,
} from './http.js';
export {
  AbError,
  DyupsLoadError,
  DyupsSyncError,
  EmbeddedRedisError,
  PidFileError,
  RedisServerNotFoundError,
  StateFileClaimError,
  StateFileError,
  TestValueTooLargeError,
  UpstreamSyntaxError,
  UsageError,
} from './product.js';
