import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { layerOf } from './architecture/layer-check.js';
import { LAYER_MAP } from './architecture/layer-map.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ListedPath {
  /** Repository-relative; a folder ends with '/'. */
  path: string;
  /** The `# name: ...` heading it is under. */
  heading: string;
  line: number;
}

/**
 * The paths of README's Layout block. A heading line is `# name: what it may import`; every other line is
 * a path and its description, indented two spaces per level: a top-level path is written from the
 * repository root, an indented one is relative to the folder above it.
 */
function layoutPaths(): ListedPath[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- readme-layout[^>]*-->\s*```\n([\s\S]*?)```/.exec(text);
  assert.ok(block, 'README has no marked Layout block');
  const listed: ListedPath[] = [];
  const folders: string[] = [];
  let heading = '';
  block[1]!.split('\n').forEach((text, index) => {
    const line = index + 1;
    if (text.trim() === '') return;
    const title = /^# ([^:]+):/.exec(text);
    if (title !== null) {
      heading = title[1]!;
      folders.length = 0;
      return;
    }
    const entry = /^( *)(\S+)( {2,}\S.*)?$/.exec(text);
    assert.ok(entry, `Layout line ${line} is neither a heading nor a path: ${text}`);
    const depth = entry[1]!.length / 2;
    assert.ok(Number.isInteger(depth) && depth <= folders.length, `Layout line ${line} is indented wrong: ${text}`);
    const path = `${depth === 0 ? '' : folders[depth - 1]!}${entry[2]!}`;
    folders.length = depth;
    if (path.endsWith('/')) folders.push(path);
    listed.push({ path, heading, line });
  });
  return listed;
}

/** Every file and folder (with a trailing '/') under `folder`, or only the folders. */
function treeOf(folder: string, foldersOnly: boolean): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(ROOT, folder), { withFileTypes: true })) {
    const path = `${folder}${entry.name}`;
    if (entry.isDirectory()) found.push(`${path}/`, ...treeOf(`${path}/`, foldersOnly));
    else if (!foldersOnly) found.push(path);
  }
  return found;
}

describe('README Layout', () => {
  const listed = layoutPaths();
  const paths = new Set(listed.map((entry) => entry.path));

  it('lists every file and folder under src/ and adapters/, and every folder of test/ and bench/', () => {
    const expected = [
      ...LAYER_MAP.roots.flatMap((root) => treeOf(root, false)),
      'test/',
      'bench/',
      ...treeOf('test/', true),
      ...treeOf('bench/', true),
    ];
    assert.deepEqual(
      expected.filter((path) => !paths.has(path)),
      [],
    );
  });

  it('lists each path once, and only paths that exist', () => {
    const seen = new Set<string>();
    for (const { path, line } of listed) {
      assert.ok(!seen.has(path), `Layout line ${line}: ${path} is listed twice`);
      seen.add(path);
      const full = join(ROOT, path);
      assert.ok(existsSync(full), `Layout line ${line}: ${path} does not exist`);
      assert.equal(statSync(full).isDirectory(), path.endsWith('/'), `Layout line ${line}: ${path} is the wrong kind`);
    }
  });

  it('has the layers of the layer map as its headings, in order, each path under its own layer', () => {
    const headings = [...new Set(listed.map((entry) => entry.heading))];
    const layers = LAYER_MAP.layers.map((layer) => layer.name);
    assert.deepEqual(headings.slice(0, layers.length), layers);
    for (const { path, heading, line } of listed) {
      const layer = layerOf(LAYER_MAP, path);
      if (path.startsWith('test/') || path.startsWith('bench/')) {
        assert.ok(!layers.includes(heading), `Layout line ${line}: ${path} is under the layer ${heading}`);
      } else {
        assert.equal(layer?.name, heading, `Layout line ${line}: ${path} is in the layer ${layer?.name ?? 'none'}`);
      }
    }
  });
});
