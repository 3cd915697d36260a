import { parseTime } from '../config/units.js';
import type { BareUnit } from '../config/units.js';
import { UpstreamSyntaxError } from '../errors/index.js';
import { groupKey } from './group-name.js';
import { PROXY_DIRECTIVES, SINGLE_DIRECTIVES, defaultProxySettings } from './proxy-settings.js';
import { SSL_DIRECTIVES, SslDirectives } from './parse-ssl.js';
import { BALANCING_DIRECTIVES, BalancingDirectives, parseMethod } from './parse-balancing.js';
import { CHECK_DEFAULTS, MAX_RING_POINTS, MAX_WEIGHT, RING_POINTS_PER_WEIGHT, SERVER_DEFAULTS } from './upstream.js';
import type { Balancer, HealthCheck, UpstreamGroup, UpstreamServer } from './upstream.js';

export { UpstreamSyntaxError } from '../errors/index.js';

interface Token {
  text: string;
  at: number;
  quoted: boolean;
}

/** nginx's lexical rules: words, `;`, quoted strings with \\ escapes, # comments to the end of the line. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    // the same whitespace the word scanner below stops at (any \s, Unicode spaces too): a narrower set
    // here would leave it stuck on such a character, pushing empty tokens forever
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === ';' || c === '{' || c === '}') {
      tokens.push({ text: c, at: i, quoted: false });
      i++;
    } else if (c === '"' || c === "'") {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length)
          throw new UpstreamSyntaxError(text, start, text.slice(start, start + 20), 'unterminated quoted string');
        const d = text[i]!;
        if (d === c) break;
        if (d === '\\' && i + 1 < text.length) {
          const e = text[++i]!;
          value += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e;
        } else value += d;
        i++;
      }
      i++;
      tokens.push({ text: value, at: start, quoted: true });
    } else {
      const start = i;
      while (i < text.length && !/[\s;{}"'#]/.test(text[i]!)) i++;
      tokens.push({ text: text.slice(start, i), at: start, quoted: false });
    }
  }
  return tokens;
}

/** Parses a body in nginx `upstream {}` syntax into a group, validating everything first. */
export function parseUpstream(name: string, text: string): UpstreamGroup {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new UpstreamSyntaxError(text, 0, '', 'empty body: at least one server is needed');
  const fail = (token: { text: string; at: number }, problem: string): never => {
    throw new UpstreamSyntaxError(text, token.at, token.text, problem);
  };
  const servers: UpstreamServer[] = [];
  let balancer: Balancer | null = null;
  let balancerToken: Token | null = null;
  let keepalive = 0;
  let check: HealthCheck | null = null;
  let httpSend: string | null = null;
  let expectAlive: string[] | null = null;
  const seen = new Set<string>();
  const proxy = defaultProxySettings();
  const proxyGiven = new Set<string>();
  const ssl = new SslDirectives();
  const balancing = new BalancingDirectives(name);

  let i = 0;
  // a body may be a whole block, as the state file and nginx.conf hold it: upstream NAME { ... }, with
  // NAME the group it is posted to (another name is refused, never stored under the URL's name)
  if (tokens[0]!.text === 'upstream' && !tokens[0]!.quoted) {
    if (tokens.length < 3 || tokens[2]!.text !== '{') fail(tokens[0]!, "expected 'upstream NAME {'");
    if (groupKey(tokens[1]!.text) !== groupKey(name))
      fail(tokens[1]!, `the block names upstream '${tokens[1]!.text}' but is sent for '${name}'`);
    if (tokens[tokens.length - 1]!.text !== '}') fail(tokens[tokens.length - 1]!, "expected '}' at the end");
    tokens.pop();
    i = 3;
  }
  while (i < tokens.length) {
    const directive = tokens[i]!;
    if (directive.text === ';') fail(directive, 'unexpected ;');
    if (directive.quoted || directive.text === '{' || directive.text === '}') fail(directive, 'expected a directive');
    const args: Token[] = [];
    i++;
    while (i < tokens.length && tokens[i]!.text !== ';') {
      if (!tokens[i]!.quoted && (tokens[i]!.text === '{' || tokens[i]!.text === '}'))
        fail(tokens[i]!, 'unexpected brace');
      args.push(tokens[i]!);
      i++;
    }
    if (i >= tokens.length) fail(args[args.length - 1] ?? directive, "missing ';' after this directive");
    i++; // the ;
    switch (directive.text) {
      case 'server': {
        const server = parseServer(args, directive, fail);
        if (seen.has(server.address)) fail(args[0]!, `duplicate server ${server.address}`);
        seen.add(server.address);
        servers.push(server);
        break;
      }
      case 'least_conn':
      case 'ip_hash':
      case 'round_robin': {
        if (args.length > 0) fail(args[0]!, `${directive.text} takes no arguments`);
        if (balancer !== null) fail(directive, `a balancing method was already set by '${balancerToken!.text}'`);
        balancer = { kind: directive.text };
        balancerToken = directive;
        break;
      }
      case 'hash': {
        if (args.length < 1 || args.length > 2) fail(directive, 'hash takes a key and optionally consistent');
        if (args.length === 2 && args[1]!.text !== 'consistent') fail(args[1]!, "expected 'consistent'");
        if (balancer !== null) fail(directive, `a balancing method was already set by '${balancerToken!.text}'`);
        balancer = { kind: 'hash', key: args[0]!.text, consistent: args.length === 2 };
        balancerToken = directive;
        break;
      }
      case 'random':
      case 'least_time':
      case 'ewma': {
        if (balancer !== null) fail(directive, `a balancing method was already set by '${balancerToken!.text}'`);
        balancer = parseMethod(directive, args, fail);
        balancerToken = directive;
        break;
      }
      case 'keepalive': {
        if (args.length !== 1) fail(directive, 'keepalive takes one number');
        keepalive = wholeNumber(args[0]!, 1, 100_000, fail);
        break;
      }
      case 'check':
        check = parseCheck(args, directive, fail);
        break;
      case 'check_http_send':
        if (args.length !== 1) fail(directive, 'check_http_send takes one (quoted) request');
        httpSend = args[0]!.text;
        break;
      case 'check_http_expect_alive':
        if (args.length === 0) fail(directive, 'check_http_expect_alive needs at least one of http_2xx .. http_5xx');
        for (const arg of args)
          if (!/^http_[2-5]xx$/.test(arg.text)) fail(arg, 'expected http_2xx, http_3xx, http_4xx or http_5xx');
        expectAlive = args.map((a) => a.text);
        break;
      default: {
        if (BALANCING_DIRECTIVES.has(directive.text)) {
          balancing.add(directive, args, fail);
          break;
        }
        if (SSL_DIRECTIVES.has(directive.text)) {
          ssl.add(directive, args, fail);
          break;
        }
        if (!Object.hasOwn(PROXY_DIRECTIVES, directive.text)) fail(directive, 'unknown directive');
        if (SINGLE_DIRECTIVES.has(directive.text) && proxyGiven.has(directive.text))
          fail(directive, `${directive.text} given twice`);
        proxyGiven.add(directive.text);
        PROXY_DIRECTIVES[directive.text]!(proxy, args, directive, fail);
      }
    }
  }
  if (proxy.realIpFrom.length === 0 && (proxyGiven.has('real_ip_header') || proxyGiven.has('real_ip_recursive')))
    throw new UpstreamSyntaxError(
      text,
      0,
      tokens[0]!.text,
      "real_ip_header / real_ip_recursive need a 'set_real_ip_from' line (whose addresses to believe)",
    );
  if (servers.length === 0)
    throw new UpstreamSyntaxError(text, 0, tokens[0]!.text, 'no server in the body: at least one is needed');
  if (servers.every((s) => s.backup))
    throw new UpstreamSyntaxError(text, 0, tokens[0]!.text, 'every server is a backup: at least one primary is needed');
  const method = balancer ?? { kind: 'round_robin' };
  if (
    (method.kind === 'ip_hash' || method.kind === 'hash' || method.kind === 'random') &&
    servers.some((s) => s.backup)
  ) {
    fail(balancerToken!, `${method.kind} does not support backup servers (as in nginx)`);
  }
  if (method.kind === 'hash' && method.consistent) {
    const points = servers.reduce((sum, s) => sum + s.weight, 0) * RING_POINTS_PER_WEIGHT;
    if (points > MAX_RING_POINTS) {
      fail(
        balancerToken!,
        `hash consistent would build a ring of ${points} points (${RING_POINTS_PER_WEIGHT} per unit of weight); at most ${MAX_RING_POINTS}: lower the weights or use fewer servers`,
      );
    }
  }
  if ((httpSend !== null || expectAlive !== null) && check === null) {
    throw new UpstreamSyntaxError(
      text,
      0,
      tokens[0]!.text,
      "check_http_send / check_http_expect_alive need a 'check' line",
    );
  }
  if (check !== null) {
    if (httpSend !== null) check.httpSend = httpSend;
    if (expectAlive !== null) check.httpExpectAlive = expectAlive;
  }
  const tls = ssl.result(fail);
  const extras = balancing.result(fail);
  if (extras.sticky?.kind === 'route' && !servers.some((s) => s.route !== undefined))
    fail(tokens[0]!, 'sticky route needs servers with route=NAME');
  return {
    name,
    servers,
    balancer: method,
    keepalive,
    check,
    proxy,
    ...(tls === undefined ? {} : { ssl: tls }),
    ...extras,
  };
}

