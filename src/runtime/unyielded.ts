import { InvalidArgumentError, UnyieldedEffectError, formatChain } from '../errors/index.js';
import { Effect, FRESH, HELD, SPENT, trackEffects } from './effect.js';
import { currentTask } from './run-loop.js';
import type { EffectKind, Task } from './types.js';

/**
 * The unyielded-effect check: `red.set('k', 'v')` written without `yield*` makes an effect that never
 * runs. While the check is on, every effect made inside a coroutine is noted; one still unused when the
 * coroutine yields is watched (a WeakRef and a FinalizationRegistry entry) until it is used, collected
 * unused, or its coroutine ends with it unused — those two are reported. Off, nothing is noted: the
 * Effect constructor and the run loop each test one variable.
 */

/** `off`: nothing checked (production); `warn`: a process warning per effect; `throw`: UnyieldedEffectError. */
export type UnyieldedMode = 'off' | 'warn' | 'throw';

/** One effect made and never yielded, as a warning (or `onReport`) gets it. */
export interface UnyieldedReport {
  /** What the effect was, as its kind describes it: `redis SET`, `sleep(50)`, `http.write`. */
  readonly effect: string;
  /** Its kind's name. */
  readonly kind: string;
  /** The coroutine that made it, from its root. */
  readonly chain: readonly string[];
  /** Where it was made (stack lines), when that was recorded; null when not. */
  readonly site: string | null;
  /** `ended`: its coroutine ended with it unused; `collected`: it was garbage-collected unused. */
  readonly found: 'ended' | 'collected';
}

/** How effects made and never yielded are found: the mode, and whether every effect records where it was made. */
export interface UnyieldedOptions {
  mode?: UnyieldedMode;
  /**
   * Record where every effect is made: a stack each, slow. Off (the default), only the effects of a kind
   * that was reported once are recorded, so a mistake made again is reported with its line.
   */
  stacks?: boolean;
  /** Where reports go in `warn` mode; default `process.emitWarning` with code COSOCKET_UNYIELDED_EFFECT. */
  onReport?: ((report: UnyieldedReport) => void) | null;
}

/** What is kept of a watched effect: enough to report it once it is gone. */
interface Watched {
  readonly effect: string;
  readonly kind: EffectKind;
  readonly chain: readonly string[];
  readonly site: string | null;
  readonly task: WeakRef<Task<unknown>>;
  /** Its effect was yielded or handed on after all; only held effects get this set. */
  used: boolean;
  /** Reported (or put to its coroutine in strict mode) already: by the GC's callback or at the end. */
  reported: boolean;
}

interface HeldEntry {
  readonly ref: WeakRef<Effect<unknown>>;
  readonly watched: Watched;
}

const MODES: readonly string[] = ['off', 'warn', 'throw'];

let mode: UnyieldedMode = 'off';
/** Read by the run loop (task.ts) at each yield and at the end of each coroutine. */
export let checking = false;
let everyStack = false;
let reporter: (report: UnyieldedReport) => void = emitReport;

/** Kinds reported once: their effects are made with a stack from then on. */
const huntedKinds = new Set<EffectKind>();
/** everyStack, or some kind hunted: a made effect may need its stack. */
let recordingSites = false;
const sites = new WeakMap<Effect<unknown>, { stack?: string }>();

/**
 * The effects made in the current step of `stepOwner`, the coroutine running now: the first in a
 * variable of its own (most steps make one effect, and yield it), any others in `moreMade`.
 */
let stepOwner: Task<unknown> | null = null;
/** firstMade when the step made none: an effect nobody yields, so `firstMade === yielded` needs no other test. */
const NONE = new Effect<unknown>({ name: 'none', start() {}, abandon() {} });
let firstMade: Effect<unknown> = NONE;
const moreMade: Array<Effect<unknown> | undefined> = [];
let moreCount = 0;

