import {
  Distribution,
  GetDistributionConfigurationCommand,
  ImagebuilderClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateDistributionConfigurationCommand,
} from '@aws-sdk/client-imagebuilder';
import type { VmDiskDistributionProperties } from '../types';
import { describeConfiguration } from './errors';
import type { DistributionDeps } from './on-event';
import { restoreDistributions } from './restore';
import { awsFailure, clientToken, diffTags, errorMessage, errorName, RequestIdentity, truncate } from '../shared/util';

/**
 * Waits between UpdateDistributionConfiguration tries while Image Builder answers
 * ResourceInUseException (an image build is distributing with the configuration).
 * 60 s in all: the handler's timeout is 2 minutes (src/private/distribution-provider.ts),
 * which leaves half of it for the calls themselves and the SDK's own retries.
 */
export const IN_USE_RETRY_DELAYS_MS: readonly number[] = [2_000, 4_000, 8_000, 16_000, 30_000];

/**
 * Updates a configuration in place (its name is unchanged; a new name means a
 * new configuration, created by the caller) and brings its tags in line.
 */
export async function updateDistributionConfiguration(
  deps: DistributionDeps,
  arn: string,
  props: VmDiskDistributionProperties,
  oldProps: Partial<VmDiskDistributionProperties>,
  request: RequestIdentity,
): Promise<void> {
  const client = deps.imagebuilder;
  const subject = describeConfiguration(props.Name, arn);
  const distributions = restoreDistributions(props.Distributions);
  // The API rejects an empty description (min length 1).
  const description = props.Description || undefined;
  await updateWhileInUse(deps, subject, { distributionConfigurationArn: arn, description, distributions }, request);

  const { toSet, toRemove } = diffTags(oldProps.Tags, props.Tags);
  // Untag first, so that swapping keys on a resource near the 50-tag limit does not overflow it.
  if (toRemove.length > 0) {
    try {
      await client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: toRemove }));
    } catch (err) {
      throw awsFailure('UntagResource', err, subject);
    }
  }
  if (Object.keys(toSet).length > 0) {
    try {
      await client.send(new TagResourceCommand({ resourceArn: arn, tags: toSet }));
    } catch (err) {
      throw awsFailure('TagResource', err, subject);
    }
  }
}

interface UpdateInput {
  readonly distributionConfigurationArn: string;
  readonly description?: string;
  readonly distributions: Distribution[];
}

/**
 * UpdateDistributionConfiguration, retried with backoff while the configuration is
 * in use. A configuration that already is as asked needs no update: that is the
 * rollback of an update that failed this way, and it must not fail too (the stack
 * would be stuck in UPDATE_ROLLBACK_FAILED while the build runs).
 */
async function updateWhileInUse(deps: DistributionDeps, subject: string, input: UpdateInput, request: RequestIdentity): Promise<void> {
  let checkedCurrent = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await deps.imagebuilder.send(new UpdateDistributionConfigurationCommand({
        ...input,
        // Whether Image Builder answers a retried token with the first try's failure is not
        // documented: each try has its own (applying the same configuration twice is harmless).
        clientToken: clientToken(request, attempt === 0 ? 'UpdateDistributionConfiguration' : `UpdateDistributionConfiguration#${attempt}`),
      }));
      return;
    } catch (err) {
      if (errorName(err) !== 'ResourceInUseException') throw awsFailure('UpdateDistributionConfiguration', err, subject);
      if (!checkedCurrent) {
        checkedCurrent = true;
        if (await isAlready(deps.imagebuilder, input)) {
          console.log(`${subject} is in use (${errorName(err)}) but already has the requested settings: nothing to update`);
          return;
        }
      }
      const delay = IN_USE_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) throw inUseFailure(subject, err, attempt + 1);
      console.log(`${subject} is in use (${errorName(err)}: ${truncate(errorMessage(err), 200)}); retrying in ${delay} ms`);
      await deps.sleep(delay);
    }
  }
}

/**
 * Whether the configuration already has the description and distributions asked
 * for. Only an exact match counts: a default AWS filled in makes it differ, and the
 * update is tried as usual. Any error means "not known to be as asked".
 */
async function isAlready(client: ImagebuilderClient, input: UpdateInput): Promise<boolean> {
  try {
    const { distributionConfiguration: current } = await client.send(new GetDistributionConfigurationCommand({
      distributionConfigurationArn: input.distributionConfigurationArn,
    }));
    if (!current) return false;
    return canonical({ description: current.description, distributions: current.distributions })
      === canonical({ description: input.description, distributions: input.distributions });
  } catch (err) {
    console.log(`GetDistributionConfiguration ${input.distributionConfigurationArn} failed: ${errorName(err)}: ${truncate(errorMessage(err), 200)}`);
    return false;
  }
}

/** JSON with object keys sorted and undefined members left out; list order is kept. */
function canonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(Object.keys(v).sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => [k, sort((v as Record<string, unknown>)[k])]));
  };
  return JSON.stringify(sort(value));
}

function inUseFailure(subject: string, err: unknown, tries: number): Error {
  const waited = IN_USE_RETRY_DELAYS_MS.reduce((sum, ms) => sum + ms, 0) / 1000;
  return new Error(
    `UpdateDistributionConfiguration failed for ${subject}: it is in use, by an image build that is distributing with it `
    + `(${errorName(err)} on ${tries} tries over ${waited} s). Wait for that build to finish, or cancel it `
    + '(aws imagebuilder cancel-image-creation), then retry the stack update. '
    + `AWS said: ${errorName(err)}: ${truncate(errorMessage(err))}`,
  );
}
