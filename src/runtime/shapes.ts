/**
 * Hidden classes kept alive for the life of the process. V8 lets the hidden class (map) of a class's objects
 * die once no instance of it is left at a full GC — at an idle moment, or in the GCs V8's memory reducer runs
 * when a process goes quiet — and with it the optimized code and inline caches built on it, and the field
 * types that name it in other classes' maps. The next coroutines then run deoptimized code, and after a few
 * such GCs their property loads are megamorphic. So the classes of the hot paths (a fiber, its run state, a
 * group of all/race) each keep one instance here, made the first time one is needed, never run.
 *
 * Found in issue 16: bench/runtime collects garbage before every run, and `all()` of 1,000 children read
 * 3.2x `Promise.all` there (with a deoptimization of the group's code after every collection) against
 * 1.0–1.2x with one group and one fiber kept. An exemplar must be on the hidden class live objects end up
 * with: a field first given a small integer and later a double (a deadline) moves its objects to a new
 * class and leaves the exemplar on the old one, so the exemplar stores such values first (task.ts).
 */
const kept: object[] = [];

/** Keeps `exemplar` alive for good, and with it its hidden class and those of the objects it holds. */
export function keepShape(exemplar: object): void {
  kept.push(exemplar);
}
