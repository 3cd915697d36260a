import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkLayers, collectImports, importCircles } from './layer-check.js';
import type { Violation } from './layer-check.js';
import { LAYER_MAP } from './layer-map.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const fixtures: string[] = [];
after(() => {
  for (const dir of fixtures) rmSync(dir, { recursive: true, force: true });
});

/** A tree that keeps every rule: one file per layer, each importing what its layer may. */
const CLEAN: Record<string, string> = {
  'src/errors.ts': 'export class CosocketError extends Error {}\n',
  'src/runtime/effect.ts':
    "import { CosocketError } from '../errors.js';\nexport class Effect extends CosocketError {}\n",
  'src/pool/pool.ts': "import { createPool } from 'generic-pool';\nexport const make = createPool;\n",
  'adapters/tcp/socket.ts':
    "import { Effect } from '../../src/runtime/effect.js';\nexport class Socket extends Effect {}\n",
  'adapters/tcp/index.ts': "import { createConnection } from 'node:net';\nexport { Socket } from './socket.js';\n",
  'adapters/redis/index.ts':
    "import type { Socket } from '../tcp/index.js';\nimport type { Redis } from 'ioredis';\nexport type R = [Socket, Redis];\n",
  'adapters/sleep.ts': 'export const sleep = 1;\n',
  'src/stream/proxy.ts': "import { Socket } from '../../adapters/tcp/index.js';\nexport const proxy = Socket;\n",
  'src/fastify/plugin.ts': "import type { FastifyInstance } from 'fastify';\nexport type Ctx = FastifyInstance;\n",
  'src/server/app.ts': "import type { Ctx } from '../fastify/plugin.js';\nexport const app = (c: Ctx) => c;\n",
  'src/index.ts': "export * from './server/app.js';\nexport * from './stream/proxy.js';\n",
};

