import type { IncomingHttpHeaders } from 'node:http';

/** What a hash key is computed from: the request's target, address and headers. */
export interface HashKeyRequest {
  readonly url: string;
  readonly ip: string;
  readonly headers: IncomingHttpHeaders;
}

/** The value of a group's `hash` key for a request: nginx variables ($request_uri, $remote_addr, ...). */
export function hashKeyOf(template: string, request: HashKeyRequest): string {
  return template.replace(/\$([a-z_][a-z0-9_]*)/gi, (_match, variable: string) => requestVariable(variable, request));
}

/** An nginx variable of the request ($request_uri, $host, $http_NAME, ...); '' for one it does not know. */
export function requestVariable(variable: string, request: HashKeyRequest): string {
  const name = variable.toLowerCase();
  if (name === 'request_uri') return request.url;
  if (name === 'remote_addr') return request.ip;
  if (name === 'host') return hostOf(request);
  if (name.startsWith('http_')) return String(request.headers[name.slice(5).replace(/_/g, '-')] ?? '');
  if (name.startsWith('cookie_')) {
    const wanted = name.slice(7);
    for (const part of String(request.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === wanted) return v.join('=');
    }
    return '';
  }
  const url = targetUrl(request.url);
  if (name === 'uri') return url.pathname;
  if (name === 'args' || name === 'query_string') return url.search.slice(1);
  if (name.startsWith('arg_')) return argOf(url.search, name.slice(4));
  return '';
}

/**
 * nginx's $arg_NAME: the first NAME= argument's value as the client sent it, not decoded (decoding
 * would turn %0D%0A into a line break in a header), its name matched case-insensitively.
 */
function argOf(search: string, name: string): string {
  for (const pair of search.slice(1).split('&')) {
    const equals = pair.indexOf('=');
    const key = equals < 0 ? pair : pair.slice(0, equals);
    if (key.length === name.length && key.toLowerCase() === name) return equals < 0 ? '' : pair.slice(equals + 1);
  }
  return '';
}

/** What a proxy_set_header value is expanded from: the request, and what the proxy knows of it. */
export interface HeaderValueRequest extends HashKeyRequest {
  readonly method: string;
  readonly protocol: string;
}

const VARIABLE = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;

/**
 * A proxy_set_header value that is the same for every request of a group (no variable but $proxy_host),
 * expanded once; null when it depends on the request.
 */
export function constantHeaderValue(template: string, proxyHost: string): string | null {
  for (const [, braced, bare] of template.matchAll(VARIABLE))
    if ((braced ?? bare!).toLowerCase() !== 'proxy_host') return null;
  return template.includes('$') ? template.replace(VARIABLE, () => proxyHost) : template;
}

/**
 * A proxy_set_header value for a request: its $variables replaced. `proxyHost` is the group's name
 * ($proxy_host), the request's `ip` the client's address after set_real_ip_from ($remote_addr).
 */
export function headerValueOf(template: string, request: HeaderValueRequest, proxyHost: string): string {
  if (!template.includes('$')) return template;
  return template.replace(VARIABLE, (_match, braced?: string, bare?: string) => {
    const name = (braced ?? bare!).toLowerCase();
    switch (name) {
      case 'proxy_host':
        return proxyHost;
      case 'scheme':
        return request.protocol;
      case 'request_method':
        return request.method;
      case 'proxy_add_x_forwarded_for': {
        const previous = request.headers['x-forwarded-for'];
        return previous ? `${String(previous)}, ${request.ip}` : request.ip;
      }
      default:
        return requestVariable(name, request);
    }
  });
}

/**
 * The path and query of a request target as a URL: an origin-form one under a dummy origin (`//a/b` is a
 * path there, not a host), an absolute-form one by its path; one no URL can hold (`//[`) as `/`.
 */
function targetUrl(target: string): URL {
  const path = target.charCodeAt(0) === 0x2f ? target : (absoluteTarget(target)?.path ?? '/');
  try {
    return new URL(`http://x${path}`);
  } catch {
    return new URL('http://x/');
  }
}

/** The name in a host[:port] (Host header or URI authority): lowercased, port and a trailing dot dropped. */
function nameOf(hostPort: string): string {
  const host = hostPort.toLowerCase();
  let name = host;
  if (host.startsWith('[')) name = host.slice(0, host.indexOf(']') + 1);
  else {
    const colon = host.indexOf(':');
    if (colon >= 0) name = host.slice(0, colon);
  }
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export function hostOf(request: HashKeyRequest): string {
  return nameOf(String(request.headers.host ?? ''));
}

/**
 * An absolute-form target (`GET http://name/path`, the scheme in any case): its authority names the group
 * (RFC 9112 section 3.2.2), its path goes on. The front refused any with userinfo or odd bytes in it.
 */
export function absoluteTarget(url: string): { host: string; path: string } | null {
  if (url.charCodeAt(0) === 0x2f || !/^https?:\/\//i.test(url)) return null;
  const start = url.indexOf('//') + 2;
  let end = start;
  while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
  const rest = url.slice(end);
  return { host: nameOf(url.slice(start, end)), path: rest.startsWith('/') ? rest : `/${rest}` };
}
