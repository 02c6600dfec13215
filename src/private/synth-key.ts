import { createHash } from 'crypto';
import { Stack, Token, Tokenization } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { AfterWait } from './after-wait';

/**
 * A short key of what the template says of a resource, for the logical ids of its
 * wait condition and handle (and ImportedAmi's default AMI name): new settings get
 * a new wait condition, which is the only way to wait again (wait conditions cannot
 * be updated). Values that are tokens count by their CloudFormation expression.
 */
export function synthKey(scope: Construct, settings: object): string {
  const stack = Stack.of(scope);
  let resolved = resolvedTokens.get(stack);
  if (!resolved) resolvedTokens.set(stack, resolved = new Map());
  return createHash('sha256').update(JSON.stringify(resolveTokens(stack, settings, resolved))).digest('hex').slice(0, 8).toUpperCase();
}

/** Per stack, each token string met in settings and its expression: imports share their role's Ref, and resolve it once. */
const resolvedTokens = new WeakMap<Stack, Map<string, unknown>>();

/**
 * What `stack.resolve(value)` gives for plain settings (objects, arrays, strings,
 * numbers, booleans), resolving only the strings that hold tokens: a stack of many
 * imports pays for its few references, not for a walk of every setting.
 */
function resolveTokens(stack: Stack, value: unknown, resolved: Map<string, unknown>): unknown {
  if (typeof value === 'string') {
    if (!Token.isUnresolved(value)) return value;
    if (!resolved.has(value)) resolved.set(value, stack.resolve(withoutWaits(value)));
    return resolved.get(value);
  }
  // A list token (a list parameter, Fn::Split) is one encoded element: resolve it whole.
  if (Array.isArray(value) && Token.isUnresolved(value)) return stack.resolve(value);
  // resolve() drops undefined elements, as it drops undefined keys.
  if (Array.isArray(value)) return value.filter((item) => item !== undefined).map((item) => resolveTokens(stack, item, resolved));
  if (value === null || typeof value !== 'object') return Token.isUnresolved(value) ? stack.resolve(value) : value;
  if (Token.isUnresolved(value)) return stack.resolve(value);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) out[key] = resolveTokens(stack, item, resolved);
  }
  return out;
}

/**
 * An image ARN that follows its wait condition counts as the ARN alone: the key of
 * what uses it (an export's wait condition) follows the image, not the image's wait.
 */
function withoutWaits(value: string): string {
  const fragments = Tokenization.reverseString(value);
  const token = fragments.length === 1 ? fragments.firstToken : undefined;
  return token instanceof AfterWait ? token.attribute : value;
}
