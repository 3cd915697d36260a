import { UpstreamSyntaxError, parseUpstream, tokenize } from './parse.js';
import { toNginx } from './format.js';
import { saveState } from './state-file.js';
import { groupKey, groupNameProblem } from './group-name.js';
import type { UpstreamGroup } from './upstream.js';

/** What update/delete answer, as ngx.dyups does: an HTTP-like status and a message. */
export interface DyupsResult {
  status: number;
  message: string;
}

/** A validated change not applied yet: the group a name will have (null: deleted), or why it is refused. */
export type Prepared = { ok: true; name: string; group: UpstreamGroup | null } | { ok: false; result: DyupsResult };

/** One change to the upstream table, as a listener hears it and RedisSync publishes it. */
export type Change =
  | { op: 'update'; name: string; body: string }
  | { op: 'delete'; name: string }
  | { op: 'add-server'; name: string; line: string }
  | { op: 'patch-server'; name: string; address: string; changes: Record<string, unknown> }
  | { op: 'remove-server'; name: string; address: string };

/** Where an UpstreamTable persists its changes. */
export interface UpstreamTableOptions {
  /** Persist every accepted change here (atomically); null: in memory only. */
  stateFile: string | null;
}

/**
 * The live upstream groups. A change is validated completely, persisted, and only then swapped in,
 * so a bad body or a failed write leaves the live table as it was. Listeners hear of every change
 * (workers and instances sync from them).
 */
export class UpstreamTable {
  private readonly groups = new Map<string, UpstreamGroup>();
  private readonly listeners: Array<(name: string, group: UpstreamGroup | null) => void> = [];
  /** bumped on every accepted change */
  version = 0;

  constructor(
    private readonly options: UpstreamTableOptions,
    initial: UpstreamGroup[] = [],
  ) {
    for (const group of initial) this.groups.set(group.name, group);
  }

  get(name: string): UpstreamGroup | undefined {
    return this.groups.get(groupKey(name));
  }

  all(): UpstreamGroup[] {
    return [...this.groups.values()];
  }