const heldBy = new WeakMap<Task<unknown>, HeldEntry[]>();
let tasksHolding = 0;
const collected = new FinalizationRegistry<Watched>(onCollected);
/** A held effect's record: releaseHeld marks it used, so that an end that finds it collected knows. */
const watchedOf = new WeakMap<Effect<unknown>, Watched>();
/** Strict mode: effects collected unused, thrown into their coroutine at its next step. */
const strictPending = new Map<Task<unknown>, Watched[]>();
/** strictPending.size, read at every step. */
let strictCount = 0;

/**
 * Turns the check on or off, strict or not: `checkUnyielded({ mode: 'throw' })` in a test suite. The
 * default is `warn` unless NODE_ENV is `production` (then `off`); COSOCKET_UNYIELDED=off|warn|throw and
 * COSOCKET_UNYIELDED_STACKS=1 set it from the environment.
 */
export function checkUnyielded(options: UnyieldedOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('checkUnyielded() needs an options object: { mode, stacks, onReport }');
  }
  const { mode: nextMode = mode, stacks = everyStack, onReport } = options;
  if (!MODES.includes(nextMode)) {
    throw new InvalidArgumentError(`checkUnyielded(): mode must be 'off', 'warn' or 'throw', got ${String(nextMode)}`);
  }
  if (typeof stacks !== 'boolean') {
    throw new InvalidArgumentError(`checkUnyielded(): stacks must be true or false, got ${String(stacks)}`);
  }
  if (onReport !== undefined && onReport !== null && typeof onReport !== 'function') {
    throw new InvalidArgumentError('checkUnyielded(): onReport must be a function (report) => void, or null');
  }
  mode = nextMode;
  everyStack = stacks;
  recordingSites = everyStack || huntedKinds.size !== 0;
  if (onReport !== undefined) reporter = onReport ?? emitReport;
  checking = mode !== 'off';
  if (checking) trackEffects(noteMade, releaseHeld);
  else {
    trackEffects(null, null);
    takeStep();
    strictPending.clear();
    strictCount = 0;
  }
}

/** The mode in force. */
export function unyieldedMode(): UnyieldedMode {
  return mode;
}

function fromEnvironment(): void {
  const named = process.env.COSOCKET_UNYIELDED;
  if (named !== undefined && named !== '' && !MODES.includes(named)) {
    throw new InvalidArgumentError(`COSOCKET_UNYIELDED must be off, warn or throw, got '${named}'`);
  }
  const fallback = process.env.NODE_ENV === 'production' ? 'off' : 'warn';
  checkUnyielded({
    mode: (named || fallback) as UnyieldedMode,
    stacks: process.env.COSOCKET_UNYIELDED_STACKS === '1',
  });
}

fromEnvironment();

// ---------------------------------------------------------------- noting effects as they are made

function noteMade(effect: Effect<unknown>): void {
  const task = currentTask();
  if (task === null) return;
  if (firstMade === NONE && task === stepOwner) firstMade = effect;
  else noteMore(effect, task);
  if (recordingSites) recordSite(effect);
}

function recordSite(effect: Effect<unknown>): void {
  if (!everyStack && !huntedKinds.has(effect.kind)) return;
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, Effect);
  sites.set(effect, holder);
}

function noteMore(effect: Effect<unknown>, task: Task<unknown>): void {
  if (task === stepOwner) {
    moreMade[moreCount++] = effect;
    return;
  }
  // left by a kind's start() after its coroutine's last yield: they are that coroutine's to yield
  if (stepOwner !== null && stepMadeAny()) holdStep(stepOwner);
  stepOwner = task;
  firstMade = effect;
}

/**
 * The run loop's hook at each yield of `task`: what it made in this step and left unused is watched from
 * now on. Returns the error to throw into it instead of what it yielded (strict mode), or null.
 */
export function stepEnded(task: Task<unknown>, yielded: unknown): UnyieldedEffectError | null {
  // small enough for the run loop to inline: the usual step made one effect, and yields it
  const first = firstMade;
  if (first === yielded && (moreCount | strictCount) === 0) {
    firstMade = NONE;
    if (first.phase === FRESH) first.phase = SPENT; // `yield effect`, without the star
    return null;
  }
  return anyStepEnded(task, yielded);
}

