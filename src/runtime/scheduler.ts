import { Admission } from './admission.js';
import type { AdmissionOptions, AdmissionStats } from './admission.js';

export type { StartOptions } from './admission.js';
export type { Body } from './types.js';
export { bodyName } from './frames.js';

/** The public name of Admission: it admits coroutines under budgets; the run loop is run-loop.ts. */
export { Admission as Scheduler };
export type SchedulerOptions = AdmissionOptions;
export type SchedulerStats = AdmissionStats;

/** The scheduler `go`, `spawnDetached` and the server use unless told otherwise. */
export const defaultScheduler = new Admission({ name: 'default' });
