import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors/index.js';
import { defineBalancer } from './balancer-registry.js';
import type { CoroutineBalancer } from './balancer-registry.js';

/**
 * Loads each `dyups.balancers` module (name → absolute path) and registers its default export (or its
 * export named `balancer`) under the name: what every process that balances or validates groups does
 * before it loads the state file.
 */
export async function loadBalancerModules(modules: Readonly<Record<string, string>>): Promise<void> {
  for (const [name, path] of Object.entries(modules)) {
    let loaded: Record<string, unknown>;
    try {
      loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (err) {
      throw new InvalidArgumentError(
        `dyups.balancers.${name}: cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const balancer = loaded.default ?? loaded.balancer;
    if (typeof balancer !== 'function')
      throw new InvalidArgumentError(
        `dyups.balancers.${name}: ${path} exports no generator function (as its default export or 'balancer')`,
      );
    defineBalancer(name, balancer as CoroutineBalancer);
  }
}
