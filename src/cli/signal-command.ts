import { resolveConfig } from '../config/server-config.js';
import { UsageError, helpText, parseFlags, usageLine } from './flags.js';
import type { FlagSpec } from './flags.js';
import { runningPid } from './pid-file.js';

/** nginx -s NAME: the signal each command sends to the server named by the pid file. */
export const SIGNAL_COMMANDS = {
  reload: { signal: 'SIGHUP', does: 're-read the configuration; new workers take over, the old ones finish' },
  stop: {
    signal: 'SIGTERM',
    does: 'stop: in-flight requests get shutdown.grace, new ones on kept-alive connections 503',
  },
  quit: {
    signal: 'SIGQUIT',
    does: 'graceful stop: every in-flight and kept-alive request is answered, within shutdown.grace',
  },
  reopen: { signal: 'SIGUSR2', does: 'reopen the log files' },
} as const satisfies Record<string, { signal: NodeJS.Signals; does: string }>;

export type SignalCommand = keyof typeof SIGNAL_COMMANDS;

export const SIGNAL_FLAGS: readonly FlagSpec[] = [
  { name: 'pid', takesValue: true, valueName: 'FILE', description: "the server's pid file (its --pid)" },
  {
    name: 'config',
    short: 'c',
    takesValue: true,
    valueName: 'FILE',
    description: "the server's config file: its 'pid' names the pid file",
  },
  { name: 'help', short: 'h', takesValue: false, description: 'show this help' },
];

export function signalHelp(command: SignalCommand): string {
  const { signal, does } = SIGNAL_COMMANDS[command];
  return helpText(
    usageLine(`cosocket ${command}`, SIGNAL_FLAGS),
    `Sends ${signal} to the running server (nginx -s ${command}): ${does}.`,
    SIGNAL_FLAGS,
  );
}

/** `cosocket reload|stop|quit|reopen`: signals the server whose pid file --pid or the config's `pid` names. */
export async function signalServer(command: SignalCommand, argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(command, argv, SIGNAL_FLAGS);
  if (values.has('help')) {
    process.stdout.write(signalHelp(command));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const file = await pidFileOf(values.get('pid'), values.get('config'));
  process.kill(runningPid(file), SIGNAL_COMMANDS[command].signal);
  return 0;
}

async function pidFileOf(pid: unknown, config: unknown): Promise<string> {
  if (typeof pid === 'string') return pid;
  if (typeof config !== 'string')
    throw new UsageError('which server? give --pid FILE or -c CONFIG (a config with a "pid" key)');
  let file: string | null;
  try {
    file = (await resolveConfig({ file: config, env: process.env })).pid;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (file === null) throw new UsageError(`config file ${config} has no 'pid' key: give --pid FILE`);
  return file;
}
