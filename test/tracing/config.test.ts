import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULTS, resolveConfig } from '../../src/config/server-config.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-tracing-config-'));
let files = 0;

function file(content: unknown): string {
  const path = join(dir, `config-${files++}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

describe('the tracing settings', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('are off by default', () => {
    assert.deepEqual(DEFAULTS.tracing, { endpoint: null, serviceName: 'cosocket', sampleRatio: 1 });
  });

  it('come from the config file, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_SERVICE_NAME', async () => {
    const fromFile = await resolveConfig({
      file: file({ tracing: { endpoint: 'http://collector:4318/v1/traces', serviceName: 'api', sampleRatio: '0.25' } }),
    });
    assert.deepEqual(fromFile.tracing, {
      endpoint: 'http://collector:4318/v1/traces',
      serviceName: 'api',
      sampleRatio: 0.25,
    });
    const fromEnv = await resolveConfig({
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/traces', OTEL_SERVICE_NAME: 'env-name' },
    });
    assert.equal(fromEnv.tracing.endpoint, 'https://c/traces');
    assert.equal(fromEnv.tracing.serviceName, 'env-name');
  });

  it('take OTEL_EXPORTER_OTLP_ENDPOINT as a base URL, below an endpoint set otherwise', async () => {
    const base = await resolveConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' } });
    assert.equal(base.tracing.endpoint, 'http://collector:4318/v1/traces');
    assert.ok(Object.isFrozen(base.tracing));
    const both = await resolveConfig({
      file: file({ tracing: { endpoint: 'http://own:4318/v1/traces' } }),
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' },
    });
    assert.equal(both.tracing.endpoint, 'http://own:4318/v1/traces');
  });

  it('refuse a bad value, naming the key or the variable', async () => {
    await assert.rejects(
      resolveConfig({ file: file({ tracing: { endpoint: 'collector:4318' } }) }),
      /'tracing\.endpoint' must be an http:\/\/ or https:\/\/ URL, got "collector:4318"/,
    );
    await assert.rejects(
      resolveConfig({ file: file({ tracing: { sampleRatio: 1.5 } }) }),
      /'tracing\.sampleRatio' must be a number from 0 to 1, got 1\.5/,
    );
    await assert.rejects(
      resolveConfig({ file: file({ tracing: { serviceName: ' ' } }) }),
      /'tracing\.serviceName' must not be empty/,
    );
    await assert.rejects(
      resolveConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'nope' } }),
      /OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL, got "nope"/,
    );
    await assert.rejects(
      resolveConfig({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'nope' } }),
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:\/\/ or https:\/\/ URL/,
    );
  });

  it('a bad one stops cosocket serve before it starts: exit 2, the variable named', async () => {
    const result = await runCli(['serve', '--port', '0', '--redis', 'redis://127.0.0.1:1'], {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'nope',
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL/);
  });
});
