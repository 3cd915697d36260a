import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as errors from '../../src/errors/index.js';
import { CosocketError, ERROR_TABLE } from '../../src/errors/index.js';
import * as api from '../../src/index.js';
import { SAMPLES } from './samples.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const table = Object.entries(ERROR_TABLE);

/** The rows of README's "Error codes" table: code, class, status, meaning. */
function readmeRows(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /\n## Error codes\n([\s\S]*?)(?=\n## )/.exec(readme);
  assert.ok(section, 'README has no "## Error codes" section');
  return section[1]!
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim().replace(/^`(.*)`$/, '$1')),
    );
}

/** Every .ts file under `dir` (relative to the checkout). */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name));
}

/** Exported classes of src/errors that carry a code (the abstract bases carry none). */
const CODED_BASES = new Set<unknown>([CosocketError, errors.SocketError, errors.RequestBodyError]);
const codedClasses = Object.entries(errors).filter(
  ([, value]) => typeof value === 'function' && value.prototype instanceof CosocketError && !CODED_BASES.has(value),
);

describe('the error table', () => {
  it('is README\'s "Error codes" table, row for row', () => {
    const documented = readmeRows();
    assert.deepEqual(
      documented.map(([code]) => code),
      table.map(([code]) => code),
      'README lists other codes (or another order) than src/errors/table.ts',
    );
    for (const [code, className, status, meaning] of documented) {
      const entry = ERROR_TABLE[code as keyof typeof ERROR_TABLE];
      assert.deepEqual(
        { className, status: Number(status), meaning },
        { className: entry.className, status: entry.status, meaning: entry.meaning },
        `README's row for ${code}`,
      );
    }
  });

  it('names each class once, and each class exists with the code and status the table gives it', () => {
    const classNames = table.map(([, entry]) => entry.className);
    assert.equal(new Set(classNames).size, classNames.length, 'a class carries two codes');
    assert.deepEqual(Object.keys(SAMPLES).sort(), [...classNames].sort(), 'test/errors/samples.ts is out of step');
    for (const [code, entry] of table) {
      const exported: unknown = (errors as Record<string, unknown>)[entry.className];
      assert.equal(typeof exported, 'function', `${entry.className} is not exported from src/errors`);
      const err = SAMPLES[entry.className]!();
      assert.ok(err instanceof (exported as typeof CosocketError), `${entry.className}'s sample`);
      assert.equal(err.constructor, exported, `${entry.className}'s sample is a subclass`);
      assert.equal(err.name, entry.className);
      assert.equal(err.code, code, entry.className);
      assert.equal(err.statusCode, entry.status, entry.className);
      assert.ok(err.message.length > 0, `${entry.className} has a message`);
    }
  });

  it('has a row for every coded error class src/errors exports', () => {
    const inTable = new Set<string>(table.map(([, entry]) => entry.className));
    assert.deepEqual(
      codedClasses.map(([name]) => name).filter((name) => !inTable.has(name)),
      [],
    );
  });

  it("is exported from cosocket, with every class but the product's", () => {
    assert.equal(api.ERROR_TABLE, ERROR_TABLE);
    const product = new Set([
      'UsageError',
      'RedisServerNotFoundError',
      'EmbeddedRedisError',
      'TestValueTooLargeError',
      'StateFileError',
      'StateFileClaimError',
      'PidFileError',
      'DyupsSyncError',
      'DyupsLoadError',
      'AbError',
    ]);
    for (const [, entry] of table) {
      if (product.has(entry.className)) continue;
      assert.equal(
        (api as Record<string, unknown>)[entry.className],
        (errors as Record<string, unknown>)[entry.className],
        `${entry.className} is not exported from src/index.ts`,
      );
    }
  });
});

describe('throw sites in src/ and adapters/', () => {
  const files = [...sources('src'), ...sources('adapters')].filter((file) => !file.startsWith(join('src', 'errors')));

  it('throw no bare Error, define no error class and write no error code outside src/errors/', () => {
    assert.ok(files.length > 50);
    const found: string[] = [];
    for (const file of files) {
      const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const where = `${relative('.', file)}:${i + 1}: ${line.trim()}`;
        if (/\bnew (Type|Range|Syntax)?Error\(/.test(line)) found.push(where);
        if (/COSOCKET_ERR_/.test(line)) found.push(where);
        if (/\bclass \w+ extends \w*Error\b/.test(line)) found.push(where);
      });
    }
    assert.deepEqual(found, []);
  });
});
