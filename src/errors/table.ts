/**
 * Every error code cosocket throws: the class that carries it, the HTTP status a handler failing with it
 * answers, and what it means. One code, one class, one status; README's "Error codes" section is this
 * table, and test/errors/table.test.ts keeps the two and the classes in step.
 */

export interface ErrorEntry {
  /** the class exported from src/errors (and from 'cosocket') that carries the code */
  readonly className: string;
  /** what a coroutine handler failing with it answers; 500 answers never show the message */
  readonly status: 400 | 408 | 413 | 500 | 502 | 503 | 504;
  readonly meaning: string;
}

/** Every error code with its class, HTTP status and meaning (README's "Error codes" table). */
export const ERROR_TABLE = {
  // the runtime
  COSOCKET_ERR_CANCELLED: {
    className: 'CancelledError',
    status: 503,
    meaning:
      'the coroutine was cancelled: explicitly, with its parent or by a budget (a client that left gets no answer)',
  },
  COSOCKET_ERR_DEADLINE_EXCEEDED: {
    className: 'DeadlineExceededError',
    status: 504,
    meaning: 'the coroutine was cancelled because its deadline passed (a CancelledError with reason deadline)',
  },
  COSOCKET_ERR_BUDGET_EXCEEDED: {
    className: 'BudgetExceededError',
    status: 503,
    meaning: 'the concurrency budget is used up and its wait queue is full',
  },
  COSOCKET_ERR_STACK_BUDGET: {
    className: 'StackBudgetError',
    status: 500,
    meaning: 'call/spawn nesting passed maxDepth, or yield* recursion ran out of JavaScript stack',
  },
  COSOCKET_ERR_TIMEOUT: {
    className: 'TimeoutError',
    status: 504,
    meaning: 'timeout(ms, op) or a timed semaphore acquire ran out of time',
  },
  COSOCKET_ERR_INVALID_YIELD: {
    className: 'InvalidYieldError',
    status: 500,
    meaning: 'a coroutine yielded something the runtime cannot wait on',
  },
  COSOCKET_ERR_INVALID_ARGUMENT: {
    className: 'InvalidArgumentError',
    status: 500,
    meaning: 'an argument or setting is out of range or of the wrong type',
  },
  COSOCKET_ERR_SEMAPHORE: {
    className: 'SemaphoreOverReleaseError',
    status: 500,
    meaning: 'a semaphore was released more often than acquired',
  },
  COSOCKET_ERR_NOT_FINISHED: {
    className: 'TaskNotFinishedError',
    status: 500,
    meaning: "a task's result was read before the task finished",
  },
  COSOCKET_ERR_SELF_JOIN: {
    className: 'SelfJoinError',
    status: 500,
    meaning: 'a coroutine joined itself or one of its ancestors: it would wait forever',
  },
  COSOCKET_ERR_OUTSIDE_COROUTINE: {
    className: 'OutsideCoroutineError',
    status: 500,
    meaning:
      "an operation only a coroutine can run (a context's get, set or with, resource(), ensure(), each(), retry()) ran outside any",
  },
  COSOCKET_ERR_WAIT_ABANDONED: {
    className: 'WaitAbandonedError',
    status: 500,
    meaning: 'the abort reason of an abortable() signal when its coroutine stopped waiting without being cancelled',
  },
  COSOCKET_ERR_THROWN_VALUE: {
    className: 'ThrownValueError',
    status: 500,
    meaning: 'something threw a value that is not an Error; the value is in `value`',
  },
  COSOCKET_ERR_UNYIELDED_EFFECT: {
    className: 'UnyieldedEffectError',
    status: 500,
    meaning:
      'strict mode: a coroutine made an effect (red.set, ctx.write, sleep...) and never yielded it, so it never ran',
  },
  COSOCKET_ERR_CHANNEL_CLOSED: {
    className: 'ChannelClosedError',
    status: 500,
    meaning: 'a send on a closed channel, or a receive on a channel that is closed and drained',
  },
  COSOCKET_ERR_SCOPE_CLOSED: {
    className: 'ScopeClosedError',
    status: 503,
    meaning: 'a coroutine or a release was added to a scope that is closed (the server is shutting down)',
  },

  // sockets, pools and files
  COSOCKET_ERR_SOCKET_TIMEOUT: {
    className: 'SocketTimeoutError',
    status: 504,
    meaning: 'a connect, send or receive took longer than its timeout (a read timeout leaves the socket usable)',
  },
  COSOCKET_ERR_SOCKET_CLOSED: {
    className: 'SocketClosedError',
    status: 502,
    meaning: 'the connection is closed, by the peer or earlier by us; `partial` holds what was read',
  },
  COSOCKET_ERR_CONNECTION_REFUSED: {
    className: 'ConnectionRefusedError',
    status: 502,
    meaning: 'the peer refused the connection',
  },
  COSOCKET_ERR_CONNECTION_RESET: {
    className: 'ConnectionResetError',
    status: 502,
    meaning: 'the peer reset the connection',
  },
  COSOCKET_ERR_SOCKET: {
    className: 'SocketIOError',
    status: 502,
    meaning: 'any other socket failure; the system error is its cause',
  },
  COSOCKET_ERR_POOL_BACKLOG_FULL: {
    className: 'PoolBacklogFullError',
    status: 503,
    meaning: 'the pool is at its size and its backlog of waiting connects is full',
  },
  COSOCKET_ERR_CONNECT_BACKOFF: {
    className: 'ConnectBackoffError',
    status: 502,
    meaning:
      'connects to this pool failed repeatedly and the next attempt is not due yet; the last failure is its cause',
  },
  COSOCKET_ERR_DUBIOUS_STATE: {
    className: 'DubiousStateError',
    status: 502,
    meaning: 'setkeepalive on a connection with unread data or mid-protocol: it was closed instead of pooled',
  },
  COSOCKET_ERR_LINE_TOO_LONG: {
    className: 'LineTooLongError',
    status: 502,
    meaning: 'the peer sent a line longer than the receive allowed',
  },
  COSOCKET_ERR_SOCKET_BUSY: {
    className: 'SocketBusyError',
    status: 500,
    meaning: 'two coroutines read (or wrote) one socket at once: a bug in the handler',
  },
  COSOCKET_ERR_SOCKET_OWNER: {
    className: 'SocketOwnerError',
    status: 500,
    meaning: 'a socket or connection was used by a coroutine outside the root that connected it',
  },
  COSOCKET_ERR_TLS_HANDSHAKE: {
    className: 'TlsHandshakeError',
    status: 502,
    meaning:
      'the TLS handshake failed (no common protocol or cipher, the peer is not speaking TLS, it closed mid-handshake)',
  },
  COSOCKET_ERR_TLS_VERIFY: {
    className: 'TlsVerifyError',
    status: 502,
    meaning:
      "the peer's certificate failed verification: untrusted, expired, or not for the name asked for; `reason` holds the check's code",
  },
  COSOCKET_ERR_FILE_TOO_LARGE: {
    className: 'FileTooLargeError',
    status: 500,
    meaning: 'file.read found a file larger than its maxBytes',
  },
  COSOCKET_ERR_FILE_CLOSED: {
    className: 'FileClosedError',
    status: 500,
    meaning: 'a file cosocket was used after it was closed',
  },
  COSOCKET_ERR_FILE_SHORT: {
    className: 'FileShortError',
    status: 500,
    meaning: 'a file gave back fewer bytes than were written to it (the proxy temp file), or a write took none',
  },

  // Redis
  COSOCKET_ERR_REDIS_REPLY: {
    className: 'RedisReplyError',
    status: 500,
    meaning: 'Redis answered with an error reply (ERR, WRONGTYPE, MOVED...); the connection stays usable',
  },
  COSOCKET_ERR_REDIS_PROTOCOL: {
    className: 'RedisProtocolError',
    status: 502,
    meaning: 'the peer broke RESP or a reply passed a limit (maxBulk): the connection is closed',
  },
  COSOCKET_ERR_REDIS_SENTINEL: {
    className: 'RedisSentinelError',
    status: 502,
    meaning: 'no sentinel named a master, or the server named is not the master',
  },
  COSOCKET_ERR_REDIS_UNEXPECTED_REPLY: {
    className: 'UnexpectedReplyError',
    status: 500,
    meaning: "a reply did not have the shape its command's typed method promises (the command ran)",
  },
  COSOCKET_ERR_REDIS_CLUSTER_REPLY: {
    className: 'RedisClusterReplyError',
    status: 500,
    meaning: 'a cluster node answered CLUSTER SLOTS or a redirect with something that is not a slot table',
  },
  COSOCKET_ERR_REDIS_CLUSTER_DOWN: {
    className: 'RedisClusterDownError',
    status: 502,
    meaning: 'no seed and no known master of a Redis Cluster answered CLUSTER SLOTS',
  },
  COSOCKET_ERR_REDIS_COMMAND_TABLE: {
    className: 'CommandTableError',
    status: 500,
    meaning: 'a row of the Redis command table would replace a client method (a bug, refused at load)',
  },

  // HTTP: the client cosocket and the handlers
  COSOCKET_ERR_HTTP_PROTOCOL: {
    className: 'HttpProtocolError',
    status: 502,
    meaning: 'an upstream broke HTTP/1.1: status line, header, chunk framing, or a limit',
  },
  COSOCKET_ERR_HTTP_BUSY: {
    className: 'HttpBusyError',
    status: 500,
    meaning: 'a request on an HTTP connection whose previous response body was not read',
  },
  COSOCKET_ERR_RESPONSE_TOO_LARGE: {
    className: 'ResponseTooLargeError',
    status: 502,
    meaning: "an upstream's response body passed readBody's limit",
  },
  COSOCKET_ERR_UPSTREAM_STATUS: {
    className: 'UpstreamStatusError',
    status: 502,
    meaning: 'an upstream answered a status its dyups group retries on (proxy_next_upstream http_502/503/504)',
  },
  COSOCKET_ERR_BODY_TOO_LARGE: {
    className: 'BodyTooLargeError',
    status: 413,
    meaning: "a client's request body passed its limit (a RequestBodyError)",
  },
  COSOCKET_ERR_BODY_TIMEOUT: {
    className: 'BodyTimeoutError',
    status: 408,
    meaning: "a client's request body stopped arriving for longer than its timeout (a RequestBodyError)",
  },
  COSOCKET_ERR_BODY_ABORTED: {
    className: 'BodyAbortedError',
    status: 400,
    meaning: 'a request body ended before its announced length (a RequestBodyError)',
  },
  COSOCKET_ERR_BODY_FRAMING: {
    className: 'BodyFramingError',
    status: 400,
    meaning: 'a chunked request body broke its framing: a size line, a CRLF or a trailer (a RequestBodyError)',
  },
  COSOCKET_ERR_HEADERS_SENT: {
    className: 'HeadersSentError',
    status: 500,
    meaning: 'a status, header or unannounced trailer was set after the response head went out',
  },
  COSOCKET_ERR_RETURN_AFTER_OUTPUT: {
    className: 'ReturnAfterOutputError',
    status: 500,
    meaning: 'a coroutine handler printed output and also returned a value: one of them would be lost',
  },
  COSOCKET_ERR_PLUGIN_NOT_REGISTERED: {
    className: 'PluginNotRegisteredError',
    status: 500,
    meaning: 'a co() route is on a fastify instance without cosocketPlugin (found when the instance gets ready)',
  },

  // the product: server, CLI, dyups
  COSOCKET_ERR_USAGE: {
    className: 'UsageError',
    status: 500,
    meaning: 'a command line that cannot be obeyed (exit code 2)',
  },
  COSOCKET_ERR_NO_REDIS_SERVER: {
    className: 'RedisServerNotFoundError',
    status: 500,
    meaning: 'no redis-server on PATH for the private Redis, and no --redis or REDIS_URL',
  },
  COSOCKET_ERR_EMBEDDED_REDIS: {
    className: 'EmbeddedRedisError',
    status: 500,
    meaning: 'the private redis-server did not start or answer',
  },
  COSOCKET_ERR_TEST_VALUE_TOO_LARGE: {
    className: 'TestValueTooLargeError',
    status: 502,
    meaning: 'key `test` holds more than test.maxValueSize bytes',
  },
  COSOCKET_ERR_UPSTREAM_SYNTAX: {
    className: 'UpstreamSyntaxError',
    status: 400,
    meaning: 'an upstream block that does not parse (line, column and token in the error)',
  },
  COSOCKET_ERR_STATE_FILE: {
    className: 'StateFileError',
    status: 500,
    meaning: 'the dyups state file cannot be loaded: the server does not start, the file is left as it is',
  },
  COSOCKET_ERR_STATE_FILE_CLAIM: {
    className: 'StateFileClaimError',
    status: 500,
    meaning: 'another live process owns the dyups state file, or its lock cannot be made',
  },
  COSOCKET_ERR_PID_FILE: {
    className: 'PidFileError',
    status: 500,
    meaning: 'the pid file names a live cosocket server, or is missing, unreadable or names no running process',
  },
  COSOCKET_ERR_DYUPS_SYNC: {
    className: 'DyupsSyncError',
    status: 500,
    meaning: 'the --dyups-sync Redis could not be used at start: the server does not start',
  },
  COSOCKET_ERR_DYUPS_LOAD: {
    className: 'DyupsLoadError',
    status: 503,
    meaning: 'loading the upstreams from the --dyups-sync Redis failed part-way; nothing was changed',
  },
  COSOCKET_ERR_AB: {
    className: 'AbError',
    status: 500,
    meaning: "cosocket ab cannot start or go on: ab's line for it, and ab's exit status",
  },
} as const satisfies Record<string, ErrorEntry>;

/** One of the codes of ERROR_TABLE, `COSOCKET_ERR_...`. */
export type ErrorCode = keyof typeof ERROR_TABLE;
