import { Scheduler } from '../../src/index.js';
import type { FrontOptions } from '../../src/dyups/front/index.js';

/** Options of a FrontServer for a test: short limits, `name` for its scheduler, the rest overridable. */
export function frontOptions(
  name: string,
  handler: FrontOptions['handler'],
  overrides: Partial<FrontOptions> = {},
): FrontOptions {
  return {
    scheduler: new Scheduler({ name }),
    handler,
    startOptions: { name },
    headerTimeout: 2_000,
    keepAliveTimeout: 5_000,
    maxHeadBytes: 4096,
    maxHeaders: 100,
    bodyLimit: 1024,
    bodyTimeout: 400,
    sendTimeout: 5_000,
    idleTimeout: 5_000,
    retryAfter: 1,
    lingerTimeout: 2_000,
    ...overrides,
  };
}
