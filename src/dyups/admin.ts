import { createHmac, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import { checkOrigin } from '../fastify/origin-guard.js';
import { listenerOptions } from '../fastify/server-options.js';
import { fastifyTlsOptions } from '../config/listener-tls.js';
import type { ListenerTls } from '../config/listener-tls.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GROUP_NAME_MAX_LENGTH } from './group-name.js';
import { formatDetail, formatList, formatServers, toJson } from './format.js';
import type { ServerHealth } from './balancer.js';
import { dashboardRoutes } from './dashboard/routes.js';
import type { DashboardStatus } from './dashboard/snapshot.js';
import type { Change, DyupsResult, UpstreamTable } from './table.js';

/** Options of buildAdminApp(): who may call it (token, loopback), body and time limits, how a change is made. */
export interface AdminOptions {
  /** Bearer token required on every request, or null. */
  token: string | null;
  /** Answer clients that are not on loopback (default false: 403). */
  allowRemote: boolean;
  /** Host names the admin answers to besides its own address and localhost (the configured admin host). */
  hostNames?: readonly string[];
  /** Largest accepted body. Default 64 KB. */
  bodyLimit?: number;
  /** ms for the request head (default 60 s) and for the whole request (default 120 s) */
  headerTimeout?: number;
  requestTimeout?: number;
  /** Awaited after an accepted change, before `success` is sent (e.g. until every worker applied it). */
  afterChange?: (version: number) => Promise<void>;
  /** Makes a change (default: on the local table alone; RedisSync.change to agree with other instances first). */
  change?: (change: Change) => Promise<DyupsResult> | DyupsResult;
  /** Each server's live state where requests are balanced (this process, or summed over the workers). */
  health?: (name: string) => Map<string, ServerHealth> | Promise<Map<string, ServerHealth>>;
  /** dyups_trylock: a change that meets another still in progress answers 409 instead of waiting. */
  trylock?: boolean;
  /** Serve over TLS with these certificates (default: plain HTTP). */
  tls?: ListenerTls | null;
  /** More routes behind the same guard (the server's /metrics and /status). */
  routes?: (app: FastifyInstance) => void;
  /** The scheduler and pools of the process that serves requests, for the dashboard (default: none shown). */
  status?: () => DashboardStatus | Promise<DashboardStatus>;
  /** ms between the dashboard's snapshots when nothing changes. Default 1,000. */
  dashboardInterval?: number;
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The body types the admin reads (all as text). */
const BODY_TYPES = new Set([
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/json',
  'application/octet-stream',
]);

function tokenMatches(given: string | undefined, token: string): boolean {
  return sameText(given ?? '', `Bearer ${token}`);
}

function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A browser cannot send the Bearer header (not for a page it opens, not for EventSource), so the dashboard
 * signs in once with `/dashboard?token=...` and gets this cookie: a value derived from the token (not the
 * token), HttpOnly and SameSite=Strict, so no other site's page can send it, and the Origin check still
 * applies to every request that carries it.
 */
const SESSION_COOKIE = 'cosocket_admin';

function sessionValue(token: string): string {
  return createHmac('sha256', token).update('cosocket admin session').digest('base64url');
}

function sessionMatches(cookieHeader: string | undefined, token: string): boolean {
  if (cookieHeader === undefined) return false;
  const expected = sessionValue(token);
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE && sameText(part.slice(eq + 1).trim(), expected))
      return true;
  }
  return false;
}

/** `?token=` of the dashboard's sign-in URL, if that is what `url` is. */
function dashboardSignIn(url: string): string | null {
  const query = url.indexOf('?');
  if (query < 0 || url.slice(0, query) !== '/dashboard') return null;
  return new URLSearchParams(url.slice(query + 1)).get('token');
}

function send(reply: FastifyReply, result: DyupsResult): FastifyReply {
  return reply.code(result.status).type('text/plain; charset=utf-8').send(result.message);
}

/**
 * The dyups-compatible admin interface: plain text as scripts expect it (GET /list, /detail,
 * /upstream/NAME; POST and DELETE /upstream/NAME answer `success`), without dyups' known defects —
 * 204 carries no body, a bad body is a 400 that names the token, order is sorted. Beyond dyups: JSON
 * detail and per-server changes that keep the rest of the group, and a live dashboard at /dashboard.
 */
