import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RespawnPolicy } from '../../src/cli/respawn.js';

describe('RespawnPolicy: which exited workers are replaced', () => {
  it('never replaces a worker that did not come up', () => {
    const policy = new RespawnPolicy();
    assert.deepEqual(policy.decide(false, 0), { action: 'fail' });
  });

  it('replaces a crashed worker after a delay that doubles with each crash in the window, up to the most', () => {
    const policy = new RespawnPolicy({ baseDelayMs: 100, maxDelayMs: 500, limit: 10, windowMs: 60_000 });
    const delays = [0, 1, 2, 3, 4].map((i) => policy.decide(true, i * 1_000));
    assert.deepEqual(
      delays.map((d) => (d.action === 'respawn' ? d.delayMs : d.action)),
      [100, 200, 400, 500, 500],
    );
  });

  it('forgets crashes older than the window', () => {
    const policy = new RespawnPolicy({ baseDelayMs: 100, maxDelayMs: 10_000, limit: 3, windowMs: 1_000 });
    assert.deepEqual(policy.decide(true, 0), { action: 'respawn', delayMs: 100 });
    assert.deepEqual(policy.decide(true, 500), { action: 'respawn', delayMs: 200 });
    assert.deepEqual(policy.decide(true, 5_000), { action: 'respawn', delayMs: 100 });
  });

  it('gives up at the limit of crashes within the window', () => {
    const policy = new RespawnPolicy({ baseDelayMs: 100, maxDelayMs: 10_000, limit: 3, windowMs: 1_000 });
    policy.decide(true, 0);
    policy.decide(true, 100);
    assert.deepEqual(policy.decide(true, 200), { action: 'give-up', crashes: 3, windowMs: 1_000 });
  });
});