/** Writes CLEAN with `changes` on top (a null content removes a file) to a fresh directory; returns its path. */
function tree(changes: Record<string, string | null>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-layers-'));
  fixtures.push(dir);
  const files: Record<string, string | null> = { ...CLEAN, ...changes };
  for (const [path, text] of Object.entries(files)) {
    if (text === null) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function check(changes: Record<string, string | null>): Violation[] {
  return checkLayers(tree(changes), LAYER_MAP);
}

function assertOne(violations: Violation[], rule: Violation['rule'], pattern: RegExp): void {
  assert.equal(violations.length, 1, violations.map((v) => v.message).join('\n'));
  assert.equal(violations[0]!.rule, rule);
  assert.match(violations[0]!.message, pattern);
}

const listed = (violations: Violation[]): string =>
  `\n${violations.map((v) => `  ${v.rule}: ${v.message}`).join('\n')}`;

describe('layers of the real tree', () => {
  const violations = checkLayers(ROOT, LAYER_MAP);
  const of = (...rules: Array<Violation['rule']>): Violation[] => violations.filter((v) => rules.includes(v.rule));

  it('every file under src/ and adapters/ is in a layer, and every relative import resolves', () => {
    assert.deepEqual(of('unmapped', 'unresolved'), [], listed(of('unmapped', 'unresolved')));
  });

  it('imports point to the same layer or below', () => {
    assert.deepEqual(of('upward'), [], listed(of('upward')));
  });

  it('each layer uses only its packages and allowed Node built-ins', () => {
    assert.deepEqual(of('package', 'builtin'), [], listed(of('package', 'builtin')));
  });

  it('a cosocket reaches another only through its index.ts', () => {
    assert.deepEqual(of('internals'), [], listed(of('internals')));
  });

  it('no files import each other in a circle', () => {
    assert.deepEqual(of('circle'), [], listed(of('circle')));
  });

  it('each layer of the map has files in the tree', () => {
    for (const layer of LAYER_MAP.layers) {
      assert.ok(
        layer.paths.some((path) => existsSync(join(ROOT, path))),
        `layer ${layer.name}: none of ${layer.paths.join(', ')} exists`,
      );
    }
  });
});

describe('layer check', () => {
  it('passes a tree that keeps the rules', () => {
    assert.deepEqual(check({}), []);
  });

  it('finds every kind of import', () => {
    const text = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "import './c.js';",
      "export { d } from './d.js';",
      "export type { E } from './e.js';",
      "export * from './f.js';",
      "const g = await import('./g.js');",
      "let h: import('./h.js').H;",
      "type I = typeof import('./i.js');",
      "import j = require('./j.js');",
      'const k = await import(name);',
    ].join('\n');
    assert.deepEqual(
      collectImports('x.ts', text).map((site) => `${site.line} ${site.kind} ${site.specifier}`),
      [
        '1 import ./a.js',
        '2 import type ./b.js',
        '3 import ./c.js',
        '4 export from ./d.js',
        '5 export type from ./e.js',
        '6 export from ./f.js',
        '7 import() ./g.js',
        "8 import('x') type ./h.js",
        "9 import('x') type ./i.js",
        '10 require() ./j.js',
        '11 import() ',
      ],
    );
  });

  it('fails an upward import', () => {
    const violations = check({
      'src/stream/buffers.ts': 'export const size = 1;\n',
      'src/runtime/effect.ts': "import { size } from '../stream/buffers.js';\nexport const e = size;\n",
    });
    assertOne(violations, 'upward', /^src\/runtime\/effect\.ts:1: import '\.\.\/stream\/buffers\.js' points up/);
    assert.match(violations[0]!.message, /kernel \(layer 2.*streaming \(layer 5/);
  });

  it('fails a type-only upward import', () => {
    assertOne(
      check({ 'src/stream/proxy.ts': "import type { Ctx } from '../fastify/plugin.js';\nexport type P = Ctx;\n" }),
      'upward',
      /^src\/stream\/proxy\.ts:1: import type '\.\.\/fastify\/plugin\.js' points up/,
    );
  });

  it("fails an upward import() and an upward import('x') type", () => {
    const violations = check({
      'adapters/tcp/socket.ts': "export async function load() {\n  return import('../../src/server/app.js');\n}\n",
      'src/pool/pool.ts': "export let ctx: import('../fastify/plugin.js').Ctx | null = null;\n",
    });
    assert.deepEqual(
      violations.map((v) => `${v.rule} ${v.message.split(' points up')[0]!}`),
      [
        "upward src/pool/pool.ts:1: import('x') type '../fastify/plugin.js'",
        "upward adapters/tcp/socket.ts:2: import() '../../src/server/app.js'",
      ],
    );
  });

  it('fails an upward re-export', () => {
    assertOne(
      check({
        'src/server/routes.ts': 'export const routes = [];\n',
        'src/fastify/hooks.ts': "export * from '../server/routes.js';\n",
      }),
      'upward',
      /^src\/fastify\/hooks\.ts:1: export from '\.\.\/server\/routes\.js' points up/,
    );
  });

  it('fails an import() of a computed name below the product', () => {
    assertOne(
      check({ 'src/stream/proxy.ts': 'export const load = (name: string) => import(name);\n' }),
      'unresolved',
      /^src\/stream\/proxy\.ts:1: import\(\) of a computed name: streaming .* may not load code by name/,
    );
  });

  it('fails an import circle, type-only imports included', () => {
    const violations = check({
      'adapters/redis/client.ts': "import type { B } from './blocking.js';\nexport type A = B;\n",
      'adapters/redis/blocking.ts': "import { c } from './commands.js';\nexport type B = typeof c;\n",
      'adapters/redis/commands.ts': "import type { A } from './client.js';\nexport const c: A | null = null;\n",
    });
    assertOne(
      violations,
      'circle',
      /^import circle: adapters\/redis\/blocking\.ts -> adapters\/redis\/commands\.ts -> adapters\/redis\/client\.ts -> adapters\/redis\/blocking\.ts \(/,
    );
  });

  it('fails a package the layer may not use, types included', () => {
    const violations = check({
      'src/runtime/effect.ts': "import type { Pool } from 'generic-pool';\nexport type P = Pool<number>;\n",
      'adapters/sleep.ts': "import fastify from 'fastify';\nexport const f = fastify;\n",
    });
    assert.deepEqual(
      violations.map((v) => v.rule),
      ['package', 'package'],
    );
    assert.match(
      violations[0]!.message,
      /^src\/runtime\/effect\.ts:1: import type 'generic-pool': kernel .* may use these packages: none$/,
    );
    assert.match(violations[1]!.message, /^adapters\/sleep\.ts:1: import 'fastify': cosockets .* packages: ioredis$/);
  });

  it('fails a Node built-in the kernel may not use, with or without node:', () => {
    const violations = check({
      'src/runtime/effect.ts':
        "import { connect } from 'node:net';\nimport { readFile } from 'fs';\nexport { connect, readFile };\n",
    });
    assert.deepEqual(
      violations.map((v) => v.message),
      [
        "src/runtime/effect.ts:1: import 'node:net': kernel (layer 2: the coroutine runtime) may not use node:net",
        "src/runtime/effect.ts:2: import 'fs': kernel (layer 2: the coroutine runtime) may not use node:fs",
      ],
    );
  });

  it("fails a cosocket that reaches into another's internals", () => {
    assertOne(
      check({
        'adapters/redis/index.ts': "import type { Socket } from '../tcp/socket.js';\nexport type R = Socket;\n",
      }),
      'internals',
      /^adapters\/redis\/index\.ts:1: import type '\.\.\/tcp\/socket\.js' reaches into adapters\/tcp\/; import its public face adapters\/tcp\/index\.ts$/,
    );
  });

  it('fails a file in no layer and an import that resolves to nothing', () => {
    const violations = check({
      'src/misc/helper.ts': 'export const x = 1;\n',
      'src/server/app.ts': "import { gone } from './gone.js';\nexport const app = gone;\n",
    });
    assert.deepEqual(
      violations.map((v) => v.message),
      [
        'src/misc/helper.ts is in no layer of the layer map',
        "src/server/app.ts:1: import './gone.js' resolves to no file",
      ],
    );
  });

  it('finds circles of every size with Tarjan', () => {
    const graph = new Map<string, Set<string>>([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a', 'd'])],
      ['d', new Set(['e'])],
      ['e', new Set()],
      ['f', new Set(['f'])],
    ]);
    assert.deepEqual(importCircles(graph), [['a', 'b', 'c'], ['f']]);
  });
});