  onChange(listener: (name: string, group: UpstreamGroup | null) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Applies a change that was already validated and persisted elsewhere (a worker's replica of the
   * primary's table): no parsing, no state file.
   */
  replicate(name: string, group: UpstreamGroup | null, version: number): void {
    if (group === null) this.groups.delete(name);
    else this.groups.set(name, group);
    this.version = version;
    for (const listener of this.listeners) listener(name, group);
  }

  /** Validates a change against the live table without applying it. */
  prepare(asSent: Change): Prepared {
    const change: Change = { ...asSent, name: groupKey(asSent.name) };
    const done = (result: DyupsResult | UpstreamGroup | null): Prepared =>
      result !== null && 'status' in result ? { ok: false, result } : { ok: true, name: change.name, group: result };
    switch (change.op) {
      case 'update':
        return done(this.prepareUpdate(change.name, change.body));
      case 'delete':
        return this.groups.has(change.name)
          ? done(null)
          : done({ status: 404, message: `upstream '${change.name}' not found` });
      case 'add-server':
        return done(this.prepareAddServer(change.name, change.line));
      case 'patch-server':
        return done(this.preparePatchServer(change.name, change.address, change.changes));
      default:
        return done(this.prepareRemoveServer(change.name, change.address));
    }
  }

  /** prepare + commit: the synchronous path when nothing else must agree first. */
  apply(change: Change): DyupsResult {
    const prepared = this.prepare(change);
    return prepared.ok ? this.commit(prepared.name, prepared.group) : prepared.result;
  }

  /** Creates or replaces a group from a body in nginx upstream syntax (dyups' POST /upstream/NAME). */
  update(name: string, body: string): DyupsResult {
    return this.apply({ op: 'update', name, body });
  }

  /** Removes a group (dyups' DELETE /upstream/NAME). */
  delete(name: string): DyupsResult {
    return this.apply({ op: 'delete', name });
  }

  private prepareUpdate(name: string, body: string): DyupsResult | UpstreamGroup {
    const bad = checkName(name);
    if (bad !== null) return bad;
    if (body.trim() === '')
      return { status: 400, message: 'empty body: send the upstream servers, e.g. "server 127.0.0.1:8080;"' };
    try {
      return parseUpstream(name, body);
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) return { status: 400, message: err.message };
      throw err;
    }
  }

  /** Adds one server (a `server ...;` line) to a group, keeping everything else. */
  addServer(name: string, serverLine: string): DyupsResult {
    return this.apply({ op: 'add-server', name, line: serverLine });
  }

  /** Changes parameters of one server (weight, max_fails, max_conns, fail_timeout, down, drain, backup), keeping everything else. */
  patchServer(name: string, address: string, changes: Record<string, unknown>): DyupsResult {
    return this.apply({ op: 'patch-server', name, address, changes });
  }

  /** Removes one server from a group, keeping everything else. */
  removeServer(name: string, address: string): DyupsResult {
    return this.apply({ op: 'remove-server', name, address });
  }

  private prepareAddServer(name: string, serverLine: string): DyupsResult | UpstreamGroup {
    const group = this.groups.get(name);
    if (group === undefined) return { status: 404, message: `upstream '${name}' not found` };
    try {
      const line = serverLine.trim().replace(/;?$/, ';');
      if (!isOneServerLine(line))
        return { status: 400, message: `expected one 'server ADDR [params];' line, got '${serverLine.slice(0, 60)}'` };
      return parseUpstream(name, toNginx(group).replace(/\}\s*$/, `    ${line}\n}\n`));
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) return { status: 400, message: err.message };
      throw err;
    }
  }

  private preparePatchServer(
    name: string,
    address: string,
    changes: Record<string, unknown>,
  ): DyupsResult | UpstreamGroup {
    const group = this.groups.get(name);
    if (group === undefined) return { status: 404, message: `upstream '${name}' not found` };
    const index = group.servers.findIndex((s) => s.address === address);
    if (index < 0) return { status: 404, message: `server ${address} not found in upstream '${name}'` };
    const server = { ...group.servers[index]! };
    for (const [key, value] of Object.entries(changes)) {
      const problem = applyChange(server, key, value);
      if (problem !== null) return { status: 400, message: problem };
    }
    const servers = group.servers.map((s, i) => (i === index ? server : s));
    try {
      return parseUpstream(name, toNginx({ ...group, servers })); // the whole group must still be valid
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) return { status: 400, message: err.message };
      throw err;
    }
  }

  private prepareRemoveServer(name: string, address: string): DyupsResult | UpstreamGroup {
    const group = this.groups.get(name);
    if (group === undefined) return { status: 404, message: `upstream '${name}' not found` };
    const servers = group.servers.filter((s) => s.address !== address);
    if (servers.length === group.servers.length)
      return { status: 404, message: `server ${address} not found in upstream '${name}'` };
    if (servers.length === 0 || servers.every((s) => s.backup)) {
      return {
        status: 400,
        message: `removing ${address} would leave upstream '${name}' without a primary server; delete the upstream instead`,
      };
    }
    return { ...group, servers };
  }

  /**
   * Swaps in a prepared change after persisting it; a failed write changes nothing and answers 500.
   * `version`: the change's number when another store orders changes (Redis sync); default: the next.
   */
  commit(name: string, group: UpstreamGroup | null, version = this.version + 1): DyupsResult {
    const next = new Map(this.groups);
    if (group === null) next.delete(name);
    else next.set(name, group);
    if (this.options.stateFile !== null) {
      try {
        saveState(this.options.stateFile, next.values());
      } catch (err) {
        return {
          status: 500,
          message: `could not persist the change (nothing was changed): ${(err as Error).message}`,
        };
      }
    }
    if (group === null) this.groups.delete(name);
    else this.groups.set(name, group);
    this.version = version;
    for (const listener of this.listeners) listener(name, group);
    return { status: 200, message: 'success' };
  }

  /** Makes the table exactly `groups` (a resync from a shared store), persisting once; false if the write failed. */
  replaceAll(groups: UpstreamGroup[], version: number): boolean {
    const next = new Map(groups.map((g) => [g.name, g] as const));
    if (this.options.stateFile !== null) {
      try {
        saveState(this.options.stateFile, next.values());
      } catch {
        return false;
      }
    }
    const removed = [...this.groups.keys()].filter((name) => !next.has(name));
    this.groups.clear();
    for (const [name, group] of next) this.groups.set(name, group);
    this.version = version;
    for (const name of removed) for (const listener of this.listeners) listener(name, null);
    for (const group of groups) for (const listener of this.listeners) listener(group.name, group);
    return true;
  }
}

function applyChange(server: UpstreamGroup['servers'][number], key: string, value: unknown): string | null {
  const whole = (min: number): number | null =>
    typeof value === 'number' && Number.isInteger(value) && value >= min ? value : null;
  switch (key) {
    case 'weight': {
      const n = whole(1);
      if (n === null) return `'weight' must be a whole number >= 1, got ${JSON.stringify(value)}`;
      server.weight = n;
      return null;
    }
    case 'max_fails': {
      const n = whole(0);
      if (n === null) return `'max_fails' must be a whole number >= 0, got ${JSON.stringify(value)}`;
      server.maxFails = n;
      return null;
    }
    case 'max_conns': {
      const n = whole(0);
      if (n === null) return `'max_conns' must be a whole number >= 0, got ${JSON.stringify(value)}`;
      server.maxConns = n;
      return null;
    }
    case 'fail_timeout':
      if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))
        return `'fail_timeout' must be a number of seconds >= 0, got ${JSON.stringify(value)}`;
      server.failTimeout = value;
      return null;
    case 'down':
    case 'drain':
    case 'backup':
      if (typeof value !== 'boolean') return `'${key}' must be true or false, got ${JSON.stringify(value)}`;
      server[key] = value;
      return null;
    default:
      return `unknown field '${key}' (weight, max_fails, max_conns, fail_timeout, down, drain, backup)`;
  }
}

/** `server ADDR [params];` and nothing after it: another directive would change the whole group. */
function isOneServerLine(line: string): boolean {
  const tokens = tokenize(line);
  const ends = tokens.filter((t) => !t.quoted && (t.text === ';' || t.text === '{' || t.text === '}'));
  return (
    tokens[0]?.text === 'server' &&
    !tokens[0].quoted &&
    tokens.length > 2 &&
    ends.length === 1 &&
    ends[0] === tokens[tokens.length - 1]
  );
}

function checkName(name: string): DyupsResult | null {
  const problem = groupNameProblem(name);
  return problem === null ? null : { status: 400, message: problem };
}
