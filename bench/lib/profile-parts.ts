/** The parts of the proxy path a profiled function belongs to, by its script's path (cpuprofile-summary, perf-summary). */

/** First match wins. */
const PARTS: ReadonlyArray<[string, RegExp]> = [
  [
    'fastify (and its deps)',
    /node_modules\/(fastify|@fastify|find-my-way|light-my-request|avvio|fast-|abstract-logging|pino|process-warning|secure-json-parse|toad-cache|rfdc|ret|safe-regex2|json-schema-ref-resolver|semver)/,
  ],
  ['other packages', /node_modules\//],
  ['coroutine runtime (src/runtime)', /\/src\/runtime\//],
  ['fastify plugin, handler context, output (src/fastify)', /\/src\/fastify\//],
  ['dyups proxy handler (src/dyups/proxy)', /\/src\/dyups\/proxy\./],
  ['balancer (src/dyups/balancer)', /\/src\/dyups\/balancer\./],
  ['dyups front: parser, connection, response writes (src/dyups/front)', /\/src\/dyups\/front\//],
  ['dyups other', /\/src\/dyups\//],
  ['proxyPass, header filtering, buffering (src/stream)', /\/src\/stream\//],
  ['pool (src/pool)', /\/src\/pool\//],
  ['http client: heads (adapters/http/head)', /\/adapters\/http\/head\./],
  ['http client: body, de-chunking (adapters/http/body)', /\/adapters\/http\/body/],
  ['http client: request, response, framing (adapters/http)', /\/adapters\/http\//],
  ['tcp cosocket, read buffers (adapters/tcp)', /\/adapters\/tcp\//],
  ['cosocket other', /\/(src|adapters)\//],
  ['node: http server (ServerResponse, parser callbacks)', /node:_http_|node:internal\/http/],
  ['node: streams', /node:(internal\/)?streams?/],
  ['node: net, buffers, timers, other', /^node:/],
];

/** The part of a script's URL, or 'other scripts'. */
export function partOfUrl(url: string): string {
  for (const [name, pattern] of PARTS) if (pattern.test(url)) return name;
  return 'other scripts';
}

/** A path short enough for a table: from src/, adapters/ or node_modules/ on. */
export function shortUrl(url: string): string {
  const at = url.search(/\/(src|adapters|node_modules)\//);
  return at >= 0 ? url.slice(at + 1) : url;
}
