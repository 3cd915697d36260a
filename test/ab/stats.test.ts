import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCsv } from '../../src/ab/report.js';
import { SampleLog } from '../../src/ab/samples.js';
import { abStats, percentiles, roundMs } from '../../src/ab/stats.js';

function log(rows: [number, number, number, number][]): SampleLog {
  const samples = new SampleLog(2); // grows past its capacity
  for (const [start, ctime, time, wait] of rows) samples.push(start, ctime, time, wait);
  return samples;
}

describe("ab's statistics", () => {
  it("means truncate, medians follow ab's odd-count rule, sd is the sample deviation", () => {
    // totals 1000, 2000, 4000 µs: ab's median of an odd count is the mean of the values at n/2 and n/2+1
    const stats = abStats(
      log([
        [0, 100, 1000, 500],
        [0, 300, 4000, 900],
        [0, 200, 2000, 700],
      ]),
    )!;
    assert.deepEqual(
      { min: stats.total.min, mean: stats.total.mean, median: stats.total.median, max: stats.total.max },
      { min: 1000, mean: 2333, median: 3000, max: 4000 },
    );
    assert.equal(stats.connect.median, 250);
    assert.equal(stats.processing.min, 900);
    assert.equal(stats.waiting.max, 900);
    assert.ok(
      Math.abs(stats.total.sd - Math.sqrt(((1000 - 2333) ** 2 + (2000 - 2333) ** 2 + (4000 - 2333) ** 2) / 2)) < 1e-9,
    );
  });

  it('rounds microseconds to milliseconds half up and indexes percentiles as ab does', () => {
    assert.equal(roundMs(1499), 1);
    assert.equal(roundMs(1500), 2);
    const rows: [number, number, number, number][] = Array.from({ length: 10 }, (_, i) => [0, 0, (i + 1) * 1000, 0]);
    const stats = abStats(log(rows))!;
    const pct = percentiles(stats.totals);
    assert.equal(pct['50'], 6); // index 10 * 50 / 100 = 5: the sixth value
    assert.equal(pct['99'], 10);
    assert.equal(pct['100'], 10);
  });

  it('-e: a header, 101 rows, %d,%.3f; the last sample stands in where ab reads past its array', () => {
    const csv = formatCsv(
      abStats(
        log([
          [0, 0, 1234, 0],
          [0, 0, 5678, 0],
        ]),
      )!,
    ).split('\n');
    assert.equal(csv[0], 'Percentage served,Time in ms');
    assert.equal(csv.length, 103); // 101 rows and the final newline
    assert.equal(csv[1], '0,1.234');
    assert.equal(csv[100], '99,5.678');
    assert.equal(csv[101], '100,5.678');
  });
});
