import { CosocketError } from '../errors/index.js';
import { VERSION } from '../version.js';
import { UsageError } from './flags.js';

const HELP = `Usage: cosocket <command> [options]

Commands:
  serve      start the server (what npm start runs); cosocket serve --help for its options
  reload     re-read the running server's config, no request dropped (nginx -s reload)
  stop       stop the running server (nginx -s stop)
  quit       stop the running server gracefully (nginx -s quit)
  reopen     reopen the running server's log files (nginx -s reopen)
  ab         ApacheBench's interface and report, load by autocannon; cosocket ab --help
  demo-send  dynamic sendfile live: a file written a line a second (npm run demo:send)
  help       show this help

Options:
  -h, --help       show this help
  -v, --version    print the version
`;

type Command = (argv: readonly string[]) => Promise<number>;

// Each command loads its own modules: `cosocket ab` starts without fastify, ioredis or the server.
const signal = (name: 'reload' | 'stop' | 'quit' | 'reopen'): Command => {
  return async (argv) => (await import('./signal-command.js')).signalServer(name, argv);
};

const COMMANDS: Readonly<Record<string, Command>> = {
  serve: async (argv) => (await import('./serve.js')).serve(argv),
  reload: signal('reload'),
  stop: signal('stop'),
  quit: signal('quit'),
  reopen: signal('reopen'),
  ab: async (argv) => (await import('./ab.js')).ab(argv),
  'demo-send': async (argv) => (await import('./demo-send.js')).demoSend(argv),
  help: async () => {
    process.stdout.write(HELP);
    return 0;
  },
};

/** The `cosocket` command line. Resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    process.stdout.write(HELP);
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[first];
  if (command === undefined) {
    process.stderr.write(
      `cosocket: unknown command '${first}' (commands: ${Object.keys(COMMANDS).join(', ')}; see cosocket --help)\n`,
    );
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        err.message.startsWith('cosocket') ? `${err.message}\n` : `cosocket ${first}: ${err.message}\n`,
      );
      return 2;
    }
    if (err instanceof CosocketError) {
      process.stderr.write(`cosocket: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
