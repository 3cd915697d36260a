/**
 * bench/dyups, issue 17's part alone: an https upstream behind cosocket's dyups proxy and nginx, and
 * WebSocket echo round-trips through both (https-upstream.ts, websocket-echo.ts). `node dist/bench/dyups/tls-ws.js`,
 * or `TLS_WS=1 npm run bench:dyups` with the rest; env BENCH_SECONDS (3), ROUNDS (3), WARMUP_SECONDS (1), TLS_WS_ONLY (https or websocket: that section alone).
 */
import { MetricLog } from '../lib/bench-json.js';
import { chooseGenerator } from '../lib/load-generator.js';
import { subjectDir } from '../lib/subject.js';
import { tlsAndWebSocket } from './tls-ws-sections.js';

const log = new MetricLog('dyups-tls-ws', subjectDir);
console.log(await tlsAndWebSocket(chooseGenerator(), log));
log.print();
