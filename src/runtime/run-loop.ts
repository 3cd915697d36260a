import { isInAsyncContext, noteResumption, runInAsyncContext } from './async-context.js';
import type { AsyncContext } from './async-context.js';
import type { Task } from './types.js';

/**
 * The values a coroutine set with createContext (context.ts): a list, newest first, never changed in place,
 * so a child keeps the list as it was when it was spawned.
 */
export interface ContextValues {
  readonly key: object;
  readonly value: unknown;
  readonly next: ContextValues | null;
}

/** A fiber as the run loop drives it (the Fiber in task.ts). */
export interface Runnable extends Task<unknown> {
  /** The async context it runs in, whoever wakes it (async-context.ts). */
  readonly asyncContext: AsyncContext;
  contextValues: ContextValues | null;
  /** Runs from `mode`/`value` until the coroutine waits or ends. */
  run(mode: number, value: unknown): void;
  /** Runs with the resumption kept when it was queued, if it is still ready. */
  runQueued(): void;
}

// ---- trampoline: resumptions requested while a fiber runs are queued, never nested ----
let trampolineDepth = 0;
let running: Runnable | null = null;
/**
 * Fibers made ready, in slots [0, readyCount). A slot is cleared once its fiber ran: a long drain must not
 * keep every fiber it ran alive to its end. The array keeps its length between drains (up to
 * KEPT_SLOTS): emptying it would free its store and make the next thousand pushes grow it again.
 */
const readyQueue: Array<Runnable | null> = [];
let readyCount = 0;
const KEPT_SLOTS = 1 << 16;

/**
 * A coroutine whose first step runs before it has a fiber (a group member, task.ts `startMember`): most
 * end or wait without asking who runs them, and those that end never need one.
 */
export interface InlineStep {
  /** Makes its fiber, the first time its code asks for the running coroutine. */
  materialize(): Runnable;
}

let inline: InlineStep | null = null;

/** The coroutine whose code is running right now, or null outside any coroutine. */
export function currentTask(): Task<unknown> | null {
  return running !== null || inline === null ? running : materializeInline();
}

/** The fiber whose code is running right now, for what reads or sets its own state (context.ts). */
export function runningFiber(): Runnable | null {
  return running !== null || inline === null ? running : materializeInline();
}

function materializeInline(): Runnable {
  const step = inline!;
  inline = null;
  running = step.materialize();
  return running;
}

/**
 * Takes the first step of a coroutine that has no fiber yet (`frame.next()`): code in it that asks for the
 * running coroutine gets the fiber `owner.materialize()` makes then. The running fiber is put back after.
 */
export function runInline(
  owner: InlineStep,
  frame: Iterator<unknown, unknown, unknown>,
): IteratorResult<unknown, unknown> {
  const outer = running;
  const outerInline = inline;
  running = null;
  inline = owner;
  try {
    return frame.next(undefined);
  } finally {
    running = outer;
    inline = outerInline;
  }
}

/** True while some fiber runs: a resumption must then be queued (see `runLater`), not nested. */
export function isRunning(): boolean {
  return trampolineDepth > 0;
}

/** Queues a fiber to run once the one running now waits; it keeps its own resumption. */
export function runLater(fiber: Runnable): void {
  readyQueue[readyCount++] = fiber;
}

/** Set while a fiber is woken from where it is known to run in its own async context (task.ts). */
let ownContext = false;

/** The next `runNow` (from the code running now) resumes a fiber already in its own async context. */
export function wakeInOwnContext(own: boolean): void {
  ownContext = own;
}

/** Runs a fiber now, then every fiber it made ready, until all of them wait or end. */
export function runNow(fiber: Runnable, mode: number, value: unknown): void {
  if (!turnArmed) armTurn();
  const own = ownContext;
  ownContext = false;
  trampolineDepth++;
  try {
    running = fiber;
    const context = fiber.asyncContext;
    if (own ? noteResumption() : isInAsyncContext(context)) fiber.run(mode, value);
    else runInAsyncContext(context, runResumed, fiber, mode, value);
    if (readyCount !== 0) drainReady();
  } finally {
    trampolineDepth--;
    running = null;
  }
}

/**
 * Runs a child coroutine now, inside the step of the fiber that spawned it, until it first waits or ends
 * (as an async function called runs to its first await); then the spawner's step goes on.
 */
export function runNested(fiber: Runnable, mode: number, value: unknown): void {
  const spawner = running;
  running = fiber;
  try {
    fiber.run(mode, value);
  } finally {
    running = spawner;
  }
}

function runResumed(fiber: Runnable, mode: number, value: unknown): void {
  fiber.run(mode, value);
}

function runQueued(fiber: Runnable): void {
  fiber.runQueued();
}

function drainReady(): void {
  for (let i = 0; i < readyCount; i++) {
    const fiber = readyQueue[i] ?? null;
    if (fiber === null) continue; // ran already, in a drain an exception cut short
    readyQueue[i] = null;
    running = fiber;
    const context = fiber.asyncContext;
    if (isInAsyncContext(context)) fiber.runQueued();
    else runInAsyncContext(context, runQueued, fiber, undefined, undefined);
  }
  readyCount = 0;
  if (readyQueue.length > KEPT_SLOTS) readyQueue.length = 0;
}

// ---- fairness: one counter advanced once per event-loop turn in which any fiber ran ----
let turn = 0;
let turnArmed = false;

/** The event-loop turn: a fiber counts its steps per turn against the fairness budget. */
export function currentTurn(): number {
  return turn;
}

function advanceTurn(): void {
  turn++;
  turnArmed = false;
}

function armTurn(): void {
  turnArmed = true;
  setImmediate(advanceTurn).unref();
}
