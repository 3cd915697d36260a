/**
 * Checks a source tree against the layer map: every import (static, `import type`, re-export, `import()`,
 * `import('x').T`, `require()`) must point to its own layer or one below, name only packages its layer may use,
 * and reach another cosocket only through its public face; and no files may import each other in a circle.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import type { Layer, LayerMap } from './layer-map.js';

export type ImportKind =
  'import' | 'import type' | 'export from' | 'export type from' | 'import()' | "import('x') type" | 'require()';

export interface ImportSite {
  /** Repository-relative path of the importing file, '/'-separated. */
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  readonly kind: ImportKind;
}

export interface Violation {
  readonly rule: 'unmapped' | 'upward' | 'package' | 'builtin' | 'internals' | 'unresolved' | 'circle';
  readonly message: string;
}

interface SourceFileInfo {
  readonly path: string;
  readonly imports: ImportSite[];
}

const toPosix = (path: string): string => path.split(sep).join('/');

function listTsFiles(root: string, folder: string): string[] {
  const dir = join(root, folder);
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const child = `${folder}${entry.name}`;
    if (entry.isDirectory()) files.push(...listTsFiles(root, `${child}/`));
    else if (entry.name.endsWith('.ts')) files.push(child);
  }
  return files.sort();
}

function stringArgument(node: ts.Node | undefined): string | null {
  if (node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) return node.text;
  return null;
}

/** Every module a file names, with how it names it. A computed `import(expr)` is reported with specifier ''. */
export function collectImports(path: string, text: string): ImportSite[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const sites: ImportSite[] = [];
  const add = (node: ts.Node, specifier: string, kind: ImportKind): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    sites.push({ file: path, line, specifier, kind });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const specifier = stringArgument(node.moduleSpecifier);
      if (specifier !== null) add(node, specifier, node.importClause?.isTypeOnly === true ? 'import type' : 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      const specifier = stringArgument(node.moduleSpecifier);
      if (specifier !== null) add(node, specifier, node.isTypeOnly ? 'export type from' : 'export from');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const specifier = stringArgument(node.moduleReference.expression);
      if (specifier !== null) add(node, specifier, 'require()');
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) {
        const specifier = stringArgument(argument.literal);
        if (specifier !== null) add(node, specifier, "import('x') type");
      }
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        add(node, stringArgument(node.arguments[0]) ?? '', 'import()');
      } else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        const specifier = stringArgument(node.arguments[0]);
        if (specifier !== null) add(node, specifier, 'require()');
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sites;
}

/** The layer a repository-relative path belongs to; a file path of the map wins over a folder that holds it. */
export function layerOf(map: LayerMap, path: string): Layer | null {
  let best: Layer | null = null;
  let bestLength = -1;
  for (const layer of map.layers) {
    for (const entry of layer.paths) {
      const matches = entry.endsWith('/') ? path.startsWith(entry) : path === entry;
      if (matches && entry.length > bestLength) {
        best = layer;
        bestLength = entry.length;
      }
    }
  }
  return best;
}

/** The unit (e.g. 'adapters/tcp/' or 'adapters/sleep.ts') a path belongs to, and that unit's public face. */
function unitOf(unitsFolder: string, path: string): { unit: string; face: string } | null {
  if (!path.startsWith(unitsFolder)) return null;
  const rest = path.slice(unitsFolder.length);
  const slash = rest.indexOf('/');
  if (slash === -1) return { unit: path, face: path };
  const unit = `${unitsFolder}${rest.slice(0, slash + 1)}`;
  return { unit, face: `${unit}index.ts` };
}

/** Resolves a relative specifier the way NodeNext does for TypeScript sources ('./x.js' is './x.ts'). */
function resolveRelative(root: string, from: string, specifier: string): string | null {
  const target = resolve(root, dirname(from), specifier);
  const candidates = [target];
  const jsExtension = /\.(m|c)?js$/.exec(target);
  if (jsExtension !== null) {
    const stem = target.slice(0, -jsExtension[0].length);
    candidates.unshift(`${stem}.ts`, `${stem}.d.ts`);
  } else {
    candidates.push(`${target}.ts`, join(target, 'index.ts'));
  }
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return toPosix(relative(root, candidate));
  }
  return null;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

