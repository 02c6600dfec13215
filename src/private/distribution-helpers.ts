import { Token } from 'aws-cdk-lib';

/** Image Builder's limit on descriptions (imagebuilder 2019-12-02 model). */
export const MAX_DESCRIPTION = 1024;
/** The AccountId pattern of the Image Builder API model. */
const ACCOUNT_ID = /^[0-9]{12}$/;

/** Throws unless `value` is a 12-digit account id (skipped for tokens). */
export function validateAccountId(where: string, value: string): void {
  if (Token.isUnresolved(value) || ACCOUNT_ID.test(value)) return;
  throw new Error(`${where} "${value}" is not an AWS account id; use the 12 digits, e.g. "123456789012"`);
}

/** Throws unless an optional description has 1 to 1024 characters (skipped for tokens). */
export function validateDescription(where: string, value: string | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (value.length === 0 || value.length > MAX_DESCRIPTION) {
    throw new Error(`${where} is ${value.length} characters long; Image Builder accepts 1 to ${MAX_DESCRIPTION}: shorten it, or leave it out`);
  }
}

/**
 * Validates each item of a list given in one call, naming it `where[i]` when the
 * call gave several and `where` when it gave one.
 */
export function validateEach<T>(where: string, items: readonly T[], validate: (at: string, item: T) => void): void {
  items.forEach((item, i) => validate(items.length > 1 ? `${where}[${i}]` : where, item));
}

/** Throws when a Region would hold more items of one kind than Image Builder accepts. */
export function validateRegionCount(where: string, region: string, count: number, max: number, what: string): void {
  if (count > max) {
    throw new Error(`${where}: ${describeRegion(region)} would have ${count} ${what}; Image Builder accepts at most ${max} per Region`);
  }
}

/** How messages name a Region, which is a token in an environment-agnostic stack. */
export function describeRegion(region: string): string {
  return Token.isUnresolved(region) ? "the stack's Region" : `Region ${region}`;
}

/** The list, or undefined when it is empty: most of the API's lists have a minimum length of 1. */
export function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}
