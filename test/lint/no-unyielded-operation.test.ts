import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { RuleTester } from 'eslint';
import type { Rule } from 'eslint';
import tseslint from 'typescript-eslint';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SAMPLE = `${ROOT}test/lint/sample.ts`;
const RULE_FILE = new URL('../../../eslint-rules/no-unyielded-operation.js', import.meta.url).href;
const { default: rule } = (await import(RULE_FILE)) as { default: Rule.RuleModule };

it("is what the package exports as 'cosocket/eslint-rule'", () => {
  assert.equal(import.meta.resolve('cosocket/eslint-rule'), RULE_FILE);
});

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const tester = new RuleTester({
  languageOptions: {
    parser: tseslint.parser,
    parserOptions: { projectService: true, tsconfigRootDir: ROOT },
  },
});

const imports = `
import { all, go, race, redis, sleep, spawn } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import type { HandlerContext } from '../../src/fastify/plugin.js';
`;

/** A sample: the imports above, then `code`, linted as test/lint/sample.ts. */
function sample(code: string): { code: string; filename: string } {
  return { code: `${imports}${code}`, filename: SAMPLE };
}

function unyielded(what: 'an effect' | 'an operation', fixed?: string): RuleTester.TestCaseError {
  return {
    messageId: 'unyielded',
    data: { what },
    suggestions: fixed === undefined ? [] : [{ messageId: 'addYield', output: `${imports}${fixed}` }],
  };
}

tester.run('no-unyielded-operation', rule, {
  valid: [
    sample('function* f(): Operation<void> { yield* sleep(1); }'),
    sample('function* f(): Operation<void> { const later = sleep(1); yield* sleep(2); yield* later; }'),
    sample('function* f(): Operation<void> { yield* all([sleep(1), sleep(2)]); yield* race([sleep(1)]); }'),
    sample('function* f(): Operation<void> { yield* spawn(function* () { yield* sleep(1); }); }'),
    sample('void go(function* () { yield* sleep(1); });'),
    sample('[1, 2].map((n) => sleep(n));'),
    sample('Math.max(1, 2);'),
    sample('class Effect {} new Effect();'),
    sample('function* f(ctx: HandlerContext): Operation<void> { ctx.print("a"); yield* ctx.flush(); }'),
  ],
  invalid: [
    {
      ...sample('function* f(): Operation<void> { sleep(50); }'),
      errors: [unyielded('an effect', 'function* f(): Operation<void> { yield* sleep(50); }')],
    },
    {
      ...sample('function* f(red: redis.RedisClient): Operation<void> { red.set("k", "v"); }'),
      errors: [
        unyielded('an effect', 'function* f(red: redis.RedisClient): Operation<void> { yield* red.set("k", "v"); }'),
      ],
    },
    {
      ...sample('function* f(ctx: HandlerContext): Operation<void> { ctx.write(Buffer.from("x")); ctx.flush(); }'),
      errors: [
        unyielded(
          'an effect',
          'function* f(ctx: HandlerContext): Operation<void> { yield* ctx.write(Buffer.from("x")); ctx.flush(); }',
        ),
        unyielded(
          'an effect',
          'function* f(ctx: HandlerContext): Operation<void> { ctx.write(Buffer.from("x")); yield* ctx.flush(); }',
        ),
      ],
    },
    {
      ...sample('function* helper(): Operation<number> { return 1; }\nfunction* f(): Operation<void> { helper(); }'),
      errors: [
        unyielded(
          'an operation',
          'function* helper(): Operation<number> { return 1; }\nfunction* f(): Operation<void> { yield* helper(); }',
        ),
      ],
    },
    {
      ...sample('async function* lines(): AsyncGenerator<string> { yield "a"; }\nlines();'),
      errors: [unyielded('an operation')],
    },
    {
      ...sample('function* f(ok: boolean): Operation<void> { ok ? sleep(1) : sleep(2); ok && sleep(3); }'),
      errors: [unyielded('an effect'), unyielded('an effect'), unyielded('an effect')],
    },
    {
      ...sample('function f(red: redis.RedisClient): void { ["a"].forEach((k) => { red.del(k); }); }'),
      errors: [unyielded('an effect')],
    },
    {
      ...sample('function* f(): Operation<void> { void sleep(1); }'),
      errors: [unyielded('an effect')],
    },
    {
      ...sample('function* f(red?: redis.RedisClient): Operation<void> { red?.get("k"); }'),
      errors: [unyielded('an effect')],
    },
  ],
});
