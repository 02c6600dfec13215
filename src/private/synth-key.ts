import { createHash } from 'crypto';
import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/**
 * A short key of what the template says of an import, for the logical ids of its
 * wait condition (and ImportedAmi's default AMI name). Values that are tokens
 * count by their CloudFormation expression.
 */
export function synthKey(scope: Construct, settings: object): string {
  return createHash('sha256').update(JSON.stringify(Stack.of(scope).resolve(settings))).digest('hex').slice(0, 8).toUpperCase();
}
