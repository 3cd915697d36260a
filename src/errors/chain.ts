const CHAIN = Symbol.for('cosocket.coroutineChain');

export function formatChain(chain: readonly string[]): string {
  return chain.join(' > ');
}

/**
 * Records on an error the chain of coroutine names it passed through, innermost first recorded wins,
 * and appends it to the stack so loggers show it. Non-objects are left alone.
 */
export function annotateChain(err: unknown, chain: readonly string[]): void {
  if (!recordChain(err, chain)) return;
  if (err instanceof Error && typeof err.stack === 'string') {
    err.stack += `\n    in coroutine chain: ${formatChain(chain)}`;
  }
}

/**
 * Records the chain like annotateChain but leaves the stack alone: reading `err.stack` formats it, which
 * costs more than making the error. For errors whose message already names the coroutine (CancelledError).
 * False when the error already had a chain or cannot take one.
 */
export function recordChain(err: unknown, chain: readonly string[]): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (Object.prototype.hasOwnProperty.call(err, CHAIN)) return false;
  if (!Object.isExtensible(err)) return false;
  Object.defineProperty(err, CHAIN, { value: chain, enumerable: false });
  return true;
}

/** The chain of coroutine names an error passed through, or undefined when it came from elsewhere. */
export function coroutineChain(err: unknown): readonly string[] | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as Record<symbol, readonly string[] | undefined>)[CHAIN];
}
