/**
 * The layers of cosocket, declared once, lowest first. A file may import its own layer or a layer below it,
 * and only the npm packages its layer names. test/architecture/layer-check.ts derives every rule from this.
 */

export interface Layer {
  readonly name: string;
  /** What the layer is for (shown in failure messages). */
  readonly role: string;
  /** Repository-relative paths: a folder ends with '/', anything else is one file. */
  readonly paths: readonly string[];
  /** npm packages the layer's files may import (types included). Node built-ins are allowed unless denied. */
  readonly packages: readonly string[];
  /** Node built-ins the layer may not import, without the `node:` prefix. */
  readonly deniedBuiltins?: readonly string[];
  /**
   * A folder whose children are separate units (a sub-folder, or a single .ts file): a file of one unit reaches
   * another unit only through its public face, the unit's index.ts (or the single file itself).
   */
  readonly units?: string;
  /** The layer may `import()` a name computed at run time (a user's config file), which no check can follow. */
  readonly importsComputedNames?: boolean;
}

export interface LayerMap {
  /** The folders whose .ts files are checked. */
  readonly roots: readonly string[];
  readonly layers: readonly Layer[];
}

/** Node modules that do I/O: the kernel schedules coroutines and leaves I/O to the cosockets. */
const IO_BUILTINS = [
  'net',
  'tls',
  'dgram',
  'dns',
  'dns/promises',
  'fs',
  'fs/promises',
  'http',
  'https',
  'http2',
  'child_process',
  'cluster',
  'worker_threads',
];

export const LAYER_MAP: LayerMap = {
  roots: ['src/', 'adapters/'],
  layers: [
    {
      name: 'errors',
      role: 'every error, with its code',
      paths: ['src/errors.ts', 'src/errors/'],
      packages: [],
    },
    {
      name: 'kernel',
      role: 'the coroutine runtime',
      paths: ['src/runtime/'],
      packages: [],
      deniedBuiltins: IO_BUILTINS,
    },
    {
      name: 'pool',
      role: 'keepalive connection pools',
      paths: ['src/pool/'],
      packages: ['generic-pool'],
    },
    {
      name: 'cosockets',
      role: 'backends as coroutines: sleep, tcp, redis, http, file',
      paths: ['adapters/'],
      packages: ['ioredis'],
      units: 'adapters/',
    },
    {
      name: 'streaming',
      role: 'proxying with nginx-style buffering, sendfile',
      paths: ['src/stream/'],
      packages: [],
    },
    {
      name: 'fastify',
      role: 'coroutine handlers for fastify',
      paths: ['src/fastify/'],
      packages: ['fastify', 'fastify-plugin'],
    },
    {
      name: 'tracing',
      role: 'OpenTelemetry spans, loaded only when tracing is configured',
      paths: ['src/tracing/'],
      packages: [
        '@opentelemetry/api',
        '@opentelemetry/exporter-trace-otlp-http',
        '@opentelemetry/resources',
        '@opentelemetry/sdk-trace-base',
      ],
    },
    {
      name: 'product',
      role: 'the server, dyups, config, cli, ab and the package entry points',
      paths: [
        'src/server/',
        'src/dyups/',
        'src/config/',
        'src/cli/',
        'src/ab/',
        'src/index.ts',
        'src/core.ts',
        'src/fastify.ts',
        'src/version.ts',
      ],
      // sucrase: loaded on demand for .ts config files
      packages: ['fastify', 'pino', 'ioredis', 'autocannon', 'sucrase', 'prom-client'],
      importsComputedNames: true,
    },
  ],
};
