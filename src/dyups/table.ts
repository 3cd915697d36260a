import { UpstreamSyntaxError, parseUpstream } from './parse.js';
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

function checkName(name: string): DyupsResult | null {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    return { status: 400, message: `invalid upstream name '${String(name)}': letters, digits, '.' and '-', as in a host name` };
  }
  return null;
}
