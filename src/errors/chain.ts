/** @internal Where an error keeps its coroutine chain (an own property, or CancelledError's getter). */
export const CHAIN: unique symbol = Symbol.for('cosocket.coroutineChain');

/** A coroutine chain as logs show it: `handler > loadUser > fetchRow`. */
export function formatChain(chain: readonly string[]): string {
  return chain.join(' > ');
}

/**
 * Records on an error the chain of coroutine names it passed through, innermost first recorded wins,
 * and appends it to the stack so loggers show it. Non-objects are left alone.
 */
export function annotateChain(err: unknown, chain: readonly string[]): void {
  if (typeof err !== 'object' || err === null) return;
  if (coroutineChain(err) !== undefined) return;
  if (!Object.isExtensible(err)) return;
  Object.defineProperty(err, CHAIN, { value: chain, enumerable: false });
  if (err instanceof Error && typeof err.stack === 'string') {
    err.stack += `\n    in coroutine chain: ${formatChain(chain)}`;
  }
}

/** The chain of coroutine names an error passed through, or undefined when it came from elsewhere. */
export function coroutineChain(err: unknown): readonly string[] | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as Record<symbol, readonly string[] | undefined>)[CHAIN];
}
