import { DEFAULT_REMOVAL_POLICY } from '../types';

export type RemovalPolicy = 'destroy' | 'snapshot' | 'retain';

export function removalPolicy(value: string | undefined): RemovalPolicy {
  const policy = (value ?? DEFAULT_REMOVAL_POLICY).toLowerCase();
  if (policy === '' || policy === 'destroy') return 'destroy';
  if (policy === 'snapshot' || policy === 'retain') return policy;
  // aws-cdk-lib's RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE: a Delete keeps everything.
  if (policy === 'retain-on-update-or-delete') return 'retain';
  // Refuse rather than guess: guessing wrong would delete what the user meant to keep.
  throw new Error(`unknown RemovalPolicy ${JSON.stringify(value)}: expected destroy, snapshot or retain`);
}
