import { CHECK_DEFAULTS, SSL_DEFAULTS } from './upstream.js';
import { proxyDirectiveLines } from './proxy-settings.js';
import { groupTunnelsOf } from './balancer.js';
import type { ServerHealth } from './balancer.js';
import type { UpstreamGroup, UpstreamServer, UpstreamSsl } from './upstream.js';

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

/** A group's TLS in /detail, after its servers (groups without proxy_ssl keep dyups' exact format). */
function formatDetailSsl(ssl: UpstreamSsl | undefined): string {
  if (ssl === undefined) return '';
  return `proxy_ssl on verify=${ssl.verify ? 1 : 0} server_name=${ssl.serverName ? 1 : 0}${ssl.name === null ? '' : ` name=${ssl.name}`}${ssl.trustedCertificate === null ? '' : ` trusted_certificate=${ssl.trustedCertificate}`}\n`;
}

/**
 * GET /detail: for each upstream its name, one line per server, its TLS line, its proxy directives that
 * are not the defaults, then a blank line.
 */
export function formatDetail(groups: Iterable<UpstreamGroup>): string {
  return [...groups]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(
      (g) =>
        `${g.name}\n${g.servers.map((s) => `${formatDetailServer(s)}\n`).join('')}${formatDetailSsl(g.ssl)}${proxyDirectiveLines(
          g.proxy,
        )
          .map((line) => `${line};\n`)
          .join('')}\n`,
    )
    .join('');
}

/** The proxy_ssl lines of a group (those that differ from the defaults), for toNginx. */
function sslLines(ssl: UpstreamSsl | undefined): string[] {
  if (ssl === undefined) return [];
  const lines = ['proxy_ssl on;'];
  if (ssl.verify !== SSL_DEFAULTS.verify) lines.push(`proxy_ssl_verify ${ssl.verify ? 'on' : 'off'};`);
  if (ssl.serverName !== SSL_DEFAULTS.serverName) lines.push(`proxy_ssl_server_name ${ssl.serverName ? 'on' : 'off'};`);
  if (ssl.name !== null) lines.push(`proxy_ssl_name ${ssl.name};`);
  if (ssl.trustedCertificate !== null) lines.push(`proxy_ssl_trusted_certificate ${quote(ssl.trustedCertificate)};`);
  return lines;
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
  lines.push(...sslLines(group.ssl));
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
    ssl: group.ssl ?? null,
    servers: group.servers.map((s) => {
      const live = health?.get(s.address);
      return live === undefined ? { ...s } : { ...s, health: live };
    }),
    // where this process (or its workers) balances: the WebSocket/Upgrade tunnels summed over the servers
    ...(health === undefined ? {} : { tunnels: groupTunnelsOf(health.values()) }),
  };
}
