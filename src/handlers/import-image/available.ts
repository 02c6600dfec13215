import type { ImportImageTask } from '@aws-sdk/client-ec2';
import { GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { awsFailure, errorMessage, errorName, isTransient, parseInteger, truncate } from '../shared/util';
import { IMPORT_TASK_TAG_KEY, VmImportImageAvailableAttributes, VmImportImageAvailableProperties } from '../types';
import { describeImportTask, ImportImageDeps, importState, MAX_PROVIDER_WAIT_SECONDS, progressLine, reportedAmi, USABLE_IMAGE_STATES } from './common';

/**
 * Custom::VmImportImageAvailable: the read step after an import's wait
 * condition. It reports the AMI of an AVAILABLE image, so that `imageId` and
 * `imageArn` (and everything built on them) follow the wait. Normally the image
 * is AVAILABLE when it runs; when an import was replaced without a new wait
 * condition (a deploy-time value such as a parameter changed what is imported),
 * this step itself waits, as long as a custom resource may.
 */
export type AvailableEvent = CloudFormationCustomResourceEvent<VmImportImageAvailableProperties> & {
  readonly PhysicalResourceId?: string;
  readonly StartedAt?: number | string;
};

export interface AvailableOnEventResponse {
  readonly PhysicalResourceId: string;
  readonly StartedAt?: number;
}

export type AvailableIsCompleteResponse =
  | { readonly IsComplete: false }
  | { readonly IsComplete: true; readonly Data?: VmImportImageAvailableAttributes };

export function onAvailableEvent(event: AvailableEvent, deps: ImportImageDeps): AvailableOnEventResponse {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId ?? 'none' };
  const arn = event.ResourceProperties?.ImageArn;
  if (typeof arn !== 'string' || arn === '') {
    throw new Error(`invalid property ImageArn: expected an image ARN, got ${JSON.stringify(arn)}; synthesize the template again with cdk-vm-import-export`);
  }
  // One id per image: a new import is a new id, and the old one's Delete does nothing.
  return { PhysicalResourceId: arn, StartedAt: deps.now() };
}

export async function availableComplete(event: AvailableEvent, deps: ImportImageDeps): Promise<AvailableIsCompleteResponse> {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const props = event.ResourceProperties;
  let task: ImportImageTask | undefined;
  let image: Image | undefined;
  let importTaskId = props.ImportTaskId;
  try {
    if (importTaskId) {
      task = await describeImportTask(deps.ec2, importTaskId);
      image = await getImage(props.ImageArn, deps);
    } else {
      // Templates leave the task out: the image names it in its tag, and once the wait
      // condition was signalled the image is AVAILABLE and the task is not needed at all.
      image = await getImage(props.ImageArn, deps);
      importTaskId = image?.tags?.[IMPORT_TASK_TAG_KEY];
      const ready = USABLE_IMAGE_STATES.has(image?.state?.status ?? '') && reportedAmi(image, props.ImageArn) !== undefined;
      if (importTaskId && !ready) task = await describeImportTask(deps.ec2, importTaskId);
    }
  } catch (err) {
    if (!isTransient(err)) throw awsFailure('reading the imported image', err, props.ImageArn);
    console.log(`transient error while reading ${props.ImageArn} (${errorName(err)}: ${truncate(errorMessage(err), 200)})`);
    return { IsComplete: false };
  }
  const ids = { imageArn: props.ImageArn, importTaskId: importTaskId ?? '' };
  const state = importState(ids, task, image);
  if (state.kind === 'available') return { IsComplete: true, Data: { ImageArn: image?.arn ?? props.ImageArn, ImageId: state.imageId } };
  if (state.kind === 'failed') throw new Error(state.message);
  const startedAt = Number(event.StartedAt ?? deps.now());
  const limit = Math.min(parseInteger(props.TimeoutSeconds, MAX_PROVIDER_WAIT_SECONDS), MAX_PROVIDER_WAIT_SECONDS);
  if (deps.now() > startedAt + limit * 1000) {
    throw new Error(truncate(
      `image ${props.ImageArn} is still ${image?.state?.status ?? 'not available'} after ${Math.round(limit / 60)} minutes: the import was replaced by a ` +
      'deploy-time value (a parameter, or a resource replaced under the same logical id), so the wait condition did not wait for it again. ' +
      'Change imageVersion (or another literal import setting) so that the stack gets a new wait condition, and deploy again',
    ));
  }
  console.log(progressLine(ids, task, image, { step: 'available' }));
  return { IsComplete: false };
}

async function getImage(imageArn: string, deps: ImportImageDeps): Promise<Image | undefined> {
  return (await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }))).image;
}
