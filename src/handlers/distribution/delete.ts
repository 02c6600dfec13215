import {
  DeleteDistributionConfigurationCommand,
  GetDistributionConfigurationCommand,
  ImagebuilderClient,
  paginateListImagePipelines,
} from '@aws-sdk/client-imagebuilder';
import { describeConfiguration } from './errors';
import { awsFailure, errorMessage, errorName, truncate } from '../shared/util';

/** The DistributionConfigurationArn pattern of the Image Builder API model. */
const DISTRIBUTION_CONFIGURATION_ARN = /^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):distribution-configuration\/([a-z0-9-_]+)$/;

/**
 * Whether a physical id names a distribution configuration. A Create that failed
 * before returning an ARN leaves a marker id instead, with nothing to delete.
 */
export function isDistributionConfigurationArn(physicalId: string): boolean {
  return DISTRIBUTION_CONFIGURATION_ARN.test(physicalId);
}

/** The name as the ARN holds it (see `arnName`), or undefined when the id is no such ARN. */
export function configurationNameInArn(physicalId: string): string | undefined {
  return DISTRIBUTION_CONFIGURATION_ARN.exec(physicalId)?.[1];
}

/** A configuration name as Image Builder writes it into the ARN: lowercased, spaces turned into "-". */
export function arnName(name: string): string {
  return name.toLowerCase().replace(/ /g, '-');
}

/**
 * Deletes the configuration. Already gone counts as deleted. Still referenced
 * by an image pipeline fails with the pipelines to change, since only the user
 * can decide whether to edit or delete them.
 */
export async function deleteDistributionConfiguration(
  client: ImagebuilderClient,
  physicalId: string,
  name?: string,
): Promise<void> {
  if (!isDistributionConfigurationArn(physicalId)) {
    console.log(`physical id ${JSON.stringify(physicalId)} is not a distribution configuration ARN: nothing to delete`);
    return;
  }
  try {
    await client.send(new DeleteDistributionConfigurationCommand({ distributionConfigurationArn: physicalId }));
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') {
      console.log(`${physicalId} no longer exists: nothing to delete`);
      return;
    }
    if (errorName(err) === 'ResourceDependencyException') throw await inUseFailure(client, physicalId, name, err);
    if (isDenied(err) && await isGone(client, physicalId)) {
      console.log(`${physicalId}: DeleteDistributionConfiguration was denied (${errorName(err)}), but GetDistributionConfiguration says it no longer exists `
        + '(IAM cannot see the ownership tag of a deleted configuration): nothing to delete');
      return;
    }
    throw awsFailure('DeleteDistributionConfiguration', err, describeConfiguration(name, physicalId));
  }
}

/**
 * Whether AWS refused the call on authorization grounds: Image Builder's own
 * ForbiddenException (the code its API model declares for this operation), the
 * AccessDenied codes of IAM, or any other answer with HTTP status 403.
 */
function isDenied(err: unknown): boolean {
  if (['AccessDeniedException', 'AccessDenied', 'ForbiddenException'].includes(errorName(err))) return true;
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode === 403;
}

/**
 * Whether the configuration no longer exists. A configuration that left the stack may be
 * deleted only while it carries the stack's ownership tag, so once it is gone AWS answers
 * AccessDenied instead of ResourceNotFound; Get (allowed without the tag) tells them apart.
 * Any other answer, an error included, means "not known to be gone".
 */
async function isGone(client: ImagebuilderClient, arn: string): Promise<boolean> {
  try {
    await client.send(new GetDistributionConfigurationCommand({ distributionConfigurationArn: arn }));
    return false;
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return true;
    console.log(`GetDistributionConfiguration ${arn} failed, so the denied delete stands: ${errorName(err)}: ${truncate(errorMessage(err), 200)}`);
    return false;
  }
}

/** Names of the image pipelines (in this account and region) that use the configuration. */
export async function pipelinesUsing(client: ImagebuilderClient, arn: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of paginateListImagePipelines({ client }, {})) {
    for (const pipeline of page.imagePipelineList ?? []) {
      if (pipeline.distributionConfigurationArn === arn) names.push(pipeline.name ?? pipeline.arn ?? '(unnamed)');
    }
  }
  return names;
}

async function inUseFailure(client: ImagebuilderClient, arn: string, name: string | undefined, err: unknown): Promise<Error> {
  const aws = `${errorName(err)}: ${truncate(errorMessage(err))}`;
  let users: string;
  try {
    const pipelines = await pipelinesUsing(client, arn);
    users = pipelines.length > 0
      ? `image pipeline(s) ${truncate(pipelines.map((p) => JSON.stringify(p)).join(', '), 500)}`
      : 'an Image Builder resource (no image pipeline in this region references it; an image build still running may)';
  } catch (listErr) {
    // Naming the pipelines is a courtesy: the message below is actionable without it.
    users = `image pipeline(s) that could not be listed (${errorName(listErr)}: ${truncate(errorMessage(listErr), 200)})`;
  }
  return new Error(
    `cannot delete ${describeConfiguration(name, arn)}: it is still used by ${users}. `
    + 'Remove it from the image pipelines that use it (or delete those pipelines) first, then retry. '
    + `AWS said: ${aws}`,
  );
}
