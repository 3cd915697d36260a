import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadSpace, READ_SIZE, readBufferStats } from '../../adapters/tcp/read-space.js';

/** Simulates libuv filling `bytes` of the space: returns the view the queue would hold. */
function read(space: ReadSpace, bytes: number): Buffer {
  const target = space.next();
  const filled = target.subarray(0, bytes);
  space.filled(bytes);
  return filled;
}

const nothingQueued = (): boolean => false;

describe('ReadSpace: where reads land and when their memory may be reused', () => {
  it('puts small reads one after another in the same buffer, and starts a new one when less than 16 KB is left', () => {
    const space = new ReadSpace();
    const a = read(space, 1000);
    const b = read(space, 2000);
    assert.equal(a.buffer, b.buffer, 'small reads share a buffer');
    assert.equal(b.byteOffset, a.byteOffset + 1000, 'and never overlap');
    read(space, READ_SIZE - 3000 - 10 * 1024); // leaves 10 KB
    assert.notEqual(space.next().buffer, a.buffer, 'a read needs at least 16 KB of room');
  });

  it('returns a lent buffer to the free list only once it is retired, given back in full, and no longer queued', () => {
    const space = new ReadSpace();
    space.setLending(true, nothingQueued);
    read(space, READ_SIZE); // fills the buffer that was current before lending: never lendable
    const first = read(space, 20 * 1024);
    const second = read(space, 10 * 1024); // same lendable buffer, 34 KB left in it
    assert.equal(first.buffer, second.buffer);
    space.lend(first);
    space.lend(second);
    const before = readBufferStats().returned;
    space.giveBack(first, nothingQueued);
    space.giveBack(second, nothingQueued);
    assert.equal(readBufferStats().returned, before, 'reads still land in it: not reusable yet');
    read(space, READ_SIZE - 30 * 1024); // fills it: retired, the next read goes elsewhere
    assert.notEqual(space.next().buffer, first.buffer);
    // its last piece comes back while the queue still holds some of its bytes
    space.lend(first); // a piece lent again from it (as a parser would)
    space.giveBack(first, (memory) => memory === first.buffer);
    assert.equal(readBufferStats().returned, before, 'bytes of it still queued: not reusable');
  });

  it('keeps a buffer whose bytes a held read took off the queue from reuse until they are lent and given back', () => {
    // a proxy's body read takes its piece off the queue in the socket's callback and lends it when the
    // coroutine resumes; a sized body's last read also stops lending first. Recycled in between, the
    // memory served another connection's read while the piece was still being written: a corrupt tail.
    const space = new ReadSpace();
    space.setLending(true, nothingQueued);
    read(space, READ_SIZE); // the pre-lending buffer
    const earlier = read(space, READ_SIZE / 2);
    space.lend(earlier);
    const last = read(space, READ_SIZE / 2); // fills the lendable buffer: retired
    const before = readBufferStats().returned;
    space.hold(); // the read that took `last` has not resumed yet
    space.giveBack(earlier, nothingQueued); // a write of the earlier piece completes meanwhile
    space.setLending(false, nothingQueued); // and the body's end stops lending
    assert.equal(readBufferStats().returned, before, 'held: `last` is neither queued nor lent, yet in use');
    space.lend(last);
    space.unhold(nothingQueued);
    assert.equal(readBufferStats().returned, before, 'lent: still in use until its write completes');
    space.giveBack(last, nothingQueued);
    assert.equal(readBufferStats().returned, before + 1, 'given back: reusable now');
  });

  it('returns, at unhold, a buffer whose turn came while a read was held', () => {
    const space = new ReadSpace();
    space.setLending(true, nothingQueued);
    read(space, READ_SIZE);
    const piece = read(space, READ_SIZE);
    space.lend(piece);
    const before = readBufferStats().returned;
    space.hold();
    space.giveBack(piece, nothingQueued);
    assert.equal(readBufferStats().returned, before);
    space.unhold(nothingQueued);
    assert.equal(readBufferStats().returned, before + 1);
  });

  it('recycles a retired buffer whose pieces all came back, and hands it to the next lending read', () => {
    const space = new ReadSpace();
    space.setLending(true, nothingQueued);
    read(space, READ_SIZE); // the pre-lending buffer
    const piece = read(space, READ_SIZE); // a whole lendable buffer; the next read retires it
    space.lend(piece);
    const before = readBufferStats();
    space.giveBack(piece, nothingQueued);
    const after = readBufferStats();
    assert.equal(after.returned, before.returned + 1);
    // the space took a fresh buffer for its current read before this one came back; the one after reuses it
    read(space, READ_SIZE);
    assert.equal(space.next().buffer, piece.buffer, 'the recycled buffer serves a later read');
    assert.equal(readBufferStats().reused, after.reused + 1);
  });

  it('never recycles, once lending stops, the buffer reads still land in or one whose bytes are queued', () => {
    const space = new ReadSpace();
    space.setLending(true, nothingQueued);
    read(space, READ_SIZE);
    const current = read(space, 1000); // lendable, still the read target
    space.lend(current);
    space.setLending(false, nothingQueued);
    const before = readBufferStats().returned;
    space.giveBack(current, nothingQueued);
    assert.equal(readBufferStats().returned, before, 'whoever reads next may keep views of its rest');
    assert.equal(space.next().buffer, current.buffer, 'reads go on into its rest');
  });
});
