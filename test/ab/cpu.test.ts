import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BOUND_SHARE, ThreadCpu, boundLine } from '../../src/ab/cpu.js';
import type { CpuReport } from '../../src/ab/cpu.js';

const thread = (name: string, share: number, loopUtilisation: number): CpuReport => ({
  thread: name,
  cpuSeconds: share,
  wallSeconds: 1,
  share,
  loopUtilisation,
});

describe('the load threads CPU', () => {
  it("reads this thread's own CPU while it works", async () => {
    const cpu = new ThreadCpu('main');
    const until = Date.now() + 10_000;
    let report = cpu.report();
    while (report.cpuSeconds < 0.03 && Date.now() < until) {
      for (let i = 0; i < 1e6; i++) Math.sqrt(i);
      // the loop's utilisation counts a slice of work once the loop has turned (Node 22; Node 20 counts it at once)
      await new Promise((resolve) => setImmediate(resolve));
      report = cpu.report();
    }
    assert.ok(report.cpuSeconds >= 0.03, `CPU seconds ${report.cpuSeconds}`);
    assert.equal(report.thread, 'main');
    assert.ok(report.loopUtilisation > 0);
  });

  it('says the load generator bounded the figure when a thread reached 90% of a core or of its loop', () => {
    assert.equal(boundLine([thread('main', 0.5, 0.6)]), null);
    assert.equal(boundLine([]), null);
    const byCpu = boundLine([thread('worker 1', 0.4, 0.5), thread('worker 2', BOUND_SHARE, 0.5)]);
    assert.match(byCpu ?? '', /^Bounded by the load generator: .*worker 2: CPU 90% of one core, event loop busy 50%/);
    const byLoop = boundLine([thread('main', 0.52, 0.92)]);
    assert.match(byLoop ?? '', /main: CPU 52% of one core, event loop busy 92%.*--workers N/);
  });
});
