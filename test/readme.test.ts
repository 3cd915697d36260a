import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

describe('README', () => {
  it('its example runs and prints what its comments say', () => {
    const text = readFileSync(README, 'utf8');
    const match = /<!-- readme-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(text);
    assert.ok(match, 'README has no marked example');
    // inside the package, so `import ... from 'cosocket'` resolves to this checkout
    const file = fileURLToPath(new URL('./readme-example.tmp.mjs', import.meta.url));
    writeFileSync(file, match[1]!);
    try {
      const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(
        result.stdout,
        "cleanup ran, cancelled: true [ 'cache' ]\ncoroutine 'handler' was cancelled (explicit: client went away)\n",
      );
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('shows the two set-up commands and the test command CI runs', () => {
    const text = readFileSync(README, 'utf8');
    assert.match(text, /npm ci && npm start/);
    assert.match(text, /npm ci && npm test/);
    const ci = readFileSync(fileURLToPath(new URL('../../.ci/run', import.meta.url)), 'utf8');
    assert.match(ci, /npm ci/);
    assert.match(ci, /npm test/);
  });
});
