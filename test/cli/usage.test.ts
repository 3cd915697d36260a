import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AB_OPTIONS, LONG_OPTIONS } from '../../src/ab/argv.js';
import { AB_HELP } from '../../src/cli/ab.js';
import { DEMO_SEND_FLAGS, DEMO_SEND_HELP } from '../../src/cli/demo-send.js';
import type { FlagSpec } from '../../src/cli/flags.js';
import { SERVE_FLAGS, SERVE_HELP } from '../../src/cli/serve.js';
import { SIGNAL_COMMANDS, SIGNAL_FLAGS, signalHelp } from '../../src/cli/signal-command.js';
import type { SignalCommand } from '../../src/cli/signal-command.js';

/** Every command's usage line (the help text up to its first blank line) names every flag of its table. */

function usageOf(help: string): string {
  return help.slice(0, help.indexOf('\n\n'));
}

/** Flags of `specs` that `usage` does not show, by long name (shown as --name or, ab style, -x). */
function missing(usage: string, specs: readonly FlagSpec[]): string[] {
  const words = new Set(usage.split(/[\s[\]]+/));
  return specs
    .filter((s) => !words.has(`--${s.name}`) && !(s.short !== undefined && words.has(`-${s.short}`)))
    .map((s) => s.name);
}

const COMMANDS: Array<[string, string, readonly FlagSpec[]]> = [
  ['serve', SERVE_HELP, SERVE_FLAGS],
  ['demo-send', DEMO_SEND_HELP, DEMO_SEND_FLAGS],
  ...Object.keys(SIGNAL_COMMANDS).map((name): [string, string, readonly FlagSpec[]] => [
    name,
    signalHelp(name as SignalCommand),
    SIGNAL_FLAGS,
  ]),
];

describe('cli usage lines', () => {
  for (const [name, help, flags] of COMMANDS) {
    it(`cosocket ${name}: the usage line lists every option of its flag table`, () => {
      const usage = usageOf(help);
      assert.match(usage, new RegExp(`^Usage: cosocket ${name} `));
      assert.deepEqual(missing(usage, flags), []);
      // and the options table under it lists each one too
      for (const flag of flags) assert.ok(help.includes(`--${flag.name}`), `--${flag.name} not in the options table`);
    });
  }

  it('serve lists the dyups and sendfile options (once left out of its usage line)', () => {
    const usage = usageOf(SERVE_HELP);
    for (const flag of ['--send-root', '--admin-port', '--proxy-port', '--state-file', '--dyups-sync'])
      assert.ok(usage.includes(flag), flag);
  });

  it("ab prints ApacheBench's usage line, then a line for every option it parses", () => {
    assert.equal(usageOf(AB_HELP).split('\n')[0], 'Usage: cosocket ab [options] [http[s]://]hostname[:port]/path');
    const lines = AB_HELP.split('\n');
    for (const letter of AB_OPTIONS.replaceAll(':', ''))
      assert.ok(
        lines.some((l) => l.startsWith(`    -${letter} `)),
        `-${letter} not in the options table`,
      );
    for (const name of Object.keys(LONG_OPTIONS))
      assert.ok(
        lines.some((l) => l.startsWith(`    --${name}`)),
        `--${name} not in the options table`,
      );
  });
});
