import type { ServerConfig, SettingName } from '../config/server-config.js';
import { checkStartup } from './startup-checks.js';

/**
 * `cosocket serve --test`, like `nginx -t`: the settings were read and checked (certificates included);
 * this checks what they name — files, directories, ports (bound and released) — starting nothing.
 * Prints "configuration ok" and answers 0, or prints each problem and answers 2.
 */
export async function testConfiguration(
  config: ServerConfig,
  nameOf: SettingName,
  file: string | null,
): Promise<number> {
  const problems = await checkStartup(config, nameOf);
  const what = file === null ? 'the configuration (no config file)' : `the configuration file ${file}`;
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`cosocket serve: ${problem}\n`);
    process.stderr.write(`cosocket serve: ${what}: test failed\n`);
    return 2;
  }
  process.stdout.write(`cosocket serve: ${what}: configuration ok\n`);
  return 0;
}
