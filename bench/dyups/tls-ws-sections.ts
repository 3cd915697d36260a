/** The https upstream and WebSocket echo sections of bench/dyups (issue 17), with the rounds the environment asks for. */
import type { MetricLog } from '../lib/bench-json.js';
import { envInt } from '../lib/env.js';
import type { GeneratorName } from '../lib/load-generator.js';
import { nginxPath } from '../lib/processes.js';
import { httpsUpstream } from './https-upstream.js';
import { websocketEcho } from './websocket-echo.js';

export async function tlsAndWebSocket(generator: GeneratorName, log: MetricLog): Promise<string> {
  if (nginxPath() === null)
    return 'https upstream and WebSocket: not measured, nginx is not installed (apt-get install nginx-light)';
  const settings = {
    seconds: envInt('BENCH_SECONDS', 3),
    rounds: envInt('ROUNDS', 3),
    warmupSeconds: envInt('WARMUP_SECONDS', 1, 0),
  };
  // TLS_WS_ONLY=https or websocket: that section alone
  const only = process.env.TLS_WS_ONLY ?? '';
  const parts: string[] = [];
  if (only !== 'websocket') parts.push(await httpsUpstream(generator, settings, log));
  if (only !== 'https') parts.push(await websocketEcho(settings, log));
  return `${parts.join('\n\n')} (node ${process.version})`;
}
