/** Benchmark settings from the environment: a whole number, or the default; anything else stops the run with its name. */
export function envInt(name: string, fallback: number, min = 1): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`${name}=${text}: must be a whole number >= ${min}\n`);
    process.exit(2);
  }
  return value;
}
