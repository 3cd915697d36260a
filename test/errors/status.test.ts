import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import {
  CancelReason,
  CancelledError,
  DeadlineExceededError,
  ERROR_TABLE,
  ResponseTooLargeError,
  SocketBusyError,
  UpstreamSyntaxError,
  cancellationError,
} from '../../src/errors/index.js';
import { Scheduler, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { STATUS_TEXT, statusForError } from '../../src/fastify/error-status.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import { SAMPLES } from './samples.js';

describe('the HTTP status of a handler failure', () => {
  it('is the table status of every cosocket error', () => {
    for (const [code, entry] of Object.entries(ERROR_TABLE)) {
      assert.equal(statusForError(SAMPLES[entry.className]!()), entry.status, code);
      assert.ok(STATUS_TEXT[entry.status], `no status text for ${entry.status}`);
    }
  });

  it('tells a deadline (504) from the other cancellations (503) by the error class', () => {
    const deadline = cancellationError('handler', CancelReason.deadline(), []);
    assert.ok(deadline instanceof DeadlineExceededError && deadline instanceof CancelledError);
    assert.equal(deadline.code, 'COSOCKET_ERR_DEADLINE_EXCEEDED');
    assert.equal(statusForError(deadline), 504);
    for (const reason of [CancelReason.explicit(), CancelReason.parent(), CancelReason.budget()]) {
      const err = cancellationError('handler', reason, []);
      assert.equal(err.constructor, CancelledError);
      assert.equal(err.code, 'COSOCKET_ERR_CANCELLED');
      assert.equal(statusForError(err), 503, reason.kind);
    }
  });

  it('pins the statuses that changed with the table', () => {
    assert.equal(statusForError(new SocketBusyError('send', 'redis', 'both')), 500); // was 502: a handler bug
    assert.equal(statusForError(new ResponseTooLargeError(10)), 502); // was 500: an upstream's answer
    assert.equal(statusForError(new UpstreamSyntaxError('x', 0, 'x', 'bad')), 400); // was 500: the admin's 400
  });

  it("is an error's own statusCode (400-599) for errors that are not cosocket's, else 500", () => {
    assert.equal(statusForError(new Error('plain')), 500);
    assert.equal(statusForError(Object.assign(new Error('too big'), { statusCode: 413 })), 413);
    assert.equal(statusForError(Object.assign(new Error('moved'), { statusCode: 302 })), 500);
    assert.equal(statusForError(Object.assign(new Error('text'), { statusCode: '404' })), 500);
    assert.equal(statusForError({ statusCode: 503 }), 503);
    assert.equal(statusForError(null), 500);
    assert.equal(statusForError(undefined), 500);
    assert.equal(statusForError('thrown text'), 500);
  });

  it('reaches the client: 500 without the message, other statuses with it', async () => {
    const app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'status-test' }) });
    app.get(
      '/busy',
      co(function* busy(): Operation<string> {
        throw new SocketBusyError('send', '127.0.0.1:6379', 'both');
      }),
    );
    app.get(
      '/too-large',
      co(function* tooLarge(): Operation<string> {
        throw new ResponseTooLargeError(1024);
      }),
    );
    app.get(
      '/slow',
      co(
        function* slow(): Operation<string> {
          yield* sleep(5_000);
          return 'late';
        },
        { deadline: 20 },
      ),
    );
    try {
      const busy = await app.inject({ url: '/busy' });
      assert.equal(busy.statusCode, 500);
      assert.equal(busy.body, '500 Internal Server Error\n');
      const tooLarge = await app.inject({ url: '/too-large' });
      assert.equal(tooLarge.statusCode, 502);
      assert.equal(tooLarge.body, '502 Bad Gateway: response body larger than 1024 bytes\n');
      const slow = await app.inject({ url: '/slow' });
      assert.equal(slow.statusCode, 504);
      assert.match(slow.body, /^504 Gateway Timeout: coroutine 'slow' was cancelled \(deadline: /);
    } finally {
      await app.close();
    }
  });
});
