import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { runProcess } from '../helpers/process.js';
import type { ExitResult } from '../helpers/process.js';
import { CONSUMER_SOURCE } from './consumer-source.js';

/**
 * A consumer project, as a new user makes one: `npm pack` of this checkout (as built by `npm test`),
 * installed in a fresh folder, a strict TypeScript program type-checked under the moduleResolution
 * node16, nodenext and bundler, then run on this Node and on Node 22 (the npm registry's `node`
 * package). Nothing may print a warning: not npm, not tsc, not node.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const OURS = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
};
const TYPES_NODE = (
  JSON.parse(readFileSync(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8')) as {
    version: string;
  }
).version;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const QUIET = ['--no-audit', '--no-fund', '--prefer-offline'];

let work = '';
let consumer = '';

function ok(result: ExitResult, what: string): ExitResult {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** Every package.json under `folder`'s node_modules that states engines.node: name@version and the range. */
function engineRanges(folder: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const walk = (modules: string): void => {
    for (const name of readdirSync(modules)) {
      if (name.startsWith('.')) continue;
      const path = join(modules, name);
      if (name.startsWith('@')) {
        walk(path);
        continue;
      }
      try {
        const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as {
          name: string;
          version: string;
          engines?: { node?: string };
        };
        if (typeof manifest.engines?.node === 'string')
          found.push([`${manifest.name}@${manifest.version}`, manifest.engines.node]);
      } catch {
        // not a package
      }
      try {
        if (statSync(join(path, 'node_modules')).isDirectory()) walk(join(path, 'node_modules'));
      } catch {
        // no nested modules
      }
    }
  };
  walk(join(folder, 'node_modules'));
  return found;
}

function mapFiles(folder: string): string[] {
  const maps: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js.map')) maps.push(path);
    }
  };
  walk(folder);
  return maps;
}

describe('the packed tarball in a consumer project', { timeout: 600_000 }, () => {
  let installed: ExitResult;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cosocket-consumer-'));
    consumer = join(work, 'consumer');
    // the suite built dist already: packing must not rebuild it under the tests that run from it
    ok(
      await runProcess(NPM, ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, limitMs: 120_000 }),
      'npm pack',
    );
    const tarball = join(work, `cosocket-${OURS.version}.tgz`);
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    installed = ok(
      await runProcess(NPM, ['install', ...QUIET, tarball, `@types/node@${TYPES_NODE}`], {
        cwd: consumer,
        limitMs: 300_000,
      }),
      'npm install of the tarball',
    );
    writeFileSync(join(consumer, 'consumer.ts'), CONSUMER_SOURCE);
  });

  after(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('installs with no install script and no warning', () => {
    assert.doesNotMatch(`${installed.stdout}\n${installed.stderr}`, /warn|EBADENGINE|install-scripts/i);
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/cosocket/package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
      assert.equal(manifest.scripts?.[hook], undefined, `the package runs '${hook}' when installed`);
  });

  it('states its Node versions, and no dependency asks for others', () => {
    assert.ok(semver.satisfies(process.version, OURS.engines.node), `${process.version} outside ${OURS.engines.node}`);
    const conflicts = engineRanges(consumer).filter(([, range]) => !semver.subset(OURS.engines.node, range));
    assert.deepEqual(conflicts, []);
  });

  it('ships a LICENSE and source maps that carry their sources', () => {
    const license = readFileSync(join(consumer, 'node_modules/cosocket/LICENSE'), 'utf8');
    assert.match(license, /MIT License/);
    const maps = mapFiles(join(consumer, 'node_modules/cosocket/dist'));
    assert.ok(maps.length > 100, `only ${maps.length} source maps`);
    for (const path of maps) {
      const map = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      assert.equal(map.sourcesContent?.length, map.sources.length, `${path} lacks its sources`);
      assert.ok(
        map.sourcesContent.every((s) => typeof s === 'string' && s.length > 0),
        `${path} has an empty source`,
      );
    }
  });

  for (const resolution of ['node16', 'nodenext', 'bundler'] as const) {
    it(`type-checks a strict program with moduleResolution ${resolution}`, async () => {
      const config = {
        compilerOptions: {
          strict: true,
          target: 'ES2022',
          module: resolution === 'bundler' ? 'esnext' : resolution,
          moduleResolution: resolution,
          types: ['node'],
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['consumer.ts'],
      };
      writeFileSync(join(consumer, `tsconfig.${resolution}.json`), JSON.stringify(config));
      const checked = await runProcess(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`], {
        cwd: consumer,
        limitMs: 120_000,
      });
      assert.equal(`${checked.stdout}${checked.stderr}`, '');
      assert.equal(checked.code, 0);
    });
  }

  /** Compiles the program to consumer.js (nodenext) once, for the runs below. */
  async function compiled(): Promise<string> {
    const out = join(consumer, 'out');
    try {
      statSync(join(out, 'consumer.js'));
    } catch {
      ok(
        await runProcess(
          process.execPath,
          [
            TSC,
            '--strict',
            '--target',
            'ES2022',
            '--module',
            'nodenext',
            '--types',
            'node',
            '--outDir',
            out,
            'consumer.ts',
          ],
          { cwd: consumer, limitMs: 120_000 },
        ),
        'tsc',
      );
    }
    return join(out, 'consumer.js');
  }

  function assertRan(run: ExitResult): void {
    assert.equal(run.stderr, '', 'node printed a warning or an error');
    assert.equal(run.code, 0);
    const { mapped, ...rest } = JSON.parse(run.stdout) as { mapped: string };
    assert.match(mapped, /^adapters\/redis\/url\.ts:\d+$/);
    assert.deepEqual(rest, {
      won: 'fast',
      db: 1,
      nginx: true,
      found: 'app',
      body: 'hi\n',
      code: 'COSOCKET_ERR_HEADERS_SENT',
      tracing: null,
      connect: 'function',
    });
  }

  it(`runs it on this Node (${process.version}), stack traces mapped to the TypeScript source`, async () => {
    const program = await compiled();
    assertRan(await runProcess(process.execPath, ['--enable-source-maps', program], { cwd: consumer }));
  });

  it('runs it on Node 22 (the npm registry node package)', async (t) => {
    const program = await compiled();
    const runtime = join(work, 'node22');
    mkdirSync(runtime);
    writeFileSync(join(runtime, 'package.json'), '{"private":true}');
    const got = await runProcess(NPM, ['install', ...QUIET, 'node@22'], { cwd: runtime, limitMs: 300_000 });
    if (got.code !== 0) {
      t.skip(`node@22 could not be installed here: ${got.stderr.trim().split('\n').pop() ?? ''}`);
      return;
    }
    const node22 = join(runtime, 'node_modules/node/bin/node');
    const version = await runProcess(node22, ['--version']);
    assert.match(version.stdout, /^v22\./);
    assert.ok(semver.satisfies(version.stdout.trim(), OURS.engines.node), `${version.stdout} outside our engines`);
    assertRan(await runProcess(node22, ['--enable-source-maps', program], { cwd: consumer }));
  });
});
