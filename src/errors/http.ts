import { CosocketError } from './base.js';

/** An upstream broke HTTP/1.1: bad status line, header, chunk framing, or a limit was passed. */
export class HttpProtocolError extends CosocketError {
  readonly peer: string;

  constructor(peer: string, message: string) {
    super('COSOCKET_ERR_HTTP_PROTOCOL', `${peer}: ${message}`);
    this.peer = peer;
  }
}

/** A request on an HTTP client connection whose previous response body was not read to its end. */
export class HttpBusyError extends CosocketError {
  constructor(peer: string) {
    super('COSOCKET_ERR_HTTP_BUSY', `${peer}: read the previous response body before the next request`);
  }
}

/** An upstream's response body passed readBody's limit: the connection is closed. */
export class ResponseTooLargeError extends CosocketError {
  constructor(limit: number) {
    super('COSOCKET_ERR_RESPONSE_TOO_LARGE', `response body larger than ${limit} bytes`);
  }
}

/**
 * An upstream answered a status its group retries on (proxy_next_upstream http_502, http_503, http_504):
 * the response was not passed on and another server is tried.
 */
export class UpstreamStatusError extends CosocketError {
  readonly upstreamStatus: number;

  constructor(peer: string, status: number) {
    super('COSOCKET_ERR_UPSTREAM_STATUS', `${peer}: answered ${status} (proxy_next_upstream http_${status})`);
    this.upstreamStatus = status;
  }
}

/** A client's request body could not be passed on: too large (413), too slow (408), or cut off (400). */
export abstract class RequestBodyError extends CosocketError {}

/** A client's request body passed its limit, announced or while read (413). */
export class BodyTooLargeError extends RequestBodyError {
  /** `length`: the announced Content-Length, or null when the body grew past the limit while read. */
  constructor(limit: number, length: number | null) {
    super(
      'COSOCKET_ERR_BODY_TOO_LARGE',
      length === null
        ? `request body larger than the limit of ${limit} bytes`
        : `request body of ${length} bytes is larger than the limit of ${limit}`,
    );
  }
}

/** A client's request body stopped arriving for longer than its timeout (408). */
export class BodyTimeoutError extends RequestBodyError {
  constructor(idleMs: number) {
    super('COSOCKET_ERR_BODY_TIMEOUT', `no request body data for ${idleMs} ms`);
  }
}

/** A request body that ended early: the client left (`sent` null), or a body source gave fewer bytes than announced. */
export class BodyAbortedError extends RequestBodyError {
  constructor(sent: number | null = null, length = 0) {
    super(
      'COSOCKET_ERR_BODY_ABORTED',
      sent === null
        ? 'the client closed the connection before its request body was complete'
        : `the request body ended after ${sent} of its ${length} bytes`,
    );
  }
}

/** A chunked request body whose framing is broken (a size line, a CRLF, a trailer): the rest of the connection cannot be read. */
export class BodyFramingError extends RequestBodyError {
  constructor(detail: string) {
    super('COSOCKET_ERR_BODY_FRAMING', `malformed chunked request body: ${detail}`);
  }
}

/**
 * Too late for the response head: a status, a header, or a trailer the head did not announce, set
 * after the head went out (by flush(), write() or the end of the response).
 */
export class HeadersSentError extends CosocketError {
  /** `what`: the field as the caller named it, e.g. `header 'x-id'`, `status 500`, `trailer 'x-sum'`. */
  constructor(what: string, why = 'the response head was already sent') {
    super('COSOCKET_ERR_HEADERS_SENT', `cannot set ${what}: ${why}`);
  }
}

/**
 * A coroutine handler printed output (print, say, write) and also returned a value: one of the two
 * would be lost, so neither is taken for the answer.
 */
export class ReturnAfterOutputError extends CosocketError {
  /** `handlerName`: the coroutine's name; `kind`: what was returned (typeof, or 'null'). */
  constructor(handlerName: string, kind: string) {
    super(
      'COSOCKET_ERR_RETURN_AFTER_OUTPUT',
      `handler '${handlerName}' printed output and also returned a value (${kind}): print it or return it, not both`,
    );
  }
}

/** A co() route on a fastify instance without cosocketPlugin: found when the instance gets ready, or per request. */
export class PluginNotRegisteredError extends CosocketError {
  /** `handlerName`: the co() handler's name, when the check knows it. */
  constructor(handlerName?: string) {
    super(
      'COSOCKET_ERR_PLUGIN_NOT_REGISTERED',
      handlerName === undefined
        ? 'co(): register cosocketPlugin on this fastify instance first'
        : `co() handler '${handlerName}' is a route of a fastify instance without cosocketPlugin: register cosocketPlugin on it (or a parent) first`,
    );
  }
}