function anyStepEnded(task: Task<unknown>, yielded: unknown): UnyieldedEffectError | null {
  // `yield effect` without the star runs the effect without iterating it
  if (yielded instanceof Effect && (yielded.phase === FRESH || yielded.phase === HELD)) markYielded(yielded);
  if (stepOwner === task && stepMadeAny()) holdStep(task);
  if (strictCount === 0) return null;
  const pending = strictPending.get(task);
  if (pending === undefined) return null;
  strictPending.delete(task);
  strictCount = strictPending.size;
  return new UnyieldedEffectError(
    pending.map((watched) => watched.effect),
    pending[0]!.chain,
  );
}

/**
 * The run loop's hook when the body of `task` ends: reports what it made and never used. Returns the
 * error it then fails with (strict mode, when it was about to succeed), or null.
 */
export function coroutineEnded(task: Task<unknown>, threw: boolean, value: unknown): UnyieldedEffectError | null {
  const unused: Watched[] = [];
  if (stepOwner === task) {
    if (!stepMadeAny()) stepOwner = null;
    else {
      for (const effect of takeStep()) {
        if (effect.phase === FRESH && effect !== value) unused.push(watch(effect, task));
      }
    }
  }
  if (tasksHolding !== 0) {
    const held = heldBy.get(task);
    if (held !== undefined) {
      heldBy.delete(task);
      tasksHolding--;
      for (const { ref, watched } of held) {
        const effect = ref.deref();
        if (effect === undefined) {
          // collected, and the GC's callback has not run yet: unused all the same, reported here
          if (!watched.used && !watched.reported) {
            watched.reported = true;
            unused.push(watched);
          }
          continue;
        }
        if (effect.phase !== HELD || effect === value) continue;
        collected.unregister(effect);
        effect.phase = SPENT;
        watched.reported = true;
        unused.push(watched);
      }
    }
  }
  const pending = strictCount === 0 ? undefined : strictPending.get(task);
  if (pending !== undefined) {
    strictPending.delete(task);
    strictCount = strictPending.size;
  }
  if (unused.length === 0 && pending === undefined) return null;
  for (const watched of unused) huntKind(watched.kind);
  if (mode === 'throw' && !threw && !task.cancelling) {
    const effects = [...(pending ?? []), ...unused].map((watched) => watched.effect);
    return new UnyieldedEffectError(effects, task.chain());
  }
  if (pending !== undefined) for (const watched of pending) report(watched, 'collected');
  for (const watched of unused) report(watched, 'ended');
  return null;
}

// ---------------------------------------------------------------- watching unused effects

function stepMadeAny(): boolean {
  return firstMade !== NONE || moreCount !== 0;
}

/** The effects made in the step, which is emptied (and has no owner after). */
function takeStep(): Array<Effect<unknown>> {
  const made: Array<Effect<unknown>> = firstMade === NONE ? [] : [firstMade];
  for (let i = 0; i < moreCount; i++) {
    made.push(moreMade[i]!);
    moreMade[i] = undefined;
  }
  firstMade = NONE;
  moreCount = 0;
  stepOwner = null;
  return made;
}

/** The effects of the step that are still unused are watched; the step is emptied. */
function holdStep(task: Task<unknown>): void {
  for (const effect of takeStep()) if (effect.phase === FRESH) hold(effect, task);
}

function hold(effect: Effect<unknown>, task: Task<unknown>): void {
  effect.phase = HELD;
  const watched = watch(effect, task);
  collected.register(effect, watched, effect);
  watchedOf.set(effect, watched);
  let held = heldBy.get(task);
  if (held === undefined) {
    held = [];
    heldBy.set(task, held);
    tasksHolding++;
  } else if (held.length >= 64 && (held.length & (held.length - 1)) === 0) {
    // a long-lived coroutine: forget the entries of effects used or collected since
    held = held.filter(({ ref }) => ref.deref()?.phase === HELD);
    heldBy.set(task, held);
  }
  held.push({ ref: new WeakRef(effect), watched });
}

