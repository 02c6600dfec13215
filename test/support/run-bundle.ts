/**
 * Runs a shipped handler bundle the way Lambda does: plain `node`, in a directory
 * holding only the asset's files (no node_modules anywhere above it), with the
 * environment Lambda gives (region, temporary credentials) plus endpoint overrides
 * pointing the bundled SDK clients at the fake AWS server.
 *
 * Also drives the aws-cdk-lib Provider framework's contract (onEvent, then
 * isComplete until IsComplete), as its runtime (provider-framework/runtime/framework.js)
 * merges events and results.
 */
import { spawn } from 'child_process';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FAKE_ACCESS_KEY_ID, FAKE_REGION, FAKE_SECRET_ACCESS_KEY } from './fake-aws';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** What Lambda reports for one invocation. */
export interface BundleResult {
  readonly ok: boolean;
  /** The handler's resolved value, JSON round-tripped as Lambda returns it. */
  readonly value?: any;
  readonly errorType?: string;
  readonly errorMessage?: string;
  /** Node's error code, e.g. MODULE_NOT_FOUND. */
  readonly errorCode?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface RunBundleOptions {
  /** The fake AWS base URL; every AWS endpoint of the child points at it. */
  readonly endpoint?: string;
  /** AWS_MAX_ATTEMPTS; default 1, so an injected error reaches the handler instead of the SDK's retry. */
  readonly maxAttempts?: number;
  /** Kills the child after this long; default 30 s. */
  readonly timeoutMs?: number;
  readonly env?: Record<string, string>;
}

/** A failed invocation, with the child's output for the test report. */
export class BundleError extends Error {
  constructor(readonly result: BundleResult) {
    super(result.errorMessage ?? 'handler failed');
    this.name = result.errorType ?? 'Error';
  }
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    // The generated *-function.ts constructs are not part of any bundle.
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') && !entry.name.endsWith('-function.ts') ? [full] : [];
  });
}

/** `<asset file>#<entry>`: the function of a shared asset that runs one entry (HANDLER_ENTRY). */
const ENTRY_SEPARATOR = '#';

/**
 * The function that runs `src/handlers/<dir>/<name>.lambda.ts`, as `npx projen bundle`
 * builds it: the provider's one asset (`assets/handlers/<dir>/handler/index.js`) with
 * HANDLER_ENTRY=<name>, written `<file>#<name>` for runBundle. Throws with the fix
 * when it has not been built.
 */
export function bundleFile(dir: string, name: string): string {
  const file = assetFile(dir);
  if (!fs.existsSync(path.join(REPO_ROOT, 'src', 'handlers', dir, `${name}.lambda.ts`))) {
    throw new Error(`src/handlers/${dir} has no entry ${name}.lambda.ts`);
  }
  return `${file}${ENTRY_SEPARATOR}${name}`;
}

/**
 * The one asset of the provider whose handlers are `src/handlers/<dir>/*.lambda.ts`,
 * as `npx projen bundle` builds it. Throws with the fix when it is missing or older
 * than the handler sources (it would test code that no longer exists).
 */
export function assetFile(dir: string): string {
  const file = path.join(REPO_ROOT, 'assets', 'handlers', dir, 'handler', 'index.js');
  if (!fs.existsSync(file)) {
    throw new Error(`${path.relative(REPO_ROOT, file)} does not exist: run \`npx projen bundle\` before these tests`);
  }
  const built = fs.statSync(file).mtimeMs;
  const newer = sourceFiles(path.join(REPO_ROOT, 'src', 'handlers')).filter((src) => fs.statSync(src).mtimeMs > built);
  if (newer.length > 0) {
    throw new Error(`${path.relative(REPO_ROOT, file)} is older than ${path.relative(REPO_ROOT, newer[0])}: run \`npx projen bundle\` before these tests`);
  }
  return file;
}

/** The asset file, and the environment that picks the entry (none for a plain file). */
function splitEntry(file: string): { file: string; env: Record<string, string> } {
  const at = file.lastIndexOf(ENTRY_SEPARATOR);
  return at < 0 ? { file, env: {} } : { file: file.slice(0, at), env: { HANDLER_ENTRY: file.slice(at + 1) } };
}

/**
 * Lambda's runtime, reduced to what a handler can observe: require the entry file,
 * call handler(event, context), report the value or the error. Written into the
 * asset directory so that module resolution starts there and finds nothing.
 */
