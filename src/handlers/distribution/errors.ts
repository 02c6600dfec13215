import { errorMessage, errorName, truncate } from '../shared/util';

/**
 * An AWS failure worded for the CloudFormation event list: what was attempted,
 * on what, and AWS's own code and message (truncated: the response must stay
 * under 4096 bytes).
 */
export function awsFailure(action: string, subject: string, err: unknown): Error {
  return new Error(`${action} failed for ${subject}: ${errorName(err)}: ${truncate(errorMessage(err))}`);
}

/** How messages name a configuration: its name when known, and its ARN. */
export function describeConfiguration(name: string | undefined, arn?: string): string {
  const named = name ? `distribution configuration "${name}"` : 'distribution configuration';
  return arn ? `${named} (${arn})` : named;
}
