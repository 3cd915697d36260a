import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSize, parseTime } from '../../src/config/units.js';
import { toNginx } from '../../src/dyups/format.js';
import { UpstreamSyntaxError, parseUpstream } from '../../src/dyups/parse.js';

describe('nginx times and sizes (one grammar for the config and dyups)', () => {
  it('reads times with units, several units in a row, and bare numbers in the caller’s unit', () => {
    const cases: Array<[string, 'ms' | 's', number]> = [
      ['100ms', 'ms', 100],
      ['10s', 'ms', 10_000],
      ['1m', 'ms', 60_000],
      ['2h', 'ms', 7_200_000],
      ['1d', 'ms', 86_400_000],
      ['1m30s', 'ms', 90_000],
      ['1h1m1s1ms', 'ms', 3_661_001],
      ['250', 'ms', 250],
      ['1.5', 'ms', 1.5],
      ['10', 's', 10_000],
      ['1.5', 's', 1_500],
      ['0', 's', 0],
    ];
    for (const [text, bare, ms] of cases) assert.equal(parseTime(text, bare), ms, `${text} (bare ${bare})`);
  });

  it('answers null for anything else', () => {
    for (const text of ['', ' ', '10x', '1.5s', 's', 'm30', '-1s', '10 s', ' 10s', '1e3', '0x10', '1m 30s'])
      assert.equal(parseTime(text, 'ms'), null, JSON.stringify(text));
    assert.equal(parseTime('9'.repeat(400), 'ms'), null, 'a time too large to be a number');
  });

  it('reads sizes: bytes, k, m, g in either case', () => {
    const cases: Array<[string, number]> = [
      ['0', 0],
      ['512', 512],
      ['16k', 16_384],
      ['16K', 16_384],
      ['1m', 1_048_576],
      ['1M', 1_048_576],
      ['2g', 2_147_483_648],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
    for (const text of ['', 'k', '1.5k', '16kb', '1t', '-1', '8 8k']) assert.equal(parseSize(text), null, text);
  });

  it('dyups takes the same times: fail_timeout=1m30s and check interval=1m30s, kept by the state file', () => {
    const group = parseUpstream(
      'g',
      'server a:1 fail_timeout=1m30s; server b:2 fail_timeout=1.5; check interval=1m30s timeout=2s500ms;',
    );
    assert.equal(group.servers[0]!.failTimeout, 90);
    assert.equal(group.servers[1]!.failTimeout, 1.5);
    assert.equal(group.check!.interval, 90_000);
    assert.equal(group.check!.timeout, 2_500);
    assert.deepEqual(parseUpstream('g', toNginx(group)), group);
  });

  it('dyups refuses a time that is not a whole number of milliseconds (the state file writes whole ms)', () => {
    for (const body of ['server a:1; check timeout=1.5;', 'server a:1 fail_timeout=0.0001;'])
      assert.throws(
        () => parseUpstream('g', body),
        (err: unknown) =>
          err instanceof UpstreamSyntaxError && /expected a time like 10s, 500ms, 1m or 1m30s/.test(err.message),
        body,
      );
  });
});
