import { Admission } from './admission.js';
import type { AdmissionOptions, AdmissionStats } from './admission.js';

export type { StartOptions } from './admission.js';
export type { Body } from './types.js';
export { bodyName } from './frames.js';

/** The public name of Admission: it admits coroutines under budgets; the run loop is run-loop.ts. */
export { Admission as Scheduler };
/** A Scheduler's budgets: concurrency, backlog, maxDepth, fairness, deadline, queue timeout. */
export type SchedulerOptions = AdmissionOptions;
/** A Scheduler's counts: live and queued coroutines, started, completed, failed, cancelled, rejected. */
export type SchedulerStats = AdmissionStats;

/** The scheduler `go`, `spawnDetached` and the server use unless told otherwise. */
export const defaultScheduler = new Admission({ name: 'default' });
