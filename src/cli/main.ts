import { CosocketError } from '../errors/index.js';
import { VERSION } from '../version.js';
import { UsageError } from './flags.js';
import { ab } from './ab.js';
import { demoSend } from './demo-send.js';
import { serve } from './serve.js';
import { signalServer } from './signal-command.js';

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

const COMMANDS: Readonly<Record<string, Command>> = {
  serve,
  reload: (argv) => signalServer('reload', argv),
  stop: (argv) => signalServer('stop', argv),
  quit: (argv) => signalServer('quit', argv),
  reopen: (argv) => signalServer('reopen', argv),
  ab,
  'demo-send': demoSend,
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
