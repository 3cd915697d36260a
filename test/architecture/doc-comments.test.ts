import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as cosocket from '../../src/index.js';

/**
 * Every export of the package's entry points (and every export of the namespaces among them: tcp,
 * redis, http, file) has a doc comment, which the API reference (`npm run docs`, TypeDoc) shows.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY_POINTS = ['src/core.ts', 'src/fastify.ts', 'src/dyups/index.ts', 'src/tracing/index.ts'];

/** `subpath: name` of each export with no doc comment. */
function undocumented(): string[] {
  const program = ts.createProgram(
    ENTRY_POINTS.map((p) => join(ROOT, p)),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true },
  );
  const checker = program.getTypeChecker();
  const missing: string[] = [];
  const documented = (symbol: ts.Symbol): boolean => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (ts.displayPartsToString(target.getDocumentationComment(checker)).trim() !== '') return true;
    // an overloaded function: a comment on any signature
    return (target.declarations ?? []).some((d) => ts.getJSDocCommentsAndTags(d).length > 0);
  };
  const visit = (where: string, module: ts.Symbol, depth: number): void => {
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const name = `${where}${symbol.name}`;
      if (target.flags & ts.SymbolFlags.ValueModule && depth === 0) {
        // `export * as tcp from ...`: the namespace's own exports need comments
        visit(`${name}.`, target, depth + 1);
        continue;
      }
      if (!documented(symbol)) missing.push(name);
    }
  };
  for (const entry of ENTRY_POINTS) {
    const source = program.getSourceFile(join(ROOT, entry));
    assert.ok(source !== undefined, entry);
    const module = checker.getSymbolAtLocation(source);
    assert.ok(module !== undefined, entry);
    visit(`${entry}: `, module, 0);
  }
  return missing;
}

describe('doc comments', () => {
  it('every export of every entry point has a doc comment', () => {
    assert.deepEqual(undocumented(), []);
  });

  it('README names every value the package exports (the namespaces tcp, redis, http and file: each of theirs)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const names: string[] = [];
    for (const [name, value] of Object.entries(cosocket)) {
      if (['tcp', 'redis', 'http', 'file'].includes(name))
        names.push(...Object.keys(value as object).map((member) => `${name}.${member}`));
      else names.push(name);
    }
    assert.deepEqual(
      names.filter((name) => !readme.includes(name.slice(name.indexOf('.') + 1))),
      [],
    );
  });
});
