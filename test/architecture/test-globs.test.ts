import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * `npm test` names its files by shell globs (`dist/test/*.test.js dist/test/*\/*.test.js`), because Node 20
 * expands a directory argument and Node 22 does not. A test file nested deeper than the globs reach would
 * silently never run: this test fails instead.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.js') ? [relative(ROOT, path)] : [];
  });
}

/** The shell globs of an npm script, as regular expressions over paths relative to the package root. */
function globsOf(script: string): RegExp[] {
  return script
    .split(/\s+/)
    .filter((word) => word.startsWith('dist/') && word.includes('*'))
    .map((glob) => new RegExp(`^${glob.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`));
}

describe('npm test', () => {
  it('its globs name every compiled test file', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const globs = globsOf(pkg.scripts.test ?? '');
    assert.ok(globs.length > 0, 'the test script names its files by globs');
    const files = testFiles(join(ROOT, 'dist/test'));
    assert.ok(files.includes('dist/test/architecture/test-globs.test.js'));
    const unreached = files.filter((file) => !globs.some((glob) => glob.test(file)));
    assert.deepEqual(unreached, [], 'test files the npm test globs do not reach');
  });
});