const where = (site: ImportSite): string => `${site.file}:${site.line}`;

function describeLayer(layer: Layer, map: LayerMap): string {
  return `${layer.name} (layer ${map.layers.indexOf(layer) + 1}: ${layer.role})`;
}

/** Tarjan's strongly connected components; returns those with more than one file, or a file importing itself. */
export function importCircles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const circles: string[][] = [];
  let counter = 0;
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node) === true) circles.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return circles;
}

/** One shortest path around a circle, from its first file back to it, through the circle's files only. */
function pathAround(graph: ReadonlyMap<string, ReadonlySet<string>>, component: readonly string[]): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [start];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = cameFrom.get(at)) {
          path.unshift(at);
        }
        path.unshift(start);
        return path;
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/** Parses every .ts file under the map's roots in `root` and returns each broken rule, in file order. */
export function checkLayers(root: string, map: LayerMap): Violation[] {
  const files: SourceFileInfo[] = map.roots
    .flatMap((folder) => listTsFiles(root, folder))
    .map((path) => ({ path, imports: collectImports(path, readFileSync(join(root, path), 'utf8')) }));
  const violations: Violation[] = [];
  const graph = new Map<string, Set<string>>();

  for (const file of files) {
    const edges = new Set<string>();
    graph.set(file.path, edges);
    const layer = layerOf(map, file.path);
    if (layer === null) {
      violations.push({ rule: 'unmapped', message: `${file.path} is in no layer of the layer map` });
      continue;
    }
    for (const site of file.imports) {
      const how = `${site.kind} '${site.specifier}'`;
      if (site.specifier === '') {
        if (layer.importsComputedNames !== true) {
          violations.push({
            rule: 'unresolved',
            message: `${where(site)}: import() of a computed name: ${describeLayer(layer, map)} may not load code by name`,
          });
        }
      } else if (site.specifier.startsWith('.')) {
        const target = resolveRelative(root, file.path, site.specifier);
        const targetLayer = target === null ? null : layerOf(map, target);
        if (target === null || targetLayer === null) {
          const what = target === null ? 'no file' : `${target}, outside the layers`;
          violations.push({ rule: 'unresolved', message: `${where(site)}: ${how} resolves to ${what}` });
          continue;
        }
        edges.add(target);
        if (map.layers.indexOf(targetLayer) > map.layers.indexOf(layer)) {
          violations.push({
            rule: 'upward',
            message:
              `${where(site)}: ${how} points up: ${file.path} is in ${describeLayer(layer, map)}, ` +
              `${target} is in ${describeLayer(targetLayer, map)}`,
          });
        }
        const fromUnit = layer.units === undefined ? null : unitOf(layer.units, file.path);
        const toUnit = layer.units === undefined ? null : unitOf(layer.units, target);
        if (fromUnit !== null && toUnit !== null && fromUnit.unit !== toUnit.unit && target !== toUnit.face) {
          violations.push({
            rule: 'internals',
            message: `${where(site)}: ${how} reaches into ${toUnit.unit}; import its public face ${toUnit.face}`,
          });
        }
      } else if (site.specifier.startsWith('node:') || isBuiltin(site.specifier)) {
        const name = site.specifier.replace(/^node:/, '');
        if (layer.deniedBuiltins?.includes(name) === true) {
          violations.push({
            rule: 'builtin',
            message: `${where(site)}: ${how}: ${describeLayer(layer, map)} may not use node:${name}`,
          });
        }
      } else if (!layer.packages.includes(packageName(site.specifier))) {
        const allowed = layer.packages.length === 0 ? 'none' : layer.packages.join(', ');
        violations.push({
          rule: 'package',
          message: `${where(site)}: ${how}: ${describeLayer(layer, map)} may use these packages: ${allowed}`,
        });
      }
    }
  }

  for (const component of importCircles(graph)) {
    const path = pathAround(graph, component);
    const more = component.length > path.length - 1 ? `; all ${component.length} in it: ${component.join(', ')}` : '';
    violations.push({
      rule: 'circle',
      message: `import circle: ${path.join(' -> ')} (type imports count: move a shared type down)${more}`,
    });
  }
  return violations;
}
