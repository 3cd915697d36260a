/**
 * How the server is stopped: 'fast' (SIGTERM, SIGINT: today's shutdown — in-flight requests get
 * shutdown.grace, new ones on kept-alive connections 503) or 'graceful' (SIGQUIT, or a worker retired
 * by a reload: every in-flight and kept-alive request is answered, with Connection: close, within
 * shutdown.grace).
 */
export type StopKind = 'fast' | 'graceful';

/** The primary's message telling a worker to retire (a reload replaced it, or the server quits). */
export interface RetireMessage {
  readonly type: 'cosocket-retire';
}

export const RETIRE: RetireMessage = { type: 'cosocket-retire' };

function isRetire(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === RETIRE.type;
}

/** The signals a process handles and what each means; a signal that arrives again is ignored, not fatal. */
export interface SignalHandlers {
  stop(kind: StopKind): void;
  /** SIGHUP: re-read the configuration (the primary); a worker ignores it */
  reload?: () => void;
  /** SIGUSR2: reopen log files (nginx's SIGUSR1, which Node reserves for its inspector) */
  reopen?: () => void;
}

/** Installs the handlers: SIGTERM/SIGINT fast stop, SIGQUIT graceful, SIGHUP reload, SIGUSR2 reopen. */
export function handleSignals(handlers: SignalHandlers): void {
  let stopped = false;
  const stop = (kind: StopKind): void => {
    if (stopped) return;
    stopped = true;
    handlers.stop(kind);
  };
  process.on('SIGTERM', () => stop('fast'));
  process.on('SIGINT', () => stop('fast'));
  process.on('SIGQUIT', () => stop('graceful'));
  // Node's default for SIGHUP and SIGUSR2 is to exit: a terminal's hangup or a `cosocket reopen` must not kill a worker
  process.on('SIGHUP', () => handlers.reload?.());
  process.on('SIGUSR2', () => handlers.reopen?.());
}

/** A worker: resolves with how to stop, on a signal or the primary's retire message. */
export function untilStopRequest(): Promise<StopKind> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if (!isRetire(message)) return;
      process.off('message', onMessage);
      resolve('graceful');
    };
    process.on('message', onMessage);
    handleSignals({ stop: resolve });
  });
}
