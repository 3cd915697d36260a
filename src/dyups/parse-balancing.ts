import { parseTime } from '../config/units.js';
import { definedBalancer, definedBalancerNames, isBalancerName } from './balancer-registry.js';
import { groupKey, groupNameProblem } from './group-name.js';
import { DEFAULT_BALANCER_TIMEOUT, DEFAULT_DECAY } from './upstream.js';
import type { Balancer, CoroutineBalancerRef, Sticky, TrafficSplit } from './upstream.js';

/** A token of the group body (parse.ts's), as far as these directives need it. */
interface Word {
  text: string;
  at: number;
  quoted: boolean;
}
type Fail = (token: Word, problem: string) => never;

/** The other balancing lines: stickiness, traffic split, a coroutine balancer. */
export const BALANCING_DIRECTIVES: ReadonlySet<string> = new Set(['sticky', 'split', 'balancer', 'balancer_timeout']);

const VARIABLE = /^\$[a-z_][a-z0-9_]*$/i;

/** `random [two [least_conn|least_time=header|least_time=last_byte]]`, `least_time ...`, `ewma [decay=T]`. */
export function parseMethod(directive: Word, args: readonly Word[], fail: Fail): Balancer {
  if (directive.text === 'random') {
    if (args.length === 0) return { kind: 'random', two: null };
    if (args[0]!.text !== 'two') fail(args[0]!, "expected 'two' (random [two [method]])");
    if (args.length > 2) fail(args[2]!, 'random two takes one method at most');
    if (args.length === 1) return { kind: 'random', two: 'least_conn' };
    const method = args[1]!.text;
    if (method !== 'least_conn' && method !== 'least_time=header' && method !== 'least_time=last_byte')
      fail(args[1]!, 'expected least_conn, least_time=header or least_time=last_byte');
    return { kind: 'random', two: method };
  }
  if (directive.text === 'least_time') {
    if (args.length === 0) fail(directive, 'least_time takes header or last_byte');
    const measure = args[0]!.text;
    if (measure !== 'header' && measure !== 'last_byte') fail(args[0]!, 'expected header or last_byte');
    let inflight = false;
    let decay = DEFAULT_DECAY;
    for (const arg of args.slice(1)) {
      if (arg.text === 'inflight' && !inflight) inflight = true;
      else if (arg.text.startsWith('decay=')) decay = decayOf(arg, fail);
      else fail(arg, 'expected inflight or decay=TIME');
    }
    return { kind: 'least_time', measure, inflight, decay };
  }
  let decay = DEFAULT_DECAY;
  if (args.length > 1) fail(args[1]!, 'ewma takes decay=TIME at most');
  if (args.length === 1) {
    if (!args[0]!.text.startsWith('decay=')) fail(args[0]!, 'expected decay=TIME');
    decay = decayOf(args[0]!, fail);
  }
  return { kind: 'ewma', decay };
}

function decayOf(arg: Word, fail: Fail): number {
  const ms = parseTime(arg.text.slice(6), 's');
  if (ms === null || !Number.isInteger(ms) || ms < 1 || ms > 86_400_000)
    fail(arg, 'decay is a time from 1ms to 1d, like 10s or 500ms');
  return ms;
}

/** Collects a body's sticky, split, balancer and balancer_timeout lines; `result` checks them together. */
export class BalancingDirectives {
  private sticky: Sticky | undefined;
  private readonly splits: TrafficSplit[] = [];
  private coroutine: string | null = null;
  private timeout: number | null = null;
  private timeoutToken: Word | null = null;

  constructor(private readonly groupName: string) {}

  add(directive: Word, args: readonly Word[], fail: Fail): void {
    switch (directive.text) {
      case 'sticky':
        if (this.sticky !== undefined) fail(directive, 'sticky given twice');
        this.sticky = parseSticky(directive, args, fail);
        return;
      case 'split':
        this.splits.push(this.parseSplit(directive, args, fail));
        return;
      case 'balancer': {
        if (this.coroutine !== null) fail(directive, 'balancer given twice');
        if (args.length !== 1) fail(directive, 'balancer takes one name');
        const name = args[0]!.text;
        if (!isBalancerName(name)) fail(args[0]!, 'a balancer name is a letter or _, then letters, digits, _ . -');
        if (definedBalancer(name) === undefined) {
          const known = definedBalancerNames();
          fail(
            args[0]!,
            `unknown balancer '${name}' (${known.length === 0 ? 'none is defined: defineBalancer() or dyups.balancers in the config' : `defined: ${known.join(', ')}`})`,
          );
        }
        this.coroutine = name;
        return;
      }
      default: {
        if (this.timeout !== null) fail(directive, 'balancer_timeout given twice');
        if (args.length !== 1) fail(directive, 'balancer_timeout takes one time');
        const ms = parseTime(args[0]!.text, 's');
        if (ms === null || !Number.isInteger(ms) || ms < 1 || ms > 60_000)
          fail(args[0]!, 'expected a time from 1ms to 60s, like 50ms');
        this.timeout = ms;
        this.timeoutToken = directive;
      }
    }
  }

