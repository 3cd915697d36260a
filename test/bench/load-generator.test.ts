/**
 * The benchmarks' load generators against a real local HTTP server: real ab and wrk output, parsed.
 * Skips a generator that is not installed. Asserts what the reports say, never how fast.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parseAbReport } from '../../bench/lib/ab-report.js';
import { availableGenerators, runGenerator } from '../../bench/lib/load-generator.js';
import type { GeneratorName } from '../../bench/lib/load-generator.js';
import { LoadReportError } from '../../bench/lib/load-report.js';
import { parseWrkReport } from '../../bench/lib/wrk-report.js';

let server: Server;
let port = 0;
let connections = 0;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/fail') res.statusCode = 500;
    // ab speaks HTTP/1.0: without a length the response cannot keep its connection
    res.setHeader('content-type', 'text/plain');
    res.setHeader('content-length', '10');
    res.end('hello12345');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const installed = availableGenerators();

for (const name of ['ab', 'wrk', 'autocannon'] as GeneratorName[]) {
  describe(`load generator ${name}`, { skip: installed.includes(name) ? false : `${name} is not installed` }, () => {
    it('with keepalive: requests, the 10-byte document, a p99, CPU shares, no more connections than its concurrency', async () => {
      const before = connections;
      const figures = await runGenerator(name, {
        url: `http://127.0.0.1:${port}/`,
        seconds: 1,
        concurrency: 4,
        keepalive: true,
        watch: new Map([['server', process.pid]]),
      });
      assert.equal(figures.generator, name);
      // more requests than connections, so keepalive had something to reuse
      assert.ok(figures.completed > 8, `completed ${figures.completed}`);
      assert.ok(figures.rps > 0);
      assert.equal(figures.failed, 0);
      assert.equal(figures.non2xx, 0);
      assert.equal(figures.documentLength, 10);
      assert.ok(Number.isFinite(figures.p99Ms) && figures.p99Ms >= 0, `p99 ${figures.p99Ms}`);
      // read from /proc in clock ticks: on a machine busy with other work a one-second run can get less than
      // one tick of the generator's or the server's CPU, so zero is a reading, not a failure
      assert.ok(
        Number.isFinite(figures.generatorCpu) && figures.generatorCpu >= 0,
        `generator cpu ${figures.generatorCpu}`,
      );
      assert.ok(Number.isFinite(figures.cpu.server) && figures.cpu.server! >= 0, `server cpu ${figures.cpu.server}`);
      assert.ok(Number.isFinite(figures.cpu.machine) && figures.cpu.machine! > 0, `machine cpu ${figures.cpu.machine}`);
      // and wrk's own check that the address answers, and the probe for the document length
      assert.ok(connections - before <= 4 + 2, `${connections - before} connections for ${figures.completed} requests`);
      if (figures.keepAliveResponses !== null) assert.equal(figures.keepAliveResponses, figures.completed);
    });

    it('without client keepalive, opens a connection for every request', async () => {
      const before = connections;
      const figures = await runGenerator(name, {
        url: `http://127.0.0.1:${port}/`,
        seconds: 1,
        concurrency: 4,
        keepalive: false,
      });
      assert.ok(figures.completed > 0);
      assert.equal(figures.failed, 0);
      assert.ok(
        connections - before >= figures.completed,
        `${connections - before} connections for ${figures.completed} requests`,
      );
    });

    it('counts 500 answers as non-2xx', async () => {
      const figures = await runGenerator(name, {
        url: `http://127.0.0.1:${port}/fail`,
        seconds: 1,
        concurrency: 2,
        keepalive: true,
      });
      assert.ok(figures.completed > 0);
      assert.equal(figures.non2xx, figures.completed);
    });
  });
}

describe('report parsers', () => {
  it('name what is missing from a report they do not recognise', () => {
    assert.throws(
      () => parseAbReport('Benchmarking 127.0.0.1\n', '99,1.5\n'),
      (err: unknown) => err instanceof LoadReportError && /Requests per second/.test(err.message),
    );
    assert.throws(
      () => parseAbReport('Requests per second: 5 [#/sec]\n', '0,1\n'),
      (err: unknown) => err instanceof LoadReportError && /p99/.test(err.message),
    );
    assert.throws(
      () => parseWrkReport('Running 1s test @ http://x/\n'),
      (err: unknown) => err instanceof LoadReportError && /requests in/.test(err.message),
    );
  });
});
