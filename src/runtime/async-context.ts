import { AsyncLocalStorage, AsyncResource, executionAsyncResource } from 'node:async_hooks';

/**
 * The async context a coroutine runs in — what AsyncLocalStorage sees: the one its root was started in,
 * kept by an AsyncResource made there (children share their root's), or, for a root started where no
 * store is set, one empty context all such roots share (no AsyncResource each). A resumption enters it unless the
 * code that woke the coroutine already sees the same stores: a timer or a promise the coroutine started
 * itself carries them; another coroutine, plain code in another context, or a socket another request
 * opened does not.
 *
 * Both the test and the switch must cost almost nothing per step. On Node 20 an AsyncLocalStorage keeps
 * its store on the async resource that runs, under a symbol of its own, and copies it onto every resource
 * made there; `als.run()` swaps the store on the running resource and back. So the keys are learnt (from
 * the resource of the first root started in an event-loop turn, and from the running resource once every
 * LOOK_EVERY resumptions: a look costs more than a start), compared with the running resource's, and
 * swapped the way `run()` swaps them. An AsyncLocalStorage first used since the last look is not told
 * apart until the next. Where stores do not live on resources (found once, with a probe store) the
 * coroutine enters its resource with `runInAsyncScope` whenever it is not the running one.
 */
export type AsyncContext = AsyncResource;

type Resource = Record<symbol, unknown>;

/** The description of the symbols stores live under; null where they do not live on resources. */
let storeKeyName: string | null | undefined;
/** The probe's own key: `run()` leaves it on the resource it ran on, and no store is ever under it. */
let probeKey: symbol | undefined;
/** The store keys seen so far, one per AsyncLocalStorage in use. */
const storeKeys: symbol[] = [];
let lookedThisTurn = false;
const LOOK_EVERY = 1024;
let resumptionsUntilLook = LOOK_EVERY;

/**
 * The context of every root started where no store was set: an object of its own with no stores on it,
 * so that a coroutine started outside any `als.run()` runs outside it too, whoever wakes it. Shared, as
 * there is nothing in it to keep apart; only the store keys are read from a context.
 */
const NO_STORES = {} as unknown as AsyncContext;

/** The shared context of no store, for a fiber that never runs (shapes.ts): it captures nothing of the caller's. */
export function emptyAsyncContext(): AsyncContext {
  return NO_STORES;
}

/** The async context of the code running now, for a root coroutine started here. */
export function captureAsyncContext(): AsyncContext {
  if (storeKeyName === undefined) storeKeyName = probeStoreKeyName();
  if (storeKeyName === null) return new AsyncResource('cosocket.coroutine');
  const current = executionAsyncResource() as Resource;
  if (!lookedThisTurn || storeKeys.length === 0) {
    // until a store is known, every root looks: one started inside a store no look found yet would
    // otherwise share the empty context, and lose that store once it is known
    if (!lookedThisTurn) {
      lookedThisTurn = true;
      setImmediate(lookAgain).unref();
    }
    learnStoreKeys(current, storeKeyName);
  }
  // most roots start outside any store (no AsyncLocalStorage in use, or none running here): they share
  // one empty context rather than each making an AsyncResource
  for (let i = 0; i < storeKeys.length; i++) {
    if (current[storeKeys[i]!] !== undefined) return new AsyncResource('cosocket.coroutine');
  }
  return NO_STORES;
}

/** Counts a resumption that needs no look at the stores (for the look every LOOK_EVERY); always true. */
export function noteResumption(): boolean {
  if (--resumptionsUntilLook === 0) lookAround();
  return true;
}

/** True when the code running now sees the stores of `context`: the coroutine runs as it is. */
export function isInAsyncContext(context: AsyncContext): boolean {
  if (--resumptionsUntilLook === 0) lookAround();
  const count = storeKeys.length;
  if (count === 0 && storeKeyName !== null) return true;
  const current = executionAsyncResource() as Resource;
  const own = context as unknown as Resource;
  if (current === own) return true;
  if (storeKeyName === null) return false;
  for (let i = 0; i < count; i++) {
    const key = storeKeys[i]!;
    if (current[key] !== own[key]) return false;
  }
  return true;
}

/** Calls `fn(target, a, b)` with the stores of `context`, and puts those of the running code back after. */
export function runInAsyncContext<T, A, B>(
  context: AsyncContext,
  fn: (target: T, a: A, b: B) => void,
  target: T,
  a: A,
  b: B,
): void {
  if (storeKeyName === null) {
    context.runInAsyncScope(fn, null, target, a, b);
    return;
  }
  const current = executionAsyncResource() as Resource;
  const own = context as unknown as Resource;
  const count = storeKeys.length;
  if (count === 1) {
    // one AsyncLocalStorage in use, the usual case: no array for what is put back
    const key = storeKeys[0]!;
    const saved = current[key];
    current[key] = own[key];
    try {
      fn(target, a, b);
    } finally {
      current[key] = saved;
    }
    return;
  }
  const saved = new Array<unknown>(count);
  for (let i = 0; i < count; i++) {
    const key = storeKeys[i]!;
    saved[i] = current[key];
    current[key] = own[key];
  }
  try {
    fn(target, a, b);
  } finally {
    for (let i = 0; i < count; i++) current[storeKeys[i]!] = saved[i];
  }
}

function lookAgain(): void {
  lookedThisTurn = false;
}

function lookAround(): void {
  resumptionsUntilLook = LOOK_EVERY;
  if (storeKeyName) learnStoreKeys(executionAsyncResource() as Resource, storeKeyName);
}

function learnStoreKeys(resource: Resource, name: string): void {
  for (const key of Object.getOwnPropertySymbols(resource)) {
    if (key.description === name && key !== probeKey && !storeKeys.includes(key)) storeKeys.push(key);
  }
}

/** Runs a store of its own for a moment and looks for it on a resource made inside it. */
function probeStoreKeyName(): string | null {
  const probe = new AsyncLocalStorage<object>();
  const marker = {};
  const resource = probe.run(marker, () => new AsyncResource('cosocket.probe')) as unknown as Resource;
  probe.disable();
  probeKey = Object.getOwnPropertySymbols(resource).find((k) => resource[k] === marker);
  return probeKey?.description ?? null;
}