  private parseSplit(directive: Word, args: readonly Word[], fail: Fail): TrafficSplit {
    if (args.length !== 3 || args[1]!.text !== '->')
      fail(directive, "split is 'split $VARIABLE=VALUE -> GROUP;' or 'split N% -> GROUP;'");
    const [what, , target] = args as [Word, Word, Word];
    const problem = groupNameProblem(target.text);
    if (problem !== null) fail(target, problem);
    const to = groupKey(target.text);
    if (to === groupKey(this.groupName)) fail(target, 'a group cannot split to itself');
    const percent = /^(\d{1,3}(?:\.\d{1,2})?)%$/.exec(what.text);
    if (percent !== null) {
      const share = Number(percent[1]);
      if (share <= 0 || share > 100) fail(what, 'a share is more than 0% and at most 100%');
      return { match: { percent: share }, to };
    }
    const equals = what.text.indexOf('=');
    const variable = equals < 0 ? '' : what.text.slice(0, equals);
    if (!VARIABLE.test(variable)) fail(what, 'expected $VARIABLE=VALUE (e.g. $http_x_canary=1) or N% (e.g. 10%)');
    const value = what.text.slice(equals + 1);
    if (what.quoted || !/^[^\s;{}"'#]*$/.test(value)) fail(what, 'a split value is one unquoted word');
    return { match: { variable: variable.slice(1), value }, to };
  }

  /** What the lines add to the group. */
  result(fail: Fail): { sticky?: Sticky; splits?: TrafficSplit[]; coroutine?: CoroutineBalancerRef } {
    if (this.timeout !== null && this.coroutine === null)
      fail(this.timeoutToken!, "balancer_timeout needs a 'balancer NAME;' line");
    return {
      ...(this.sticky === undefined ? {} : { sticky: this.sticky }),
      ...(this.splits.length === 0 ? {} : { splits: this.splits }),
      ...(this.coroutine === null
        ? {}
        : { coroutine: { name: this.coroutine, timeout: this.timeout ?? DEFAULT_BALANCER_TIMEOUT } }),
    };
  }
}

/**
 * `sticky cookie NAME [expires=TIME|max] [domain=D] [path=P] [httponly] [secure]` or `sticky route $VAR ...`
 * (NGINX Plus).
 */
function parseSticky(directive: Word, args: readonly Word[], fail: Fail): Sticky {
  if (args.length === 0) fail(directive, 'sticky takes cookie NAME ... or route $VARIABLE ...');
  const kind = args[0]!;
  if (kind.text === 'route') {
    if (args.length < 2) fail(kind, 'sticky route needs at least one $variable');
    for (const arg of args.slice(1)) if (!VARIABLE.test(arg.text)) fail(arg, 'expected a $variable');
    return { kind: 'route', variables: args.slice(1).map((a) => a.text.slice(1)) };
  }
  if (kind.text !== 'cookie') fail(kind, "expected 'cookie' or 'route' (sticky learn is not supported)");
  const name = args[1];
  if (name === undefined) fail(kind, 'sticky cookie needs a cookie name');
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name.text)) fail(name, 'a cookie name is a token (letters, digits, _ - .)');
  const sticky: Sticky = {
    kind: 'cookie',
    name: name.text,
    expires: null,
    domain: null,
    path: null,
    httponly: false,
    secure: false,
  };
  const given = new Set<string>();
  for (const arg of args.slice(2)) {
    const eq = arg.text.indexOf('=');
    const key = eq < 0 ? arg.text : arg.text.slice(0, eq);
    const value = arg.text.slice(eq + 1);
    if (given.has(key)) fail(arg, `${key} given twice`);
    given.add(key);
    const cookieText = /^[\x21-\x3a\x3c-\x7e]+$/;
    if (key === 'httponly' && eq < 0) sticky.httponly = true;
    else if (key === 'secure' && eq < 0) sticky.secure = true;
    else if (key === 'expires' && eq >= 0) {
      if (value === 'max') sticky.expires = 'max';
      else {
        const ms = parseTime(value, 's');
        if (ms === null || ms < 1000 || ms % 1000 !== 0)
          fail(arg, 'expires is max or a time in whole seconds, like 1h');
        sticky.expires = ms / 1000;
      }
    } else if ((key === 'domain' || key === 'path') && eq >= 0) {
      if (!cookieText.test(value)) fail(arg, `${key} is visible ASCII without ';'`);
      sticky[key] = value;
    } else fail(arg, 'unknown sticky cookie parameter (expires=, domain=, path=, httponly, secure)');
  }
  return sticky;
}
