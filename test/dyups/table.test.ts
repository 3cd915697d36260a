import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StateFileError, loadState } from '../../src/dyups/state-file.js';
import { UpstreamTable } from '../../src/dyups/table.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-dyups-'));

describe('dyups table and state file', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates, replaces and deletes groups, answering like ngx.dyups', () => {
    const table = new UpstreamTable({ stateFile: null });
    const changes: string[] = [];
    table.onChange((name, group) => changes.push(`${name}:${group === null ? 'deleted' : group.servers.length}`));
    assert.deepEqual(table.update('app', 'server 127.0.0.1:1; server 127.0.0.1:2;'), {
      status: 200,
      message: 'success',
    });
    assert.deepEqual(table.update('app', 'server 127.0.0.1:3;'), { status: 200, message: 'success' });
    assert.equal(table.get('app')!.servers[0]!.address, '127.0.0.1:3');
    assert.deepEqual(table.delete('app'), { status: 200, message: 'success' });
    assert.deepEqual(table.delete('app'), { status: 404, message: "upstream 'app' not found" });
    assert.deepEqual(changes, ['app:2', 'app:1', 'app:deleted']);
    assert.equal(table.version, 3);
  });

  it('refuses a bad body, an empty body and a bad name without touching the live group', () => {
    const table = new UpstreamTable({ stateFile: null });
    table.update('app', 'server 127.0.0.1:1;');
    const bad = table.update('app', 'server 127.0.0.1:1 weight=x;');
    assert.equal(bad.status, 400);
    assert.match(bad.message, /whole number .* at 'x'/);
    assert.equal(table.update('app', '   ').status, 400);
    assert.equal(table.update('bad name!', 'server a:1;').status, 400);
    assert.equal(table.get('app')!.servers[0]!.address, '127.0.0.1:1');
    assert.equal(table.version, 1);
  });

  it('persists every accepted change atomically, and a restart loads exactly what was acknowledged', () => {
    const file = join(dir, 'state.conf');
    const table = new UpstreamTable({ stateFile: file });
    table.update('b-app', 'least_conn; server 10.0.0.2:80 weight=3; server 10.0.0.3:80 backup; keepalive 16;');
    table.update('a-app', 'server 10.0.0.1:80;');
    table.update('c-app', 'server 10.0.0.9:80;');
    table.delete('c-app');
    table.update('b-app', 'server 10.0.0.4:8080 max_fails=3 fail_timeout=30s;');
    table.update('b-app', 'server broken weight=0;'); // refused: must not reach the file
    const reloaded = new UpstreamTable({ stateFile: file }, loadState(file));
    assert.deepEqual(
      reloaded
        .all()
        .map((g) => g.name)
        .sort(),
      ['a-app', 'b-app'],
    );
    assert.deepEqual(reloaded.get('b-app'), table.get('b-app'));
    assert.equal((statSync(file).mode & 0o777).toString(8), '600');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
      'temp files left behind',
    );
    assert.match(readFileSync(file, 'utf8'), /^# cosocket dyups state/);
  });

  it('answers 500 and changes nothing when the change cannot be persisted', () => {
    const table = new UpstreamTable({ stateFile: join(dir, 'no', 'such', 'dir', 'state.conf') });
    const result = table.update('app', 'server 127.0.0.1:1;');
    assert.equal(result.status, 500);
    assert.match(result.message, /could not persist the change \(nothing was changed\)/);
    assert.equal(table.get('app'), undefined);
  });

  it('refuses a corrupt or truncated state file with the file, the line and the reason, leaving it as it is', () => {
    const cases: Array<[string, RegExp]> = [
      [
        'upstream ok {\n  server a:1;\n}\nupstream bad {\n  server a:1 weight=zero;\n}\n',
        /line 5: upstream 'bad': expected a whole number .* at 'zero'/,
      ],
      ['upstream cut {\n  server a:1;\n', /line 1: upstream 'cut' is not closed/],
      ['garbage here\n', /line 1: expected 'upstream NAME \{', found 'garbage'/],
      ['upstream twice { server a:1; }\nupstream twice { server b:1; }\n', /line 2: upstream 'twice' appears twice/],
    ];
    for (const [text, pattern] of cases) {
      const file = join(dir, `broken-${Math.random().toString(16).slice(2)}.conf`);
      writeFileSync(file, text);
      assert.throws(
        () => loadState(file),
        (err: unknown) => err instanceof StateFileError && pattern.test(err.message) && err.message.includes(file),
      );
      assert.equal(readFileSync(file, 'utf8'), text, 'the state file must be left as it is');
    }
    assert.deepEqual(loadState(join(dir, 'missing.conf')), []);
  });
});
