import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CancelledError, Scheduler, file, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';

const scheduler = new Scheduler({ name: 'file-tests' });
const dir = mkdtempSync(join(tmpdir(), 'cosocket-file-'));

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('file adapter', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads, writes and stats files', async () => {
    const path = join(dir, 'a.txt');
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      yield* file.write(path, 'hello file');
      const content = (yield* file.read(path)).toString();
      const info = yield* file.stat(path);
      return [content, info.size, info.isFile()];
    });
    assert.deepEqual(got, ['hello file', 10, true]);
    assert.equal(readFileSync(path, 'utf8'), 'hello file');
  });

  it('writes pieces at a position and reads them back on the calling thread (writeNow, readNow)', async () => {
    const path = join(dir, 'now.bin');
    const got = await scheduler.go(function* (): Operation<string[]> {
      const f = yield* file.open(path, 'w+', 0o600);
      f.writeNow([Buffer.from('abc'), Buffer.from('defg')], 0);
      f.writeNow([Buffer.from('XY')], 10);
      const into = Buffer.alloc(16);
      const whole = f.readNow(into, 16, 0);
      const part = into.toString('latin1', 0, whole);
      const middle = Buffer.alloc(4);
      const n = f.readNow(middle, 4, 2);
      return [part, middle.toString('latin1', 0, n), String(whole)];
    });
    assert.deepEqual(got, ['abcdefg\0\0\0XY', 'cdef', '12']);
  });

  it('opens a file and reads it in pieces at positions', async () => {
    const path = join(dir, 'b.txt');
    writeFileSync(path, '0123456789');
    const got = await scheduler.go(function* (): Operation<string[]> {
      const f = yield* file.open(path);
      const first = (yield* f.read(4)).toString();
      const next = (yield* f.read(4)).toString();
      const at = (yield* f.read(3, 1)).toString();
      const tail = (yield* f.read(100)).toString();
      const end = (yield* f.read(10)).length;
      yield* f.close();
      return [first, next, at, tail, String(end)];
    });
    assert.deepEqual(got, ['0123', '4567', '123', '89', '0']);
  });

  it('closes a handle its coroutine forgot, when the coroutine ends', async () => {
    const path = join(dir, 'c.txt');
    writeFileSync(path, 'x');
    const baseline = openFds();
    await scheduler.go(function* () {
      const f = yield* file.open(path);
      yield* f.read(1);
      assert.equal(openFds(), baseline + 1);
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(openFds(), baseline);
  });

  it('closes the handle when the coroutine is cancelled while holding it', async () => {
    const path = join(dir, 'd.txt');
    writeFileSync(path, 'x');
    const baseline = openFds();
    const task = scheduler.go(function* () {
      yield* file.open(path);
      yield* sleep(60_000);
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(openFds(), baseline + 1);
    task.cancel();
    await assert.rejects(task, CancelledError);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(openFds(), baseline);
  });

  it("passes Node's errors with their code, and refuses bad paths and oversized reads", async () => {
    await assert.rejects(
      scheduler.go(function* () {
        yield* file.read(join(dir, 'missing'));
      }),
      (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT',
    );
    assert.throws(() => file.read('a\0b'), /without NUL bytes/);
    const big = join(dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(1000));
    await assert.rejects(
      scheduler.go(function* () {
        yield* file.read(big, { maxBytes: 100 });
      }),
      /1000 bytes, more than 100/,
    );
  });
});
