import { CHECK_DEFAULTS, SSL_DEFAULTS } from './upstream.js';
import { proxyDirectiveLines } from './proxy-settings.js';
import { groupTunnelsOf } from './balancer.js';
import type { ServerHealth } from './balancer.js';
import { DEFAULT_BALANCER_TIMEOUT, DEFAULT_DECAY } from './upstream.js';
import type { Balancer, UpstreamGroup, UpstreamServer, UpstreamSsl } from './upstream.js';

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
  return `server ${server.address} weight=${server.weight} max_conns=${server.maxConns} max_fails=${server.maxFails} fail_timeout=${server.failTimeout} backup=${server.backup ? 1 : 0} down=${server.down ? 1 : 0}${server.route === undefined ? '' : ` route=${server.route}`}`;
}

/** The line of a balancing method beyond nginx's open-source set; null for those (dyups' /detail shows none). */
function extendedMethodLine(b: Balancer): string | null {
  const decay = (ms: number): string => (ms === DEFAULT_DECAY ? '' : ` decay=${ms}ms`);
  if (b.kind === 'random') return `random${b.two === null ? '' : ` two ${b.two}`}`;
  if (b.kind === 'least_time') return `least_time ${b.measure}${b.inflight ? ' inflight' : ''}${decay(b.decay)}`;
  if (b.kind === 'ewma') return `ewma${decay(b.decay)}`;
  return null;
}

/** The group's lines of balancing beyond nginx's open-source set: method, sticky, splits, coroutine balancer. */
function balancingLines(group: UpstreamGroup): string[] {
  const lines: string[] = [];
  const method = extendedMethodLine(group.balancer);
  if (method !== null) lines.push(method);
  const sticky = group.sticky;
  if (sticky?.kind === 'route') lines.push(`sticky route ${sticky.variables.map((v) => `$${v}`).join(' ')}`);
  else if (sticky !== undefined) {
    const params = [
      sticky.expires === null ? '' : sticky.expires === 'max' ? 'expires=max' : `expires=${sticky.expires}s`,
      sticky.domain === null ? '' : `domain=${sticky.domain}`,
      sticky.path === null ? '' : `path=${sticky.path}`,
      sticky.httponly ? 'httponly' : '',
      sticky.secure ? 'secure' : '',
    ].filter((p) => p !== '');
    lines.push(`sticky cookie ${sticky.name}${params.length > 0 ? ` ${params.join(' ')}` : ''}`);
  }
  for (const split of group.splits ?? []) {
    const match =
      'percent' in split.match ? `${split.match.percent}%` : `$${split.match.variable}=${split.match.value}`;
    lines.push(`split ${match} -> ${split.to}`);
  }
  const coroutine = group.coroutine;
  if (coroutine !== undefined) {
    lines.push(`balancer ${coroutine.name}`);
    if (coroutine.timeout !== DEFAULT_BALANCER_TIMEOUT) lines.push(`balancer_timeout ${coroutine.timeout}ms`);
  }
  return lines;
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
        `${g.name}\n${g.servers.map((s) => `${formatDetailServer(s)}\n`).join('')}${formatDetailSsl(g.ssl)}${[
          ...balancingLines(g),
          ...proxyDirectiveLines(g.proxy),
        ]
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
  for (const line of balancingLines(group)) lines.push(`${line};`);
  for (const s of group.servers) {
    const params = [
      s.weight !== 1 ? `weight=${s.weight}` : '',
      s.maxConns !== 0 ? `max_conns=${s.maxConns}` : '',
      s.maxFails !== 1 ? `max_fails=${s.maxFails}` : '',
      s.failTimeout !== 10 ? `fail_timeout=${Math.round(s.failTimeout * 1000)}ms` : '',
      s.backup ? 'backup' : '',
      s.down ? 'down' : '',
      s.drain ? 'drain' : '',
      s.route !== undefined ? `route=${s.route}` : '',
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
    ...(group.sticky === undefined ? {} : { sticky: group.sticky }),
    ...(group.splits === undefined ? {} : { splits: group.splits }),
    ...(group.coroutine === undefined ? {} : { coroutine: group.coroutine }),
    servers: group.servers.map((s) => {
      const live = health?.get(s.address);
      return live === undefined ? { ...s } : { ...s, health: live };
    }),
    // where this process (or its workers) balances: the WebSocket/Upgrade tunnels summed over the servers
    ...(health === undefined ? {} : { tunnels: groupTunnelsOf(health.values()) }),
  };
}
