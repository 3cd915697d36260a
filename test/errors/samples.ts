import * as errors from '../../src/errors/index.js';
import type { CosocketError } from '../../src/errors/index.js';

const { CancelReason } = errors;

/** One instance of every coded error class, by class name: what the table tests construct. */
export const SAMPLES: Readonly<Record<string, () => CosocketError>> = {
  CancelledError: () => new errors.CancelledError('handler', CancelReason.explicit()),
  DeadlineExceededError: () => errors.cancellationError('handler', CancelReason.deadline(), []),
  BudgetExceededError: () => new errors.BudgetExceededError('default', 10, 10),
  StackBudgetError: () => new errors.StackBudgetError(['handler', 'descend'], 64),
  TimeoutError: () => new errors.TimeoutError('timeout()', 5),
  InvalidYieldError: () => new errors.InvalidYieldError('handler', 42),
  InvalidArgumentError: () => new errors.InvalidArgumentError('bad'),
  SemaphoreOverReleaseError: () => new errors.SemaphoreOverReleaseError('sem'),
  TaskNotFinishedError: () => new errors.TaskNotFinishedError('handler'),
  SelfJoinError: () => new errors.SelfJoinError('child', 'handler'),
  OutsideCoroutineError: () => new errors.OutsideCoroutineError("context 'requestId': get()"),
  WaitAbandonedError: () => new errors.WaitAbandonedError(),
  ThrownValueError: () => new errors.ThrownValueError('a string'),
  UnyieldedEffectError: () => new errors.UnyieldedEffectError(['redis SET'], ['handler']),
  ChannelClosedError: () => new errors.ChannelClosedError('jobs', 'send'),
  ScopeClosedError: () => new errors.ScopeClosedError('background', 'run()'),

  SocketTimeoutError: () => new errors.SocketTimeoutError('receive', '127.0.0.1:6379', 500),
  SocketClosedError: () => new errors.SocketClosedError('receive', '127.0.0.1:6379'),
  ConnectionRefusedError: () => new errors.ConnectionRefusedError('127.0.0.1:1'),
  ConnectionResetError: () => new errors.ConnectionResetError('send', '127.0.0.1:6379'),
  SocketIOError: () => new errors.SocketIOError('send', '127.0.0.1:6379', new Error('EHOSTUNREACH')),
  PoolBacklogFullError: () => new errors.PoolBacklogFullError('redis', 30, 100),
  ConnectBackoffError: () =>
    new errors.ConnectBackoffError('redis', new errors.ConnectionRefusedError('127.0.0.1:1'), 3, 20),
  DubiousStateError: () => new errors.DubiousStateError('127.0.0.1:6379', 'unread bytes'),
  LineTooLongError: () => new errors.LineTooLongError('127.0.0.1:6379', 1024),
  SocketBusyError: () => new errors.SocketBusyError('send', '127.0.0.1:6379', 'both'),
  TlsHandshakeError: () => new errors.TlsHandshakeError('127.0.0.1:443', 'wrong version number'),
  TlsVerifyError: () =>
    new errors.TlsVerifyError('127.0.0.1:443', 'example.com', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify'),
  SocketOwnerError: () => new errors.SocketOwnerError('send', '127.0.0.1:6379', 'socket', 'handler', 'intruder'),
  FileTooLargeError: () => new errors.FileTooLargeError('/tmp/x', 10, 5),
  FileClosedError: () => new errors.FileClosedError('/tmp/x'),
  FileShortError: () => new errors.FileShortError('/tmp/x', 'read', 1, 2),

  RedisReplyError: () => new errors.RedisReplyError('WRONGTYPE Operation against a key'),
  RedisProtocolError: () => new errors.RedisProtocolError('receive', '127.0.0.1:6379', 'bad type byte'),
  RedisSentinelError: () => new errors.RedisSentinelError('sentinel', 'no master'),
  UnexpectedReplyError: () => new errors.UnexpectedReplyError('hgetall', 'expected a map, got nil'),
  RedisClusterReplyError: () => new errors.RedisClusterReplyError('not a slot table'),
  RedisClusterDownError: () => new errors.RedisClusterDownError('cluster', ['127.0.0.1:7000: refused']),
  CommandTableError: () => new errors.CommandTableError('get'),

  HttpProtocolError: () => new errors.HttpProtocolError('127.0.0.1:80', 'bad status line'),
  HttpBusyError: () => new errors.HttpBusyError('127.0.0.1:80'),
  ResponseTooLargeError: () => new errors.ResponseTooLargeError(1024),
  UpstreamStatusError: () => new errors.UpstreamStatusError('127.0.0.1:80', 502),
  BodyTooLargeError: () => new errors.BodyTooLargeError(1024, 2048),
  BodyTimeoutError: () => new errors.BodyTimeoutError(60_000),
  BodyAbortedError: () => new errors.BodyAbortedError(),
  BodyFramingError: () => new errors.BodyFramingError('a chunk size that is not hex'),
  ReturnAfterOutputError: () => new errors.ReturnAfterOutputError('handler', 'string'),
  HeadersSentError: () => new errors.HeadersSentError("header 'x-late'"),
  PluginNotRegisteredError: () => new errors.PluginNotRegisteredError(),

  UsageError: () => new errors.UsageError('unknown flag --x'),
  RedisServerNotFoundError: () => new errors.RedisServerNotFoundError(),
  EmbeddedRedisError: () => new errors.EmbeddedRedisError('did not start'),
  TestValueTooLargeError: () => new errors.TestValueTooLargeError(1024),
  UpstreamSyntaxError: () => new errors.UpstreamSyntaxError('server x;', 7, 'x', 'bad address'),
  StateFileError: () => new errors.StateFileError('/tmp/state', 3, 'bad group'),
  StateFileClaimError: () => new errors.StateFileClaimError('/tmp/state', 'owned by pid 1'),
  PidFileError: () => new errors.PidFileError('/run/cosocket.pid', 'holds no process id'),
  DyupsSyncError: () => new errors.DyupsSyncError('redis://***@127.0.0.1:6379', new Error('refused')),
  DyupsLoadError: () => new errors.DyupsLoadError('the Redis transaction was aborted'),
};
