import { lookup } from 'node:dns/promises';
import { writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { runLoadThreads } from '../ab/threads.js';
import { formatCsv, formatGnuplot, formatHtml, formatReport, summarize } from '../ab/report.js';
import type { RunDescription } from '../ab/report.js';
import { AbError } from '../errors/index.js';
import { abSettings } from '../ab/settings.js';
import type { AbSettings } from '../ab/settings.js';
import { abStats } from '../ab/stats.js';
import { receiveErrorOf } from '../ab/load.js';
import { runStreams } from '../ab/stream.js';
import { formatStreamReport, summarizeStreams } from '../ab/stream-report.js';
import { VERSION } from '../version.js';

export const AB_HELP = `Usage: cosocket ab [options] [http[s]://]hostname[:port]/path
ApacheBench 2.3's flags, request bytes, report and exit codes; autocannon generates the load.
Options are:
    -n requests     Number of requests to perform
    -c concurrency  Number of multiple requests to make at a time
    -t timelimit    Seconds to max. to spend on benchmarking
                    This implies -n 50000
    -s timeout      Seconds to max. wait for each response
                    Default is 30 seconds
    -b windowsize   (refused: Node cannot set a socket's buffer sizes)
    -B address      (refused: autocannon connects without a local address)
    -p postfile     File containing data to POST. Remember also to set -T
    -u putfile      File containing data to PUT. Remember also to set -T
    -T content-type Content-type header to use for POST/PUT data, eg.
                    'application/x-www-form-urlencoded'
                    Default is 'text/plain'
    -v verbosity    How much troubleshooting info to print
    -w              Print out results in HTML tables
    -i              Use HEAD instead of GET
    -x attributes   String to insert as table attributes
    -y attributes   String to insert as tr attributes
    -z attributes   String to insert as td or th attributes
    -C attribute    Add cookie, eg. 'Apache=1234'. (the last one, as in ab 2.3)
    -H attribute    Add Arbitrary header line, eg. 'Accept-Encoding: gzip'
                    Inserted after all normal header lines. (repeatable)
    -A attribute    Add Basic WWW Authentication, the attributes
                    are a colon separated username and password.
    -P attribute    Add Basic Proxy Authentication, the attributes
                    are a colon separated username and password.
    -X proxy:port   Proxyserver and port number to use
    -V              Print version number and exit
    -k              Use HTTP KeepAlive feature
    -d              Do not show percentiles served table.
    -S              Do not show confidence estimators and warnings.
    -q              Do not show progress when doing more than 150 requests
    -l              Accept variable document length (use this for dynamic pages)
    -g filename     Output collected data to gnuplot format file.
    -e filename     Output CSV file with percentages served
    -r              Don't exit on socket receive errors.
    -m method       Method name
    -h              Display usage information (this message)
    -I              Disable TLS Server Name Indication (SNI) extension
    -Z ciphersuite  Specify SSL/TLS cipher suite (See openssl ciphers)
    -f protocol     Specify SSL/TLS protocol
                    (TLS1, TLS1.1, TLS1.2, TLS1.3 or ALL)
    -E certfile     Specify optional client certificate chain and private key
cosocket's own:
    --help          Display usage information (as -h)
    --workers N     Spread the connections over N load threads
    --json          Print every figure, and the load threads' CPU, as JSON
    --stream        Measure streaming responses: time to the head and first chunk, chunks and
                    bytes per second per stream, gaps between chunks, how each stream ended
                    (-n streams, -c at a time, -t stops those still open, -s idle seconds;
                    with -H -C -A -P -I -q -v)
`;

/** The options a --stream run takes; every other is refused by name. */
const STREAM_OPTIONS = new Set(['n', 'c', 't', 's', 'H', 'C', 'A', 'P', 'I', 'q', 'v', 'json', 'stream']);

function describe(settings: AbSettings): RunDescription {
  return {
    hostname: settings.hostname,
    port: settings.port,
    path: settings.target,
    concurrency: settings.concurrency,
    keepalive: settings.keepalive,
    variableLength: settings.variableLength,
    postedPerRequest: settings.postedPerRequest,
    requestsSent: 0,
    showPercentiles: settings.showPercentiles,
    showConfidence: settings.showConfidence,
  };
}

/** ab's heartbeat: a line every 10% of the requests, never more often than every 100, when over 150. */
function heartbeatEvery(settings: AbSettings): number {
  if (settings.quiet || settings.json || settings.requests <= 150) return 0;
  return Math.max(100, Math.floor(settings.requests / 10));
}

/** `cosocket ab`: resolves with ab's exit code. */
export async function ab(argv: readonly string[]): Promise<number> {
  let settings: AbSettings;
  try {
    settings = abSettings(argv);
  } catch (err) {
    if (err instanceof AbError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (settings.help) {
    process.stdout.write(AB_HELP);
    return 0;
  }
  if (settings.version) {
    process.stdout.write(`This is cosocket ab ${VERSION}: ApacheBench 2.3's interface, autocannon 8.0.0's load\n`);
    return 0;
  }
  // `cosocket ab ... | head`: a closed pipe ends the run quietly, as it ends ab
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  const out = (text: string): void => {
    if (!settings.json) process.stdout.write(text);
  };
  if (settings.stream) return streams(settings, out);
  const heartbeat = heartbeatEvery(settings);
  let nextMark = heartbeat;
  if (settings.html === null) {
    out(`This is cosocket ab ${VERSION}: ApacheBench 2.3's interface, autocannon 8.0.0's load\n\n`);
    const through = settings.proxy !== null ? `[through ${settings.proxy}] ` : '';
    out(`Benchmarking ${settings.hostname} ${through}(be patient)${heartbeat > 0 ? '\n' : '...'}`);
  }

  if (settings.verbosity >= 2 && !settings.json) {
    const head = settings.request.subarray(0, settings.request.indexOf('\r\n\r\n') + 4);
    out(`INFO: ${settings.method} header == \n---\n${head.toString('latin1')}\n---\n`);
  }
  let address = settings.connectHost;
  if (isIP(address) === 0) {
    try {
      address = (await lookup(settings.connectHost)).address;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code === 'ENOTFOUND' ? 'Name or service not known' : (code ?? String(err));
      process.stderr.write(`apr_sockaddr_info_get() for ${settings.connectHost}: ${reason} (670002)\n`);
      return 670002 & 0xff;
    }
  }
  const connectHost = isIP(address) === 6 ? `[${address}]` : address;
  const sniName =
    settings.sni && settings.proxy === null && isIP(settings.hostname) === 0 ? settings.hostname : undefined;

  const result = await runLoadThreads(
    {
      connectUrl: `${settings.secure ? 'https' : 'http'}://${connectHost}:${settings.connectPort}/`,
      ...(sniName !== undefined ? { servername: sniName } : {}),
      tls: settings.tls,
      request: settings.request,
      head: settings.method === 'HEAD',
      requests: settings.requests,
      concurrency: settings.concurrency,
      keepalive: settings.keepalive,
      timeLimit: settings.timeLimit,
      timeout: settings.timeout,
      continueOnReceiveError: settings.continueOnReceiveError,
      variableLength: settings.variableLength,
      verbosity: settings.json ? 0 : settings.verbosity,
    },
    settings.workers,
    {
      // load threads report in batches: every mark passed gets its line
      onProgress: (done) => {
        while (heartbeat > 0 && done >= nextMark) {
          process.stderr.write(`Completed ${nextMark} requests\n`);
          nextMark += heartbeat;
        }
      },
      onVerbose: (line) => out(`${line}\n`),
    },
  );
  if (result.fatal !== null) {
    process.stderr.write(`${result.fatal.line}\n`);
    if (result.done > 0) out(`Total of ${result.done} requests completed\n`);
    return result.fatal.exitCode;
  }
  if (settings.html === null) {
    if (heartbeat > 0) process.stderr.write(`Finished ${result.done} requests\n`);
    else out('..done\n');
  }
  const run = { ...describe(settings), requestsSent: result.requestsSent };
  const stats = abStats(result.samples);
  if (stats !== null) {
    if (settings.csvFile !== null) writeFileSync(settings.csvFile, formatCsv(stats));
    if (settings.gnuplotFile !== null) writeFileSync(settings.gnuplotFile, formatGnuplot(result.samples));
  }
  if (settings.json) process.stdout.write(`${JSON.stringify(summarize(run, result), null, 2)}\n`);
  else if (settings.html !== null) process.stdout.write(formatHtml(run, result, settings.html));
  else process.stdout.write(formatReport(run, result));
  return 0;
}

/** The request's header lines (ab's set: Host, User-Agent, Accept, -H, -C, -A, -P) as an object. */
function headersOf(request: Buffer): Record<string, string> {
  const head = request.subarray(0, request.indexOf('\r\n\r\n')).toString('latin1').split('\r\n').slice(1);
  const headers: Record<string, string> = {};
  for (const line of head) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** `cosocket ab --stream`: N streams, each followed to its end. */
async function streams(settings: AbSettings, out: (text: string) => void): Promise<number> {
  for (const flag of settings.given)
    if (!STREAM_OPTIONS.has(flag)) {
      process.stderr.write(`cosocket ab: --stream does not take ${flag.length === 1 ? '-' : '--'}${flag}\n`);
      return 2;
    }
  out(`This is cosocket ab ${VERSION}: streams\n\nBenchmarking ${settings.hostname} (be patient)...`);
  const url = new URL(
    `${settings.secure ? 'https' : 'http'}://${settings.hostname.includes(':') ? `[${settings.hostname}]` : settings.hostname}:${settings.port}${settings.target}`,
  );
  const result = await runStreams({
    url,
    streams: settings.requests,
    concurrency: settings.concurrency,
    timeLimit: settings.timeLimit,
    idleTimeout: settings.timeout,
    headers: headersOf(settings.request),
  });
  if (result.connectError !== null) {
    const fatal = receiveErrorOf(result.connectError);
    process.stderr.write(`${fatal.line}\n`);
    return fatal.exitCode;
  }
  out('..done\n');
  const run = {
    hostname: settings.hostname,
    port: settings.port,
    path: settings.target,
    concurrency: settings.concurrency,
  };
  if (settings.json) process.stdout.write(`${JSON.stringify(summarizeStreams(run, result), null, 2)}\n`);
  else process.stdout.write(formatStreamReport(run, result));
  return 0;
}
