import { ImagebuilderClient, TagResourceCommand, UntagResourceCommand, UpdateDistributionConfigurationCommand } from '@aws-sdk/client-imagebuilder';
import type { VmDiskDistributionProperties } from '../types';
import { describeConfiguration } from './errors';
import { restoreDistributions } from './restore';
import { awsFailure, diffTags } from '../shared/util';

/**
 * Updates a configuration in place (its name is unchanged; a new name means a
 * new configuration, created by the caller) and brings its tags in line.
 */
export async function updateDistributionConfiguration(
  client: ImagebuilderClient,
  arn: string,
  props: VmDiskDistributionProperties,
  oldProps: Partial<VmDiskDistributionProperties>,
  clientToken: string,
): Promise<void> {
  const subject = describeConfiguration(props.Name, arn);
  const distributions = restoreDistributions(props.Distributions);
  try {
    await client.send(new UpdateDistributionConfigurationCommand({
      distributionConfigurationArn: arn,
      // The API rejects an empty description (min length 1).
      description: props.Description || undefined,
      distributions,
      clientToken,
    }));
  } catch (err) {
    throw awsFailure('UpdateDistributionConfiguration', err, subject);
  }

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
