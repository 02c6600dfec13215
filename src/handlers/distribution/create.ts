import { CreateDistributionConfigurationCommand, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type { VmDiskDistributionProperties } from '../types';
import { describeConfiguration } from './errors';
import { restoreDistributions } from './restore';
import { awsFailure } from '../shared/util';

/**
 * Creates the distribution configuration and returns its ARN. The client token
 * makes a retried invocation of the same request return the first result
 * instead of failing on the now existing name.
 */
export async function createDistributionConfiguration(
  client: ImagebuilderClient,
  props: VmDiskDistributionProperties,
  clientToken: string,
): Promise<string> {
  const distributions = restoreDistributions(props.Distributions);
  const tags = props.Tags && Object.keys(props.Tags).length > 0 ? props.Tags : undefined;
  let arn: string | undefined;
  try {
    const response = await client.send(new CreateDistributionConfigurationCommand({
      name: props.Name,
      // The API rejects an empty description (min length 1).
      description: props.Description || undefined,
      distributions,
      tags,
      clientToken,
    }));
    arn = response.distributionConfigurationArn;
  } catch (err) {
    throw awsFailure('CreateDistributionConfiguration', err, describeConfiguration(props.Name));
  }
  if (!arn) {
    throw new Error(`CreateDistributionConfiguration returned no distributionConfigurationArn for ${describeConfiguration(props.Name)}`);
  }
  return arn;
}
