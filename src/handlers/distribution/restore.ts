import type { Distribution } from '@aws-sdk/client-imagebuilder';
import { errorMessage, parseBoolean, parseInteger } from '../shared/util';

type ScalarKind = 'boolean' | 'integer';

/**
 * Every non-string scalar inside the Image Builder API `Distribution` shape
 * (imagebuilder 2019-12-02 service-2.json). Everything else in that shape is a
 * string, a list of strings or a map of strings, which CloudFormation delivers
 * unchanged. `[]` marks a list. Re-check the model when the SDK adds members.
 */
const TYPED_MEMBERS: ReadonlyArray<readonly [string, ScalarKind]> = [
  ['fastLaunchConfigurations[].enabled', 'boolean'],
  ['fastLaunchConfigurations[].maxParallelLaunches', 'integer'],
  ['fastLaunchConfigurations[].snapshotConfiguration.targetResourceCount', 'integer'],
  ['launchTemplateConfigurations[].setDefaultVersion', 'boolean'],
];

/**
 * Turns the Distributions property back into the API's types: CloudFormation
 * delivers "true" and "6" where the API wants true and 6. Values that already
 * have the right type are kept; anything else fails with the path of the value.
 * The input is not modified.
 */
export function restoreDistributions(distributions: unknown): Distribution[] {
  if (!Array.isArray(distributions)) {
    throw new Error(`Distributions must be a list of Image Builder Distribution objects, got ${JSON.stringify(distributions)}`);
  }
  return distributions.map((item, i) => {
    const where = `Distributions[${i}]`;
    const distribution = structuredClone(asObject(item, where));
    for (const [path, kind] of TYPED_MEMBERS) {
      restoreAt(distribution, path.split('.'), where, kind);
    }
    // Only the typed members are checked here; AWS validates the rest of the shape.
    return distribution as unknown as Distribution;
  });
}

function restoreAt(parent: Record<string, unknown>, segments: string[], where: string, kind: ScalarKind): void {
  const [head, ...rest] = segments;
  const isList = head.endsWith('[]');
  const key = isList ? head.slice(0, -2) : head;
  const value = parent[key];
  const here = `${where}.${key}`;
  if (value === undefined) return;

  if (rest.length === 0) {
    parent[key] = toScalar(value, here, kind);
  } else if (isList) {
    if (!Array.isArray(value)) throw new Error(`${here} must be a list, got ${JSON.stringify(value)}`);
    value.forEach((item, i) => restoreAt(asObject(item, `${here}[${i}]`), rest, `${here}[${i}]`, kind));
  } else {
    restoreAt(asObject(value, here), rest, here, kind);
  }
}

function toScalar(value: unknown, where: string, kind: ScalarKind): boolean | number {
  try {
    return kind === 'boolean' ? toBoolean(value) : toInteger(value);
  } catch (err) {
    throw new Error(`${where}: ${errorMessage(err)}`);
  }
}

function toBoolean(value: unknown): boolean {
  // An empty string would silently take parseBoolean's default.
  if (typeof value === 'boolean' || (typeof value === 'string' && value !== '')) return parseBoolean(value, false);
  throw new Error(`expected "true" or "false", got ${JSON.stringify(value)}`);
}

function toInteger(value: unknown): number {
  // Number(), behind parseInteger, also takes "", " 6", "0x10" and "1e3": only plain digits are meant.
  if (typeof value === 'number' || (typeof value === 'string' && /^-?[0-9]+$/.test(value))) return parseInteger(value, 0);
  throw new Error(`expected an integer, got ${JSON.stringify(value)}`);
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where} must be an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}
