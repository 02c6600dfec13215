import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runBundle } from './run-bundle';

jest.setTimeout(30_000);

const made: string[] = [];

/** A one-file "bundle" in its own temp directory, run through the same runner as the real ones. */
function tinyBundle(source: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-bundle-'));
  made.push(dir);
  const file = path.join(dir, 'index.js');
  fs.writeFileSync(file, source);
  return file;
}

afterAll(() => {
  made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }));
});

describe('runBundle isolation', () => {
  test('a bundle that needs a module it does not contain fails with MODULE_NOT_FOUND', async () => {
    // Control: the module IS installed for the project, so only the isolation can hide it.
    expect(() => require.resolve('aws-sdk-client-mock')).not.toThrow();
    const file = tinyBundle("const mock = require('aws-sdk-client-mock');\nexports.handler = async () => typeof mock;\n");
    const result = await runBundle(file, {});
    expect(result.ok).toBe(false);
    expect(result.errorCode).toBe('MODULE_NOT_FOUND');
    expect(result.errorMessage).toContain("Cannot find module 'aws-sdk-client-mock'");
  });

  test('the child sees Lambda-like settings and nothing of the test process', async () => {
    const file = tinyBundle(`const fs = require('fs');
exports.handler = async (event, context) => ({
  event,
  requestId: context.awsRequestId,
  nodePath: process.env.NODE_PATH ?? null,
  nodeOptions: process.env.NODE_OPTIONS ?? null,
  jest: Object.keys(process.env).filter((k) => k.startsWith('JEST')),
  region: process.env.AWS_REGION,
  maxAttempts: process.env.AWS_MAX_ATTEMPTS,
  endpoints: [process.env.AWS_ENDPOINT_URL_EC2, process.env.AWS_ENDPOINT_URL_IMAGEBUILDER],
  reachableNodeModules: module.paths.filter((p) => fs.existsSync(p)),
});
`);
    const result = await runBundle(file, { hello: 'world' }, { endpoint: 'http://127.0.0.1:1234' });
    expect(result.ok).toBe(true);
    expect(result.value).toMatchObject({
      event: { hello: 'world' },
      nodePath: null,
      nodeOptions: null,
      jest: [],
      region: 'us-east-1',
      maxAttempts: '1',
      endpoints: ['http://127.0.0.1:1234', 'http://127.0.0.1:1234'],
      reachableNodeModules: [],
    });
    expect(result.value.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('errors are reported as Lambda reports them, and a hung handler is killed', async () => {
    const failing = tinyBundle("exports.handler = async () => { const e = new Error('boom'); e.name = 'CustomError'; throw e; };\n");
    expect(await runBundle(failing, {})).toMatchObject({ ok: false, errorType: 'CustomError', errorMessage: 'boom' });

    const hung = tinyBundle('exports.handler = () => new Promise(() => setInterval(() => undefined, 1000));\n');
    const result = await runBundle(hung, {}, { timeoutMs: 500 });
    expect(result.ok).toBe(false);
    expect(result.errorMessage).toContain('killed after 500 ms');
  });
});