export async function buildAdminApp(table: UpstreamTable, options: AdminOptions): Promise<FastifyInstance> {
  const listener = listenerOptions(options.headerTimeout ?? 60_000, options.requestTimeout ?? 120_000);
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    // a path parameter is a group name or a server address (a unix: path can be long)
    routerOptions: { maxParamLength: Math.max(GROUP_NAME_MAX_LENGTH, 1024) },
    ...listener,
    ...fastifyTlsOptions(options.tls ?? null, listener.http),
  });
  const change = options.change ?? ((c: Change) => table.apply(c));
  let changing = 0;
  /** A change, from validation until every worker applied it; with trylock, one at a time or 409. */
  const makeChange = async (c: Change): Promise<DyupsResult> => {
    if (options.trylock === true && changing > 0)
      return { status: 409, message: 'another change is in progress (trylock): nothing was changed, try again' };
    changing++;
    try {
      const result = await change(c);
      if (result.status === 200 && options.afterChange) await options.afterChange(table.version);
      return result;
    } finally {
      changing--;
    }
  };
  const answer = async (reply: FastifyReply, result: DyupsResult | Promise<DyupsResult>): Promise<FastifyReply> =>
    send(reply, await result);
  // dyups clients send bodies with curl -d (form-encoded), others as text, JSON or with no type: each
  // read as text; any other type is 415 in the hook (the Origin/Host guard there is what stops browsers)
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.addHook('onRequest', (request, reply, done) => {
    if (!options.allowRemote && !isLoopback(request.socket.remoteAddress)) {
      void reply.code(403).type('text/plain').send('forbidden: the admin interface answers loopback clients only\n');
      return;
    }
    const origin = checkOrigin(
      request.headers,
      { address: request.socket.localAddress, port: request.socket.localPort },
      options.hostNames ?? [],
      options.tls ? 'https' : 'http',
    );
    if (!origin.ok) {
      void reply
        .code(origin.status)
        .type('text/plain')
        .send(`forbidden: ${origin.reason} (the admin interface refuses requests made on another site's behalf)\n`);
      return;
    }
    if (options.token !== null && request.method === 'GET') {
      const signIn = dashboardSignIn(request.url);
      if (signIn !== null) {
        if (!sameText(signIn, options.token)) {
          void reply
            .code(401)
            .type('text/plain')
            .send('unauthorized: the token in the dashboard URL is not the admin token\n');
          return;
        }
        // the token leaves the address bar at once; the cookie stands for it from now on
        void reply
          .code(303)
          .header('location', '/dashboard')
          .header(
            'set-cookie',
            `${SESSION_COOKIE}=${sessionValue(options.token)}; Path=/; HttpOnly; SameSite=Strict${options.tls ? '; Secure' : ''}`,
          )
          .header('cache-control', 'no-store')
          .send();
        return;
      }
    }
    if (
      options.token !== null &&
      !tokenMatches(request.headers.authorization, options.token) &&
      !sessionMatches(request.headers.cookie, options.token)
    ) {
      void reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .type('text/plain')
        .send('unauthorized: send Authorization: Bearer <token> (a browser: open /dashboard?token=<token> once)\n');
      return;
    }
    const type = request.headers['content-type'];
    if (type !== undefined && !BODY_TYPES.has(type.split(';')[0]!.trim().toLowerCase())) {
      void reply
        .code(415)
        .type('text/plain')
        .send(
          `unsupported content type '${type.slice(0, 80)}': send text/plain, application/x-www-form-urlencoded (curl -d) or application/json\n`,
        );
      return;
    }
    done();
  });

  options.routes?.(app);
  await app.register(dashboardRoutes, {
    table,
    health: options.health,
    status: options.status,
    ...(options.dashboardInterval !== undefined ? { interval: options.dashboardInterval } : {}),
  });
  app.get('/list', async (_request, reply) => {
    const groups = table.all();
    if (groups.length === 0) return reply.code(204).send();
    return reply.type('text/plain; charset=utf-8').send(formatList(groups));
  });
  app.get('/detail', async (_request, reply) => {
    const groups = table.all();
    if (groups.length === 0) return reply.code(204).send();
    return reply.type('text/plain; charset=utf-8').send(formatDetail(groups));
  });
  app.get<{ Params: { name: string }; Querystring: { format?: string } }>('/upstream/:name', async (request, reply) => {
    const group = table.get(request.params.name);
    if (group === undefined)
      return answer(reply, { status: 404, message: `upstream '${request.params.name}' not found` });
    if (request.query.format === 'json') return reply.send(toJson(group, await options.health?.(group.name)));
    return reply.type('text/plain; charset=utf-8').send(formatServers(group));
  });
  app.post<{ Params: { name: string }; Body: string | undefined }>('/upstream/:name', async (request, reply) =>
    answer(
      reply,
      makeChange({
        op: 'update',
        name: request.params.name,
        body: typeof request.body === 'string' ? request.body : '',
      }),
    ),
  );
  app.delete<{ Params: { name: string } }>('/upstream/:name', async (request, reply) =>
    answer(reply, makeChange({ op: 'delete', name: request.params.name })),
  );
  app.post<{ Params: { name: string }; Body: string | undefined }>('/upstream/:name/servers', async (request, reply) =>
    answer(
      reply,
      makeChange({
        op: 'add-server',
        name: request.params.name,
        line: typeof request.body === 'string' ? request.body : '',
      }),
    ),
  );
  app.patch<{ Params: { name: string; address: string }; Body: string | undefined }>(
    '/upstream/:name/servers/:address',
    async (request, reply) => {
      let changes: unknown;
      try {
        changes = JSON.parse(typeof request.body === 'string' ? request.body : '');
      } catch {
        return answer(reply, {
          status: 400,
          message: 'the body must be a JSON object, e.g. {"weight": 3, "down": false}',
        });
      }
      if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) {
        return answer(reply, {
          status: 400,
          message: 'the body must be a JSON object, e.g. {"weight": 3, "down": false}',
        });
      }
      return answer(
        reply,
        makeChange({
          op: 'patch-server',
          name: request.params.name,
          address: request.params.address,
          changes: changes as Record<string, unknown>,
        }),
      );
    },
  );
  app.delete<{ Params: { name: string; address: string } }>(
    '/upstream/:name/servers/:address',
    async (request, reply) =>
      answer(reply, makeChange({ op: 'remove-server', name: request.params.name, address: request.params.address })),
  );
  return app;
}
