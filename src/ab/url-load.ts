import { runLoad } from './load.js';
import type { LoadResult } from './load.js';
import { abRequest } from './request.js';

export interface UrlLoad {
  url: string;
  requests: number;
  concurrency: number;
  keepalive: boolean;
  /** seconds; 0 = until `requests` are done */
  timeLimit: number;
  method?: string;
  /** Extra header lines, "Name: value". */
  headers?: readonly string[];
  timeout?: number;
}

/** ab's load against one http:// URL, for code (the benches) rather than the command line. */
export function loadUrl(spec: UrlLoad): Promise<LoadResult> {
  const url = new URL(spec.url);
  const method = spec.method ?? 'GET';
  return runLoad({
    connectUrl: `${url.protocol}//${url.host}/`,
    request: abRequest({
      method,
      target: `${url.pathname}${url.search}`,
      hostField: url.host,
      keepalive: spec.keepalive,
      auth: [],
      headers: spec.headers ?? [],
    }),
    head: method === 'HEAD',
    requests: spec.requests,
    concurrency: spec.concurrency,
    keepalive: spec.keepalive,
    timeLimit: spec.timeLimit,
    timeout: spec.timeout ?? 30,
    continueOnReceiveError: true,
    variableLength: true,
    verbosity: 0,
  });
}