/** A watched effect is being used after all (iterated, or handed to all/race/spawn). */
function releaseHeld(effect: Effect<unknown>): void {
  collected.unregister(effect);
  effect.phase = SPENT;
  const watched = watchedOf.get(effect);
  if (watched !== undefined) watched.used = true;
}

function markYielded(effect: Effect<unknown>): void {
  if (effect.phase === HELD) releaseHeld(effect);
  else if (effect.phase === FRESH) effect.phase = SPENT;
}

function onCollected(watched: Watched): void {
  if (mode === 'off' || watched.reported) return;
  watched.reported = true;
  huntKind(watched.kind);
  const task = watched.task.deref();
  if (mode === 'throw' && task !== undefined && !task.done) {
    const earlier = strictPending.get(task);
    if (earlier === undefined) strictPending.set(task, [watched]);
    else earlier.push(watched);
    strictCount = strictPending.size;
    return;
  }
  report(watched, 'collected');
}

function watch(effect: Effect<unknown>, task: Task<unknown>): Watched {
  return {
    effect: describe(effect),
    kind: effect.kind,
    chain: task.chain(),
    site: siteOf(effect),
    task: new WeakRef(task),
    used: false,
    reported: false,
  };
}

function describe(effect: Effect<unknown>): string {
  const kind = effect.kind;
  if (typeof kind.describe !== 'function') return kind.name;
  try {
    return kind.describe(effect.a, effect.b);
  } catch {
    return kind.name;
  }
}

/** Frames of the runtime's own files, left out of a site: the site is where the user's code made the effect. */
const RUNTIME_DIR = new URL('./', import.meta.url).href;

/**
 * The stack recorded when the effect was made: its frames from the function that made it down to the
 * coroutine's frame that the run loop resumed (`.next`), without the runtime's frames around them.
 */
function siteOf(effect: Effect<unknown>): string | null {
  const stack = sites.get(effect)?.stack;
  if (stack === undefined) return null;
  const lines: string[] = [];
  for (const line of stack.split('\n').slice(1)) {
    const frame = line.trim();
    if (frame.includes(RUNTIME_DIR)) continue;
    if (/\.next \(<anonymous>\)$/.test(frame)) break;
    lines.push(frame);
  }
  return lines.length === 0 ? null : lines.join('\n');
}

function huntKind(kind: EffectKind): void {
  if (everyStack) return;
  huntedKinds.add(kind);
  recordingSites = true;
}

// ---------------------------------------------------------------- reports

function report(watched: Watched, found: UnyieldedReport['found']): void {
  const { effect, kind, chain, site } = watched;
  try {
    reporter({ effect, kind: kind.name, chain, site, found });
  } catch (err) {
    process.emitWarning(`checkUnyielded(): onReport threw ${String(err)}`, { code: 'COSOCKET_UNYIELDED_EFFECT' });
  }
}

/** The message of a report, as the default reporter prints it. */
export function formatUnyielded(report: UnyieldedReport): string {
  const where =
    report.site === null
      ? `where it was made was not recorded: the next effects of kind '${report.kind}' will be (or set checkUnyielded({ stacks: true }) / COSOCKET_UNYIELDED_STACKS=1)`
      : `made at:\n    ${report.site.split('\n').join('\n    ')}`;
  const when = report.found === 'ended' ? 'the coroutine ended' : 'it was garbage-collected';
  return (
    `coroutine '${formatChain(report.chain)}' made ${report.effect} and never yielded it, so it never ran ` +
    `(found when ${when}): a yield* is missing\n  ${where}`
  );
}

/** Places already warned about (the default reporter warns once per place); bounded. */
const warnedPlaces = new Set<string>();

function emitReport(report: UnyieldedReport): void {
  const place = `${report.chain.join('>')}|${report.effect}|${report.site ?? ''}`;
  if (warnedPlaces.has(place)) return;
  if (warnedPlaces.size < 1000) warnedPlaces.add(place);
  process.emitWarning(formatUnyielded(report), { type: 'UnyieldedEffectWarning', code: 'COSOCKET_UNYIELDED_EFFECT' });
}