type Fail = (token: Token, problem: string) => never;

function parseServer(args: Token[], directive: Token, fail: Fail): UpstreamServer {
  if (args.length === 0) fail(directive, 'server needs an address');
  const address = parseAddress(args[0]!, fail);
  const server: UpstreamServer = { address, ...SERVER_DEFAULTS };
  const given = new Set<string>();
  for (const arg of args.slice(1)) {
    const eq = arg.text.indexOf('=');
    const key = eq < 0 ? arg.text : arg.text.slice(0, eq);
    if (given.has(key)) fail(arg, `${key} given twice`);
    given.add(key);
    if (eq < 0) {
      if (key === 'backup') server.backup = true;
      else if (key === 'down') server.down = true;
      else if (key === 'drain') server.drain = true;
      else
        fail(
          arg,
          'unknown server parameter (weight=, max_conns=, max_fails=, fail_timeout=, route=, backup, down, drain)',
        );
      continue;
    }
    const value = { ...arg, text: arg.text.slice(eq + 1), at: arg.at + eq + 1 };
    if (key === 'weight') server.weight = wholeNumber(value, 1, MAX_WEIGHT, fail);
    else if (key === 'max_conns') server.maxConns = wholeNumber(value, 0, 1_000_000, fail);
    else if (key === 'max_fails') server.maxFails = wholeNumber(value, 0, 1_000_000, fail);
    else if (key === 'fail_timeout') server.failTimeout = duration(value, 's', fail) / 1_000;
    else if (key === 'route') {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value.text)) fail(value, 'a route is 1 to 64 letters, digits, _ . -');
      server.route = value.text;
    } else
      fail(
        arg,
        'unknown server parameter (weight=, max_conns=, max_fails=, fail_timeout=, route=, backup, down, drain)',
      );
  }
  return server;
}

