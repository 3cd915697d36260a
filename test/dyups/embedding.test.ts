import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** README's dyups embedding example runs as written and prints what its comments say. */

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

describe('README: embedding dyups in your own server', () => {
  it('the example runs: proxied through the table, listed and deleted by the admin app', () => {
    const text = readFileSync(README, 'utf8');
    const match = /<!-- readme-dyups-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(text);
    assert.ok(match, 'README has no marked dyups example');
    // inside the package, so `import ... from 'cosocket/dyups'` resolves to this checkout
    const file = fileURLToPath(new URL('./readme-dyups-example.tmp.mjs', import.meta.url));
    writeFileSync(file, match[1]!);
    try {
      const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^200 hello from the app\n\nserver 127\.0\.0\.1:\d+\n\nundefined\n$/);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
