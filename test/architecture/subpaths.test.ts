import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/process.js';
import { layerOf } from './layer-check.js';
import { LAYER_MAP } from './layer-map.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Loaded {
  exports: string[];
  /** Every script V8 compiled in the process: our dist files and the packages' files, ESM and CommonJS alike. */
  scripts: string[];
}

/**
 * Imports `specifier` in a fresh node from the repository root (so `cosocket/...` resolves through the
 * package's own exports, as for a user) and lists what it exports and every script that got loaded. The
 * list comes from the inspector's Debugger.scriptParsed events, which V8 sends for each script it compiles
 * whatever loaded it, so it needs no loader hook and misses nothing loaded by the time import() returns.
 */
async function load(specifier: string): Promise<Loaded> {
  const script = `
    import { Session } from 'node:inspector';
    const session = new Session();
    session.connect();
    const scripts = new Set();
    session.on('Debugger.scriptParsed', (message) => scripts.add(message.params.url));
    session.post('Debugger.enable');
    const module = await import(${JSON.stringify(specifier)});
    session.disconnect();
    console.log(JSON.stringify({ exports: Object.keys(module), scripts: [...scripts] }));
  `;
  const result = await runProcess(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    limitMs: 30_000,
  });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Loaded;
}

/** Our loaded source files, as repository paths of their .ts sources (dist/src/x.js is src/x.ts). */
function ourFiles(loaded: Loaded): string[] {
  const dist = new URL('dist/', new URL(`file://${ROOT}`)).href;
  return loaded.scripts
    .filter((url) => url.startsWith(dist) && !url.includes('/node_modules/'))
    .map((url) => url.slice(dist.length).replace(/\.js$/, '.ts'));
}

function packagesOf(loaded: Loaded): Set<string> {
  const names = new Set<string>();
  for (const url of loaded.scripts) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match !== null) names.add(match[1]!);
  }
  return names;
}

const layerIndex = (name: string): number => LAYER_MAP.layers.findIndex((layer) => layer.name === name);

/** Packages only layers above `top` may use: an entry point that stops at `top` must not load them. */
function packagesAbove(top: string): string[] {
  const below = new Set(LAYER_MAP.layers.slice(0, layerIndex(top) + 1).flatMap((layer) => layer.packages));
  return LAYER_MAP.layers
    .slice(layerIndex(top) + 1)
    .flatMap((layer) => layer.packages)
    .filter((name) => !below.has(name));
}

/** Asserts that `entry` loads, besides itself, only files of layers up to `top`, and no package of a layer above. */
function assertStopsAt(loaded: Loaded, entry: string, top: string): void {
  const above = ourFiles(loaded).filter((path) => {
    if (path === entry) return false;
    const layer = layerOf(LAYER_MAP, path);
    return layer === null || LAYER_MAP.layers.indexOf(layer) > layerIndex(top);
  });
  assert.deepEqual(above, [], `${entry} loads files above the ${top} layer`);
  const packages = packagesOf(loaded);
  assert.deepEqual(
    packagesAbove(top).filter((name) => packages.has(name)),
    [],
    `${entry} loads packages above the ${top} layer`,
  );
}

describe('package subpaths', () => {
  it('cosocket/core: runtime, errors, pools and cosockets, without fastify or the product', async () => {
    const core = await load('cosocket/core');
    for (const name of ['go', 'goWith', 'sleep', 'call', 'Scheduler', 'tcp', 'redis', 'http', 'file', 'pools']) {
      assert.ok(core.exports.includes(name), `cosocket/core exports ${name}`);
    }
    assert.ok(core.exports.includes('CancelledError'));
    assertStopsAt(core, 'src/core.ts', 'cosockets');
    assert.ok(packagesAbove('cosockets').includes('fastify'), 'the check covers fastify');
  });

  it('cosocket/fastify: handlers, proxying and sendfile, without the product', async () => {
    const fastify = await load('cosocket/fastify');
    for (const name of ['cosocketPlugin', 'co', 'HandlerContext', 'proxyPass', 'incomingBody', 'serveFinished']) {
      assert.ok(fastify.exports.includes(name), `cosocket/fastify exports ${name}`);
    }
    assert.ok(!fastify.exports.includes('go'), 'the runtime comes from cosocket/core');
    assertStopsAt(fastify, 'src/fastify.ts', 'fastify');
  });

  it('cosocket/dyups: the upstream table and its listeners, without the server, cli or ab', async () => {
    const dyups = await load('cosocket/dyups');
    for (const name of ['UpstreamTable', 'parseUpstream', 'buildAdminApp', 'buildProxyServer', 'RedisSync']) {
      assert.ok(dyups.exports.includes(name), `cosocket/dyups exports ${name}`);
    }
    const elsewhere = ourFiles(dyups).filter((path) => /^src\/(server|cli|ab)\//.test(path));
    assert.deepEqual(elsewhere, []);
    assert.ok(!packagesOf(dyups).has('autocannon'));
  });

  it('cosocket/tracing: startTracing, with no part of OpenTelemetry loaded until tracing starts', async () => {
    const tracing = await load('cosocket/tracing');
    for (const name of ['startTracing', 'withEnvironmentEndpoint']) {
      assert.ok(tracing.exports.includes(name), `cosocket/tracing exports ${name}`);
    }
    assert.deepEqual(
      ourFiles(tracing).filter((path) => path === 'src/tracing/otel.ts'),
      [],
    );
    assert.deepEqual(
      [...packagesOf(tracing)].filter((name) => name.startsWith('@opentelemetry/')),
      [],
    );
  });

  it('cosocket: everything the four subpaths export, and nothing else, and no OpenTelemetry', async () => {
    const [all, core, fastify, dyups, tracing] = await Promise.all(
      ['cosocket', 'cosocket/core', 'cosocket/fastify', 'cosocket/dyups', 'cosocket/tracing'].map(load),
    );
    assert.deepEqual(
      [...packagesOf(all!)].filter((name) => name.startsWith('@opentelemetry/')),
      [],
    );
    const union = new Set([...core!.exports, ...fastify!.exports, ...dyups!.exports, ...tracing!.exports]);
    assert.deepEqual([...all!.exports].sort(), [...union].sort());
  });
});