const RUNNER = `'use strict';
const fs = require('fs');
const path = require('path');
const entry = path.join(__dirname, process.argv[2]);
const resultFile = process.argv[3];
const started = Date.now();
const context = {
  functionName: 'bundle-test', functionVersion: '$LATEST', memoryLimitInMB: '256',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bundle-test',
  awsRequestId: process.env.BUNDLE_TEST_INVOCATION_ID, logGroupName: '/aws/lambda/bundle-test', logStreamName: 'local',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, 900000 - (Date.now() - started)),
};
function done(result) {
  fs.writeFileSync(resultFile, JSON.stringify(result));
  // Lambda returns once the promise settles; open keep-alive sockets must not hold the process.
  process.exit(0);
}
let raw = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { raw += chunk; });
process.stdin.on('end', () => {
  Promise.resolve()
    .then(() => {
      const mod = require(entry);
      if (typeof mod.handler !== 'function') throw new TypeError(process.argv[2] + ' exports no handler function');
      return mod.handler(JSON.parse(raw), context);
    })
    .then(
      (value) => done({ ok: true, value: value === undefined ? null : JSON.parse(JSON.stringify(value)) }),
      (err) => done({
        ok: false,
        errorType: (err && (err.name || (err.constructor && err.constructor.name))) || 'Error',
        errorMessage: err && err.message !== undefined ? String(err.message) : String(err),
        errorCode: err && typeof err.code === 'string' ? err.code : undefined,
      }),
    );
});
`;

/**
 * Runs `handler(event)` of a bundle file in a child `node`: the file's directory
 * (the Lambda asset) is copied into a fresh temp directory, whose parents hold no
 * node_modules, and loaded from there. Resolves with what Lambda would report.
 */
export async function runBundle(fileAndEntry: string, event: unknown, options: RunBundleOptions = {}): Promise<BundleResult> {
  const { file, env: entryEnv } = splitEntry(fileAndEntry);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-task-'));
  try {
    const assetDir = path.dirname(file);
    for (const entry of fs.readdirSync(assetDir, { withFileTypes: true })) {
      if (entry.isFile()) fs.copyFileSync(path.join(assetDir, entry.name), path.join(dir, entry.name));
    }
    const runner = path.join(dir, '__lambda_runtime.cjs');
    fs.writeFileSync(runner, RUNNER);
    const resultFile = path.join(dir, '__result.json');
    const endpoint = options.endpoint ?? 'http://127.0.0.1:9';
    // Built from scratch, not from process.env: no NODE_PATH, NODE_OPTIONS, AWS_PROFILE or jest settings leak in.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      TMPDIR: dir,
      LANG: 'en_US.UTF-8',
      TZ: 'UTC',
      LAMBDA_TASK_ROOT: dir,
      AWS_LAMBDA_FUNCTION_NAME: 'bundle-test',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
      AWS_REGION: FAKE_REGION,
      AWS_DEFAULT_REGION: FAKE_REGION,
      // Lambda hands out temporary credentials, so a session token is signed too.
      AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
      AWS_SESSION_TOKEN: 'FakeSessionTokenForBundleTests',
      AWS_ENDPOINT_URL_EC2: endpoint,
      AWS_ENDPOINT_URL_IMAGEBUILDER: endpoint,
      // SDK v3 reads AWS_ENDPOINT_URL_<serviceId>, upper-cased, spaces as underscores
      // (@smithy/core getEndpointUrlConfig): serviceId "SFN" and "CloudFormation".
      AWS_ENDPOINT_URL_SFN: endpoint,
      AWS_ENDPOINT_URL_CLOUDFORMATION: endpoint,
      // Any other service also lands on the fake, which reports it, instead of the internet.
      AWS_ENDPOINT_URL: endpoint,
      AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: String(options.maxAttempts ?? 1),
      BUNDLE_TEST_INVOCATION_ID: randomUUID(),
      // What the function's generated construct sets: the entry of the shared asset it runs.
      ...entryEnv,
      ...options.env,
    };
    const started = Date.now();
    const { stdout, stderr, exit } = await spawnNode(
      [runner, path.basename(file), resultFile], dir, env, JSON.stringify(event), options.timeoutMs ?? 30_000,
    );
    const durationMs = Date.now() - started;
    if (!fs.existsSync(resultFile)) {
      return {
        ok: false, errorType: 'Runtime.ExitError', errorMessage: `node exited (${exit}) without a result\n${stderr}`, stdout, stderr, durationMs,
      };
    }
    return { ...JSON.parse(fs.readFileSync(resultFile, 'utf8')), stdout, stderr, durationMs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function spawnNode(
  args: string[], cwd: string, env: Record<string, string>, stdin: string, timeoutMs: number,
): Promise<{ stdout: string; stderr: string; exit: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exit: signal ? `signal ${signal}${signal === 'SIGKILL' ? `, killed after ${timeoutMs} ms` : ''}` : `code ${code}` });
    });
    child.stdin.end(stdin);
  });
}

