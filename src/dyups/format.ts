import { CHECK_DEFAULTS } from './upstream.js';
import { proxyDirectiveLines } from './proxy-settings.js';
import type { ServerHealth } from './balancer.js';
import type { UpstreamGroup, UpstreamServer } from './upstream.js';

/** GET /list: one name per line, in name order (the same on every worker). */
export function formatList(groups: Iterable<UpstreamGroup>): string {
  return [...groups]
    .map((g) => g.name)
    .sort()
    .map((name) => `${name}\n`)
    .join('');
}

/** One server as dyups' /detail prints it; fail_timeout in seconds without a unit. */
export function formatDetailServer(server: UpstreamServer): string {
  return `server ${server.address} weight=${server.weight} max_conns=${server.maxConns} max_fails=${server.maxFails} fail_timeout=${server.failTimeout} backup=${server.backup ? 1 : 0} down=${server.down ? 1 : 0}`;
}

/** GET /detail: for each upstream its name, one line per server, its proxy directives that are not the defaults, then a blank line. */
export function formatDetail(groups: Iterable<UpstreamGroup>): string {
  return [...groups]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(
      (g) =>
        `${g.name}\n${g.servers.map((s) => `${formatDetailServer(s)}\n`).join('')}${proxyDirectiveLines(g.proxy)
          .map((line) => `${line};\n`)
          .join('')}\n`,
    )
    .join('');
}

/** GET /upstream/NAME: `server ADDR` per line. */
export function formatServers(group: UpstreamGroup): string {
  return group.servers.map((s) => `server ${s.address}\n`).join('');
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r/g, '\\r').replace(/\n/g, '\\n')}"`;
}

/** The group in nginx `upstream NAME { ... }` syntax: what the state file holds; parses back to the same group. */
export function toNginx(group: UpstreamGroup): string {
  const lines: string[] = [];
  const b = group.balancer;
  if (b.kind === 'least_conn' || b.kind === 'ip_hash') lines.push(`${b.kind};`);
  else if (b.kind === 'hash') lines.push(`hash ${b.key}${b.consistent ? ' consistent' : ''};`);
  for (const s of group.servers) {
    const params = [
      s.weight !== 1 ? `weight=${s.weight}` : '',
      s.maxConns !== 0 ? `max_conns=${s.maxConns}` : '',
      s.maxFails !== 1 ? `max_fails=${s.maxFails}` : '',
      s.failTimeout !== 10 ? `fail_timeout=${Math.round(s.failTimeout * 1000)}ms` : '',
      s.backup ? 'backup' : '',
      s.down ? 'down' : '',
      s.drain ? 'drain' : '',
    ].filter((p) => p !== '');
    lines.push(`server ${s.address}${params.length > 0 ? ` ${params.join(' ')}` : ''};`);
  }
  if (group.keepalive > 0) lines.push(`keepalive ${group.keepalive};`);
  const c = group.check;
  if (c !== null) {
    lines.push(
      `check interval=${c.interval}ms rise=${c.rise} fall=${c.fall} timeout=${c.timeout}ms type=${c.type} default_down=${c.defaultDown} port=${c.port};`,
    );
    if (c.httpSend !== CHECK_DEFAULTS.httpSend) lines.push(`check_http_send ${quote(c.httpSend)};`);
    if (c.httpExpectAlive.join(' ') !== CHECK_DEFAULTS.httpExpectAlive.join(' '))
      lines.push(`check_http_expect_alive ${c.httpExpectAlive.join(' ')};`);
  }
  for (const line of proxyDirectiveLines(group.proxy)) lines.push(`${line};`);
  return `upstream ${group.name} {\n${lines.map((l) => `    ${l}\n`).join('')}}\n`;
}

/** GET /upstream/NAME?format=json: every parameter, and each server's live state where this process balances. */
export function toJson(group: UpstreamGroup, health?: Map<string, ServerHealth>): object {
  return {
    name: group.name,
    balancer: group.balancer,
    keepalive: group.keepalive,
    check: group.check,
    proxy: group.proxy,
    servers: group.servers.map((s) => {
      const live = health?.get(s.address);
      return live === undefined ? { ...s } : { ...s, health: live };
    }),
  };
}