function parseAddress(token: Token, fail: Fail): string {
  const text = token.text;
  if (text.startsWith('unix:')) {
    if (!/^unix:\/[^\s;]+$/.test(text)) fail(token, 'a unix socket address is unix:/absolute/path');
    return text;
  }
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(text);
  const host = v6 ? v6[1]! : text.split(':')[0]!;
  const port = v6 ? v6[2] : text.includes(':') ? text.slice(text.indexOf(':') + 1) : undefined;
  // `_` as nginx takes it in a server name (the resolver does, though DNS host names have none)
  if (!v6 && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(host))
    fail(token, 'invalid server address (host:port, [ipv6]:port or unix:/path)');
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535))
    fail(token, 'invalid port (1-65535)');
  return `${v6 ? `[${host}]` : host}:${port ?? 80}`;
}

function parseCheck(args: Token[], directive: Token, fail: Fail): HealthCheck {
  const check: HealthCheck = { ...CHECK_DEFAULTS, httpExpectAlive: [...CHECK_DEFAULTS.httpExpectAlive] };
  for (const arg of args) {
    const eq = arg.text.indexOf('=');
    if (eq < 0) fail(arg, 'check parameters are key=value (interval, rise, fall, timeout, type, default_down, port)');
    const key = arg.text.slice(0, eq);
    const value = { ...arg, text: arg.text.slice(eq + 1), at: arg.at + eq + 1 };
    if (key === 'interval') check.interval = duration(value, 'ms', fail);
    else if (key === 'timeout') check.timeout = duration(value, 'ms', fail);
    else if (key === 'rise') check.rise = wholeNumber(value, 1, 1_000, fail);
    else if (key === 'fall') check.fall = wholeNumber(value, 1, 1_000, fail);
    else if (key === 'port') check.port = wholeNumber(value, 0, 65_535, fail);
    else if (key === 'type') {
      if (value.text !== 'tcp' && value.text !== 'http') fail(value, 'check type is tcp or http');
      check.type = value.text;
    } else if (key === 'default_down') {
      if (value.text !== 'true' && value.text !== 'false') fail(value, 'default_down is true or false');
      check.defaultDown = value.text === 'true';
    } else fail(arg, 'unknown check parameter (interval, rise, fall, timeout, type, default_down, port)');
  }
  if (check.interval < 100) fail(directive, 'check interval must be at least 100 ms');
  return check;
}

function wholeNumber(token: Token, min: number, max: number, fail: Fail): number {
  if (!/^\d+$/.test(token.text) || Number(token.text) < min || Number(token.text) > max) {
    fail(token, `expected a whole number from ${min} to ${max}`);
  }
  return Number(token.text);
}

/**
 * nginx time in whole milliseconds (what the state file writes back); a bare number is in `bareUnit`
 * (seconds for fail_timeout, ms for check).
 */
function duration(token: Token, bareUnit: BareUnit, fail: Fail): number {
  const ms = parseTime(token.text, bareUnit);
  if (ms === null || !Number.isInteger(ms)) fail(token, 'expected a time like 10s, 500ms, 1m or 1m30s');
  return ms;
}
