import { createHash } from 'crypto';

/**
 * CloudFormation rejects a response over 4096 bytes; the Reason, the ids, Data
 * and the framework's own additions (its "Logs:" line, a stack trace) share that
 * budget. Service messages are cut to this many UTF-8 BYTES: AWS messages can be
 * multi-byte, and a cut by characters could overflow the response.
 */
export const MAX_MESSAGE_LENGTH = 1000;

/** Cuts a message to at most `maxBytes` UTF-8 bytes, on a character boundary. */
export function truncate(message: string, maxBytes: number = MAX_MESSAGE_LENGTH): string {
  if (Buffer.byteLength(message, 'utf8') <= maxBytes) return message;
  const ellipsis = '...';
  let bytes = 0;
  let end = 0;
  // Iterating a string walks code points, so a surrogate pair is never split.
  for (const char of message) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes - ellipsis.length) break;
    bytes += size;
    end += char.length;
  }
  return `${message.slice(0, end)}${ellipsis}`;
}

/** The fields of a custom resource event that identify one request. */
export interface RequestIdentity {
  readonly StackId: string;
  readonly LogicalResourceId: string;
  readonly RequestId: string;
}

/**
 * An idempotency token derived from the request, so that a retried invocation
 * of the same request (same RequestId) sends the same token and AWS returns the
 * first result instead of starting the work twice. UUID-shaped: 36 characters,
 * within every client token limit the handlers meet (Image Builder: 36).
 */
export function clientToken(event: RequestIdentity, purpose: string): string {
  const hex = createHash('sha256')
    .update([purpose, event.StackId, event.LogicalResourceId, event.RequestId].join('\n'))
    .digest('hex');
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20, 32)].join('-');
}

/** The error code the SDK reports (`name`), or `Code` on older shapes. */
export function errorName(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string } | undefined;
  return e?.name ?? e?.Code ?? e?.code ?? 'Error';
}

/** The service's own message, without a stack trace. */
export function errorMessage(err: unknown): string {
  const e = err as { message?: string } | undefined;
  return e?.message ?? String(err);
}

const THROTTLING_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  // Image Builder's throttling error (HTTP 429).
  'CallRateLimitExceededException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServerException',
  'ServiceException',
  'ServiceFailure',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/**
 * Whether an error is worth waiting out: throttling, a 5xx, or a network
 * failure. A poll that meets one reports "not complete yet" instead of failing.
 */
export function isTransient(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; code?: string } | undefined;
  if (THROTTLING_CODES.has(errorName(err))) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  if (e?.$retryable) return true;
  return ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'].includes(e?.code ?? '');
}

/**
 * An error for the CloudFormation event list: the call that failed (and on what),
 * with AWS's own code and message, cut so the response stays under 4096 bytes.
 */
export function awsFailure(action: string, err: unknown, subject?: string): Error {
  return new Error(truncate(`${action} failed${subject ? ` for ${subject}` : ''}: ${errorName(err)}: ${errorMessage(err)}`));
}

/**
 * The tag changes from `oldTags` to `newTags`: keys to add or change, keys to
 * remove. Sending only these keeps unchanged tags from costing a call.
 */
export function diffTags(
  oldTags: Record<string, string> | undefined,
  newTags: Record<string, string> | undefined,
): { toSet: Record<string, string>; toRemove: string[] } {
  const before = oldTags ?? {};
  const after = newTags ?? {};
  // Own keys only: a tag named "constructor" or "toString" is a tag like any other.
  const has = (tags: object, key: string) => Object.prototype.hasOwnProperty.call(tags, key);
  // fromEntries defines own properties, so even "__proto__" stays a plain key.
  const toSet = Object.fromEntries(Object.entries(after).filter(([key, value]) => !has(before, key) || before[key] !== value));
  const toRemove = Object.keys(before).filter((key) => !has(after, key));
  return { toSet, toRemove };
}

/** Parses a boolean custom resource property ("true"/"false"), with a default. */
export function parseBoolean(value: string | boolean | undefined, defaultValue: boolean): boolean {
  if (value === undefined || value === '') return defaultValue;
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`expected "true" or "false", got ${JSON.stringify(value)}`);
}

/** Parses an integer custom resource property ("3600"), with a default. */
export function parseInteger(value: string | number | undefined, defaultValue: number): number {
  if (value === undefined || value === '') return defaultValue;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n)) throw new Error(`expected an integer, got ${JSON.stringify(value)}`);
  return n;
}

/** Waits; injected in tests so they do not sleep. */
export type Sleep = (ms: number) => Promise<void>;
export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs an AWS call, retrying throttling and 5xx answers (isTransient) after each
 * of `delaysMs`: clean-up on a failure path must not give up at the first 429.
 * The last error is thrown as it came.
 */
export async function retryTransient<T>(
  call: () => Promise<T>, sleepFor: Sleep, delaysMs: readonly number[] = TRANSIENT_RETRY_DELAYS_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const delay = delaysMs[attempt];
      if (delay === undefined || !isTransient(err)) throw err;
      console.log(`transient ${errorName(err)}; retrying in ${delay} ms`);
      await sleepFor(delay);
    }
  }
}

/** 1 + 2 + 4 + 8 s: well inside every handler's timeout, on top of the SDK's own retries. */
export const TRANSIENT_RETRY_DELAYS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000];

/**
 * Where this handler's log lines really go. The Provider framework appends
 * "Logs: /aws/lambda/<function>" to failures, but our functions log to their own
 * group; Lambda tells the function its group in AWS_LAMBDA_LOG_GROUP_NAME.
 */
export function withLogHint(err: unknown): Error {
  const group = process.env.AWS_LAMBDA_LOG_GROUP_NAME;
  const message = errorMessage(err);
  if (!group) return err instanceof Error ? err : new Error(message);
  return new Error(`${truncate(message)} (handler log group: ${group})`);
}
