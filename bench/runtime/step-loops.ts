/** cosocket's step loops, shared by the step case and the unyielded check's cost (dev-mode.ts). */
import { loadSubject } from '../lib/subject.js';
import { ping } from './callback-effect.js';

const { call, cancelled } = await loadSubject();

export function* callLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += yield* call(Promise.resolve(i));
  return sum;
}

export function* syncEffectLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield* cancelled()) ? 0 : 1;
  return sum;
}

// An effect woken by a callback, the way cosocket's I/O effects are woken by socket events.
// The callback source here is queueMicrotask, for both sides.
export function* callbackEffectLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += yield* ping();
  return sum;
}