/**
 * The handler's value; a BundleError (errorMessage as message) when it failed.
 * Also fails when the handler logged the event's ResponseURL (a presigned URL).
 */
export async function invokeBundle(file: string, event: any, options: RunBundleOptions = {}): Promise<any> {
  const result = await runBundle(file, event, options);
  const responseUrl = event?.ResponseURL;
  if (typeof responseUrl === 'string' && responseUrl !== '' && (result.stdout + result.stderr).includes(responseUrl)) {
    throw new Error(`${path.relative(REPO_ROOT, file)} logged the ResponseURL (a presigned URL):\n${result.stdout}${result.stderr}`);
  }
  if (!result.ok) throw new BundleError(result);
  return result.value;
}

// ---------------------------------------------------------------- Provider framework contract

/** A presigned-looking URL: tests check that no handler logs it. */
export const RESPONSE_URL = 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation?X-Amz-Signature=do-not-log-me-5f2c';

export interface CfnEventOptions {
  readonly requestId?: string;
  readonly physicalResourceId?: string;
  readonly oldResourceProperties?: Record<string, unknown>;
  readonly logicalResourceId?: string;
  readonly resourceType?: string;
}

/** A CloudFormation custom resource event as the Provider framework passes it on (ResponseURL included). */
export function cfnEvent(
  requestType: 'Create' | 'Update' | 'Delete', properties: Record<string, unknown>, options: CfnEventOptions = {},
): Record<string, any> {
  if (requestType !== 'Create' && !options.physicalResourceId) throw new Error(`${requestType} needs a physicalResourceId`);
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider-framework-onEvent',
    ResponseURL: RESPONSE_URL,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/bundle-test/8f1f3c10-0000-4000-8000-000000000001',
    RequestId: options.requestId ?? randomUUID(),
    LogicalResourceId: options.logicalResourceId ?? 'Resource',
    ResourceType: options.resourceType ?? 'Custom::Test',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider-framework-onEvent', ...properties },
    ...(options.physicalResourceId ? { PhysicalResourceId: options.physicalResourceId } : {}),
    ...(options.oldResourceProperties
      ? { OldResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider-framework-onEvent', ...options.oldResourceProperties } }
      : {}),
  };
}

/**
 * The event the framework hands isComplete: the request merged with onEvent's
 * result, PhysicalResourceId defaulted as the framework does.
 */
export function isCompleteEvent(request: Record<string, any>, onEventResult: Record<string, any> | null): Record<string, any> {
  const result = onEventResult ?? {};
  const physicalResourceId = result.PhysicalResourceId
    || (request.RequestType === 'Create' ? request.RequestId : request.PhysicalResourceId);
  return { ...request, ...result, PhysicalResourceId: physicalResourceId };
}

export interface WaitResult {
  /** The final response the framework sends CloudFormation: event, result, merged Data. */
  readonly response: Record<string, any>;
  /** Every isComplete result, in order. */
  readonly polls: Array<Record<string, any>>;
}

/**
 * Calls isComplete until IsComplete, at most `maxPolls` times, enforcing the
 * framework's rule that Data comes only with IsComplete true. A handler error
 * rejects (the framework then reports FAILED).
 */
export async function waitUntilComplete(
  isCompleteFile: string, event: Record<string, any>, options: RunBundleOptions & { maxPolls?: number } = {},
): Promise<WaitResult> {
  const maxPolls = options.maxPolls ?? 10;
  const polls: Array<Record<string, any>> = [];
  for (let i = 0; i < maxPolls; i++) {
    const result = await invokeBundle(isCompleteFile, event, options);
    polls.push(result);
    if (result?.IsComplete === true) {
      return { response: { ...event, ...result, Data: { ...event.Data, ...result.Data } }, polls };
    }
    if (result?.IsComplete !== false) throw new Error(`isComplete returned no boolean IsComplete: ${JSON.stringify(result)}`);
    if (result.Data && Object.keys(result.Data).length > 0) throw new Error('"Data" is not allowed if "IsComplete" is "False"');
  }
  throw new Error(`not complete after ${maxPolls} polls: ${JSON.stringify(polls)}`);
}
