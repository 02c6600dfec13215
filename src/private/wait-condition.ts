import { Duration, Token } from 'aws-cdk-lib';

/** The longest wait: an AWS::CloudFormation::WaitCondition waits 43200 s at most. */
export const MAX_WAIT = Duration.hours(12);
export const MIN_WAIT = Duration.minutes(1);
export const MIN_POLL_INTERVAL = Duration.seconds(5);
export const MAX_POLL_INTERVAL = Duration.minutes(30);
/**
 * Time a wait condition gives the poller beyond the resource's timeout, so that a
 * timeout fails with the poller's message (the last state seen), not CloudFormation's.
 */
export const SIGNAL_MARGIN = Duration.minutes(5);

/**
 * Throws unless a duration is whole seconds within [min, max] and known at synth.
 * (VmImportImage checks its durations the same way.)
 */
export function validateWholeSeconds(prop: string, value: Duration, min: Duration, max: Duration, fix: string): void {
  if (Token.isUnresolved(value.toSeconds({ integral: false }))) {
    throw new Error(`${prop} must be known at synth time; got a token`);
  }
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min.toSeconds() || seconds > max.toSeconds()) {
    throw new Error(`${prop} is ${value.toHumanString()}; it must be whole seconds from ${min.toHumanString()} to ${max.toHumanString()}: ${fix}`);
  }
}

/** The wait condition's Timeout for a resource timeout: the margin above, within CloudFormation's limit. */
export function waitConditionTimeout(timeout: Duration): string {
  return String(Math.min(MAX_WAIT.toSeconds(), timeout.toSeconds() + SIGNAL_MARGIN.toSeconds()));
}
