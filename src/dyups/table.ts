import { UpstreamSyntaxError, parseUpstream } from './parse.js';
import { toNginx } from './format.js';
import { saveState } from './state-file.js';
import { NAME_PATTERN } from './upstream.js';
import type { UpstreamGroup } from './upstream.js';

/** What update/delete answer, as ngx.dyups does: an HTTP-like status and a message. */
export interface DyupsResult {
  status: number;
  message: string;
}

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

  constructor(private readonly options: UpstreamTableOptions, initial: UpstreamGroup[] = []) {
    for (const group of initial) this.groups.set(group.name, group);
  }

  get(name: string): UpstreamGroup | undefined {
    return this.groups.get(name);
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

  /** Creates or replaces a group from a body in nginx upstream syntax (dyups' POST /upstream/NAME). */
  update(name: string, body: string): DyupsResult {
    const bad = checkName(name);
    if (bad !== null) return bad;
    if (body.trim() === '') return { status: 400, message: 'empty body: send the upstream servers, e.g. "server 127.0.0.1:8080;"' };
    let group: UpstreamGroup;
    try {
      group = parseUpstream(name, body);
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) return { status: 400, message: err.message };
      throw err;
    }
    return this.commit(name, group);
  }

  /** Removes a group (dyups' DELETE /upstream/NAME). */
  delete(name: string): DyupsResult {
    if (!this.groups.has(name)) return { status: 404, message: `upstream '${name}' not found` };
    return this.commit(name, null);
  }

  /** Adds one server (a `server ...;` line) to a group, keeping everything else. */
  addServer(name: string, serverLine: string): DyupsResult {
    const group = this.groups.get(name);
    if (group === undefined) return { status: 404, message: `upstream '${name}' not found` };
    let added: UpstreamGroup;
    try {
      const line = serverLine.trim().replace(/;?$/, ';');
      if (!/^server\s/.test(line)) return { status: 400, message: `expected one 'server ADDR [params];' line, got '${serverLine.slice(0, 60)}'` };
      added = parseUpstream(name, toNginx(group).replace(/\}\s*$/, `    ${line}\n}\n`));
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) return { status: 400, message: err.message };
      throw err;
    }
    return this.commit(name, added);
  }

  /** Changes parameters of one server (weight, max_fails, fail_timeout, down, backup), keeping everything else. */
  patchServer(name: string, address: string, changes: Record<string, unknown>): DyupsResult {
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
    let next: UpstreamGroup;
    try {
      next = parseUpstream(name, toNginx({ ...group, servers })); // the whole group must still be valid
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) return { status: 400, message: err.message };
      throw err;
    }
    return this.commit(name, next);
  }

  /** Removes one server from a group, keeping everything else. */
  removeServer(name: string, address: string): DyupsResult {
    const group = this.groups.get(name);
    if (group === undefined) return { status: 404, message: `upstream '${name}' not found` };
    const servers = group.servers.filter((s) => s.address !== address);
    if (servers.length === group.servers.length) return { status: 404, message: `server ${address} not found in upstream '${name}'` };
    if (servers.length === 0 || servers.every((s) => s.backup)) {
      return { status: 400, message: `removing ${address} would leave upstream '${name}' without a primary server; delete the upstream instead` };
    }
    return this.commit(name, { ...group, servers });
  }

  /** Swaps in a change after persisting it; a failed write changes nothing and answers 500. */
  private commit(name: string, group: UpstreamGroup | null): DyupsResult {
    const next = new Map(this.groups);
    if (group === null) next.delete(name);
    else next.set(name, group);
    if (this.options.stateFile !== null) {
      try {
        saveState(this.options.stateFile, next.values());
      } catch (err) {
        return { status: 500, message: `could not persist the change (nothing was changed): ${(err as Error).message}` };
      }
    }
    if (group === null) this.groups.delete(name);
    else this.groups.set(name, group);
    this.version++;
    for (const listener of this.listeners) listener(name, group);
    return { status: 200, message: 'success' };
  }
}

function applyChange(server: UpstreamGroup['servers'][number], key: string, value: unknown): string | null {
  const whole = (min: number): number | null => (typeof value === 'number' && Number.isInteger(value) && value >= min ? value : null);
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
      if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) return `'fail_timeout' must be a number of seconds >= 0, got ${JSON.stringify(value)}`;
      server.failTimeout = value;
      return null;
    case 'down':
    case 'backup':
      if (typeof value !== 'boolean') return `'${key}' must be true or false, got ${JSON.stringify(value)}`;
      server[key] = value;
      return null;
    default:
      return `unknown field '${key}' (weight, max_fails, max_conns, fail_timeout, down, backup)`;
  }
}

function checkName(name: string): DyupsResult | null {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    return { status: 400, message: `invalid upstream name '${String(name)}': letters, digits, '.' and '-', as in a host name` };
  }
  return null;
}
